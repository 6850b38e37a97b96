package specpb

import (
	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// limitsFromProto converts a listener's limits. An absent field means the
// default; an idle timeout of "0s" means none.
func limitsFromProto(l *sockplanev1.Limits) (registry.LimitsSpec, error) {
	spec := registry.LimitsSpec{
		MaxConnections:             int(l.GetMaxConnections()),
		MaxHeaderBytes:             int(l.GetMaxHeaderBytes()),
		MaxBodyBytes:               int(l.GetMaxBodyBytes()),
		AllowLargerDatagramReplies: l.GetAllowLargerDatagramReplies(),
	}
	var err error
	if spec.HeaderTimeout, err = positiveDuration(l.GetHeaderTimeout(), "limits.headerTimeout", `"10s"`); err != nil {
		return spec, err
	}
	if d := l.GetIdleTimeout(); d != nil {
		switch {
		case d.CheckValid() != nil || d.AsDuration() < 0:
			return spec, &rawsock.FieldError{Field: "limits.idleTimeout", Reason: `must be a duration, e.g. "5m", or "0s" for none`}
		case d.AsDuration() == 0:
			spec.IdleTimeout = registry.NoTimeout
		default:
			spec.IdleTimeout = d.AsDuration()
		}
	}
	return spec, nil
}

// limitsToProto converts a listener's limits, zero fields absent; nil
// when every field is zero.
func limitsToProto(l registry.LimitsSpec) *sockplanev1.Limits {
	if l == (registry.LimitsSpec{}) {
		return nil
	}
	var idle *durationpb.Duration
	switch l.IdleTimeout {
	case 0:
	case registry.NoTimeout:
		idle = durationpb.New(0)
	default:
		idle = durationpb.New(l.IdleTimeout)
	}
	return &sockplanev1.Limits{
		MaxConnections:             uint32(l.MaxConnections),
		MaxHeaderBytes:             uint32(l.MaxHeaderBytes),
		MaxBodyBytes:               uint32(l.MaxBodyBytes),
		HeaderTimeout:              durationOrNil(l.HeaderTimeout),
		IdleTimeout:                idle,
		AllowLargerDatagramReplies: l.AllowLargerDatagramReplies,
	}
}
