package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// Restore brings back the listeners of the store, each with its id and
// desired spec, through Provision under the registry's policy, and starts
// those that should run. One that cannot be provisioned (an exec listener
// while exec is off), cannot bind, or whose record cannot be read is kept
// in StateFailed with the reason, logged with its id, and the others
// start. It returns how many listeners it restored and how many of those
// failed; only a store that cannot be read at all is an error.
func (r *Registry) Restore(ctx context.Context) (restored, failed int, err error) {
	if r.store == nil {
		return 0, 0, nil
	}
	recs, err := r.store.Load()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrStore, err)
	}
	entries := make([]*entry, 0, len(recs))
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, 0, ErrShuttingDown
	}
	for _, rec := range recs {
		if _, ok := r.entries[rec.Spec.ID]; ok {
			r.mu.Unlock()
			return 0, 0, fmt.Errorf("stored listener %q: %w", rec.Spec.ID, ErrExists)
		}
		e := newEntry(rec.Spec.ID)
		e.op <- struct{}{} // held until its restore is done
		e.desired, e.running, e.lastBound, e.unreadable = rec.Spec, rec.Running, rec.LastBound, rec.Unreadable
		e.generation, e.createTime, e.requestID = max(rec.Generation, 1), rec.CreateTime, rec.RequestID
		e.visible = true
		r.entries[e.id] = e
		if e.requestID != "" {
			r.requests[e.requestID] = e
		}
		entries = append(entries, e)
	}
	r.mu.Unlock()

	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.id, b.id) })
	now := time.Now()
	kept := entries[:0]
	for _, e := range entries {
		if exp := e.desired.ExpireTime; !exp.IsZero() && !exp.After(now) && e.unreadable == nil {
			// Its time passed while the daemon was down.
			if err := r.remove(ctx, e, StopOptions{Immediate: true}, rawsock.EventListenerExpired); err != nil {
				r.log.Warn("listener expired while the daemon was down, and could not be deleted", "id", e.id, "error", err)
				kept = append(kept, e)
				continue
			}
			e.release()
			r.log.Info("listener expired while the daemon was down", "id", e.id, "expireTime", exp)
			continue
		}
		kept = append(kept, e)
	}
	entries = kept
	for i, e := range entries {
		if max := r.policy.MaxListeners; max > 0 && i >= max {
			// The policy bounds restores too: the listeners past it are
			// kept, stored and shown, but do not run.
			err := fmt.Errorf("%w: %d listeners are stored, the daemon allows %d: not restored running", ErrTooManyListeners, len(entries), max)
			e.setFailure(err)
			r.log.Warn("listener not restored", "id", e.id, "error", err)
			e.release()
			failed++
			continue
		}
		if !r.restoreOne(ctx, e) {
			failed++
		}
	}
	for _, e := range entries {
		r.scheduleExpiry(e.desired.ExpireTime)
	}
	return len(entries), failed, nil
}

// restoreOne provisions and, if it should run, starts one restored
// entry, whose operation lock the caller holds and this releases. It
// reports success.
func (r *Registry) restoreOne(ctx context.Context, e *entry) bool {
	defer e.release()
	if e.unreadable != nil {
		err := e.readable()
		e.setFailure(err)
		r.log.Error("listener not restored: its stored record is kept as it is", "id", e.id, "error", e.unreadable)
		return false
	}
	prov, err := r.policy.Provision(e.desired)
	if err != nil {
		e.setFailure(err)
		if e.running {
			r.log.Warn("listener not restored", "id", e.id, "error", err)
			return false
		}
		return true // stopped, and stays so: Start will say why it cannot run
	}
	r.logDropped(e.id, prov)
	e.mu.Lock()
	e.effective = prov.Spec
	e.mu.Unlock()
	if !e.running {
		return true
	}
	if err := ctx.Err(); err != nil {
		e.setFailure(err)
		return false
	}
	start := time.Now()
	if err := r.start(e, prov); err != nil {
		r.log.Warn("listener not restored", "id", e.id, "error", err)
		return false
	}
	r.log.Info("listener restored", "id", e.id, "address", e.info().BoundAddr, "took", time.Since(start))
	return true
}
