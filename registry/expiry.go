package registry

import (
	"context"
	"sync"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// expiry deletes listeners whose ExpireTime has come, by a timer set for
// the earliest one: eagerly, within expiryGrace, not on the next access.
// No goroutine waits for it; the timer's function runs when it fires, and
// Shutdown stops the timer and waits for a run in progress.
type expiry struct {
	timer *time.Timer // nil when nothing is due
	at    time.Time   // when timer fires
	runs  sync.WaitGroup
}

// expiryGrace is how late an expired listener may be deleted: timers
// firing together are gathered in one run.
const expiryGrace = 100 * time.Millisecond

// scheduleExpiry makes sure the timer fires by at (zero: nothing to do).
func (r *Registry) scheduleExpiry(at time.Time) {
	if at.IsZero() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	x := &r.expiry
	if x.timer != nil && !x.at.After(at) {
		return // it fires earlier already
	}
	if x.timer != nil {
		x.timer.Stop()
	}
	x.at = at
	x.timer = time.AfterFunc(time.Until(at)+expiryGrace/2, r.expire)
}

// expire is the timer's function: it deletes what is due and sets the
// timer for the next.
func (r *Registry) expire() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.expiry.timer = nil
	r.expiry.runs.Add(1)
	now := time.Now().Add(expiryGrace)
	var due []*entry
	var next time.Time
	for _, e := range r.entries {
		e.mu.Lock()
		at, visible := e.desired.ExpireTime, e.visible
		e.mu.Unlock()
		switch {
		case at.IsZero() || !visible:
		case !at.After(now):
			due = append(due, e)
		case next.IsZero() || at.Before(next):
			next = at
		}
	}
	r.mu.Unlock()
	defer r.expiry.runs.Done()

	for _, e := range due {
		r.expireOne(e)
	}
	r.scheduleExpiry(next)
}

// expireOne deletes e if it is still due once its lock is taken (an
// update may have extended it meanwhile).
func (r *Registry) expireOne(e *entry) {
	if err := e.acquire(r.cut); err != nil {
		return // Shutdown cut in
	}
	defer e.release()
	e.mu.Lock()
	at, deleted := e.desired.ExpireTime, e.deleted
	e.mu.Unlock()
	if deleted || at.IsZero() {
		return
	}
	if at.After(time.Now().Add(expiryGrace)) {
		r.scheduleExpiry(at)
		return
	}
	ctx, cancel := context.WithTimeout(r.cut, DefaultDrainTimeout)
	defer cancel()
	if err := r.remove(ctx, e, StopOptions{}, rawsock.EventListenerExpired); err != nil {
		r.log.Warn("listener expired but could not be deleted; retrying", "id", e.id, "error", err)
		r.scheduleExpiry(time.Now().Add(time.Second))
	}
}

// stopExpiry stops the timer and waits for a run in progress; the caller
// has marked the registry closed.
func (r *Registry) stopExpiry() {
	r.mu.Lock()
	if r.expiry.timer != nil {
		r.expiry.timer.Stop()
		r.expiry.timer = nil
	}
	r.mu.Unlock()
	r.expiry.runs.Wait()
}
