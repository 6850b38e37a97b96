package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// raw reads the stored bytes of every key.
func raw(t *testing.T, s *Store) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func put(t *testing.T, s *Store, key, value string) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), []byte(value)) }); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoadDelete(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	full := registry.Record{Running: true, LastBound: "127.0.0.1:4000", Spec: registry.Spec{
		ID: "full", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerExec,
		Framing: registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingLengthPrefixed, ByteOrder: wire.BigEndian},
		Exec:    registry.ExecSpec{Allow: []string{"echo"}, Timeout: 2 * time.Second, MaxOutputBytes: 100, MaxConcurrent: 2, WorkingDir: "/tmp"},
		Capture: registry.CaptureSpec{MaxFrames: 10, MaxBytesPerFrame: 20},
		Limits: registry.LimitsSpec{MaxConnections: 5, MaxHeaderBytes: 6, MaxBodyBytes: 7, HeaderTimeout: time.Second,
			IdleTimeout: registry.NoTimeout, AllowLargerDatagramReplies: true},
	}}
	// A spec as asked: every default left to be filled in.
	sparse := registry.Record{Spec: registry.Spec{ID: "sparse", Transport: registry.TransportUnixgram, Address: "/tmp/x.sock", UnixMode: 0o660}}
	for _, rec := range []registry.Record{full, sparse} {
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
	if len(got) != 2 || !reflect.DeepEqual(got[0], full) || !reflect.DeepEqual(got[1], sparse) {
		t.Fatalf("loaded %+v\nwant %+v and %+v", got, full, sparse)
	}
	if v := raw(t, s)["sparse"]; !strings.HasPrefix(v, `{"schemaVersion":1,`) || strings.Contains(v, "limits") {
		t.Fatalf("stored %s: want schema version 1 with the defaults absent", v)
	}
	sparse.Running = true
	if err := s.Save(sparse); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("full"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Load()
	if len(got) != 1 || got[0].Spec.ID != "sparse" || !got[0].Running {
		t.Fatalf("after update and delete: %+v", got)
	}
}

// TestConcurrentSavesShareCommits: saves that arrive while a commit runs
// go out together in the next one, and every one of them is durable when
// it returns.
func TestConcurrentSavesShareCommits(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Save(registry.Record{Spec: registry.Spec{ID: fmt.Sprintf("l-%02d", i), Transport: registry.TransportTCP, Address: "127.0.0.1:0"}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	commits := s.commits.Load()
	if commits >= n {
		t.Fatalf("%d saves took %d commits: none was shared", n, commits)
	}
	t.Logf("%d concurrent saves in %d commits", n, commits)
	_ = s.Close()
	if got, _ := open(t, dir).Load(); len(got) != n {
		t.Fatalf("%d records after reopening, want %d", len(got), n)
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

// TestUnreadableRecordsAreKept: a record of a newer schema and one that
// decodes as nothing this sockplane knows do not stop a restore: each
// listener shows failed with the reason, cannot be started or stopped
// (which would overwrite it), stays in the file byte for byte, and the
// others run. Deleting one removes it.
func TestUnreadableRecordsAreKept(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Save(registry.Record{Running: true, Spec: registry.Spec{ID: "good", Transport: registry.TransportTCP, Address: "127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	newer := `{"schemaVersion":2,"listener":{"id":"newer","transport":"TRANSPORT_QUIC"},"running":true}`
	garbage := `{"spec":{"id":"garbage"},"surprise":1}`
	put(t, s, "newer", newer)
	put(t, s, "garbage", garbage)
	_ = s.Close()

	s = open(t, dir) // opening migrates nothing it cannot read
	r := registry.New(quiet, registry.Policy{}, s)
	t.Cleanup(func() { _ = r.Close() })
	restored, failed, err := r.Restore(t.Context())
	if err != nil || restored != 3 || failed != 2 {
		t.Fatalf("Restore = %d, %d, %v; want 3 restored, 2 failed", restored, failed, err)
	}
	if info, _ := r.Get("good"); info.State != registry.StateRunning {
		t.Fatalf("good: %+v", info)
	}
	for id, want := range map[string]string{"newer": "newer sockplane", "garbage": "surprise"} {
		info, err := r.Get(id)
		if err != nil || info.State != registry.StateFailed || !strings.Contains(info.Error, want) {
			t.Fatalf("%s: %+v, %v; want failed saying %q", id, info, err, want)
		}
		if _, err := r.Start(t.Context(), id, ""); !errors.Is(err, registry.ErrUnreadable) {
			t.Fatalf("Start %s = %v, want ErrUnreadable", id, err)
		}
		if _, err := r.Stop(t.Context(), id, registry.StopOptions{}); !errors.Is(err, registry.ErrUnreadable) {
			t.Fatalf("Stop %s = %v, want ErrUnreadable", id, err)
		}
	}
	if got := raw(t, s); got["newer"] != newer || got["garbage"] != garbage {
		t.Fatalf("unreadable records changed: %q, %q", got["newer"], got["garbage"])
	}
	if err := r.Delete(t.Context(), "garbage", registry.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw(t, s)["garbage"]; ok {
		t.Fatal("a deleted unreadable record is still stored")
	}
}

// TestRegistryRestores: listeners come back with their ids, running or
// stopped as they were; one whose address is taken comes back failed,
// saying why, and the others start.
func TestRegistryRestores(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()
	r := registry.New(quiet, registry.Policy{}, s)
	running, err := r.Create(ctx, registry.Spec{ID: "running", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper}, registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, registry.Spec{ID: "stopped", Transport: registry.TransportUDP, Address: "127.0.0.1:0"}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(ctx, "stopped", registry.StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	fixed := probe.Addr().String()
	_ = probe.Close()
	if _, err := r.Create(ctx, registry.Spec{ID: "fixed", Transport: registry.TransportTCP, Address: fixed}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, registry.Spec{ID: "gone", Transport: registry.TransportTCP, Address: "127.0.0.1:0"}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "gone", registry.StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	squatter, err := net.Listen("tcp", fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()

	s = open(t, dir)
	r = registry.New(quiet, registry.Policy{}, s)
	t.Cleanup(func() { _ = r.Close() })
	restored, failed, err := r.Restore(ctx)
	if err != nil || restored != 3 || failed != 1 {
		t.Fatalf("Restore = %d, %d, %v; want 3 restored, 1 failed", restored, failed, err)
	}
	got := map[string]registry.Info{}
	for _, info := range r.List(nil) {
		got[info.Spec.ID] = info
	}
	if info := got["running"]; info.State != registry.StateRunning || info.BoundAddr != running.BoundAddr || info.Spec.Handler != registry.HandlerUpper {
		t.Fatalf("running: %+v, want running on %s again", info, running.BoundAddr)
	}
	if got["stopped"].State != registry.StateStopped {
		t.Fatalf("stopped: %+v", got["stopped"])
	}
	if info := got["fixed"]; info.State != registry.StateFailed || !strings.Contains(info.Error, "address already in use") {
		t.Fatalf("fixed: %+v, want failed with the reason", info)
	}
	if _, ok := got["gone"]; ok {
		t.Fatal("a deleted listener came back")
	}
	if _, err := r.Create(ctx, registry.Spec{ID: "running", Transport: registry.TransportTCP, Address: "127.0.0.1:0"}, registry.CreateOptions{}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("a restored id is free again: %v", err)
	}
}

// TestVersion0Fixture restores testdata/v0.db, a store written by the
// first release (commit 6860273) through its REST API: four listeners,
// one stopped. Opening it migrates every record to the current schema,
// after keeping a copy of the file; each listener comes back with its
// spec, its state and its limits.
func TestVersion0Fixture(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile(filepath.Join("testdata", "v0.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	if s.Migrated() != 4 {
		t.Fatalf("migrated %d records, want 4", s.Migrated())
	}
	if backup, err := os.ReadFile(s.Path() + backupSuffix); err != nil || len(backup) == 0 {
		t.Fatalf("no copy of the version-0 file: %v", err)
	}
	for id, v := range raw(t, s) {
		if _, current := specpb.DecodeRecord(id, []byte(v)); !current {
			t.Fatalf("%s is still %s", id, v)
		}
	}

	r := registry.New(quiet, registry.Policy{ExecAllow: []string{"echo", "uname"}}, s)
	t.Cleanup(func() { _ = r.Close() })
	restored, failed, err := r.Restore(t.Context())
	if err != nil || restored != 4 || failed != 0 {
		t.Fatalf("Restore = %d, %d, %v; want 4 restored, none failed", restored, failed, err)
	}
	want := map[string]struct {
		state registry.State
		spec  registry.Spec
	}{
		"echo-tcp": {registry.StateRunning, registry.Spec{ID: "echo-tcp", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerEcho,
			Framing: registry.FramingSpec{Request: wire.FramingJSONHeader, Response: wire.FramingJSONHeader, ByteOrder: wire.LittleEndian},
			Limits:  registry.LimitsSpec{MaxConnections: 7, MaxHeaderBytes: 16384, MaxBodyBytes: 65536, HeaderTimeout: 3 * time.Second, IdleTimeout: registry.NoTimeout}}},
		"upper-udp": {registry.StateRunning, registry.Spec{ID: "upper-udp", Transport: registry.TransportUDP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper,
			Framing: registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingRaw, ByteOrder: wire.LittleEndian},
			Limits: registry.LimitsSpec{MaxConnections: 1024, MaxHeaderBytes: 16384, MaxBodyBytes: 4 << 20, HeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute,
				AllowLargerDatagramReplies: true}}},
		"stopped-unix": {registry.StateStopped, registry.Spec{ID: "stopped-unix", Transport: registry.TransportUnix, Address: "/tmp/v0-fixture.sock", UnixMode: 0o660,
			Handler: registry.HandlerRecord, Framing: registry.FramingSpec{Request: wire.FramingLengthPrefixed, Response: wire.FramingLengthPrefixed, ByteOrder: wire.BigEndian},
			Capture: registry.CaptureSpec{MaxFrames: 16, MaxBytesPerFrame: 100},
			Limits:  registry.LimitsSpec{MaxConnections: 1024, MaxHeaderBytes: 16384, MaxBodyBytes: 4 << 20, HeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}}},
		"cmd": {registry.StateRunning, registry.Spec{ID: "cmd", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerExec,
			Framing: registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingJSONHeader, ByteOrder: wire.LittleEndian},
			Exec:    registry.ExecSpec{Allow: []string{"echo", "uname"}, Timeout: 2 * time.Second, MaxOutputBytes: 1000, MaxConcurrent: 2},
			Limits:  registry.LimitsSpec{MaxConnections: 1024, MaxHeaderBytes: 16384, MaxBodyBytes: 4 << 20, HeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}}},
	}
	infos := r.List(nil)
	if len(infos) != len(want) {
		t.Fatalf("%d listeners, want %d", len(infos), len(want))
	}
	for _, info := range infos {
		w := want[info.Spec.ID]
		if info.State != w.state || !reflect.DeepEqual(info.Spec, w.spec) {
			t.Errorf("%s: %v %+v\nwant %v %+v", info.Spec.ID, info.State, info.Spec, w.state, w.spec)
		}
	}
	// The echo listener serves, with its limit of 7 connections.
	info, _ := r.Get("echo-tcp")
	conn, err := net.Dial("tcp", info.BoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var codec wire.Codec
	frame, _ := codec.AppendFrame(nil, []byte("hi"))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, len(frame))
	if _, err := io.ReadFull(conn, reply); err != nil || !bytes.Equal(reply, frame) {
		t.Fatalf("echo: %q, %v", reply, err)
	}

}

// TestFileOpensWithDefaultOptions: a file written without a synced
// freelist (NoFreelistSync) opens under bbolt's default options, as an
// older sockplane opens it, and comes back to Open with every record.
func TestFileOpensWithDefaultOptions(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Save(registry.Record{Spec: registry.Spec{ID: id, Transport: registry.TransportTCP, Address: "127.0.0.1:0"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("b"); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	_ = s.Close()

	d, err := specpb.EncodeRecord(registry.Record{Spec: registry.Spec{ID: "d", Transport: registry.TransportTCP, Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucket).Put([]byte("d"), d)
	})
	_ = db.Close()
	if err != nil || !reflect.DeepEqual(keys, []string{"a", "c"}) {
		t.Fatalf("with default options: keys %v, %v; want [a c]", keys, err)
	}

	s = open(t, dir)
	got, err := s.Load()
	if err != nil || len(got) != 3 {
		t.Fatalf("reopened: %d records, %v; want 3", len(got), err)
	}
}
