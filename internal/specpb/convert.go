// Package specpb converts a listener's spec between the registry's Go
// form and its sockplane.v1 protobuf form, which is both what the API
// speaks and what the stores keep (ListenerRecord, see record.go). The
// two sides agree because there is one conversion.
//
// A zero field of a registry.Spec (a default) is an absent field of the
// message, and back, so a spec as asked survives a round trip with its
// defaults still to be filled in; the effective spec of a provisioned
// listener has every field set and converts to a message with every
// field set.
package specpb

import (
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// Each enum table pairs a protobuf value with its registry value; the
// UNSPECIFIED values map to the zero value, which means "default".
var (
	Transports = map[sockplanev1.Transport]registry.Transport{
		sockplanev1.Transport_TRANSPORT_UNSPECIFIED: "",
		sockplanev1.Transport_TRANSPORT_TCP:         registry.TransportTCP,
		sockplanev1.Transport_TRANSPORT_UDP:         registry.TransportUDP,
		sockplanev1.Transport_TRANSPORT_UNIX:        registry.TransportUnix,
		sockplanev1.Transport_TRANSPORT_UNIXGRAM:    registry.TransportUnixgram,
	}
	Handlers = map[sockplanev1.Handler]registry.HandlerKind{
		sockplanev1.Handler_HANDLER_UNSPECIFIED: "",
		sockplanev1.Handler_HANDLER_ECHO:        registry.HandlerEcho,
		sockplanev1.Handler_HANDLER_UPPER:       registry.HandlerUpper,
		sockplanev1.Handler_HANDLER_EXEC:        registry.HandlerExec,
		sockplanev1.Handler_HANDLER_DISCARD:     registry.HandlerDiscard,
		sockplanev1.Handler_HANDLER_RECORD:      registry.HandlerRecord,
		sockplanev1.Handler_HANDLER_SCRIPT:      registry.HandlerScript,
		sockplanev1.Handler_HANDLER_PROXY:       registry.HandlerProxy,
	}
	Framings = map[sockplanev1.Framing]wire.Framing{
		sockplanev1.Framing_FRAMING_UNSPECIFIED:     0,
		sockplanev1.Framing_FRAMING_JSON_HEADER:     wire.FramingJSONHeader,
		sockplanev1.Framing_FRAMING_LENGTH_PREFIXED: wire.FramingLengthPrefixed,
		sockplanev1.Framing_FRAMING_RAW:             wire.FramingRaw,
	}
	ByteOrders = map[sockplanev1.ByteOrder]wire.ByteOrder{
		sockplanev1.ByteOrder_BYTE_ORDER_UNSPECIFIED:   0,
		sockplanev1.ByteOrder_BYTE_ORDER_LITTLE_ENDIAN: wire.LittleEndian,
		sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN:    wire.BigEndian,
	}
)

// lookup converts one enum value, or reports the field it came from.
func lookup[K comparable, V any](table map[K]V, k K, field string) (V, error) {
	v, ok := table[k]
	if !ok {
		return v, &rawsock.FieldError{Field: field, Reason: fmt.Sprintf("unknown value %v", k)}
	}
	return v, nil
}

// Reverse finds the protobuf value of a registry value.
func Reverse[K, V comparable](table map[K]V, v V) K {
	for k, tv := range table {
		if tv == v {
			return k
		}
	}
	var zero K
	return zero
}

// SpecFromProto converts the spec fields of a Listener; output-only
// fields are ignored. A bad field gives a *rawsock.FieldError naming it.
func SpecFromProto(l *sockplanev1.Listener) (registry.Spec, error) {
	spec := registry.Spec{ID: l.GetId(), Address: l.GetAddress()}
	var err error
	if spec.Transport, err = lookup(Transports, l.GetTransport(), "transport"); err != nil {
		return spec, err
	}
	if spec.Handler, err = lookup(Handlers, l.GetHandler(), "handler"); err != nil {
		return spec, err
	}
	f := l.GetFraming()
	if spec.Framing.Request, err = lookup(Framings, f.GetRequest(), "framing.request"); err != nil {
		return spec, err
	}
	if spec.Framing.Response, err = lookup(Framings, f.GetResponse(), "framing.response"); err != nil {
		return spec, err
	}
	if spec.Framing.ByteOrder, err = lookup(ByteOrders, f.GetByteOrder(), "framing.byteOrder"); err != nil {
		return spec, err
	}
	if spec.UnixMode, err = parseUnixMode(l.GetUnixMode()); err != nil {
		return spec, err
	}
	if spec.Limits, err = limitsFromProto(l.GetLimits()); err != nil {
		return spec, err
	}
	spec.Capture = registry.CaptureSpec{
		MaxFrames:        int(l.GetCapture().GetMaxFrames()),
		MaxBytesPerFrame: int(l.GetCapture().GetMaxBytesPerFrame()),
	}
	spec.Labels = l.GetLabels()
	if spec.Node = l.GetNode(); spec.Node != "" {
		if err := registry.ValidateName("node", spec.Node); err != nil {
			return spec, err
		}
	}
	if spec.TTL, err = positiveDuration(l.GetTtl(), "ttl", `"30s"`); err != nil {
		return spec, err
	}
	if t := l.GetExpireTime(); t != nil {
		if t.CheckValid() != nil {
			return spec, &rawsock.FieldError{Field: "expireTime", Reason: "not a valid time"}
		}
		spec.ExpireTime = t.AsTime()
	}
	if e := l.GetExec(); e != nil {
		spec.Exec = registry.ExecSpec{
			Allow:          e.GetAllow(),
			MaxOutputBytes: int(e.GetMaxOutputBytes()),
			MaxConcurrent:  int(e.GetMaxConcurrent()),
			WorkingDir:     e.GetWorkingDir(),
		}
		if spec.Exec.Timeout, err = positiveDuration(e.GetTimeout(), "exec.timeout", `"5s"`); err != nil {
			return spec, err
		}
	}
	if err := behaviourFromProto(l, &spec); err != nil {
		return spec, err
	}
	if err := proxyFromProto(l, &spec); err != nil {
		return spec, err
	}
	return spec, nil
}

// SpecToProto converts a spec into the spec fields of a Listener, zero
// fields absent.
func SpecToProto(s registry.Spec) *sockplanev1.Listener {
	l := &sockplanev1.Listener{
		Id:        s.ID,
		Transport: Reverse(Transports, s.Transport),
		Address:   s.Address,
		Handler:   Reverse(Handlers, s.Handler),
		Framing: &sockplanev1.FramingConfig{
			Request:   Reverse(Framings, s.Framing.Request),
			Response:  Reverse(Framings, s.Framing.Response),
			ByteOrder: Reverse(ByteOrders, s.Framing.ByteOrder),
		},
		Limits: limitsToProto(s.Limits),
	}
	if len(s.Labels) > 0 {
		l.Labels = s.Labels
	}
	l.Node = s.Node
	if s.TTL != 0 {
		l.Ttl = durationpb.New(s.TTL)
	}
	if !s.ExpireTime.IsZero() {
		l.ExpireTime = timestamppb.New(s.ExpireTime)
	}
	if s.UnixMode != 0 {
		mode := fmt.Sprintf("%04o", uint32(s.UnixMode))
		l.UnixMode = &mode
	}
	if c := s.Capture; c != (registry.CaptureSpec{}) {
		l.Capture = &sockplanev1.CaptureOptions{MaxFrames: uint32(c.MaxFrames), MaxBytesPerFrame: uint32(c.MaxBytesPerFrame)}
	}
	if e := s.Exec; s.Handler == registry.HandlerExec || len(e.Allow) > 0 || e.Timeout != 0 || e.MaxOutputBytes != 0 || e.MaxConcurrent != 0 || e.WorkingDir != "" {
		l.Exec = &sockplanev1.ExecOptions{
			Allow:          e.Allow,
			Timeout:        durationOrNil(e.Timeout),
			MaxOutputBytes: uint32(e.MaxOutputBytes),
			MaxConcurrent:  uint32(e.MaxConcurrent),
			WorkingDir:     e.WorkingDir,
		}
	}
	behaviourToProto(s, l)
	proxyToProto(s, l)
	return l
}

// parseUnixMode reads an octal mode such as "0660" or "660"; empty means
// the default.
func parseUnixMode(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, &rawsock.FieldError{Field: "unixMode", Reason: fmt.Sprintf("%q is not an octal permission mode such as \"0660\"", s)}
	}
	return fs.FileMode(m), nil
}

// durationOrNil is d as a message field: absent when zero (the default).
func durationOrNil(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// positiveDuration reads an optional duration field that must be
// positive when present; absent is zero, the default.
func positiveDuration(d *durationpb.Duration, field, example string) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if d.CheckValid() != nil || d.AsDuration() <= 0 {
		return 0, &rawsock.FieldError{Field: field, Reason: "must be a positive duration, e.g. " + example}
	}
	return d.AsDuration(), nil
}
