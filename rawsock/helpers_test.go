package rawsock

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// le builds a little-endian JSON-header frame by hand, independently of
// the wire package's AppendFrame.
func le(header, body string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(header)))
	return append(append(b, header...), body...)
}

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

// startListener starts a listener on 127.0.0.1:0 and closes it when the
// test ends.
func startListener(tb testing.TB, cfg Config) *Listener {
	tb.Helper()
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	if cfg.Handler == nil {
		cfg.Handler = Echo{}
	}
	ln, err := NewListener(cfg)
	if err != nil {
		tb.Fatalf("NewListener: %v", err)
	}
	if err := ln.Start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	return ln
}

// client is a raw connection to a listener with the codec to talk to it.
type client struct {
	tb    testing.TB
	conn  net.Conn
	br    *bufio.Reader
	codec wire.Codec
}

func dial(tb testing.TB, ln *Listener) *client {
	tb.Helper()
	conn, err := net.DialTimeout(ln.Addr().Network(), ln.Addr().String(), testTimeout)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	tb.Cleanup(func() { _ = conn.Close() })
	return &client{tb: tb, conn: conn, br: bufio.NewReader(conn), codec: ln.current().response}
}

func (c *client) send(body string) {
	c.tb.Helper()
	b, err := c.codec.AppendFrame(nil, []byte(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	c.write(b)
}

func (c *client) write(b []byte) {
	c.tb.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

func (c *client) recv() wire.Frame {
	c.tb.Helper()
	f, err := c.codec.ReadFrame(c.br)
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *client) roundTrip(body string) string {
	c.tb.Helper()
	c.send(body)
	return string(c.recv().Body)
}

// waitFor polls cond until it holds or the test times out.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	poll.Until(tb, what, cond)
}
