package rawsock

import (
	"errors"
	"net"
	"time"
)

// heldWriteTimeout bounds one write of a held reply to a peer that does
// not read: the timer's goroutine must not block for ever.
const heldWriteTimeout = 10 * time.Second

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
// leave, each due no earlier than the one before. wmu guards it; the
// listener's held-reply writer writes what is due when it is (see
// heldwriter.go), so neither the connection nor a latency fault keeps a
// goroutine asleep per frame. A connection makes one the first time it
// holds a reply, and keeps it.
type later struct {
	q        []held // q[head:] wait, in order
	head     int
	gen      uint64        // the schedule in force (see heldWriter); older ones are void
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
	if lq.empty() && c.wbuf != nil && len(c.wbuf.b) > 0 {
		// Replies buffered before this one leave first.
		if c.writeLocked() != nil {
			return
		}
	}
	wasEmpty := lq.empty()
	if lq.head > 0 && lq.head >= len(lq.q)/2 {
		// A queue that never empties moves its replies to the front
		// rather than grow behind the ones that left.
		n := copy(lq.q, lq.q[lq.head:])
		clear(lq.q[n:])
		lq.q, lq.head = lq.q[:n], 0
	}
	if n := len(lq.q); !wasEmpty && due.Before(lq.q[n-1].due) {
		due = lq.q[n-1].due
	}
	for range copies {
		var buf *buffer
		if size := len(hdr) + len(body); size <= smallBufMax {
			// A held reply is waited on, not worked on: a small one takes a
			// small buffer, not a 4 KiB one.
			buf = getSmallBuffer(size)
		} else {
			buf = getBuffer(size)
		}
		buf.b = append(append(buf.b[:0], hdr...), body...)
		lq.q = append(lq.q, held{buf: buf, due: due, pace: pace})
	}
	if wasEmpty {
		c.scheduleHeld(due)
	}
}

// empty reports whether no reply waits.
func (lq *later) empty() bool { return lq.head == len(lq.q) }

// pop drops the front reply, which left. An emptied queue keeps its
// array for the next replies, unless a burst grew it large.
func (lq *later) pop() {
	lq.q[lq.head] = held{}
	lq.head++
	if lq.empty() {
		lq.head = 0
		if cap(lq.q) > keptHeld {
			lq.q = nil
		} else {
			lq.q = lq.q[:0]
		}
	}
}

// keptHeld is the longest queue array a connection keeps while no reply
// waits.
const keptHeld = 16

// scheduleHeld has the front reply written at due, replacing the
// schedule before. The caller holds wmu.
func (c *streamConn) scheduleHeld(due time.Time) {
	lq := c.later
	lq.gen++
	if hw := c.l.heldWriter(); hw != nil {
		hw.schedule(c, due, lq.gen)
		return
	}
	// The listener stopped its writer: it has no connections left to
	// write for, but a straggler gets a timer of its own.
	gen := lq.gen
	time.AfterFunc(max(time.Until(due), 0), func() { c.writeHeld(gen) })
}

// heldLocked reports whether replies are waiting; the caller holds wmu.
func (c *streamConn) heldLocked() bool { return c.later != nil && !c.later.empty() }

// writeHeld writes every piece that is due under schedule gen, unless
// another replaced it, then schedules the next one; it waits for a peer
// that does not read for up to heldWriteTimeout.
func (c *streamConn) writeHeld(gen uint64) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.later.gen == gen {
		c.writeHeldLocked(false)
	}
}

// writeHeldNow is writeHeld for the held-reply writer, which must never
// wait: a connection whose write lock is taken, or whose socket does not
// take a piece whole, goes on to a goroutine of its own that waits.
func (c *streamConn) writeHeldNow(gen uint64) {
	if !c.wmu.TryLock() {
		go c.writeHeld(gen)
		return
	}
	if c.later.gen != gen {
		c.wmu.Unlock()
		return
	}
	blocked := c.writeHeldLocked(true)
	c.wmu.Unlock()
	if blocked {
		go c.writeHeld(gen)
	}
}

// writeHeldLocked is writeHeld with wmu held. With nowOnly set it never
// waits, and reports true when it stopped because it would have (what
// was written stays written: the reply's offset moved on).
func (c *streamConn) writeHeldLocked(nowOnly bool) (blocked bool) {
	lq := c.later
	if lq == nil {
		return false
	}
	if c.wbuf != nil && len(c.wbuf.b) > 0 {
		// What a poller could not write (see writeNow) leaves first.
		if nowOnly {
			return true
		}
		if c.writeLocked() != nil {
			c.dropHeldLocked()
			return false
		}
	}
	for !lq.empty() {
		if c.werr != nil {
			c.dropHeldLocked()
			return false
		}
		h := &lq.q[lq.head]
		at := time.Now()
		due := h.due
		if h.pace.rate > 0 && lq.paceFree.After(due) {
			due = lq.paceFree
		}
		if due.After(at) {
			c.scheduleHeld(due)
			return false
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
		n, err := c.writePiece(piece, at, nowOnly)
		if c.fx != nil {
			c.fx.outBytes += int64(n)
		}
		if err == nil && n < len(piece) { // the socket is full (nowOnly)
			h.off += n
			return true
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
			return false
		}
		h.off += n
		if h.pace.rate > 0 {
			lq.paceFree = at.Add(time.Duration(int64(n) * int64(time.Second) / h.pace.rate))
		}
		if h.off < len(h.buf.b) {
			h.due = at.Add(h.pace.gap)
			continue
		}
		putBuffer(h.buf)
		lq.pop()
	}
	if lq.drained != nil {
		close(lq.drained)
		lq.drained = nil
	}
	return false
}

// writePiece writes a piece of a held reply, bounded by
// heldWriteTimeout for a peer that does not read. On a plaintext socket
// it first writes what the socket takes now, with raw system calls, and
// sets a deadline only when the socket is full: a piece usually fits,
// and setting and clearing a deadline per piece costs as much as the
// write's own bookkeeping. The caller holds wmu.
//
// With nowOnly set it never waits: it returns what the socket took.
func (c *streamConn) writePiece(piece []byte, now time.Time, nowOnly bool) (int, error) {
	if c.rc == nil {
		if nowOnly {
			return 0, nil // TLS: the waiting writeHeld writes it
		}
		_ = c.nc.SetWriteDeadline(now.Add(heldWriteTimeout))
		n, err := c.nc.Write(piece)
		_ = c.nc.SetWriteDeadline(time.Time{})
		return n, err
	}
	sw := &c.scratch().sw
	sw.Reset(c.rc)
	defer sw.Reset(nil)
	n, err := sw.WriteNow(piece)
	if err != nil || int(n) == len(piece) || nowOnly {
		return int(n), err
	}
	_ = c.nc.SetWriteDeadline(now.Add(heldWriteTimeout))
	m, err := sw.Write(piece[n:])
	_ = c.nc.SetWriteDeadline(time.Time{})
	return int(n + m), err
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
	lq.gen++ // what was scheduled is void
	for _, h := range lq.q[lq.head:] {
		putBuffer(h.buf)
	}
	lq.q, lq.head = nil, 0
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
