package rawsock

import (
	"syscall"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// A ConnOpener is a Handler that keeps state for each stream connection
// — the proxy's connection to its upstream — and serves the connection's
// frames with it. The listener calls OpenConn when a connection opens
// (after its TLS handshake, before it reads anything) and serves every
// frame of the connection with the ConnHandler it returns, which it
// closes when the connection ends. An OpenConn error is counted in the
// listener's errors, published as an EventUpstreamError, and ends the
// connection: after an error frame saying it, in a framing that has
// them. On a datagram listener a ConnOpener serves as a plain Handler.
type ConnOpener interface {
	Handler
	OpenConn(w ConnWriter, r *Request) (ConnHandler, error)
}

// A ConnHandler serves the frames of one connection (see ConnOpener).
type ConnHandler interface {
	Handler
	// CloseConn ends what the handler keeps for the connection, and every
	// goroutine of its own, before it returns. peerDone says the peer
	// closed its sending side (the connection read EOF between frames),
	// so that what the handler still has to send may go first: the
	// connection's writes work until CloseConn returns, and ConnWriter's
	// Abort makes a write blocked on a peer that does not read fail.
	CloseConn(peerDone bool)
}

// A SocketRelay is a ConnHandler that relays the connection's bytes
// unchanged to a plaintext socket of its own and the socket's back (the
// proxy's raw relay). The listener's poller may then move them itself,
// both ways, with no goroutine (see relay.go).
//
// When RelaySocket returns a socket, the handler has not begun to read
// it: the listener either relays it, or calls Resume, once, and the
// handler reads it from then on as it would have. Resume's toClient is
// what the listener relayed but the connection did not take, to be
// written first as it is (WriteRaw); fromSocket is what the listener
// read from the socket and did not relay (the start of a frame), to be
// taken as if read first. The handler owns both. Until Resume the
// listener alone reads the socket and writes to it, outside ServeFrame;
// CloseConn works either way. A nil RelaySocket means the handler reads
// its socket itself already (Resume is then never called).
//
// The listener relays a raw connection's bytes as they are, and a framed
// one's frames as the handler would: each whole frame of the client's
// as it came, each of the socket's in the listener's response framing
// with its header as given (ReplyFrame). A handler that offers its
// socket must relay so itself.
type SocketRelay interface {
	ConnHandler
	RelaySocket() syscall.RawConn
	Resume(toClient, fromSocket []byte)
}

// A ConnWriter is a connection's ResponseWriter for a ConnHandler, which
// may also write from a goroutine of its own (the proxy's reader of its
// upstream). Replies written from such a goroutine gather until Flush.
type ConnWriter interface {
	ResponseWriter
	// ReplyFrame sends body as one frame whose header is header as given
	// (in the JSON header framing: the header's text, which must say
	// data_size len(body); ignored in the others), so that fields of
	// another server's header pass through unchanged.
	ReplyFrame(header, body []byte) error
	// Flush writes what the replies gathered.
	Flush() error
	// WriteRaw writes b as it is, after what the replies gathered,
	// uncounted: bytes a SocketRelay's Resume handed back.
	WriteRaw(b []byte) error
	// CloseWrite half-closes the connection: the peer reads EOF after
	// what was sent, and may still send.
	CloseWrite() error
	// Abort makes the connection's writes fail from now on, unblocking
	// one waiting on a peer that does not read.
	Abort()
	// CountUpstream adds to the listener's upstream counters
	// (StatsSnapshot.UpstreamFramesOut and the others).
	CountUpstream(framesOut, bytesOut, framesIn, bytesIn uint64)
	// ConnID is the connection's id (ConnInfo.ID).
	ConnID() uint64
}

// ConnID implements ConnWriter.
func (c *streamConn) ConnID() uint64 { return c.act.id }

// ReplyFrame implements ConnWriter.
func (c *streamConn) ReplyFrame(header, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	b := c.b.Load()
	hdr := b.response.AppendRawHeader(c.scratch().hdr[:0], header, len(body))
	return c.replyLaterLocked(b, hdr, body)
}

// Flush implements ConnWriter.
func (c *streamConn) Flush() error { return c.flush() }

// WriteRaw implements ConnWriter.
func (c *streamConn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	return c.writeLocked(b)
}

// CloseWrite implements ConnWriter.
func (c *streamConn) CloseWrite() error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.tls != nil {
		return c.tls.CloseWrite()
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Abort implements ConnWriter.
func (c *streamConn) Abort() { _ = c.nc.SetWriteDeadline(time.Unix(1, 0)) }

// CountUpstream implements ConnWriter.
func (c *streamConn) CountUpstream(framesOut, bytesOut, framesIn, bytesIn uint64) {
	c.cnt.upFramesOut.Add(framesOut)
	c.cnt.upBytesOut.Add(bytesOut)
	c.cnt.upFramesIn.Add(framesIn)
	c.cnt.upBytesIn.Add(bytesIn)
}

// openConn runs the behaviour's ConnOpener, if it has one, for a
// connection about to be served; it reports whether it may be.
func (c *streamConn) openConn(b *behaviour) bool {
	if b.opener == nil {
		return true
	}
	h, err := b.opener.OpenConn(c, &c.req)
	if err != nil {
		c.cnt.errors.Add(1)
		if c.l.events.Active() {
			c.l.events.Publish(Event{Type: EventUpstreamError, ListenerID: c.l.name, ConnID: c.act.id, Peer: c.act.peer, Message: err.Error()})
		}
		c.writeErrorFrame(err)
		return false
	}
	c.conn = h
	if sr, ok := h.(SocketRelay); ok {
		if rc := sr.RelaySocket(); rc != nil {
			if c.relayable(b) {
				c.relay = &socketRelay{h: sr, rc: rc, framed: b.request.Framing != wire.FramingRaw, uneed: b.response.MinFrame()}
			} else {
				sr.Resume(nil, nil)
			}
		}
	}
	return true
}

// handlerOf is what serves the connection's frames under b.
func (c *streamConn) handlerOf(b *behaviour) Handler {
	if c.conn != nil {
		return c.conn
	}
	return b.handler
}

// closeConn closes the connection's ConnHandler, if it has one: after
// unblocking its writes unless the peer only finished sending.
func (c *streamConn) closeConn() {
	if c.conn == nil {
		return
	}
	if !c.peerDone {
		c.Abort()
	}
	c.conn.CloseConn(c.peerDone)
	c.conn = nil
}

var _ ConnWriter = (*streamConn)(nil)
