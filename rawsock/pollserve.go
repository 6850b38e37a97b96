package rawsock

import (
	"syscall"
	"time"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/wire"
)

// pollerMaxFrame is the largest frame the poller serves itself.
const pollerMaxFrame = 64 << 10

// serveReady serves a connection of the poller's set whose socket is
// readable: itself when it can (see poller), else on a goroutine.
func (p *poller) serveReady(c *streamConn) {
	if c.state.Load() == connClosed {
		p.end(c) // Shutdown closed it while idle
		return
	}
	// A changed behaviour is adopted on the goroutine (adopting may
	// wait for the write lock), as is a large frame: its goroutine reads
	// it with blocking reads and writes its reply whole, where the poller
	// would copy what a non-blocking write left.
	b := c.b.Load()
	if !b.inline || c.r == c.w && c.l.current() != b.src || c.need > pollerMaxFrame || !c.wmu.TryLock() {
		p.handOff(c)
		return
	}
	if c.state.Load() == connIdle && !c.state.CompareAndSwap(connIdle, connActive) {
		c.wmu.Unlock()
		p.end(c)
		return
	}
	p.lend(c, b.request.Framing == wire.FramingRaw)
	n, err := sockio.Read(c.fd, c.rbuf.b[c.w:])
	switch {
	case err == syscall.EAGAIN: // reported ready, but another reader was first
		p.unlend(c)
		if c.r == c.w {
			c.idleAgain()
		}
		c.wmu.Unlock()
		return
	case err != nil || n == 0:
		if c.r == c.w && n == 0 && err == nil && !c.shutRead.Load() {
			c.peerDone = true
		} else if c.r != c.w {
			c.cnt.errors.Add(1) // the peer left in the middle of a frame
		}
		p.unlend(c)
		c.wmu.Unlock()
		p.end(c)
		return
	}
	if n == len(c.rbuf.b)-c.w {
		p.unread = true
	}
	c.gotBytesAt(n, p.now)
	c.nonBlocking = true
	serr := c.serveBuffered((*lockedWriter)(c), true)
	if serr == nil {
		serr = c.flushLocked()
	}
	c.nonBlocking = false
	p.unlend(c)
	switch {
	case serr != nil && c.werr == nil:
		// Ending takes waiting (the replies held, an error frame to a
		// peer that may not read): a goroutine's work.
		c.wmu.Unlock()
		p.remove(c)
		go func() {
			c.serveFailed(serr)
			c.finish()
		}()
	case serr != nil: // the write failed
		c.wmu.Unlock()
		p.end(c)
	case c.wblocked:
		c.wmu.Unlock()
		p.handOff(c) // its goroutine writes the rest first
	case c.r == c.w && c.l.inShutdown.Load():
		c.wmu.Unlock()
		p.end(c) // drained
	case c.r == c.w:
		c.idleAgain()
		c.wmu.Unlock()
		if c.l.inShutdown.Load() && c.state.CompareAndSwap(connIdle, connActive) {
			p.end(c)
		}
	default:
		if c.frameStart.IsZero() {
			c.frameStart = time.Now() // the header timeout counts from here
		}
		c.makeRoom()
		c.wmu.Unlock()
	}
}

// idleAgain gives back the buffers of a connection with no partial
// frame, which waits on the poller again. The caller holds wmu.
func (c *streamConn) idleAgain() {
	c.r, c.w = 0, 0
	c.frameStart = time.Time{}
	if c.growRaw {
		c.makeRoom() // a bulk sender: its next read gets a larger buffer
	} else if c.rbuf != nil {
		putBuffer(c.rbuf)
		c.rbuf = nil
	}
	if c.wbuf != nil && len(c.wbuf.b) == 0 {
		putBuffer(c.wbuf)
		c.wbuf = nil
	}
	if c.wbuf == nil {
		c.releaseScratch()
	}
	c.state.Store(connIdle)
}

// The poller's reads and writes are raw system calls (package sockio).
// c.fd is valid while the connection is in the poller's set: nothing
// closes it there (see closeSocket).

// writeNow is writeLocked on the poller: one non-blocking attempt. What
// the socket does not take stays in wbuf, in order, and wblocked tells
// the poller to hand the connection to a goroutine, which writes it
// first. The caller holds wmu.
func (c *streamConn) writeNow(bufs [][]byte) error {
	if c.werr != nil {
		return c.werr
	}
	written := 0
	if !c.wblocked {
		var err error
		written, err = sockio.Writev(c.fd, c.p.Load().iov[:], bufs)
		if err != nil && err != syscall.EAGAIN {
			c.werr = err
			c.cnt.errors.Add(1)
			return err
		}
	}
	rest := 0
	for _, b := range bufs {
		rest += len(b)
	}
	rest -= written
	if rest == 0 {
		if c.wbuf != nil {
			c.wbuf.b = c.wbuf.b[:0]
		}
		return nil
	}
	// Keep the unwritten tail, which may begin in wbuf itself: gather it
	// in a buffer of its own.
	out := getBuffer(rest)
	out.b = out.b[:0]
	for _, b := range bufs {
		if written >= len(b) {
			written -= len(b)
			continue
		}
		out.b = append(out.b, b[written:]...)
		written = 0
	}
	if c.wbuf != nil && !c.p.Load().isLent(c.wbuf) {
		putBuffer(c.wbuf)
	}
	c.wbuf = out
	c.wblocked = true
	return nil
}

// sweep ends the connections of the set whose idle or header timeout
// passed: what their read deadline does on a goroutine.
func (p *poller) sweep(now time.Time) {
	p.expired = p.expired[:0]
	p.mu.Lock()
	for _, c := range p.conns {
		lim := c.b.Load().limits
		if c.r == c.w {
			if lim.IdleTimeout > 0 && now.Sub(time.Unix(0, c.act.lastIn.Load())) >= lim.IdleTimeout {
				p.expired = append(p.expired, c)
			}
		} else if !c.frameStart.IsZero() && now.Sub(c.frameStart) >= lim.HeaderTimeout {
			p.expired = append(p.expired, c)
		}
	}
	p.mu.Unlock()
	for i, c := range p.expired {
		p.expired[i] = nil
		if c.r == c.w {
			if c.state.CompareAndSwap(connIdle, connClosed) {
				p.end(c)
			}
			continue
		}
		// A slow-loris peer: say why, then close, on a goroutine, as the
		// peer may not read.
		p.remove(c)
		go func() {
			c.cnt.errors.Add(1)
			c.writeErrorFrame(errFrameTimeout{c.b.Load().limits.HeaderTimeout})
			c.finish()
		}()
	}
}

// armSweep sets when the next sweep is due: an eighth of the shortest
// timeout the listener's connections have, within 1 ms and 1 s, so a
// timeout is enforced within an eighth of itself late.
func (p *poller) armSweep(now time.Time) {
	lim := p.l.current().limits
	every := lim.HeaderTimeout
	if lim.IdleTimeout > 0 && lim.IdleTimeout < every {
		every = lim.IdleTimeout
	}
	every = min(max(every/8, time.Millisecond), time.Second)
	p.nextSweep = now.Add(every)
	_ = p.file.SetReadDeadline(p.nextSweep)
}

// lockedWriter is the ResponseWriter of a frame the poller serves: the
// poller holds the connection's write lock while the handler runs, so
// that it never waits for it in the middle.
type lockedWriter streamConn

func (w *lockedWriter) Reply(body []byte, extra ...wire.HeaderField) error {
	return (*streamConn)(w).replyLocked(body, extra)
}

func (w *lockedWriter) ReplyError(msg string) error {
	return (*streamConn)(w).replyErrorLocked(msg)
}

func (w *lockedWriter) Delay(d time.Duration) { (*streamConn)(w).delayLocked(d) }

func (w *lockedWriter) CloseAfterReply(reset bool) { (*streamConn)(w).CloseAfterReply(reset) }

var _ ResponseWriter = (*lockedWriter)(nil)
