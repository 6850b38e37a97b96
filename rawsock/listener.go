package rawsock

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// Config describes a Listener. Validation and defaults happen once, in
// NewListener, before anything binds.
type Config struct {
	// Network is "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"
	// (stream) or "unixgram" (datagram).
	Network string
	// Address is "host:port" for IP networks, where port 0 picks a free
	// port (see Listener.Addr); a filesystem path for Unix ones, or
	// "@name" for a Linux abstract socket.
	Address string
	// UnixMode is the mode of a Unix socket file. Default: 0600.
	UnixMode fs.FileMode
	// Handler serves every request frame. Required.
	Handler Handler
	// Request is the framing and limits of frames read from peers.
	// Default: the zero Codec (JSON header, little-endian, default limits).
	Request wire.Codec
	// Response is the framing of frames written to peers. Default: as Request.
	Response wire.Codec
	// Stats receives the counters. Default: a new Stats (see Listener.Stats).
	Stats *Stats
	// Logger receives errors that no caller sees: failed accepts, failed
	// writes. Default: slog.Default().
	Logger *slog.Logger
	// Limits bound what peers may do. Default: see Limits.
	Limits Limits
	// Capture, if not nil, records the listener's frames.
	Capture *Capture
	// Events, if not nil, receives connection and frame-error events,
	// stamped with Name as their listener id.
	Events *EventBus
	Name   string
	// Faults, if any, damage the traffic in order (see Fault). Default:
	// none, and the listener pays nothing for them.
	Faults []Fault
	// FaultSeed seeds the faults' random choices: the same seed makes the
	// same choices for the same connection and datagram numbers.
	FaultSeed uint64
	// TLS, if not nil, makes a stream listener serve TLS with it; the
	// handshake is bounded by Limits.HeaderTimeout. Datagram networks
	// refuse it.
	TLS *tls.Config
}

// A Listener serves one socket: it binds it, accepts connections (or
// reads datagrams) on a goroutine it owns and serves every frame with the
// Handler. A Listener serves once: after Shutdown or Close, make a new one.
//
// The lifecycle follows net/http.Server:
//   - Start binds synchronously and returns the bind error, if any; Addr
//     then reports the real address, with the real port when 0 was asked.
//   - Shutdown closes the socket, so the port refuses at once, closes idle
//     connections, and waits for the others to finish the frames they hold
//     and go idle, or for ctx to end; then it returns ctx.Err() and leaves
//     the rest to Close.
//   - Close closes the socket and every connection at once, cancels the
//     requests' contexts and waits for the listener's goroutines to exit,
//     but not for ever: a handler that ignores its context is left to
//     return when it does (Done closes then) and reported by an error
//     wrapping ErrHandlersRunning.
//   - After either, Start returns ErrListenerClosed and Done is closed;
//     Err returns ErrListenerClosed, or the error that stopped serving.
//
// While it serves, Update changes its handler, codecs, limits and capture
// without closing a connection: each connection switches at its next
// frame boundary.
type Listener struct {
	network   string
	address   string
	cur       atomic.Pointer[behaviour] // see Update
	stats     *Stats
	baseLog   *slog.Logger // see logger
	unixMode  fs.FileMode
	parkAfter time.Duration // see serve
	parked    atomic.Uint64 // hand-overs to fresh goroutines, for tests
	relays    atomic.Uint64 // connections the poller began to relay (relay.go), for tests
	relayLeft atomic.Uint64 // of those, the ones it handed back to goroutines, for tests
	events    *EventBus
	name      string

	tls atomic.Pointer[tls.Config] // nil: plaintext

	ctx    context.Context    // the requests' context; cancelled by Close
	cancel context.CancelFunc //
	quit   chan struct{}      // closed when Shutdown or Close begins
	done   chan struct{}      // closed when every goroutine has exited
	err    error              // why serving ended; read after done

	inShutdown atomic.Bool

	mu      sync.Mutex
	started bool
	closing bool
	sock    interface{ Close() error } // net.Listener or the datagram socket
	file    *unixSocketFile            // the Unix socket file, removed on close
	addr    net.Addr
	conns   map[uint64]*streamConn // by connection id
	loops   []*poller              // see pollers
	// noPollers: connections wait on goroutines (pollers could not be
	// made, or the listener is closing).
	noPollers atomic.Bool
	// held is the held-reply writer (see heldwriter.go), made on first
	// use; heldDone is set when it stopped, for good.
	held     atomic.Pointer[heldWriter]
	heldDone bool
	// pauses wake the connections that inbound faults hold (see pause);
	// stopped with the held-reply writer.
	pauses  Timers
	pconn   *packetConn // the datagram server, for datagram networks
	connsWG sync.WaitGroup
}

// NewListener checks cfg, fills in its defaults and returns a Listener
// ready to Start.
func NewListener(cfg Config) (*Listener, error) {
	switch cfg.Network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram":
	default:
		return nil, fieldErrorf("transport", "unsupported network %q", cfg.Network)
	}
	b, err := newBehaviour(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil && !isStreamNetwork(cfg.Network) {
		return nil, fieldErrorf("tls", "stream transports only")
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UnixMode == 0 {
		cfg.UnixMode = DefaultUnixMode
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		network:   cfg.Network,
		address:   cfg.Address,
		stats:     cfg.Stats,
		unixMode:  cfg.UnixMode,
		baseLog:   cfg.Logger,
		ctx:       ctx,
		cancel:    cancel,
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		conns:     make(map[uint64]*streamConn),
		parkAfter: parkAfter,
		events:    cfg.Events,
		name:      cfg.Name,
	}
	l.cur.Store(b)
	l.tls.Store(cfg.TLS)
	return l, nil
}

func (l *Listener) isStream() bool { return isStreamNetwork(l.network) }

// logger is the listener's logger, which names its network and address.
// It is made when something is logged, which is rare, rather than for
// every listener a create makes.
func (l *Listener) logger() *slog.Logger {
	return l.baseLog.With("network", l.network, "address", l.address)
}

func isStreamNetwork(network string) bool {
	return network == "unix" || network == "tcp" || network == "tcp4" || network == "tcp6"
}

func (l *Listener) isUnix() bool { return l.network == "unix" || l.network == "unixgram" }

// Start binds the socket and starts serving it in the background. A bind
// failure is returned here, wrapping ErrAddrInUse or ErrBind.
func (l *Listener) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return ErrListenerClosed
	}
	if l.started {
		return errors.New("rawsock: listener already started")
	}
	if l.isUnix() {
		if err := prepareUnixPath(l.network, l.address); err != nil {
			return err
		}
	}
	sock, addr, err := l.bind()
	if err != nil {
		return bindError(l.address, err)
	}
	if l.isUnix() {
		if l.file, err = claimUnixSocketFile(l.address, l.unixMode); err != nil {
			_ = sock.Close()
			return err
		}
	}
	l.sock, l.addr = sock, addr
	l.started = true
	switch s := sock.(type) {
	case net.Listener:
		go l.acceptLoop(s)
	case net.PacketConn:
		go l.readPackets(s)
	}
	return nil
}

// bind creates the socket: a net.Listener for streams, a net.PacketConn
// for datagrams.
//
// A TCP listener is plain TCP, not Multipath TCP, which Go's ListenConfig
// otherwise asks for on Linux since Go 1.24: an MPTCP socket costs the
// kernel more to bind and to accept on (it is an MPTCP socket with a TCP
// subflow), and a fixture speaks raw TCP. An MPTCP client falls back to
// TCP against it, as against any TCP server.
//
// Every stream listener gets SO_REUSEADDR from Go (net's
// setDefaultListenerSockopts), as the tutorial's server sets it, so a
// stopped listener's port can be bound again at once despite connections
// in TIME_WAIT. Datagram sockets do not get it: on Linux two UDP sockets
// that both set it may bind the same port, which would hide a conflict
// instead of reporting it.
func (l *Listener) bind() (interface{ Close() error }, net.Addr, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	if l.isStream() {
		ln, err := lc.Listen(context.Background(), l.network, l.address)
		if err != nil {
			return nil, nil, err
		}
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // l.file.remove does it, if the file is still ours
		}
		return ln, ln.Addr(), nil
	}
	pc, err := lc.ListenPacket(context.Background(), l.network, l.address)
	if err != nil {
		return nil, nil, err
	}
	return pc, pc.LocalAddr(), nil
}

func bindError(address string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: %s", ErrAddrInUse, address)
	}
	var sysErr *net.OpError
	if errors.As(err, &sysErr) && sysErr.Err != nil {
		err = sysErr.Err
	}
	return fmt.Errorf("%w %s: %w", ErrBind, address, err)
}

// Addr is the bound address, or nil before Start.
// BindAddress is the address the listener was configured with
// (Config.Address): what an Update must give again.
func (l *Listener) BindAddress() string { return l.address }

func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// Stats returns the listener's counters.
func (l *Listener) Stats() *Stats { return l.stats }

// Done is closed when the listener has stopped serving and every goroutine
// it started has exited.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Err returns nil while the listener serves; after Done is closed, it
// returns ErrListenerClosed if the listener was shut down or closed, or
// the error that made it stop.
func (l *Listener) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// beginClose marks the listener closing and closes its socket. It reports
// whether serving had started; when it had not, it finishes the listener.
func (l *Listener) beginClose() (started bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closing {
		l.closing = true
		close(l.quit)
		if l.sock != nil {
			_ = l.sock.Close()
			l.file.remove()
		}
		if !l.started {
			l.finish(ErrListenerClosed)
		}
	}
	return l.started
}

// Shutdown stops the listener gracefully; see the Listener doc comment.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.inShutdown.Store(true)
	l.beginClose()
	l.closeIdleConns()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeGrace is how long Close waits for the listener's goroutines once
// its sockets are closed and its requests' contexts cancelled. They exit
// within microseconds then, unless a handler ignores its context.
var closeGrace = 500 * time.Millisecond

// Close stops the listener at once; see the Listener doc comment.
func (l *Listener) Close() error {
	l.beginClose()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.closeSocket()
	}
	l.mu.Unlock()
	l.cancel()
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	select {
	case <-l.done:
		return nil
	case <-grace.C:
	}
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	if n == 0 {
		n = 1 // the datagram reader, whose handler holds it
	}
	return fmt.Errorf("%w: %d connection(s) of %s still in their handler; Done closes when they return", ErrHandlersRunning, n, l.address)
}

func (l *Listener) closeIdleConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if c.state.CompareAndSwap(connIdle, connClosed) {
			_ = c.closeSocket()
		}
	}
}

// finish records why serving ended and releases whoever waits on Done.
// Called once, by the goroutine that served the socket, or by beginClose
// when there was none.
func (l *Listener) finish(err error) {
	l.err = err
	l.cancel()
	close(l.done)
}

// servedErr turns the error that ended an accept or read loop into what
// Err reports.
func (l *Listener) servedErr(err error) error {
	select {
	case <-l.quit:
		return ErrListenerClosed
	default:
		return err
	}
}

// acceptLoop owns the stream socket: it accepts until the socket is
// closed or fails, then waits for the connections it started.
func (l *Listener) acceptLoop(ln net.Listener) {
	var backoff time.Duration
	var loopErr error
	for {
		nc, err := ln.Accept()
		if err != nil {
			if isTemporary(err) && !l.quitting() {
				backoff = nextBackoff(backoff)
				l.stats.listenerErrors.Add(1)
				l.logger().Warn("accept failed; retrying", "error", err, "in", backoff)
				if l.sleep(backoff) {
					continue
				}
			}
			loopErr = l.servedErr(err)
			break
		}
		backoff = 0
		if !l.track(nc) {
			_ = nc.Close()
		}
	}
	if loopErr != ErrListenerClosed {
		l.logger().Error("listener failed", "error", loopErr)
		l.events.Publish(Event{Type: EventListenerFailed, ListenerID: l.name, Message: loopErr.Error()})
		_ = ln.Close()
		l.mu.Lock()
		l.file.remove()
		l.mu.Unlock()
		l.mu.Lock()
		for _, c := range l.conns {
			_ = c.closeSocket()
		}
		l.mu.Unlock()
	}
	l.connsWG.Wait()
	l.stopPollers()
	l.stopHeldWriter()
	l.pauses.Stop()
	l.finish(loopErr)
}

// track registers a new connection and starts serving it, unless the
// listener is closing.
func (l *Listener) track(nc net.Conn) bool {
	if cfg := l.tls.Load(); cfg != nil {
		nc = tls.Server(nc, cfg) // the handshake runs on the connection's goroutine
	}
	c, err := newStreamConn(l, nc)
	if err != nil {
		l.logger().Warn("cannot serve connection", "error", err)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	if len(l.conns) >= l.current().limits.MaxConnections {
		l.stats.connectionsRejected.Add(1)
		return false
	}
	l.conns[c.act.id] = c
	l.stats.attach(&c.cnt)
	l.connsWG.Add(1)
	l.stats.connectionsTotal.Add(1)
	l.stats.connectionsActive.Add(1)
	if l.events.Active() {
		l.events.Publish(Event{Type: EventConnectionOpened, ListenerID: l.name, ConnID: c.act.id, Peer: c.act.peer})
	}
	go c.serveFresh()
	return true
}

func (l *Listener) untrack(c *streamConn) {
	l.mu.Lock()
	delete(l.conns, c.act.id)
	l.mu.Unlock()
	l.stats.detach(&c.cnt)
	l.stats.connectionsActive.Add(-1)
	if l.events.Active() {
		l.events.Publish(Event{Type: EventConnectionClosed, ListenerID: l.name, ConnID: c.act.id, Peer: c.act.peer})
	}
	l.connsWG.Done()
}

func (l *Listener) quitting() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}

// sleep waits d, or less if the listener starts closing; it reports
// whether the full time passed.
func (l *Listener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.quit:
		return false
	}
}

// nextBackoff is net/http's: 5 ms, doubling, at most 1 s.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// isTemporary reports errors that a later accept or read may not see
// again: descriptor or buffer exhaustion, a connection reset before it was
// accepted.
func isTemporary(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM,
		syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EINTR:
		return true
	}
	return false
}
