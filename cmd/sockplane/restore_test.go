package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sockplane/sockplane/registry/boltstore"
	"github.com/sockplane/sockplane/wire"
)

// lockedBuffer is a log sink the daemon writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runDaemon runs the daemon in-process on dataDir, as startDaemon does,
// and returns it with a stop function (also run when the test ends) and
// its log.
func runDaemon(t *testing.T, dataDir string, execAllow ...string) (*daemon, func(), *lockedBuffer) {
	t.Helper()
	opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", shutdownTimeout: 5 * time.Second,
		dataDir: dataDir, maxListeners: 100, execAllow: execAllow}
	logs := &lockedBuffer{}
	d, err := newDaemon(opts, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("newDaemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(testTimeout):
				t.Error("the daemon did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop, logs
}

// runCommand sends a raw command to an exec listener and returns the
// reply's body and exit code.
func runCommand(t *testing.T, addr, command string) (string, int) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write([]byte(command)); err != nil {
		t.Fatal(err)
	}
	var codec wire.Codec
	f, err := codec.ReadFrame(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	var hdr struct {
		ExitCode int `json:"exit_code"`
	}
	if err := json.Unmarshal(f.Header, &hdr); err != nil {
		t.Fatal(err)
	}
	return string(f.Body), hdr.ExitCode
}

// TestExecAllowlistBoundsRestoredListeners is the escape issue 9
// measured: a listener created under --exec-allow=echo,uname with
// exec.allow [echo, uname] must not run uname after a restart with
// --exec-allow=echo, nor run at all, or be startable, with exec off.
func TestExecAllowlistBoundsRestoredListeners(t *testing.T) {
	for _, p := range []string{"echo", "uname"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("no %s on this machine", p)
		}
	}
	dir := t.TempDir()
	body := `{"id":"cmd","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_EXEC",
		"framing":{"request":"FRAMING_RAW"},"exec":{"allow":["echo","uname"]}}`

	d, stop, _ := runDaemon(t, dir, "echo", "uname")
	created := rest(t, d, "POST", "/v1/listeners", body)
	if created.status != 200 {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	if out, code := runCommand(t, str(created.body, "status", "boundAddress"), "uname -s"); code != 0 || out != "Linux\n" {
		t.Fatalf("uname under --exec-allow=echo,uname: %q exit %d", out, code)
	}
	stop()

	d, stop, logs := runDaemon(t, dir, "echo")
	got := rest(t, d, "GET", "/v1/listeners/cmd", "")
	allow, _ := got.body["exec"].(map[string]any)["allow"].([]any)
	if str(got.body, "status", "state") != "STATE_RUNNING" || len(allow) != 1 || allow[0] != "echo" {
		t.Fatalf("after a restart with --exec-allow=echo: %s; want running, exec.allow [echo]", got.raw)
	}
	addr := str(got.body, "status", "boundAddress")
	if out, code := runCommand(t, addr, "uname -s"); code != 127 || !strings.Contains(out, "uname: not allowed") {
		t.Fatalf("uname after narrowing: %q exit %d, want refused", out, code)
	}
	if out, code := runCommand(t, addr, "echo narrowed"); code != 0 || out != "narrowed\n" {
		t.Fatalf("echo after narrowing: %q exit %d", out, code)
	}
	if !strings.Contains(logs.String(), "exec allow list narrowed") || !strings.Contains(logs.String(), "id=cmd") {
		t.Fatalf("the narrowing is not logged:\n%s", logs)
	}
	stop()

	d, _, logs = runDaemon(t, dir)
	got = rest(t, d, "GET", "/v1/listeners/cmd", "")
	if str(got.body, "status", "state") != "STATE_FAILED" || !strings.Contains(str(got.body, "status", "error"), "exec handler is off") {
		t.Fatalf("after a restart without --exec-allow: %s; want failed, saying exec is off", got.raw)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the exec listener serves with exec off")
	}
	started := rest(t, d, "POST", "/v1/listeners/cmd:start", "{}")
	if started.status != 400 || !strings.Contains(str(started.body, "message"), "--exec-allow") {
		t.Fatalf(":start with exec off: %d %s; want 400 saying how to enable exec", started.status, started.raw)
	}
	if !strings.Contains(logs.String(), "listener not restored") || !strings.Contains(logs.String(), "id=cmd") {
		t.Fatalf("the failed restore is not logged with its id:\n%s", logs)
	}
}

// TestUnreadableRecordsLeaveTheDaemonRunning: a record of a newer schema
// and an undecodable one each leave the daemon serving, their listeners
// failed with the reason (logged with the id), the others running.
func TestUnreadableRecordsLeaveTheDaemonRunning(t *testing.T) {
	dir := t.TempDir()
	d, stop, _ := runDaemon(t, dir)
	if r := rest(t, d, "POST", "/v1/listeners", `{"id":"good","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	stop()

	db, err := bolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("listeners"))
		if err := b.Put([]byte("newer"), []byte(`{"schemaVersion":7,"listener":{"id":"newer"}}`)); err != nil {
			return err
		}
		return b.Put([]byte("broken"), []byte(`{"schemaVersion":1,"listener":{"id":"broken","transport":"TRANSPORT_TELEPATHY"}}`))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	d, _, logs := runDaemon(t, dir)
	if got := rest(t, d, "GET", "/v1/listeners/good", ""); str(got.body, "status", "state") != "STATE_RUNNING" {
		t.Fatalf("good: %s", got.raw)
	}
	for id, why := range map[string]string{"newer": "newer sockplane", "broken": "TRANSPORT_TELEPATHY"} {
		got := rest(t, d, "GET", "/v1/listeners/"+id, "")
		if got.status != 200 || str(got.body, "status", "state") != "STATE_FAILED" || !strings.Contains(str(got.body, "status", "error"), why) {
			t.Fatalf("%s: %d %s; want failed saying %q", id, got.status, got.raw, why)
		}
		if r := rest(t, d, "POST", "/v1/listeners/"+id+":start", "{}"); r.status != 400 {
			t.Fatalf("start of an unreadable listener: %d %s", r.status, r.raw)
		}
		if !strings.Contains(logs.String(), "id="+id) {
			t.Fatalf("the log does not name %s:\n%s", id, logs)
		}
	}
}

// TestVersion0StoreRestores: the daemon starts on a data directory of
// the first release and serves its listeners as they were.
func TestVersion0StoreRestores(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile(filepath.Join("..", "..", "registry", "boltstore", "testdata", "v0.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, boltstore.FileName), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	d, _, logs := runDaemon(t, dir, "echo", "uname")
	list := rest(t, d, "GET", "/v1/listeners", "")
	listeners, _ := list.body["listeners"].([]any)
	states := map[string]string{}
	for _, l := range listeners {
		m := l.(map[string]any)
		states[str(m, "id")] = str(m, "status", "state")
	}
	want := map[string]string{"cmd": "STATE_RUNNING", "echo-tcp": "STATE_RUNNING", "stopped-unix": "STATE_STOPPED", "upper-udp": "STATE_RUNNING"}
	if len(states) != len(want) {
		t.Fatalf("listeners %v, want %v", states, want)
	}
	for id, state := range want {
		if states[id] != state {
			t.Fatalf("%s is %s, want %s", id, states[id], state)
		}
	}
	echo := rest(t, d, "GET", "/v1/listeners/echo-tcp", "")
	if limits, _ := echo.body["limits"].(map[string]any); limits["maxConnections"] != 7.0 || limits["idleTimeout"] != "0s" {
		t.Fatalf("echo-tcp limits: %s", echo.raw)
	}
	if reply, err := roundTrip(t, "tcp", str(echo.body, "status", "boundAddress"), "from v0"); err != nil || reply != "from v0" {
		t.Fatalf("echo-tcp: %q, %v", reply, err)
	}
	if !strings.Contains(logs.String(), "store migrated") {
		t.Fatalf("the migration is not logged:\n%s", logs)
	}
}
