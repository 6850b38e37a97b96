package rawsock

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

func dialUDP(t *testing.T, ln *Listener) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, ln.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func udpRoundTrip(t *testing.T, c *net.UDPConn, codec wire.Codec, body string) wire.Frame {
	t.Helper()
	b, _ := codec.AppendFrame(nil, []byte(body))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxDatagram)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	f, err := codec.ParseDatagram(buf[:n])
	if err != nil {
		t.Fatalf("reply is not a frame: %v", err)
	}
	return f
}

func TestUDPUpper(t *testing.T) {
	ln := startListener(t, Config{Network: "udp", Handler: Upper{}})
	a, b := dialUDP(t, ln), dialUDP(t, ln)
	if got := udpRoundTrip(t, a, ln.current().response, "hello"); string(got.Body) != "HELLO" || string(got.Header) != `{"data_size": 5}` {
		t.Fatalf("a got %s %q", got.Header, got.Body)
	}
	if got := udpRoundTrip(t, b, ln.current().response, "from b"); string(got.Body) != "FROM B" {
		t.Fatalf("b got %q", got.Body)
	}
	s := ln.Stats().Snapshot()
	if s.FramesIn != 2 || s.FramesOut != 2 || s.BytesIn != s.BytesOut || s.BytesIn == 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestUDPBadDatagrams are dropped without a reply and counted; the next
// good datagram is served.
func TestUDPBadDatagrams(t *testing.T) {
	ln := startListener(t, Config{Network: "udp"})
	c := dialUDP(t, ln)
	good, _ := ln.current().response.AppendFrame(nil, []byte("x"))
	for _, bad := range [][]byte{[]byte("raw text"), good[:len(good)-1], append(good[:len(good):len(good)], 'y'), {0, 0, 0, 0}} {
		if _, err := c.Write(bad); err != nil {
			t.Fatal(err)
		}
	}
	if got := udpRoundTrip(t, c, ln.current().response, "after"); string(got.Body) != "after" {
		t.Fatalf("got %q", got.Body)
	}
	if s := ln.Stats().Snapshot(); s.Errors != 4 || s.FramesIn != 1 {
		t.Fatalf("stats = %+v, want 4 errors and 1 frame", s)
	}
}

func TestUDPCloseAndRebind(t *testing.T) {
	ln := startListener(t, Config{Network: "udp"})
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	again := startListener(t, Config{Network: "udp", Address: addr})
	if got := udpRoundTrip(t, dialUDP(t, again), again.current().response, "back"); string(got.Body) != "back" {
		t.Fatalf("got %q", got.Body)
	}
	dup, _ := NewListener(Config{Network: "udp", Address: addr, Handler: Echo{}})
	if err := dup.Start(); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("second bind of %s: %v, want ErrAddrInUse", addr, err)
	}
	_ = dup.Close()
}
