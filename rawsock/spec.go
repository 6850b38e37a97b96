package rawsock

import (
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"
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

// HandlerKind names a built-in Handler in a Spec.
type HandlerKind string

// The built-in handlers.
const (
	HandlerEcho    HandlerKind = "echo"
	HandlerUpper   HandlerKind = "upper"
	HandlerDiscard HandlerKind = "discard"
	HandlerRecord  HandlerKind = "record" // discard, with capture on
)

// builtinHandlers maps each HandlerKind to its Handler.
var builtinHandlers = map[HandlerKind]Handler{
	HandlerEcho:    Echo{},
	HandlerUpper:   Upper{},
	HandlerDiscard: Discard{},
	HandlerRecord:  Discard{},
}

// MaxIDLength bounds a listener id.
const MaxIDLength = 63

// Spec is what a Registry needs to build, and rebuild, a listener. The
// zero values of Handler and Framing's fields mean their defaults;
// Registry.Create fills them in, so that what it reports is explicit.
type Spec struct {
	// ID names the listener: lowercase letters, digits and '-', at most 63
	// characters. Generated when empty.
	ID string `json:"id"`
	// Transport is the socket type. Required.
	Transport Transport `json:"transport"`
	// Address is "host:port" for TCP and UDP, where port 0 picks a free
	// port; a filesystem path (or a Linux abstract "@name") for the Unix
	// transports. Required.
	Address string `json:"address"`
	// UnixMode is the mode of a Unix socket file. Default: 0600 for the
	// Unix transports; must be zero for the others.
	UnixMode fs.FileMode `json:"unixMode,omitempty"`
	// Handler serves the frames. Default: HandlerEcho.
	Handler HandlerKind `json:"handler"`
	// Framing is the wire format. Default: JSON header both ways,
	// little-endian.
	Framing FramingSpec `json:"framing"`
	// Exec configures the exec handler; zero for the other handlers.
	Exec ExecSpec `json:"exec,omitzero"`
	// Capture bounds the frame capture. Default: off, except for
	// HandlerRecord.
	Capture CaptureSpec `json:"capture,omitzero"`
	// Limits bound what peers may do. Default: see LimitsSpec.
	Limits LimitsSpec `json:"limits"`
}

// LimitsSpec is the limits part of a Spec; Registry.Create fills in every
// default, so what it reports is what holds.
type LimitsSpec struct {
	// MaxConnections open at once. Default: 1024.
	MaxConnections int `json:"maxConnections"`
	// MaxHeaderBytes of a JSON header. Default: 16 KiB.
	MaxHeaderBytes int `json:"maxHeaderBytes"`
	// MaxBodyBytes of a frame body. Default: 4 MiB; at most 64 MiB.
	MaxBodyBytes int `json:"maxBodyBytes"`
	// HeaderTimeout: a started frame must be whole within it. Default: 10s.
	HeaderTimeout time.Duration `json:"headerTimeout"`
	// IdleTimeout closes a connection idle that long. Default: 5m;
	// NoTimeout: never.
	IdleTimeout time.Duration `json:"idleTimeout"`
	// AllowLargerDatagramReplies lets a datagram reply exceed its request.
	AllowLargerDatagramReplies bool `json:"allowLargerDatagramReplies,omitempty"`
}

// CaptureSpec sizes a listener's frame capture.
type CaptureSpec struct {
	// MaxFrames kept, newest replacing oldest. Default: 0, off
	// (DefaultRecordFrames for HandlerRecord).
	MaxFrames int `json:"maxFrames"`
	// MaxBytesPerFrame of each body kept. Default: 4 KiB when capture is on.
	MaxBytesPerFrame int `json:"maxBytesPerFrame"`
}

// FramingSpec is the wire format of a Spec.
type FramingSpec struct {
	// Request framing. Default: FramingJSONHeader.
	Request Framing `json:"request"`
	// Response framing. Default: FramingJSONHeader.
	Response Framing `json:"response"`
	// ByteOrder of the length fields of both. Default: LittleEndian.
	ByteOrder ByteOrder `json:"byteOrder"`
}

// withDefaults returns s with every defaulted field filled in.
func (s Spec) withDefaults() Spec {
	if s.Handler == "" {
		s.Handler = HandlerEcho
	}
	if s.Framing.Request == 0 {
		s.Framing.Request = FramingJSONHeader
	}
	if s.Framing.Response == 0 {
		s.Framing.Response = FramingJSONHeader
	}
	if s.Framing.ByteOrder == 0 {
		s.Framing.ByteOrder = LittleEndian
	}
	if s.Transport.IsUnix() && s.UnixMode == 0 {
		s.UnixMode = DefaultUnixMode
	}
	if s.Handler == HandlerRecord && s.Capture.MaxFrames == 0 {
		s.Capture.MaxFrames = DefaultRecordFrames
	}
	if s.Capture.MaxFrames > 0 && s.Capture.MaxBytesPerFrame == 0 {
		s.Capture.MaxBytesPerFrame = DefaultCaptureBytesPerFrame
	}
	l := &s.Limits
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.HeaderTimeout == 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return s
}

// Validate checks every field of s, defaults applied, and returns a
// *FieldError naming the first bad one. An empty ID is valid.
func (s Spec) Validate() error {
	if s.ID != "" {
		if err := ValidateID(s.ID); err != nil {
			return err
		}
	}
	switch s.Transport {
	case TransportTCP, TransportUDP:
		if err := validateHostPort(s.Address); err != nil {
			return err
		}
		if s.UnixMode != 0 {
			return fieldErrorf("unixMode", "only for the Unix transports")
		}
	case TransportUnix, TransportUnixgram:
		if err := validateUnixPath(s.Address); err != nil {
			return err
		}
		if s.UnixMode&^fs.ModePerm != 0 {
			return fieldErrorf("unixMode", "%#o is not a permission mode (0 to 0777)", uint32(s.UnixMode))
		}
	case "":
		return fieldErrorf("transport", "required")
	default:
		return fieldErrorf("transport", "unsupported transport %q", s.Transport)
	}
	if _, ok := builtinHandlers[s.Handler]; !ok && s.Handler != HandlerExec {
		return fieldErrorf("handler", "unsupported handler %q", s.Handler)
	}
	for _, f := range []struct {
		name string
		v    Framing
	}{{"framing.request", s.Framing.Request}, {"framing.response", s.Framing.Response}} {
		switch f.v {
		case FramingJSONHeader, FramingLengthPrefixed, FramingRaw:
		default:
			return fieldErrorf(f.name, "unsupported framing %s", f.v)
		}
	}
	if s.Framing.ByteOrder != LittleEndian && s.Framing.ByteOrder != BigEndian {
		return fieldErrorf("framing.byteOrder", "unsupported byte order %s", s.Framing.ByteOrder)
	}
	if c := s.Capture; c.MaxFrames < 0 || c.MaxFrames > MaxCaptureFrames {
		return fieldErrorf("capture.maxFrames", "%d is not from 0 to %d", c.MaxFrames, MaxCaptureFrames)
	}
	if c := s.Capture; c.MaxBytesPerFrame < 0 || c.MaxBytesPerFrame > MaxCaptureBytesPerFrame {
		return fieldErrorf("capture.maxBytesPerFrame", "%d is not from 0 to %d", c.MaxBytesPerFrame, MaxCaptureBytesPerFrame)
	}
	return s.Limits.validate()
}

// Bounds of what LimitsSpec may ask.
const (
	maxMaxConnections = 1 << 20
	maxMaxHeaderBytes = 1 << 20
)

func (l LimitsSpec) validate() error {
	switch {
	case l.MaxConnections < 0 || l.MaxConnections > maxMaxConnections:
		return fieldErrorf("limits.maxConnections", "%d is not from 1 to %d", l.MaxConnections, maxMaxConnections)
	case l.MaxHeaderBytes < 0 || l.MaxHeaderBytes > maxMaxHeaderBytes:
		return fieldErrorf("limits.maxHeaderBytes", "%d is not from 1 to %d", l.MaxHeaderBytes, maxMaxHeaderBytes)
	case l.MaxBodyBytes < 0 || l.MaxBodyBytes > HardMaxBodyBytes:
		return fieldErrorf("limits.maxBodyBytes", "%d is not from 1 to %d (64 MiB)", l.MaxBodyBytes, HardMaxBodyBytes)
	case l.HeaderTimeout < 0:
		return fieldErrorf("limits.headerTimeout", "%v is negative", l.HeaderTimeout)
	case l.IdleTimeout < 0 && l.IdleTimeout != NoTimeout:
		return fieldErrorf("limits.idleTimeout", "%v is negative", l.IdleTimeout)
	}
	return nil
}

// ValidateID checks a listener id: 1 to 63 lowercase letters, digits and
// '-'.
func ValidateID(id string) error {
	if id == "" {
		return fieldErrorf("id", "required")
	}
	if len(id) > MaxIDLength {
		return fieldErrorf("id", "%d characters, more than %d", len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fieldErrorf("id", "%q has %q: only lowercase letters, digits and '-' are allowed", id, c)
		}
	}
	return nil
}

func validateHostPort(address string) error {
	if address == "" {
		return fieldErrorf("address", "required, as host:port, e.g. 127.0.0.1:0")
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return fieldErrorf("address", "%q is not host:port", address)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fieldErrorf("address", "port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func validateUnixPath(path string) error {
	switch {
	case path == "":
		return fieldErrorf("address", "required: a socket file path, e.g. /tmp/sockplane.sock")
	case len(path) > maxUnixPath:
		return fieldErrorf("address", "path of %d bytes, more than a Unix socket address holds (%d)", len(path), maxUnixPath)
	case strings.IndexByte(path, 0) >= 0:
		return fieldErrorf("address", "path holds a NUL byte")
	}
	return nil
}

// listenerConfig turns a valid spec into the Config of a Listener.
func (s Spec) listenerConfig(stats *Stats, capture *Capture, events *EventBus) (Config, error) {
	h, err := s.handler()
	if err != nil {
		return Config{}, err
	}
	return Config{
		Network:  string(s.Transport),
		Address:  s.Address,
		UnixMode: s.UnixMode,
		Handler:  h,
		Request: Codec{Framing: s.Framing.Request, ByteOrder: s.Framing.ByteOrder,
			MaxHeaderBytes: s.Limits.MaxHeaderBytes, MaxBodyBytes: s.Limits.MaxBodyBytes},
		Limits: Limits{
			MaxConnections:             s.Limits.MaxConnections,
			HeaderTimeout:              s.Limits.HeaderTimeout,
			IdleTimeout:                s.Limits.IdleTimeout,
			AllowLargerDatagramReplies: s.Limits.AllowLargerDatagramReplies,
		},
		Response: Codec{Framing: s.Framing.Response, ByteOrder: s.Framing.ByteOrder},
		Stats:    stats,
		Capture:  capture,
		Events:   events,
		Name:     s.ID,
	}, nil
}
