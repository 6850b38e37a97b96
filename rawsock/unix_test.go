package rawsock

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

func socketPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "s.sock")
}

func TestUnixStream(t *testing.T) {
	path := socketPath(t)
	ln := startListener(t, Config{Network: "unix", Address: path, Handler: Upper{}})
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket file: %v %v, want a socket with mode 0600", fi.Mode(), err)
	}
	if ln.Addr().String() != path {
		t.Fatalf("Addr = %s, want %s", ln.Addr(), path)
	}
	c := dial(t, ln)
	if got := c.roundTrip("over a unix socket"); got != "OVER A UNIX SOCKET" {
		t.Fatalf("got %q", got)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: %v, want it removed", err)
	}
	// The same path binds again at once.
	again := startListener(t, Config{Network: "unix", Address: path, Handler: Upper{}})
	if got := dial(t, again).roundTrip("again"); got != "AGAIN" {
		t.Fatalf("got %q", got)
	}
}

func TestUnixMode(t *testing.T) {
	path := socketPath(t)
	startListener(t, Config{Network: "unixgram", Address: path, UnixMode: 0o660})
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("mode %v %v, want 0660", fi.Mode(), err)
	}
}

// TestUnixStaleSocketIsReplaced: a socket file nobody answers on, as a
// crash leaves, does not block the path.
func TestUnixStaleSocketIsReplaced(t *testing.T) {
	for _, network := range []string{"unix", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			path := socketPath(t)
			leaveStaleSocket(t, network, path)
			ln := startListener(t, Config{Network: network, Address: path})
			if network == "unix" {
				if got := dial(t, ln).roundTrip("hi"); got != "hi" {
					t.Fatalf("got %q", got)
				}
			}
		})
	}
}

func leaveStaleSocket(t *testing.T, network, path string) {
	t.Helper()
	if network == "unix" {
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		_ = old.Close()
	} else {
		old, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		_ = old.Close() // unixgram sockets never unlink their file
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket file is not there: %v", err)
	}
}

// TestUnixRefusesLiveSocketsAndOtherFiles: what is not a stale socket is
// never removed.
func TestUnixRefusesLiveSocketsAndOtherFiles(t *testing.T) {
	t.Run("live stream socket", func(t *testing.T) {
		path := socketPath(t)
		live, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		ln, _ := NewListener(Config{Network: "unix", Address: path, Handler: Echo{}})
		defer ln.Close()
		if err := ln.Start(); !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "live socket") {
			t.Fatalf("Start = %v, want ErrAddrInUse saying a live socket answers", err)
		}
		if c, err := net.Dial("unix", path); err != nil {
			t.Fatalf("the live socket was disturbed: %v", err)
		} else {
			c.Close()
		}
	})
	t.Run("live datagram socket", func(t *testing.T) {
		path := socketPath(t)
		live, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		ln, _ := NewListener(Config{Network: "unixgram", Address: path, Handler: Echo{}})
		defer ln.Close()
		if err := ln.Start(); !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("Start = %v, want ErrAddrInUse", err)
		}
	})
	for name, make := range map[string]func(string) error{
		"regular file": func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o600) },
		"directory":    func(p string) error { return os.Mkdir(p, 0o700) },
	} {
		t.Run(name, func(t *testing.T) {
			path := socketPath(t)
			if err := make(path); err != nil {
				t.Fatal(err)
			}
			ln, _ := NewListener(Config{Network: "unix", Address: path, Handler: Echo{}})
			defer ln.Close()
			if err := ln.Start(); !errors.Is(err, ErrBind) || !strings.Contains(err.Error(), name) {
				t.Fatalf("Start = %v, want ErrBind naming a %s", err, name)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("the %s was removed: %v", name, err)
			}
		})
	}
}

// TestUnixgram: replies go to the sender's own socket path; a sender that
// bound none cannot be answered, which is counted.
func TestUnixgram(t *testing.T) {
	path := socketPath(t)
	ln := startListener(t, Config{Network: "unixgram", Address: path, Handler: Upper{}})
	client, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "c.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(testTimeout))
	server := &net.UnixAddr{Name: path, Net: "unixgram"}
	frame, _ := ln.current().response.AppendFrame(nil, []byte("datagram"))
	if _, err := client.WriteToUnix(frame, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, from, err := client.ReadFromUnix(buf)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := ln.current().response.ParseDatagram(buf[:n]); err != nil || string(f.Body) != "DATAGRAM" || from.Name != path {
		t.Fatalf("reply %q from %v: %v", f.Body, from, err)
	}

	unnamed, err := net.DialUnix("unixgram", nil, server)
	if err != nil {
		t.Fatal(err)
	}
	defer unnamed.Close()
	if _, err := unnamed.Write(frame); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unanswerable datagram to be counted", func() bool { return ln.Stats().Snapshot().Errors == 1 })

	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
	if _, err := client.WriteToUnix(frame, server); !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("send to a closed unixgram listener: %v, want refused", err)
	}
}

// TestUnixgramTooLarge: a raw datagram larger than the read buffer is
// dropped and counted, never served cut short.
func TestUnixgramTooLarge(t *testing.T) {
	path := socketPath(t)
	ln := startListener(t, Config{Network: "unixgram", Address: path, Request: wire.Codec{Framing: wire.FramingRaw}})
	client, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "c.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := &net.UnixAddr{Name: path, Net: "unixgram"}
	if _, err := client.WriteToUnix(make([]byte, 100_000), server); err != nil {
		t.Fatalf("send a 100 kB datagram: %v", err)
	}
	waitFor(t, "the datagram to be counted", func() bool { return ln.Stats().Snapshot().Errors == 1 })
	if s := ln.Stats().Snapshot(); s.FramesIn != 0 || s.FramesOut != 0 || s.BytesIn != maxDatagram {
		t.Fatalf("stats %+v: want nothing served", s)
	}
}
