package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// memStore is a Store in memory whose Save can be held at a gate, to
// show what waits on a save and what does not.
type memStore struct {
	mu      sync.Mutex
	recs    map[string]Record
	gate    chan struct{} // when set, Save waits for it to close
	waiting chan string   // when set, Save sends its id here before waiting
}

func newMemStore() *memStore { return &memStore{recs: map[string]Record{}} }

func (m *memStore) Save(rec Record) error {
	m.mu.Lock()
	gate, waiting := m.gate, m.waiting
	m.mu.Unlock()
	if waiting != nil {
		waiting <- rec.Spec.ID
	}
	if gate != nil {
		<-gate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[rec.Spec.ID] = rec
	return nil
}

func (m *memStore) Delete(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, id)
	return nil
}

func (m *memStore) Load() ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := make([]Record, 0, len(m.recs))
	for _, r := range m.recs {
		recs = append(recs, r)
	}
	return recs, nil
}

func tcpSpec(id string) Spec { return Spec{ID: id, Transport: TransportTCP, Address: "127.0.0.1:0"} }

// TestEveryChangeAfterShutdownIsRefused: as net/http's Server after
// Shutdown, the registry answers a sentinel to every change, Start
// included, and binds nothing nobody would own.
func TestEveryChangeAfterShutdownIsRefused(t *testing.T) {
	r := New(slog.New(slog.DiscardHandler), Policy{}, nil)
	info, err := r.Create(t.Context(), tcpSpec("a"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(t.Context(), "a", StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Create": func() error { _, err := r.Create(t.Context(), tcpSpec("b"), CreateOptions{}); return err },
		"Start":  func() error { _, err := r.Start(t.Context(), "a", ""); return err },
		"Stop":   func() error { _, err := r.Stop(t.Context(), "a", StopOptions{}); return err },
		"Delete": func() error { return r.Delete(t.Context(), "a", StopOptions{}) },
	} {
		if err := call(); !errors.Is(err, ErrShuttingDown) {
			t.Errorf("%s after Shutdown = %v, want ErrShuttingDown", name, err)
		}
	}
	if conn, err := net.Dial("tcp", info.BoundAddr); err == nil {
		conn.Close()
		t.Fatal("a listener serves after Shutdown")
	}
}

// TestDrainIsBoundedByTheCallersContext: a graceful stop of a listener
// holding a frame that never completes ends when the caller's context
// does, long before its drain timeout, and the connection is cut.
func TestDrainIsBoundedByTheCallersContext(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), tcpSpec("slow"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, info.BoundAddr)
	c.write([]byte{16, 0}) // the start of a frame
	waitFor(t, "the partial frame", func() bool { s, _ := r.Get("slow"); return s.Stats.BytesIn == 2 })

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Stop(ctx, "slow", StopOptions{DrainTimeout: 50 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 3*time.Second {
		t.Fatalf("stop took %v, want about the caller's 200ms", took)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("the connection outlived the stop")
	}
}

func TestDrainTimeoutIsBounded(t *testing.T) {
	r := newTestRegistry(t)
	if _, err := r.Create(t.Context(), tcpSpec("a"), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{-time.Second, MaxDrainTimeout + time.Second} {
		var fe *rawsock.FieldError
		if _, err := r.Stop(t.Context(), "a", StopOptions{DrainTimeout: d}); !errors.As(err, &fe) || fe.Field != "drainTimeout" {
			t.Errorf("Stop with drain %v = %v, want a FieldError on drainTimeout", d, err)
		}
		if err := r.Delete(t.Context(), "a", StopOptions{DrainTimeout: d}); !errors.As(err, &fe) || fe.Field != "drainTimeout" {
			t.Errorf("Delete with drain %v = %v, want a FieldError on drainTimeout", d, err)
		}
	}
	if info, _ := r.Get("a"); info.State != StateRunning {
		t.Fatalf("a refused stop changed the listener: %+v", info)
	}
}

// TestShutdownCutsInFlightDrains: Shutdown's deadline ends a Stop that
// is draining on a context of its own, and Shutdown returns at its
// deadline, saying it was cut short.
func TestShutdownCutsInFlightDrains(t *testing.T) {
	r := New(slog.New(slog.DiscardHandler), Policy{}, nil)
	info, err := r.Create(t.Context(), tcpSpec("slow"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, info.BoundAddr)
	c.write([]byte{16, 0})
	waitFor(t, "the partial frame", func() bool { s, _ := r.Get("slow"); return s.Stats.BytesIn == 2 })
	stopped := make(chan error, 1)
	go func() {
		_, err := r.Stop(context.Background(), "slow", StopOptions{DrainTimeout: 50 * time.Second})
		stopped <- err
	}()
	waitFor(t, "the port to close", func() bool {
		probe, err := net.Dial("tcp", info.BoundAddr)
		if err == nil {
			probe.Close()
		}
		return err != nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want its deadline", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Shutdown took %v past a 200ms deadline", took)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("the cut Stop = %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the in-flight drain outlived Shutdown's deadline")
	}
}

// TestNoRegistryLockAcrossSaves: while a create waits on its save, the
// registry serves Get and List of the others, a create of another id goes
// ahead, the pending id is not visible yet and cannot be taken twice.
func TestNoRegistryLockAcrossSaves(t *testing.T) {
	st := newMemStore()
	r := New(slog.New(slog.DiscardHandler), Policy{}, st)
	t.Cleanup(func() { _ = r.Close() })
	if _, err := r.Create(t.Context(), tcpSpec("ready"), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	waiting := make(chan string, 1)
	st.mu.Lock()
	st.gate, st.waiting = gate, waiting
	st.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := r.Create(context.Background(), tcpSpec("slow"), CreateOptions{}); done <- err }()
	if id := <-waiting; id != "slow" {
		t.Fatalf("saving %q", id)
	}

	if info, err := r.Get("ready"); err != nil || info.State != StateRunning {
		t.Fatalf("Get during a save = %+v, %v", info, err)
	}
	if list := r.List(nil); len(list) != 1 || list[0].Spec.ID != "ready" {
		t.Fatalf("List during a save = %+v; want only the finished listener", list)
	}
	if _, err := r.Get("slow"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of the listener being created = %v, want ErrNotFound until it is saved", err)
	}
	if _, err := r.Create(t.Context(), tcpSpec("slow"), CreateOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create of a reserved id = %v, want ErrExists", err)
	}
	st.mu.Lock()
	st.gate, st.waiting = nil, nil
	st.mu.Unlock()
	if _, err := r.Create(t.Context(), tcpSpec("other"), CreateOptions{}); err != nil {
		t.Fatalf("Create of another id during a save: %v", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if info, err := r.Get("slow"); err != nil || info.State != StateRunning {
		t.Fatalf("after its save: %+v, %v", info, err)
	}
}

// TestOperationsOnOneListenerWaitOnlyForTheirContext: a call on a
// listener another operation holds waits for it, and gives up when its
// context ends.
func TestOperationsOnOneListenerWaitOnlyForTheirContext(t *testing.T) {
	st := newMemStore()
	r := New(slog.New(slog.DiscardHandler), Policy{}, st)
	t.Cleanup(func() { _ = r.Close() })
	if _, err := r.Create(t.Context(), tcpSpec("a"), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	waiting := make(chan string, 1)
	st.mu.Lock()
	st.gate, st.waiting = gate, waiting
	st.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := r.Stop(context.Background(), "a", StopOptions{}); done <- err }()
	<-waiting
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Start(ctx, "a", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start while Stop holds the listener = %v, want the caller's deadline", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRestoreNarrowsExecToThePolicy: the daemon's allow list bounds a
// stored exec listener whichever policy it was created under. Narrowed,
// it runs only what is still allowed; with exec off it is failed and
// cannot be started; with exec back on it starts.
func TestRestoreNarrowsExecToThePolicy(t *testing.T) {
	need(t, "echo", "uname")
	st := newMemStore()
	wide := New(slog.New(slog.DiscardHandler), Policy{ExecAllow: []string{"echo", "uname"}}, st)
	spec := Spec{ID: "cmd", Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec,
		Framing: FramingSpec{Request: wire.FramingRaw}, Exec: ExecSpec{Allow: []string{"echo", "uname"}}}
	if _, err := wide.Create(t.Context(), spec, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wide.Close(); err != nil {
		t.Fatal(err)
	}

	narrow := New(slog.New(slog.DiscardHandler), Policy{ExecAllow: []string{"echo"}}, st)
	if restored, failed, err := narrow.Restore(t.Context()); err != nil || restored != 1 || failed != 0 {
		t.Fatalf("Restore = %d, %d, %v", restored, failed, err)
	}
	info, _ := narrow.Get("cmd")
	if info.State != StateRunning || strings.Join(info.Spec.Exec.Allow, ",") != "echo" {
		t.Fatalf("narrowed: %v allow %v, want running with only echo", info.State, info.Spec.Exec.Allow)
	}
	c := dial(t, info.BoundAddr)
	c.write([]byte("uname -s"))
	if f := c.recv(); !strings.Contains(string(f.Body), "uname: not allowed") {
		t.Fatalf("uname under a policy without it answered %q", f.Body)
	}
	c.write([]byte("echo still here"))
	if f := c.recv(); string(f.Body) != "still here\n" {
		t.Fatalf("echo answered %q", f.Body)
	}
	if err := narrow.Close(); err != nil {
		t.Fatal(err)
	}

	off := New(slog.New(slog.DiscardHandler), Policy{}, st)
	if restored, failed, err := off.Restore(t.Context()); err != nil || restored != 1 || failed != 1 {
		t.Fatalf("Restore with exec off = %d, %d, %v; want it failed", restored, failed, err)
	}
	if info, _ := off.Get("cmd"); info.State != StateFailed || !strings.Contains(info.Error, "exec handler is off") {
		t.Fatalf("with exec off: %+v", info)
	}
	if _, err := off.Start(t.Context(), "cmd", ""); !errors.Is(err, ErrExecDisabled) {
		t.Fatalf("Start with exec off = %v, want ErrExecDisabled", err)
	}
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}

	unrelated := New(slog.New(slog.DiscardHandler), Policy{ExecAllow: []string{"date"}}, st)
	t.Cleanup(func() { _ = unrelated.Close() })
	if _, failed, _ := unrelated.Restore(t.Context()); failed != 1 {
		t.Fatal("a listener none of whose programs is allowed was restored running")
	}
	if _, err := unrelated.Start(t.Context(), "cmd", ""); !errors.Is(err, ErrExecNotAllowed) {
		t.Fatalf("Start with none of its programs allowed = %v, want ErrExecNotAllowed", err)
	}
	if got := st.recs["cmd"].Spec.Exec.Allow; fmt.Sprint(got) != "[echo uname]" {
		t.Fatalf("the stored spec was narrowed: %v; the policy bounds it, it is not rewritten", got)
	}
}

// TestRestoreHonoursTheBoundOnListeners: restored under a smaller
// MaxListeners, the listeners past the bound are kept and shown but do
// not run, and cannot start until enough are deleted.
func TestRestoreHonoursTheBoundOnListeners(t *testing.T) {
	st := newMemStore()
	wide := New(slog.New(slog.DiscardHandler), Policy{}, st)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := wide.Create(t.Context(), tcpSpec(id), CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := wide.Close(); err != nil {
		t.Fatal(err)
	}
	r := New(slog.New(slog.DiscardHandler), Policy{MaxListeners: 2}, st)
	t.Cleanup(func() { _ = r.Close() })
	if restored, failed, err := r.Restore(t.Context()); err != nil || restored != 3 || failed != 1 {
		t.Fatalf("Restore = %d, %d, %v; want 3 restored, 1 failed", restored, failed, err)
	}
	if info, _ := r.Get("c"); info.State != StateFailed || !strings.Contains(info.Error, "allows 2") {
		t.Fatalf("c, past the bound: %+v", info)
	}
	if _, err := r.Start(t.Context(), "c", ""); !errors.Is(err, ErrTooManyListeners) {
		t.Fatalf("Start past the bound = %v, want ErrTooManyListeners", err)
	}
	if err := r.Delete(t.Context(), "a", StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	if info, err := r.Start(t.Context(), "c", ""); err != nil || info.State != StateRunning {
		t.Fatalf("Start once within the bound = %+v, %v", info, err)
	}
}
