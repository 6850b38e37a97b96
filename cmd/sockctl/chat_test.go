package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

func TestChat(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	for _, tc := range framingCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Handler = registry.HandlerUpper
			info := createListener(t, reg, tc.spec)
			args := append(append([]string{"chat"}, listenerArgs(info)...), tc.flags...)
			out, stderr, err := sockctl(t, "hello\n\n  \n world \t\n", args...)
			if err != nil {
				t.Fatalf("chat: %v\nstderr: %s", err, stderr)
			}
			// A prompt per line read; blank lines get no reply; the
			// last prompt's line ends at EOF. A JSON-header reply shows
			// its header first, as the tutorial's client prints head_dic.
			want := ">>> HELLO\n>>> >>> >>> WORLD\n>>> \n"
			if info.Spec.Framing.Response == wire.FramingJSONHeader {
				want = ">>> {\"data_size\": 5}\nHELLO\n>>> >>> >>> {\"data_size\": 5}\nWORLD\n>>> \n"
			}
			if out != want {
				t.Errorf("output %q, want %q", out, want)
			}
		})
	}
}

// TestChatPrintsHeaderAsReceived: the header line is the JSON text the
// listener sent, extra fields and spacing included.
func TestChatPrintsHeaderAsReceived(t *testing.T) {
	t.Parallel()
	addr := startRawListener(t, rawsock.Config{
		Network: "tcp",
		Handler: rawsock.HandlerFunc(func(w rawsock.ResponseWriter, r *rawsock.Request) {
			_ = w.Reply(r.Body, wire.HeaderField{Name: "exit_code", Value: 0}, wire.HeaderField{Name: "truncated", Value: false})
		}),
		Request:  wire.Codec{Framing: wire.FramingRaw},
		Response: wire.Codec{Framing: wire.FramingJSONHeader},
	})
	out, _, err := sockctl(t, "ls\n", "chat", "--request-framing", "raw", addr)
	if err != nil {
		t.Fatal(err)
	}
	if want := ">>> {\"data_size\": 2, \"exit_code\": 0, \"truncated\": false}\nls\n>>> \n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestChatArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "requires exactly one ADDR"},
		{[]string{"127.0.0.1:1", "127.0.0.1:2"}, "requires exactly one ADDR"},
		{[]string{"--unix", "/nonexistent.sock", "127.0.0.1:1"}, `takes no ADDR with --unix PATH, got ["127.0.0.1:1"]`},
		{[]string{"--unixgram", "/nonexistent.sock", "x"}, "takes no ADDR with --unixgram PATH"},
	} {
		_, _, err := sockctl(t, "", append([]string{"chat"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("chat %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestChatInterrupted: an ended context (Ctrl-C) ends chat while it waits
// for input, and while it waits for a reply.
func TestChatInterrupted(t *testing.T) {
	t.Parallel()
	interrupt := errors.New("interrupt signal received")

	// chat starts chat on ctx with the input read from in, talking to a
	// listener that never answers, and returns what it will return, the
	// listener, and a channel closed at its first prompt, which comes
	// once it is connected.
	chat := func(t *testing.T, ctx context.Context, in io.Reader) (<-chan error, *net.TCPListener, <-chan struct{}) {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		done := make(chan error, 1)
		out := &firstWrite{seen: make(chan struct{})}
		go func() { done <- run(ctx, []string{"chat", "--timeout", "1h", ln.Addr().String()}, in, out, io.Discard) }()
		return done, ln, out.seen
	}
	wait := func(t *testing.T, done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			if !errors.Is(err, interrupt) || !strings.HasPrefix(err.Error(), "interrupted: ") {
				t.Errorf("err = %v, want interrupted by %v", err, interrupt)
			}
		case <-time.After(testTimeout):
			t.Fatal("chat did not end with its context")
		}
	}

	t.Run("waiting for input", func(t *testing.T) {
		// Input that never comes, like a terminal nobody types at; it
		// ends with the test, so chat's input goroutine does too.
		in, typist := io.Pipe()
		t.Cleanup(func() { _ = typist.Close() })
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		done, _, prompted := chat(t, ctx, in)
		select {
		case <-prompted:
		case <-time.After(testTimeout):
			t.Fatal("no prompt")
		}
		cancel(interrupt)
		wait(t, done)
	})

	t.Run("waiting for a reply", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		done, ln, _ := chat(t, ctx, strings.NewReader("hello\n"))
		// The request has arrived and is never answered.
		_ = ln.SetDeadline(time.Now().Add(testTimeout))
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := conn.Read(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
		cancel(interrupt)
		wait(t, done)
	})
}

// firstWrite closes seen at its first Write and discards what it gets.
type firstWrite struct {
	once sync.Once
	seen chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.seen) })
	return len(p), nil
}

func TestChatEmptyInput(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	info := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP})
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
		Request: wire.Codec{MaxBodyBytes: 4},
	})
	out, _, err := sockctl(t, "ok\ntoo long\nnever\n", "chat", addr)
	if err == nil || !strings.Contains(err.Error(), "frame too large") {
		t.Errorf("err = %v, want the server's error", err)
	}
	if out != ">>> {\"data_size\": 2}\nOK\n>>> " {
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
