package api

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// watchBuffer is how many events a watcher may fall behind before it
// misses some.
const watchBuffer = 256

// ListConnections implements sockplane.v1.ListenerService.
func (s *ListenerService) ListConnections(ctx context.Context, req *sockplanev1.ListConnectionsRequest) (*sockplanev1.ListConnectionsResponse, error) {
	if err := registry.ValidateID(req.GetId()); err != nil {
		return nil, toStatus(err, "")
	}
	if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return forwarded(cli.ListConnections(fctx, req))
	}
	conns, err := s.reg.Connections(req.GetId())
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &sockplanev1.ListConnectionsResponse{Connections: make([]*sockplanev1.Connection, len(conns))}
	for i, c := range conns {
		resp.Connections[i] = connectionToProto(c)
	}
	return resp, nil
}

// CloseConnection implements sockplane.v1.ListenerService.
func (s *ListenerService) CloseConnection(ctx context.Context, req *sockplanev1.CloseConnectionRequest) (*sockplanev1.CloseConnectionResponse, error) {
	connID, err := connTarget(req.GetId(), req.GetConnectionId())
	if err != nil {
		return nil, err
	}
	if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return forwarded(cli.CloseConnection(fctx, req))
	}
	if err := s.reg.CloseConnection(req.GetId(), connID); err != nil {
		return nil, toStatus(err, "")
	}
	return &sockplanev1.CloseConnectionResponse{}, nil
}

// SendFrame implements sockplane.v1.ListenerService.
func (s *ListenerService) SendFrame(ctx context.Context, req *sockplanev1.SendFrameRequest) (*sockplanev1.SendFrameResponse, error) {
	connID, err := connTarget(req.GetId(), req.GetConnectionId())
	if err != nil {
		return nil, err
	}
	fields, err := headerFields(req.GetHeader())
	if err != nil {
		return nil, toStatus(err, "")
	}
	if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return forwarded(cli.SendFrame(fctx, req))
	}
	n, err := s.reg.SendFrame(req.GetId(), connID, req.GetBody(), fields...)
	if err != nil {
		return nil, toStatus(err, "")
	}
	return &sockplanev1.SendFrameResponse{BytesWritten: uint64(n)}, nil
}

// ListFrames implements sockplane.v1.ListenerService.
func (s *ListenerService) ListFrames(ctx context.Context, req *sockplanev1.ListFramesRequest) (*sockplanev1.ListFramesResponse, error) {
	if err := registry.ValidateID(req.GetId()); err != nil {
		return nil, toStatus(err, "")
	}
	connID, err := parseConnID(req.GetConnectionId(), true)
	if err != nil {
		return nil, toStatus(err, "")
	}
	if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return forwarded(cli.ListFrames(fctx, req))
	}
	frames, err := s.reg.Frames(req.GetId(), connID)
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &sockplanev1.ListFramesResponse{Frames: make([]*sockplanev1.CapturedFrame, len(frames))}
	for i, f := range frames {
		resp.Frames[i] = frameToProto(f)
	}
	return resp, nil
}

// WatchEvents implements sockplane.v1.ListenerService. It streams until
// the client goes away or the daemon shuts down (the daemon's stream
// interceptor ends open streams then); a watcher that falls behind
// by more than watchBuffer events misses some, and is told how many
// before the next event it gets.
func (s *ListenerService) WatchEvents(req *sockplanev1.WatchEventsRequest, stream grpc.ServerStreamingServer[sockplanev1.WatchEventsResponse]) error {
	if id := req.GetListenerId(); id != "" {
		if err := registry.ValidateID(id); err != nil {
			return toStatus(&rawsock.FieldError{Field: "listenerId", Reason: err.(*rawsock.FieldError).Reason}, "")
		}
	}
	sub := s.reg.Events().Subscribe(req.GetListenerId(), watchBuffer)
	defer sub.Close()
	// Headers go out now, so a watcher, over REST too (see openStream),
	// knows it is subscribed before the first event.
	if err := stream.SendHeader(metadata.Pairs(streamOpenHeader, "open")); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var node string
	var remote chan *sockplanev1.Event // nil, never ready, outside a cluster watch
	if s.cluster != nil {
		node = s.cluster.Name()
		if req.GetCluster() && !isForwarded(ctx) {
			remote = make(chan *sockplanev1.Event, watchBuffer)
			wait := s.watchCluster(ctx, req.GetListenerId(), remote)
			defer func() { cancel(); wait() }()
		}
	}
	send := func(e rawsock.Event) error {
		ev := eventToProto(e)
		ev.Node = node
		return stream.Send(&sockplanev1.WatchEventsResponse{Event: ev})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-remote:
			if err := stream.Send(&sockplanev1.WatchEventsResponse{Event: ev}); err != nil {
				return err
			}
		case e := <-sub.Events():
			if n := sub.TakeDropped(); n > 0 {
				if err := send(rawsock.Event{Type: rawsock.EventEventsDropped, At: e.At, Dropped: n}); err != nil {
					return err
				}
			}
			if err := send(e); err != nil {
				return err
			}
		}
	}
}

// connTarget validates the listener and connection ids of a request.
func connTarget(id, connID string) (uint64, error) {
	if err := registry.ValidateID(id); err != nil {
		return 0, toStatus(err, "")
	}
	n, err := parseConnID(connID, false)
	if err != nil {
		return 0, toStatus(err, "")
	}
	return n, nil
}
