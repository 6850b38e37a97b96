package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/proxy"
	"github.com/sockplane/sockplane/registry"
)

// GetRecording implements sockplane.v1.ListenerService.
func (s *ListenerService) GetRecording(ctx context.Context, req *sockplanev1.GetRecordingRequest) (*sockplanev1.GetRecordingResponse, error) {
	if err := registry.ValidateID(req.GetId()); err != nil {
		return nil, toStatus(err, "")
	}
	if cli, fctx, err := s.remote(ctx, req.GetId()); cli != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return forwarded(cli.GetRecording(fctx, req))
	}
	exchanges, dropped, err := s.reg.Recording(req.GetId())
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &sockplanev1.GetRecordingResponse{Exchanges: make([]*sockplanev1.Exchange, len(exchanges)), Dropped: dropped}
	for i, e := range exchanges {
		x := &sockplanev1.Exchange{Seq: e.Seq, ConnectionId: formatConnID(e.ConnID), At: timestamppb.New(e.At), Truncated: e.Truncated}
		if e.Request != nil {
			x.Request = recordedFrame(*e.Request)
		}
		for _, r := range e.Replies {
			x.Replies = append(x.Replies, recordedFrame(r))
		}
		resp.Exchanges[i] = x
	}
	return resp, nil
}

func recordedFrame(f proxy.Frame) *sockplanev1.RecordedFrame {
	return &sockplanev1.RecordedFrame{Header: string(f.Header), Body: f.Body}
}
