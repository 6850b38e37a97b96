package rawsock

// A poller lends the connection it serves its own read buffer, write
// buffer and write scratch for the length of one wake-up, when the
// connection has none: a frame that arrives whole and is answered whole,
// the common case, then takes nothing from a pool and gives nothing back,
// and every connection reads and writes the same few kilobytes, which
// stay in the CPU's cache. Whatever is still in them when the poller is
// done (a partial frame, replies not written) is copied to buffers of
// the connection's own before anyone else may see the connection.
//
// Connections in FramingRaw keep their own read buffers, which grow for
// bulk senders (see gotBytes).
type pollerBuffers struct {
	rbuf, wbuf *buffer
	ws         *writeScratch
}

func newPollerBuffers() pollerBuffers {
	return pollerBuffers{rbuf: &buffer{b: make([]byte, readBufSize)}, wbuf: &buffer{b: make([]byte, 0, writeBufSize)}, ws: new(writeScratch)}
}

// lend gives c the poller's buffers it lacks, under c's write lock; a
// raw connection gets a read buffer of its own.
func (p *poller) lend(c *streamConn, raw bool) {
	if c.rbuf == nil {
		if raw {
			c.rbuf = getBuffer(readBufSize)
		} else {
			c.rbuf = p.bufs.rbuf
		}
	}
	if c.wbuf == nil {
		c.wbuf = p.bufs.wbuf
	}
	if c.ws == nil {
		c.ws = p.bufs.ws
	}
}

// unlend takes the poller's buffers back from c before its write lock is
// released, moving what c still needs of them into buffers of its own.
func (p *poller) unlend(c *streamConn) {
	p.unlendRead(c)
	if c.wbuf == p.bufs.wbuf {
		if len(c.wbuf.b) == 0 {
			c.wbuf = nil
		} else {
			own := getBuffer(writeBufSize)
			own.b = append(own.b[:0], c.wbuf.b...)
			c.wbuf = own
		}
		p.bufs.wbuf.b = p.bufs.wbuf.b[:0]
	}
	if c.ws == p.bufs.ws {
		c.ws = nil
	}
}

// lendRead gives c the poller's read buffer if it has none: the read
// side's own, which needs no write lock.
func (p *poller) lendRead(c *streamConn) {
	if c.rbuf == nil {
		c.rbuf, c.r, c.w = p.bufs.rbuf, 0, 0
	}
}

// unlendRead takes the poller's read buffer back from c, moving a
// partial frame into a buffer of c's own.
func (p *poller) unlendRead(c *streamConn) {
	if c.rbuf == p.bufs.rbuf {
		if c.r == c.w {
			c.rbuf, c.r, c.w = nil, 0, 0
		} else {
			own := getBuffer(len(c.rbuf.b))
			c.w = copy(own.b, c.rbuf.b[c.r:c.w])
			c.r, c.rbuf = 0, own
		}
	}
}

// isLent reports whether b is one of p's buffers, which must never go to
// a pool.
func (p *poller) isLent(b *buffer) bool { return b == p.bufs.rbuf || b == p.bufs.wbuf }
