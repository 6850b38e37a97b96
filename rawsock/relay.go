package rawsock

import (
	"runtime"
	"time"

	"syscall"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/wire"
)

// A connection whose ConnHandler is a SocketRelay (the proxy's relay to
// a plaintext upstream) is relayed by the listener's poller itself when
// nothing needs a goroutine: its socket and the handler's are both in the
// poller's epoll set, level-triggered, and the one that is readable is
// read once and what it gave is written to the other at once, without
// waiting, as a hand-written epoll relay does. A message then costs one
// read and one write each way and no goroutine: a goroutine on each side
// costs a second read each, which says EAGAIN, and a park and a wake-up.
//
// A raw relay passes the bytes as they are. A framed one parses them on
// the way, as the goroutines do, so that frames are counted and checked
// both ways and a reply may be held by a latency fault (the listener's
// held-reply writer then writes it): the client's whole frames go to
// the handler's socket as they came, the handler's are replied in the
// listener's response framing.
//
// The poller keeps only that steady state. Anything else goes back to
// goroutines for good (leave): the handler resumes reading its socket
// and the connection's goroutine serves the client the usual way, with
// what the poller could not write handed over first, in order. That is:
// a write the other side does not take whole (backpressure), an end of
// file or an error from either side (half-closes then go as they do on
// goroutines), a frame that is bad or larger than the poller serves, a
// behaviour Update changed, or a write lock someone else holds (an
// operator's send).
type socketRelay struct {
	h       SocketRelay
	rc      syscall.RawConn // the handler's socket
	fd      int             // its descriptor, while it is in the poller's set
	watched bool            // in the poller's set (under p.mu)
	framed  bool            // parse frames on the way (else pass bytes as they are)
	// busySince is when the relay steps began to find the write lock
	// taken, one after the other; zero when the last one did not.
	busySince time.Time
	// A framed relay's bytes from the handler's socket: ubuf.b[ur:uw]
	// is the start of a frame not yet whole, which needs uneed bytes.
	ubuf   *buffer
	ur, uw int
	uneed  int
}

// relayBusyFor is how long relay steps may find the write lock taken,
// one after the other, before the connection goes to goroutines: longer
// than the runtime's time slice (10 ms), as a holder that writes without
// waiting (the held-reply writer) may be preempted while it holds it.
const relayBusyFor = 20 * time.Millisecond

// relayKey marks the handler's socket of a relay in the poller's epoll
// set: its key is the connection's id with this bit set. Ids count up
// from 1 and never reach it.
const relayKey = 1 << 63

// relayable reports whether the poller may relay c under b: a plaintext
// connection with no capture or greeting, raw both ways with no faults,
// or framed both ways with no fault but latency on replies, which holds a
// reply and never waits.
func (c *streamConn) relayable(b *behaviour) bool {
	if c.rc == nil || c.l.noPollers.Load() || b.capture != nil || b.greeter != nil {
		return false
	}
	rawIn, rawOut := b.request.Framing == wire.FramingRaw, b.response.Framing == wire.FramingRaw
	switch {
	case rawIn && rawOut:
		return b.faults == nil
	case rawIn || rawOut:
		return false
	}
	return b.faults.onlyDelaysReplies()
}

// onlyDelaysReplies reports whether every fault of s is latency on
// replies (true for none).
func (s *faultSet) onlyDelaysReplies() bool {
	if s == nil {
		return true
	}
	for _, f := range s.faults {
		if f.Kind != FaultLatency || f.Inbound {
			return false
		}
	}
	return true
}

// parkRelay puts a relay's two sockets in the poller's set, as park puts
// an idle connection's one; false when the relay cannot start there (the
// listener is closing, a socket was closed). On true the poller owns the
// connection.
func (c *streamConn) parkRelay() bool {
	loops := c.l.pollers()
	if loops == nil {
		return false
	}
	p := loops[c.act.id%uint64(len(loops))]
	c.p.Store(p)
	c.state.Store(connIdle)
	if c.l.inShutdown.Load() && c.state.CompareAndSwap(connIdle, connActive) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fd, ok := p.watchOpen(c, c.rc, c.act.id)
	if !ok {
		return false
	}
	up, ok := p.watch(c.relay.rc, c.act.id|relayKey)
	if !ok {
		p.unwatch(c.rc)
		return false
	}
	c.fd, c.relay.fd, c.relay.watched = fd, up, true
	p.conns[c.act.id] = c
	c.inPoller = true
	c.l.relays.Add(1)
	return true
}

// relayReady relays what one readable socket of c's relay holds to the
// other: fromHandler says which one it is.
func (p *poller) relayReady(c *streamConn, fromHandler bool) {
	if !c.state.CompareAndSwap(connIdle, connActive) || c.shutRead.Load() {
		// Not idle in the set: Shutdown or an idle timeout closed it; or
		// Close or an operator did, shutting its reading side down, which
		// would not stop the relay.
		p.end(c)
		return
	}
	if c.l.current() != c.b.Load().src {
		p.leave(c, nil, nil, false) // its goroutine adopts the new behaviour
		return
	}
	if !fromHandler {
		// The client's bytes go to the handler's socket, which only the
		// poller writes while it relays: no write lock.
		if c.relay.framed {
			p.relayRequests(c)
		} else {
			p.relayBytes(c, false)
		}
		return
	}
	if !c.wmu.TryLock() {
		// Someone writes to the client: the held-reply writer, for a
		// moment, or an operator's send, which may wait. Let it run, ask
		// again at the next epoll_wait (the socket stays ready), and
		// leave the connection to goroutines if the lock stays taken.
		r := c.relay
		if r.busySince.IsZero() {
			r.busySince = p.now
		}
		if p.now.Sub(r.busySince) < relayBusyFor {
			p.unread = true
			p.relayIdle(c)
			runtime.Gosched()
			return
		}
		p.leave(c, nil, nil, false)
		return
	}
	c.relay.busySince = time.Time{}
	if c.relay.framed {
		p.relayReplies(c)
	} else {
		p.relayBytes(c, true)
	}
}

// relayBytes is a raw relay's step. From the handler's socket the caller
// holds wmu, which relayBytes releases.
func (p *poller) relayBytes(c *streamConn, fromHandler bool) {
	src, dst := c.fd, c.relay.fd
	if fromHandler {
		src, dst = dst, src
	}
	if p.relayBuf == nil {
		p.relayBuf = make([]byte, maxRawReadSize)
	}
	unlock := func() {
		if fromHandler {
			c.wmu.Unlock()
		}
	}
	n, err := sockio.Read(src, p.relayBuf)
	if err != nil || n == 0 {
		unlock()
		p.readEnded(c, fromHandler, err)
		return
	}
	if n == len(p.relayBuf) {
		p.unread = true
	}
	got := p.relayBuf[:n]
	// Counted before the write, as the goroutines count a reply, so that
	// a peer that has read it finds it counted; what a short write leaves
	// is written as it is, uncounted, by whoever takes it over.
	if fromHandler {
		c.cnt.upFramesIn.Add(1)
		c.cnt.upBytesIn.Add(uint64(n))
		c.cnt.framesOut.Add(1)
		c.cnt.bytesOut.Add(uint64(n))
	} else {
		c.cnt.bytesIn.Add(uint64(n))
		c.act.touch(p.now)
		c.cnt.framesIn.Add(1)
		c.cnt.upFramesOut.Add(1)
		c.cnt.upBytesOut.Add(uint64(n))
	}
	rest, err := writeOnce(dst, got)
	unlock()
	switch {
	case err != nil:
		c.cnt.errors.Add(1) // the other side is gone: end both, as a goroutine would
		p.end(c)
	case rest == nil:
		p.relayIdle(c)
	case fromHandler:
		p.leave(c, rest, nil, false)
	default:
		p.leave(c, nil, rest, false)
	}
}

// writeOnce writes b to fd without waiting, and returns a copy of what
// the socket did not take (nil: it took it all).
func writeOnce(fd int, b []byte) ([]byte, error) {
	w, err := sockio.Write(fd, b)
	if err == syscall.EAGAIN {
		w, err = 0, nil
	}
	if err != nil || w == len(b) {
		return nil, err
	}
	return append([]byte(nil), b[w:]...), nil
}

// readEnded ends a relay step whose read failed or found nothing.
func (p *poller) readEnded(c *streamConn, fromHandler bool, err error) {
	if err == syscall.EAGAIN { // reported ready, but the socket had nothing after all
		p.relayIdle(c)
		return
	}
	p.relayEnded(c, fromHandler, err)
}

// relayRequests is a framed relay's step from the client: its whole
// frames, counted, go to the handler's socket as they came, in one
// write; a frame's start waits in the read buffer for the rest.
func (p *poller) relayRequests(c *streamConn) {
	b := c.b.Load()
	if c.rbuf != nil {
		c.makeRoom() // its own: a frame's start waits in it
	}
	p.lendRead(c) // the poller's, unless a frame's start waits in c's own
	n, err := sockio.Read(c.fd, c.rbuf.b[c.w:])
	if err != nil || n == 0 {
		p.unlendRead(c)
		p.readEnded(c, false, err)
		return
	}
	if n == len(c.rbuf.b)-c.w {
		p.unread = true
	}
	c.gotBytesAt(n, p.now)
	start, bad := c.r, false
	for c.w-c.r >= c.need {
		_, size, need, err := b.request.Parse(c.rbuf.b[c.r:c.w])
		if err != nil {
			bad = true // the connection's goroutine answers it, as it would have
			break
		}
		if size == 0 {
			c.need = need
			break
		}
		c.cnt.framesIn.Add(1)
		c.cnt.upFramesOut.Add(1)
		c.cnt.upBytesOut.Add(uint64(size))
		c.r += size
		c.need = b.request.MinFrame()
	}
	switch {
	case c.r == c.w:
		c.frameStart = time.Time{}
	case c.frameStart.IsZero():
		c.frameStart = p.now // the header timeout counts from here (see sweep)
	}
	rest, err := writeOnce(c.relay.fd, c.rbuf.b[start:c.r])
	p.unlendRead(c)
	switch {
	case err != nil:
		c.cnt.errors.Add(1)
		p.end(c)
	case rest != nil || bad || c.need > pollerMaxFrame:
		p.leave(c, nil, rest, false)
	default:
		p.relayIdle(c)
	}
}

// relayReplies is a framed relay's step from the handler's socket: its
// whole frames, counted, are replied as the handler's own reader replies
// them (through the listener's faults on replies), and written without
// waiting. The caller holds wmu; relayReplies releases it.
func (p *poller) relayReplies(c *streamConn) {
	r, b := c.relay, c.b.Load()
	// Read into the poller's buffer, unless a frame's start waits in the
	// relay's own.
	if p.relayBuf == nil {
		p.relayBuf = make([]byte, maxRawReadSize)
	}
	buf, ur, uw := p.relayBuf, 0, 0
	if r.ubuf != nil {
		r.makeRoom()
		buf, ur, uw = r.ubuf.b, r.ur, r.uw
	}
	n, err := sockio.Read(r.fd, buf[uw:])
	if err != nil || n == 0 {
		c.wmu.Unlock()
		p.readEnded(c, true, err)
		return
	}
	if n == len(buf)-uw {
		p.unread = true
	}
	uw += n
	p.lend(c, false)
	bad := false
	c.nonBlocking = true
	var werr error
	for uw-ur >= r.uneed {
		f, size, need, err := b.response.Parse(buf[ur:uw])
		if err != nil {
			bad = true // the handler's reader says so, as it would have
			break
		}
		if size == 0 {
			r.uneed = need
			break
		}
		c.cnt.upFramesIn.Add(1)
		c.cnt.upBytesIn.Add(uint64(size))
		hdr := b.response.AppendRawHeader(c.scratch().hdr[:0], f.Header, len(f.Body))
		if werr = c.replyLaterLocked(b, hdr, f.Body); werr != nil {
			break
		}
		ur += size
		r.uneed = b.response.MinFrame()
	}
	if werr == nil {
		werr = c.flushLocked()
	}
	c.nonBlocking = false
	r.keep(buf, ur, uw)
	// What the client did not take goes to the handler's reader, unless
	// held replies wait behind it: then the connection's goroutine writes
	// it first, as it does for the poller's other connections.
	var toClient []byte
	behind := c.wblocked && c.later != nil && !c.later.empty()
	if c.wblocked && !behind {
		toClient = append([]byte(nil), c.wbuf.b...)
		c.wbuf.b, c.wblocked = c.wbuf.b[:0], false
	}
	p.unlend(c)
	if c.wbuf != nil && len(c.wbuf.b) == 0 {
		putBuffer(c.wbuf) // writeNow's own, emptied above: nothing is held while idle
		c.wbuf = nil
	}
	c.wmu.Unlock()
	switch {
	case werr != nil:
		p.end(c) // the client is gone (counted by the write)
	case behind:
		p.leave(c, nil, nil, true) // wblocked: its goroutine writes the rest first, at once
	case toClient != nil || bad || r.uneed > pollerMaxFrame:
		p.leave(c, toClient, nil, false)
	default:
		p.relayIdle(c)
	}
}

// makeRoom readies ubuf, which holds a frame's start, for the next read,
// as streamConn.makeRoom does the read buffer.
func (r *socketRelay) makeRoom() {
	if r.ur > 0 && r.uneed > len(r.ubuf.b)-r.ur {
		r.uw = copy(r.ubuf.b, r.ubuf.b[r.ur:r.uw])
		r.ur = 0
	}
	if r.uw == len(r.ubuf.b) {
		grown := getBuffer(min(r.uneed, 2*len(r.ubuf.b)))
		copy(grown.b, r.ubuf.b[:r.uw])
		putBuffer(r.ubuf)
		r.ubuf = grown
	}
}

// keep keeps buf[ur:uw], what a step left of a frame, in ubuf: a buffer
// of the relay's own, not the poller's (shared); none when nothing is
// left.
func (r *socketRelay) keep(buf []byte, ur, uw int) {
	switch {
	case ur == uw:
		if r.ubuf != nil {
			putBuffer(r.ubuf)
		}
		r.ubuf, r.ur, r.uw = nil, 0, 0
	case r.ubuf != nil:
		r.ur, r.uw = ur, uw
	default:
		r.ubuf = getBuffer(max(uw-ur, readBufSize))
		r.ur, r.uw = 0, copy(r.ubuf.b, buf[ur:uw])
	}
}

// relayIdle makes c idle again after a relay step, and ends it when the
// listener drains.
func (p *poller) relayIdle(c *streamConn) {
	c.state.Store(connIdle)
	if c.l.inShutdown.Load() && c.state.CompareAndSwap(connIdle, connActive) {
		p.end(c)
	}
}

// relayEnded ends the poller's relay at an end of file or a failed read:
// the handler's (the upstream finished sending, or failed) goes to the
// handler's own reader, which tells the client as it would have; the
// client's finishes the connection, after the handler has relayed what
// its socket still sends when the client only closed its sending side
// between frames.
func (p *poller) relayEnded(c *streamConn, fromHandler bool, err error) {
	if fromHandler {
		if err != nil {
			c.cnt.errors.Add(1)
		}
		p.leave(c, nil, nil, false)
		return
	}
	r := c.relay
	p.remove(c)
	c.relay = nil
	if c.r != c.w {
		c.cnt.errors.Add(1) // the peer left in the middle of a frame
	}
	c.peerDone = err == nil && c.r == c.w && !c.shutRead.Load()
	if c.peerDone {
		r.h.Resume(nil, r.partial())
	}
	go c.finish()
}

// partial takes what the relay read from the handler's socket and did
// not relay, the start of a frame.
func (r *socketRelay) partial() []byte {
	if r.ubuf == nil {
		return nil
	}
	b := append([]byte(nil), r.ubuf.b[r.ur:r.uw]...)
	putBuffer(r.ubuf)
	r.ubuf, r.ur, r.uw = nil, 0, 0
	return b
}

// leave hands a relayed connection back to goroutines. The handler reads
// its socket again, after writing toClient to the client and taking in
// what the relay read of a frame; the client's socket stays in the set
// as any idle connection of a ConnOpener does, handed to a goroutine when
// it sends. An idle client, not a goroutine waiting for the write lock
// the handler's blocked write holds, is what Shutdown and the idle
// timeout then find. The client's goroutine starts at once when it has
// something to do: toUp, bytes the handler's socket did not take, which
// it writes first as they are, a frame begun in the read buffer, or
// (now) replies its socket did not take with held ones behind them.
func (p *poller) leave(c *streamConn, toClient, toUp []byte, now bool) {
	r := c.relay
	p.mu.Lock()
	if r.watched {
		r.watched = false
		p.unwatch(r.rc)
	}
	p.mu.Unlock()
	c.relay = nil
	c.l.relayLeft.Add(1)
	r.h.Resume(toClient, r.partial())
	if toUp == nil && c.r == c.w && !now {
		p.relayIdle(c)
		return
	}
	p.serveOnGoroutine(c, r, toUp)
}

// serveOnGoroutine takes c out of the set and serves it on a goroutine,
// which first writes toUp to the handler's socket of r as it is.
func (p *poller) serveOnGoroutine(c *streamConn, r *socketRelay, toUp []byte) {
	p.remove(c)
	go func() {
		if len(toUp) > 0 {
			if _, err := sockio.NewWriter(r.rc).Write(toUp); err != nil {
				c.cnt.errors.Add(1)
				c.finish()
				return
			}
		}
		c.serveFresh()
	}()
}
