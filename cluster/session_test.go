package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/poll"
)

// A node name held by a live session cannot be joined again; once that
// session closes, it can.
func TestNodeNameTaken(t *testing.T) {
	c := etcdtest.New(t, 1)
	a := newStore(c.Client(t))
	b := newStore(c.Client(t))
	ctx := ctxT(t)

	first := join(t, a, "node-a", 5*time.Second)
	if _, err := b.Join(ctx, NodeInfo{Name: "node-a"}, 5*time.Second); !errors.Is(err, ErrNodeNameTaken) {
		t.Fatalf("second join: %v, want ErrNodeNameTaken", err)
	}
	nodes, _, err := b.Nodes(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %+v, %v", nodes, err)
	}
	n := nodes[0].Value
	if n.Name != "node-a" || n.GRPCAddress != "127.0.0.1:7000" || n.Version != "test" || n.StartedAt.IsZero() || n.Unreadable != nil {
		t.Fatalf("node: %+v", n)
	}
	// The refused join left no lease behind holding anything.
	if lease, ok := keyLease(t, c.Client(t), a.NodeKey("node-a")); !ok || lease != first.Lease() {
		t.Fatalf("node key under lease %x (%v), want %x", lease, ok, first.Lease())
	}

	if err := first.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := first.PublishStatus(ctx, "x", Status{State: "STATE_RUNNING"}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("publish after close: %v, want ErrSessionClosed", err)
	}
	if _, ok := keyLease(t, c.Client(t), a.NodeKey("node-a")); ok {
		t.Fatal("the node key outlived Close")
	}
	second := join(t, b, "node-a", 5*time.Second)
	if second.Lease() == first.Lease() {
		t.Fatal("the second session reuses the first one's lease")
	}
}

// Statuses go under the session's lease; RemoveStatus deletes them; a
// status under another node's lease is that node's.
func TestPublishAndRemoveStatus(t *testing.T) {
	c := etcdtest.New(t, 1)
	cli := c.Client(t)
	s := newStore(cli)
	ctx := ctxT(t)
	sess := join(t, s, "node-a", 5*time.Second)
	other := join(t, newStore(c.Client(t)), "node-b", 5*time.Second)
	statuses := s.WatchStatuses(context.Background(), nil)
	t.Cleanup(statuses.Close)

	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Status{State: "STATE_RUNNING", BoundAddress: "127.0.0.1:4000", ObservedGeneration: 3, Since: since}
	if err := sess.PublishStatus(ctx, "web", want); err != nil {
		t.Fatal(err)
	}
	want.Node = "node-a"
	if lease, ok := keyLease(t, cli, s.StatusKey("web")); !ok || lease != sess.Lease() {
		t.Fatalf("status under lease %x (%v), want %x", lease, ok, sess.Lease())
	}
	resp, err := cli.Get(ctx, s.StatusKey("web"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &raw); err != nil || raw["node"] != "node-a" || raw["state"] != "STATE_RUNNING" ||
		raw["boundAddress"] != "127.0.0.1:4000" || raw["observedGeneration"] != 3.0 || raw["since"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("stored status %s (%v)", resp.Kvs[0].Value, err)
	}
	poll.Until(t, "the status informer has web", func() bool {
		e, ok := statuses.Get("web")
		got, w := e.Value, want
		same := got.Since.Equal(w.Since)
		got.Since, w.Since = time.Time{}, time.Time{}
		return ok && same && got == w
	})
	if err := other.PublishStatus(ctx, "web", Status{State: "STATE_FAILED"}); !errors.Is(err, ErrStatusOwned) {
		t.Fatalf("publish over another node's status: %v, want ErrStatusOwned", err)
	}
	if len(other.Statuses()) != 0 {
		t.Fatalf("the refused status is kept: %v", other.Statuses())
	}
	if err := sess.RemoveStatus(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the status informer loses web", func() bool { _, ok := statuses.Get("web"); return !ok })
	if len(sess.Statuses()) != 0 {
		t.Fatalf("statuses kept after remove: %v", sess.Statuses())
	}
}

// A session whose lease is revoked behind its back gets a new one and
// writes its node key and statuses again, within a bound.
func TestLeaseRevokedRecovers(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	admin := c.Client(t)
	ctx := ctxT(t)
	const ttl = 3 * time.Second
	sess := join(t, s, "node-a", ttl)
	for _, id := range []string{"one", "two"} {
		if err := sess.PublishStatus(ctx, id, Status{State: "STATE_RUNNING"}); err != nil {
			t.Fatal(err)
		}
	}
	old := sess.Lease()
	revoked := time.Now()
	if _, err := admin.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	keys := []string{s.NodeKey("node-a"), s.StatusKey("one"), s.StatusKey("two")}
	poll.Until(t, "the node and status keys under a new lease", func() bool {
		if sess.Recoveries() != 1 {
			return false
		}
		for _, k := range keys {
			lease, ok := keyLease(t, admin, k)
			if !ok || lease == old || lease != sess.Lease() {
				return false
			}
		}
		return true
	})
	// The keepalive sends every TTL/3, and the first answer after the
	// revoke ends it.
	if took := time.Since(revoked); took > ttl {
		t.Fatalf("recovered in %v, more than the TTL %v", took, ttl)
	}
	// The new lease is kept alive: it outlives its TTL.
	ttlResp, err := admin.TimeToLive(ctx, sess.Lease())
	if err != nil || ttlResp.TTL <= 0 {
		t.Fatalf("new lease: %+v, %v", ttlResp, err)
	}
	select {
	case <-sess.Done():
		t.Fatalf("the session ended: %v", sess.Err())
	default:
	}
}

// A publish that meets a lease already gone (the keepalive has not
// noticed yet) succeeds: the recovery it starts writes the status.
func TestPublishOnLostLease(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	admin := c.Client(t)
	ctx := ctxT(t)
	sess := join(t, s, "node-a", 30*time.Second) // the keepalive would notice in 10 s
	old := sess.Lease()
	if _, err := admin.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := sess.PublishStatus(ctx, "late", Status{State: "STATE_RUNNING"}); err != nil {
		t.Fatalf("publish on a revoked lease: %v", err)
	}
	poll.Until(t, "the status written under the new lease", func() bool {
		lease, ok := keyLease(t, admin, s.StatusKey("late"))
		return ok && lease != old && lease == sess.Lease()
	})
}

// A node whose lease is taken over by another node of the same name
// while it was lost ends its session.
func TestRecoveryFindsNameTaken(t *testing.T) {
	c := etcdtest.New(t, 1)
	cli, link := c.ClientWithLink(t)
	s := newStore(cli)
	admin := c.Client(t)
	ctx := ctxT(t)
	sess := join(t, s, "node-a", 30*time.Second)
	old := sess.Lease()
	// Revoke it and let an impostor join while the session cannot see
	// etcd, so that it cannot recover first.
	link.Cut()
	if _, err := admin.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	join(t, newStore(admin), "node-a", 30*time.Second)
	link.Restore()
	if err := sess.PublishStatus(ctx, "x", Status{}); err != nil && !errors.Is(err, ErrUnavailable) { // kicks the recovery
		t.Fatal(err)
	}
	select {
	case <-sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	if !errors.Is(sess.Err(), ErrNodeNameTaken) {
		t.Fatalf("session error %v, want ErrNodeNameTaken", sess.Err())
	}
}

// Keys under a lease that is no longer kept alive — its session
// abandoned, or its client killed — vanish when the lease expires.
func TestStatusExpiresWithLease(t *testing.T) {
	c := etcdtest.New(t, 1)
	admin := newStore(c.Client(t))
	const ttl = 2 * time.Second
	ctx := ctxT(t)

	abandoned := join(t, newStore(c.Client(t)), "node-a", ttl)
	doomedCli := c.Client(t)
	killed := join(t, newStore(doomedCli), "node-b", ttl)
	for id, sess := range map[string]*Session{"of-a": abandoned, "of-b": killed} {
		if err := sess.PublishStatus(ctx, id, Status{State: "STATE_RUNNING"}); err != nil {
			t.Fatal(err)
		}
	}
	statuses := admin.WatchStatuses(context.Background(), nil)
	t.Cleanup(statuses.Close)
	nodes := admin.WatchNodes(context.Background(), nil)
	t.Cleanup(nodes.Close)
	poll.Until(t, "both statuses and nodes seen", func() bool { return statuses.Len() == 2 && nodes.Len() == 2 })

	gone := time.Now()
	abandoned.Abandon()
	doomedCli.Close()
	poll.Until(t, "the statuses and nodes of the dead sessions gone", func() bool { return statuses.Len() == 0 && nodes.Len() == 0 })
	// etcd's lease expiry is checked every 500 ms, and a lease kept alive
	// lives up to one TTL after its last renewal.
	if took := time.Since(gone); took < ttl/3 || took > ttl+2*time.Second {
		t.Fatalf("the keys went %v after the keepalives stopped, want about the TTL %v", took, ttl)
	}
	// Closing an abandoned session does nothing; the killed client's
	// session has ended on its own.
	if err := abandoned.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session of a closed client did not end")
	}
}

// A node cut off from etcd for longer than its TTL loses its lease (etcd
// runs on and expires it); back in touch, the session grants a new one
// and writes its keys again, without being told.
func TestLeaseExpiredWhileCutOff(t *testing.T) {
	c := etcdtest.New(t, 1)
	cli, link := c.ClientWithLink(t)
	s := newStore(cli)
	admin := c.Client(t)
	ctx := ctxT(t)
	sess := join(t, s, "node-a", 2*time.Second)
	if err := sess.PublishStatus(ctx, "web", Status{State: "STATE_RUNNING"}); err != nil {
		t.Fatal(err)
	}
	old := sess.Lease()
	link.Cut()
	poll.Until(t, "the old lease expired", func() bool {
		resp, err := admin.TimeToLive(ctx, old)
		return err == nil && resp.TTL == -1
	})
	if _, ok := keyLease(t, admin, s.StatusKey("web")); ok {
		t.Fatal("the status outlived its lease")
	}
	// Cut off, the session cannot publish: the call fails within the call
	// timeout, and the status is still kept for the rewrite.
	start := time.Now()
	if err := sess.PublishStatus(ctx, "api", Status{State: "STATE_RUNNING"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish while cut off: %v, want ErrUnavailable", err)
	} else if took := time.Since(start); took > testCallTimeout+time.Second {
		t.Fatalf("publish while cut off failed after %v", took)
	}
	// The session noticed, and its recovery fails while cut off: it retries.
	poll.Until(t, "a recovery attempt failed", func() bool { return errors.Is(sess.LastError(), ErrUnavailable) })
	link.Restore()
	poll.Until(t, "the keys written under a new lease", func() bool {
		if sess.Recoveries() != 1 {
			return false
		}
		for _, k := range []string{s.NodeKey("node-a"), s.StatusKey("web"), s.StatusKey("api")} {
			if lease, ok := keyLease(t, admin, k); !ok || lease == old || lease != sess.Lease() {
				return false
			}
		}
		return true
	})
}
