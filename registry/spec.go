package registry

import (
	"io/fs"
	"time"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
	"github.com/sockplane/sockplane/wire"
)

// Transport is the socket type of a Spec.
type Transport string

// The transports.
const (
	TransportTCP      Transport = "tcp"
	TransportUDP      Transport = "udp"
	TransportUnix     Transport = "unix"     // stream socket on a filesystem path
	TransportUnixgram Transport = "unixgram" // datagram socket on a filesystem path
)

// IsDatagram reports transports where one datagram is one message.
func (t Transport) IsDatagram() bool { return t == TransportUDP || t == TransportUnixgram }

// IsUnix reports transports bound to a filesystem path.
func (t Transport) IsUnix() bool { return t == TransportUnix || t == TransportUnixgram }

// HandlerKind names the handler of a Spec.
type HandlerKind string

// The handlers.
const (
	HandlerEcho    HandlerKind = "echo"
	HandlerUpper   HandlerKind = "upper"
	HandlerDiscard HandlerKind = "discard"
	HandlerRecord  HandlerKind = "record" // discard, with capture on
	HandlerExec    HandlerKind = "exec"   // see package command
	HandlerScript  HandlerKind = "script" // see package script
	HandlerProxy   HandlerKind = "proxy"  // see package proxy
)

// MaxIDLength bounds a listener id.
const MaxIDLength = 63

// Spec is a listener's desired state: what a caller asks for, what the
// store keeps, what Provision turns into a running listener. A zero field
// means its default, named on the field; Provision fills every one in, so
// what Get reports is explicit.
type Spec struct {
	// ID names the listener: lowercase letters, digits and '-', at most 63
	// characters. Default: generated, e.g. "tcp-5f0c1a2b".
	ID string
	// Transport is the socket type. Required.
	Transport Transport
	// Address is "host:port" for TCP and UDP, where port 0 picks a free
	// port; a filesystem path (or a Linux abstract "@name") for the Unix
	// transports. Required.
	Address string
	// UnixMode is the mode of a Unix socket file. Default: 0600 for the
	// Unix transports; must be zero for the others.
	UnixMode fs.FileMode
	// Handler serves the frames. Default: HandlerEcho.
	Handler HandlerKind
	// Framing is the wire format. Default: see FramingSpec.
	Framing FramingSpec
	// Exec configures the exec handler; must be zero for the others.
	// Default: see ExecSpec.
	Exec ExecSpec
	// Capture bounds the frame capture. Default: see CaptureSpec.
	Capture CaptureSpec
	// Limits bound what peers may do. Default: see LimitsSpec.
	Limits LimitsSpec

	// Labels select listeners (see ParseSelector): Kubernetes label syntax
	// and limits. Default: none.
	Labels map[string]string
	// TTL, when asked, deletes the listener this long after the Create or
	// Update that sets it: the call turns it into ExpireTime, and it is
	// never stored. Default: 0, none.
	TTL time.Duration
	// ExpireTime, when set, is when the listener is deleted by itself
	// (within 1s). Default: zero, never.
	ExpireTime time.Time

	// Script is what HandlerScript answers; required for it, and nil for
	// the other handlers.
	Script *script.Spec
	// Faults damage the listener's traffic, in order. Default: none.
	Faults []FaultSpec
	// FaultSeed seeds the faults' random choices. Default: nil, a random
	// seed each time the listener starts.
	FaultSeed *uint32
	// Proxy is where HandlerProxy relays; required for it, and nil for the
	// other handlers.
	Proxy *ProxySpec
	// Node names the cluster node that serves the listener (ValidateID's
	// syntax). Default: "", which a cluster fills in with the node that
	// received the create; outside a cluster it must stay "".
	Node string
	// TLS makes a TCP or Unix stream listener speak TLS. Default: nil,
	// plaintext. A self-signed certificate made by Provision is kept in
	// it (tlsconf.Spec.SelfSignedCertPEM), so the store has it.
	TLS *tlsconf.Spec
}

// FaultSpec is one fault of a Spec (see rawsock.Fault for what each kind
// does). Only the fields of its Kind may be set.
type FaultSpec struct {
	Kind rawsock.FaultKind
	// Name, as status shows it. Default: the kind and its index, e.g.
	// "latency-0".
	Name string
	// Probability, from 0 to 1, per connection (stream) or per datagram.
	// Default: 1.
	Probability *float64
	// Inbound acts on requests, before the handler. Default: false, on
	// replies.
	Inbound bool
	// Match limits the fault to matching frames. Default: every frame.
	Match match.Spec

	Delay          time.Duration // latency (required), slicer (default 0s), slowClose (required)
	Jitter         time.Duration // latency. Default: 0s
	After          time.Duration // timeout, resetPeer. Default: 0s
	BytesPerSecond int64         // bandwidth. Required
	AverageBytes   int           // slicer. Required
	VariationBytes int           // slicer. Default: 0
	Bytes          int64         // limitData. Required
}

func (f FaultSpec) clone() FaultSpec {
	f.Match = f.Match.Clone()
	if f.Probability != nil {
		p := *f.Probability
		f.Probability = &p
	}
	return f
}

// FramingSpec is the wire format of a Spec.
type FramingSpec struct {
	// Request framing. Default: wire.FramingJSONHeader.
	Request wire.Framing
	// Response framing. Default: wire.FramingJSONHeader.
	Response wire.Framing
	// ByteOrder of the 4-byte lengths of both. Default: wire.LittleEndian.
	ByteOrder wire.ByteOrder
}

// LimitsSpec bounds what a listener's peers may do.
type LimitsSpec struct {
	// MaxConnections open at once; the next is closed and counted.
	// Default: 1024; at most 1,048,576.
	MaxConnections int
	// MaxHeaderBytes of a JSON header. Default: 16384 (16 KiB); at most
	// 1,048,576 (1 MiB).
	MaxHeaderBytes int
	// MaxBodyBytes of a frame body. Default: 4194304 (4 MiB); at most
	// 67108864 (64 MiB).
	MaxBodyBytes int
	// HeaderTimeout: a frame that has started arriving must be whole
	// within it. Default: 10s.
	HeaderTimeout time.Duration
	// IdleTimeout closes a connection idle that long. Default: 5m;
	// NoTimeout: never.
	IdleTimeout time.Duration
	// AllowLargerDatagramReplies lets a datagram reply exceed its request.
	// Default: false.
	AllowLargerDatagramReplies bool
}

// NoTimeout, as an IdleTimeout, keeps idle connections forever.
const NoTimeout = rawsock.NoTimeout

// CaptureSpec sizes a listener's frame capture.
type CaptureSpec struct {
	// MaxFrames kept, newest replacing oldest. Default: 0, off; 1000 for
	// HandlerRecord. At most 100,000.
	MaxFrames int
	// MaxBytesPerFrame of each body kept. Default: 4096 (4 KiB) when
	// capture is on; at most 1,048,576 (1 MiB).
	MaxBytesPerFrame int
}

// ExecSpec is the exec handler's part of a Spec.
type ExecSpec struct {
	// Allow narrows the daemon's allowed programs for this listener. The
	// daemon's Policy.ExecAllow bounds it wherever the listener runs: a
	// program the daemon no longer allows is dropped (see Provisioned).
	// Default: all of the daemon's.
	Allow []string
	// Timeout bounds one run. Default: 5s.
	Timeout time.Duration
	// MaxOutputBytes caps what is kept of stdout and of stderr, each.
	// Default: 65536 (64 KiB); at most 32 MiB.
	MaxOutputBytes int
	// MaxConcurrent bounds the runs at once on the listener. Default: 4.
	MaxConcurrent int
	// WorkingDir of the commands. Default: the daemon's.
	WorkingDir string
}

func (e ExecSpec) isZero() bool {
	return len(e.Allow) == 0 && e.Timeout == 0 && e.MaxOutputBytes == 0 && e.MaxConcurrent == 0 && e.WorkingDir == ""
}
