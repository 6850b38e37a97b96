// Package etcdtest runs a real etcd cluster inside a test process, with
// go.etcd.io/etcd/server/v3/embed: one or three members on loopback
// ports, data in t.TempDir(), short heartbeat and election timeouts so
// that elections take a fraction of a second, and no logs unless
// ETCDTEST_LOG is set (then etcd logs errors to stderr).
//
// Clients reach each member through a small TCP forwarder that the
// cluster owns, so that Stop is hard — every client connection of the
// member is reset at once, as when its host dies, instead of etcd's
// graceful shutdown that waits seconds for open watch streams — and so
// that a single client can be cut off from etcd while the cluster runs
// on (ClientWithLink). Endpoints and ports stay the same across Stop and
// Restart.
//
// Everything a Cluster starts is closed at t.Cleanup.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Timing of the members: heartbeat and election timeout, in ms.
const (
	TickMs     = 50
	ElectionMs = 500
)

// ProgressNotifyInterval is how often the members send a progress
// notification on watches that asked for them (etcd's default is ten
// minutes).
const ProgressNotifyInterval = time.Second

// StartTimeout bounds a start or restart: members not ready by then fail
// the test.
const StartTimeout = 20 * time.Second

// bindAttempts is how many times a start picks new ports after one of
// them was taken between the pick and the bind.
const bindAttempts = 5

// Cluster is a running etcd cluster.
type Cluster struct {
	tb      testing.TB
	token   string
	initial string // the initial-cluster flag: every member's name=peer URL
	members []*member

	mu     sync.Mutex // the members' etcd fields
	closed bool
}

type member struct {
	name      string
	dir       string
	peerURL   url.URL // where peers reach it
	clientURL url.URL // where it serves clients; its front proxy forwards there
	front     *proxy  // what Endpoints names
	etcd      *embed.Etcd
}

// New starts a cluster of n members (1 or 3 are the sizes that make
// sense) and waits until every member is ready.
func New(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("etcdtest: %d members", n)
	}
	c := &Cluster{tb: tb, token: fmt.Sprintf("etcdtest-%d", time.Now().UnixNano())}
	tb.Cleanup(c.close)
	var err error
	for attempt := 1; attempt <= bindAttempts; attempt++ {
		if err = c.start(n); err == nil {
			return c
		}
		if !isAddrInUse(err) {
			break
		}
		c.stopAll()
	}
	tb.Fatalf("etcdtest: start %d members: %v", n, err)
	return nil
}

// start picks ports for n members and starts them all.
func (c *Cluster) start(n int) error {
	ports, err := FreePorts(2 * n)
	if err != nil {
		return err
	}
	for _, m := range c.members {
		m.front.close()
	}
	c.members = nil
	var initial []string
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			dir:       c.tb.TempDir(),
			peerURL:   url.URL{Scheme: "http", Host: ports[2*i]},
			clientURL: url.URL{Scheme: "http", Host: ports[2*i+1]},
		}
		if m.front, err = newProxy(m.clientURL.Host); err != nil {
			return err
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL.String())
	}
	c.initial = strings.Join(initial, ",")
	for _, m := range c.members {
		e, err := embed.StartEtcd(c.config(m))
		if err != nil {
			return fmt.Errorf("member %s: %w", m.name, err)
		}
		c.mu.Lock()
		m.etcd = e
		c.mu.Unlock()
	}
	return c.waitReady(c.members)
}

func (c *Cluster) config(m *member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenPeerUrls = []url.URL{m.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL}
	cfg.ListenClientUrls = []url.URL{m.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{{Scheme: "http", Host: m.front.addr()}}
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = c.token
	cfg.TickMs = TickMs
	cfg.ElectionMs = ElectionMs
	cfg.WatchProgressNotifyInterval = ProgressNotifyInterval
	cfg.EnableGRPCGateway = false
	cfg.UnsafeNoFsync = true // a test's data need not survive a power cut
	cfg.LogLevel = "error"
	lg := zap.NewNop()
	if os.Getenv("ETCDTEST_LOG") != "" {
		var err error
		zc := zap.NewProductionConfig()
		zc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
		if lg, err = zc.Build(); err != nil {
			lg = zap.NewNop()
		}
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg.With(zap.String("member", m.name)))
	return cfg
}

// waitReady waits until every member of ms is ready, or fails when one
// stops or StartTimeout passes.
func (c *Cluster) waitReady(ms []*member) error {
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	for _, m := range ms {
		c.mu.Lock()
		e := m.etcd
		c.mu.Unlock()
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			return fmt.Errorf("member %s failed: %w", m.name, err)
		case <-e.Server.StopNotify():
			return fmt.Errorf("member %s stopped while starting", m.name)
		case <-deadline.C:
			return fmt.Errorf("members not ready after %v", StartTimeout)
		}
	}
	return nil
}

// Size is the number of members, running or stopped.
func (c *Cluster) Size() int { return len(c.members) }

// Endpoints lists the client URLs of every member, running or stopped.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = "http://" + m.front.addr()
	}
	return eps
}

// Endpoint is member i's client URL.
func (c *Cluster) Endpoint(i int) string { return c.Endpoints()[i] }

// ClientConfig is a client configuration for endpoints (every member's
// when none is given): no logs, and gRPC reconnecting within half a
// second of a member coming back (its default backoff grows to two
// minutes).
func ClientConfig(endpoints ...string) clientv3.Config {
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})},
	}
}

// Client returns a client of every member, closed at tb.Cleanup.
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return newClient(tb, ClientConfig(c.Endpoints()...))
}

func newClient(tb testing.TB, cfg clientv3.Config) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(cfg)
	if err != nil {
		tb.Fatalf("etcdtest: client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// Link is the network path of one client to the cluster, which a test
// can cut, as a partition between that client and etcd while the
// cluster and its other clients run on.
type Link struct {
	proxies []*proxy
}

// Cut resets the client's connections and refuses new ones.
func (l *Link) Cut() {
	for _, p := range l.proxies {
		p.cut()
	}
}

// Restore lets the client reconnect.
func (l *Link) Restore() {
	for _, p := range l.proxies {
		p.restore()
	}
}

// NewLink returns a Link of its own to every member, closed at
// tb.Cleanup: give its Endpoints to a client (a daemon's --etcd-endpoints)
// to cut that client off alone.
func (c *Cluster) NewLink(tb testing.TB) *Link {
	tb.Helper()
	l := &Link{}
	for _, m := range c.members {
		p, err := newProxy(m.front.addr())
		if err != nil {
			tb.Fatalf("etcdtest: link: %v", err)
		}
		tb.Cleanup(p.close) // registered before any client's: runs after it
		l.proxies = append(l.proxies, p)
	}
	return l
}

// Endpoints are the link's client URLs, one per member.
func (l *Link) Endpoints() []string {
	eps := make([]string, len(l.proxies))
	for i, p := range l.proxies {
		eps[i] = "http://" + p.addr()
	}
	return eps
}

// ClientWithLink returns a client of every member whose connections go
// through a Link of its own; both are closed at tb.Cleanup.
func (c *Cluster) ClientWithLink(tb testing.TB) (*clientv3.Client, *Link) {
	tb.Helper()
	l := c.NewLink(tb)
	return newClient(tb, ClientConfig(l.Endpoints()...)), l
}

// Stop stops member i hard: its client connections are reset at once,
// then the server stops without handing its leadership over.
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	m := c.members[i]
	c.mu.Lock()
	e := m.etcd
	m.etcd = nil
	c.mu.Unlock()
	if e == nil {
		c.tb.Fatalf("etcdtest: member %d is not running", i)
	}
	m.front.cut()
	stopEtcd(e)
}

// stopEtcd stops the raft server first, so that Close neither transfers
// leadership nor waits for client streams.
func stopEtcd(e *embed.Etcd) {
	e.Server.HardStop()
	e.Close()
}

// Restart starts the stopped members is (indexes) again, with their data and
// ports, and waits until they are ready: a member is ready when it has
// rejoined a quorum, so restart together members that need each other.
func (c *Cluster) Restart(is ...int) {
	c.tb.Helper()
	var ms []*member
	for _, i := range is {
		m := c.members[i]
		c.mu.Lock()
		running := m.etcd != nil
		c.mu.Unlock()
		if running {
			c.tb.Fatalf("etcdtest: member %d is running", i)
		}
		var (
			e   *embed.Etcd
			err error
		)
		// Its ports were free when it stopped; something else may hold one
		// for a moment.
		for attempt := 1; ; attempt++ {
			e, err = embed.StartEtcd(c.config(m))
			if err == nil || !isAddrInUse(err) || attempt == bindAttempts {
				break
			}
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond) // waiting for a port, not for a goroutine
		}
		if err != nil {
			c.tb.Fatalf("etcdtest: restart member %d: %v", i, err)
		}
		c.mu.Lock()
		m.etcd = e
		c.mu.Unlock()
		m.front.restore()
		ms = append(ms, m)
	}
	if err := c.waitReady(ms); err != nil {
		c.tb.Fatalf("etcdtest: restart members %v: %v", is, err)
	}
}

// Running reports whether member i runs.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].etcd != nil
}

// Compact compacts the cluster's history up to rev, physically: when it
// returns, the compacted revisions are gone from every running member's
// backend, and a watch from before rev gets ErrCompacted.
func (c *Cluster) Compact(tb testing.TB, rev int64) {
	tb.Helper()
	var e *embed.Etcd
	c.mu.Lock()
	for _, m := range c.members {
		if m.etcd != nil {
			e = m.etcd
			break
		}
	}
	c.mu.Unlock()
	if e == nil {
		tb.Fatalf("etcdtest: compact: no member runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true}); err != nil {
		tb.Fatalf("etcdtest: compact to %d: %v", rev, err)
	}
}

// stopAll stops every running member, all at once: a stop waits up to a
// second for etcd's peer connections.
func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		c.mu.Lock()
		e := m.etcd
		m.etcd = nil
		c.mu.Unlock()
		m.front.cut()
		if e != nil {
			wg.Go(func() { stopEtcd(e) })
		}
	}
	wg.Wait()
}

func (c *Cluster) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.stopAll()
	for _, m := range c.members {
		m.front.close()
	}
}

// FreePorts returns n distinct loopback host:ports that were free a
// moment ago. embed does not take port 0 for every URL, so they are
// picked by listening and closing; and they are picked below the
// kernel's ephemeral range, because a member restarts on its old ports
// and a port in that range may meanwhile have become the local end of
// some outgoing connection (a peer dialling, a client reconnecting),
// which no retry outlasts. Another test process may still pick the same
// port between the pick and the bind: callers retry on EADDRINUSE.
func FreePorts(n int) ([]string, error) {
	lo, hi := belowEphemeral()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("no free port in %d-%d", lo, hi)
		}
		port := lo + rand.IntN(hi-lo+1)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: pick another
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// belowEphemeral is the range ports are picked from: up to the first
// port of the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
// 32768 by Linux's default), above the well-known and common ports.
func belowEphemeral() (lo, hi int) {
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				first = v
			}
		}
	}
	lo = 20000
	if first-1 < lo+1000 { // a range moved low: fall back to a band of its own
		lo = 10000
	}
	return lo, max(first-1, lo+1000)
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || err != nil && strings.Contains(err.Error(), "address already in use")
}
