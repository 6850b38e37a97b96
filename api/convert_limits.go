package api

import (
	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
)

// limitsFromProto converts a listener's limits. An absent duration means
// the default; an idle timeout of "0s" means none.
func limitsFromProto(l *sockplanev1.Limits) (rawsock.LimitsSpec, error) {
	spec := rawsock.LimitsSpec{
		MaxConnections:             int(l.GetMaxConnections()),
		MaxHeaderBytes:             int(l.GetMaxHeaderBytes()),
		MaxBodyBytes:               int(l.GetMaxBodyBytes()),
		AllowLargerDatagramReplies: l.GetAllowLargerDatagramReplies(),
	}
	if d := l.GetHeaderTimeout(); d != nil {
		if d.CheckValid() != nil || d.AsDuration() <= 0 {
			return spec, &rawsock.FieldError{Field: "limits.headerTimeout", Reason: "must be a positive duration, e.g. \"10s\""}
		}
		spec.HeaderTimeout = d.AsDuration()
	}
	if d := l.GetIdleTimeout(); d != nil {
		switch {
		case d.CheckValid() != nil || d.AsDuration() < 0:
			return spec, &rawsock.FieldError{Field: "limits.idleTimeout", Reason: "must be a duration, e.g. \"5m\", or \"0s\" for none"}
		case d.AsDuration() == 0:
			spec.IdleTimeout = rawsock.NoTimeout
		default:
			spec.IdleTimeout = d.AsDuration()
		}
	}
	return spec, nil
}

// limitsToProto shows a listener's limits, defaults filled in.
func limitsToProto(l rawsock.LimitsSpec) *sockplanev1.Limits {
	idle := l.IdleTimeout
	if idle == rawsock.NoTimeout {
		idle = 0
	}
	return &sockplanev1.Limits{
		MaxConnections:             uint32(l.MaxConnections),
		MaxHeaderBytes:             uint32(l.MaxHeaderBytes),
		MaxBodyBytes:               uint32(l.MaxBodyBytes),
		HeaderTimeout:              durationpb.New(l.HeaderTimeout),
		IdleTimeout:                durationpb.New(idle),
		AllowLargerDatagramReplies: l.AllowLargerDatagramReplies,
	}
}
