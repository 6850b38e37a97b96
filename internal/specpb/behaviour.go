package specpb

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
)

// Thens pairs the protobuf Then with the script's.
var Thens = map[sockplanev1.Then]script.Then{
	sockplanev1.Then_THEN_UNSPECIFIED: script.ThenKeepOpen,
	sockplanev1.Then_THEN_KEEP_OPEN:   script.ThenKeepOpen,
	sockplanev1.Then_THEN_CLOSE:       script.ThenClose,
	sockplanev1.Then_THEN_RESET:       script.ThenReset,
}

// behaviourFromProto reads the script, faults, seed and TLS of l into spec.
func behaviourFromProto(l *sockplanev1.Listener, spec *registry.Spec) error {
	if sc := l.GetScript(); sc != nil {
		s, err := scriptFromProto(sc)
		if err != nil {
			return err
		}
		spec.Script = &s
	}
	for i, f := range l.GetFaults() {
		fs, err := faultFromProto(f, fmt.Sprintf("faults[%d]", i))
		if err != nil {
			return err
		}
		spec.Faults = append(spec.Faults, fs)
	}
	if l.FaultSeed != nil {
		seed := l.GetFaultSeed()
		spec.FaultSeed = &seed
	}
	if t := l.GetTls(); t != nil {
		spec.TLS = &tlsconf.Spec{SelfSigned: t.GetSelfSigned(), CertFile: t.GetCertFile(), KeyFile: t.GetKeyFile(),
			ClientCAFile: t.GetClientCaFile(), MinVersion: t.GetMinVersion(), ALPN: t.GetAlpn()}
	}
	return nil
}

// behaviourToProto writes spec's script, faults, seed and TLS into l;
// never the self-signed key, which only the store keeps.
func behaviourToProto(s registry.Spec, l *sockplanev1.Listener) {
	if s.Script != nil {
		l.Script = scriptToProto(*s.Script)
	}
	for _, f := range s.Faults {
		l.Faults = append(l.Faults, faultToProto(f))
	}
	if s.FaultSeed != nil {
		seed := *s.FaultSeed
		l.FaultSeed = &seed
	}
	if t := s.TLS; t != nil {
		l.Tls = &sockplanev1.TlsOptions{SelfSigned: t.SelfSigned, CertFile: t.CertFile, KeyFile: t.KeyFile,
			ClientCaFile: t.ClientCAFile, MinVersion: t.MinVersion, Alpn: t.ALPN}
	}
}

func scriptFromProto(sc *sockplanev1.Script) (script.Spec, error) {
	var s script.Spec
	var err error
	if g := sc.GetGreeting(); g != nil {
		r, err := replyFromProto(g, "script.greeting")
		if err != nil {
			return s, err
		}
		s.Greeting = &r
	}
	if d := sc.GetDefault(); d != nil {
		r, err := replyFromProto(d, "script.default")
		if err != nil {
			return s, err
		}
		s.Default = &r
	}
	for i, rule := range sc.GetRules() {
		var r script.Rule
		r.Match = matchFromProto(rule.GetMatch())
		if r.Reply, err = replyFromProto(rule.GetReply(), fmt.Sprintf("script.rules[%d].reply", i)); err != nil {
			return s, err
		}
		s.Rules = append(s.Rules, r)
	}
	return s, nil
}

func scriptToProto(s script.Spec) *sockplanev1.Script {
	sc := &sockplanev1.Script{}
	if s.Greeting != nil {
		sc.Greeting = replyToProto(*s.Greeting)
	}
	if s.Default != nil {
		sc.Default = replyToProto(*s.Default)
	}
	for _, r := range s.Rules {
		sc.Rules = append(sc.Rules, &sockplanev1.ScriptRule{Match: matchToProto(r.Match), Reply: replyToProto(r.Reply)})
	}
	return sc
}

func replyFromProto(r *sockplanev1.Reply, field string) (script.Reply, error) {
	out := script.Reply{BodyBase64: r.GetBodyBase64(), Echo: r.GetEcho(), Header: r.GetHeader(), NoReply: r.GetNoReply()}
	if r != nil && r.Body != nil {
		b := r.GetBody()
		out.Body = &b
	}
	var err error
	if out.Then, err = lookup(Thens, r.GetThen(), field+".then"); err != nil {
		return out, err
	}
	if out.Delay, err = nonNegativeDuration(r.GetDelay(), field+".delay"); err != nil {
		return out, err
	}
	return out, nil
}

func replyToProto(r script.Reply) *sockplanev1.Reply {
	out := &sockplanev1.Reply{BodyBase64: r.BodyBase64, Echo: r.Echo, Header: r.Header, NoReply: r.NoReply,
		Delay: durationOrNil(r.Delay)}
	if r.Body != nil {
		b := *r.Body
		out.Body = &b
	}
	switch r.Then {
	case script.ThenClose:
		out.Then = sockplanev1.Then_THEN_CLOSE
	case script.ThenReset:
		out.Then = sockplanev1.Then_THEN_RESET
	default:
		out.Then = sockplanev1.Then_THEN_KEEP_OPEN
	}
	return out
}

func matchFromProto(m *sockplanev1.Match) match.Spec {
	s := match.Spec{BodyPrefix: m.GetBodyPrefix(), BodyContains: m.GetBodyContains(), BodyRegex: m.GetBodyRegex(),
		BodyBase64: m.GetBodyBase64(), Header: m.GetHeader()}
	if m != nil && m.BodyEquals != nil {
		b := m.GetBodyEquals()
		s.BodyEquals = &b
	}
	return s
}

func matchToProto(s match.Spec) *sockplanev1.Match {
	if s.IsZero() {
		return nil
	}
	m := &sockplanev1.Match{BodyPrefix: s.BodyPrefix, BodyContains: s.BodyContains, BodyRegex: s.BodyRegex,
		BodyBase64: s.BodyBase64, Header: s.Header}
	if s.BodyEquals != nil {
		b := *s.BodyEquals
		m.BodyEquals = &b
	}
	return m
}

func faultFromProto(f *sockplanev1.Fault, field string) (registry.FaultSpec, error) {
	out := registry.FaultSpec{Name: f.GetName(), Match: matchFromProto(f.GetMatch())}
	if f != nil && f.Probability != nil {
		p := f.GetProbability()
		out.Probability = &p
	}
	switch f.GetDirection() {
	case sockplanev1.Direction_DIRECTION_UNSPECIFIED, sockplanev1.Direction_DIRECTION_OUT:
	case sockplanev1.Direction_DIRECTION_IN:
		out.Inbound = true
	default:
		return out, &rawsock.FieldError{Field: field + ".direction", Reason: fmt.Sprintf("unknown value %v", f.GetDirection())}
	}
	var err error
	dur := func(d *durationpb.Duration, name string) time.Duration {
		if err != nil {
			return 0
		}
		var v time.Duration
		v, err = nonNegativeDuration(d, field+"."+name)
		return v
	}
	switch k := f.GetKind().(type) {
	case *sockplanev1.Fault_Latency:
		out.Kind = rawsock.FaultLatency
		out.Delay, out.Jitter = dur(k.Latency.GetDelay(), "latency.delay"), dur(k.Latency.GetJitter(), "latency.jitter")
	case *sockplanev1.Fault_Bandwidth:
		out.Kind, out.BytesPerSecond = rawsock.FaultBandwidth, int64(k.Bandwidth.GetBytesPerSecond())
	case *sockplanev1.Fault_Slicer:
		out.Kind = rawsock.FaultSlicer
		out.AverageBytes, out.VariationBytes = int(k.Slicer.GetAverageBytes()), int(k.Slicer.GetVariationBytes())
		out.Delay = dur(k.Slicer.GetDelay(), "slicer.delay")
	case *sockplanev1.Fault_Timeout:
		out.Kind, out.After = rawsock.FaultTimeout, dur(k.Timeout.GetAfter(), "timeout.after")
	case *sockplanev1.Fault_ResetPeer:
		out.Kind, out.After = rawsock.FaultResetPeer, dur(k.ResetPeer.GetAfter(), "resetPeer.after")
	case *sockplanev1.Fault_SlowClose:
		out.Kind, out.Delay = rawsock.FaultSlowClose, dur(k.SlowClose.GetDelay(), "slowClose.delay")
	case *sockplanev1.Fault_LimitData:
		out.Kind, out.Bytes = rawsock.FaultLimitData, int64(min(k.LimitData.GetBytes(), 1<<62))
	case *sockplanev1.Fault_Drop:
		out.Kind = rawsock.FaultDrop
	case *sockplanev1.Fault_Duplicate:
		out.Kind = rawsock.FaultDuplicate
	default:
		return out, &rawsock.FieldError{Field: field, Reason: "set one kind: latency, bandwidth, slicer, timeout, resetPeer, slowClose, limitData, drop or duplicate"}
	}
	return out, err
}

func faultToProto(f registry.FaultSpec) *sockplanev1.Fault {
	out := &sockplanev1.Fault{Name: f.Name, Match: matchToProto(f.Match)}
	if f.Probability != nil {
		p := *f.Probability
		out.Probability = &p
	}
	out.Direction = sockplanev1.Direction_DIRECTION_OUT
	if f.Inbound {
		out.Direction = sockplanev1.Direction_DIRECTION_IN
	}
	switch f.Kind {
	case rawsock.FaultLatency:
		out.Kind = &sockplanev1.Fault_Latency{Latency: &sockplanev1.LatencyFault{Delay: durationOrNil(f.Delay), Jitter: durationOrNil(f.Jitter)}}
	case rawsock.FaultBandwidth:
		out.Kind = &sockplanev1.Fault_Bandwidth{Bandwidth: &sockplanev1.BandwidthFault{BytesPerSecond: uint32(min(f.BytesPerSecond, 1<<32-1))}}
	case rawsock.FaultSlicer:
		out.Kind = &sockplanev1.Fault_Slicer{Slicer: &sockplanev1.SlicerFault{AverageBytes: uint32(f.AverageBytes),
			VariationBytes: uint32(f.VariationBytes), Delay: durationOrNil(f.Delay)}}
	case rawsock.FaultTimeout:
		out.Kind = &sockplanev1.Fault_Timeout{Timeout: &sockplanev1.TimeoutFault{After: durationOrNil(f.After)}}
	case rawsock.FaultResetPeer:
		out.Kind = &sockplanev1.Fault_ResetPeer{ResetPeer: &sockplanev1.ResetPeerFault{After: durationOrNil(f.After)}}
	case rawsock.FaultSlowClose:
		out.Kind = &sockplanev1.Fault_SlowClose{SlowClose: &sockplanev1.SlowCloseFault{Delay: durationOrNil(f.Delay)}}
	case rawsock.FaultLimitData:
		out.Kind = &sockplanev1.Fault_LimitData{LimitData: &sockplanev1.LimitDataFault{Bytes: uint64(f.Bytes)}}
	case rawsock.FaultDrop:
		out.Kind = &sockplanev1.Fault_Drop{Drop: &sockplanev1.DropFault{}}
	case rawsock.FaultDuplicate:
		out.Kind = &sockplanev1.Fault_Duplicate{Duplicate: &sockplanev1.DuplicateFault{}}
	}
	return out
}

// nonNegativeDuration reads an optional duration that may be zero.
func nonNegativeDuration(d *durationpb.Duration, field string) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if d.CheckValid() != nil || d.AsDuration() < 0 {
		return 0, &rawsock.FieldError{Field: field, Reason: `must be a duration of 0s or more, e.g. "200ms"`}
	}
	return d.AsDuration(), nil
}
