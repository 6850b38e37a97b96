package rawsock

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// A Handler serves one request frame. ServeFrame runs on the goroutine
// that reads the connection (or, for datagram listeners, the socket), so
// the frames of one connection are served one at a time and their replies
// go out in order.
//
// Request.Body is only valid until ServeFrame returns, and a handler may
// change it in place: the engine reuses the buffer for the next frame.
type Handler interface {
	ServeFrame(w ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ResponseWriter, *Request)

// ServeFrame calls f(w, r).
func (f HandlerFunc) ServeFrame(w ResponseWriter, r *Request) { f(w, r) }

// A ResponseWriter sends reply frames to the peer of a request.
type ResponseWriter interface {
	// Reply sends body as one frame in the listener's response framing,
	// with extra header fields after "data_size". The body is copied or
	// written before Reply returns, so the caller may reuse it.
	Reply(body []byte, extra ...wire.HeaderField) error
	// ReplyError sends an error frame saying msg ({"error": msg,
	// "data_size": 0} in the JSON header framing; nothing in the others,
	// where any bytes would read as a reply) and counts it in the
	// listener's errors. The connection stays open.
	ReplyError(msg string) error
	// Delay holds back the replies the handler writes after it, for this
	// request, by d: they leave d after the call, in order with every
	// other reply of the connection. Timers hold them; the connection
	// goes on reading meanwhile.
	Delay(d time.Duration)
	// CloseAfterReply ends the connection once the replies written so far
	// have left: with a FIN, or with an RST (SO_LINGER 0) when reset is
	// true (a Unix socket, which has no reset, is closed). No more of the
	// connection's requests are served. It does nothing on a datagram
	// listener.
	CloseAfterReply(reset bool)
}

// A NonBlocking Handler promises that ServeFrame never waits: for I/O,
// a lock another goroutine holds across I/O, a process or a sleep (its
// replies may be held with Delay, which waits on a timer, not on the
// handler). The listener may then serve the frames of its plaintext
// stream connections on its poller, many connections per wake-up and no
// goroutine per connection. Echo, Upper and Discard are NonBlocking; a
// handler that blocks must not claim it, or it stalls every connection
// the poller serves.
type NonBlocking interface {
	Handler
	NeverBlocks()
}

// A Greeter is a Handler that speaks first: the listener calls Greet
// when a stream connection opens (after the TLS handshake, if any),
// before it reads anything. r has no Header or Body.
type Greeter interface {
	Greet(w ResponseWriter, r *Request)
}

// Request is one frame read from a peer.
type Request struct {
	// Header is the frame's JSON header as received, or nil for framings
	// without one.
	Header []byte
	// Body is the frame's payload.
	Body []byte

	ctx    context.Context
	remote net.Addr       // stream peers
	peer   netip.AddrPort // datagram peers, turned into a net.Addr on demand
	local  net.Addr
}

// NewRequest returns a request for a frame served outside a listener, as
// a handler's tests or a handler that wraps another one do: its context is
// ctx and it has no addresses.
func NewRequest(ctx context.Context, header, body []byte) *Request {
	return &Request{Header: header, Body: body, ctx: ctx}
}

// Context is cancelled when the connection closes or the listener stops.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// RemoteAddr is the peer's address.
func (r *Request) RemoteAddr() net.Addr {
	if r.remote != nil {
		return r.remote
	}
	if r.peer.IsValid() {
		return net.UDPAddrFromAddrPort(r.peer)
	}
	return nil
}

// LocalAddr is the listener's address the frame arrived on.
func (r *Request) LocalAddr() net.Addr { return r.local }

// Echo replies with the request body unchanged.
//
// A body of 256 KiB or more on a plaintext stream connection is echoed as
// it arrives (see cutthrough.go) through a 32 KiB buffer, or, with Splice,
// through a pipe by splice(2), never entering user space. Which is faster
// depends on the machine (docs/PERFORMANCE.md): on an Intel Xeon VM with
// Linux 6.18 copying moved 0.97-1.04 x a plain read/write echo's MB/s, at
// less CPU, and splicing 0.78-0.86 x; on an AMD EPYC VM splicing was the
// faster.
type Echo struct {
	Splice bool
}

// ServeFrame implements Handler.
func (Echo) ServeFrame(w ResponseWriter, r *Request) { _ = w.Reply(r.Body) }

// Upper replies with the request body's ASCII letters uppercased and every
// other byte unchanged, exactly as Python's bytes.upper() in the tutorial's
// server. It works in place: no allocation per frame.
type Upper struct{}

// ServeFrame implements Handler.
func (Upper) ServeFrame(w ResponseWriter, r *Request) {
	upperASCII(r.Body)
	_ = w.Reply(r.Body)
}

func upperASCII(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
}

// Discard reads and counts frames and replies nothing. With frame
// capture on, it is the record handler.
type Discard struct{}

// ServeFrame implements Handler.
func (Discard) ServeFrame(ResponseWriter, *Request) {}

// NeverBlocks implements NonBlocking.
func (Echo) NeverBlocks() {}

// NeverBlocks implements NonBlocking.
func (Upper) NeverBlocks() {}

// NeverBlocks implements NonBlocking.
func (Discard) NeverBlocks() {}

// Interface guards.
var (
	_ NonBlocking = Echo{}
	_ NonBlocking = Upper{}
	_ NonBlocking = Discard{}
	_ Handler     = HandlerFunc(nil)
)

// addrString is a peer's address as people read it; an unnamed Unix
// socket has none.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
