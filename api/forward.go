package api

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// forwardedHeader marks a call one node forwarded to another, which
// answers it from its own listeners and never forwards it again.
const forwardedHeader = "sockplane-forwarded-by"

// Forwarder keeps one gRPC connection per other node, made at first use,
// for the calls a node passes to the node that serves a listener. Its
// connections are plaintext: the nodes' APIs are on a network the
// operator trusts, as etcd's peer URLs are.
type Forwarder struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewForwarder returns a Forwarder with no connections.
func NewForwarder() *Forwarder { return &Forwarder{conns: make(map[string]*grpc.ClientConn)} }

// client returns a client of the node at addr. grpc.NewClient does not
// dial: the connection is made by the first call, outside the lock.
func (f *Forwarder) client(addr string) (sockplanev1.ListenerServiceClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, status.Error(codes.Unavailable, "the daemon is shutting down")
	}
	cc, ok := f.conns[addr]
	if !ok {
		var err error
		if cc, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			return nil, status.Errorf(codes.Internal, "node address %q: %v", addr, err)
		}
		f.conns[addr] = cc
	}
	return sockplanev1.NewListenerServiceClient(cc), nil
}

// Close closes every connection.
func (f *Forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, cc := range f.conns {
		_ = cc.Close()
	}
	f.conns = nil
}

// remote returns, for a call about listener id, the client of the node
// that serves it and the context to call it with (the caller's
// credentials and deadline), or a nil client when this daemon answers
// the call itself: outside a cluster, for its own listeners, and for a
// call another node forwarded.
func (s *ListenerService) remote(ctx context.Context, id string) (sockplanev1.ListenerServiceClient, context.Context, error) {
	if s.cluster == nil {
		return nil, ctx, nil
	}
	if isForwarded(ctx) {
		return nil, ctx, nil
	}
	node, addr, local, err := s.cluster.Owner(id)
	if err != nil {
		return nil, ctx, toStatus(err, "")
	}
	if local {
		return nil, ctx, nil
	}
	if addr == "" {
		return nil, ctx, status.Errorf(codes.Unavailable, "listener %s is served by node %s, which is not alive", id, node)
	}
	cli, err := s.forward.client(addr)
	if err != nil {
		return nil, ctx, err
	}
	return cli, s.forwardContext(ctx), nil
}

// forwardContext is the context of a call forwarded to another node: the
// caller's credentials and deadline, marked as forwarded.
func (s *ListenerService) forwardContext(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.Pairs(forwardedHeader, s.cluster.Name())
	for _, v := range md.Get("authorization") {
		out.Append("authorization", v)
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// isForwarded reports whether another node forwarded this call.
func isForwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedHeader)) > 0
}

// forwarded passes the error of a forwarded call on as the owner gave it.
func forwarded[T any](resp T, err error) (T, error) {
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.Error(codes.Unavailable, fmt.Sprintf("forward to the listener's node: %v", err))
		}
	}
	return resp, err
}
