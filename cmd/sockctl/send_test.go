package main

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/rawsock"
)

// startRawListener starts a rawsock.Listener outside any registry, for
// configurations a Spec cannot express.
func startRawListener(tb testing.TB, cfg rawsock.Config) string {
	tb.Helper()
	cfg.Address = "127.0.0.1:0"
	ln, err := rawsock.NewListener(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ln.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

func TestSend(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	for _, tc := range []struct {
		name  string
		spec  rawsock.Spec
		flags []string
	}{
		{"tcp", rawsock.Spec{Transport: rawsock.TransportTCP}, nil},
		{"udp", rawsock.Spec{Transport: rawsock.TransportUDP}, []string{"--udp"}},
		{"tcp big-endian", rawsock.Spec{Transport: rawsock.TransportTCP, Framing: rawsock.FramingSpec{ByteOrder: rawsock.BigEndian}}, []string{"--byte-order", "big"}},
		{"udp big-endian", rawsock.Spec{Transport: rawsock.TransportUDP, Framing: rawsock.FramingSpec{ByteOrder: rawsock.BigEndian}}, []string{"--udp", "--byte-order", "big"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Handler = rawsock.HandlerUpper
			info := createListener(t, reg, tc.spec)
			args := append([]string{"send", info.BoundAddr, "hello", "world"}, tc.flags...)
			if out := mustSockctl(t, args...); out != "HELLO\nWORLD\n" {
				t.Errorf("output %q, want %q", out, "HELLO\nWORLD\n")
			}
		})
	}
}

func TestSendKeepsMessagesWhole(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, rawsock.Spec{Transport: rawsock.TransportTCP}) // echo
	// 1 MB: many TCP segments each way, read back whole.
	big := strings.Repeat("0123456789", 100_000)
	out := mustSockctl(t, "send", info.BoundAddr, "  spaces kept  ", "", big)
	if want := "  spaces kept  \n\n" + big + "\n"; out != want {
		t.Errorf("echo of 3 messages differs: got %d bytes, want %d", len(out), len(want))
	}
}

func TestSendErrorFrame(t *testing.T) {
	t.Parallel()
	// The listener refuses bodies over 4 bytes with an error frame and
	// closes the connection.
	addr := startRawListener(t, rawsock.Config{
		Network: "tcp",
		Handler: rawsock.Echo{},
		Request: rawsock.Codec{MaxBodyBytes: 4},
	})
	out, _, err := sockctl(t, "", "send", addr, "ok", "too long", "never sent")
	var se *serverError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *serverError", err)
	}
	if !strings.Contains(se.msg, "frame too large") || !strings.HasPrefix(err.Error(), addr+" replied with an error: ") {
		t.Errorf("err = %q", err)
	}
	if out != "ok\n" {
		t.Errorf("output %q, want the reply before the error only", out)
	}
}

func TestSendErrorFieldUDP(t *testing.T) {
	t.Parallel()
	addr := startRawListener(t, rawsock.Config{
		Network: "udp",
		Handler: rawsock.HandlerFunc(func(w rawsock.ResponseWriter, _ *rawsock.Request) {
			_ = w.Reply(nil, rawsock.HeaderField{Name: "error", Value: "no such command"})
		}),
	})
	_, _, err := sockctl(t, "", "send", "--udp", addr, "ls")
	var se *serverError
	if !errors.As(err, &se) || se.msg != "no such command" {
		t.Errorf("err = %v, want the server's error", err)
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	// The kernel completes the handshake, but nobody ever reads or replies.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })

	_, _, err = sockctl(t, "", "send", "--timeout", "50ms", ln.Addr().String(), "hello")
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(err.Error(), "no reply from "+ln.Addr().String()+" within 50ms") {
		t.Errorf("err = %v, want no reply within 50ms", err)
	}
}

func TestSendWrongByteOrder(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, rawsock.Spec{Transport: rawsock.TransportTCP, Framing: rawsock.FramingSpec{ByteOrder: rawsock.BigEndian}})
	// A little-endian length reads as a huge big-endian one: the listener
	// answers with an error frame in its byte order, which we cannot read.
	_, _, err := sockctl(t, "", "send", info.BoundAddr, "hello")
	if err == nil || !strings.Contains(err.Error(), "--byte-order") {
		t.Errorf("err = %v, want a hint at --byte-order", err)
	}
}

func TestSendArgs(t *testing.T) {
	t.Parallel()
	_, _, err := sockctl(t, "", "send", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "at least 2 arg") {
		t.Errorf("send without a message: %v", err)
	}
	_, _, err = sockctl(t, "", "send", "--byte-order", "native", "127.0.0.1:1", "x")
	if err == nil || !strings.Contains(err.Error(), "little, big") {
		t.Errorf("send --byte-order native: %v", err)
	}
}
