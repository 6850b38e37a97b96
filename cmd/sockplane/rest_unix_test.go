package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRESTUnixTransports walks a Unix stream and a Unix datagram listener
// through their life over REST: the socket file appears with the mode
// asked for and answers raw messages; stop removes it; start binds the
// same path again; delete removes it for good.
func TestRESTUnixTransports(t *testing.T) {
	d := startDaemon(t)
	for _, tt := range []struct{ network, transport string }{
		{"unix", "TRANSPORT_UNIX"},
		{"unixgram", "TRANSPORT_UNIXGRAM"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "listener.sock")
			created := rest(t, d, "POST", "/v1/listeners", fmt.Sprintf(`{"id":%q,"transport":%q,"address":%q,"unixMode":"0660",
				"handler":"HANDLER_UPPER","framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"}}`, tt.network, tt.transport, path))
			if created.status != http.StatusOK || str(created.body, "status", "state") != "STATE_RUNNING" ||
				str(created.body, "status", "boundAddress") != path || str(created.body, "unixMode") != "0660" {
				t.Fatalf("create: %d %s", created.status, created.raw)
			}
			checkSocketFile(t, path, 0o660)
			if got, err := unixRoundTrip(t, tt.network, path, "hello"); err != nil || got != "HELLO" {
				t.Fatalf("raw client: %q, %v", got, err)
			}

			stopped := rest(t, d, "POST", "/v1/listeners/"+tt.network+":stop", "")
			if stopped.status != http.StatusOK || str(stopped.body, "status", "state") != "STATE_STOPPED" {
				t.Fatalf("stop: %d %s", stopped.status, stopped.raw)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("socket file after stop: %v, want it gone", err)
			}
			if _, err := unixRoundTrip(t, tt.network, path, "hello"); !errors.Is(err, syscall.ENOENT) {
				t.Fatalf("a stopped listener's path: %v, want no such file", err)
			}

			started := rest(t, d, "POST", "/v1/listeners/"+tt.network+":start", "")
			if started.status != http.StatusOK || str(started.body, "status", "boundAddress") != path {
				t.Fatalf("start: %d %s; want running on %s", started.status, started.raw, path)
			}
			checkSocketFile(t, path, 0o660)
			if got, err := unixRoundTrip(t, tt.network, path, "again"); err != nil || got != "AGAIN" {
				t.Fatalf("raw client after start: %q, %v", got, err)
			}

			// A live socket at the path is not taken over.
			again := rest(t, d, "POST", "/v1/listeners", fmt.Sprintf(`{"transport":%q,"address":%q}`, tt.transport, path))
			if again.status != http.StatusConflict || !strings.Contains(str(again.body, "message"), path) {
				t.Fatalf("a second listener on a live path: %d %s, want 409 naming the path", again.status, again.raw)
			}

			if del := rest(t, d, "DELETE", "/v1/listeners/"+tt.network, ""); del.status != http.StatusOK {
				t.Fatalf("delete: %d %s", del.status, del.raw)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("socket file after delete: %v, want it gone", err)
			}
		})
	}
}

// TestRESTUnixPathChecks: a stale socket file is replaced, another kind
// of file is refused and left alone.
func TestRESTUnixPathChecks(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()

	// What a crashed process leaves: a socket file nobody listens on.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	r := rest(t, d, "POST", "/v1/listeners", fmt.Sprintf(`{"transport":"TRANSPORT_UNIX","address":%q,"handler":"HANDLER_UPPER",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"}}`, stale))
	if r.status != http.StatusOK {
		t.Fatalf("create on a stale socket: %d %s", r.status, r.raw)
	}
	checkSocketFile(t, stale, 0o600) // the default mode
	if got, err := unixRoundTrip(t, "unix", stale, "hi"); err != nil || got != "HI" {
		t.Fatalf("raw client: %q, %v", got, err)
	}

	regular := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = rest(t, d, "POST", "/v1/listeners", fmt.Sprintf(`{"transport":"TRANSPORT_UNIX","address":%q}`, regular))
	if r.status != http.StatusBadRequest || !strings.Contains(str(r.body, "message"), "not a socket") {
		t.Fatalf("create on a regular file: %d %s, want 400 saying it is not a socket", r.status, r.raw)
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "keep me" {
		t.Fatalf("the regular file after the refusal: %q, %v", b, err)
	}
}

// checkSocketFile fails the test unless path is a socket with mode perm.
func checkSocketFile(t *testing.T, path string, perm fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("socket file: %v", err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != perm {
		t.Fatalf("%s has mode %v, want a socket with %#o", path, fi.Mode(), perm)
	}
}

// unixRoundTrip sends body as one raw message to the Unix listener at
// path and returns the reply: over a stream, what one read returns; over
// datagrams, one datagram, received on a socket of the client's own, in a
// directory of the test's, since an unbound datagram socket cannot be
// answered.
func unixRoundTrip(t *testing.T, network, path, body string) (string, error) {
	t.Helper()
	var laddr *net.UnixAddr
	if network == "unixgram" {
		laddr = &net.UnixAddr{Name: filepath.Join(t.TempDir(), "client.sock"), Net: network}
	}
	conn, err := net.DialUnix(network, laddr, &net.UnixAddr{Name: path, Net: network})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write([]byte(body)); err != nil {
		return "", err
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

// TestRESTExecAndUnixErrors: the exec handler and the Unix options are
// refused with a 400 that says what is wrong.
func TestRESTExecAndUnixErrors(t *testing.T) {
	off := startDaemon(t)
	on := startDaemon(t, func(o *options) { o.execAllow = []string{"echo"} })
	sock := filepath.Join(t.TempDir(), "s.sock")
	tests := []struct {
		name    string
		d       *daemon
		body    string
		message string
	}{
		{"exec without --exec-allow", off, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_EXEC"}`, "--exec-allow"},
		{"exec on udp", on, `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_EXEC"}`, "handler"},
		{"exec on unixgram", on, fmt.Sprintf(`{"transport":"TRANSPORT_UNIXGRAM","address":%q,"handler":"HANDLER_EXEC"}`, sock), "handler"},
		{"exec.allow beyond the daemon's", on, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_EXEC","exec":{"allow":["echo","sh"]}}`, "exec.allow"},
		{"exec options without exec", on, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_ECHO","exec":{"allow":["echo"]}}`, "exec"},
		{"unixMode not octal", on, fmt.Sprintf(`{"transport":"TRANSPORT_UNIX","address":%q,"unixMode":"999"}`, sock), "unixMode"},
		{"unixMode on tcp", on, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","unixMode":"0660"}`, "unixMode"},
		{"unix without a path", on, `{"transport":"TRANSPORT_UNIX"}`, "listener.address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rest(t, tt.d, "POST", "/v1/listeners", tt.body)
			if r.status != http.StatusBadRequest || !strings.Contains(str(r.body, "message"), tt.message) {
				t.Fatalf("POST %s: %d %s; want 400 with %q", tt.body, r.status, r.raw, tt.message)
			}
		})
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused listener left %s: %v", sock, err)
	}
	for _, d := range []*daemon{off, on} {
		r := rest(t, d, "GET", "/v1/listeners", "")
		var list struct{ Listeners []json.RawMessage }
		if err := json.Unmarshal([]byte(r.raw), &list); err != nil || len(list.Listeners) != 0 {
			t.Errorf("the refused calls created listeners: %s", r.raw)
		}
	}
}
