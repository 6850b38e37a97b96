package api

import (
	"context"

	"github.com/sockplane/sockplane/cluster/agent"
	"github.com/sockplane/sockplane/registry"
)

// Listeners is what the listener calls act on: the daemon's registry, or,
// in a cluster, the cluster's desired state (an *agent.Agent), which
// answers the same calls for every listener of every node.
type Listeners interface {
	Create(ctx context.Context, spec registry.Spec, opts registry.CreateOptions) (registry.Info, error)
	Get(id string) (registry.Info, error)
	List(sel registry.Selector) []registry.Info
	Desired(id string) (registry.Spec, string, error)
	Update(ctx context.Context, spec registry.Spec, etag string) (registry.Info, error)
	Stop(ctx context.Context, id string, opts registry.StopOptions) (registry.Info, error)
	Start(ctx context.Context, id, etag string) (registry.Info, error)
	Delete(ctx context.Context, id string, opts registry.StopOptions) error
	DeleteMatching(ctx context.Context, sel registry.Selector, ids []string, opts registry.StopOptions) ([]string, error)
}

var (
	_ Listeners = (*registry.Registry)(nil)
	_ Listeners = (*agent.Agent)(nil)
)

// Option configures the listener service.
type Option func(*ListenerService)

// WithCluster makes the service a cluster node's: listener calls act on
// the cluster's desired state through a, per-connection calls for a
// listener of another node go to that node through fwd, and ListNodes
// answers.
func WithCluster(a *agent.Agent, fwd *Forwarder) Option {
	return func(s *ListenerService) {
		s.listeners, s.cluster, s.forward = a, a, fwd
	}
}
