package rawsock

import (
	"errors"
	"net"
	"time"
)

// heldWriteTimeout bounds one write of a held reply to a peer that does
// not read: the timer's goroutine must not block for ever.
const heldWriteTimeout = 10 * time.Second

// smallHeld is the size below which a held reply is not pooled.
const smallHeld = 1 << 10

// errLimitReached ends a connection a limitData fault cut.
var errLimitReached = errors.New("limitData fault: byte limit reached")

// held is a reply frame a timer sends: after a Delay or a latency fault,
// or in pieces for a slicer or bandwidth fault.
type held struct {
	buf  *buffer
	off  int       // bytes of buf.b already written
	due  time.Time // when the next piece may leave
	pace pacing
}

// pacing is how a held reply is cut: pieces of size (plus or minus
// vary), gap apart; or, at rate bytes per second, pieces of a tenth of a
// second each. Zero: in one write.
type pacing struct {
	size, vary int
	gap        time.Duration
	rate       int64
}

// later is a connection's queue of held replies, in the order they must
// leave, each due no earlier than the one before. wmu guards it; a timer
// writes what is due, so neither the connection nor a latency fault keeps
// a goroutine asleep per frame. A connection makes one the first time it
// holds a reply, and keeps it.
type later struct {
	q        []held
	timer    *time.Timer
	paceFree time.Time     // a bandwidth fault's next free moment
	pieces   uint64        // slicer pieces cut, for their sizes
	drained  chan struct{} // closed when q empties, for a connection that waits to close
}

// holdLocked queues frame (hdr then body, copied) to leave at due, cut
// by pace, behind every reply already held. The caller holds wmu.
func (c *streamConn) holdLocked(hdr, body []byte, due time.Time, pace pacing, copies int) {
	if c.later == nil {
		c.later = &later{}
	}
	lq := c.later
	if len(lq.q) == 0 && c.wbuf != nil && len(c.wbuf.b) > 0 {
		// Replies buffered before this one leave first.
		if c.writeLocked() != nil {
			return
		}
	}
	if n := len(lq.q); n > 0 && due.Before(lq.q[n-1].due) {
		due = lq.q[n-1].due
	}
	for range copies {
		var buf *buffer
		if size := len(hdr) + len(body); size < smallHeld {
			// A held reply is waited on, not worked on: a small one keeps
			// its own bytes rather than a 4 KiB pooled buffer.
			buf = &buffer{b: make([]byte, 0, size)}
		} else {
			buf = getBuffer(size)
		}
		buf.b = append(append(buf.b[:0], hdr...), body...)
		lq.q = append(lq.q, held{buf: buf, due: due, pace: pace})
	}
	if len(lq.q) == copies { // the queue was empty: arm the timer
		wait := max(time.Until(due), 0)
		if lq.timer == nil {
			lq.timer = time.AfterFunc(wait, c.writeHeld)
		} else {
			lq.timer.Reset(wait)
		}
	}
}

// heldLocked reports whether replies are waiting; the caller holds wmu.
func (c *streamConn) heldLocked() bool { return c.later != nil && len(c.later.q) > 0 }

// writeHeld runs on the timer: it writes every piece that is due, then
// re-arms the timer for the next one.
func (c *streamConn) writeHeld() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	lq := c.later
	if lq == nil {
		return
	}
	if c.wbuf != nil && len(c.wbuf.b) > 0 && c.writeLocked() != nil {
		// What a poller could not write (see writeNow) leaves first.
		c.dropHeldLocked()
		return
	}
	for len(lq.q) > 0 {
		if c.werr != nil {
			c.dropHeldLocked()
			return
		}
		h := &lq.q[0]
		now := time.Now()
		due := h.due
		if h.pace.rate > 0 && lq.paceFree.After(due) {
			due = lq.paceFree
		}
		if due.After(now) {
			lq.timer.Reset(due.Sub(now))
			return
		}
		piece := h.buf.b[h.off:]
		if n := c.pieceSize(h.pace); n > 0 && n < len(piece) {
			piece = piece[:n]
		}
		cut := false
		if fx := c.fx; fx != nil && fx.set.limitOut {
			if left := fx.limitLeft(false); int64(len(piece)) >= left {
				piece, cut = piece[:max(left, 0)], true
			}
		}
		_ = c.nc.SetWriteDeadline(now.Add(heldWriteTimeout))
		n, err := c.nc.Write(piece)
		_ = c.nc.SetWriteDeadline(time.Time{})
		if c.fx != nil {
			c.fx.outBytes += int64(n)
		}
		if err != nil || cut {
			if err == nil {
				err = errLimitReached
				c.fx.hit(c.fx.limitIndex(false))
			} else {
				c.cnt.errors.Add(1)
			}
			c.werr = err
			_ = c.closeSocket()
			c.dropHeldLocked()
			return
		}
		h.off += n
		if h.pace.rate > 0 {
			lq.paceFree = now.Add(time.Duration(int64(n) * int64(time.Second) / h.pace.rate))
		}
		if h.off < len(h.buf.b) {
			h.due = now.Add(h.pace.gap)
			continue
		}
		putBuffer(h.buf)
		lq.q[0] = held{}
		lq.q = lq.q[1:]
	}
	lq.q = lq.q[:0:0] // let the backing array go with the last reply
	if lq.drained != nil {
		close(lq.drained)
		lq.drained = nil
	}
}

// pieceSize is the size of the next piece of a paced reply, 0 for all of it.
func (c *streamConn) pieceSize(p pacing) int {
	switch {
	case p.size > 0:
		n := p.size
		if p.vary > 0 {
			c.later.pieces++
			span := uint64(2*p.vary + 1)
			var seed uint64
			if c.fx != nil {
				seed = c.fx.set.seed
			}
			n += int(chance(seed, c.act.id, c.later.pieces, 1)%span) - p.vary
		}
		return max(n, 1)
	case p.rate > 0:
		return int(max(p.rate/10, 1))
	}
	return 0
}

// dropHeldLocked gives up the held replies: the connection is closing.
func (c *streamConn) dropHeldLocked() {
	lq := c.later
	if lq == nil {
		return
	}
	if lq.timer != nil {
		lq.timer.Stop()
	}
	for _, h := range lq.q {
		putBuffer(h.buf)
	}
	lq.q = nil
	if lq.drained != nil {
		close(lq.drained)
		lq.drained = nil
	}
}

// waitHeld waits until the held replies have left, the connection has
// failed, or the listener closes it.
func (c *streamConn) waitHeld() {
	c.wmu.Lock()
	if !c.heldLocked() || c.werr != nil {
		c.wmu.Unlock()
		return
	}
	if c.later.drained == nil {
		c.later.drained = make(chan struct{})
	}
	ch := c.later.drained
	c.wmu.Unlock()
	select {
	case <-ch:
	case <-c.req.Context().Done():
	}
}

// Delay implements ResponseWriter.
func (c *streamConn) Delay(d time.Duration) {
	if d <= 0 {
		return
	}
	c.wmu.Lock()
	c.delayLocked(d)
	c.wmu.Unlock()
}

// delayLocked is Delay with wmu held.
func (c *streamConn) delayLocked(d time.Duration) {
	if d <= 0 {
		return
	}
	if t := time.Now().Add(d); t.After(c.hold) {
		c.hold = t
	}
	c.holding = true
}

// CloseAfterReply implements ResponseWriter.
func (c *streamConn) CloseAfterReply(reset bool) {
	mode := closeFIN
	if reset {
		mode = closeRST
	}
	if mode > c.closeAfter {
		c.closeAfter = mode
	}
}

// How a connection ends after CloseAfterReply.
const (
	closeFIN = 1 + iota
	closeRST
)

// errClosingAfterReply ends a connection whose handler asked for it.
var errClosingAfterReply = errors.New("closed after the reply, as the handler asked")

// resetConn closes nc with an RST where the network has one.
func resetConn(nc net.Conn) {
	type netConner interface{ NetConn() net.Conn }
	if t, ok := nc.(netConner); ok { // TLS
		nc = t.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// replyLaterLocked is Reply's path when the reply may not simply join
// the write buffer: a Delay is in force, the connection has faults, or
// replies are already held. The caller holds wmu.
func (c *streamConn) replyLaterLocked(b *behaviour, hdr, body []byte) error {
	due, pace, copies := c.hold, pacing{}, 1
	if c.fx != nil {
		var delay time.Duration
		delay, pace, copies = c.outbound(b.response.HeaderText(hdr), body)
		if delay > 0 { // a slow network on top of a slow server
			now := time.Now()
			if due.Before(now) {
				due = now
			}
			due = due.Add(delay)
		}
	}
	if copies == 0 {
		return nil // dropped: the peer never sees it
	}
	size := len(hdr) + len(body)
	c.cnt.framesOut.Add(uint64(copies))
	c.cnt.bytesOut.Add(uint64(copies * size))
	b.capture.record(c.act.id, true, b.response.HeaderText(hdr), body)
	limited := c.fx != nil && c.fx.set.limitOut
	if due.IsZero() && pace == (pacing{}) && !limited && !c.heldLocked() && copies == 1 {
		if c.wbuf == nil {
			c.wbuf = getBuffer(writeBufSize)
			c.wbuf.b = c.wbuf.b[:0]
		}
		if len(c.wbuf.b)+size > cap(c.wbuf.b) {
			if err := c.writeLocked(); err != nil {
				return err
			}
			if size > cap(c.wbuf.b) {
				return c.writeLocked(hdr, body)
			}
		}
		c.wbuf.b = append(append(c.wbuf.b, hdr...), body...)
		return nil
	}
	if due.IsZero() {
		due = time.Now()
	}
	c.holdLocked(hdr, body, due, pace, copies)
	return c.werr
}
