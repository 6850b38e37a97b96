package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
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

// listenerArgs are the arguments that point send or chat at the
// listener of info: its address, or a flag with its socket path.
func listenerArgs(info registry.Info) []string {
	switch info.Spec.Transport {
	case registry.TransportUDP:
		return []string{"--udp", info.BoundAddr}
	case registry.TransportUnix:
		return []string{"--unix", info.BoundAddr}
	case registry.TransportUnixgram:
		return []string{"--unixgram", info.BoundAddr}
	}
	return []string{info.BoundAddr}
}

// socketPath is a path for a Unix socket in a directory of the test's own.
func socketPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "s.sock")
}

// framingCases are listeners of every transport and framing, and the
// flags of send and chat that match each.
func framingCases(tb testing.TB) []struct {
	name  string
	spec  registry.Spec
	flags []string
} {
	tb.Helper()
	framing := func(req, resp wire.Framing, order wire.ByteOrder) registry.FramingSpec {
		return registry.FramingSpec{Request: req, Response: resp, ByteOrder: order}
	}
	const (
		json   = wire.FramingJSONHeader
		length = wire.FramingLengthPrefixed
		raw    = wire.FramingRaw
		big    = wire.BigEndian
	)
	return []struct {
		name  string
		spec  registry.Spec
		flags []string
	}{
		{"tcp", registry.Spec{Transport: registry.TransportTCP}, nil},
		{"udp", registry.Spec{Transport: registry.TransportUDP}, nil},
		{"tcp big-endian", registry.Spec{Transport: registry.TransportTCP, Framing: framing(0, 0, big)}, []string{"--byte-order", "big"}},
		{"udp big-endian", registry.Spec{Transport: registry.TransportUDP, Framing: framing(0, 0, big)}, []string{"--byte-order", "big"}},
		{"tcp length", registry.Spec{Transport: registry.TransportTCP, Framing: framing(length, length, 0)}, []string{"--framing", "length"}},
		{"tcp length big-endian", registry.Spec{Transport: registry.TransportTCP, Framing: framing(length, length, big)}, []string{"--framing", "length", "--byte-order", "big"}},
		{"tcp raw", registry.Spec{Transport: registry.TransportTCP, Framing: framing(raw, raw, 0)}, []string{"--framing", "raw"}},
		{"udp raw", registry.Spec{Transport: registry.TransportUDP, Framing: framing(raw, raw, 0)}, []string{"--framing", "raw"}},
		// The tutorial's command server: the bare request, a JSON-header reply.
		{"tcp raw to json", registry.Spec{Transport: registry.TransportTCP, Framing: framing(raw, json, 0)}, []string{"--request-framing", "raw", "--response-framing", "json"}},
		// --request-framing overrides --framing for its side only.
		{"tcp override", registry.Spec{Transport: registry.TransportTCP, Framing: framing(raw, length, 0)}, []string{"--framing", "length", "--request-framing", "raw"}},
		{"udp json to length", registry.Spec{Transport: registry.TransportUDP, Framing: framing(json, length, 0)}, []string{"--response-framing", "length"}},
		{"unix", registry.Spec{Transport: registry.TransportUnix, Address: socketPath(tb)}, nil},
		{"unix raw", registry.Spec{Transport: registry.TransportUnix, Address: socketPath(tb), Framing: framing(raw, raw, 0)}, []string{"--framing", "raw"}},
		{"unixgram", registry.Spec{Transport: registry.TransportUnixgram, Address: socketPath(tb)}, nil},
		{"unixgram length big-endian", registry.Spec{Transport: registry.TransportUnixgram, Address: socketPath(tb), Framing: framing(length, length, big)}, []string{"--framing", "length", "--byte-order", "big"}},
		{"unixgram raw", registry.Spec{Transport: registry.TransportUnixgram, Address: socketPath(tb), Framing: framing(raw, raw, 0)}, []string{"--framing", "raw"}},
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	for _, tc := range framingCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Handler = registry.HandlerUpper
			info := createListener(t, reg, tc.spec)
			args := append([]string{"send"}, listenerArgs(info)...)
			args = append(append(args, "hello", "world"), tc.flags...)
			if out := mustSockctl(t, args...); out != "HELLO\nWORLD\n" {
				t.Errorf("output %q, want %q", out, "HELLO\nWORLD\n")
			}
		})
	}
}

// TestSendUnixgramRemovesReplySocket: the client's own socket, which the
// replies are sent to, is gone when the connection is closed.
func TestSendUnixgramRemovesReplySocket(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, registry.Spec{Transport: registry.TransportUnixgram, Address: socketPath(t), Handler: registry.HandlerUpper})
	var o frameOptions
	flags := &cobra.Command{}
	addFrameFlags(flags, &o)
	if err := flags.ParseFlags([]string{"--unixgram", info.BoundAddr}); err != nil {
		t.Fatal(err)
	}
	c, _, err := o.dial(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	local := c.conn.LocalAddr().String()
	if fi, err := os.Stat(local); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("reply socket %s: %v, %v", local, fi, err)
	}
	if perm, err := os.Stat(filepath.Dir(local)); err != nil || perm.Mode().Perm() != 0o700 {
		t.Errorf("the reply socket's directory: %v, %v; want mode 0700", perm, err)
	}
	if reply, err := c.roundTrip([]byte("hi")); err != nil || string(reply.Body) != "HI" {
		t.Errorf("round trip: %q, %v", reply.Body, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(local)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Close, the reply socket's directory: %v, want it gone", err)
	}
}

func TestSendEmptyRawOverStream(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	raw := registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingRaw}
	tcp := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Framing: raw})
	_, _, err := sockctl(t, "", "send", "--framing", "raw", tcp.BoundAddr, "")
	if !errors.Is(err, errEmptyRawStream) {
		t.Errorf("empty raw message over TCP: %v, want %v", err, errEmptyRawStream)
	}
	// One datagram is one message, so an empty one is a message, as in
	// the tutorial's UDP client.
	udp := createListener(t, reg, registry.Spec{Transport: registry.TransportUDP, Framing: raw})
	if out := mustSockctl(t, "send", "--framing", "raw", "--udp", udp.BoundAddr, "", "x"); out != "\nx\n" {
		t.Errorf("empty raw datagram: %q, want %q", out, "\nx\n")
	}
}

func TestSendKeepsMessagesWhole(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP}) // echo
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
		Request: wire.Codec{MaxBodyBytes: 4},
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
			_ = w.Reply(nil, wire.HeaderField{Name: "error", Value: "no such command"})
		}),
		// The error reply is larger than the request, which a datagram
		// listener refuses by default (no amplification).
		Limits: rawsock.Limits{AllowLargerDatagramReplies: true},
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
	info := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Framing: registry.FramingSpec{ByteOrder: wire.BigEndian}})
	// A little-endian length reads as a huge big-endian one: the listener
	// answers with an error frame in its byte order, which we cannot read.
	_, _, err := sockctl(t, "", "send", info.BoundAddr, "hello")
	if err == nil || !strings.Contains(err.Error(), "--byte-order") {
		t.Errorf("err = %v, want a hint at --byte-order", err)
	}
}

func TestSendArgs(t *testing.T) {
	t.Parallel()
	// None of these connects: 127.0.0.1:1 and the paths are not used.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"127.0.0.1:1"}, "requires ADDR and at least one MSG"},
		{[]string{"--unix", "/nonexistent.sock"}, "requires at least one MSG after --unix PATH"},
		{[]string{"--unixgram", "/nonexistent.sock"}, "requires at least one MSG after --unixgram PATH"},
		{[]string{"--byte-order", "native", "127.0.0.1:1", "x"}, "little, big"},
		{[]string{"--framing", "xml", "127.0.0.1:1", "x"}, "json, length, raw"},
		{[]string{"--request-framing", "xml", "127.0.0.1:1", "x"}, "json, length, raw"},
		{[]string{"--udp", "--unix", "/nonexistent.sock", "x"}, "[udp unix]"},
		{[]string{"--unix", "/a.sock", "--unixgram", "/b.sock", "x"}, "[unix unixgram]"},
	} {
		_, _, err := sockctl(t, "", append([]string{"send"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("send %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
