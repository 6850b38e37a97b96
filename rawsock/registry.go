package rawsock

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
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
	Stats     StatsSnapshot
}

// Registry keeps listeners by id, so they can be created from a Spec,
// stopped, started again with the same Spec, inspected and deleted. It is
// safe for concurrent use; operations on one listener are serialized,
// operations on different listeners are not.
type Registry struct {
	log          *slog.Logger
	maxListeners int      // 0: no bound
	store        Store    // nil: desired state lives in memory only
	execAllow    []string // programs the exec handler may run; none: exec is off
	events       *EventBus

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
}

// NewRegistry returns an empty Registry. A nil logger means slog.Default().
func NewRegistry(logger *slog.Logger, opts ...RegistryOption) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Registry{log: logger, entries: make(map[string]*entry), events: NewEventBus()}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// Events is the bus of the registry's lifecycle, connection and frame
// events.
func (r *Registry) Events() *EventBus { return r.events }

// entry is one registered listener.
type entry struct {
	spec    Spec
	stats   Stats
	capture *Capture // nil when capture is off; kept across stop and start
	events  *EventBus

	op sync.Mutex // serializes start, stop and delete

	mu        sync.Mutex // guards the fields below
	ln        *Listener  // nil when stopped
	failure   string     // why the last start failed
	startedAt time.Time
	lastBound string // the address the listener last bound
	deleted   bool
}

// Create validates spec, fills in its defaults and a generated id if it
// has none, binds the listener and starts it. If the bind fails, nothing
// is registered.
func (r *Registry) Create(spec Spec) (Info, error) {
	spec = spec.withDefaults()
	if err := spec.Validate(); err != nil {
		return Info{}, err
	}
	spec, err := r.withExecDefaults(spec)
	if err != nil {
		return Info{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Info{}, ErrShuttingDown
	}
	if r.maxListeners > 0 && len(r.entries) >= r.maxListeners {
		return Info{}, fmt.Errorf("%w: %d listeners exist, the daemon's --max-listeners", ErrTooManyListeners, len(r.entries))
	}
	if spec.ID == "" {
		spec.ID = r.newIDLocked(spec.Transport)
	} else if _, ok := r.entries[spec.ID]; ok {
		return Info{}, fmt.Errorf("%w: %s", ErrExists, spec.ID)
	}
	e := &entry{spec: spec, events: r.events, capture: NewCapture(spec.Capture.MaxFrames, spec.Capture.MaxBytesPerFrame)}
	// Binding under r.mu keeps a concurrent Create of the same id out; a
	// bind takes microseconds.
	if err := e.start(r.log); err != nil {
		return Info{}, err
	}
	if err := r.save(e, true); err != nil {
		e.stop(StopOptions{Immediate: true})
		return Info{}, err
	}
	r.entries[spec.ID] = e
	r.log.Info("listener created", "id", spec.ID, "transport", spec.Transport, "address", e.info().BoundAddr)
	r.events.Publish(Event{Type: EventListenerCreated, ListenerID: spec.ID, Message: "listening on " + e.info().BoundAddr})
	return e.info(), nil
}

func (r *Registry) newIDLocked(t Transport) string {
	for {
		id := fmt.Sprintf("%s-%08x", t, rand.Uint32())
		if _, ok := r.entries[id]; !ok {
			return id
		}
	}
}

func (r *Registry) lookup(id string) (*entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
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
	infos := make([]Info, len(entries))
	for i, e := range entries {
		infos[i] = e.info()
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Spec.ID, b.Spec.ID) })
	return infos
}

// Start binds a stopped or failed listener again with its Spec. Starting a
// running listener does nothing. A failed bind leaves it in StateFailed
// and is returned.
func (r *Registry) Start(id string) (Info, error) {
	e, err := r.lookup(id)
	if err != nil {
		return Info{}, err
	}
	e.op.Lock()
	defer e.op.Unlock()
	if e.isDeleted() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if e.info().State != StateRunning {
		if err := r.save(e, true); err != nil {
			return e.info(), err
		}
		if err := e.start(r.log); err != nil {
			r.events.Publish(Event{Type: EventListenerFailed, ListenerID: id, Message: err.Error()})
			return e.info(), err
		}
		r.log.Info("listener started", "id", id, "address", e.info().BoundAddr)
		r.events.Publish(Event{Type: EventListenerStarted, ListenerID: id, Message: "listening on " + e.info().BoundAddr})
	}
	return e.info(), nil
}

// StopOptions say how a listener stops.
type StopOptions struct {
	// Immediate closes every connection at once. Default: graceful: stop
	// accepting, close idle connections, let frames in progress finish.
	Immediate bool
	// DrainTimeout bounds a graceful stop; then what is left is closed.
	// Default: 10s.
	DrainTimeout time.Duration
}

// DefaultDrainTimeout bounds a graceful stop that names no bound.
const DefaultDrainTimeout = 10 * time.Second

// Stop closes a listener's socket, so the port refuses at once, and its
// connections, gracefully unless opts say otherwise. Stopping a stopped
// listener does nothing.
func (r *Registry) Stop(id string, opts StopOptions) (Info, error) {
	e, err := r.lookup(id)
	if err != nil {
		return Info{}, err
	}
	e.op.Lock()
	defer e.op.Unlock()
	if e.isDeleted() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err := r.save(e, false); err != nil {
		return e.info(), err
	}
	if e.stop(opts) {
		r.log.Info("listener stopped", "id", id)
		r.events.Publish(Event{Type: EventListenerStopped, ListenerID: id})
	}
	return e.info(), nil
}

// Delete stops a listener, as Stop does, and forgets it.
func (r *Registry) Delete(id string, opts StopOptions) error {
	r.mu.Lock()
	e, ok := r.entries[id]
	if ok && r.store != nil {
		if err := r.store.Delete(id); err != nil {
			r.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrStore, err)
		}
	}
	delete(r.entries, id)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e.op.Lock()
	defer e.op.Unlock()
	e.mu.Lock()
	e.deleted = true
	e.mu.Unlock()
	if e.stop(opts) {
		r.events.Publish(Event{Type: EventListenerStopped, ListenerID: id})
	}
	r.log.Info("listener deleted", "id", id)
	r.events.Publish(Event{Type: EventListenerDeleted, ListenerID: id})
	return nil
}

// Shutdown stops every listener gracefully, all at once, and refuses new
// ones. When ctx ends first, it closes the rest and returns ctx.Err().
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	entries := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		entries = append(entries, e)
	}
	r.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, len(entries))
	for _, e := range entries {
		wg.Go(func() {
			e.op.Lock()
			defer e.op.Unlock()
			errs <- e.shutdown(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// start binds the entry's listener. A spec that asks for port 0 gets the
// port it had before, when it had one and it is still free, so clients of
// a stopped and started listener find it where it was. Callers hold e.op,
// or own e alone.
func (e *entry) start(log *slog.Logger) error {
	cfg, err := e.spec.listenerConfig(&e.stats, e.capture, e.events)
	if err != nil {
		e.mu.Lock()
		e.ln, e.failure = nil, err.Error()
		e.mu.Unlock()
		return err
	}
	cfg.Logger = log.With("listener", e.spec.ID)
	e.mu.Lock()
	previous := e.lastBound
	e.mu.Unlock()
	var ln *Listener
	if previous != "" && asksAnyPort(e.spec.Address) {
		again := cfg
		again.Address = previous
		ln, err = bindListener(again)
	}
	if ln == nil {
		ln, err = bindListener(cfg)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.ln = nil
		e.failure = err.Error()
		return err
	}
	e.ln, e.failure, e.startedAt, e.lastBound = ln, "", time.Now(), ln.Addr().String()
	return nil
}

func bindListener(cfg Config) (*Listener, error) {
	ln, err := NewListener(cfg)
	if err != nil {
		return nil, err
	}
	if err := ln.Start(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

func asksAnyPort(address string) bool {
	_, port, err := net.SplitHostPort(address)
	return err == nil && port == "0"
}

// stop closes the entry's listener, if it has one, and reports whether it
// had. A graceful stop drains for at most opts.DrainTimeout first.
// Callers hold e.op.
func (e *entry) stop(opts StopOptions) bool {
	e.mu.Lock()
	ln := e.ln
	e.ln, e.failure = nil, ""
	e.mu.Unlock()
	if ln == nil {
		return false
	}
	if !opts.Immediate {
		drain := opts.DrainTimeout
		if drain <= 0 {
			drain = DefaultDrainTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		_ = ln.Shutdown(ctx) // past the deadline, Close below cuts the rest
		cancel()
	}
	_ = ln.Close()
	return true
}

// shutdown drains the entry's listener until ctx ends, then closes it.
func (e *entry) shutdown(ctx context.Context) error {
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	if ln == nil {
		return nil
	}
	err := ln.Shutdown(ctx)
	_ = ln.Close()
	return err
}

func (e *entry) isDeleted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.deleted
}

func (e *entry) info() Info {
	e.mu.Lock()
	ln, failure, startedAt := e.ln, e.failure, e.startedAt
	e.mu.Unlock()
	info := Info{Spec: e.spec, State: StateStopped, StartedAt: startedAt, Stats: e.stats.Snapshot()}
	switch {
	case ln != nil && ln.Err() == nil:
		info.State = StateRunning
		info.BoundAddr = ln.Addr().String()
	case ln != nil && ln.Err() != ErrListenerClosed:
		info.State, info.Error = StateFailed, ln.Err().Error()
	case failure != "":
		info.State, info.Error = StateFailed, failure
	}
	return info
}

// running returns the entry's listener while it serves.
func (e *entry) running() *Listener {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil || e.ln.Err() != nil {
		return nil
	}
	return e.ln
}

// Connections returns a listener's connections, or its recent datagram
// peers; none while it is stopped.
func (r *Registry) Connections(id string) ([]ConnInfo, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	if ln := e.running(); ln != nil {
		return ln.Connections(), nil
	}
	return nil, nil
}

// CloseConnection closes a connection, or forgets a datagram peer.
func (r *Registry) CloseConnection(id string, connID uint64) error {
	ln, err := r.runningListener(id, connID)
	if err != nil {
		return err
	}
	return ln.CloseConn(connID)
}

// SendFrame writes one frame to a connection or datagram peer; see
// Listener.SendFrame.
func (r *Registry) SendFrame(id string, connID uint64, body []byte, extra ...HeaderField) (int, error) {
	ln, err := r.runningListener(id, connID)
	if err != nil {
		return 0, err
	}
	return ln.SendFrame(connID, body, extra...)
}

// Frames returns a listener's captured frames, oldest first; connID 0
// means all connections'. A listener without capture has none.
func (r *Registry) Frames(id string, connID uint64) ([]CapturedFrame, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	return e.capture.Frames(connID), nil
}

// runningListener finds a listener that serves; a stopped one has no
// connections.
func (r *Registry) runningListener(id string, connID uint64) (*Listener, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	ln := e.running()
	if ln == nil {
		return nil, fmt.Errorf("%w: %d (listener %s is not running)", ErrConnNotFound, connID, id)
	}
	return ln, nil
}

// save writes e's desired state to the store, if there is one.
func (r *Registry) save(e *entry, running bool) error {
	if r.store == nil {
		return nil
	}
	e.mu.Lock()
	rec := Record{Spec: e.spec, Running: running, LastBound: e.lastBound}
	e.mu.Unlock()
	if err := r.store.Save(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// Restore brings back the listeners of the store: each with its id and
// spec, started if it should run. One that cannot bind is kept in
// StateFailed with the reason, and the others start. It returns how many
// listeners it restored and how many of those failed; an unreadable store
// is an error, never an empty state.
func (r *Registry) Restore() (restored, failed int, err error) {
	if r.store == nil {
		return 0, 0, nil
	}
	recs, err := r.store.Load()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrStore, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		spec := rec.Spec.withDefaults()
		if err := spec.Validate(); err != nil {
			return restored, failed, fmt.Errorf("stored listener %q: %w", spec.ID, err)
		}
		if _, ok := r.entries[spec.ID]; ok {
			return restored, failed, fmt.Errorf("stored listener %q: %w", spec.ID, ErrExists)
		}
		e := &entry{spec: spec, events: r.events, lastBound: rec.LastBound,
			capture: NewCapture(spec.Capture.MaxFrames, spec.Capture.MaxBytesPerFrame)}
		r.entries[spec.ID] = e
		restored++
		if !rec.Running {
			continue
		}
		if spec.Handler == HandlerExec && len(r.execAllow) == 0 {
			e.failure = ErrExecDisabled.Error()
			failed++
			continue
		}
		if err := e.start(r.log); err != nil {
			r.log.Warn("listener not restored", "id", spec.ID, "error", err)
			failed++
			continue
		}
		r.log.Info("listener restored", "id", spec.ID, "address", e.info().BoundAddr)
	}
	return restored, failed, nil
}
