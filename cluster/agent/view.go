package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/registry"
)

// etagOf is a record's etag: the local registry's form, from its create
// time and generation.
func etagOf(rec registry.Record) string { return registry.Etag(rec.CreateTime, rec.Generation) }

// view is a listener as the cluster knows it: its desired record, its
// owner's status when the owner is alive and has acted on the record's
// generation, and, when the owner is this node, the live counters and
// effective spec of the local registry.
func (a *Agent) view(ent cluster.Entry[registry.Record]) registry.Info {
	rec := ent.Value
	if rec.Unreadable != nil {
		return registry.Info{Spec: registry.Spec{ID: ent.ID}, State: registry.StateFailed, Error: rec.Unreadable.Error()}
	}
	node := rec.Spec.Node
	info := registry.Info{Spec: rec.Spec.Defaulted()}
	st, hasStatus := a.statuses.Get(ent.ID)
	_, alive := a.nodes.Get(node)
	acted := hasStatus && st.Value.Node == node && st.Value.ObservedGeneration >= rec.Generation
	switch {
	case !alive:
		info.State = registry.StateUnknown
		info.Message = fmt.Sprintf("node %s is not alive: its lease expired, or it has not joined", node)
		if at, ok := a.goneAt.Load(node); ok {
			info.UnknownSince = at.(time.Time)
		}
	case !acted:
		info.State = registry.StatePending
		info.Message = fmt.Sprintf("node %s has not acted on generation %d yet", node, rec.Generation)
	case node == a.name:
		if local, err := a.reg.Get(ent.ID); err == nil {
			info = local
			break
		}
		fallthrough
	default:
		s := st.Value
		info.State, info.BoundAddr, info.Error = stateOf(s.State), s.BoundAddress, s.Error
		if info.State == registry.StateRunning {
			info.StartedAt = s.Since
		}
	}
	info.Spec.ExpireTime, info.Spec.Labels, info.Spec.Node = rec.Spec.ExpireTime, rec.Spec.Labels, node
	info.Etag, info.Generation = etagOf(rec), rec.Generation
	info.ObservedGeneration = 0
	if acted {
		info.ObservedGeneration = st.Value.ObservedGeneration
	}
	if a.listeners.Stale() || a.statuses.Stale() {
		info.Stale = true
		if info.Message == "" {
			info.Message = "etcd cannot be reached: this is the last state known"
		}
	}
	return info
}

// Get returns the listener id as the cluster knows it.
func (a *Agent) Get(id string) (registry.Info, error) {
	ent, ok := a.listeners.Get(id)
	if !ok {
		return registry.Info{}, fmt.Errorf("%w: %s", registry.ErrNotFound, id)
	}
	return a.view(ent), nil
}

// List returns the cluster's listeners sel matches (nil: every one), by
// id.
func (a *Agent) List(sel registry.Selector) []registry.Info {
	ents := a.listeners.List()
	out := make([]registry.Info, 0, len(ents))
	for _, ent := range ents {
		if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(ent.Value.Spec.Labels)) {
			continue
		}
		out = append(out, a.view(ent))
	}
	return out
}

// Owner says which node serves listener id and where its API is: local
// is true when it is this node; addr is empty when the node is not alive.
func (a *Agent) Owner(id string) (node, addr string, local bool, err error) {
	ent, ok := a.listeners.Get(id)
	if !ok {
		return "", "", false, fmt.Errorf("%w: %s", registry.ErrNotFound, id)
	}
	node = ent.Value.Spec.Node
	if node == a.name {
		return node, "", true, nil
	}
	if n, ok := a.nodes.Get(node); ok {
		addr = n.Value.GRPCAddress
	}
	return node, addr, false, nil
}

// NodeView is one node as ListNodes shows it.
type NodeView struct {
	Name, GRPCAddress, Version string
	Alive                      bool
	Listeners                  int
	StartedAt                  time.Time
}

// Nodes lists every live node and every node a listener names, by name.
func (a *Agent) Nodes() []NodeView {
	byName := map[string]*NodeView{}
	for _, n := range a.nodes.List() {
		byName[n.ID] = &NodeView{Name: n.ID, GRPCAddress: n.Value.GRPCAddress, Version: n.Value.Version, Alive: true, StartedAt: n.Value.StartedAt}
	}
	for _, l := range a.listeners.List() {
		node := l.Value.Spec.Node
		if node == "" {
			continue
		}
		v, ok := byName[node]
		if !ok {
			v = &NodeView{Name: node}
			byName[node] = v
		}
		v.Listeners++
	}
	out := make([]NodeView, 0, len(byName))
	for _, v := range byName {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(x, y NodeView) int { return strings.Compare(x.Name, y.Name) })
	return out
}
