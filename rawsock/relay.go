package rawsock

import (
	"syscall"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/wire"
)

// A connection whose ConnHandler is a SocketRelay (the proxy's raw relay
// to a plaintext upstream) is relayed by the listener's poller itself,
// when nothing but bytes passes between the two: its socket and the
// handler's are both in the poller's epoll set, level-triggered, and the
// one that is readable is read once and what it gave is written to the
// other at once, without waiting, as a hand-written epoll relay does. A
// message then costs one read and one write each way and no goroutine:
// a goroutine on each side costs a second read each, which says EAGAIN,
// and a park and a wake-up.
//
// The poller keeps only that steady state. Anything else goes back to
// goroutines for good (leave): the handler resumes reading its socket
// and the connection's goroutine serves the client the usual way, with
// what the poller could not write handed over first, in order. That is:
// a write the other side does not take whole (backpressure), an end of
// file or an error from either side (half-closes then go as they do on
// goroutines), a behaviour Update changed, or a write lock someone else
// holds (an operator's send).
type socketRelay struct {
	h       SocketRelay
	rc      syscall.RawConn // the handler's socket
	fd      int             // its descriptor, while it is in the poller's set
	watched bool            // in the poller's set (under p.mu)
}

// relayKey marks the handler's socket of a relay in the poller's epoll
// set: its key is the connection's id with this bit set. Ids count up
// from 1 and never reach it.
const relayKey = 1 << 63

// relayable reports whether the poller may relay c's bytes under b: a
// plaintext connection, raw both ways, with nothing that looks at the
// bytes (faults, capture) or speaks first.
func (c *streamConn) relayable(b *behaviour) bool {
	return c.rc != nil && !c.l.noPollers.Load() && b.faults == nil && b.capture == nil && b.greeter == nil &&
		b.request.Framing == wire.FramingRaw && b.response.Framing == wire.FramingRaw
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
	if c.l.current() != c.b.Load().src || !c.wmu.TryLock() {
		p.leave(c, nil) // its goroutine adopts the new behaviour, or waits for the lock
		return
	}
	src, dst := c.fd, c.relay.fd
	if fromHandler {
		src, dst = dst, src
	}
	if p.relayBuf == nil {
		p.relayBuf = make([]byte, maxRawReadSize)
	}
	n, err := sockio.Read(src, p.relayBuf)
	switch {
	case err == syscall.EAGAIN: // reported ready, but the socket had nothing after all
		c.wmu.Unlock()
		p.relayIdle(c)
		return
	case err != nil || n == 0:
		c.wmu.Unlock()
		p.relayEnded(c, fromHandler, err)
		return
	}
	if n == len(p.relayBuf) {
		p.unread = true
	}
	got := p.relayBuf[:n]
	// Counted before the write, as the goroutines count a reply, so that
	// a peer that has read it finds it counted; a short write takes back
	// what whoever writes the rest counts.
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
	w, err := sockio.Write(dst, got)
	if err == syscall.EAGAIN {
		w, err = 0, nil
	}
	if err != nil {
		c.cnt.errors.Add(1) // the other side is gone: end both, as a goroutine would
		c.wmu.Unlock()
		p.end(c)
		return
	}
	if w == n {
		c.wmu.Unlock()
		p.relayIdle(c)
		return
	}
	if fromHandler {
		c.cnt.framesOut.Add(^uint64(0))
		c.cnt.bytesOut.Add(^uint64(n - w - 1))
	} else {
		c.cnt.framesIn.Add(^uint64(0))
		c.cnt.upFramesOut.Add(^uint64(0))
		c.cnt.upBytesOut.Add(^uint64(n - w - 1))
	}
	c.wmu.Unlock()
	// The other side took less than it was given: the rest goes first on
	// the goroutines. Bytes for the client go to the handler's reader,
	// which writes them before anything else it reads (its write, unlike
	// the connection's goroutine, may block: an idle timeout, Shutdown or
	// Close still end a client that does not read, and abort it); bytes
	// for the handler wait in the read buffer as a frame the client sent,
	// which the connection's goroutine serves (counting it) before it
	// reads again.
	rest := got[w:]
	if fromHandler {
		p.leave(c, append([]byte(nil), rest...))
		return
	}
	c.rbuf = getBuffer(max(len(rest), readBufSize))
	c.r, c.w = 0, copy(c.rbuf.b, rest)
	p.leave(c, nil)
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
// its socket still sends when the client only closed its sending side.
func (p *poller) relayEnded(c *streamConn, fromHandler bool, err error) {
	if fromHandler {
		if err != nil {
			c.cnt.errors.Add(1)
		}
		p.leave(c, nil)
		return
	}
	r := c.relay
	p.remove(c)
	c.relay = nil
	c.peerDone = err == nil && !c.shutRead.Load()
	if c.peerDone {
		r.h.Resume(nil)
	}
	go c.finish()
}

// leave hands a relayed connection back to goroutines: the handler reads
// its socket, after writing pending to the client, and the client's
// socket stays in the set as any idle connection of a ConnOpener does,
// handed to a goroutine when it sends; at once when the read buffer
// holds bytes for the handler. An idle client, not a goroutine waiting
// for the write lock the handler's blocked write holds, is what Shutdown
// and the idle timeout then find.
func (p *poller) leave(c *streamConn, pending []byte) {
	r := c.relay
	p.mu.Lock()
	if r.watched {
		r.watched = false
		p.unwatch(r.rc)
	}
	p.mu.Unlock()
	c.relay = nil
	c.l.relayLeft.Add(1)
	r.h.Resume(pending)
	if c.rbuf != nil {
		p.handOff(c)
		return
	}
	p.relayIdle(c)
}
