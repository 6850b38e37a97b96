package registry

import (
	"context"
	"errors"
	"reflect"

	"github.com/sockplane/sockplane/rawsock"
)

// Apply makes the listener rec names what rec says: the way a cluster
// node acts on the desired state it reads from the cluster's store,
// through the same Provision, policy, bind and in-place update as the
// API's calls. A listener the registry does not have is brought in as
// Restore brings back a stored one (a port-0 listener gets rec.LastBound's
// port while it is free); one it has gets rec's spec as Update gives it,
// then starts or stops (gracefully, DefaultDrainTimeout) as rec.Running
// says. Either way the listener takes rec's generation and create time.
//
// It returns the listener as it is then. An error says why it is not as
// rec asks — a bind error, a spec the policy refuses — and the listener
// stays registered, in StateFailed with that reason, as a restored one
// would: rec is still its desired state.
func (r *Registry) Apply(ctx context.Context, rec Record) (Info, error) {
	id := rec.Spec.ID
	if err := ValidateID(id); err != nil {
		return Info{}, err
	}
	if rec.Unreadable != nil {
		return Info{}, rec.Unreadable
	}
	if rec.Spec.Node != r.policy.Node {
		return Info{}, fieldErrorf("node", "%q: this registry serves node %q", rec.Spec.Node, r.policy.Node)
	}
	cur, _, err := r.Desired(id)
	if errors.Is(err, ErrNotFound) {
		return r.adopt(ctx, rec)
	}
	if err != nil {
		return Info{}, err
	}
	if !reflect.DeepEqual(cur, rec.Spec) {
		if _, err := r.Update(ctx, rec.Spec, ""); err != nil {
			return r.applied(id, rec, false), err
		}
	}
	switch info, err := r.Get(id); {
	case err != nil:
		return Info{}, err
	case rec.Running && info.State != StateRunning:
		if _, err := r.Start(ctx, id, ""); err != nil {
			return r.applied(id, rec, false), err
		}
	case !rec.Running && info.State != StateStopped:
		if _, err := r.Stop(ctx, id, StopOptions{}); err != nil {
			return r.applied(id, rec, false), err
		}
	}
	return r.applied(id, rec, true), nil
}

// applied gives the listener rec's generation and create time (and, when
// acted, records that the engine reflects it) and returns it as it is.
func (r *Registry) applied(id string, rec Record, acted bool) Info {
	e, err := r.lookup(id)
	if err != nil {
		return Info{}
	}
	e.mu.Lock()
	e.generation, e.createTime = max(rec.Generation, 1), rec.CreateTime
	if acted {
		e.observed = e.generation
	}
	e.mu.Unlock()
	return e.info()
}

// adopt registers a listener the registry does not have from rec, as
// Restore does with a stored one.
func (r *Registry) adopt(ctx context.Context, rec Record) (Info, error) {
	e, err := r.reserve(rec.Spec.ID, rec.Spec.Transport, "")
	if err != nil {
		return Info{}, err
	}
	defer e.release()
	e.mu.Lock()
	e.desired, e.running, e.lastBound = rec.Spec, rec.Running, rec.LastBound
	e.generation, e.createTime = max(rec.Generation, 1), rec.CreateTime
	e.visible = true // desired state whether or not it can run, as a restored one
	e.mu.Unlock()
	r.scheduleExpiry(rec.Spec.ExpireTime)
	prov, err := r.policy.Provision(rec.Spec)
	if err != nil {
		e.setFailure(err)
		return e.info(), err
	}
	r.logDropped(e.id, prov)
	e.mu.Lock()
	e.setEffective(prov)
	e.mu.Unlock()
	if rec.Running {
		if err := ctx.Err(); err != nil {
			e.setFailure(err)
			return e.info(), err
		}
		if err := r.start(e, prov); err != nil {
			r.events.Publish(rawsock.Event{Type: rawsock.EventListenerFailed, ListenerID: e.id, Message: err.Error()})
			return e.info(), err
		}
	}
	e.acted()
	info := e.info()
	r.log.Info("listener applied", "id", e.id, "running", rec.Running, "address", info.BoundAddr)
	msg := "stopped"
	if rec.Running {
		msg = "listening on " + info.BoundAddr
	}
	r.events.Publish(rawsock.Event{Type: rawsock.EventListenerCreated, ListenerID: e.id, Message: msg})
	return info, nil
}
