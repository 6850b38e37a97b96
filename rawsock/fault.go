package rawsock

import (
	"fmt"
	"sync/atomic"
	"time"
)

// FaultKind is what a Fault does to the traffic.
type FaultKind uint8

// The kinds of fault. Their names are the API's.
const (
	// FaultLatency delays each frame by Delay plus up to Jitter.
	FaultLatency FaultKind = iota + 1
	// FaultBandwidth bounds a connection's bytes per second (a datagram
	// listener's, on datagram networks) to BytesPerSecond.
	FaultBandwidth
	// FaultSlicer writes each reply in pieces of AverageBytes plus or
	// minus VariationBytes, Delay apart. Replies only.
	FaultSlicer
	// FaultTimeout stops answering from the first frame it applies to,
	// and closes the connection After later (0: never).
	FaultTimeout
	// FaultResetPeer resets a stream connection After it opens, or, with
	// a Match, after the first matching frame.
	FaultResetPeer
	// FaultSlowClose holds a closing stream connection open for Delay.
	FaultSlowClose
	// FaultLimitData closes a stream connection once it has carried Bytes
	// in the fault's direction.
	FaultLimitData
	// FaultDrop swallows frames.
	FaultDrop
	// FaultDuplicate sends (or, inbound, serves) frames twice.
	FaultDuplicate
)

var faultKindNames = [...]string{
	FaultLatency:   "latency",
	FaultBandwidth: "bandwidth",
	FaultSlicer:    "slicer",
	FaultTimeout:   "timeout",
	FaultResetPeer: "resetPeer",
	FaultSlowClose: "slowClose",
	FaultLimitData: "limitData",
	FaultDrop:      "drop",
	FaultDuplicate: "duplicate",
}

func (k FaultKind) String() string {
	if int(k) < len(faultKindNames) && faultKindNames[k] != "" {
		return faultKindNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", k)
}

// A FrameMatcher is a condition on a frame (package match builds them).
type FrameMatcher interface {
	Match(header, body []byte) bool
}

// Fault is one kind of damage a listener does to its traffic. Only the
// fields of its Kind are read.
type Fault struct {
	Kind FaultKind
	// Name is how Listener.FaultHits names it.
	Name string
	// Probability that the fault applies, from 0 to 1, decided once per
	// connection on stream networks and once per datagram on datagram
	// ones. The zero value means 1.
	Probability float64
	// Inbound makes the fault act on requests, before the handler;
	// otherwise it acts on replies.
	Inbound bool
	// Match, if not nil, limits the fault to the frames it matches: the
	// requests (inbound) or the replies it acts on.
	Match FrameMatcher

	Delay          time.Duration // latency, slicer, slowClose
	Jitter         time.Duration // latency
	After          time.Duration // timeout, resetPeer
	BytesPerSecond int64         // bandwidth
	AverageBytes   int           // slicer
	VariationBytes int           // slicer
	Bytes          int64         // limitData
}

// MaxFaultDelay bounds every duration of a fault.
const MaxFaultDelay = time.Minute

// faultSet is a listener's faults, compiled: immutable, apart from the
// counters, and shared by every connection that serves with it.
type faultSet struct {
	faults    []Fault
	threshold []uint64 // Probability scaled to the range of a hash
	applied   []atomic.Uint64
	seed      uint64
	in, out   bool // whether any fault acts on requests, on replies
	// stream connection-level faults, so that a connection checks them at
	// accept and close without walking the list
	resetPeer, slowClose, limitIn, limitOut bool
}

// FaultHit is how often one fault applied.
type FaultHit struct {
	Name    string
	Applied uint64
}

// newFaultSet checks faults for network and compiles them; nil when
// there are none, so that a listener without faults pays nothing.
func newFaultSet(faults []Fault, seed uint64, stream bool) (*faultSet, error) {
	if len(faults) == 0 {
		return nil, nil
	}
	fs := &faultSet{
		faults:    append([]Fault(nil), faults...),
		threshold: make([]uint64, len(faults)),
		applied:   make([]atomic.Uint64, len(faults)),
		seed:      seed,
	}
	for i := range fs.faults {
		f := &fs.faults[i]
		if err := checkFault(f, stream); err != nil {
			err.Field = fmt.Sprintf("faults[%d].%s", i, err.Field)
			return nil, err
		}
		if f.Name == "" {
			f.Name = fmt.Sprintf("%s-%d", f.Kind, i)
		}
		p := f.Probability
		if p == 0 {
			p = 1
		}
		fs.threshold[i] = probabilityThreshold(p)
		if f.Inbound {
			fs.in = true
		} else {
			fs.out = true
		}
		switch f.Kind {
		case FaultResetPeer:
			fs.resetPeer = true
		case FaultSlowClose:
			fs.slowClose = true
		case FaultLimitData:
			if f.Inbound {
				fs.limitIn = true
			} else {
				fs.limitOut = true
			}
		}
	}
	return fs, nil
}

// checkFault validates one fault; the error names the field relative to
// the fault, as the API spells it ("latency.delay").
func checkFault(f *Fault, stream bool) *FieldError {
	k := f.Kind.String()
	if f.Probability < 0 || f.Probability > 1 || f.Probability != f.Probability {
		return fieldErrorf("probability", "%v is not from 0 to 1", f.Probability)
	}
	durations := []struct {
		name string
		d    time.Duration
	}{{"delay", f.Delay}, {"jitter", f.Jitter}, {"after", f.After}}
	for _, d := range durations {
		if d.d < 0 || d.d > MaxFaultDelay {
			return fieldErrorf(k+"."+d.name, "%v is not from 0s to %v", d.d, MaxFaultDelay)
		}
	}
	switch f.Kind {
	case FaultLatency:
		if f.Delay == 0 && f.Jitter == 0 {
			return fieldErrorf(k+".delay", "required")
		}
	case FaultBandwidth:
		if f.BytesPerSecond < 1 {
			return fieldErrorf(k+".bytesPerSecond", "%d: at least 1", f.BytesPerSecond)
		}
	case FaultSlicer:
		if f.Inbound {
			return fieldErrorf("direction", "slicer acts on replies only")
		}
		if f.AverageBytes < 1 {
			return fieldErrorf(k+".averageBytes", "%d: at least 1", f.AverageBytes)
		}
		if f.VariationBytes < 0 || f.VariationBytes >= f.AverageBytes {
			return fieldErrorf(k+".variationBytes", "%d: from 0 to less than averageBytes", f.VariationBytes)
		}
		if !stream {
			return fieldErrorf(k, "stream transports only: a datagram cannot be cut")
		}
	case FaultResetPeer, FaultSlowClose, FaultLimitData:
		if !stream {
			return fieldErrorf(k, "stream transports only")
		}
		if f.Kind == FaultSlowClose && f.Delay == 0 {
			return fieldErrorf(k+".delay", "required")
		}
		if f.Kind == FaultLimitData && f.Bytes < 1 {
			return fieldErrorf(k+".bytes", "%d: at least 1", f.Bytes)
		}
		if f.Kind != FaultResetPeer && f.Match != nil {
			return fieldErrorf("match", "%s acts on the connection, not on frames", k)
		}
	case FaultTimeout, FaultDrop, FaultDuplicate:
	default:
		return fieldErrorf("kind", "no fault kind set")
	}
	return nil
}

// probabilityThreshold maps p in [0, 1] to the hashes below which a
// choice is "yes".
func probabilityThreshold(p float64) uint64 {
	if p >= 1 {
		return ^uint64(0)
	}
	return uint64(p * (1 << 63) * 2)
}

// chance is a reproducible random number for the seed and a, b, c: the
// same arguments give the same number whatever the interleaving of
// connections (splitmix64's finaliser over a mix of them).
func chance(seed, a, b, c uint64) uint64 {
	z := seed ^ a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// applies reports whether fault i applies to the connection or datagram
// numbered unit (its choice is made once per unit).
func (fs *faultSet) applies(i int, unit uint64) bool {
	t := fs.threshold[i]
	return t == ^uint64(0) || chance(fs.seed, unit, uint64(i), 0) < t
}

// jitter is a reproducible part of max for frame seq of unit.
func (fs *faultSet) jitter(i int, unit, seq uint64, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(chance(fs.seed, unit, uint64(i), seq+1) % uint64(max+1))
}

// hits reports the counters.
func (fs *faultSet) hits() []FaultHit {
	if fs == nil {
		return nil
	}
	out := make([]FaultHit, len(fs.faults))
	for i := range fs.faults {
		out[i] = FaultHit{Name: fs.faults[i].Name, Applied: fs.applied[i].Load()}
	}
	return out
}

// FaultHits reports how often each of the listener's current faults
// applied since they were set.
func (l *Listener) FaultHits() []FaultHit { return l.current().faults.hits() }

// CheckFaults checks faults as NewListener would for network, so that a
// caller can refuse them before anything binds. The error is a
// *FieldError naming the fault ("faults[2].latency.delay").
func CheckFaults(faults []Fault, network string) error {
	_, err := newFaultSet(faults, 0, isStreamNetwork(network))
	if err != nil {
		return err
	}
	return nil
}
