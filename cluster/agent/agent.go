package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/registry"
)

// Defaults of Config.
const (
	// DefaultLeaseTTL is how long a node's keys outlive its last keepalive:
	// 10s.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultAckTimeout is how long a call waits for the owner to act on
	// the change it wrote: 5s.
	DefaultAckTimeout = 5 * time.Second
)

// Config configures an Agent.
type Config struct {
	// Store is the cluster's. Required.
	Store *cluster.Store
	// Node is this node: its Name (required) and the GRPCAddress where the
	// other nodes reach its API (required).
	Node cluster.NodeInfo
	// Registry runs this node's listeners; its policy's Node must be
	// Node.Name, and it has no store of its own (the cluster's is). Required.
	Registry *registry.Registry
	// Policy is the registry's, to prepare the specs of this node's
	// listeners as a local Create would. Required.
	Policy registry.Policy
	// LeaseTTL: see DefaultLeaseTTL (10s).
	LeaseTTL time.Duration
	// AckTimeout: see DefaultAckTimeout (5s).
	AckTimeout time.Duration
	// Log: default slog.Default().
	Log *slog.Logger
}

// Agent is a running node of a cluster.
type Agent struct {
	cfg   Config
	store *cluster.Store
	name  string
	reg   *registry.Registry
	log   *slog.Logger

	session   *cluster.Session
	listeners *cluster.Informer[registry.Record]
	statuses  *cluster.Informer[cluster.Status]
	nodes     *cluster.Informer[cluster.NodeInfo]

	changes *broadcast // a status or node changed: waiters look again
	work    *queue     // listeners to reconcile
	goneAt  sync.Map   // node name -> time.Time its key was last seen deleted
	endOnce sync.Once  // logs the session's end once

	timersMu sync.Mutex
	timers   map[string]*time.Timer // expiry of this node's listeners, by id

	stopCtx context.Context // ends at Close: the workers' calls end with it
	stop    context.CancelFunc
	ready   chan struct{} // closed once Start has set every field: work waits for it
}

// Start joins the cluster as cfg.Node and starts serving its share: it
// fails with cluster.ErrNodeNameTaken when a live node has the name, and
// with cluster.ErrUnavailable when etcd does not answer. It returns once
// the informers have their first list, so calls answer from the
// cluster's state at once.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Node.Name == "" {
		return nil, errors.New("agent: a store, a registry and a node name are required")
	}
	if cfg.Node.GRPCAddress == "" {
		return nil, errors.New("agent: the node's gRPC address is required")
	}
	if cfg.Policy.Node != cfg.Node.Name {
		return nil, fmt.Errorf("agent: the policy serves node %q, not %q", cfg.Policy.Node, cfg.Node.Name)
	}
	cfg.LeaseTTL = cmpOr(cfg.LeaseTTL, DefaultLeaseTTL)
	cfg.AckTimeout = cmpOr(cfg.AckTimeout, DefaultAckTimeout)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &Agent{cfg: cfg, store: cfg.Store, name: cfg.Node.Name, reg: cfg.Registry,
		log: cfg.Log.With("node", cfg.Node.Name), changes: newBroadcast(), timers: make(map[string]*time.Timer)}
	a.stopCtx, a.stop = context.WithCancel(context.Background())
	a.ready = make(chan struct{})
	a.work = newQueue(func(id string) {
		select {
		case <-a.ready:
			a.reconcile(id)
		case <-a.stopCtx.Done():
		}
	})

	sess, err := cfg.Store.Join(ctx, cfg.Node, cfg.LeaseTTL)
	if err != nil {
		a.stop()
		return nil, err
	}
	a.session = sess
	a.statuses = cfg.Store.WatchStatuses(a.stopCtx, cluster.HandlerFuncs[cluster.Status]{
		Upsert: func(string, cluster.Status, int64) { a.changes.notify() },
		Delete: func(string) { a.changes.notify() },
	})
	a.nodes = cfg.Store.WatchNodes(a.stopCtx, cluster.HandlerFuncs[cluster.NodeInfo]{
		Upsert: func(name string, _ cluster.NodeInfo, _ int64) { a.goneAt.Delete(name); a.changes.notify() },
		Delete: func(name string) { a.goneAt.Store(name, time.Now()); a.changes.notify() },
	})
	a.listeners = cfg.Store.WatchListeners(a.stopCtx, cluster.HandlerFuncs[registry.Record]{
		Upsert: func(id string, _ registry.Record, _ int64) { a.work.add(id); a.changes.notify() },
		Delete: func(id string) { a.work.add(id); a.changes.notify() },
	})
	close(a.ready)
	for _, in := range []interface{ Synced() <-chan struct{} }{a.statuses, a.nodes, a.listeners} {
		select {
		case <-in.Synced():
		case <-ctx.Done():
			a.Close(context.Background())
			return nil, fmt.Errorf("agent: the cluster's first list: %w", ctx.Err())
		}
	}
	// Listeners this registry serves that the cluster no longer names
	// here are not in the list: look at every local one too.
	for _, info := range a.reg.List(nil) {
		a.work.add(info.Spec.ID)
	}
	return a, nil
}

// Name is this node's name.
func (a *Agent) Name() string { return a.name }

// Session is the node's membership: Done is closed when another node
// took its name while it was away, after which it serves nothing new.
func (a *Agent) Session() *cluster.Session { return a.session }

// Close stops reconciling, waits for the workers, and leaves the
// cluster: the node's key and statuses go at once. The registry's
// listeners are the caller's to shut down (they keep serving until then).
func (a *Agent) Close(ctx context.Context) error {
	a.stop()
	a.stopTimers()
	a.work.close()
	for _, in := range []interface{ Close() }{a.listeners, a.statuses, a.nodes} {
		if in != nil {
			in.Close()
		}
	}
	if a.session == nil {
		return nil
	}
	return a.session.Close(ctx)
}

// Abandon stops as Close does but leaves the node's keys to expire with
// its lease, as a node that dies: for tests of a node's death.
func (a *Agent) Abandon() {
	a.stop()
	a.stopTimers()
	a.work.close()
	for _, in := range []interface{ Close() }{a.listeners, a.statuses, a.nodes} {
		in.Close()
	}
	a.session.Abandon()
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
