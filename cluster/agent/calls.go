package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/registry"
)

// casAttempts bounds the retries of a write whose compare-and-swap lost
// to a write that changed no generation (an owner recording its bound
// address).
const casAttempts = 5

// retryFor is how long a write goes on trying while etcd is unavailable
// — a leader election after a member stopped takes about a second — before
// it answers with cluster.ErrUnavailable.
const retryFor = 5 * time.Second

// retrying runs op until it returns anything but cluster.ErrUnavailable,
// or retryFor has passed, or ctx ends. op learns whether it is a retry:
// then its previous attempt may have been applied, unseen.
func retrying(ctx context.Context, op func(retry bool) error) error {
	deadline := time.Now().Add(retryFor)
	for retry := false; ; retry = true {
		err := op(retry)
		if !errors.Is(err, cluster.ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// policyFor is the policy that prepares a spec node serves: this node's
// own, or, for another node, one that leaves its policy to it.
func (a *Agent) policyFor(node string) registry.Policy {
	if node == a.name {
		return a.cfg.Policy
	}
	return registry.RemotePolicy(node)
}

// Create writes a new listener to the cluster — on spec.Node, this node
// when empty — and waits for its node to act (see await). A bind error
// or a policy refusal on the node deletes the record again and is
// returned, as a local Create's would be.
func (a *Agent) Create(ctx context.Context, spec registry.Spec, opts registry.CreateOptions) (registry.Info, error) {
	if info, done, err := a.retried(spec, opts.RequestID); done {
		return info, err
	}
	if spec.Node == "" {
		spec.Node = a.name
	}
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("%s-%08x", spec.Transport, rand.Uint32())
	}
	now := time.Now().UTC()
	prepared, err := a.policyFor(spec.Node).Prepare(spec, now)
	if err != nil {
		return registry.Info{}, err
	}
	rec := registry.Record{Spec: prepared, Running: true, Generation: 1, CreateTime: now, RequestID: opts.RequestID}
	err = retrying(ctx, func(retry bool) error {
		_, err := a.store.Create(ctx, rec)
		if retry && errors.Is(err, registry.ErrExists) {
			// The attempt etcd did not answer may have been applied: a
			// record of this create time is this create's.
			if cur, gerr := a.store.Get(ctx, rec.Spec.ID); gerr == nil && cur.Value.CreateTime.Equal(rec.CreateTime) {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return registry.Info{}, err
	}
	info, err := a.await(ctx, rec)
	if err != nil {
		if derr := a.deleteIfGeneration(ctx, rec); derr != nil {
			a.log.Warn("a listener its node could not run was kept", "id", rec.Spec.ID, "error", derr)
		} else {
			a.awaitGone(ctx, rec.Spec.ID, rec.Spec.Node)
		}
		return registry.Info{}, err
	}
	return info, nil
}

// retried answers a Create whose request id a listener has already.
func (a *Agent) retried(spec registry.Spec, requestID string) (registry.Info, bool, error) {
	if requestID == "" {
		return registry.Info{}, false, nil
	}
	for _, ent := range a.listeners.List() {
		if ent.Value.RequestID != requestID {
			continue
		}
		have := ent.Value.Spec
		if (spec.ID == "" || spec.ID == have.ID) && spec.Transport == have.Transport && spec.Address == have.Address && spec.Handler == have.Handler {
			return a.view(ent), true, nil
		}
		return registry.Info{}, true, fmt.Errorf("%w: request id %q created listener %s", registry.ErrRequestReused, requestID, have.ID)
	}
	return registry.Info{}, false, nil
}

// deleteIfGeneration deletes a record its create wrote, unless it has
// changed generation since (someone else's change then stands).
func (a *Agent) deleteIfGeneration(ctx context.Context, rec registry.Record) error {
	ctx = context.WithoutCancel(ctx)
	for range casAttempts {
		cur, err := a.store.Get(ctx, rec.Spec.ID)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Value.Generation != rec.Generation || !cur.Value.CreateTime.Equal(rec.CreateTime) {
			return nil
		}
		if err := a.store.Delete(ctx, rec.Spec.ID, cur.ModRevision); !errors.Is(err, registry.ErrEtagMismatch) {
			return err
		}
	}
	return fmt.Errorf("listener %s kept changing", rec.Spec.ID)
}

// change writes the next generation of listener id, which edit makes
// from the current record (etag, when given, must be its etag), and
// waits for its node. An edit that changes nothing writes nothing.
func (a *Agent) change(ctx context.Context, id, etag string, edit func(cur registry.Record) (registry.Record, error)) (registry.Info, error) {
	for range casAttempts {
		var cur cluster.Entry[registry.Record]
		err := retrying(ctx, func(bool) (err error) {
			cur, err = a.store.Get(ctx, id)
			return err
		})
		if err != nil {
			return registry.Info{}, err
		}
		if cur.Value.Unreadable != nil {
			return registry.Info{}, fmt.Errorf("%w: %w", registry.ErrUnreadable, cur.Value.Unreadable)
		}
		if etag != "" && etag != etagOf(cur.Value) {
			return registry.Info{}, fmt.Errorf("%w: listener %s is at etag %q, not %q", registry.ErrEtagMismatch, id, etagOf(cur.Value), etag)
		}
		next, err := edit(cur.Value)
		if err != nil {
			return registry.Info{}, err
		}
		if sameRecord(cur.Value, next) {
			return a.await(ctx, cur.Value)
		}
		next.Generation = cur.Value.Generation + 1
		_, err = a.store.Update(ctx, next, cur.ModRevision)
		if errors.Is(err, registry.ErrEtagMismatch) || errors.Is(err, cluster.ErrUnavailable) {
			// Lost to another write, or etcd did not answer (and may have
			// applied it): read it again and decide again, which finds
			// this very change made when it was.
			if errors.Is(err, cluster.ErrUnavailable) {
				if err := retrying(ctx, func(bool) error { _, err := a.store.Get(ctx, id); return err }); err != nil {
					return registry.Info{}, err
				}
			}
			continue
		}
		if err != nil {
			return registry.Info{}, err
		}
		return a.await(ctx, next)
	}
	return registry.Info{}, fmt.Errorf("%w: listener %s kept changing under the update", registry.ErrEtagMismatch, id)
}

func sameRecord(a, b registry.Record) bool {
	return a.Running == b.Running && reflect.DeepEqual(a.Spec, b.Spec)
}

// Update makes spec the desired spec of listener spec.ID (see
// registry.Registry.Update), prepared under the policy of its node; a
// spec naming another node moves the listener there.
func (a *Agent) Update(ctx context.Context, spec registry.Spec, etag string) (registry.Info, error) {
	return a.change(ctx, spec.ID, etag, func(cur registry.Record) (registry.Record, error) {
		if spec.Node == "" {
			spec.Node = cur.Spec.Node
		}
		prepared, err := a.policyFor(spec.Node).PrepareUpdate(cur.Spec, spec, time.Now())
		if err != nil {
			return cur, err
		}
		cur.Spec = prepared
		return cur, nil
	})
}

// Start asks listener id's node to run it.
func (a *Agent) Start(ctx context.Context, id, etag string) (registry.Info, error) {
	return a.change(ctx, id, etag, func(cur registry.Record) (registry.Record, error) {
		cur.Running = true
		return cur, nil
	})
}

// Stop asks listener id's node to stop it. The node stops it gracefully,
// with registry.DefaultDrainTimeout: a drain's options are not part of
// the desired state.
func (a *Agent) Stop(ctx context.Context, id string, opts registry.StopOptions) (registry.Info, error) {
	return a.change(ctx, id, opts.Etag, func(cur registry.Record) (registry.Record, error) {
		cur.Running = false
		return cur, nil
	})
}

// Desired returns listener id's desired spec and etag, read from etcd.
func (a *Agent) Desired(id string) (registry.Spec, string, error) {
	ctx, cancel := context.WithTimeout(a.stopCtx, a.store.CallTimeout)
	defer cancel()
	cur, err := a.store.Get(ctx, id)
	if err != nil {
		return registry.Spec{}, "", err
	}
	if cur.Value.Unreadable != nil {
		return registry.Spec{}, "", fmt.Errorf("%w: %w", registry.ErrUnreadable, cur.Value.Unreadable)
	}
	return cur.Value.Spec, etagOf(cur.Value), nil
}

// Delete deletes listener id from the cluster and waits (up to
// Config.AckTimeout) for its node to stop it.
func (a *Agent) Delete(ctx context.Context, id string, opts registry.StopOptions) error {
	deleting := false // an attempt etcd did not answer may have deleted it
	for range casAttempts {
		var cur cluster.Entry[registry.Record]
		err := retrying(ctx, func(bool) (err error) {
			cur, err = a.store.Get(ctx, id)
			return err
		})
		if deleting && errors.Is(err, registry.ErrNotFound) {
			a.awaitGone(ctx, id, "")
			return nil
		}
		if err != nil {
			return err
		}
		if opts.Etag != "" && cur.Value.Unreadable == nil && opts.Etag != etagOf(cur.Value) {
			return fmt.Errorf("%w: listener %s is at etag %q, not %q", registry.ErrEtagMismatch, id, etagOf(cur.Value), opts.Etag)
		}
		err = a.store.Delete(ctx, id, cur.ModRevision)
		if errors.Is(err, registry.ErrEtagMismatch) {
			continue
		}
		if errors.Is(err, cluster.ErrUnavailable) {
			deleting = true
			continue
		}
		if err != nil {
			return err
		}
		a.awaitGone(ctx, id, cur.Value.Spec.Node)
		return nil
	}
	return fmt.Errorf("%w: listener %s kept changing under the delete", registry.ErrEtagMismatch, id)
}

// DeleteMatching deletes every listener sel matches and every one named
// in ids, as Delete does, and returns the ids it deleted, in order.
func (a *Agent) DeleteMatching(ctx context.Context, sel registry.Selector, ids []string, opts registry.StopOptions) ([]string, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	if sel != nil && !sel.Empty() {
		for _, info := range a.List(sel) {
			want[info.Spec.ID] = true
		}
	}
	return registry.DeleteEach(want, func(id string) error { return a.Delete(ctx, id, opts) })
}

// await waits until the informers show rec's generation and its node's
// status for it, and returns the listener then; the node's failure to
// run it is the error. Past Config.AckTimeout, or at once when the node
// is not alive, it returns the listener as it is (StatePending,
// StateUnknown) and no error: the desired state is written, and the node
// acts when it can.
func (a *Agent) await(ctx context.Context, rec registry.Record) (registry.Info, error) {
	id, node := rec.Spec.ID, rec.Spec.Node
	deadline := time.NewTimer(a.cfg.AckTimeout)
	defer deadline.Stop()
	for {
		changed := a.changes.wait()
		ent, seen := a.listeners.Get(id)
		if seen && ent.Value.Generation >= rec.Generation {
			if _, alive := a.nodes.Get(node); !alive {
				return a.view(ent), nil
			}
			if st, ok := a.statuses.Get(id); ok && st.Value.Node == node && st.Value.ObservedGeneration >= rec.Generation {
				info := a.view(ent)
				if st.Value.Error != "" && st.Value.ObservedGeneration == rec.Generation {
					return info, ownerError(node, st.Value.Reason, st.Value.Error)
				}
				return info, nil
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			if seen {
				return a.view(ent), nil
			}
			return registry.Info{Spec: rec.Spec, State: registry.StatePending, Etag: etagOf(rec), Generation: rec.Generation,
				Message: fmt.Sprintf("node %s has not acted on generation %d yet", node, rec.Generation)}, nil
		case <-ctx.Done():
			return registry.Info{}, ctx.Err()
		}
	}
}

// awaitGone waits, up to Config.AckTimeout, until this node's informer
// no longer has listener id and its node has stopped it (its status is
// gone) or is itself gone.
func (a *Agent) awaitGone(ctx context.Context, id, node string) {
	deadline := time.NewTimer(a.cfg.AckTimeout)
	defer deadline.Stop()
	for {
		changed := a.changes.wait()
		_, listed := a.listeners.Get(id)
		st, ok := a.statuses.Get(id)
		_, alive := a.nodes.Get(node)
		if !listed && (!ok || st.Value.Node != node || !alive) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
