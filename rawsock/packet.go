package rawsock

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// maxDatagram is the largest UDP payload; the read buffer holds one.
const maxDatagram = 64 << 10

// packetConn serves a datagram socket on one goroutine: each datagram is
// one frame, served in arrival order; replies go to the sender. It is its
// own ResponseWriter, so serving a datagram allocates nothing.
type packetConn struct {
	l    *Listener
	pc   *net.UDPConn
	in   []byte
	out  []byte
	peer netip.AddrPort
	cnt  counters
	req  Request
}

// readPackets owns the datagram socket until it is closed.
func (l *Listener) readPackets(pc *net.UDPConn) {
	p := &packetConn{
		l:   l,
		pc:  pc,
		in:  make([]byte, maxDatagram),
		out: make([]byte, 0, maxDatagram),
		req: Request{ctx: l.ctx, local: pc.LocalAddr()},
	}
	l.stats.attach(&p.cnt)
	err := p.serve()
	l.stats.detach(&p.cnt)
	l.finish(err)
}

func (p *packetConn) serve() error {
	var backoff time.Duration
	for {
		n, peer, err := p.pc.ReadFromUDPAddrPort(p.in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.l.quitting() {
				return ErrListenerClosed
			}
			// A datagram socket has no fatal read errors on Linux, only
			// transient ones (ICMP errors, memory pressure): count, retry.
			p.cnt.errors.Add(1)
			backoff = nextBackoff(backoff)
			p.l.log.Warn("read failed; retrying", "error", err, "in", backoff)
			if !p.l.sleep(backoff) {
				return ErrListenerClosed
			}
			continue
		}
		backoff = 0
		p.cnt.bytesIn.Add(uint64(n))
		p.serveDatagram(p.in[:n], peer)
	}
}

func (p *packetConn) serveDatagram(b []byte, peer netip.AddrPort) {
	f, err := p.l.request.ParseDatagram(b)
	if err != nil {
		// A datagram's sender may be forged: never answer a bad one.
		p.cnt.errors.Add(1)
		return
	}
	p.cnt.framesIn.Add(1)
	p.peer = peer
	p.req.Header, p.req.Body, p.req.peer = f.Header, f.Body, peer
	p.l.handler.ServeFrame(p, &p.req)
	p.req.Header, p.req.Body = nil, nil
}

// Reply implements ResponseWriter: one frame, one datagram.
func (p *packetConn) Reply(body []byte, extra ...HeaderField) error {
	out, err := p.l.response.AppendFrame(p.out[:0], body, extra...)
	if err != nil {
		return err
	}
	p.out = out[:0]
	p.cnt.framesOut.Add(1)
	p.cnt.bytesOut.Add(uint64(len(out)))
	if _, err := p.pc.WriteToUDPAddrPort(out, p.peer); err != nil {
		p.cnt.errors.Add(1)
		return err
	}
	return nil
}

var _ ResponseWriter = (*packetConn)(nil)
