package rawsock

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// maxDatagram is the largest datagram payload; the read buffer holds one.
const maxDatagram = 64 << 10

// errDatagramTooLarge is a datagram larger than maxDatagram: dropped.
var errDatagramTooLarge = errors.New("datagram larger than 64 KiB")

// errUnnamedPeer is a reply to a unixgram sender that bound no path.
var errUnnamedPeer = errors.New("the sender's socket has no name to reply to")

// packetConn serves a datagram socket on one goroutine: each datagram is
// one frame, served in arrival order; replies go to the sender. It is its
// own ResponseWriter, so serving a UDP datagram allocates nothing.
type packetConn struct {
	l     *Listener
	sock  net.PacketConn
	udp   *net.UDPConn  // one of udp
	unix  *net.UnixConn // and unix is set
	in    []byte
	out   []byte
	cnt   counters
	req   Request
	peers peerTable

	peer     netip.AddrPort // the UDP sender being served
	unixPeer *net.UnixAddr  // the unixgram sender being served
	cur      *peer          // its entry in the peer table
	reqLen   int            // the size of the datagram being served
	b        *behaviour     // the listener's, loaded for each datagram

	// Faults and Delay (see packetfaults.go); zero unless used.
	seq      uint64    // datagrams served: a fault's probability is per datagram
	hold     time.Time // Delay's, for the datagram being served
	dropOut  bool      // the datagram's replies are swallowed (timeout)
	paceFree time.Time // a bandwidth fault's next free moment
	timers   Timers    // held replies
}

// readPackets owns the datagram socket until it is closed.
func (l *Listener) readPackets(pc net.PacketConn) {
	p := &packetConn{
		l:     l,
		sock:  pc,
		in:    make([]byte, maxDatagram),
		out:   make([]byte, 0, maxDatagram),
		req:   Request{ctx: l.ctx, local: pc.LocalAddr()},
		peers: peerTable{byKey: make(map[peerKey]*peer), byID: make(map[uint64]*peer)},
	}
	switch c := pc.(type) {
	case *net.UDPConn:
		p.udp = c
	case *net.UnixConn:
		p.unix = c
	}
	l.mu.Lock()
	l.pconn = p
	l.mu.Unlock()
	l.stats.attach(&p.cnt)
	err := p.serve()
	p.closeRelays()
	p.timers.Stop()
	l.stats.detach(&p.cnt)
	l.finish(err)
}

func (p *packetConn) serve() error {
	var backoff time.Duration
	for {
		n, err := p.read()
		if err == errDatagramTooLarge {
			p.cnt.bytesIn.Add(uint64(n))
			p.cnt.errors.Add(1)
			p.cur.cnt.bytesIn.Add(uint64(n))
			p.cur.cnt.errors.Add(1)
			continue
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.l.quitting() {
				return ErrListenerClosed
			}
			// A datagram socket has no fatal read errors on Linux, only
			// transient ones (ICMP errors, memory pressure): count, retry.
			p.cnt.errors.Add(1)
			backoff = nextBackoff(backoff)
			p.l.logger().Warn("read failed; retrying", "error", err, "in", backoff)
			if !p.l.sleep(backoff) {
				return ErrListenerClosed
			}
			continue
		}
		backoff = 0
		p.cnt.bytesIn.Add(uint64(n))
		p.cur.cnt.bytesIn.Add(uint64(n))
		p.serveDatagram(p.in[:n])
	}
}

// read receives one datagram and remembers its sender.
func (p *packetConn) read() (int, error) {
	if p.udp != nil {
		n, peer, err := p.udp.ReadFromUDPAddrPort(p.in)
		if err == nil {
			p.peer = peer
			p.req.peer = peer
			p.cur = p.observe(peerKey{ap: peer}, func() net.Addr { return net.UDPAddrFromAddrPort(peer) }, time.Now())
		}
		return n, err
	}
	// A Unix datagram can be larger than the buffer; MSG_TRUNC tells, and
	// a cut datagram must not be served as if it were whole.
	n, _, flags, peer, err := p.unix.ReadMsgUnix(p.in, nil)
	if err == nil && flags&syscall.MSG_TRUNC != 0 {
		err = errDatagramTooLarge
	}
	if err != nil && err != errDatagramTooLarge {
		return n, err
	}
	p.unixPeer = peer
	p.req.remote = nil
	key := peerKey{}
	if peer != nil {
		p.req.remote = peer
		key.path = peer.Name
	}
	p.cur = p.observe(key, func() net.Addr { return peer }, time.Now())
	return n, err
}

func (p *packetConn) serveDatagram(b []byte) {
	p.b = p.l.current() // Update applies from the next datagram, framing included
	f, err := p.b.request.ParseDatagram(b)
	if err != nil {
		// A datagram's sender may be forged: never answer a bad one.
		p.cnt.errors.Add(1)
		p.cur.cnt.errors.Add(1)
		if p.l.events.Active() {
			p.l.events.Publish(Event{Type: EventFrameError, ListenerID: p.l.name, ConnID: p.cur.act.id, Peer: p.cur.act.peer, Message: err.Error()})
		}
		return
	}
	p.reqLen = len(b)
	p.cnt.framesIn.Add(1)
	p.cur.cnt.framesIn.Add(1)
	p.b.capture.record(p.cur.act.id, false, f.Header, f.Body)
	times := 1
	if p.b.faults != nil {
		p.seq++
		times = p.inbound(f.Header, f.Body, len(b))
	}
	p.req.Header, p.req.Body = f.Header, f.Body
	if !p.servePeer(p.b, times) {
		for range times {
			p.b.handler.ServeFrame(p, &p.req)
		}
	}
	p.req.Header, p.req.Body = nil, nil
	p.hold, p.dropOut = time.Time{}, false
}

// Reply implements ResponseWriter: one frame, one datagram.
func (p *packetConn) Reply(body []byte, extra ...wire.HeaderField) error {
	out, err := p.b.response.AppendFrame(p.out[:0], body, extra...)
	if err != nil {
		return err
	}
	p.out = out[:0]
	if len(out) > p.reqLen && !p.b.limits.AllowLargerDatagramReplies {
		p.cnt.errors.Add(1)
		p.cur.cnt.errors.Add(1)
		return errReplyTooLarge
	}
	if p.b.faults != nil || !p.hold.IsZero() || p.dropOut {
		return p.replyFaulted(out, body)
	}
	p.countOut(p.b, p.cur, out, body)
	return p.writeTo(out, p.peer, p.unixPeer, p.cur)
}

// writeTo sends one datagram to a peer.
func (p *packetConn) writeTo(out []byte, peer netip.AddrPort, unixPeer *net.UnixAddr, pe *peer) error {
	var err error
	if p.udp != nil {
		_, err = p.udp.WriteToUDPAddrPort(out, peer)
	} else if unixPeer == nil || unixPeer.Name == "" {
		err = errUnnamedPeer
	} else {
		_, err = p.unix.WriteToUnix(out, unixPeer)
	}
	if err != nil {
		p.cnt.errors.Add(1)
		pe.cnt.errors.Add(1)
	}
	return err
}

// countOut counts a frame written to pe, before it is written, and
// captures it in b's capture; b framed it.
func (p *packetConn) countOut(b *behaviour, pe *peer, frame, body []byte) {
	p.cnt.framesOut.Add(1)
	p.cnt.bytesOut.Add(uint64(len(frame)))
	pe.cnt.framesOut.Add(1)
	pe.cnt.bytesOut.Add(uint64(len(frame)))
	if b.capture != nil {
		b.capture.record(pe.act.id, true, b.response.HeaderText(frame[:len(frame)-len(body)]), body)
	}
}

var _ ResponseWriter = (*packetConn)(nil)
