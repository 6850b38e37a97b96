package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// rawClient is a client of a listener written the tutorial's way: a
// socket, and the JSON header framing done by hand with wire.Codec.
type rawClient struct {
	tb    testing.TB
	conn  net.Conn
	br    *bufio.Reader
	codec wire.Codec
}

// dialRaw connects to a TCP listener. Every read and write of the client
// must end within testTimeout.
func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		tb.Fatal(err)
	}
	return &rawClient{tb: tb, conn: conn, br: bufio.NewReader(conn)}
}

// addr is the client's own address: the PEER the listener sees.
func (c *rawClient) addr() string { return c.conn.LocalAddr().String() }

// frame is body framed as the client sends it.
func (c *rawClient) frame(body string) []byte {
	c.tb.Helper()
	b, err := c.codec.AppendFrame(nil, []byte(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	return b
}

func (c *rawClient) send(body string) {
	c.tb.Helper()
	if _, err := c.conn.Write(c.frame(body)); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

func (c *rawClient) read() wire.Frame {
	c.tb.Helper()
	f, err := c.codec.ReadFrame(c.br)
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	return f
}

// roundTrip sends body and returns the reply's body. Once it returns,
// the listener has counted and captured both frames: it does that before
// it writes a reply.
func (c *rawClient) roundTrip(body string) string {
	c.tb.Helper()
	c.send(body)
	return string(c.read().Body)
}

// readEOF fails the test unless the listener closed the connection.
func (c *rawClient) readEOF() {
	c.tb.Helper()
	if f, err := c.codec.ReadFrame(c.br); err != io.EOF {
		c.tb.Errorf("read after close: frame %q, %v; want EOF", f.Body, err)
	}
}

// awaitEvent waits, at most testTimeout, for an event of type typ on
// sub, skipping others.
func awaitEvent(tb testing.TB, sub *rawsock.Subscription, typ rawsock.EventType) rawsock.Event {
	tb.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case e := <-sub.Events():
			if e.Type == typ {
				return e
			}
		case <-deadline:
			tb.Fatalf("no event of type %d within %v", typ, testTimeout)
		}
	}
}

// columnGap splits the cells of a table row: tabwriter pads with at least
// three spaces, and the cells of the tests have at most one in a row.
var columnGap = regexp.MustCompile(` {3,}`)

// cells returns the rows of a table, header first, split into cells.
func cells(out string) [][]string {
	var rows [][]string
	for line := range strings.Lines(out) {
		rows = append(rows, columnGap.Split(strings.TrimRight(line, "\n"), -1))
	}
	return rows
}

// lineWriter is an io.Writer whose complete lines a test reads as they
// are written, from another goroutine than the writer's.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1000)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// next returns the next line, waiting at most testTimeout.
func (w *lineWriter) next(tb testing.TB) string {
	tb.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(testTimeout):
		tb.Fatalf("no line within %v", testTimeout)
		return ""
	}
}

// rest returns the lines written and not read yet, and a partial last
// line; call it once the writer is done.
func (w *lineWriter) rest() string {
	var b strings.Builder
	for {
		select {
		case l := <-w.lines:
			b.WriteString(l + "\n")
		default:
			w.mu.Lock()
			defer w.mu.Unlock()
			b.Write(w.buf)
			return b.String()
		}
	}
}

// startSockctl runs a command line in a goroutine until it returns or
// the returned cancel is called; wait returns its error.
func startSockctl(tb testing.TB, stdout, stderr io.Writer, args ...string) (cancel func(), wait func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), stdout, stderr) }()
	var once sync.Once
	var err error
	wait = func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(testTimeout):
				tb.Fatalf("sockctl %s did not return within %v", strings.Join(args, " "), testTimeout)
			}
		})
		return err
	}
	tb.Cleanup(func() {
		cancel()
		_ = wait()
	})
	return cancel, wait
}
