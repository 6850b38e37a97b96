package rawsock

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// randomBody is size bytes a test can tell apart from any other part of
// the stream.
func randomBody(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// echoConduits are the two ways a streamed echo moves a body, for the
// tests to run each of them.
var echoConduits = []struct {
	name string
	echo Echo
}{{"copied", Echo{}}, {"spliced", Echo{Splice: true}}}

// forEachConduit runs test once per echoConduits entry, as a subtest.
func forEachConduit(t *testing.T, test func(t *testing.T, echo Echo)) {
	for _, cd := range echoConduits {
		t.Run(cd.name, func(t *testing.T) { test(t, cd.echo) })
	}
}

// TestEchoCutThroughStreamsTheBody: an echo of a large frame starts
// before the frame has all arrived. The client sends the header and the
// body's first 64 KiB, reads them back, and only then sends the rest: a
// server that stored the body first would answer nothing.
func TestEchoCutThroughStreamsTheBody(t *testing.T) {
	forEachConduit(t, testEchoStreamsTheBody)
}

func testEchoStreamsTheBody(t *testing.T, echo Echo) {
	ln := startListener(t, Config{Handler: echo})
	c := dial(t, ln)
	const size, first = 1 << 20, 64 << 10
	body := randomBody(1, size)
	frame, _ := c.codec.AppendFrame(nil, body)
	split := len(frame) - size + first
	c.write(frame[:split])
	echoed := make([]byte, split)
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(c.br, echoed); err != nil {
		t.Fatalf("reading the echo of the first %d body bytes before sending the rest: %v", first, err)
	}
	c.write(frame[split:])
	rest := make([]byte, len(frame)-split)
	if _, err := io.ReadFull(c.br, rest); err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	if got := append(echoed, rest...); !bytes.Equal(got, frame) {
		t.Fatal("the echo differs from the frame sent")
	}
	// The connection goes on: a small frame after it is echoed too.
	if got := c.roundTrip("after"); got != "after" {
		t.Fatalf("then %q, want %q", got, "after")
	}
	waitFor(t, "the stats", func() bool {
		s := ln.Stats().Snapshot()
		return s.FramesIn == 2 && s.FramesOut == 2 && s.BytesIn == s.BytesOut && s.Errors == 0
	})
}

// TestEchoCutThroughPipelined: large and small frames in one write, in
// both framings with lengths, come back whole and in order; the bytes
// after a streamed body are never taken with it.
func TestEchoCutThroughPipelined(t *testing.T) {
	forEachConduit(t, testEchoPipelined)
}

func testEchoPipelined(t *testing.T, echo Echo) {
	for _, framing := range []wire.Framing{wire.FramingJSONHeader, wire.FramingLengthPrefixed} {
		t.Run(framing.String(), func(t *testing.T) {
			codec := wire.Codec{Framing: framing, MaxBodyBytes: 8 << 20}
			ln := startListener(t, Config{Handler: echo, Request: codec})
			c := dial(t, ln)
			sizes := []int{cutThroughMin + 4096, 3, 2<<20 + 1, 0, 1 << 20, 5}
			var all []byte
			var bodies [][]byte
			for i, size := range sizes {
				body := randomBody(uint64(i+10), size)
				bodies = append(bodies, body)
				all, _ = c.codec.AppendFrame(all, body)
			}
			errc := make(chan error, 1)
			go func() { _, err := c.conn.Write(all); errc <- err }()
			for i, want := range bodies {
				if got := c.recv().Body; !bytes.Equal(got, want) {
					t.Fatalf("frame %d (%d bytes): got %d bytes, not the body sent", i, len(want), len(got))
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			s := ln.Stats().Snapshot()
			if s.FramesIn != uint64(len(sizes)) || s.FramesOut != uint64(len(sizes)) || s.BytesIn != uint64(len(all)) || s.BytesOut != uint64(len(all)) {
				t.Fatalf("stats = %+v, want %d frames and %d bytes each way", s, len(sizes), len(all))
			}
		})
	}
}

// TestEchoCutThroughPeerLeavesMidBody: a peer that closes halfway through
// a streamed body gets the half it sent back, then the close; the
// connection is counted as an error and the listener serves the next.
func TestEchoCutThroughPeerLeavesMidBody(t *testing.T) {
	forEachConduit(t, testEchoPeerLeavesMidBody)
}

func testEchoPeerLeavesMidBody(t *testing.T, echo Echo) {
	ln := startListener(t, Config{Handler: echo})
	c := dial(t, ln)
	body := randomBody(2, 1<<20)
	frame, _ := c.codec.AppendFrame(nil, body)
	half := len(frame) / 2
	c.write(frame[:half])
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectPartThenClose(t, ln, c, frame[:half])
}

// expectPartThenClose reads c until its close and wants part back, the
// connection counted as an error and the listener serving the next.
func expectPartThenClose(t *testing.T, ln *Listener, c *client, part []byte) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(c.br)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("reading until the close: %v", err)
	}
	if !bytes.Equal(got, part) {
		t.Fatalf("got %d bytes back, want the %d sent", len(got), len(part))
	}
	waitFor(t, "the error counted and the connection closed", func() bool {
		s := ln.Stats().Snapshot()
		return s.Errors == 1 && s.ConnectionsActive == 0
	})
	if got := dial(t, ln).roundTrip("next"); got != "next" {
		t.Fatalf("next connection: %q", got)
	}
}

// TestEchoWithCaptureStoresTheBody: capture records what a streamed body
// would not pass through, so with capture on the frame is stored and
// served whole, and captured.
func TestEchoWithCaptureStoresTheBody(t *testing.T) {
	capt := NewCapture(4, 16)
	ln := startListener(t, Config{Capture: capt})
	c := dial(t, ln)
	body := randomBody(3, 1<<20)
	frame, _ := c.codec.AppendFrame(nil, body)
	go c.write(frame)
	if got := c.recv().Body; !bytes.Equal(got, body) {
		t.Fatal("the echo differs")
	}
	frames := capt.Frames(0)
	if len(frames) != 2 || frames[0].BodySize != len(body) || !bytes.Equal(frames[1].Body, body[:16]) {
		t.Fatalf("captured %+v, want the frame in and out", frames)
	}
}

// TestEchoCutThroughPeerSendsAllBeforeReading: the tutorial's client
// sends its whole frame before it reads a byte. A streamed echo that
// stopped reading when the peer's socket took no more replies would wait
// for a peer that waits for it; the body's rest is stored instead, on TCP
// and on a Unix socket, for bodies far larger than the sockets' and the
// pipe's buffers.
func TestEchoCutThroughPeerSendsAllBeforeReading(t *testing.T) {
	forEachConduit(t, testEchoPeerSendsAllBeforeReading)
}

func testEchoPeerSendsAllBeforeReading(t *testing.T, echo Echo) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			cfg := Config{Network: network, Handler: echo, Request: wire.Codec{MaxBodyBytes: 32 << 20}}
			if network == "unix" {
				cfg.Address = filepath.Join(t.TempDir(), "echo.sock")
			}
			ln := startListener(t, cfg)
			c := dial(t, ln)
			for i, size := range []int{1 << 20, 24 << 20} {
				body := randomBody(uint64(20+i), size)
				frame, _ := c.codec.AppendFrame(nil, body)
				c.write(frame) // all of it, then read
				if got := c.recv().Body; !bytes.Equal(got, body) {
					t.Fatalf("%d bytes: the echo differs", size)
				}
			}
			if s := ln.Stats().Snapshot(); s.FramesOut != 2 || s.BytesIn != s.BytesOut || s.Errors != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestEchoCutThroughStalledBodyTimesOut: the header timeout bounds a
// streamed body as it bounds a stored one. A peer that sends half a large
// body and then nothing gets that half back, then the close once the
// timeout has passed (not before it), counted as an error; the listener
// serves the next connection.
func TestEchoCutThroughStalledBodyTimesOut(t *testing.T) {
	forEachConduit(t, func(t *testing.T, echo Echo) {
		const timeout = 300 * time.Millisecond
		ln := startListener(t, Config{Handler: echo, Limits: Limits{HeaderTimeout: timeout}})
		c := dial(t, ln)
		frame, _ := c.codec.AppendFrame(nil, randomBody(4, 1<<20))
		half := len(frame) / 2
		start := time.Now()
		c.write(frame[:half])
		expectPartThenClose(t, ln, c, frame[:half])
		if took := time.Since(start); took < timeout {
			t.Fatalf("closed after %v, before the %v timeout", took, timeout)
		}
	})
}

// TestEchoCutThroughPeerThatStopsTimesOut: a peer that sends most of a
// large body, then neither sends the rest nor reads, leaves the streamed
// echo holding bytes it cannot write and waiting for bytes that do not
// come; the header timeout ends it there too, not before, counted as an
// error, and the next connection's echo is its own.
func TestEchoCutThroughPeerThatStopsTimesOut(t *testing.T) {
	forEachConduit(t, func(t *testing.T, echo Echo) {
		const timeout = 300 * time.Millisecond
		ln := startListener(t, Config{Handler: echo, Request: wire.Codec{MaxBodyBytes: 32 << 20}, Limits: Limits{HeaderTimeout: timeout}})
		c := dial(t, ln)
		if err := c.conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
			t.Fatal(err)
		}
		frame, _ := c.codec.AppendFrame(nil, randomBody(5, 16<<20))
		start := time.Now()
		c.write(frame[:12<<20]) // more than the sockets hold: the server keeps some
		waitFor(t, "the connection closed", func() bool { return ln.Stats().Snapshot().ConnectionsActive == 0 })
		if took := time.Since(start); took < timeout {
			t.Fatalf("closed after %v, before the %v timeout", took, timeout)
		}
		if s := ln.Stats().Snapshot(); s.Errors != 1 {
			t.Fatalf("errors = %d, want 1", s.Errors)
		}
		// What the conduit still held is gone with it: the next large
		// echo carries its own bytes only.
		next := dial(t, ln)
		body := randomBody(6, 1<<20)
		frame, _ = next.codec.AppendFrame(nil, body)
		go next.write(frame)
		if got := next.recv().Body; !bytes.Equal(got, body) {
			t.Fatal("the next connection's echo differs from its body")
		}
	})
}
