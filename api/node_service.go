package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// ListNodes implements sockplane.v1.ListenerService.
func (s *ListenerService) ListNodes(context.Context, *sockplanev1.ListNodesRequest) (*sockplanev1.ListNodesResponse, error) {
	if s.cluster == nil {
		return nil, status.Error(codes.FailedPrecondition, "this daemon is not in a cluster: start it with --etcd-endpoints")
	}
	nodes := s.cluster.Nodes()
	resp := &sockplanev1.ListNodesResponse{Nodes: make([]*sockplanev1.Node, len(nodes))}
	for i, n := range nodes {
		resp.Nodes[i] = &sockplanev1.Node{Name: n.Name, GrpcAddress: n.GRPCAddress, Alive: n.Alive,
			Listeners: int32(n.Listeners), Version: n.Version}
		if !n.StartedAt.IsZero() {
			resp.Nodes[i].StartedAt = timestamppb.New(n.StartedAt)
		}
	}
	return resp, nil
}
