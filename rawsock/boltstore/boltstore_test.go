package boltstore

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/sockplane/sockplane/rawsock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSaveLoadDelete(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	full := rawsock.Record{Running: true, LastBound: "127.0.0.1:4000", Spec: rawsock.Spec{
		ID: "full", Transport: rawsock.TransportTCP, Address: "127.0.0.1:0", Handler: rawsock.HandlerExec,
		Framing: rawsock.FramingSpec{Request: rawsock.FramingRaw, Response: rawsock.FramingLengthPrefixed, ByteOrder: rawsock.BigEndian},
		Exec:    rawsock.ExecSpec{Allow: []string{"echo"}, Timeout: 2 * time.Second, MaxOutputBytes: 100, MaxConcurrent: 2, WorkingDir: "/tmp"},
		Capture: rawsock.CaptureSpec{MaxFrames: 10, MaxBytesPerFrame: 20},
		Limits: rawsock.LimitsSpec{MaxConnections: 5, MaxHeaderBytes: 6, MaxBodyBytes: 7, HeaderTimeout: time.Second,
			IdleTimeout: rawsock.NoTimeout, AllowLargerDatagramReplies: true},
	}}
	unix := rawsock.Record{Spec: rawsock.Spec{ID: "unix", Transport: rawsock.TransportUnixgram, Address: "/tmp/x.sock", UnixMode: 0o660,
		Framing: rawsock.FramingSpec{Request: rawsock.FramingJSONHeader, Response: rawsock.FramingJSONHeader, ByteOrder: rawsock.LittleEndian}}}
	for _, rec := range []rawsock.Record{full, unix} {
		if err := s.Save(rec); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()

	s = open(t, dir)
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], full) || !reflect.DeepEqual(got[1], unix) {
		t.Fatalf("loaded %+v\nwant %+v and %+v", got, full, unix)
	}
	unix.Running = true
	if err := s.Save(unix); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("full"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Load()
	if len(got) != 1 || got[0].Spec.ID != "unix" || !got[0].Running {
		t.Fatalf("after update and delete: %+v", got)
	}
}

// TestCorruptStoreIsAnError: a damaged or foreign file is a clear error,
// never an empty state.
func TestCorruptStoreIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("Open of a corrupt file: %v, want an error naming it", err)
	}
}

func TestUndecodableRecordIsAnError(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Save(rawsock.Record{Spec: rawsock.Spec{ID: "x", Transport: rawsock.TransportTCP, Address: ":0"}}); err == nil {
		t.Fatal("a spec with zero framings saved: they cannot be encoded")
	}
	// Write a record by hand that no sockplane wrote.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte("bad"), []byte(`{"spec":{"id":"bad"},"surprise":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Load = %v, want an error naming the record", err)
	}
}

func TestLockedStoreIsAnError(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	start := time.Now()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second Open: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("the second Open waited too long")
	}
}

// TestRegistryRestores: listeners come back with their ids, running or
// stopped as they were; one whose address is taken comes back failed,
// saying why, and the others start.
func TestRegistryRestores(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	s := open(t, dir)
	r := rawsock.NewRegistry(quiet, rawsock.WithStore(s))
	running, err := r.Create(rawsock.Spec{ID: "running", Transport: rawsock.TransportTCP, Address: "127.0.0.1:0", Handler: rawsock.HandlerUpper})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(rawsock.Spec{ID: "stopped", Transport: rawsock.TransportUDP, Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop("stopped", rawsock.StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	fixed := probe.Addr().String()
	_ = probe.Close()
	if _, err := r.Create(rawsock.Spec{ID: "fixed", Transport: rawsock.TransportTCP, Address: fixed}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(rawsock.Spec{ID: "gone", Transport: rawsock.TransportTCP, Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete("gone", rawsock.StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	squatter, err := net.Listen("tcp", fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()

	s = open(t, dir)
	r = rawsock.NewRegistry(quiet, rawsock.WithStore(s))
	t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
	restored, failed, err := r.Restore()
	if err != nil || restored != 3 || failed != 1 {
		t.Fatalf("Restore = %d, %d, %v; want 3 restored, 1 failed", restored, failed, err)
	}
	got := map[string]rawsock.Info{}
	for _, info := range r.List() {
		got[info.Spec.ID] = info
	}
	if info := got["running"]; info.State != rawsock.StateRunning || info.BoundAddr != running.BoundAddr || info.Spec.Handler != rawsock.HandlerUpper {
		t.Fatalf("running: %+v, want running on %s again", info, running.BoundAddr)
	}
	if got["stopped"].State != rawsock.StateStopped {
		t.Fatalf("stopped: %+v", got["stopped"])
	}
	if info := got["fixed"]; info.State != rawsock.StateFailed || !strings.Contains(info.Error, "address already in use") {
		t.Fatalf("fixed: %+v, want failed with the reason", info)
	}
	if _, ok := got["gone"]; ok {
		t.Fatal("a deleted listener came back")
	}
	if _, err := r.Create(rawsock.Spec{ID: "running", Transport: rawsock.TransportTCP, Address: "127.0.0.1:0"}); !errors.Is(err, rawsock.ErrExists) {
		t.Fatalf("a restored id is free again: %v", err)
	}
}
