package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/sockplane/sockplane/wire"
)

func dialWorker(ctx context.Context, network, addr string, b *benchRun) (benchWorker, error) {
	d := net.Dialer{Timeout: b.opts.timeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if network == "udp" {
		return &loopWorker{b: b, conn: &datagramConn{b: b, conn: conn, in: make([]byte, 64<<10)}}, nil
	}
	if b.tls != nil {
		hctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
		conn, err = handshake(hctx, conn, b.tls, addr)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	// One deadline bounds the whole run: a server that stops answering
	// ends the worker at most --timeout after the run.
	_ = conn.SetDeadline(time.Now().Add(b.opts.warmup + b.opts.duration + b.opts.timeout + time.Minute))
	batch := bytes.Repeat(b.request, b.opts.depth)
	return &loopWorker{b: b, conn: &streamConn{b: b, conn: conn, batch: batch, buf: make([]byte, max(64<<10, 4*len(b.request)))}}, nil
}

// streamConn reads replies from a byte stream without allocating: it
// parses them in place in its buffer.
type streamConn struct {
	b     *benchRun
	conn  net.Conn
	batch []byte // depth requests back to back
	buf   []byte
	r, w  int
}

func (c *streamConn) send(n int) error {
	for n > 0 {
		k := min(n, c.b.opts.depth)
		if _, err := c.conn.Write(c.batch[:k*len(c.b.request)]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (c *streamConn) next() ([]byte, error) {
	for {
		if body, ok, err := c.parse(); ok || err != nil {
			return body, err
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		} else if c.w == len(c.buf) {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
			if c.w == len(c.buf) {
				c.buf = append(c.buf, make([]byte, len(c.buf))...)
			}
		}
		n, err := c.conn.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// parse takes a whole reply off the buffer, if one is there.
func (c *streamConn) parse() ([]byte, bool, error) {
	if c.b.codec.Framing == wire.FramingRaw {
		// Raw replies have no boundaries: a reply is as long as a request.
		if size := c.b.opts.size; c.w-c.r >= size {
			c.r += size
			return c.buf[c.r-size : c.r], true, nil
		}
		return nil, false, nil
	}
	f, n, _, err := c.b.codec.Parse(c.buf[c.r:c.w])
	if err != nil || n == 0 {
		return nil, false, err
	}
	c.r += n
	if len(f.Header) > 0 && bytes.Contains(f.Header, []byte(`"error"`)) {
		return nil, true, errors.New("the listener answered with an error frame: " + string(f.Header))
	}
	return f.Body, true, nil
}

func (c *streamConn) more() bool {
	if c.b.codec.Framing == wire.FramingRaw {
		return c.w-c.r >= c.b.opts.size
	}
	_, n, _, _ := c.b.codec.Parse(c.buf[c.r:c.w])
	return n > 0
}

func (c *streamConn) expire(t time.Time) { _ = c.conn.SetReadDeadline(t) }
func (c *streamConn) close()             { _ = c.conn.Close() }

// datagramConn sends one datagram per request and reads one per reply.
type datagramConn struct {
	b       *benchRun
	conn    net.Conn
	in      []byte
	expires atomic.Int64 // unix ns after which reads give up; 0: never
}

func (c *datagramConn) send(n int) error {
	for range n {
		if _, err := c.conn.Write(c.b.request); err != nil {
			return err
		}
	}
	return nil
}

func (c *datagramConn) next() ([]byte, error) {
	deadline := time.Now().Add(c.b.opts.timeout)
	if e := c.expires.Load(); e != 0 && time.Unix(0, e).Before(deadline) {
		deadline = time.Unix(0, e)
	}
	_ = c.conn.SetReadDeadline(deadline)
	n, err := c.conn.Read(c.in)
	if errors.Is(err, os.ErrDeadlineExceeded) && c.expires.Load() == 0 {
		return nil, errLost
	}
	if err != nil {
		return nil, err
	}
	f, err := c.b.codec.ParseDatagram(c.in[:n])
	if err != nil {
		return nil, err
	}
	return f.Body, nil
}

func (c *datagramConn) more() bool { return false }
func (c *datagramConn) expire(t time.Time) {
	c.expires.Store(t.UnixNano())
	_ = c.conn.SetReadDeadline(t)
}
func (c *datagramConn) close() { _ = c.conn.Close() }
