package api

import (
	"fmt"
	"io/fs"
	"strconv"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
)

// Each enum table pairs a protobuf value with its rawsock value; the
// UNSPECIFIED values map to rawsock's zero value, which means "default".
var (
	transports = map[sockplanev1.Transport]rawsock.Transport{
		sockplanev1.Transport_TRANSPORT_UNSPECIFIED: "",
		sockplanev1.Transport_TRANSPORT_TCP:         rawsock.TransportTCP,
		sockplanev1.Transport_TRANSPORT_UDP:         rawsock.TransportUDP,
		sockplanev1.Transport_TRANSPORT_UNIX:        rawsock.TransportUnix,
		sockplanev1.Transport_TRANSPORT_UNIXGRAM:    rawsock.TransportUnixgram,
	}
	handlers = map[sockplanev1.Handler]rawsock.HandlerKind{
		sockplanev1.Handler_HANDLER_UNSPECIFIED: "",
		sockplanev1.Handler_HANDLER_ECHO:        rawsock.HandlerEcho,
		sockplanev1.Handler_HANDLER_UPPER:       rawsock.HandlerUpper,
		sockplanev1.Handler_HANDLER_EXEC:        rawsock.HandlerExec,
		sockplanev1.Handler_HANDLER_DISCARD:     rawsock.HandlerDiscard,
		sockplanev1.Handler_HANDLER_RECORD:      rawsock.HandlerRecord,
	}
	framings = map[sockplanev1.Framing]rawsock.Framing{
		sockplanev1.Framing_FRAMING_UNSPECIFIED:     0,
		sockplanev1.Framing_FRAMING_JSON_HEADER:     rawsock.FramingJSONHeader,
		sockplanev1.Framing_FRAMING_LENGTH_PREFIXED: rawsock.FramingLengthPrefixed,
		sockplanev1.Framing_FRAMING_RAW:             rawsock.FramingRaw,
	}
	byteOrders = map[sockplanev1.ByteOrder]rawsock.ByteOrder{
		sockplanev1.ByteOrder_BYTE_ORDER_UNSPECIFIED:   0,
		sockplanev1.ByteOrder_BYTE_ORDER_LITTLE_ENDIAN: rawsock.LittleEndian,
		sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN:    rawsock.BigEndian,
	}
	states = map[rawsock.State]sockplanev1.State{
		rawsock.StateRunning: sockplanev1.State_STATE_RUNNING,
		rawsock.StateStopped: sockplanev1.State_STATE_STOPPED,
		rawsock.StateFailed:  sockplanev1.State_STATE_FAILED,
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

// reverse finds the protobuf value of a rawsock value.
func reverse[K, V comparable](table map[K]V, v V) K {
	for k, tv := range table {
		if tv == v {
			return k
		}
	}
	var zero K
	return zero
}

// specFromProto converts a Listener to create. Output-only fields are
// ignored.
func specFromProto(l *sockplanev1.Listener) (rawsock.Spec, error) {
	spec := rawsock.Spec{ID: l.GetId(), Address: l.GetAddress()}
	var err error
	if spec.Transport, err = lookup(transports, l.GetTransport(), "transport"); err != nil {
		return spec, err
	}
	if spec.Handler, err = lookup(handlers, l.GetHandler(), "handler"); err != nil {
		return spec, err
	}
	f := l.GetFraming()
	if spec.Framing.Request, err = lookup(framings, f.GetRequest(), "framing.request"); err != nil {
		return spec, err
	}
	if spec.Framing.Response, err = lookup(framings, f.GetResponse(), "framing.response"); err != nil {
		return spec, err
	}
	if spec.Framing.ByteOrder, err = lookup(byteOrders, f.GetByteOrder(), "framing.byteOrder"); err != nil {
		return spec, err
	}
	if spec.UnixMode, err = parseUnixMode(l.GetUnixMode()); err != nil {
		return spec, err
	}
	if spec.Limits, err = limitsFromProto(l.GetLimits()); err != nil {
		return spec, err
	}
	spec.Capture = rawsock.CaptureSpec{
		MaxFrames:        int(l.GetCapture().GetMaxFrames()),
		MaxBytesPerFrame: int(l.GetCapture().GetMaxBytesPerFrame()),
	}
	if e := l.GetExec(); e != nil {
		spec.Exec = rawsock.ExecSpec{
			Allow:          e.GetAllow(),
			Timeout:        e.GetTimeout().AsDuration(),
			MaxOutputBytes: int(e.GetMaxOutputBytes()),
			MaxConcurrent:  int(e.GetMaxConcurrent()),
			WorkingDir:     e.GetWorkingDir(),
		}
		if e.GetTimeout() != nil && (e.GetTimeout().CheckValid() != nil || spec.Exec.Timeout <= 0) {
			return spec, &rawsock.FieldError{Field: "exec.timeout", Reason: "must be a positive duration, e.g. \"5s\""}
		}
	}
	return spec, nil
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

// listenerToProto converts a registered listener for a reply.
func listenerToProto(info rawsock.Info) *sockplanev1.Listener {
	s := info.Spec
	l := &sockplanev1.Listener{
		Id:        s.ID,
		Transport: reverse(transports, s.Transport),
		Address:   s.Address,
		Handler:   reverse(handlers, s.Handler),
		Framing: &sockplanev1.FramingConfig{
			Request:   reverse(framings, s.Framing.Request),
			Response:  reverse(framings, s.Framing.Response),
			ByteOrder: reverse(byteOrders, s.Framing.ByteOrder),
		},
		Status: &sockplanev1.ListenerStatus{
			State:        states[info.State],
			BoundAddress: info.BoundAddr,
			Error:        info.Error,
			Stats: &sockplanev1.ListenerStats{
				ConnectionsActive: info.Stats.ConnectionsActive,
				ConnectionsTotal:  info.Stats.ConnectionsTotal,
				FramesIn:          info.Stats.FramesIn,
				FramesOut:         info.Stats.FramesOut,
				BytesIn:           info.Stats.BytesIn,
				BytesOut:          info.Stats.BytesOut,
				Errors:            info.Stats.Errors,

				ConnectionsRejected: info.Stats.ConnectionsRejected,
			},
		},
	}
	if !info.StartedAt.IsZero() {
		l.Status.StartedAt = timestamppb.New(info.StartedAt)
	}
	if s.UnixMode != 0 {
		mode := fmt.Sprintf("%04o", uint32(s.UnixMode))
		l.UnixMode = &mode
	}
	l.Limits = limitsToProto(s.Limits)
	if s.Capture.MaxFrames > 0 {
		l.Capture = &sockplanev1.CaptureOptions{
			MaxFrames:        uint32(s.Capture.MaxFrames),
			MaxBytesPerFrame: uint32(s.Capture.MaxBytesPerFrame),
		}
	}
	if s.Handler == rawsock.HandlerExec {
		l.Exec = &sockplanev1.ExecOptions{
			Allow:          s.Exec.Allow,
			Timeout:        durationpb.New(s.Exec.Timeout),
			MaxOutputBytes: uint32(s.Exec.MaxOutputBytes),
			MaxConcurrent:  uint32(s.Exec.MaxConcurrent),
			WorkingDir:     s.Exec.WorkingDir,
		}
	}
	return l
}
