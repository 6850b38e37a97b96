package main

import (
	"net"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/rawsock"
)

func TestChat(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	for _, tc := range []struct {
		name  string
		spec  rawsock.Spec
		flags []string
	}{
		{"tcp", rawsock.Spec{Transport: rawsock.TransportTCP}, nil},
		{"udp big-endian", rawsock.Spec{Transport: rawsock.TransportUDP, Framing: rawsock.FramingSpec{ByteOrder: rawsock.BigEndian}}, []string{"--udp", "--byte-order", "big"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Handler = rawsock.HandlerUpper
			info := createListener(t, reg, tc.spec)
			args := append([]string{"chat", info.BoundAddr}, tc.flags...)
			out, stderr, err := sockctl(t, "hello\n\n  \n world \t\n", args...)
			if err != nil {
				t.Fatalf("chat: %v\nstderr: %s", err, stderr)
			}
			// A prompt per line read; blank lines get no reply; the
			// last prompt's line ends at EOF.
			if want := ">>> HELLO\n>>> >>> >>> WORLD\n>>> \n"; out != want {
				t.Errorf("output %q, want %q", out, want)
			}
		})
	}
}

func TestChatEmptyInput(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, rawsock.Spec{Transport: rawsock.TransportTCP})
	out, _, err := sockctl(t, "", "chat", info.BoundAddr)
	if err != nil || out != ">>> \n" {
		t.Errorf("chat with no input: %q, %v", out, err)
	}
}

func TestChatErrorFrame(t *testing.T) {
	t.Parallel()
	addr := startRawListener(t, rawsock.Config{
		Network: "tcp",
		Handler: rawsock.Upper{},
		Request: rawsock.Codec{MaxBodyBytes: 4},
	})
	out, _, err := sockctl(t, "ok\ntoo long\nnever\n", "chat", addr)
	if err == nil || !strings.Contains(err.Error(), "frame too large") {
		t.Errorf("err = %v, want the server's error", err)
	}
	if out != ">>> OK\n>>> " {
		t.Errorf("output %q", out)
	}
}

func TestChatConnectionClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() { // hang up on the first client
		if c, err := ln.Accept(); err == nil {
			_ = c.Close()
		}
	}()
	_, _, err = sockctl(t, "hello\n", "chat", ln.Addr().String())
	if err == nil {
		t.Error("chat with a closed connection succeeded")
	}
}
