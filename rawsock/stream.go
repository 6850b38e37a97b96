package rawsock

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/wire"
)

// Sizes of a stream connection's pooled buffers.
const (
	// readBufSize is the read buffer a connection takes when bytes arrive;
	// it doubles, up to the frame being read, for larger frames.
	readBufSize = 4 << 10
	// writeBufSize is the buffer replies gather in until the connection
	// has no more buffered requests to serve.
	writeBufSize = 4 << 10
	// maxRawReadSize bounds how far a FramingRaw connection's read buffer
	// grows: a read that fills the buffer doubles it for the next one, so a
	// bulk sender (a relay of large messages) is read in 64 KiB, not 4 KiB,
	// pieces.
	maxRawReadSize = 64 << 10
)

// Connection states, for Shutdown: an idle connection holds no partial
// frame and may be closed; the connection and Shutdown race for it with
// compare-and-swap, so a frame that arrives is either served or never read.
const (
	connActive int32 = iota
	connIdle
	connClosed
)

var errDraining = errors.New("listener draining")

// errRespawn asks serve to wait for the next bytes on a fresh goroutine,
// or, for a plaintext connection, on the listener's poller.
var errRespawn = errors.New("wait on a fresh stack")

// errToPoller asks serve to hand the connection, idle, to the listener's
// poller, which serves it with no goroutine of its own.
var errToPoller = errors.New("wait on the poller")

// parkAfter is how long a connection that has served stays idle on its
// grown stack before it moves to a fresh one (see serve). Listeners copy
// it when made; a variable only so that tests need not wait a second.
var parkAfter = time.Second

// streamConn serves one stream connection. Its goroutine owns the read
// side; Reply may be called from other goroutines and takes wmu.
type streamConn struct {
	l     *Listener
	nc    net.Conn
	rc    syscall.RawConn
	state atomic.Int32
	// b is the behaviour the connection serves with. Only its goroutine
	// stores it, at frame boundaries (see refresh); the write side, which
	// SendFrame may run on another goroutine, loads it.
	b atomic.Pointer[behaviour]

	// Read side, owned by serve.
	rbuf     *buffer // nil while idle: bytes rbuf.b[r:w] are not yet served
	r, w     int
	need     int // bytes rbuf.b[r:] must hold for the next frame to be whole
	readN    int
	readErr  error
	readFunc func(fd uintptr) bool
	// fresh is true on a goroutine that has not served anything yet, so
	// its stack is still the small initial one.
	fresh        bool
	opened       bool      // open has run
	deadline     time.Time // the read deadline set on nc
	idleDeadline bool      // deadline was set between frames
	parking      bool      // deadline is parkAfter, not the idle timeout
	frameStart   time.Time // when the frame now in progress began; zero between frames
	req          Request
	cnt          counters
	act          activity

	// Faults and scripted timing: nil and zero unless used (see
	// connfaults.go and later.go).
	fx         *connFaults // the faults of b that apply to this connection; replaced under wmu
	later      *later      // replies held by timers, under wmu
	hold       time.Time   // Delay's: the frame's next replies leave no earlier; under wmu
	holding    bool        // hold is set (the reader's)
	closeAfter int         // CloseAfterReply's: 0, closeFIN or closeRST (the reader's)
	tls        *tls.Conn   // nil for plaintext; then rc reads the socket
	// On a poller (see poller.go): p is the listener's poller the
	// connection waits on when it parks, set once; inPoller says it is in
	// p's set now (under p.mu). nonBlocking is true while the poller
	// serves it, wblocked when the socket took less than it was given
	// (both under wmu).
	p           atomic.Pointer[poller]
	fd          int // the socket's descriptor, for the poller's raw reads
	inPoller    bool
	nonBlocking bool
	wblocked    bool
	// resetOnClose: a reset fault's timer asked for an RST (see
	// resetSocket).
	resetOnClose atomic.Bool
	// shutRead: closeSocket shut the reading side down (see
	// shutInPoller): the end of file that follows is not the peer's.
	shutRead atomic.Bool
	closing  atomic.Bool  // closeSocket began (see watchOpen)
	conn     ConnHandler  // the ConnOpener's, for this connection; nil for other handlers
	relay    *socketRelay // non-nil while the poller relays conn's socket and this one (see relay.go)
	peerDone bool         // the peer closed its sending side between frames
	growRaw  bool         // a raw read filled the buffer: the next one gets a larger one
	bulk     bool         // a body was streamed (see cutThrough): wait for the next on the goroutine

	// Write side.
	wmu    sync.Mutex
	wbuf   *buffer       // nil when nothing is pending
	ws     *writeScratch // nil until the connection writes; back to its pool when it parks
	werr   error
	cancel context.CancelFunc
}

// writeScratch is where a connection builds reply headers and writev
// lists. A connection takes one from scratchPool when it first writes
// and gives it back with its buffers when it parks, so an idle
// connection holds 8 bytes for it, not 160.
type writeScratch struct {
	sw   sockio.Writer // a plaintext connection's blocking writes, with raw system calls
	hdr  [64]byte
	iov  [3][]byte   // backing array of bufs
	bufs net.Buffers // kept here: on the stack, WriteTo would move it to the heap
}

var scratchPool = sync.Pool{New: func() any { return new(writeScratch) }}

// scratch returns the connection's write scratch; wmu must be held.
func (c *streamConn) scratch() *writeScratch {
	if c.ws == nil {
		c.ws = scratchPool.Get().(*writeScratch)
	}
	return c.ws
}

// releaseScratch gives the write scratch back; wmu must be held.
func (c *streamConn) releaseScratch() {
	if c.ws != nil {
		scratchPool.Put(c.ws)
		c.ws = nil
	}
}

func newStreamConn(l *Listener, nc net.Conn) (*streamConn, error) {
	var rc syscall.RawConn
	tc, isTLS := nc.(*tls.Conn)
	if !isTLS {
		sc, ok := nc.(syscall.Conn)
		if !ok {
			return nil, errors.New("connection has no file descriptor")
		}
		var err error
		if rc, err = sc.SyscallConn(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(l.ctx)
	b := l.current()
	c := &streamConn{l: l, nc: nc, rc: rc, tls: tc, need: b.request.MinFrame(), cancel: cancel}
	c.b.Store(b)
	now := time.Now()
	c.act = activity{id: l.stats.lastConnID.Add(1), peer: addrString(nc.RemoteAddr()), opened: now, counter: &c.cnt}
	c.act.touch(now)
	c.readFunc = c.readReady
	c.req = Request{ctx: ctx, remote: nc.RemoteAddr(), local: nc.LocalAddr()}
	c.fx = newConnFaults(b.faults, c.act.id)
	return c, nil
}

// open runs on the connection's first goroutine, before it reads: the
// TLS handshake, the faults that start with the connection, the
// greeting. It reports whether the connection may be served.
func (c *streamConn) open() bool {
	if c.tls != nil && !c.handshake() {
		return false
	}
	c.onOpenFaults()
	b := c.b.Load()
	if !c.openConn(b) {
		return false
	}
	if b.greeter == nil {
		return true
	}
	b.greeter.Greet(c, &c.req)
	c.holding, c.hold = false, time.Time{}
	if c.flush() != nil {
		return false
	}
	if c.closeAfter != 0 {
		c.waitHeld()
		return false
	}
	return true
}

// handshake runs the TLS handshake, bounded by the header timeout. A
// failed one is counted and logged at debug: a port scanner or a
// plaintext client is no news.
func (c *streamConn) handshake() bool {
	b := c.b.Load()
	ctx, cancel := context.WithTimeout(c.req.Context(), b.limits.HeaderTimeout)
	defer cancel()
	if err := c.tls.HandshakeContext(ctx); err != nil {
		c.cnt.errors.Add(1)
		c.l.logger().Debug("TLS handshake failed", "peer", c.act.peer, "error", err)
		if c.l.events.Active() {
			c.l.events.Publish(Event{Type: EventFrameError, ListenerID: c.l.name, ConnID: c.act.id, Peer: c.act.peer, Message: "TLS handshake: " + err.Error()})
		}
		return false
	}
	if cs := c.tls.ConnectionState(); len(cs.PeerCertificates) > 0 {
		subject := cs.PeerCertificates[0].Subject.String()
		c.act.tlsPeer.Store(&subject)
	}
	return true
}

// serve reads and serves frames until the peer leaves, a frame is bad, a
// write fails or the listener closes the connection.
//
// An idle connection must cost little (a daemon may hold 100,000), and a
// goroutine keeps the stack it grew while serving: replying takes it to
// 4 KiB, and parked, it still uses too much of it for the GC to shrink it.
// So when a connection that has served stays idle for parkAfter, serve
// hands it to a fresh goroutine, whose 2 KiB stack is all the wait needs,
// and returns. A busy connection never pays for the hand-over. The
// connection keeps one goroutine at a time; the listener owns it.
func (c *streamConn) serve() {
	if c.fresh && !c.opened {
		c.opened = true
		if !c.open() {
			c.finish()
			return
		}
		if c.relay != nil {
			if c.parkRelay() {
				return // the poller relays the connection now (see relay.go)
			}
			// No poller to relay on: the goroutines relay it, and end it
			// if it is closing.
			r := c.relay
			c.relay = nil
			r.h.Resume(nil, nil)
		}
	}
	switch err := c.loop(); {
	case err == errToPoller || err == errRespawn && c.rc != nil:
		c.bulk = false
		c.releaseBuffers()
		if !c.park() {
			c.finish()
		}
		return // the poller owns the connection now: touch nothing more
	case err == errRespawn:
		c.l.parked.Add(1)
		c.releaseBuffers()
		go c.serveFresh()
		return
	}
	c.finish()
}

func (c *streamConn) serveFresh() {
	c.fresh = true
	c.serve()
}

// loop is serve's body; it returns why it stopped.
func (c *streamConn) loop() error {
	for {
		if err := c.serveBuffered(c, false); err != nil {
			c.serveFailed(err)
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		if c.r != c.w {
			if took, err := c.cutThrough(); took {
				if err != nil {
					return err
				}
				c.fresh = false
				continue
			}
		}
		if c.r == c.w && c.l.inShutdown.Load() {
			return errDraining
		}
		c.makeRoom()
		c.armDeadline(time.Now())
		if err := c.read(); err != nil {
			if c.r == c.w && c.parking && errors.Is(err, os.ErrDeadlineExceeded) {
				return errRespawn
			}
			if err == errToPoller {
				return err
			}
			if c.r == c.w && err == io.EOF && !c.shutRead.Load() {
				c.peerDone = true
			}
			if c.r != c.w && errors.Is(err, os.ErrDeadlineExceeded) {
				c.cnt.errors.Add(1) // a slow-loris peer: say why, then close
				c.writeErrorFrame(errFrameTimeout{c.b.Load().limits.HeaderTimeout})
			} else if c.r != c.w && !errors.Is(err, net.ErrClosed) {
				c.cnt.errors.Add(1) // the peer left in the middle of a frame
			}
			return err
		}
		c.fresh = false
	}
}

// serveFailed ends serving after serveBuffered returned err: the replies
// written so far leave (a handler's CloseAfterReply, a limitData fault),
// or the peer is told why its frame was refused.
func (c *streamConn) serveFailed(err error) {
	if err == errClosingAfterReply || err == errLimitReached {
		if c.flush() == nil {
			c.waitHeld()
		}
		return
	}
	c.cnt.errors.Add(1)
	if c.l.events.Active() {
		c.l.events.Publish(Event{Type: EventFrameError, ListenerID: c.l.name, ConnID: c.act.id, Peer: c.act.peer, Message: err.Error()})
	}
	c.writeErrorFrame(err)
}

// serveBuffered serves every whole frame in the read buffer, in order.
//
// w is what the handler replies through: c itself, which takes wmu for
// each reply, or, on a poller, which holds wmu while it serves, a
// lockedWriter (locked is then true).
func (c *streamConn) serveBuffered(w ResponseWriter, locked bool) error {
	b := c.b.Load()
	for c.w-c.r >= c.need {
		f, n, need, err := b.request.Parse(c.rbuf.b[c.r:c.w])
		if err != nil {
			return err
		}
		if n == 0 {
			c.need = need
			return nil
		}
		c.cnt.framesIn.Add(1)
		b.capture.record(c.act.id, false, f.Header, f.Body)
		times := 1
		if c.fx != nil {
			var end bool
			if times, end = c.inbound(f.Header, f.Body, n); end {
				return errLimitReached
			}
		}
		c.req.Header, c.req.Body = f.Header, f.Body
		if times == 2 {
			c.serveCopy(b, w)
		}
		if times > 0 {
			c.handlerOf(b).ServeFrame(w, &c.req)
		}
		c.req.Header, c.req.Body = nil, nil
		if c.holding {
			if !locked {
				c.wmu.Lock()
			}
			c.holding, c.hold = false, time.Time{}
			if !locked {
				c.wmu.Unlock()
			}
		}
		c.r += n
		if c.closeAfter != 0 {
			return errClosingAfterReply
		}
		if c.r < c.w {
			b = c.refresh() // the next frame has begun to arrive: a frame boundary
		}
		c.need = b.request.MinFrame()
		c.frameStart = time.Time{} // the next frame's clock starts when it does
	}
	return nil
}

// refresh adopts the listener's current behaviour if Update changed it
// since the connection last looked, and returns the connection's. The
// connection calls it at frame boundaries only, so a frame is served, and
// its replies written, under one behaviour: when serveBuffered finishes a
// frame with more bytes buffered, when armDeadline arms the wait between
// frames, and when a read that began between frames returns, before its
// bytes are counted (so a frame counted as arriving is finished under the
// behaviour it began with). Checking costs an atomic load and a compare.
func (c *streamConn) refresh() *behaviour {
	own := c.b.Load()
	if next := c.l.current(); next != own.src {
		return c.adopt(next, own)
	}
	return own
}

// adopt is refresh's rare part: the connection keeps the framing it was
// accepted with (see keepingFraming), and re-arms its read deadline from
// the new limits.
func (c *streamConn) adopt(next, own *behaviour) *behaviour {
	b := keepingFraming(next, own)
	if c.fx == nil && b.faults != nil || c.fx != nil && c.fx.set != b.faults {
		c.wmu.Lock()
		c.fx.stop()
		c.fx = newConnFaults(b.faults, c.act.id)
		c.wmu.Unlock()
	}
	c.b.Store(b)
	c.idleDeadline = false // so that armDeadline does not keep the old idle deadline
	return b
}

// armDeadline bounds the next read: between frames by the idle timeout
// (and, on a grown stack, by parkAfter: see serve), within a frame by what
// is left of the header timeout, counted from when the frame began.
// Moving a deadline resets a runtime timer, so a busy connection moves its
// between-frames deadline only once it has drifted by an eighth of its
// span: an idle peer is closed after 7/8 to 8/8 of the idle timeout.
func (c *streamConn) armDeadline(now time.Time) {
	var d time.Time
	betweenFrames := c.r == c.w
	parking := false
	if betweenFrames {
		c.frameStart = time.Time{}
		span := c.refresh().limits.IdleTimeout
		if park := c.l.parkAfter; !c.fresh && (span <= 0 || park < span) {
			span, parking = park, true
		}
		if span > 0 {
			d = now.Add(span)
			if c.idleDeadline && c.parking == parking && !c.deadline.IsZero() && d.Sub(c.deadline) < span/8 {
				return
			}
		}
	} else {
		if c.frameStart.IsZero() {
			c.frameStart = now
		}
		d = c.frameStart.Add(c.b.Load().limits.HeaderTimeout)
	}
	c.idleDeadline, c.parking = betweenFrames, parking
	if !d.Equal(c.deadline) {
		_ = c.nc.SetReadDeadline(d)
		c.deadline = d
	}
}

// makeRoom makes the read buffer able to take the rest of the next frame:
// it moves a partial frame to the front, or doubles the buffer when the
// frame outgrows it. Growth follows the bytes that arrive, never the size
// a header declares.
func (c *streamConn) makeRoom() {
	if c.rbuf == nil {
		return
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
		if c.growRaw {
			c.growRaw = false
			grown := getBuffer(2 * len(c.rbuf.b))
			putBuffer(c.rbuf)
			c.rbuf = grown
		}
		return
	}
	b := c.rbuf.b
	if c.r > 0 && c.need > len(b)-c.r {
		c.w = copy(b, b[c.r:c.w])
		c.r = 0
	}
	if c.w == len(b) {
		grown := getBuffer(min(c.need, 2*len(b)))
		copy(grown.b, b[:c.w])
		putBuffer(c.rbuf)
		c.rbuf = grown
	}
}

// read reads once into the buffer. While it waits for bytes with no
// partial frame held, the connection gives its buffer back to the pool
// and counts as idle.
func (c *streamConn) read() error {
	startsFrame := c.r == c.w
	if c.tls != nil {
		if err := c.readTLS(); err != nil {
			return err
		}
	} else if err := c.rc.Read(c.readFunc); err != nil {
		return err
	}
	if c.readErr != nil {
		return c.readErr
	}
	if startsFrame {
		c.refresh() // Update may have come while the connection waited
	}
	c.gotBytes(c.readN)
	return nil
}

// gotBytes takes n bytes a read put at rbuf.b[w:] into the buffer.
func (c *streamConn) gotBytes(n int) { c.gotBytesAt(n, time.Now()) }

// gotBytesAt is gotBytes for bytes read at now: the poller reads the
// clock once per wake-up, not once per connection.
func (c *streamConn) gotBytesAt(n int, now time.Time) {
	c.w += n
	if c.w == len(c.rbuf.b) && len(c.rbuf.b) < maxRawReadSize {
		if b := c.b.Load(); b.request.Framing == wire.FramingRaw && 2*len(c.rbuf.b) <= max(b.request.MaxBodyBytes, readBufSize) {
			c.growRaw = true
		}
	}
	c.cnt.bytesIn.Add(uint64(n))
	c.act.touch(now)
}

// readReady is the callback of RawConn.Read: it returns false to wait for
// the socket to become readable, true when it has a result.
func (c *streamConn) readReady(fd uintptr) bool {
	if c.state.Load() == connIdle && !c.state.CompareAndSwap(connIdle, connActive) {
		c.readErr = errDraining // Shutdown closed this idle connection
		return true
	}
	if c.rbuf == nil {
		c.rbuf = getBuffer(readBufSize)
	}
	var n int
	var err error
	for {
		n, err = sockio.Read(int(fd), c.rbuf.b[c.w:])
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		if c.r == c.w {
			if c.fresh {
				// New or parked: wait without a buffer. A busy connection
				// keeps its own until it parks (see serve), so back-to-back
				// frames do not regrow it.
				putBuffer(c.rbuf)
				c.rbuf = nil
			}
			c.r, c.w = 0, 0
			c.state.Store(connIdle)
			if c.l.inShutdown.Load() && c.state.CompareAndSwap(connIdle, connActive) {
				c.readErr = errDraining
				return true
			}
			if c.waitsOnPoller() {
				c.readN, c.readErr = 0, errToPoller
				return true
			}
		}
		return false
	}
	switch {
	case err != nil:
		c.readN, c.readErr = 0, err
	case n == 0:
		c.readN, c.readErr = 0, io.EOF
	default:
		c.readN, c.readErr = n, nil
	}
	return true
}

// Reply implements ResponseWriter. Small replies gather in the write
// buffer until the connection has served what it has read; a reply too
// large for the buffer goes out at once, with what was pending, in one
// writev.
func (c *streamConn) Reply(body []byte, extra ...wire.HeaderField) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.replyLocked(body, extra)
}

// replyLocked is Reply with wmu held.
func (c *streamConn) replyLocked(body []byte, extra []wire.HeaderField) error {
	if c.werr != nil {
		return c.werr
	}
	b := c.b.Load()
	hdr, err := b.response.AppendHeader(c.scratch().hdr[:0], len(body), extra...)
	if err != nil {
		return err
	}
	if c.holding || c.fx != nil || c.heldLocked() {
		return c.replyLaterLocked(b, hdr, body)
	}
	if c.wbuf == nil {
		c.wbuf = getBuffer(writeBufSize)
		c.wbuf.b = c.wbuf.b[:0]
	}
	size := len(hdr) + len(body)
	c.cnt.framesOut.Add(1)
	c.cnt.bytesOut.Add(uint64(size))
	b.capture.record(c.act.id, true, b.response.HeaderText(hdr), body)
	if len(c.wbuf.b)+size > cap(c.wbuf.b) {
		if size > cap(c.wbuf.b) {
			return c.writeLocked(hdr, body)
		}
		if err := c.writeLocked(); err != nil {
			return err
		}
	}
	c.wbuf.b = append(c.wbuf.b, hdr...)
	c.wbuf.b = append(c.wbuf.b, body...)
	return nil
}

// send writes one frame now, for an operator: after the replies pending,
// in one writev, bounded by operatorSendTimeout for a peer that does not
// read. The frame is in the connection's response framing, which is what
// its peer reads even when Update changed the listener's.
func (c *streamConn) send(body []byte, extra []wire.HeaderField) (int, error) {
	b := c.b.Load()
	if err := checkExtraFields(b.response, extra); err != nil {
		return 0, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	hdr, err := b.response.AppendHeader(nil, len(body), extra...)
	if err != nil {
		return 0, err
	}
	c.cnt.framesOut.Add(1)
	c.cnt.bytesOut.Add(uint64(len(hdr) + len(body)))
	b.capture.record(c.act.id, true, b.response.HeaderText(hdr), body)
	_ = c.nc.SetWriteDeadline(time.Now().Add(operatorSendTimeout))
	defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	if err := c.writeLocked(hdr, body); err != nil {
		return 0, err
	}
	return len(hdr) + len(body), nil
}

// writeLocked writes what is pending followed by more, in one writev.
func (c *streamConn) writeLocked(more ...[]byte) error {
	ws := c.scratch()
	ws.bufs = ws.iov[:0]
	if c.wbuf != nil && len(c.wbuf.b) > 0 {
		ws.bufs = append(ws.bufs, c.wbuf.b)
	}
	ws.bufs = append(ws.bufs, more...)
	if c.nonBlocking {
		err := c.writeNow(ws.bufs)
		ws.iov, ws.bufs = [3][]byte{}, nil
		return err
	}
	var err error
	if c.rc != nil {
		ws.sw.Reset(c.rc)
		_, err = ws.sw.Write(ws.bufs...)
		ws.sw.Reset(nil) // the scratch goes back to a pool: do not pin the connection
	} else {
		_, err = ws.bufs.WriteTo(c.nc)
	}
	ws.iov, ws.bufs = [3][]byte{}, nil // do not pin the caller's body
	if c.wbuf != nil {
		c.wbuf.b = c.wbuf.b[:0]
	}
	c.wblocked = false
	if err != nil {
		c.werr = err
		c.cnt.errors.Add(1)
		_ = c.closeSocket()
	}
	return err
}

// flush writes the pending replies.
func (c *streamConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// flushLocked is flush with wmu held.
func (c *streamConn) flushLocked() error {
	var err error
	if c.wbuf != nil && len(c.wbuf.b) > 0 {
		err = c.writeLocked() // the buffer stays until the connection parks
	}
	if err == nil {
		err = c.werr
	}
	return err
}

// releaseBuffers gives the connection's buffers back to the pools, when it
// parks or ends; a partial frame is never dropped, as a connection parks
// only between frames.
func (c *streamConn) releaseBuffers() {
	if c.rbuf != nil {
		putBuffer(c.rbuf)
		c.rbuf, c.r, c.w = nil, 0, 0
	}
	c.wmu.Lock()
	if c.wbuf != nil {
		putBuffer(c.wbuf)
		c.wbuf = nil
	}
	c.releaseScratch()
	c.wmu.Unlock()
}

// writeErrorFrame tells the peer why its connection is being closed.
func (c *streamConn) writeErrorFrame(cause error) {
	c.wmu.Lock()
	if c.werr == nil {
		frame := c.b.Load().response.AppendErrorFrame(c.scratch().hdr[:0], cause)
		c.cnt.framesOut.Add(1)
		c.cnt.bytesOut.Add(uint64(len(frame)))
		_ = c.writeLocked(frame)
	}
	c.wmu.Unlock()
	_ = c.flush()
}

func (c *streamConn) finish() {
	if d, i := c.fx.slowClose(); d > 0 {
		c.fx.hit(i)
		c.pause(d)
	}
	c.closeConn()
	c.cancel()
	c.wmu.Lock()
	c.dropHeldLocked()
	c.fx.stop()
	c.wmu.Unlock()
	if c.closeAfter == closeRST || c.resetOnClose.Load() {
		resetConn(c.nc)
	}
	_ = c.nc.Close()
	c.state.Store(connClosed)
	c.releaseBuffers()
	c.l.untrack(c)
}

var _ ResponseWriter = (*streamConn)(nil)

// serveCopy serves a copy of the frame in c.req, for a duplicate fault:
// a handler may change the body in place, and the original is served
// next.
func (c *streamConn) serveCopy(b *behaviour, w ResponseWriter) {
	buf := getBuffer(len(c.req.Header) + len(c.req.Body))
	buf.b = append(append(buf.b[:0], c.req.Header...), c.req.Body...)
	header, body := c.req.Header, c.req.Body
	if header != nil {
		c.req.Header = buf.b[:len(header):len(header)]
	}
	c.req.Body = buf.b[len(header):]
	c.handlerOf(b).ServeFrame(w, &c.req)
	c.req.Header, c.req.Body = header, body
	putBuffer(buf)
}

// readTLS is read for a TLS connection, which has no raw socket to wait
// on: it keeps its buffer while it waits, and a blocking Read decides
// whether Shutdown finds it idle.
func (c *streamConn) readTLS() error {
	if c.rbuf == nil {
		c.rbuf = getBuffer(readBufSize)
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
		c.state.Store(connIdle)
		if c.l.inShutdown.Load() && c.state.CompareAndSwap(connIdle, connActive) {
			return errDraining
		}
	}
	n, err := c.nc.Read(c.rbuf.b[c.w:])
	if c.state.Load() == connIdle && !c.state.CompareAndSwap(connIdle, connActive) {
		return errDraining // Shutdown closed this idle connection
	}
	switch {
	case n > 0:
		c.readN, c.readErr = n, nil
	case err != nil:
		c.readN, c.readErr = 0, err
	default:
		c.readN, c.readErr = 0, io.EOF
	}
	return nil
}

// ReplyError implements ResponseWriter.
func (c *streamConn) ReplyError(msg string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.replyErrorLocked(msg)
}

// replyErrorLocked is ReplyError with wmu held.
func (c *streamConn) replyErrorLocked(msg string) error {
	c.cnt.errors.Add(1)
	if c.werr != nil {
		return c.werr
	}
	b := c.b.Load()
	frame := b.response.AppendErrorFrame(c.scratch().hdr[:0], errors.New(msg))
	if len(frame) == 0 {
		return nil
	}
	return c.replyLaterLocked(b, frame, nil)
}
