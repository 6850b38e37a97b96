package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// CreateOptions qualify a Create.
type CreateOptions struct {
	// RequestID makes the Create safe to retry: a Create with the request
	// id of an existing listener and the same spec returns that listener;
	// with another spec it is ErrRequestReused. At most 128 bytes.
	// Default: "", none.
	RequestID string
}

// MaxRequestIDLength bounds CreateOptions.RequestID.
const MaxRequestIDLength = 128

// Create provisions spec, binds the listener, saves it and starts it. A
// spec without an id gets a generated one; a TTL becomes its ExpireTime.
// If anything fails nothing is registered: the id is reserved while the
// bind and the save run, so a concurrent Create of the same id gets
// ErrExists, and Get does not see it until it is whole.
func (r *Registry) Create(ctx context.Context, spec Spec, opts CreateOptions) (Info, error) {
	if len(opts.RequestID) > MaxRequestIDLength {
		return Info{}, fieldErrorf("requestId", "%d bytes, more than %d", len(opts.RequestID), MaxRequestIDLength)
	}
	if info, done, err := r.retried(ctx, spec, opts.RequestID); done {
		return info, err
	}
	now := time.Now()
	spec, prov, err := r.policy.prepare(spec, now)
	if err != nil {
		return Info{}, err
	}
	e, err := r.reserve(spec.ID, spec.Transport, opts.RequestID)
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	spec.ID, prov.Spec.ID = e.id, e.id
	e.desired, e.running = spec, true
	e.generation, e.createTime, e.requestID = 1, now, opts.RequestID
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
	e.acted()
	r.scheduleExpiry(spec.ExpireTime)
	info := e.info()
	r.log.Info("listener created", "id", e.id, "transport", spec.Transport, "address", info.BoundAddr)
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerCreated, ListenerID: e.id, Message: "listening on " + info.BoundAddr})
	return info, nil
}

// retried answers a Create whose request id is already a listener's: with
// that listener, once its own Create is done, when the spec is the same
// (its id, if it names none, and its expiry aside); done is false when the
// request id is new.
func (r *Registry) retried(ctx context.Context, spec Spec, requestID string) (info Info, done bool, err error) {
	if requestID == "" {
		return Info{}, false, nil
	}
	r.mu.Lock()
	e, ok := r.requests[requestID]
	r.mu.Unlock()
	if !ok {
		return Info{}, false, nil
	}
	if err := e.acquire(ctx); err != nil { // its Create may still run
		return Info{}, true, err
	}
	e.release()
	if !e.isVisible() || e.isDeleted() {
		return r.retried(ctx, spec, requestID) // that Create failed, or it is gone: try again
	}
	e.mu.Lock()
	first := e.desired
	e.mu.Unlock()
	if sameRequest(first, spec) {
		return e.info(), true, nil
	}
	return Info{}, true, fmt.Errorf("%w: request id %q created listener %s", ErrRequestReused, requestID, e.id)
}

// sameRequest compares a retried spec with the listener's desired spec.
func sameRequest(desired, retry Spec) bool {
	if retry.ID == "" {
		retry.ID = desired.ID
	}
	desired.TTL, desired.ExpireTime = 0, time.Time{}
	if desired.TLS != nil { // the certificate Create made is not asked for
		t := desired.TLS.Clone()
		t.SelfSignedCertPEM, t.SelfSignedKeyPEM = nil, nil
		desired.TLS = &t
	}
	retry.TTL, retry.ExpireTime = 0, time.Time{}
	return reflect.DeepEqual(desired.withDefaults(), retry.withDefaults())
}

// withExpiry turns an asked TTL into the spec's ExpireTime.
func withExpiry(spec Spec, now time.Time) (Spec, error) {
	switch {
	case spec.TTL < 0:
		return spec, fieldErrorf("ttl", "%v is negative", spec.TTL)
	case spec.TTL > 0 && !spec.ExpireTime.IsZero():
		return spec, fieldErrorf("ttl", "give ttl or expireTime, not both")
	case spec.TTL > 0:
		spec.ExpireTime, spec.TTL = now.Add(spec.TTL), 0
	case !spec.ExpireTime.IsZero() && !spec.ExpireTime.After(now):
		return spec, fieldErrorf("expireTime", "%s has passed", spec.ExpireTime.UTC().Format(time.RFC3339))
	}
	return spec, nil
}

// Start provisions a stopped or failed listener's spec again, under the
// policy of now, and binds it. Starting a running listener does nothing.
// A spec the policy refuses (an exec listener while exec is off) is
// refused and nothing changes; a failed bind leaves it in StateFailed, to
// run, and is returned. A non-empty etag must be the listener's.
func (r *Registry) Start(ctx context.Context, id, etag string) (Info, error) {
	e, err := r.acquire(ctx, id)
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	if err := e.checkEtag(etag); err != nil {
		return e.info(), err
	}
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
	wasRunning := e.running
	e.running = true
	e.mu.Unlock()
	if !wasRunning {
		e.changed()
	}
	if err := r.save(e); err != nil {
		return e.info(), err
	}
	r.logDropped(e.id, prov)
	if err := r.start(e, prov); err != nil {
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerFailed, ListenerID: id, Message: err.Error()})
		return e.info(), err
	}
	e.acted()
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
	// Etag, when set, must be the listener's etag.
	Etag string
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
	if err := e.checkEtag(opts.Etag); err != nil {
		return e.info(), err
	}
	if err := e.readable(); err != nil {
		return e.info(), err
	}
	e.mu.Lock()
	wasRunning := e.running
	e.running = false
	e.mu.Unlock()
	if wasRunning {
		e.changed()
		if err := r.save(e); err != nil {
			return e.info(), err
		}
	}
	if r.stopListener(ctx, e, opts) {
		r.log.Info("listener stopped", "id", id)
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerStopped, ListenerID: id})
	}
	e.acted()
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
	if err := e.checkEtag(opts.Etag); err != nil {
		return err
	}
	return r.remove(ctx, e, opts, rawsock.EventListenerDeleted)
}

// remove deletes an entry whose operation lock the caller holds: from the
// store, then from the map, then its listener stops; the event says why.
func (r *Registry) remove(ctx context.Context, e *entry, opts StopOptions, why rawsock.EventType) error {
	if r.store != nil {
		if err := r.store.Delete(e.id); err != nil {
			return fmt.Errorf("%w: %w", ErrStore, err)
		}
	}
	r.mu.Lock()
	if r.entries[e.id] == e {
		delete(r.entries, e.id)
	}
	if e.requestID != "" && r.requests[e.requestID] == e {
		delete(r.requests, e.requestID)
	}
	r.mu.Unlock()
	e.mu.Lock()
	e.deleted = true
	e.mu.Unlock()
	if r.stopListener(ctx, e, opts) {
		r.events.Publish(rawsock.Event{Type: rawsock.EventListenerStopped, ListenerID: e.id})
	}
	if why == rawsock.EventListenerExpired {
		r.log.Info("listener expired", "id", e.id)
	} else {
		r.log.Info("listener deleted", "id", e.id)
	}
	r.events.Publish(rawsock.Event{Type: why, ListenerID: e.id})
	return nil
}

// DeleteMatching deletes every listener that sel matches and every one
// named in ids, as Delete does, and returns the ids it deleted in id
// order. A named id that does not exist is not an error; the first other
// failure is returned with what was deleted before it.
func (r *Registry) DeleteMatching(ctx context.Context, sel Selector, ids []string, opts StopOptions) ([]string, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	if sel != nil && !sel.Empty() {
		for _, info := range r.List(sel) {
			want[info.Spec.ID] = true
		}
	}
	return DeleteEach(want, func(id string) error { return r.Delete(ctx, id, opts) })
}

// DeleteEach runs del on every id of ids, in id order, and returns the
// ids it deleted: one that is not found is no error, the others' errors
// are joined. It is DeleteMatching's loop, for another store of listeners
// (a cluster's).
func DeleteEach(ids map[string]bool, del func(id string) error) ([]string, error) {
	var deleted []string
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		err := del(id)
		switch {
		case err == nil:
			deleted = append(deleted, id)
		case errors.Is(err, ErrNotFound):
		default:
			errs = append(errs, fmt.Errorf("delete %s: %w", id, err))
		}
	}
	return deleted, errors.Join(errs...)
}
