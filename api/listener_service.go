package api

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockplane/sockplane/cluster/agent"
	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
)

// ListenerService implements sockplane.v1.ListenerService over a
// registry.Registry, the engine of this daemon's listeners, and, in a
// cluster, the cluster's desired state (WithCluster).
type ListenerService struct {
	sockplanev1.UnimplementedListenerServiceServer
	reg       *registry.Registry // this daemon's listeners: connections, frames, events
	listeners Listeners          // what listener calls act on: reg, or the cluster
	cluster   *agent.Agent       // nil outside a cluster
	forward   *Forwarder         // to the other nodes, in a cluster
}

// NewListenerService returns the service for reg.
func NewListenerService(reg *registry.Registry, opts ...Option) *ListenerService {
	s := &ListenerService{reg: reg, listeners: reg}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ sockplanev1.ListenerServiceServer = (*ListenerService)(nil)

// CreateListener implements sockplane.v1.ListenerService.
func (s *ListenerService) CreateListener(ctx context.Context, req *sockplanev1.CreateListenerRequest) (*sockplanev1.CreateListenerResponse, error) {
	if req.GetListener() == nil {
		return nil, invalidArgument("listener", "required")
	}
	if n := len(req.GetRequestId()); n > registry.MaxRequestIDLength {
		return nil, invalidArgument("requestId", fmt.Sprintf("%d bytes, more than %d", n, registry.MaxRequestIDLength))
	}
	spec, err := specpb.SpecFromProto(req.GetListener())
	if err != nil {
		return nil, toStatus(err, "listener.")
	}
	info, err := s.listeners.Create(ctx, spec, registry.CreateOptions{RequestID: req.GetRequestId()})
	if err != nil {
		return nil, toStatus(err, "listener.")
	}
	return &sockplanev1.CreateListenerResponse{Listener: listenerToProto(info)}, nil
}

// GetListener implements sockplane.v1.ListenerService.
func (s *ListenerService) GetListener(ctx context.Context, req *sockplanev1.GetListenerRequest) (*sockplanev1.GetListenerResponse, error) {
	if registry.ValidateID(req.GetId()) == nil {
		// In a cluster, the owner has the live counters: ask it, and answer
		// from the cluster's state when it cannot answer.
		if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil && err == nil {
			if resp, err := cli.GetListener(fctx, req); err == nil {
				return resp, nil
			}
		}
	}
	info, err := byID(req.GetId(), s.listeners.Get)
	if err != nil {
		return nil, err
	}
	return &sockplanev1.GetListenerResponse{Listener: listenerToProto(info)}, nil
}

// ListListeners implements sockplane.v1.ListenerService.
func (s *ListenerService) ListListeners(_ context.Context, req *sockplanev1.ListListenersRequest) (*sockplanev1.ListListenersResponse, error) {
	sel, err := registry.ParseSelector("filter", req.GetFilter())
	if err != nil {
		return nil, toStatus(err, "")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	page, next := paginate(s.listeners.List(sel), after, size)
	resp := &sockplanev1.ListListenersResponse{Listeners: make([]*sockplanev1.Listener, len(page)), NextPageToken: next}
	for i, info := range page {
		resp.Listeners[i] = listenerToProto(info)
	}
	return resp, nil
}

// StopListener implements sockplane.v1.ListenerService.
func (s *ListenerService) StopListener(ctx context.Context, req *sockplanev1.StopListenerRequest) (*sockplanev1.StopListenerResponse, error) {
	opts, err := stopOptions(req.GetMode(), req.GetDrainTimeout(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	info, err := byID(req.GetId(), func(id string) (registry.Info, error) { return s.listeners.Stop(ctx, id, opts) })
	if err != nil {
		return nil, err
	}
	return &sockplanev1.StopListenerResponse{Listener: listenerToProto(info)}, nil
}

// StartListener implements sockplane.v1.ListenerService.
func (s *ListenerService) StartListener(ctx context.Context, req *sockplanev1.StartListenerRequest) (*sockplanev1.StartListenerResponse, error) {
	info, err := byID(req.GetId(), func(id string) (registry.Info, error) { return s.listeners.Start(ctx, id, req.GetEtag()) })
	if err != nil {
		return nil, err
	}
	return &sockplanev1.StartListenerResponse{Listener: listenerToProto(info)}, nil
}

// DeleteListener implements sockplane.v1.ListenerService.
func (s *ListenerService) DeleteListener(ctx context.Context, req *sockplanev1.DeleteListenerRequest) (*sockplanev1.DeleteListenerResponse, error) {
	if err := registry.ValidateID(req.GetId()); err != nil {
		return nil, toStatus(err, "")
	}
	opts, err := stopOptions(req.GetMode(), req.GetDrainTimeout(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	if err := s.listeners.Delete(ctx, req.GetId(), opts); err != nil {
		return nil, toStatus(err, "")
	}
	return &sockplanev1.DeleteListenerResponse{}, nil
}

// UpdateListener implements sockplane.v1.ListenerService: the fields of
// the mask are copied from the request onto the listener's desired spec
// (as stored, not the effective one), and the registry makes the result
// run.
func (s *ListenerService) UpdateListener(ctx context.Context, req *sockplanev1.UpdateListenerRequest) (*sockplanev1.UpdateListenerResponse, error) {
	in := req.GetListener()
	if in == nil {
		return nil, invalidArgument("listener", "required")
	}
	if err := registry.ValidateID(in.GetId()); err != nil {
		return nil, toStatus(err, "listener.")
	}
	paths, err := maskPaths(req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	desired, _, err := s.listeners.Desired(in.GetId())
	if err != nil {
		return nil, toStatus(err, "")
	}
	merged := specpb.SpecToProto(desired)
	applyMask(merged, in, paths)
	spec, err := specpb.SpecFromProto(merged)
	if err != nil {
		return nil, toStatus(err, "listener.")
	}
	info, err := s.listeners.Update(ctx, spec, in.GetEtag())
	if err != nil {
		return nil, toStatus(err, "listener.")
	}
	return &sockplanev1.UpdateListenerResponse{Listener: listenerToProto(info)}, nil
}

// BatchDeleteListeners implements sockplane.v1.ListenerService.
func (s *ListenerService) BatchDeleteListeners(ctx context.Context, req *sockplanev1.BatchDeleteListenersRequest) (*sockplanev1.BatchDeleteListenersResponse, error) {
	if req.GetFilter() == "" && len(req.GetIds()) == 0 {
		return nil, invalidArgument("filter", "give a label selector or ids: an empty filter and no ids would delete everything, which batch delete does not do")
	}
	sel, err := registry.ParseSelector("filter", req.GetFilter())
	if err != nil {
		return nil, toStatus(err, "")
	}
	for i, id := range req.GetIds() {
		if err := registry.ValidateID(id); err != nil {
			return nil, toStatus(err, fmt.Sprintf("ids[%d].", i))
		}
	}
	opts, err := stopOptions(req.GetMode(), req.GetDrainTimeout(), "")
	if err != nil {
		return nil, err
	}
	deleted, err := s.listeners.DeleteMatching(ctx, sel, req.GetIds(), opts)
	if err != nil {
		return nil, toStatus(err, "")
	}
	return &sockplanev1.BatchDeleteListenersResponse{DeletedIds: deleted}, nil
}

// byID validates id and runs a registry operation on it.
func byID(id string, op func(string) (registry.Info, error)) (registry.Info, error) {
	if err := registry.ValidateID(id); err != nil {
		return registry.Info{}, toStatus(err, "")
	}
	info, err := op(id)
	return info, toStatus(err, "")
}

// stopOptions converts a stop request's mode, drain timeout and etag.
func stopOptions(mode sockplanev1.StopMode, drain *durationpb.Duration, etag string) (registry.StopOptions, error) {
	opts := registry.StopOptions{Etag: etag}
	switch mode {
	case sockplanev1.StopMode_STOP_MODE_UNSPECIFIED, sockplanev1.StopMode_STOP_MODE_GRACEFUL:
	case sockplanev1.StopMode_STOP_MODE_IMMEDIATE:
		opts.Immediate = true
	default:
		return opts, invalidArgument("mode", fmt.Sprintf("unknown value %v", mode))
	}
	if drain != nil {
		if drain.CheckValid() != nil || drain.AsDuration() <= 0 || drain.AsDuration() > registry.MaxDrainTimeout {
			return opts, invalidArgument("drainTimeout", fmt.Sprintf("must be a positive duration of at most %v, e.g. \"10s\"", registry.MaxDrainTimeout))
		}
		opts.DrainTimeout = drain.AsDuration()
	}
	return opts, nil
}
