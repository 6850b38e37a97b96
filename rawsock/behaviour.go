package rawsock

import (
	"errors"
	"fmt"

	"github.com/sockplane/sockplane/wire"
)

// ErrNeedsRebind is returned, wrapped, by Listener.Update when the new
// configuration changes what the socket is bound to (network, address,
// Unix socket mode): that takes a new listener.
var ErrNeedsRebind = errors.New("rawsock: the change needs a new socket")

// behaviour is what a listener does with what it reads: the handler, the
// codecs, the limits and the capture. It is immutable once published, so
// a connection reads it with no lock: the listener holds the current one
// in an atomic pointer, Update swaps it, and every connection compares it
// with its own at each frame boundary (one atomic load and a compare) and
// adopts the new one there.
type behaviour struct {
	handler  Handler
	request  wire.Codec
	response wire.Codec
	limits   Limits
	capture  *Capture
	faults   *faultSet    // nil: none, and the hot path checks nothing else
	greeter  Greeter      // handler, when it speaks first
	opener   ConnOpener   // handler, when it keeps state per stream connection
	popener  PacketOpener // handler, when it keeps state per datagram peer
	// inline: the poller may serve the frames itself (see NonBlocking):
	// the handler never blocks, and no fault or ConnOpener needs a
	// connection's own goroutine.
	inline bool
	// streamEcho: the handler is Echo with no faults and no capture, so
	// a stream connection may echo a large body as it arrives instead of
	// storing it first (see cutthrough.go).
	streamEcho bool
	// spliceEcho: streamed bodies go through a pipe (see Echo.Splice).
	spliceEcho bool
	// src is the listener's behaviour this one is, or was derived from:
	// itself for the listener's own; for a stream connection accepted with
	// another framing than the new behaviour's, a copy that keeps the
	// connection's framing and points to the listener's. A connection is
	// up to date when its behaviour's src is the listener's current one.
	src *behaviour
}

// newBehaviour checks cfg's behaviour and fills in its defaults: the one
// place they are, for NewListener and Update alike.
func newBehaviour(cfg Config) (*behaviour, error) {
	if cfg.Handler == nil {
		return nil, fieldErrorf("handler", "no handler")
	}
	stream := isStreamNetwork(cfg.Network)
	faults, err := newFaultSet(cfg.Faults, cfg.FaultSeed, stream)
	if err != nil {
		return nil, err
	}
	if cfg.Response == (wire.Codec{}) {
		cfg.Response = cfg.Request
	}
	b := &behaviour{
		handler:  cfg.Handler,
		request:  cfg.Request.WithDefaults(),
		response: cfg.Response.WithDefaults(),
		limits:   cfg.Limits.withDefaults(),
		capture:  cfg.Capture,
		faults:   faults,
	}
	if g, ok := cfg.Handler.(Greeter); ok && stream {
		b.greeter = g
	}
	if o, ok := cfg.Handler.(ConnOpener); ok && stream {
		b.opener = o
	}
	if o, ok := cfg.Handler.(PacketOpener); ok && !stream {
		b.popener = o
	}
	if _, ok := cfg.Handler.(NonBlocking); ok && faults == nil && b.opener == nil {
		b.inline = true
	}
	switch h := cfg.Handler.(type) {
	case Echo:
		b.streamEcho, b.spliceEcho = stream && faults == nil && cfg.Capture == nil, h.Splice
	case *Echo:
		b.streamEcho, b.spliceEcho = stream && faults == nil && cfg.Capture == nil, h != nil && h.Splice
	}
	b.src = b
	return b, nil
}

// sameFraming reports whether a and b frame alike in both directions:
// size limits aside, their codecs write and read the same bytes.
func sameFraming(a, b *behaviour) bool {
	return a.request.Framing == b.request.Framing && a.request.ByteOrder == b.request.ByteOrder &&
		a.response.Framing == b.response.Framing && a.response.ByteOrder == b.response.ByteOrder
}

// keepingFraming returns next as a connection that serves with own
// should adopt it: next itself when it frames alike, or else a copy with
// own's request and response framing and byte order, and next's limits.
func keepingFraming(next, own *behaviour) *behaviour {
	if sameFraming(next, own) {
		return next
	}
	d := *next // d.src stays next
	d.request.Framing, d.request.ByteOrder = own.request.Framing, own.request.ByteOrder
	d.response.Framing, d.response.ByteOrder = own.response.Framing, own.response.ByteOrder
	return &d
}

// current is the behaviour new connections and datagrams get.
func (l *Listener) current() *behaviour { return l.cur.Load() }

// Update changes what the listener does while it serves: cfg's Handler,
// Request, Response, Limits, Capture, Faults and FaultSeed replace the
// listener's, a new UnixMode is applied to the socket file, and a new
// TLS configuration serves the next handshakes. New
// connections use all of them. Open connections switch at their next
// frame boundary (a frame in progress is finished under the old), and keep
// the request and response Framing and ByteOrder they were accepted with:
// a framing change applies to new connections; the codecs' size limits do
// apply to open ones. Datagram listeners switch at the next datagram,
// framing included. cfg's Network and Address must equal the listener's,
// and TLS must stay on or off (changing them needs a new listener: an
// error wrapping ErrNeedsRebind); its Stats, Logger, Events and Name are ignored. Zero
// fields mean their defaults, as in NewListener. Update after Shutdown or
// Close returns ErrListenerClosed.
//
// In detail: a new HeaderTimeout or IdleTimeout applies from the next
// time a connection arms its read deadline between frames, so a frame in
// progress keeps its header timeout and a connection waiting for its first
// bytes keeps its idle deadline until it reads; MaxConnections applies to
// the next accept and never closes an open connection; the frame size
// limits apply from the next frame; AllowLargerDatagramReplies from the
// next datagram. A new Capture (or none) records from the next frame.
func (l *Listener) Update(cfg Config) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return ErrListenerClosed
	}
	mode := cfg.UnixMode
	if mode == 0 {
		mode = DefaultUnixMode
	}
	switch {
	case cfg.Network != l.network:
		return fmt.Errorf("%w: network %q is not the listener's %q", ErrNeedsRebind, cfg.Network, l.network)
	case cfg.Address != l.address:
		return fmt.Errorf("%w: address %q is not the listener's %q", ErrNeedsRebind, cfg.Address, l.address)
	case (cfg.TLS == nil) != (l.tls.Load() == nil):
		return fmt.Errorf("%w: turning TLS on or off", ErrNeedsRebind)
	}
	b, err := newBehaviour(cfg)
	if err != nil {
		return err
	}
	if mode != l.unixMode {
		// The socket file keeps its inode: a chmod changes who may connect
		// next, and open connections are not affected.
		if err := l.file.chmod(mode); err != nil {
			return err
		}
		l.unixMode = mode
	}
	if cfg.TLS != nil {
		l.tls.Store(cfg.TLS) // the next handshake uses it
	}
	l.cur.Store(b)
	return nil
}
