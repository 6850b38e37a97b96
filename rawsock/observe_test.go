package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// TestConnectionsCloseAndSend: two clients show up with their own counts;
// closing one ends it alone; an operator frame reaches the other.
func TestConnectionsCloseAndSend(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	a, b := dial(t, ln), dial(t, ln)
	a.roundTrip("one")
	b.roundTrip("two")
	b.roundTrip("three")

	conns := ln.Connections()
	if len(conns) != 2 || conns[0].ID >= conns[1].ID {
		t.Fatalf("Connections = %+v", conns)
	}
	ca, cb := conns[0], conns[1]
	if ca.Peer != a.conn.LocalAddr().String() || ca.Local != ln.Addr().String() {
		t.Fatalf("addresses %+v, want peer %s", ca, a.conn.LocalAddr())
	}
	frame := func(body string) uint64 {
		f, _ := ln.current().response.AppendFrame(nil, []byte(body))
		return uint64(len(f))
	}
	if ca.FramesIn != 1 || ca.FramesOut != 1 || ca.BytesIn != frame("one") || ca.BytesOut != frame("ONE") {
		t.Fatalf("a's counts %+v", ca)
	}
	if cb.FramesIn != 2 || cb.FramesOut != 2 || cb.BytesIn != frame("two")+frame("three") {
		t.Fatalf("b's counts %+v", cb)
	}
	if ca.OpenedAt.IsZero() || ca.LastActivity.Before(ca.OpenedAt) {
		t.Fatalf("times %+v", ca)
	}

	if err := ln.CloseConn(ca.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.br.ReadByte(); err != io.EOF {
		t.Fatalf("closed client reads %v, want EOF", err)
	}
	if got := b.roundTrip("still"); got != "STILL" {
		t.Fatalf("other client got %q", got)
	}

	n, err := ln.SendFrame(cb.ID, []byte("from the operator"), wire.HeaderField{Name: "from", Value: "api"})
	if err != nil || n == 0 {
		t.Fatalf("SendFrame = %d, %v", n, err)
	}
	f := b.recv()
	if string(f.Body) != "from the operator" || string(f.Header) != `{"data_size": 17, "from": "api"}` {
		t.Fatalf("operator frame %s %q", f.Header, f.Body)
	}
	raw := startListener(t, Config{Response: wire.Codec{Framing: wire.FramingRaw}})
	dial(t, raw).write([]byte{1})
	waitFor(t, "the raw connection", func() bool { return len(raw.Connections()) == 1 })
	var fe *FieldError
	if _, err := raw.SendFrame(raw.Connections()[0].ID, []byte("x"), wire.HeaderField{Name: "k", Value: 1}); !errors.As(err, &fe) || fe.Field != "header" {
		t.Fatalf("header fields to a raw listener: %v, want a FieldError on header", err)
	}
	if err := ln.CloseConn(999); !errors.Is(err, ErrConnNotFound) {
		t.Fatalf("CloseConn(unknown) = %v", err)
	}
	if _, err := ln.SendFrame(999, nil); !errors.Is(err, ErrConnNotFound) {
		t.Fatalf("SendFrame(unknown) = %v", err)
	}
}

// TestSendFrameDoesNotTearReplies: operator frames interleave with a
// stream of pipelined replies only at frame boundaries.
func TestSendFrameDoesNotTearReplies(t *testing.T) {
	ln := startListener(t, Config{})
	c := dial(t, ln)
	c.roundTrip("hello")
	id := ln.Connections()[0].ID
	const replies, sends = 500, 100
	body := bytes.Repeat([]byte("r"), 3000) // several replies per write buffer, some split
	var batch []byte
	for range replies {
		batch, _ = c.codec.AppendFrame(batch, body)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.write(batch) })
	wg.Go(func() {
		for range sends {
			if _, err := ln.SendFrame(id, []byte("operator")); err != nil {
				t.Errorf("SendFrame: %v", err)
				return
			}
		}
	})
	var gotReplies, gotSends int
	for gotReplies+gotSends < replies+sends {
		switch f := c.recv(); {
		case bytes.Equal(f.Body, body):
			gotReplies++
		case string(f.Body) == "operator":
			gotSends++
		default:
			t.Fatalf("a torn frame: %d bytes", len(f.Body))
		}
	}
	wg.Wait()
	if gotReplies != replies || gotSends != sends {
		t.Fatalf("got %d replies and %d operator frames", gotReplies, gotSends)
	}
}

// TestDatagramPeers: UDP senders are listed as peers; the operator can
// answer one (the tutorial's UDP chat server) and forget it.
func TestDatagramPeers(t *testing.T) {
	ln := startListener(t, Config{Network: "udp", Handler: Discard{}})
	a, b := dialUDP(t, ln), dialUDP(t, ln)
	for _, c := range []*net.UDPConn{a, b, a} {
		frame, _ := ln.current().request.AppendFrame(nil, []byte("hi"))
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three datagrams", func() bool { return ln.Stats().Snapshot().FramesIn == 3 })
	peers := ln.Connections()
	if len(peers) != 2 || peers[0].Peer != a.LocalAddr().String() || peers[0].FramesIn != 2 || peers[1].FramesIn != 1 || peers[0].FramesOut != 0 {
		t.Fatalf("peers %+v", peers)
	}
	if _, err := ln.SendFrame(peers[1].ID, []byte("operator says hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := ln.current().response.ParseDatagram(buf[:n]); err != nil || string(f.Body) != "operator says hi" {
		t.Fatalf("b got %q %v", f.Body, err)
	}
	if err := ln.CloseConn(peers[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := ln.Connections(); len(got) != 1 || got[0].ID != peers[0].ID {
		t.Fatalf("after forgetting b: %+v", got)
	}
	if _, err := ln.SendFrame(peers[1].ID, nil); !errors.Is(err, ErrConnNotFound) {
		t.Fatalf("send to a forgotten peer: %v", err)
	}
}

// TestCaptureIsBounded sends far more than the capture keeps: it holds
// the newest frames, cut to size, and its memory stays within its bound.
func TestCaptureIsBounded(t *testing.T) {
	const frames, perFrame = 16, 100
	capture := NewCapture(frames, perFrame)
	ln := startListener(t, Config{Handler: Upper{}, Capture: capture})
	c := dial(t, ln)
	big := strings.Repeat("x", 10_000)
	for i := range 200 {
		msg := big
		if i%2 == 0 {
			msg = "small"
		}
		c.roundTrip(msg)
	}
	got := capture.Frames(0)
	if len(got) != frames {
		t.Fatalf("%d frames kept, want %d", len(got), frames)
	}
	for i, f := range got {
		if f.Out != (i%2 == 1) || len(f.Body) > perFrame || f.Truncated != (f.BodySize > perFrame) {
			t.Fatalf("frame %d: out=%v body=%d size=%d truncated=%v", i, f.Out, len(f.Body), f.BodySize, f.Truncated)
		}
	}
	last := got[len(got)-1]
	if !last.Out || string(last.Body) != strings.Repeat("X", perFrame) || string(last.Header) != `{"data_size": 10000}` || last.BodySize != 10_000 {
		t.Fatalf("newest frame %+v", last)
	}
	if bound := frames * (perFrame + maxCapturedHeader); capture.retainedBytes() > bound {
		t.Fatalf("capture holds %d bytes, bound %d", capture.retainedBytes(), bound)
	}
	if other := capture.Frames(got[0].ConnID + 1); len(other) != 0 {
		t.Fatalf("filter by another connection: %d frames", len(other))
	}
}

// TestEvents: connection and frame-error events reach a subscriber; a
// subscriber that does not read misses events, counted, and never slows
// the listener.
func TestEvents(t *testing.T) {
	bus := NewEventBus()
	sub := bus.Subscribe("l1", 64)
	defer sub.Close()
	slow := bus.Subscribe("", 1)
	defer slow.Close()
	other := bus.Subscribe("l2", 8)
	defer other.Close()

	ln := startListener(t, Config{Events: bus, Name: "l1"})
	c := dial(t, ln)
	c.roundTrip("x")
	c.write([]byte{0, 0, 0, 0}) // header length 0: a frame error
	if _, err := io.ReadAll(c.br); err != nil {
		t.Fatal(err)
	}
	want := []EventType{EventConnectionOpened, EventFrameError, EventConnectionClosed}
	for i, typ := range want {
		select {
		case e := <-sub.Events():
			if e.Type != typ || e.ListenerID != "l1" || e.ConnID == 0 || e.Peer != c.conn.LocalAddr().String() || e.At.IsZero() {
				t.Fatalf("event %d = %+v, want type %d", i, e, typ)
			}
			if typ == EventFrameError && !strings.Contains(e.Message, "header length 0") {
				t.Fatalf("frame error says %q", e.Message)
			}
		case <-time.After(testTimeout):
			t.Fatalf("no event %d", i)
		}
	}
	// The bus hands an event to its subscribers one after another, so the
	// slow one's miss of the last event may be counted just after sub
	// received it.
	var dropped uint64
	waitFor(t, "the slow subscriber's misses", func() bool { dropped += slow.TakeDropped(); return dropped >= 2 })
	if dropped != 2 {
		t.Fatalf("slow subscriber dropped %d, want 2", dropped)
	}
	if len(other.Events()) != 0 {
		t.Fatal("a subscriber to another listener got events")
	}
}
