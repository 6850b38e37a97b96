package api

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
)

// states maps each registry state to the API's.
var states = map[registry.State]sockplanev1.State{
	registry.StateRunning: sockplanev1.State_STATE_RUNNING,
	registry.StateStopped: sockplanev1.State_STATE_STOPPED,
	registry.StateFailed:  sockplanev1.State_STATE_FAILED,
	registry.StatePending: sockplanev1.State_STATE_PENDING,
	registry.StateUnknown: sockplanev1.State_STATE_UNKNOWN,
}

// listenerToProto converts a registered listener for a reply: its
// effective spec (every default filled in) and its status.
func listenerToProto(info registry.Info) *sockplanev1.Listener {
	l := specpb.SpecToProto(info.Spec)
	l.Etag = info.Etag
	l.Status = &sockplanev1.ListenerStatus{
		State:              states[info.State],
		BoundAddress:       info.BoundAddr,
		Error:              info.Error,
		Generation:         info.Generation,
		ObservedGeneration: info.ObservedGeneration,
		Stats: &sockplanev1.ListenerStats{
			ConnectionsActive: info.Stats.ConnectionsActive,
			ConnectionsTotal:  info.Stats.ConnectionsTotal,
			FramesIn:          info.Stats.FramesIn,
			FramesOut:         info.Stats.FramesOut,
			BytesIn:           info.Stats.BytesIn,
			BytesOut:          info.Stats.BytesOut,
			Errors:            info.Stats.Errors,

			ConnectionsRejected: info.Stats.ConnectionsRejected,

			UpstreamFramesOut: info.Stats.UpstreamFramesOut, UpstreamBytesOut: info.Stats.UpstreamBytesOut,
			UpstreamFramesIn: info.Stats.UpstreamFramesIn, UpstreamBytesIn: info.Stats.UpstreamBytesIn,
		},
	}
	if !info.StartedAt.IsZero() {
		l.Status.StartedAt = timestamppb.New(info.StartedAt)
	}
	l.Status.Message, l.Status.Stale = info.Message, info.Stale
	if !info.UnknownSince.IsZero() {
		l.Status.UnknownSince = timestamppb.New(info.UnknownSince)
	}
	if h := info.Script; h != nil {
		l.Status.Script = &sockplanev1.ScriptStatus{RuleHits: h.Rules, DefaultHits: h.Default, Unmatched: h.Unmatched}
	}
	for _, f := range info.Faults {
		l.Status.Faults = append(l.Status.Faults, &sockplanev1.FaultStatus{Name: f.Name, Applied: f.Applied})
	}
	if t := info.TLS; t != nil {
		l.Status.Tls = &sockplanev1.TlsStatus{CertificatePem: t.CertificatePEM, FingerprintSha256: t.FingerprintSHA256,
			NotAfter: timestamppb.New(t.NotAfter)}
	}
	return l
}
