package registry

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sockplane/sockplane/proxy"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
)

// entry is one registered listener.
type entry struct {
	id string
	// op serializes the operations on this listener (create, start, stop,
	// delete, restore, shutdown): a one-token semaphore rather than a
	// mutex, so that a caller waits for it only until its context ends.
	// It is held across binds, drains and saves; mu is not.
	op    chan struct{}
	stats rawsock.Stats // kept across stop and start

	mu         sync.Mutex
	desired    Spec // as asked, and as stored
	effective  Spec // as last provisioned; zero until then
	running    bool // desired: it should run
	ln         *rawsock.Listener
	failure    string // why it is not running, when it should
	startedAt  time.Time
	lastBound  string // the address the listener last bound
	capture    *rawsock.Capture
	generation int64           // of the desired state: 1 at create, +1 per change
	observed   int64           // the generation the engine last acted on
	createTime time.Time       // with generation, the etag
	requestID  string          // of the Create, for its retries
	visible    bool            // false while its Create is in flight
	deleted    bool            // Delete has begun
	unreadable error           // its stored record could not be read; see ErrUnreadable
	script     *script.Handler // of the effective spec, for its counters
	proxy      *proxy.Handler  // of the effective spec, for its recording
	tlsInfo    *tlsconf.Info   // of the effective spec
}

// setEffective records what runs. The caller holds mu.
func (e *entry) setEffective(prov *Provisioned) {
	e.effective, e.script, e.proxy, e.tlsInfo = prov.Spec, prov.script, prov.proxy, prov.tlsInfo
}

func newEntry(id string) *entry {
	return &entry{id: id, op: make(chan struct{}, 1)}
}

// acquire takes the operation lock, or gives up when ctx ends.
func (e *entry) acquire(ctx context.Context) error {
	select {
	case e.op <- struct{}{}:
		return nil
	default:
	}
	select {
	case e.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("listener %s is busy with another operation: %w", e.id, ctx.Err())
	}
}

func (e *entry) release() { <-e.op }

func (e *entry) isVisible() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.visible
}

// labels are the entry's labels; the map is never changed in place.
func (e *entry) labels() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.desired.Labels
}

func (e *entry) isDeleted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.deleted
}

// readable refuses changes to a listener whose stored record could not
// be read: writing it would overwrite what a newer sockplane wrote.
func (e *entry) readable() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.unreadable != nil {
		return fmt.Errorf("%w: %s: %w; delete the listener, or run a sockplane that reads it", ErrUnreadable, e.id, e.unreadable)
	}
	return nil
}

// setFailure records why the listener does not run.
func (e *entry) setFailure(err error) {
	e.mu.Lock()
	e.failure = err.Error()
	e.mu.Unlock()
}

// serving returns the entry's listener while it serves.
func (e *entry) serving() *rawsock.Listener {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil || e.ln.Err() != nil {
		return nil
	}
	return e.ln
}

func (e *entry) info() Info {
	e.mu.Lock()
	ln, failure, startedAt, sh, tlsInfo := e.ln, e.failure, e.startedAt, e.script, e.tlsInfo
	spec := e.effective
	if spec.Transport == "" {
		spec = e.desired
	}
	spec.ExpireTime = e.desired.ExpireTime
	spec.Labels = e.desired.Labels
	created, generation, observed := e.createTime, e.generation, e.observed
	e.mu.Unlock()
	info := Info{Spec: spec, State: StateStopped, StartedAt: startedAt, Stats: e.stats.Snapshot(),
		Etag: etagOf(created, generation), Generation: generation, ObservedGeneration: observed}
	if sh != nil {
		hits := sh.Hits()
		info.Script = &hits
	}
	info.TLS = tlsInfo
	switch {
	case ln != nil && ln.Err() == nil:
		info.State = StateRunning
		info.BoundAddr = ln.Addr().String()
		info.Faults = ln.FaultHits()
	case ln != nil && ln.Err() != rawsock.ErrListenerClosed:
		info.State, info.Error = StateFailed, ln.Err().Error()
	case failure != "":
		info.State, info.Error = StateFailed, failure
	}
	return info
}

// etagOf is a listener's etag: it changes with every change of desired
// state, and a listener deleted and created again under the same id does
// not reuse one.
func etagOf(created time.Time, generation int64) string {
	var stamp int64 // zero for records of before create times were kept
	if !created.IsZero() {
		stamp = created.UnixNano()
	}
	return strconv.FormatInt(stamp, 36) + "-" + strconv.FormatInt(generation, 10)
}

// checkEtag refuses a change asked against another etag than the
// listener's. The caller holds the operation lock.
func (e *entry) checkEtag(etag string) error {
	if etag == "" {
		return nil
	}
	e.mu.Lock()
	current := etagOf(e.createTime, e.generation)
	e.mu.Unlock()
	if etag != current {
		return fmt.Errorf("%w: listener %s is at etag %q, not %q", ErrEtagMismatch, e.id, current, etag)
	}
	return nil
}

// changed bumps the generation of the desired state. The caller holds the
// operation lock.
func (e *entry) changed() {
	e.mu.Lock()
	e.generation++
	e.mu.Unlock()
}

// acted records that the engine reflects the current generation.
func (e *entry) acted() {
	e.mu.Lock()
	e.observed = e.generation
	e.mu.Unlock()
}

func asksAnyPort(address string) bool {
	_, port, err := net.SplitHostPort(address)
	return err == nil && port == "0"
}
