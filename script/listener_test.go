package script

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// TestOverTCP serves the issue's script from a real listener: the engine
// must greet, delay, add the header fields, close and reset as the
// script says.
func TestOverTCP(t *testing.T) {
	h, err := New(issueSpec(), Options{ResponseFraming: wire.FramingJSONHeader})
	if err != nil {
		t.Fatal(err)
	}
	l, err := rawsock.NewListener(rawsock.Config{Network: "tcp", Address: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })

	var codec wire.Codec
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if f, err := codec.ReadFrame(r); err != nil || string(f.Body) != "220 ready" {
			t.Fatalf("greeting: %q, %v; want 220 ready", f.Body, err)
		}
		return c, r
	}
	send := func(t *testing.T, c net.Conn, header []wire.HeaderField, body string) {
		t.Helper()
		frame, err := codec.AppendFrame(nil, []byte(body), header...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, r *bufio.Reader) wire.Frame {
		t.Helper()
		f, err := codec.ReadFrame(r)
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		return f
	}

	t.Run("rules in order on one connection", func(t *testing.T) {
		c, r := dial(t)
		send(t, c, nil, "GET /")
		if f := read(t, r); string(f.Body) != "OK" {
			t.Errorf("GET: %q, want OK", f.Body)
		}
		send(t, c, []wire.HeaderField{{Name: "cmd", Value: "get"}}, "x")
		f := read(t, r)
		if string(f.Body) != "\x00\x01\x02" || string(f.Header) != `{"data_size": 3, "status": "ok"}` {
			t.Errorf("header rule: %s %q", f.Header, f.Body)
		}
		send(t, c, nil, "echo me")
		if f := read(t, r); string(f.Body) != "echo me" {
			t.Errorf("default: %q, want the echo", f.Body)
		}
	})

	t.Run("delay holds the reply and those after it", func(t *testing.T) {
		c, r := dial(t)
		start := time.Now()
		send(t, c, nil, "ping 7")
		send(t, c, nil, "GET /") // its reply leaves after the delayed one
		if f := read(t, r); string(f.Body) != "pong" {
			t.Errorf("ping: %q, want pong", f.Body)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("pong after %v, want at least 50ms", d)
		}
		if f := read(t, r); string(f.Body) != "OK" {
			t.Errorf("GET after ping: %q, want OK", f.Body)
		}
	})

	t.Run("then close", func(t *testing.T) {
		c, r := dial(t)
		send(t, c, nil, "bye")
		if f := read(t, r); string(f.Body) != "BYE" {
			t.Errorf("bye: %q, want BYE", f.Body)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("after BYE: %v, want EOF", err)
		}
	})

	t.Run("then reset", func(t *testing.T) {
		c, r := dial(t)
		send(t, c, nil, "boom")
		if _, err := r.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("after boom: %v, want a reset", err)
		}
	})

	hits := h.Hits()
	if want := []uint64{2, 1, 1, 1, 1}; !slices.Equal(hits.Rules, want) || hits.Default != 1 || hits.Unmatched != 0 {
		t.Errorf("Hits() = %+v, want rules %v and default 1", hits, want)
	}
}
