package rawsock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
	"golang.org/x/sys/unix"
)

// pairRelay is a SocketRelay handler whose "upstream" is one end of a
// Unix socket pair per connection; the test holds the other end (from
// ends) and plays the server. Its own relay, after Resume, is what the
// proxy's is: read the socket, ReplyFrame what came, CloseWrite at its
// end of file.
type pairRelay struct {
	ends   chan net.Conn
	sndbuf int // SO_SNDBUF of the handler's end, when set
}

func (h *pairRelay) ServeFrame(w ResponseWriter, _ *Request) { _ = w.ReplyError("no connection") }

func (h *pairRelay) OpenConn(w ConnWriter, _ *Request) (ConnHandler, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if h.sndbuf > 0 {
		if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, h.sndbuf); err != nil {
			return nil, err
		}
	}
	mine, theirs := fileConn(fds[0]), fileConn(fds[1])
	rc, err := mine.SyscallConn()
	if err != nil {
		return nil, err
	}
	h.ends <- theirs
	return &pairConn{w: w, up: mine, rc: rc, done: make(chan struct{})}, nil
}

func fileConn(fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		panic(err)
	}
	return c.(*net.UnixConn)
}

type pairConn struct {
	w       ConnWriter
	up      *net.UnixConn
	rc      syscall.RawConn
	reading bool
	done    chan struct{}
}

func (c *pairConn) ServeFrame(w ResponseWriter, r *Request) {
	n, err := c.up.Write(r.Body)
	c.w.CountUpstream(1, uint64(n), 0, 0)
	if err != nil {
		w.CloseAfterReply(false)
	}
}

func (c *pairConn) RelaySocket() syscall.RawConn { return c.rc }

var _ SocketRelay = (*pairConn)(nil)

func (c *pairConn) Resume(toClient, _ []byte) { // raw: nothing is kept from the socket
	c.reading = true
	go func() {
		defer close(c.done)
		if len(toClient) > 0 && c.w.WriteRaw(toClient) != nil {
			return
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := c.up.Read(buf)
			if n > 0 {
				c.w.CountUpstream(0, 0, 1, uint64(n))
				if c.w.ReplyFrame(nil, buf[:n]) != nil || c.w.Flush() != nil {
					return
				}
			}
			if err == io.EOF {
				_ = c.w.CloseWrite()
			}
			if err != nil {
				return
			}
		}
	}()
}

func (c *pairConn) CloseConn(peerDone bool) {
	if c.reading && peerDone {
		_ = c.up.CloseWrite()
		select {
		case <-c.done:
		case <-time.After(testTimeout):
		}
	}
	c.w.Abort()
	_ = c.up.Close()
	if c.reading {
		<-c.done
	}
}

// startRelay starts a raw listener with a pairRelay handler.
func startRelay(t *testing.T, h *pairRelay, cfg Config) *Listener {
	t.Helper()
	if h.ends == nil {
		h.ends = make(chan net.Conn, 4)
	}
	cfg.Handler = h
	cfg.Request = wire.Codec{Framing: wire.FramingRaw}
	return startListener(t, cfg)
}

// relayPair dials ln and returns the client and the test's end of the
// connection's upstream.
func relayPair(t *testing.T, ln *Listener, h *pairRelay) (net.Conn, net.Conn) {
	t.Helper()
	c := dial(t, ln).conn
	var up net.Conn
	select {
	case up = <-h.ends:
	case <-time.After(testTimeout):
		t.Fatal("the handler opened no upstream")
	}
	t.Cleanup(func() { _ = up.Close() })
	_ = up.SetDeadline(time.Now().Add(testTimeout))
	return c, up
}

// exchange sends msg one way and reads it on the other.
func exchange(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatalf("reading %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("read %q, want %q", got, msg)
	}
}

// A plaintext raw connection to a SocketRelay is relayed by the poller,
// both ways, with no goroutine of its own and the handler never asked to
// read its socket; the counters are what a goroutine relay counts.
func TestRelayOnPoller(t *testing.T) {
	h := &pairRelay{}
	ln := startRelay(t, h, Config{})
	c, up := relayPair(t, ln, h)
	for range 50 {
		exchange(t, c, up, "ping")
		exchange(t, up, c, "pong!")
	}
	if got := ln.relays.Load(); got != 1 {
		t.Fatalf("relays began: %d, want 1", got)
	}
	if got := ln.relayLeft.Load(); got != 0 {
		t.Fatalf("relays handed back to goroutines: %d, want 0", got)
	}
	s := ln.Stats().Snapshot()
	want := StatsSnapshot{ConnectionsActive: 1, ConnectionsTotal: 1, FramesIn: 50, FramesOut: 50, BytesIn: 200, BytesOut: 250,
		UpstreamFramesOut: 50, UpstreamBytesOut: 200, UpstreamFramesIn: 50, UpstreamBytesIn: 250}
	if s != want {
		t.Fatalf("stats:\n got %+v\nwant %+v", s, want)
	}
}

// pattern is n bytes that show where a byte was lost or repeated.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// readAll reads n bytes from c and checks them against want.
func readAll(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the bytes differ from offset %d of %d", i, len(want))
	}
}

// writeUntilLeft writes data to w on a goroutine of its own, whose error
// the channel returns, and waits until the relay has gone back to
// goroutines, as the other side reads none of it meanwhile.
func writeUntilLeft(t *testing.T, ln *Listener, w net.Conn, data []byte) <-chan error {
	t.Helper()
	wrote := make(chan error, 1)
	go func() { _, err := w.Write(data); wrote <- err }()
	poll.Until(t, "the relay handed back to goroutines", func() bool { return ln.relayLeft.Load() == 1 })
	return wrote
}

// A client that does not read makes the poller's write to it fall
// short: the relay goes back to goroutines with the rest written first,
// and not a byte is lost or reordered.
func TestRelayBackpressureToClient(t *testing.T) {
	h := &pairRelay{}
	ln := startRelay(t, h, Config{})
	c, up := relayPair(t, ln, h)
	exchange(t, c, up, "start") // the relay has begun
	// More than loopback TCP's buffers hold between the two.
	data := pattern(24 << 20)
	wrote := writeUntilLeft(t, ln, up, data)
	readAll(t, c, data)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	exchange(t, c, up, "still relayed, by goroutines")
	exchange(t, up, c, "both ways")
}

// A client that stopped reading while the handler had bytes for it is
// still idle to Shutdown: its goroutine waits for its next bytes, and
// the handler's reader, blocked writing to it, is aborted.
func TestRelayBackpressureThenShutdown(t *testing.T) {
	h := &pairRelay{}
	ln := startRelay(t, h, Config{})
	c, up := relayPair(t, ln, h)
	exchange(t, c, up, "start")
	writeUntilLeft(t, ln, up, pattern(24<<20)) // the write fails when the connection ends
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ln.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a client that does not read: %v", err)
	}
	_ = up.Close()
}

// An upstream that does not read makes the poller's write to it fall
// short: the connection's goroutine writes the rest, as it is, before
// it serves anything after it.
func TestRelayBackpressureToHandler(t *testing.T) {
	h := &pairRelay{sndbuf: 4096}
	ln := startRelay(t, h, Config{})
	c, up := relayPair(t, ln, h)
	exchange(t, c, up, "start")
	data := pattern(4 << 20)
	wrote := writeUntilLeft(t, ln, c, data)
	readAll(t, up, data)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	exchange(t, up, c, "back")
	// The handler counts what it wrote once its write returns.
	poll.Until(t, "every byte counted in and out", func() bool {
		s := ln.Stats().Snapshot()
		return s.BytesIn == uint64(5+len(data)) && s.UpstreamBytesOut == s.BytesIn
	})
}

// Half-closes pass through both ways: the client's end of file reaches
// the upstream, which may still answer; the upstream's reaches the
// client, which may still send.
func TestRelayHalfClose(t *testing.T) {
	h := &pairRelay{}
	ln := startRelay(t, h, Config{})

	c, up := relayPair(t, ln, h)
	exchange(t, c, up, "last words")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := up.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the upstream read %d, %v after the client's CloseWrite; want EOF", n, err)
	}
	exchange(t, up, c, "heard you")
	_ = up.Close()
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the client read %d, %v after the upstream closed; want EOF", n, err)
	}

	c, up = relayPair(t, ln, h)
	exchange(t, c, up, "hello")
	if err := up.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the client read %d, %v after the upstream's CloseWrite; want EOF", n, err)
	}
	exchange(t, c, up, "one more")
	if got := ln.relayLeft.Load(); got != 1 {
		t.Fatalf("relays handed back to goroutines: %d, want 1 (the upstream's end of file)", got)
	}
}

// An Update reaches a relayed connection at its next bytes: the relay
// goes back to goroutines, which serve with the new faults.
func TestRelayUpdateLeaves(t *testing.T) {
	h := &pairRelay{}
	cfg := Config{Network: "tcp", Address: "127.0.0.1:0"}
	ln := startRelay(t, h, cfg)
	c, up := relayPair(t, ln, h)
	exchange(t, c, up, "before")
	cfg.Handler, cfg.Request = h, wire.Codec{Framing: wire.FramingRaw}
	cfg.Faults = []Fault{{Kind: FaultDuplicate}}
	if err := ln.Update(cfg); err != nil {
		t.Fatal(err)
	}
	exchange(t, c, up, "after")
	if _, err := up.Write([]byte("twice")); err != nil {
		t.Fatal(err)
	}
	readAll(t, c, []byte("twicetwice")) // the reply, duplicated
	if got := ln.relayLeft.Load(); got != 1 {
		t.Fatalf("relays handed back: %d, want 1", got)
	}
}

// Shutdown closes an idle relayed connection and returns; Close ends
// one at once, not after waiting for its upstream; an idle timeout
// closes one.
func TestRelayEnds(t *testing.T) {
	t.Run("shutdown", func(t *testing.T) {
		h := &pairRelay{}
		ln := startRelay(t, h, Config{})
		c, up := relayPair(t, ln, h)
		exchange(t, c, up, "x")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := ln.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		expectEOF(t, c, testTimeout)
	})
	t.Run("close", func(t *testing.T) {
		h := &pairRelay{}
		ln := startRelay(t, h, Config{})
		c, up := relayPair(t, ln, h)
		exchange(t, c, up, "x")
		if err := ln.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		expectEOF(t, c, testTimeout)
	})
	t.Run("CloseConn", func(t *testing.T) {
		// An operator's close is no half-close: the connection ends at
		// once, without waiting for the upstream to finish.
		h := &pairRelay{}
		ln := startRelay(t, h, Config{})
		c, up := relayPair(t, ln, h)
		exchange(t, c, up, "x")
		if err := ln.CloseConn(ln.Connections()[0].ID); err != nil {
			t.Fatal(err)
		}
		expectEOF(t, c, testTimeout/2) // the handler would wait testTimeout for its upstream
	})
	t.Run("idle", func(t *testing.T) {
		h := &pairRelay{}
		ln := startRelay(t, h, Config{Limits: Limits{IdleTimeout: 100 * time.Millisecond}})
		c, up := relayPair(t, ln, h)
		exchange(t, c, up, "x")
		expectEOF(t, c, testTimeout)
		if n, err := up.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("the upstream read %d, %v; want EOF", n, err)
		}
	})
}

// expectEOF reads the end of c, within d.
func expectEOF(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d, %v; want the connection closed", n, err)
	}
}
