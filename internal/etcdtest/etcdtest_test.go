package etcdtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

// put and get wait up to 20 s: a new cluster elects its leader first,
// and on a loaded machine (CI runs every package's tests at once) that
// can take seconds. A put that meets an election (the leader was just
// stopped: etcd answers "request timed out" or "leader changed") is
// tried again, as a put is idempotent.
func put(t *testing.T, cli *clientv3.Client, key, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		resp, err := cli.Put(ctx, key, value)
		if err == nil {
			return resp.Header.Revision
		}
		if ctx.Err() != nil || !electing(err) {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

// electing tells the errors of a cluster choosing a new leader.
func electing(err error) bool {
	for _, e := range []error{rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeoutDueToConnectionLost} {
		if errors.Is(err, e) || err.Error() == e.Error() {
			return true
		}
	}
	return false
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// A single member keeps its data across a hard stop and a restart on the
// same endpoint, and a compaction removes old revisions.
func TestSingleMemberStopRestartCompact(t *testing.T) {
	c := New(t, 1)
	cli := c.Client(t)
	rev := put(t, cli, "k", "v1")
	put(t, cli, "k", "v2")

	c.Stop(0)
	if c.Running(0) {
		t.Fatal("member 0 runs after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := cli.Put(ctx, "k", "v3")
	cancel()
	if err == nil {
		t.Fatal("a put succeeded with the only member stopped")
	}

	c.Restart(0)
	if got := get(t, cli, "k"); got != "v2" {
		t.Fatalf("after restart, k = %q, want v2", got)
	}
	c.Compact(t, rev+1)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "k", clientv3.WithRev(rev)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at compacted revision %d: %v, want ErrCompacted", rev, err)
	}
}

// Three members keep a quorum with one stopped, lose it with two, and
// regain it when one of them restarts.
func TestThreeMembersQuorum(t *testing.T) {
	c := New(t, 3)
	if c.Size() != 3 || len(c.Endpoints()) != 3 {
		t.Fatalf("size %d, endpoints %v", c.Size(), c.Endpoints())
	}
	cli := c.Client(t)
	put(t, cli, "a", "1")
	c.Stop(0)
	put(t, cli, "a", "2")
	c.Stop(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := cli.Put(ctx, "a", "3")
	cancel()
	if err == nil {
		t.Fatal("a put succeeded without a quorum")
	}
	c.Restart(0, 1)
	put(t, cli, "a", "4")
	if got := get(t, cli, "a"); got != "4" {
		t.Fatalf("a = %q, want 4", got)
	}
}

// A cut link fails that client's calls while another client goes on,
// and a restored one lets it reconnect.
func TestLink(t *testing.T) {
	c := New(t, 1)
	cli, link := c.ClientWithLink(t)
	other := c.Client(t)
	put(t, cli, "x", "1")
	link.Cut()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := cli.Get(ctx, "x")
	cancel()
	if err == nil {
		t.Fatal("a get succeeded over a cut link")
	}
	put(t, other, "x", "2")
	link.Restore()
	if got := get(t, cli, "x"); got != "2" {
		t.Fatalf("x = %q, want 2", got)
	}
}
