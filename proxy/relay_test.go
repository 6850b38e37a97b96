package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
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

// relayCases are the relays the benchmark and TestRelayKeepsNoGoroutine
// run: raw, framed, and framed with a 1 ms latency fault on the replies.
var relayCases = []struct {
	name    string
	framing wire.Framing
	faults  []rawsock.Fault
}{
	{"raw", wire.FramingRaw, nil},
	{"framed", wire.FramingJSONHeader, nil},
	{"framed-latency", wire.FramingJSONHeader, []rawsock.Fault{{Kind: rawsock.FaultLatency, Delay: time.Millisecond}}},
}

// BenchmarkRelay is one 64 B round trip through a proxy listener to an
// io.Copy upstream, all in this process: raw, framed, and framed with a
// 1 ms latency fault on the replies (whose time is mostly the delay:
// read its allocs, not its ns/op).
func BenchmarkRelay(b *testing.B) {
	up := echoUpstream(b)
	for _, c := range relayCases {
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

// A relay to a plaintext upstream leaves the bytes to the listener's
// poller (rawsock.SocketRelay): raw, framed, and framed with a latency
// fault on replies, its connections keep no goroutine, on either side,
// while they relay. (On the goroutine path each keeps its upstream
// reader, and its client's goroutine for a second after it served.)
func TestRelayKeepsNoGoroutine(t *testing.T) {
	up := echoUpstream(t)
	const conns = 32
	for _, c := range relayCases {
		t.Run(c.name, func(t *testing.T) {
			ln := relayListener(t, up, c.framing, c.faults)
			frame := frame64(t, c.framing)
			reply := make([]byte, len(frame))
			var conns0 []net.Conn
			base := runtime.NumGoroutine()
			for range conns {
				conn, br := dialRelay(t, ln)
				pingPong(t, conn, br, frame, reply, 3)
				conns0 = append(conns0, conn)
			}
			// The upstream keeps a goroutine for each connection; the
			// listener at most 8 pollers and a held-reply writer.
			poll.Until(t, fmt.Sprintf("fewer than %d goroutines for %d relaying connections", conns/2, conns), func() bool {
				return runtime.NumGoroutine()-base-conns < conns/2
			})
			for _, conn := range conns0 {
				_ = conn.Close()
			}
		})
	}
}

// A framed relay on the poller puts frames together across reads, both
// ways: a frame's start waits for its rest.
func TestFramedRelayAcrossReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var codec wire.Codec
	one, _ := codec.AppendFrame(nil, []byte("one"))
	two, _ := codec.AppendFrame(nil, []byte("two"))
	gotOne := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		// A whole frame and half the next in one write; the rest once
		// the client has had the first.
		half := len(two) / 2
		if _, err := c.Write(append(append([]byte(nil), one...), two[:half]...)); err != nil {
			served <- err
			return
		}
		<-gotOne
		_, err = c.Write(two[half:])
		served <- err
		_, _ = io.Copy(io.Discard, c)
	}()
	relay := relayListener(t, ln.Addr().String(), wire.FramingJSONHeader, nil)
	conn, br := dialRelay(t, relay)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	f, err := codec.ReadFrame(br)
	if err != nil || string(f.Body) != "one" {
		t.Fatalf("first frame: %q, %v", f.Body, err)
	}
	close(gotOne)
	if f, err = codec.ReadFrame(br); err != nil || string(f.Body) != "two" {
		t.Fatalf("second frame, sent in two pieces: %q, %v", f.Body, err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// The client's side: half a frame, then the rest.
	req, _ := codec.AppendFrame(nil, []byte("a frame in halves"))
	if _, err := conn.Write(req[:5]); err != nil {
		t.Fatal(err)
	}
	s := relay.Stats().Snapshot()
	if _, err := conn.Write(req[5:]); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the whole frame relayed upstream", func() bool {
		n := relay.Stats().Snapshot()
		return n.UpstreamFramesOut == s.UpstreamFramesOut+1 && n.UpstreamBytesOut == s.UpstreamBytesOut+uint64(len(req))
	})
}

// A client that sends frames faster than it reads their replies makes
// the poller's writes fall short both ways: the relay goes back to
// goroutines, and every reply arrives whole and in order.
func TestFramedRelayBackpressure(t *testing.T) {
	up := echoUpstream(t)
	for _, c := range []struct {
		name   string
		faults []rawsock.Fault
	}{
		{"plain", nil},
		{"latency", []rawsock.Fault{{Kind: rawsock.FaultLatency, Delay: time.Millisecond}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln := relayListener(t, up, wire.FramingJSONHeader, c.faults)
			conn, br := dialRelay(t, ln)
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			var codec wire.Codec
			const frames, size = 1000, 32 << 10
			sent := make(chan error, 1)
			go func() {
				body := make([]byte, size)
				for i := range frames {
					body[0], body[1], body[size-1] = byte(i), byte(i>>8), byte(i)
					f, _ := codec.AppendFrame(nil, body)
					if _, err := conn.Write(f); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			for i := range frames {
				f, err := codec.ReadFrame(br)
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if len(f.Body) != size || f.Body[0] != byte(i) || f.Body[1] != byte(i>>8) || f.Body[size-1] != byte(i) {
					t.Fatalf("reply %d: %d bytes, starting %d %d", i, len(f.Body), f.Body[0], f.Body[1])
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A frame the client breaks gets the listener's error frame, and the
// upstream's broken frame the proxy's, as on the goroutine path.
func TestFramedRelayBadFrames(t *testing.T) {
	up := echoUpstream(t)
	ln := relayListener(t, up, wire.FramingJSONHeader, nil)
	conn, br := dialRelay(t, ln)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame := frame64(t, wire.FramingJSONHeader)
	pingPong(t, conn, br, frame, make([]byte, len(frame)), 1)
	// A header that says it is not JSON: the echo upstream never sees it.
	bad := append([]byte{5, 0, 0, 0}, "nope!"...)
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	var codec wire.Codec
	f, err := codec.ReadFrame(br)
	if err != nil || !strings.Contains(string(f.Header), `"error"`) {
		t.Fatalf("after a bad frame: %q %q, %v; want an error frame", f.Header, f.Body, err)
	}
	if _, err := codec.ReadFrame(br); !errors.Is(err, io.EOF) {
		t.Fatalf("after the error frame: %v; want EOF", err)
	}
}

// A latency fault on replies holds each reply the poller relays for its
// delay, no less.
func TestFramedRelayLatency(t *testing.T) {
	up := echoUpstream(t)
	const delay = 30 * time.Millisecond
	ln := relayListener(t, up, wire.FramingJSONHeader, []rawsock.Fault{{Kind: rawsock.FaultLatency, Delay: delay}})
	conn, br := dialRelay(t, ln)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame := frame64(t, wire.FramingJSONHeader)
	reply := make([]byte, len(frame))
	for range 5 {
		start := time.Now()
		pingPong(t, conn, br, frame, reply, 1)
		if took := time.Since(start); took < delay {
			t.Fatalf("a reply came back after %v; the fault holds it %v", took, delay)
		}
	}
}

// An upstream that breaks the framing gets the proxy's error frame to the
// client, naming the upstream, as on the goroutine path.
func TestFramedRelayBadUpstreamFrame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(append([]byte{5, 0, 0, 0}, "nope!"...))
		_, _ = io.Copy(io.Discard, c)
	}()
	relay := relayListener(t, ln.Addr().String(), wire.FramingJSONHeader, nil)
	conn, br := dialRelay(t, relay)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var codec wire.Codec
	f, err := codec.ReadFrame(br)
	if err != nil || !strings.Contains(string(f.Header), `"error"`) || !strings.Contains(string(f.Header), ln.Addr().String()) {
		t.Fatalf("after the upstream's bad frame: %q, %v; want an error frame naming the upstream", f.Header, err)
	}
}
