package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// echoUpstream is a real server for the relay: io.Copy back, per
// connection, until the test ends.
func echoUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// relayListener starts a proxy listener in front of upstream.
func relayListener(tb testing.TB, upstream string, framing wire.Framing, faults []rawsock.Fault) *rawsock.Listener {
	tb.Helper()
	codec := wire.Codec{Framing: framing}
	ln, err := rawsock.NewListener(rawsock.Config{
		Network: "tcp", Address: "127.0.0.1:0", Request: codec, Response: codec, Faults: faults,
		Handler: New(Config{Network: "tcp", Address: upstream, Request: codec, Response: codec}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ln.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	return ln
}

// pingPong sends frame and reads a reply of the same length into reply,
// n times.
func pingPong(tb testing.TB, conn net.Conn, br *bufio.Reader, frame, reply []byte, n int) {
	for range n {
		if _, err := conn.Write(frame); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(br, reply); err != nil {
			tb.Fatal(err)
		}
	}
}

func dialRelay(tb testing.TB, ln *rawsock.Listener) (net.Conn, *bufio.Reader) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn, bufio.NewReader(conn)
}

func frame64(tb testing.TB, framing wire.Framing) []byte {
	codec := wire.Codec{Framing: framing}
	f, err := codec.AppendFrame(nil, make([]byte, 64))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Relaying a frame each way allocates nothing in the daemon's process,
// framed or raw, with a latency fault holding the replies or without:
// frames are cut from one buffer on each side, and a held reply takes a
// pooled buffer and a slot in the listener's schedule.
func TestRelayAllocatesNothingPerFrame(t *testing.T) {
	up := echoUpstream(t)
	latency := []rawsock.Fault{{Kind: rawsock.FaultLatency, Delay: time.Millisecond}}
	for _, c := range []struct {
		name    string
		framing wire.Framing
		faults  []rawsock.Fault
		runs    int
	}{
		{"raw", wire.FramingRaw, nil, 500},
		{"framed", wire.FramingJSONHeader, nil, 500},
		{"framed-latency", wire.FramingJSONHeader, latency, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln := relayListener(t, up, c.framing, c.faults)
			conn, br := dialRelay(t, ln)
			frame := frame64(t, c.framing)
			reply := make([]byte, len(frame))
			pingPong(t, conn, br, frame, reply, 50) // warm: buffers and pools filled
			allocs := testing.AllocsPerRun(c.runs, func() { pingPong(t, conn, br, frame, reply, 1) })
			// The client's own round trip allocates nothing either; a
			// fraction allows for the runtime's and the GC's own.
			if allocs > 0.1 {
				t.Fatalf("a relayed round trip allocates %.2f objects; want 0", allocs)
			}
		})
	}
}

// BenchmarkRelay is one 64 B round trip through a proxy listener to an
// io.Copy upstream, all in this process: raw, framed, and framed with a
// 1 ms latency fault on the replies (whose time is mostly the delay:
// read its allocs, not its ns/op).
func BenchmarkRelay(b *testing.B) {
	up := echoUpstream(b)
	for _, c := range []struct {
		name    string
		framing wire.Framing
		faults  []rawsock.Fault
	}{
		{"raw", wire.FramingRaw, nil},
		{"framed", wire.FramingJSONHeader, nil},
		{"framed-latency", wire.FramingJSONHeader, []rawsock.Fault{{Kind: rawsock.FaultLatency, Delay: time.Millisecond}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ln := relayListener(b, up, c.framing, c.faults)
			conn, br := dialRelay(b, ln)
			frame := frame64(b, c.framing)
			reply := make([]byte, len(frame))
			pingPong(b, conn, br, frame, reply, 10)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				pingPong(b, conn, br, frame, reply, 1)
			}
		})
	}
}

// A raw relay to a plaintext upstream leaves the bytes to the listener's
// poller (rawsock.SocketRelay): its connections keep no goroutine, on
// either side, while they relay. (On the goroutine path each keeps its
// upstream reader, and its client's goroutine for a second after it
// served.)
func TestRawRelayKeepsNoGoroutine(t *testing.T) {
	up := echoUpstream(t)
	const conns = 32
	base := runtime.NumGoroutine()
	ln := relayListener(t, up, wire.FramingRaw, nil)
	frame := frame64(t, wire.FramingRaw)
	reply := make([]byte, len(frame))
	for range conns {
		conn, br := dialRelay(t, ln)
		pingPong(t, conn, br, frame, reply, 3)
	}
	// The upstream keeps a goroutine for each connection; the listener
	// its accept loop and at most 8 pollers, fewer than half of conns.
	poll.Until(t, fmt.Sprintf("fewer than %d goroutines for %d relaying connections", conns/2, conns), func() bool {
		return runtime.NumGoroutine()-base-conns < conns/2
	})
}
