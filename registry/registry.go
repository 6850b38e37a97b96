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
)

// State is a registered listener's lifecycle state.
type State uint8

// The states.
const (
	StateRunning State = iota + 1
	StateStopped
	StateFailed
)

func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateStopped:
		return "stopped"
	case StateFailed:
		return "failed"
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

	mu      sync.Mutex
	entries map[string]*entry // reserved ids included
	closed  bool
}

// New returns an empty Registry that applies policy to every listener and
// saves desired state in store (nil: memory only). A nil logger means
// slog.Default().
func New(logger *slog.Logger, policy Policy, store Store) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	policy.ExecAllow = slices.Clone(policy.ExecAllow)
	r := &Registry{log: logger, policy: policy, store: store, entries: make(map[string]*entry), events: rawsock.NewEventBus()}
	r.cut, r.cutNow = context.WithCancel(context.Background())
	return r
}

// Events is the bus that carries the registry's and its listeners' events.
func (r *Registry) Events() *rawsock.EventBus { return r.events }

// Create provisions spec, binds the listener, saves it and starts it. A
// spec without an id gets a generated one. If anything fails nothing is
// registered: the id is reserved while the bind and the save run, so a
// concurrent Create of the same id gets ErrExists, and Get does not see it
// until it is whole.
func (r *Registry) Create(ctx context.Context, spec Spec) (Info, error) {
	if err := r.policy.admit(spec); err != nil {
		return Info{}, err
	}
	prov, err := r.policy.Provision(spec)
	if err != nil {
		return Info{}, err
	}
	e, err := r.reserve(spec.ID, spec.Transport)
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	spec.ID, prov.Spec.ID = e.id, e.id
	e.desired, e.running = spec, true
	if err := r.start(e, prov); err != nil {
		r.forget(e)
		return Info{}, err
	}
	if err := r.save(e); err != nil {
		r.stopListener(ctx, e, StopOptions{Immediate: true})
		r.forget(e)
		return Info{}, err
	}
	e.mu.Lock()
	e.visible = true
	e.mu.Unlock()
	info := e.info()
	r.log.Info("listener created", "id", e.id, "transport", spec.Transport, "address", info.BoundAddr)
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerCreated, ListenerID: e.id, Message: "listening on " + info.BoundAddr})
	return info, nil
}

// reserve adds a hidden entry for id (generated when empty) and returns
// it with its operation lock held.
func (r *Registry) reserve(id string, t Transport) (*entry, error) {
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
	e := newEntry(id)
	e.op <- struct{}{} // new, so free: taken before anyone else can see it
	r.entries[id] = e
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

// List returns every listener, ordered by id.
func (r *Registry) List() []Info {
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		entries = append(entries, e)
	}
	r.mu.Unlock()
	infos := make([]Info, 0, len(entries))
	for _, e := range entries {
		if e.isVisible() {
			infos = append(infos, e.info())
		}
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Spec.ID, b.Spec.ID) })
	return infos
}

// Start provisions a stopped or failed listener's spec again, under the
// policy of now, and binds it. Starting a running listener does nothing.
// A spec the policy refuses (an exec listener while exec is off) is
// refused and nothing changes; a failed bind leaves it in StateFailed, to
// run, and is returned.
func (r *Registry) Start(ctx context.Context, id string) (Info, error) {
	e, err := r.acquire(ctx, id)
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	if err := e.readable(); err != nil {
		return e.info(), err
	}
	if e.serving() != nil {
		return e.info(), nil
	}
	if err := r.overBound(); err != nil {
		e.setFailure(err)
		return e.info(), err
	}
	prov, err := r.policy.Provision(e.desired)
	if err != nil {
		e.setFailure(err)
		return e.info(), err
	}
	e.mu.Lock()
	e.running = true
	e.mu.Unlock()
	if err := r.save(e); err != nil {
		return e.info(), err
	}
	r.logDropped(e.id, prov)
	if err := r.start(e, prov); err != nil {
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerFailed, ListenerID: id, Message: err.Error()})
		return e.info(), err
	}
	info := e.info()
	r.log.Info("listener started", "id", id, "address", info.BoundAddr)
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerStarted, ListenerID: id, Message: "listening on " + info.BoundAddr})
	return info, nil
}

// StopOptions say how a listener stops.
type StopOptions struct {
	// Immediate closes every connection at once. Default: graceful: stop
	// accepting, close idle connections, let frames in progress finish.
	Immediate bool
	// DrainTimeout bounds a graceful stop; then what is left is closed.
	// Default: 10s (DefaultDrainTimeout); at most MaxDrainTimeout (1m).
	DrainTimeout time.Duration
}

func (o StopOptions) validate() error {
	if o.DrainTimeout < 0 || o.DrainTimeout > MaxDrainTimeout {
		return fieldErrorf("drainTimeout", "%v is not from 0s to %v", o.DrainTimeout, MaxDrainTimeout)
	}
	return nil
}

// Stop closes a listener's socket, so the port refuses at once, and its
// connections, gracefully unless opts say otherwise. A drain ends at
// opts.DrainTimeout, when ctx ends, or when Shutdown's context does,
// whichever comes first. Stopping a stopped listener does nothing.
func (r *Registry) Stop(ctx context.Context, id string, opts StopOptions) (Info, error) {
	if err := opts.validate(); err != nil {
		return Info{}, err
	}
	e, err := r.acquire(ctx, id)
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	if err := e.readable(); err != nil {
		return e.info(), err
	}
	e.mu.Lock()
	e.running = false
	e.mu.Unlock()
	if err := r.save(e); err != nil {
		return e.info(), err
	}
	if r.stopListener(ctx, e, opts) {
		r.log.Info("listener stopped", "id", id)
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerStopped, ListenerID: id})
	}
	return e.info(), nil
}

// Delete forgets a listener, in the store first, and stops it as Stop
// does.
func (r *Registry) Delete(ctx context.Context, id string, opts StopOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	e, err := r.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer e.release()
	if r.store != nil {
		if err := r.store.Delete(id); err != nil {
			return fmt.Errorf("%w: %w", ErrStore, err)
		}
	}
	r.mu.Lock()
	delete(r.entries, id)
	r.mu.Unlock()
	e.mu.Lock()
	e.deleted = true
	e.mu.Unlock()
	if r.stopListener(ctx, e, opts) {
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerStopped, ListenerID: id})
	}
	r.log.Info("listener deleted", "id", id)
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerDeleted, ListenerID: id})
	return nil
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

// start binds the entry's listener with a provisioned spec. A spec that
// asks for port 0 gets the port it had before, when it had one and it is
// still free, so clients of a stopped and started (or restored) listener
// find it where it was. The caller holds the entry's operation lock.
func (r *Registry) start(e *entry, prov *Provisioned) error {
	e.mu.Lock()
	previous := e.lastBound
	if e.capture == nil {
		e.capture = rawsock.NewCapture(prov.Spec.Capture.MaxFrames, prov.Spec.Capture.MaxBytesPerFrame)
	}
	cfg := prov.config(&e.stats, e.capture, r.events, r.log)
	e.effective = prov.Spec
	e.mu.Unlock()
	var ln *rawsock.Listener
	var err error
	if previous != "" && asksAnyPort(cfg.Address) {
		again := cfg
		again.Address = previous
		ln, _ = bind(again)
	}
	if ln == nil {
		ln, err = bind(cfg)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.ln, e.failure = nil, err.Error()
		return err
	}
	e.ln, e.failure, e.startedAt, e.lastBound = ln, "", time.Now(), ln.Addr().String()
	return nil
}

func bind(cfg rawsock.Config) (*rawsock.Listener, error) {
	ln, err := rawsock.NewListener(cfg)
	if err != nil {
		return nil, err
	}
	if err := ln.Start(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// stopListener takes the entry's listener away and stops it, and reports
// whether it had one. A graceful stop drains until opts.DrainTimeout, ctx
// or the registry's cut ends it. The caller holds the operation lock.
func (r *Registry) stopListener(ctx context.Context, e *entry, opts StopOptions) bool {
	e.mu.Lock()
	ln := e.ln
	e.ln, e.failure = nil, ""
	e.mu.Unlock()
	if ln == nil {
		return false
	}
	if !opts.Immediate {
		drain := cmpOr(opts.DrainTimeout, DefaultDrainTimeout)
		dctx, cancel := context.WithTimeout(ctx, drain)
		stop := context.AfterFunc(r.cut, cancel)
		_ = ln.Shutdown(dctx) // past the bound, Close below cuts the rest
		stop()
		cancel()
	}
	r.closeListener(e, ln)
	return true
}

// closeListener hard-stops ln, reporting handlers that outlive it.
func (r *Registry) closeListener(e *entry, ln *rawsock.Listener) {
	if ln == nil {
		return
	}
	if err := ln.Close(); err != nil {
		r.log.Warn("listener closed; its handlers ignore their context", "id", e.id, "error", err)
	}
}

// save writes e's desired state to the store, if there is one. The
// caller holds the operation lock, which keeps the saves of one listener
// in order.
func (r *Registry) save(e *entry) error {
	if r.store == nil {
		return nil
	}
	e.mu.Lock()
	rec := Record{Spec: e.desired, Running: e.running, LastBound: e.lastBound}
	e.mu.Unlock()
	if err := r.store.Save(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// logDropped says which programs the policy took out of a listener's
// exec allow list.
func (r *Registry) logDropped(id string, prov *Provisioned) {
	if len(prov.Dropped) > 0 {
		r.log.Warn("exec allow list narrowed to the daemon's", "id", id, "dropped", prov.Dropped, "allowed", prov.Spec.Exec.Allow)
	}
}
