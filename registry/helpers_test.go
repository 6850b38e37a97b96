package registry

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every blocking step of a test.
const testTimeout = poll.Timeout

// newTestRegistry returns a registry under policy (none: the zero
// Policy) that is shut down when the test ends.
func newTestRegistry(t *testing.T, policy ...Policy) *Registry {
	t.Helper()
	var p Policy
	if len(policy) > 0 {
		p = policy[0]
	}
	r := New(slog.New(slog.DiscardHandler), p, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

// client is a framed client of a listener.
type client struct {
	tb    testing.TB
	conn  net.Conn
	br    *bufio.Reader
	codec wire.Codec
}

func dial(tb testing.TB, addr string) *client {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return &client{tb: tb, conn: conn, br: bufio.NewReader(conn)}
}

func (c *client) write(b []byte) {
	c.tb.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.tb.Fatal(err)
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	poll.Until(tb, what, cond)
}

// recv reads one reply frame.
func (c *client) recv() wire.Frame {
	c.tb.Helper()
	f, err := c.codec.ReadFrame(c.br)
	if err != nil {
		c.tb.Fatalf("read reply: %v", err)
	}
	return f
}

// need skips a test whose programs this machine lacks.
func need(tb testing.TB, programs ...string) {
	tb.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			tb.Skipf("no %s program on this machine", p)
		}
	}
}
