package registry

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// Update makes spec the listener's desired state: spec.ID names the
// listener and spec is whole (the caller merges what it changes into what
// Desired returned). A non-empty etag must be the listener's. A TTL is
// counted from now, so an update extends it.
//
// What runs changes in place, through the same Provision as a start: the
// handler, exec options, script, faults, capture, limits, labels, expiry,
// a Unix socket's mode (a chmod) and the TLS options of a TLS listener
// apply without closing a connection (an open connection switches at its
// next frame boundary and keeps its framing, which applies to new
// connections; a new certificate serves the next handshakes). A change
// of transport or address, or turning TLS on or off, rebinds: the new
// socket is bound first, and a bind error fails the call with nothing
// changed; then the old one stops gracefully, draining for up to
// DefaultDrainTimeout or until ctx ends. A stopped listener only has its
// spec changed. An update that changes nothing bumps no generation.
func (r *Registry) Update(ctx context.Context, spec Spec, etag string) (Info, error) {
	cur, _, err := r.Desired(spec.ID)
	if err != nil && !errors.Is(err, ErrUnreadable) {
		return Info{}, err
	}
	spec, prov, err := r.policy.prepareUpdate(cur, spec, time.Now())
	if err != nil {
		return Info{}, err
	}
	e, err := r.acquire(ctx, spec.ID)
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
	e.mu.Lock()
	old, oldEffective, capture := e.desired, e.effective, e.capture
	prov.keepScript(oldEffective, e.script)
	prov.keepRecording(oldEffective, e.proxy)
	e.mu.Unlock()
	if reflect.DeepEqual(old, spec) {
		return e.info(), nil
	}
	if c := prov.Spec.Capture; c != oldEffective.Capture {
		capture = rawsock.NewCapture(c.MaxFrames, c.MaxBytesPerFrame)
	}

	ln := e.serving()
	var rebound *rawsock.Listener
	if ln != nil && needsRebind(oldEffective, prov.Spec) {
		// Bound before anything changes: a bind error leaves all as it was.
		if rebound, err = bind(prov.config(&e.stats, capture, r.events, r.log)); err != nil {
			return e.info(), err
		}
	}
	e.mu.Lock()
	e.desired = spec
	e.generation++
	e.mu.Unlock()
	if err := r.save(e); err != nil {
		e.mu.Lock()
		e.desired = old
		e.generation--
		e.mu.Unlock()
		r.closeListener(e, rebound)
		return e.info(), err
	}
	switch {
	case rebound != nil:
		e.mu.Lock()
		e.ln, e.capture = rebound, capture
		e.setEffective(prov)
		e.lastBound, e.startedAt = rebound.Addr().String(), time.Now()
		e.mu.Unlock()
		r.drain(ctx, e, ln, DefaultDrainTimeout)
	case ln != nil:
		cfg := prov.config(&e.stats, capture, r.events, r.log)
		// The same address as asked, but a port-0 listener may have been
		// bound again on the port it had (see start): that is its address.
		cfg.Address = ln.BindAddress()
		if err := ln.Update(cfg); err != nil {
			// Only a listener that stopped under us refuses; it shows so.
			e.setFailure(err)
			return e.info(), err
		}
		e.mu.Lock()
		e.capture = capture
		e.setEffective(prov)
		e.mu.Unlock()
	default:
		e.mu.Lock()
		e.capture = capture
		e.setEffective(prov)
		e.mu.Unlock()
	}
	e.acted()
	r.logDropped(e.id, prov)
	r.scheduleExpiry(spec.ExpireTime)
	info := e.info()
	r.log.Info("listener updated", "id", e.id, "generation", info.Generation, "rebound", rebound != nil)
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerUpdated, ListenerID: e.id, Message: "generation " + strconv.FormatInt(info.Generation, 10)})
	return info, nil
}

// Desired returns a listener's desired spec, as asked and stored (not
// the effective spec Get shows), and its etag: what an update starts from.
func (r *Registry) Desired(id string) (Spec, string, error) {
	e, err := r.lookup(id)
	if err != nil {
		return Spec{}, "", err
	}
	if err := e.readable(); err != nil {
		return Spec{}, "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.desired, etagOf(e.createTime, e.generation), nil
}

// needsRebind reports a change that a running socket cannot take.
func needsRebind(old, new Spec) bool {
	return old.Transport != new.Transport || old.Address != new.Address || (old.TLS == nil) != (new.TLS == nil)
}
