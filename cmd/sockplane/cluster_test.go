package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
)

// clusterLease is the nodes' lease in these tests: short, so that a dead
// node is noticed within seconds.
const clusterLease = 2 * time.Second

// node is one in-process daemon of a test cluster.
type node struct {
	*daemon
	name   string
	cancel context.CancelFunc
	served chan error
}

// startNode runs a daemon in cluster mode on etcd as node name. The test
// ends it (if it still runs) at cleanup, as a signal would.
func startNode(t *testing.T, etcd *etcdtest.Cluster, name string, edits ...func(*options)) *node {
	t.Helper()
	return startNodeOn(t, etcd.Endpoints(), name, edits...)
}

// startNodeOn is startNode on the given etcd endpoints (a Link's).
func startNodeOn(t *testing.T, endpoints []string, name string, edits ...func(*options)) *node {
	t.Helper()
	opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", shutdownTimeout: 5 * time.Second,
		maxListeners: 1000}
	opts.cluster = clusterOptions{etcdEndpoints: endpoints, etcdPrefix: cluster.DefaultPrefix, node: name, leaseTTL: clusterLease}
	for _, edit := range edits {
		edit(&opts)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := newDaemon(opts, logger)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{daemon: d, name: name, cancel: cancel, served: make(chan error, 1)}
	go func() { n.served <- d.serve(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop shuts the node down, as a signal does; a second stop does nothing.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.served:
		if err != nil {
			t.Errorf("node %s: serve: %v", n.name, err)
		}
	case <-time.After(testTimeout):
		t.Errorf("node %s did not shut down", n.name)
	}
}

// kill ends the node as a dead host would: its keys stay in etcd until
// its lease expires, and its listeners stop.
func (n *node) kill(t *testing.T) {
	t.Helper()
	n.agent.Abandon()
	n.stop(t)
}

func state(t *testing.T, d *daemon, id string) string {
	t.Helper()
	return str(rest(t, d, "GET", "/v1/listeners/"+id, "").body, "status", "state")
}

// TestClusterPlacement: a listener created on node A for node B is
// served by B at the address A reports; A's update, stop, start and
// delete take effect on B; A's per-connection calls reach B's
// connections; ListNodes shows both.
func TestClusterPlacement(t *testing.T) {
	etcd := etcdtest.New(t, 3)
	a := startNode(t, etcd, "a")
	b := startNode(t, etcd, "b")

	created := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"on-b","node":"b","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if created.status != http.StatusOK || str(created.body, "status", "state") != "STATE_RUNNING" {
		t.Fatalf("create on a for b: %d %s", created.status, created.raw)
	}
	addr := str(created.body, "status", "boundAddress")
	if str(created.body, "node") != "b" || addr == "" {
		t.Fatalf("create: node %q, bound %q: %s", str(created.body, "node"), addr, created.raw)
	}
	if info, err := b.reg.Get("on-b"); err != nil || info.BoundAddr != addr {
		t.Fatalf("b's registry: %+v, %v; a reported %s", info, err, addr)
	}
	if _, err := a.reg.Get("on-b"); err == nil {
		t.Fatal("a serves b's listener too")
	}
	if got, err := roundTrip(t, "tcp", addr, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo at %s: %q, %v", addr, got, err)
	}
	// b reads its listeners from its informers, which see b's own status
	// write when etcd's watch delivers it: a moment after a's create
	// returned, not necessarily before.
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := str(rest(t, b.daemon, "GET", "/v1/listeners/on-b", "").body, "status", "boundAddress")
		if got == addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's GET: bound %q, a's %q", got, addr)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation: the loop checks the condition
	}

	upd := rest(t, a.daemon, "PATCH", "/v1/listeners/on-b", `{"handler":"HANDLER_UPPER"}`)
	if upd.status != http.StatusOK || str(upd.body, "handler") != "HANDLER_UPPER" {
		t.Fatalf("update from a: %d %s", upd.status, upd.raw)
	}
	if got, err := roundTrip(t, "tcp", addr, "hello"); err != nil || got != "HELLO" {
		t.Fatalf("after the update: %q, %v", got, err)
	}

	// A connection on b, seen and written to through a.
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var conns []any
	poll.Until(t, "a lists b's connection", func() bool {
		r := rest(t, a.daemon, "GET", "/v1/listeners/on-b/connections", "")
		conns, _ = r.body["connections"].([]any)
		return r.status == http.StatusOK && len(conns) == 1
	})
	connID := conns[0].(map[string]any)["id"].(string)
	if got := rest(t, a.daemon, "GET", "/v1/listeners/on-b", ""); str(got.body, "status", "stats", "connectionsActive") != "1" {
		t.Fatalf("a's GET of b's listener does not count b's connection: %s", got.raw)
	}
	sent := rest(t, a.daemon, "POST", "/v1/listeners/on-b/connections/"+connID+":send", `{"body":"`+b64("from a")+`"}`)
	if sent.status != http.StatusOK {
		t.Fatalf("send through a: %d %s", sent.status, sent.raw)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	var codec wire.Codec
	body, err := codec.ReadFrame(bufio.NewReader(conn))
	if err != nil || string(body.Body) != "from a" {
		t.Fatalf("the client got %q, %v", body.Body, err)
	}

	stopped := rest(t, a.daemon, "POST", "/v1/listeners/on-b:stop", `{}`)
	if stopped.status != http.StatusOK || str(stopped.body, "status", "state") != "STATE_STOPPED" {
		t.Fatalf("stop from a: %d %s", stopped.status, stopped.raw)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepts after the stop", addr)
	}
	started := rest(t, a.daemon, "POST", "/v1/listeners/on-b:start", `{}`)
	if started.status != http.StatusOK || str(started.body, "status", "boundAddress") != addr {
		t.Fatalf("start from a: %d %s (was at %s)", started.status, started.raw, addr)
	}
	if got, err := roundTrip(t, "tcp", addr, "again"); err != nil || got != "AGAIN" {
		t.Fatalf("after the start: %q, %v", got, err)
	}

	nodes := rest(t, b.daemon, "GET", "/v1/nodes", "")
	if nodes.status != http.StatusOK || !strings.Contains(nodes.raw, `"name":"a"`) || !strings.Contains(nodes.raw, `"name":"b"`) {
		t.Fatalf("nodes: %d %s", nodes.status, nodes.raw)
	}

	if del := rest(t, a.daemon, "DELETE", "/v1/listeners/on-b", ""); del.status != http.StatusOK {
		t.Fatalf("delete from a: %d %s", del.status, del.raw)
	}
	if _, err := b.reg.Get("on-b"); err == nil {
		t.Fatal("b still has the listener after the delete answered")
	}
	if r := rest(t, b.daemon, "GET", "/v1/listeners/on-b", ""); r.status != http.StatusNotFound {
		t.Fatalf("b's GET after the delete: %d %s", r.status, r.raw)
	}
}

// TestClusterBindErrorComesBack: a create whose owner cannot bind fails
// as a local create does, and leaves no listener.
func TestClusterBindErrorComesBack(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a")
	startNode(t, etcd, "b")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := rest(t, a.daemon, "POST", "/v1/listeners", fmt.Sprintf(`{"id":"clash","node":"b","transport":"TRANSPORT_TCP","address":%q}`, taken.Addr().String()))
	if r.status != http.StatusConflict || !strings.Contains(r.raw, "node b") {
		t.Fatalf("create on a taken port: %d %s", r.status, r.raw)
	}
	if g := rest(t, a.daemon, "GET", "/v1/listeners/clash", ""); g.status != http.StatusNotFound {
		t.Fatalf("the failed listener stayed: %d %s", g.status, g.raw)
	}
	bad := rest(t, a.daemon, "POST", "/v1/listeners", `{"node":"B!","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.raw, "listener.node") {
		t.Fatalf("a bad node name: %d %s", bad.status, bad.raw)
	}
}

// TestClusterNodeDeath: a node killed hard leaves its listeners
// STATE_UNKNOWN on the others within its lease TTL + 2 s; restarted, it
// serves them again on their old ports.
func TestClusterNodeDeath(t *testing.T) {
	etcd := etcdtest.New(t, 3)
	a := startNode(t, etcd, "a")
	b := startNode(t, etcd, "b")
	created := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"survivor","node":"b","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	addr := str(created.body, "status", "boundAddress")
	if created.status != http.StatusOK || addr == "" {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	killed := time.Now()
	b.kill(t)
	last := ""
	deadline := time.Now().Add(clusterLease + 2*time.Second)
	for last = state(t, a.daemon, "survivor"); last != "STATE_UNKNOWN"; last = state(t, a.daemon, "survivor") {
		if time.Now().After(deadline) {
			t.Fatalf("a shows b's listener %s %v after the kill: %s; nodes %s", last, time.Since(killed),
				rest(t, a.daemon, "GET", "/v1/listeners/survivor", "").raw, rest(t, a.daemon, "GET", "/v1/nodes", "").raw)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
	t.Logf("STATE_UNKNOWN %v after the kill (lease %v)", time.Since(killed).Round(time.Millisecond), clusterLease)
	got := rest(t, a.daemon, "GET", "/v1/listeners/survivor", "")
	if str(got.body, "node") != "b" || str(got.body, "status", "unknownSince") == "" || !strings.Contains(str(got.body, "status", "message"), "node b") {
		t.Fatalf("unknown listener: %s", got.raw)
	}

	startNode(t, etcd, "b")
	poll.Until(t, "b serves its listener again", func() bool { return state(t, a.daemon, "survivor") == "STATE_RUNNING" })
	if now := str(rest(t, a.daemon, "GET", "/v1/listeners/survivor", "").body, "status", "boundAddress"); now != addr {
		t.Fatalf("restarted on %s, was %s", now, addr)
	}
	if got, err := roundTrip(t, "tcp", addr, "back"); err != nil || got != "back" {
		t.Fatalf("echo after the restart: %q, %v", got, err)
	}
}

// TestClusterEtcdOutage: with one etcd member of three down writes go
// on; with two down they answer UNAVAILABLE naming etcd while listeners
// serve; when the members come back writes work again, with no node
// restarted.
func TestClusterEtcdOutage(t *testing.T) {
	etcd := etcdtest.New(t, 3)
	a := startNode(t, etcd, "a")
	first := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"before","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	addr := str(first.body, "status", "boundAddress")
	if first.status != http.StatusOK || addr == "" {
		t.Fatalf("create: %d %s", first.status, first.raw)
	}
	etcd.Stop(2)
	if r := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"one-down","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`); r.status != http.StatusOK {
		t.Fatalf("create with one member down: %d %s", r.status, r.raw)
	}
	etcd.Stop(1)
	r := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"no-quorum","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.raw, "etcd") {
		t.Fatalf("create without quorum: %d %s", r.status, r.raw)
	}
	if got, err := roundTrip(t, "tcp", addr, "still"); err != nil || got != "still" {
		t.Fatalf("a listener without quorum: %q, %v", got, err)
	}
	if g := rest(t, a.daemon, "GET", "/v1/listeners/before", ""); g.status != http.StatusOK {
		t.Fatalf("a read without quorum: %d %s", g.status, g.raw)
	}
	stale := func() bool {
		g := rest(t, a.daemon, "GET", "/v1/listeners/before", "")
		st, _ := g.body["status"].(map[string]any)
		return g.status == http.StatusOK && st["stale"] == true
	}
	poll.Until(t, "reads marked stale without quorum", stale)
	etcd.Restart(1, 2)
	poll.Within(t, 20*time.Second, "writes work again", func() bool {
		return rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"after","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`).status == http.StatusOK
	})
	if s := state(t, a.daemon, "after"); s != "STATE_RUNNING" {
		t.Fatalf("after the outage: %s", s)
	}
	poll.Until(t, "reads fresh again", func() bool { return !stale() })
}

func b64(s string) string {
	out, _ := json.Marshal([]byte(s))
	return strings.Trim(string(out), `"`)
}

// TestClusterWatchEvents: a cluster watch on node A streams B's events
// too, each naming its node; a plain watch has A's only.
func TestClusterWatchEvents(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a")
	startNode(t, etcd, "b")
	// The watch forwards to the nodes alive when it opens: wait until a
	// has seen b join, or a slow informer leaves b out for good.
	poll.Until(t, "a sees b alive", func() bool { return nodeAlive(t, a.daemon, "b") })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a.httpAddr()+"/v1/events?cluster=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The watch on b opens after the reply's header: poll with creates
	// until b's event arrives.
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for i := 0; ; i++ {
		id := fmt.Sprintf("watched-%d", i)
		if r := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"`+id+`","node":"b","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`); r.status != http.StatusOK {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		deadline := time.After(500 * time.Millisecond)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("the event stream ended")
				}
				if strings.Contains(line, `"listenerId":"`+id+`"`) && strings.Contains(line, `"node":"b"`) && strings.Contains(line, "EVENT_TYPE_LISTENER_CREATED") {
					return
				}
			case <-deadline:
				break read
			case <-ctx.Done():
				t.Fatal("no event of b's listener on a's cluster watch")
			}
		}
	}
}

// TestClusterNodeNameTaken: a second daemon with a live node's name
// refuses to start, saying so, and binds nothing.
func TestClusterNodeNameTaken(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	startNode(t, etcd, "twin")
	opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", shutdownTimeout: 5 * time.Second}
	opts.cluster = clusterOptions{etcdEndpoints: etcd.Endpoints(), etcdPrefix: cluster.DefaultPrefix, node: "twin", leaseTTL: clusterLease}
	d, err := newDaemon(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		d.startDrain()
		_ = d.reg.Close()
		t.Fatal("a second daemon named twin started")
	}
	if !strings.Contains(err.Error(), "--node twin") || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("the refusal: %v", err)
	}
}

// TestClusterForwardsCredentials: a per-connection call through node A
// for B's listener reaches B with the caller's token (B checks it too),
// and one without a token is refused at A.
func TestClusterForwardsCredentials(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a", withToken)
	startNode(t, etcd, "b", withToken)
	c, base := httpClient(t, a.daemon, nil)
	auth := "Bearer " + testAuthToken
	created := wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", auth: auth, contentType: "application/json",
		body: `{"id":"guarded","node":"b","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`}, http.StatusOK)
	var l struct {
		Status struct{ BoundAddress string } `json:"status"`
	}
	if err := json.Unmarshal([]byte(created), &l); err != nil || l.Status.BoundAddress == "" {
		t.Fatalf("create: %v %s", err, created)
	}
	conn, err := net.DialTimeout("tcp", l.Status.BoundAddress, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	poll.Until(t, "b's connection listed through a with the token", func() bool {
		code, body, err := doHTTP(t, c, base, httpReq{method: "GET", path: "/v1/listeners/guarded/connections", auth: auth})
		return err == nil && code == http.StatusOK && strings.Contains(body, `"peerAddress"`)
	})
	wantHTTP(t, c, base, httpReq{method: "GET", path: "/v1/listeners/guarded/connections"}, http.StatusUnauthorized)
}

// TestClusterPendingAndUnknownOwner: a create for a node that is alive
// but does not act answers after the bound with the listener
// STATE_PENDING, saying which node; one for a node that is not alive
// answers at once, STATE_UNKNOWN. Both are desired state kept.
func TestClusterPendingAndUnknownOwner(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a")
	// A node that joins but serves nothing: a session with no agent.
	silent, err := cluster.NewStore(etcd.Client(t), cluster.DefaultPrefix).Join(context.Background(), cluster.NodeInfo{Name: "silent", GRPCAddress: "127.0.0.1:1"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close(context.Background()) })
	// a learns of the join through its watch of the nodes: a create sent
	// before it has would be answered as for a node that is not alive.
	poll.Until(t, "a sees silent alive", func() bool { return nodeAlive(t, a.daemon, "silent") })

	start := time.Now()
	r := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"waits","node":"silent","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	took := time.Since(start)
	if r.status != http.StatusOK || str(r.body, "status", "state") != "STATE_PENDING" || !strings.Contains(str(r.body, "status", "message"), "node silent has not acted") {
		t.Fatalf("create for a silent node: %d %s", r.status, r.raw)
	}
	if took < 4*time.Second || took > 8*time.Second {
		t.Fatalf("the pending create answered after %v, want about the 5s bound", took)
	}

	start = time.Now()
	r = rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"orphan","node":"nowhere","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if r.status != http.StatusOK || str(r.body, "status", "state") != "STATE_UNKNOWN" || time.Since(start) > time.Second {
		t.Fatalf("create for a node that is not alive: %d %s after %v", r.status, r.raw, time.Since(start))
	}
	for _, id := range []string{"waits", "orphan"} {
		if g := rest(t, a.daemon, "GET", "/v1/listeners/"+id, ""); g.status != http.StatusOK {
			t.Fatalf("%s is not kept: %d %s", id, g.status, g.raw)
		}
	}
}

// TestClusterTTL: a listener with a ttl, created on A for B, is deleted
// from the cluster by B when its time comes.
func TestClusterTTL(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a")
	b := startNode(t, etcd, "b")
	r := rest(t, a.daemon, "POST", "/v1/listeners", `{"id":"brief","node":"b","ttl":"1s","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`)
	if r.status != http.StatusOK || str(r.body, "expireTime") == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	poll.Until(t, "the listener expires everywhere", func() bool {
		_, onB := b.reg.Get("brief")
		return onB != nil && rest(t, a.daemon, "GET", "/v1/listeners/brief", "").status == http.StatusNotFound
	})
}

// TestClusterSockctlNodes: sockctl nodes, against any node, lists both.
func TestClusterSockctlNodes(t *testing.T) {
	etcd := etcdtest.New(t, 1)
	a := startNode(t, etcd, "a")
	b := startNode(t, etcd, "b")
	out, err := exec.Command(buildSockctl(t), "--server", a.grpcAddr(), "nodes").CombinedOutput()
	if err != nil {
		t.Fatalf("sockctl nodes: %v\n%s", err, out)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			rows[f[0]] = f[1] + " " + f[2]
		}
	}
	if rows["a"] != a.grpcAddr()+" yes" || rows["b"] != b.grpcAddr()+" yes" {
		t.Fatalf("sockctl nodes printed:\n%s", out)
	}
}
