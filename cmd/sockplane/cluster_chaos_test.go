package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/registry"
)

// TestClusterCompactionGap: while a node is cut off from etcd, a
// listener of its is created and another deleted, and the history of
// both is compacted away; when it reconnects it relists and converges:
// the one created serves, the one deleted stops.
func TestClusterCompactionGap(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	link := etcd.NewLink(t)
	a := startNodeOn(t, link.Endpoints(), "a")
	doomed := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"doomed","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	doomedAddr := str(doomed.body, "status", "boundAddress")
	if doomed.status != http.StatusOK || doomedAddr == "" {
		t.Fatalf("create: %d %s", doomed.status, doomed.raw)
	}

	link.Cut()
	store := cluster.NewStore(etcd.Client(t), cluster.DefaultPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	born := registry.Record{Spec: registry.Spec{ID: "born", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Node: "a"},
		Running: true, Generation: 1, CreateTime: time.Now().UTC()}
	if _, err := store.Create(ctx, born); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, "doomed", 0); err != nil {
		t.Fatal(err)
	}
	_, rev, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	etcd.Compact(t, rev)
	link.Restore()

	poll.Until(t, "a serves the listener created in the gap", func() bool {
		info, err := a.reg.Get("born")
		return err == nil && info.State == registry.StateRunning
	})
	poll.Until(t, "a stops the listener deleted in the gap", func() bool {
		_, err := a.reg.Get("doomed")
		return err != nil
	})
	// The entry leaves the registry before its listener stops: wait for
	// the port too.
	poll.Until(t, "the deleted listener's port to close", func() bool {
		c, err := net.DialTimeout("tcp", doomedAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	poll.Until(t, "a's API shows it running", func() bool { return state(t, a.daemon, "born") == "STATE_RUNNING" })
	addr := str(rest(t, a.daemon, "GET", "/v1/listeners/born", "").body, "status", "boundAddress")
	if got, err := roundTrip(t, "tcp", addr, "gap"); err != nil || got != "gap" {
		t.Fatalf("echo of the listener made in the gap: %q, %v", got, err)
	}
}

// TestClusterChurn: 100 listeners created through random nodes, with
// node b killed and restarted once in the middle: at the end every
// acknowledged listener exists and serves, on exactly one node.
func TestClusterChurn(t *testing.T) {
	etcd := etcdtest.New(t, 3)
	nodes := map[string]*node{"a": startNode(t, etcd, "a"), "b": startNode(t, etcd, "b"), "c": startNode(t, etcd, "c")}
	names := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(1, 2))
	var acked []string
	bDown := false
	for i := range 100 {
		switch i {
		case 40:
			nodes["b"].kill(t)
			bDown = true
		case 60:
			// Its name is free once its lease has expired.
			poll.Within(t, clusterLease+5*time.Second, "b's lease expires", func() bool { return !nodeAlive(t, nodes["a"].daemon, "b") })
			nodes["b"] = startNode(t, etcd, "b")
			bDown = false
		}
		via := names[rng.IntN(len(names))]
		if via == "b" && bDown {
			via = "a"
		}
		id := fmt.Sprintf("churn-%03d", i)
		r := rest(t, nodes[via].daemon, "POST", "/v1/listeners", fmt.Sprintf(`{"id":%q,"transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`, id))
		if r.status == http.StatusOK {
			acked = append(acked, id)
		} else {
			t.Logf("create %s through %s: %d %s", id, via, r.status, r.raw)
		}
	}
	if len(acked) < 90 {
		t.Fatalf("only %d of 100 creates acknowledged", len(acked))
	}
	a := nodes["a"].daemon
	for _, id := range acked {
		poll.Until(t, id+" runs", func() bool { return state(t, a, id) == "STATE_RUNNING" })
		addr := str(rest(t, a, "GET", "/v1/listeners/"+id, "").body, "status", "boundAddress")
		if got, err := roundTrip(t, "tcp", addr, id); err != nil || got != id {
			t.Fatalf("%s at %s: %q, %v", id, addr, got, err)
		}
		servedBy := 0
		for _, n := range nodes {
			if _, err := n.reg.Get(id); err == nil {
				servedBy++
			}
		}
		if servedBy != 1 {
			t.Fatalf("%s is served by %d nodes", id, servedBy)
		}
	}
	listed := rest(t, a, "GET", "/v1/listeners?pageSize=1000", "")
	if got := len(listed.body["listeners"].([]any)); got != len(acked) {
		t.Fatalf("%d listeners listed, %d acknowledged", got, len(acked))
	}
}

// nodeAlive reports whether d's ListNodes shows node name alive.
func nodeAlive(t *testing.T, d *daemon, name string) bool {
	t.Helper()
	r := rest(t, d, "GET", "/v1/nodes", "")
	nodes, _ := r.body["nodes"].([]any)
	for _, n := range nodes {
		if m := n.(map[string]any); m["name"] == name {
			return m["alive"] == true
		}
	}
	return false
}
