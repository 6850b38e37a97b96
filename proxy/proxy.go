// Package proxy is the handler that relays each connection of a stream
// listener to a real server, its upstream: every accepted connection gets
// an upstream connection of its own, dialled when it opens (a
// rawsock.ConnOpener); on a UDP listener every peer gets a socket of its
// own, connected to the upstream, for as long as the listener's peer
// table keeps the peer (a rawsock.PacketOpener). With a framed request framing it relays frame by
// frame — each frame the client sends goes upstream whole, each frame
// the upstream sends comes back through the listener's response path —
// so the listener's faults, capture and counters act per frame in both
// directions; with FramingRaw it relays what each read returns. A
// plaintext upstream's socket, when nothing is recorded, is offered to
// the listener (rawsock.SocketRelay), whose poller then relays both ways
// as the handler would, with no goroutine, while no fault but latency on
// replies, and no capture, asks for more. Either side closing its sending
// half is passed on to the other.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// Defaults of Config.
const (
	// DefaultConnectTimeout bounds a dial of the upstream: 2s.
	DefaultConnectTimeout = 2 * time.Second
	// halfCloseWait is how long a connection whose client finished
	// sending waits for the upstream to finish answering before both are
	// closed.
	halfCloseWait = 10 * time.Second
	// rawReadSize is the buffer of a raw relay's reads from the upstream.
	rawReadSize = 32 << 10
)

// Config says where and how a Handler relays.
type Config struct {
	// Network is "tcp", "unix" or "udp"; Address the upstream's host:port
	// or socket path. Required.
	Network, Address string
	// ConnectTimeout bounds each dial. Default: DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// TLS, when set, is the client configuration of TLS to the upstream.
	TLS *tls.Config
	// Request is the framing of the client's frames, sent upstream as they
	// came; Response the framing of the upstream's, read from it and
	// relayed in the listener's response framing. They are the listener's
	// codecs (Response's size limits bound what the upstream may send).
	Request, Response wire.Codec
	// Recording, when set, keeps what the handler relays (see Recording).
	Recording *Recording
}

// Handler relays to one upstream. It is safe for concurrent use.
type Handler struct{ cfg Config }

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.Request, cfg.Response = cfg.Request.WithDefaults(), cfg.Response.WithDefaults()
	return &Handler{cfg: cfg}
}

// Upstream is the address the handler relays to.
func (h *Handler) Upstream() string { return h.cfg.Address }

// Recording is what the handler records, or nil.
func (h *Handler) Recording() *Recording { return h.cfg.Recording }

// WithRecording returns a handler like h that records into r: an update
// that keeps the recording options keeps what was recorded.
func (h *Handler) WithRecording(r *Recording) *Handler {
	cfg := h.cfg
	cfg.Recording = r
	return &Handler{cfg: cfg}
}

// ServeFrame answers a frame that came with no connection or peer state
// to relay it with, which a listener gives to a ConnOpener and a
// PacketOpener alike: it says so rather than drop it unseen.
func (h *Handler) ServeFrame(w rawsock.ResponseWriter, _ *rawsock.Request) {
	_ = w.ReplyError("the proxy relays through a connection or a datagram peer of its own")
}

// OpenConn dials the upstream for a new connection and starts relaying
// what it sends.
func (h *Handler) OpenConn(w rawsock.ConnWriter, r *rawsock.Request) (rawsock.ConnHandler, error) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.ConnectTimeout)
	defer cancel()
	d := net.Dialer{}
	up, err := d.DialContext(ctx, h.cfg.Network, h.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", h.cfg.Address, err)
	}
	if h.cfg.TLS != nil {
		tc := tls.Client(up, h.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = up.Close()
			return nil, fmt.Errorf("upstream %s: TLS: %w", h.cfg.Address, err)
		}
		up = tc
	}
	c := &conn{h: h, w: w, up: up, done: make(chan struct{}), rec: cursor{rec: h.cfg.Recording, id: w.ConnID()}}
	if rc := socketOf(up); rc != nil {
		c.upw = sockio.NewWriter(rc)
		if h.cfg.Recording == nil {
			// Nothing to record: the listener may relay the plaintext
			// upstream's socket itself (rawsock.SocketRelay), or calls Resume.
			c.sock = rc
			return c, nil
		}
	}
	c.Resume(nil, nil)
	return c, nil
}

// RelaySocket implements rawsock.SocketRelay: the upstream's socket, when
// OpenConn left reading it to the listener.
func (c *conn) RelaySocket() syscall.RawConn { return c.sock }

// Resume implements rawsock.SocketRelay: the connection relays what the
// upstream sends itself from now on, toClient and fromUpstream first.
func (c *conn) Resume(toClient, fromUpstream []byte) {
	c.reading = true
	go c.relayUpstream(toClient, fromUpstream)
}

var _ rawsock.SocketRelay = (*conn)(nil)

// conn is one client connection's upstream.
type conn struct {
	h    *Handler
	w    rawsock.ConnWriter
	up   net.Conn
	done chan struct{} // closed when relayUpstream returns
	// sock is the upstream's socket when the listener may relay it
	// (RelaySocket); reading says relayUpstream was started (Resume).
	sock    syscall.RawConn
	reading bool
	rec     cursor // where its exchanges go in the recording, if any

	// The client's side, on the connection's goroutine: frames go
	// upstream through upw, raw writes to a plaintext socket, or (TLS)
	// through bufs.
	upw  *sockio.Writer
	hdr  [64]byte
	iov  [2][]byte
	bufs net.Buffers
}

// ServeFrame sends one frame of the client upstream, as it came, in one
// write. A failed write ends the connection with an error frame.
func (c *conn) ServeFrame(w rawsock.ResponseWriter, r *rawsock.Request) {
	c.rec.request(r.Header, r.Body)
	hdr := c.h.cfg.Request.AppendRawHeader(c.hdr[:0], r.Header, len(r.Body))
	var n int64
	var err error
	if c.upw != nil {
		n, err = c.upw.Write(hdr, r.Body)
	} else {
		c.bufs = append(c.iov[:0], hdr, r.Body)
		n, err = c.bufs.WriteTo(c.up)
		c.iov, c.bufs = [2][]byte{}, nil // do not pin the frame
	}
	c.w.CountUpstream(1, uint64(n), 0, 0)
	if err != nil {
		_ = w.ReplyError(fmt.Sprintf("upstream %s: %v", c.h.cfg.Address, err))
		w.CloseAfterReply(false)
	}
}

// relayUpstream sends the client toClient and the frames of
// fromUpstream (what the listener relayed for it but could not write, and
// what it read of the upstream and did not relay: see Resume), then what
// the upstream sends, until the upstream finishes (then the client reads
// EOF too) or fails.
func (c *conn) relayUpstream(toClient, fromUpstream []byte) {
	defer close(c.done)
	if len(toClient) > 0 && c.w.WriteRaw(toClient) != nil {
		return // the client is gone, or CloseConn aborted the write
	}
	p := newReplies(c)
	err := p.take(fromUpstream)
	if err == nil {
		if rc := socketOf(c.up); rc != nil {
			err = p.relaySocket(rc)
		} else {
			err = p.relayConn(c.up)
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		_ = c.w.CloseWrite()
	case errors.Is(err, net.ErrClosed), errors.Is(err, errClient):
		// Closed by CloseConn, or the client is gone.
	default:
		_ = c.w.ReplyError(fmt.Sprintf("upstream %s: %v", c.h.cfg.Address, err))
		_ = c.w.Flush()
		_ = c.w.CloseWrite()
	}
}

// socketOf returns the RawConn of a plaintext upstream socket, or nil
// for one with no socket of its own (TLS).
func socketOf(up net.Conn) syscall.RawConn {
	sc, ok := up.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// errClient marks a write to the client that failed.
var errClient = errors.New("the client connection failed")

// CloseConn implements rawsock.ConnHandler: a client that finished
// sending has the upstream told so, and its answers wait for up to
// halfCloseWait; then (or at once, otherwise) both are closed.
func (c *conn) CloseConn(peerDone bool) {
	if !c.reading {
		_ = c.up.Close() // the listener relayed it all, and is done with it
		return
	}
	if peerDone {
		if cw, ok := c.up.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			t := time.NewTimer(halfCloseWait)
			select {
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
	}
	// The relay's read may be writing to a client that does not read:
	// fail that write first, or closing the upstream would wait for it.
	c.w.Abort()
	_ = c.up.Close()
	<-c.done
}
