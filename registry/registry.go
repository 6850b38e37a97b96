package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
	"k8s.io/apimachinery/pkg/labels"
)

// State is a registered listener's lifecycle state.
type State uint8

// The states.
const (
	StateRunning State = iota + 1
	StateStopped
	StateFailed
	// StatePending and StateUnknown are a cluster's (package agent): the
	// listener's node has not acted on its latest change yet, or is gone.
	StatePending
	StateUnknown
)

func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateStopped:
		return "stopped"
	case StateFailed:
		return "failed"
	case StatePending:
		return "pending"
	case StateUnknown:
		return "unknown"
	default:
		return fmt.Sprintf("state(%d)", uint8(s))
	}
}

// Info is a registered listener as it is now.
type Info struct {
	// Spec is the effective spec (see Provisioned), or, for a listener
	// that could not be provisioned, the spec as asked.
	Spec Spec
	// State is derived from the listener itself, so a listener whose
	// socket failed shows StateFailed without anyone watching it.
	State State
	// BoundAddr is the address actually bound, while running.
	BoundAddr string
	// Error says why the listener failed, in StateFailed.
	Error string
	// StartedAt is when the listener last started serving.
	StartedAt time.Time
	Stats     rawsock.StatsSnapshot
	// Etag changes with every change of the desired state; see Update.
	Etag string
	// Generation of the desired state, and the generation the engine
	// reflects (equal once the last change took effect).
	Generation, ObservedGeneration int64
	// Script counts a script listener's answers; nil for other handlers.
	Script *script.Hits
	// Faults count how often each fault applied, while running.
	Faults []rawsock.FaultHit
	// TLS is the certificate a TLS listener serves; nil for plaintext.
	TLS *tlsconf.Info

	// In a cluster: why the state is StatePending or StateUnknown (or that
	// the information is stale), since when the node has been gone in
	// StateUnknown, and whether the cluster's store could not be reached,
	// so this is the last state known.
	Message      string
	UnknownSince time.Time
	Stale        bool
}

// Registry keeps listeners by id, so they can be created from a Spec,
// stopped, started again, inspected and deleted, and, with a Store,
// restored after a restart. It is safe for concurrent use.
//
// Locking: the registry's map lock is held only to find, reserve and
// forget ids; binding, dialling a stale Unix socket and saving to the
// store happen outside it, so Get, List and a metrics scrape never wait
// on them. Operations on one listener are serialized by that listener's
// own lock, which a caller waits for only until its context ends.
//
// Lifecycle: Shutdown stops every listener, gracefully, and refuses
// every change after it with ErrShuttingDown; when its context ends it
// cuts what is left, in-flight drains included. Close is Shutdown with no
// grace.
type Registry struct {
	log    *slog.Logger
	policy Policy
	store  Store // nil: desired state lives in memory only
	events *rawsock.EventBus

	// cut ends when Shutdown's context does (or at Close): every drain in
	// progress stops waiting then.
	cut    context.Context
	cutNow context.CancelFunc

	mu       sync.Mutex
	entries  map[string]*entry // reserved ids included
	requests map[string]*entry // by the request id of their Create
	expiry   expiry
	closed   bool
}

// New returns an empty Registry that applies policy to every listener and
// saves desired state in store (nil: memory only). A nil logger means
// slog.Default().
func New(logger *slog.Logger, policy Policy, store Store) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	policy.ExecAllow = slices.Clone(policy.ExecAllow)
	r := &Registry{log: logger, policy: policy, store: store, entries: make(map[string]*entry), requests: make(map[string]*entry), events: rawsock.NewEventBus()}
	r.cut, r.cutNow = context.WithCancel(context.Background())
	return r
}

// Events is the bus that carries the registry's and its listeners' events.
func (r *Registry) Events() *rawsock.EventBus { return r.events }

// reserve adds a hidden entry for id (generated when empty) and returns
// it with its operation lock held.
func (r *Registry) reserve(id string, t Transport, requestID string) (*entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrShuttingDown
	}
	if max := r.policy.MaxListeners; max > 0 && len(r.entries) >= max {
		return nil, fmt.Errorf("%w: %d listeners exist, the daemon's bound", ErrTooManyListeners, len(r.entries))
	}
	if id == "" {
		id = r.newIDLocked(t)
	} else if _, ok := r.entries[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrExists, id)
	}
	if prior, ok := r.requests[requestID]; ok && requestID != "" && !prior.isDeleted() {
		// A retry that raced the first call past retried.
		return nil, fmt.Errorf("%w: request id %q is in use by listener %s", ErrRequestReused, requestID, prior.id)
	}
	e := newEntry(id)
	e.op <- struct{}{} // new, so free: taken before anyone else can see it
	r.entries[id] = e
	if requestID != "" {
		r.requests[requestID] = e
	}
	return e, nil
}

// overBound refuses to start a listener while more exist than the policy
// allows, as after a restore under a smaller bound.
func (r *Registry) overBound() error {
	r.mu.Lock()
	n := len(r.entries)
	r.mu.Unlock()
	if max := r.policy.MaxListeners; max > 0 && n > max {
		return fmt.Errorf("%w: %d listeners exist, the daemon allows %d: delete some first", ErrTooManyListeners, n, max)
	}
	return nil
}

// forget removes an entry that never became visible.
func (r *Registry) forget(e *entry) {
	r.mu.Lock()
	if r.entries[e.id] == e {
		delete(r.entries, e.id)
	}
	if e.requestID != "" && r.requests[e.requestID] == e {
		delete(r.requests, e.requestID)
	}
	r.mu.Unlock()
}

func (r *Registry) newIDLocked(t Transport) string {
	for {
		id := fmt.Sprintf("%s-%08x", t, rand.Uint32())
		if _, ok := r.entries[id]; !ok {
			return id
		}
	}
}

// lookup finds a visible listener.
func (r *Registry) lookup(id string) (*entry, error) {
	r.mu.Lock()
	e, ok := r.entries[id]
	r.mu.Unlock()
	if !ok || !e.isVisible() {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// acquire finds a visible listener and takes its operation lock, waiting
// for it until ctx ends. It refuses every change after Shutdown.
func (r *Registry) acquire(ctx context.Context, id string) (*entry, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	switch {
	case closed:
		e.release()
		return nil, ErrShuttingDown
	case e.isDeleted():
		e.release()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// Get returns the listener with the given id.
func (r *Registry) Get(id string) (Info, error) {
	e, err := r.lookup(id)
	if err != nil {
		return Info{}, err
	}
	return e.info(), nil
}

// List returns the listeners sel matches (nil: every one), ordered by
// id.
func (r *Registry) List(sel Selector) []Info {
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		entries = append(entries, e)
	}
	r.mu.Unlock()
	infos := make([]Info, 0, len(entries))
	for _, e := range entries {
		if !e.isVisible() {
			continue
		}
		if sel != nil && !sel.Matches(labels.Set(e.labels())) {
			continue
		}
		infos = append(infos, e.info())
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Spec.ID, b.Spec.ID) })
	return infos
}

// Shutdown refuses every change from now on, then stops every listener
// gracefully, all at once. When ctx ends first, it gives up on the
// operations still in flight, closes what is left and returns ctx.Err().
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	entries := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		entries = append(entries, e)
	}
	r.mu.Unlock()
	stopCut := context.AfterFunc(ctx, r.cutNow)
	defer stopCut()
	r.stopExpiry()

	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() {
			if e.acquire(ctx) != nil {
				// An operation holds the listener past the deadline: cut
				// under it (Listener.Close may run more than once).
				r.closeListener(e, e.serving())
				return
			}
			defer e.release()
			ln := e.serving()
			if ln == nil {
				return
			}
			if err := ln.Shutdown(ctx); err != nil {
				r.log.Warn("listener drain cut short", "id", e.id, "error", err)
			}
			r.closeListener(e, ln)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("shutdown cut short: %w", err)
	}
	return nil
}

// Close stops every listener at once, as a Shutdown whose deadline has
// passed.
func (r *Registry) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
