package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockplane/sockplane/rawsock"
)

// maxDatagram is the receive buffer of a UDP reply: the largest UDP
// payload fits.
const maxDatagram = 64 << 10

// frameOptions are the flags of the commands that talk to a listener.
type frameOptions struct {
	// udp sends datagrams instead of a TCP stream. Default: false.
	udp bool
	// byteOrder of the 4-byte lengths. Default: little.
	byteOrder *enumFlag[rawsock.ByteOrder]
	// timeout bounds the connect and each reply. Default: 5s.
	timeout time.Duration
}

// addFrameFlags defines the flags of o on cmd.
func addFrameFlags(cmd *cobra.Command, o *frameOptions) {
	o.byteOrder = newEnumFlag(byteOrderNames, "little")
	f := cmd.Flags()
	f.BoolVar(&o.udp, "udp", false, "send UDP datagrams, one frame each, instead of a TCP stream")
	f.Var(o.byteOrder, "byte-order", "byte order of the 4-byte lengths; must match the listener's")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on the connect and on each reply")
}

// dial connects to the listener at addr.
func (o *frameOptions) dial(ctx context.Context, addr string) (*frameConn, error) {
	network := "tcp"
	if o.udp {
		network = "udp"
	}
	d := net.Dialer{Timeout: o.timeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err // "dial tcp 127.0.0.1:9000: connect: connection refused"
	}
	c := &frameConn{
		conn:    conn,
		addr:    addr,
		codec:   rawsock.Codec{ByteOrder: o.byteOrder.value},
		timeout: o.timeout,
	}
	if o.udp {
		c.dgram = make([]byte, maxDatagram)
	} else {
		c.br = bufio.NewReader(conn)
	}
	return c, nil
}

// frameConn sends request frames to a listener and reads one reply frame
// to each: over TCP from the byte stream, over UDP one datagram per frame.
type frameConn struct {
	conn    net.Conn
	addr    string // as the user wrote it, for error messages
	codec   rawsock.Codec
	timeout time.Duration
	br      *bufio.Reader // TCP only
	dgram   []byte        // UDP only: the receive buffer
	wbuf    []byte        // the frame being sent
}

// Close closes the connection.
func (c *frameConn) Close() error { return c.conn.Close() }

// roundTrip sends body as one frame and returns the body of the reply,
// valid until the next call. Sending and receiving must end within the
// timeout. A reply whose header holds an "error" is a *serverError.
func (c *frameConn) roundTrip(body []byte) ([]byte, error) {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	var err error
	if c.wbuf, err = c.codec.AppendFrame(c.wbuf[:0], body); err != nil {
		return nil, fmt.Errorf("encode frame: %w", err)
	}
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return nil, c.ioError("send to", err)
	}
	f, err := c.readFrame()
	if err != nil {
		return nil, err
	}
	if msg, ok := headerError(f.Header); ok {
		return nil, &serverError{addr: c.addr, msg: msg}
	}
	return f.Body, nil
}

// readFrame reads one reply frame.
func (c *frameConn) readFrame() (rawsock.Frame, error) {
	if c.br == nil {
		n, err := c.conn.Read(c.dgram)
		if err != nil {
			return rawsock.Frame{}, c.ioError("read reply from", err)
		}
		f, err := c.codec.ParseDatagram(c.dgram[:n])
		if err != nil {
			return rawsock.Frame{}, fmt.Errorf("bad reply from %s: %w", c.addr, err)
		}
		return f, nil
	}
	f, err := c.codec.ReadFrame(c.br)
	switch {
	case err == io.EOF:
		return f, fmt.Errorf("connection closed by %s", c.addr)
	case err == io.ErrUnexpectedEOF:
		return f, fmt.Errorf("connection closed by %s in the middle of a reply", c.addr)
	case errors.Is(err, rawsock.ErrMalformedFrame), errors.Is(err, rawsock.ErrFrameTooLarge):
		return f, fmt.Errorf("bad reply from %s (is --byte-order right?): %w", c.addr, err)
	case err != nil:
		return f, c.ioError("read reply from", err)
	}
	return f, nil
}

// ioError words a failed read or write; a deadline becomes "no reply".
func (c *frameConn) ioError(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no reply from %s within %v: %w", c.addr, c.timeout, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("%s %s: %w", op, c.addr, err)
}

// serverError is the error a listener reported in a reply's header, as
// in {"error": "malformed frame: ...", "data_size": 0}. A TCP listener
// closes the connection after it.
type serverError struct {
	addr string
	msg  string
}

func (e *serverError) Error() string { return e.addr + " replied with an error: " + e.msg }

// headerError returns the "error" field of a JSON header, if it has one.
func headerError(header []byte) (string, bool) {
	var h struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(header, &h); err != nil || len(h.Error) == 0 || string(h.Error) == "null" {
		return "", false
	}
	var msg string
	if err := json.Unmarshal(h.Error, &msg); err != nil {
		return string(h.Error), true // not a string: show the JSON
	}
	return msg, true
}
