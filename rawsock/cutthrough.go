package rawsock

import "time"

// cutThroughMin is the smallest body an echo connection streams through
// (see cutThrough) rather than storing it and writing it back: below it,
// copying through the read buffer costs less than the extra syscalls.
const cutThroughMin = 256 << 10

// cutThrough echoes the frame whose start is in the read buffer as it
// arrives, when the connection's behaviour allows it (streamEcho, a
// plaintext socket) and the body still to come is at least
// cutThroughMin: the reply's header and the body bytes already read leave
// in one writev, and the rest of the body is moved from the socket to
// itself through a pipe by splice(2) (see spliceEcho), never entering
// user space nor the read buffer. What the peer receives is exactly what
// Echo would have replied. The write lock is held until the body has
// gone, as the reply is in flight all that time: an operator's frame
// (see send) waits for its end rather than landing inside it.
//
// It returns false when it did not take the frame, which is then read and
// served as any other; true when it did, with an error if the connection
// must end (the peer left mid-body: the reply is short, and only a close
// tells the peer so).
func (c *streamConn) cutThrough() (bool, error) {
	b := c.b.Load()
	if !b.streamEcho || c.tls != nil || c.rc == nil || c.conn != nil {
		return false, nil
	}
	have := c.rbuf.b[c.r:c.w]
	start, ok := b.request.BodyStart(have)
	if !ok || c.need-len(have) < cutThroughMin {
		return false, nil
	}
	size := c.need - start
	body := have[start:] // the body's first bytes
	c.cnt.framesIn.Add(1)
	c.armDeadline(time.Now()) // the frame's header timeout bounds the whole body, as when buffered

	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return true, c.werr
	}
	hdr, err := b.response.AppendHeader(c.scratch().hdr[:0], size)
	if err != nil {
		return true, err
	}
	if err := c.writeLocked(hdr, body); err != nil {
		return true, err
	}
	c.cnt.bytesOut.Add(uint64(len(hdr) + len(body)))
	if err := c.spliceEcho(size - len(body)); err != nil {
		// Either side may have failed, and the reply is cut short: end
		// the connection, which is what tells the peer.
		c.werr = err
		c.cnt.errors.Add(1)
		return true, err
	}
	c.cnt.framesOut.Add(1)
	c.bulk = true
	c.r, c.w = 0, 0
	c.need = b.request.MinFrame()
	c.frameStart = time.Time{}
	return true, nil
}
