package registry

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// TestApply: a record the registry does not have is adopted (on its last
// bound port while free), a changed spec is updated in place without
// closing a connection, Running stops and starts it, and the record's
// generation and create time become the listener's.
func TestApply(t *testing.T) {
	r := newTestRegistry(t, Policy{Node: "n1"})
	ctx := context.Background()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	last := free.Addr().String()
	free.Close()
	created := time.Now().UTC()
	rec := Record{Spec: Spec{ID: "a1", Transport: TransportTCP, Address: "127.0.0.1:0", Node: "n1"},
		Running: true, LastBound: last, Generation: 3, CreateTime: created}
	info, err := r.Apply(ctx, rec)
	if err != nil || info.State != StateRunning || info.BoundAddr != last {
		t.Fatalf("adopt: %+v, %v; want running on %s", info, err, last)
	}
	if info.Generation != 3 || info.ObservedGeneration != 3 || info.Etag != Etag(created, 3) {
		t.Fatalf("adopt: generation %d/%d etag %s", info.Generation, info.ObservedGeneration, info.Etag)
	}

	c := dial(t, last)
	rec.Spec.Handler, rec.Generation = HandlerUpper, 4
	if info, err = r.Apply(ctx, rec); err != nil || info.Spec.Handler != HandlerUpper || info.ObservedGeneration != 4 {
		t.Fatalf("update: %+v, %v", info, err)
	}
	c.write(mustFrame(t, "kept"))
	if got := string(c.recv().Body); got != "KEPT" {
		t.Fatalf("the open connection after the update got %q", got)
	}

	rec.Running, rec.Generation = false, 5
	if info, err = r.Apply(ctx, rec); err != nil || info.State != StateStopped {
		t.Fatalf("stop: %+v, %v", info, err)
	}
	rec.Running, rec.Generation = true, 6
	if info, err = r.Apply(ctx, rec); err != nil || info.State != StateRunning || info.BoundAddr != last {
		t.Fatalf("start: %+v, %v", info, err)
	}
	if again, err := r.Apply(ctx, rec); err != nil || again.BoundAddr != last || again.Generation != 6 {
		t.Fatalf("the same record again: %+v, %v", again, err)
	}
}

// TestApplyFailures: a record another node serves is refused naming the
// field, and one that cannot bind stays registered, failed, with the
// reason: it is still the desired state.
func TestApplyFailures(t *testing.T) {
	r := newTestRegistry(t, Policy{Node: "n1"})
	ctx := context.Background()
	rec := Record{Spec: Spec{ID: "elsewhere", Transport: TransportTCP, Address: "127.0.0.1:0", Node: "n2"}, Running: true, Generation: 1}
	_, err := r.Apply(ctx, rec)
	var fe *rawsock.FieldError
	if !errors.As(err, &fe) || fe.Field != "node" {
		t.Fatalf("a record of another node: %v", err)
	}
	if _, err := r.Get("elsewhere"); err == nil {
		t.Fatal("a record of another node was adopted")
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	rec = Record{Spec: Spec{ID: "clash", Transport: TransportTCP, Address: taken.Addr().String(), Node: "n1"}, Running: true, Generation: 1}
	info, err := r.Apply(ctx, rec)
	if !errors.Is(err, rawsock.ErrAddrInUse) || info.State != StateFailed || info.Error == "" {
		t.Fatalf("a taken port: %+v, %v", info, err)
	}
	if got, err := r.Get("clash"); err != nil || got.State != StateFailed {
		t.Fatalf("the failed listener: %+v, %v", got, err)
	}
	taken.Close()
	rec.Generation = 2
	if info, err := r.Apply(ctx, rec); err != nil || info.State != StateRunning {
		t.Fatalf("once the port is free: %+v, %v", info, err)
	}
}
