package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/registry"
)

// The informer delivers the first list, then every create, update and
// delete, in order.
func TestInformerOrder(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	ctx := ctxT(t)
	if _, err := s.Create(ctx, record("before")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder[registry.Record]{}
	in := watchListeners(t, s, rec)
	if in.Len() != 1 || in.Revision() == 0 {
		t.Fatalf("after sync: %d keys at revision %d", in.Len(), in.Revision())
	}

	revA, err := s.Create(ctx, record("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, record("b")); err != nil {
		t.Fatal(err)
	}
	a := record("a")
	a.Generation = 2
	revA2, err := s.Update(ctx, a, revA)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "before", 0); err != nil {
		t.Fatal(err)
	}
	want := []string{"upsert before", "upsert a", "upsert b", "upsert a", "delete b", "delete before"}
	poll.Until(t, "every change delivered", func() bool { return len(rec.got()) >= len(want) })
	if got := rec.got(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	e, ok := in.Get("a")
	if !ok || e.ModRevision != revA2 || e.Value.Generation != 2 || ids(in.List()) != "[a]" {
		t.Fatalf("cache: %+v %v, list %s", e, ok, ids(in.List()))
	}
	if in.Revision() < revA2 {
		t.Fatalf("revision %d, behind %d", in.Revision(), revA2)
	}
	// Progress notifications keep a quiet watch fresh.
	poll.Until(t, "the informer fresh", func() bool { return !in.Stale() })
	if in.Relists() != 0 {
		t.Fatalf("%d relists without a compaction", in.Relists())
	}
}

// An informer cut off from etcd while its history is compacted relists
// on its return and delivers what it missed: a listener created in the
// gap, and one deleted in it.
func TestInformerRelistsAfterCompaction(t *testing.T) {
	c := etcdtest.New(t, 1)
	writer := newStore(c.Client(t))
	cli, link := c.ClientWithLink(t)
	s := newStore(cli)
	ctx := ctxT(t)
	for _, id := range []string{"kept", "doomed"} {
		if _, err := writer.Create(ctx, record(id)); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder[registry.Record]{}
	in := watchListeners(t, s, rec)
	poll.Until(t, "both listeners seen", func() bool { return in.Len() == 2 })
	seen := in.Revision()

	link.Cut()
	poll.Until(t, "the informer stale", in.Stale)
	created, err := writer.Create(ctx, record("born"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "doomed", 0); err != nil {
		t.Fatal(err)
	}
	// A listener created and deleted in the gap is never seen.
	if _, err := writer.Create(ctx, record("ghost")); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "ghost", 0); err != nil {
		t.Fatal(err)
	}
	last, err := writer.Create(ctx, record("last"))
	if err != nil {
		t.Fatal(err)
	}
	c.Compact(t, last)
	if in.Revision() != seen || in.Len() != 2 {
		t.Fatalf("the informer moved while cut off: revision %d, %s", in.Revision(), ids(in.List()))
	}
	link.Restore()

	poll.Until(t, "the informer relisted", func() bool { return in.Relists() == 1 })
	poll.Until(t, "the informer converged", func() bool { return ids(in.List()) == "[born,kept,last]" })
	if e, _ := in.Get("born"); e.ModRevision != created {
		t.Fatalf("born at %d, want %d", e.ModRevision, created)
	}
	if in.Revision() < last {
		t.Fatalf("revision %d, behind %d", in.Revision(), last)
	}
	want := []string{"upsert kept", "upsert doomed", "delete doomed", "upsert born", "upsert last"}
	if got := rec.got(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// And it watches again.
	if _, err := writer.Create(ctx, record("after")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "a create after the relist", func() bool { _, ok := in.Get("after"); return ok })
	poll.Until(t, "the informer fresh", func() bool { return !in.Stale() })
}

// A handler that blocks holds the informer back, and nothing is lost:
// the changes made meanwhile come after it returns, in order.
func TestInformerBlockedHandler(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	ctx := ctxT(t)
	release := make(chan struct{})
	rec := &recorder[registry.Record]{}
	h := HandlerFuncs[registry.Record]{
		Upsert: func(id string, v registry.Record, rev int64) {
			rec.OnUpsert(id, v, rev)
			if id == "first" {
				<-release
			}
		},
		Delete: rec.OnDelete,
	}
	in := watchListeners(t, s, h)
	if _, err := s.Create(ctx, record("first")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the handler blocked", func() bool { return rec.has("upsert first") })
	for _, id := range []string{"second", "third"} {
		if _, err := s.Create(ctx, record(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "second", 0); err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); !slices.Equal(got, []string{"upsert first"}) {
		t.Fatalf("events while blocked: %v", got)
	}
	close(release)
	want := []string{"upsert first", "upsert second", "upsert third", "delete second"}
	poll.Until(t, "the changes delivered", func() bool { return len(rec.got()) == len(want) })
	if got := rec.got(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if ids(in.List()) != "[first,third]" {
		t.Fatalf("cache %s", ids(in.List()))
	}
}

// Close stops the informer's goroutine; so do the end of its context
// and the close of its client.
func TestInformerStops(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	ctx, cancel := context.WithCancel(context.Background())
	in := s.WatchNodes(ctx, nil)
	<-in.Synced()
	cancel()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the informer outlived its context")
	}
	in.Close()
	if !in.Stale() {
		t.Fatal("a stopped informer is not stale")
	}

	cli := c.Client(t)
	orphan := newStore(cli).WatchListeners(context.Background(), nil)
	t.Cleanup(orphan.Close)
	<-orphan.Synced()
	cli.Close()
	select {
	case <-orphan.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the informer outlived its client")
	}
}

// With three members: one stopped, writes go on; two stopped, writes fail
// with ErrUnavailable within the call timeout, the informer keeps its
// state and says it is stale, and the session waits; both restarted,
// the same store, informer and session work again.
func TestThreeMembersOutage(t *testing.T) {
	c := etcdtest.New(t, 3)
	s := newStore(c.Client(t))
	ctx := ctxT(t)
	rec := &recorder[registry.Record]{}
	in := watchListeners(t, s, rec)
	sess := join(t, s, "node-a", 10*time.Second)
	if _, err := s.Create(ctx, record("one")); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	c.Stop(0)
	t.Logf("%v: stopped 0", time.Since(t0))
	// The member may have been the leader: a write during the election
	// that follows fails with ErrUnavailable (etcd: "request timed out,
	// possibly due to previous leader failure"), and one may have been
	// applied unseen, so a retried create may find its own record.
	untilElected := func(what string, write func(retry bool) error) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for retry := false; ; retry = true {
			err := write(retry)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("%s with one member stopped: %v", what, err)
			}
		}
	}
	untilElected("create", func(retry bool) error {
		_, err := s.Create(ctx, record("two"))
		if retry && errors.Is(err, registry.ErrExists) {
			return nil
		}
		return err
	})
	untilElected("publish", func(bool) error { return sess.PublishStatus(ctx, "two", Status{State: "STATE_RUNNING"}) })
	poll.Until(t, "the informer has two", func() bool { return in.Len() == 2 })

	t.Logf("%v: wrote with 0 stopped", time.Since(t0))
	c.Stop(1)
	t.Logf("%v: stopped 1", time.Since(t0))
	// Every kind of write fails, each within the call timeout.
	start := time.Now()
	writes := map[string]func() error{
		"create": func() error { _, err := s.Create(ctx, record("three")); return err },
		"update": func() error { _, err := s.Update(ctx, record("one"), 0); return err },
		"delete": func() error { return s.Delete(ctx, "one", 0) },
	}
	errs := make(chan error, len(writes))
	for what, write := range writes {
		go func() {
			err := write()
			if took := time.Since(start); err != nil && took > testCallTimeout+time.Second {
				err = fmt.Errorf("%s failed after %v, call timeout %v: %w", what, took, testCallTimeout, err)
			} else if !errors.Is(err, ErrUnavailable) {
				err = fmt.Errorf("%s without a quorum: %v, want ErrUnavailable", what, err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	for range writes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	poll.Until(t, "the informer stale", in.Stale)
	if ids(in.List()) != "[one,two]" {
		t.Fatalf("the informer lost its state: %s", ids(in.List()))
	}

	t.Logf("%v: stale seen", time.Since(t0))
	c.Restart(0, 1)
	t.Logf("%v: restarted", time.Since(t0))
	poll.Until(t, "a create after the restart", func() bool {
		_, err := s.Create(ctx, record("three"))
		return err == nil || errors.Is(err, registry.ErrExists) // an earlier try may have landed
	})
	t.Logf("%v: wrote after restart", time.Since(t0))
	poll.Until(t, "the informer has three", func() bool { _, ok := in.Get("three"); return ok })
	poll.Until(t, "the informer fresh", func() bool { return !in.Stale() })
	t.Logf("%v: informer fresh", time.Since(t0))
	if got := rec.got(); !slices.Equal(got, []string{"upsert one", "upsert two", "upsert three"}) {
		t.Fatalf("events %v", got)
	}
	// The session is still the node, under its lease or a new one.
	poll.Until(t, "the node key and status present", func() bool {
		nl, nok := keyLease(t, s.Client(), s.NodeKey("node-a"))
		sl, sok := keyLease(t, s.Client(), s.StatusKey("two"))
		return nok && sok && nl == sess.Lease() && sl == sess.Lease()
	})
	t.Logf("%v: keys present", time.Since(t0))
	select {
	case <-sess.Done():
		t.Fatalf("the session ended: %v", sess.Err())
	default:
	}
}
