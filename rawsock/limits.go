package rawsock

import (
	"errors"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// Default limits of a listener.
const (
	DefaultMaxConnections = 1024
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout    = 5 * time.Minute
	// NoTimeout, as an IdleTimeout, keeps idle connections forever.
	NoTimeout time.Duration = -1
)

// errReplyTooLarge is a datagram reply larger than its request, refused
// so that a forged sender cannot use the listener as an amplifier.
var errReplyTooLarge = errors.New("reply larger than the request datagram")

// Limits bound what a listener's peers may do. Zero values mean the
// defaults; frame sizes live in the request Codec.
type Limits struct {
	// MaxConnections open at once; the next is closed at once and counted.
	// Default: 1024.
	MaxConnections int
	// HeaderTimeout: a frame that started arriving must be whole within
	// it, or the connection gets an error frame and is closed. Default: 10s.
	HeaderTimeout time.Duration
	// IdleTimeout closes a connection with no frame in progress after this
	// long without bytes. Default: 5m; NoTimeout: never.
	IdleTimeout time.Duration
	// AllowLargerDatagramReplies lifts the rule that a datagram is
	// answered with at most as many bytes as it held. Default: false.
	AllowLargerDatagramReplies bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// errFrameTimeout is the error frame of a frame that took too long.
type errFrameTimeout struct{ limit time.Duration }

func (e errFrameTimeout) Error() string {
	return "frame not complete within " + e.limit.String()
}

func (e errFrameTimeout) Is(target error) bool { return target == wire.ErrMalformedFrame }
