package agent

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/registry"
)

// stateNames are the sockplane.v1.State names a status carries.
var stateNames = map[registry.State]string{
	registry.StateRunning: "STATE_RUNNING",
	registry.StateStopped: "STATE_STOPPED",
	registry.StateFailed:  "STATE_FAILED",
}

func stateOf(name string) registry.State {
	for s, n := range stateNames {
		if n == name {
			return s
		}
	}
	return registry.StateUnknown
}

// reconcile makes this node's registry hold listener id as the cluster's
// desired state says, and publishes what it observes. It runs on the
// queue, one run per id at a time.
func (a *Agent) reconcile(id string) {
	ctx := a.stopCtx
	select {
	case <-a.session.Done():
		// Another daemon took this node's name while its lease was lost:
		// that one serves the node's share now. Nothing more here.
		a.endOnce.Do(func() {
			a.log.Error("this node's name was taken by another daemon: no longer reconciling", "error", a.session.Err())
		})
		return
	default:
	}
	ent, ok := a.listeners.Get(id)
	if !ok || ent.Value.Unreadable != nil || ent.Value.Spec.Node != a.name {
		a.release(ctx, id)
		return
	}
	rec := ent.Value
	if exp := rec.Spec.ExpireTime; !exp.IsZero() {
		if wait := time.Until(exp); wait > 0 {
			a.expireAt(id, wait)
		} else {
			// Its owner deletes an expired listener's record, whoever made it.
			if err := a.store.Delete(ctx, id, ent.ModRevision); err != nil && !errors.Is(err, registry.ErrEtagMismatch) && !errors.Is(err, registry.ErrNotFound) {
				a.log.Warn("could not delete an expired listener", "id", id, "error", err)
			}
			a.release(ctx, id)
			return
		}
	}
	info, err := a.reg.Apply(ctx, rec)
	if ctx.Err() != nil {
		return // closing: what it did is not this node's to publish any more
	}
	if err != nil {
		a.log.Warn("listener not as desired", "id", id, "generation", rec.Generation, "error", err)
	}
	var extra []clientv3.Op
	if info.BoundAddr != "" && info.BoundAddr != rec.LastBound {
		// So that the node gets the same port back after a restart: in the
		// status's transaction, so that a caller who saw the status finds
		// it kept, for one write. The generation stays: an etag callers
		// hold stays good. A record changed meanwhile is left as it is.
		rec.LastBound = info.BoundAddr
		if op, err := a.store.UpdateOp(rec, ent.ModRevision); err == nil {
			extra = append(extra, op)
		}
	}
	a.publish(ctx, id, a.statusOf(id, info, rec.Generation, err), extra...)
}

// expireAt has listener id reconciled again once wait has passed, when
// its expire time has: one timer per listener, the latest wins. A timer
// that fires after Close adds to a closed queue, which ignores it.
func (a *Agent) expireAt(id string, wait time.Duration) {
	a.timersMu.Lock()
	defer a.timersMu.Unlock()
	if t, ok := a.timers[id]; ok {
		t.Stop()
	}
	a.timers[id] = time.AfterFunc(wait, func() {
		a.timersMu.Lock()
		delete(a.timers, id)
		a.timersMu.Unlock()
		a.work.add(id)
	})
}

// stopTimers stops the expiry timers, at Close.
func (a *Agent) stopTimers() {
	a.timersMu.Lock()
	defer a.timersMu.Unlock()
	for id, t := range a.timers {
		t.Stop()
		delete(a.timers, id)
	}
}

// statusOf is the status to publish of a listener the registry acted on.
func (a *Agent) statusOf(id string, info registry.Info, generation int64, err error) cluster.Status {
	st := cluster.Status{State: stateNames[info.State], BoundAddress: info.BoundAddr, Error: info.Error,
		ObservedGeneration: generation, Since: time.Now().UTC()}
	if st.State == "" {
		st.State = stateNames[registry.StateFailed]
	}
	if err != nil {
		st.State, st.Error, st.Reason = stateNames[registry.StateFailed], err.Error(), reasonOf(err)
		if info.State == registry.StateRunning { // a refused update of a running listener: it runs on as it was
			st.State = stateNames[registry.StateRunning]
		}
	}
	if prev, ok := a.session.Statuses()[id]; ok && prev.State == st.State {
		st.Since = prev.Since
	}
	return st
}

// publish writes a status, and the extra operations with it, retrying
// while etcd is unavailable or the listener's previous owner still holds
// its status key (a move between nodes), until ctx ends. An unchanged
// status with nothing extra is not written again.
func (a *Agent) publish(ctx context.Context, id string, st cluster.Status, extra ...clientv3.Op) {
	if prev, ok := a.session.Statuses()[id]; ok && len(extra) == 0 {
		prev.Node = ""
		if prev == st {
			return
		}
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := a.session.PublishStatusWith(ctx, id, st, extra...)
		if err == nil || !(errors.Is(err, cluster.ErrUnavailable) || errors.Is(err, cluster.ErrStatusOwned)) {
			if err != nil {
				a.log.Warn("could not publish a listener's status", "id", id, "error", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// release stops and forgets a listener this node no longer serves (its
// record is gone, names another node, or expired) and removes its status.
func (a *Agent) release(ctx context.Context, id string) {
	err := a.reg.Delete(ctx, id, registry.StopOptions{})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		a.log.Warn("could not stop a listener this node no longer serves", "id", id, "error", err)
	}
	if _, ok := a.session.Statuses()[id]; ok {
		if err := a.session.RemoveStatus(ctx, id); err != nil && ctx.Err() == nil {
			a.log.Warn("could not remove a listener's status", "id", id, "error", err)
		}
	}
}
