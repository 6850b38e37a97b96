package rawsock

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A PacketOpener is a Handler that keeps state for each datagram peer —
// the proxy's upstream socket for it — and serves the peer's datagrams
// with it. The listener calls OpenPeer on a peer's first datagram (and
// on its first after the peer was forgotten: evicted from the peer table,
// idle past its expiry, or closed through the API), serves the peer's
// datagrams with the PeerHandler it returns, and closes that when it
// forgets the peer or stops. An OpenPeer error is counted, published as
// an EventUpstreamError, and answered as a handler's ReplyError is.
type PacketOpener interface {
	Handler
	OpenPeer(w PeerWriter, r *Request) (PeerHandler, error)
}

// A PeerHandler serves the datagrams of one peer (see PacketOpener).
type PeerHandler interface {
	Handler
	// ClosePeer ends what the handler keeps for the peer, and every
	// goroutine of its own, before it returns. It must not wait for the
	// listener: the listener may hold its peer table meanwhile.
	ClosePeer()
}

// A PeerWriter sends to one datagram peer, from any goroutine.
type PeerWriter interface {
	// ReplyFrame sends body as one datagram whose header is header as
	// given (see ConnWriter.ReplyFrame), with the listener's faults on
	// replies, counters and capture. Like a reply, it is at most as large
	// as the peer's last datagram unless the listener allows larger
	// replies; a larger one is counted as an error and not sent.
	ReplyFrame(header, body []byte) error
	// HeldUntil is when the replies to the datagram being served may
	// leave, when faults on requests (latency) hold them; zero otherwise.
	// Only the handler's ServeFrame may call it.
	HeldUntil() time.Time
	// CountUpstream: see ConnWriter.CountUpstream.
	CountUpstream(framesOut, bytesOut, framesIn, bytesIn uint64)
	// ConnID is the peer's id (ConnInfo.ID).
	ConnID() uint64
}

// errReplyLarger is a relayed reply larger than its peer's last datagram.
var errReplyLarger = errors.New("a relayed reply is larger than the peer's datagram: dropped (see Limits.AllowLargerDatagramReplies)")

// peerWriter is the PeerWriter of one peer.
type peerWriter struct {
	p  *packetConn
	pe *peer
	rs *relayState
}

// relayState is what a peer keeps for a PacketOpener: its handler, the
// size of its last datagram (the amplification bound), and the random
// choices and pace of the faults on what is relayed to it.
type relayState struct {
	handler PeerHandler
	lastLen atomic.Int64

	mu       sync.Mutex // the fields below: relays write from their own goroutines
	seq      uint64
	paceFree time.Time
}

func (w peerWriter) ConnID() uint64 { return w.pe.act.id }

func (w peerWriter) HeldUntil() time.Time { return w.p.hold }

func (w peerWriter) CountUpstream(framesOut, bytesOut, framesIn, bytesIn uint64) {
	for _, c := range []*counters{&w.p.cnt, &w.pe.cnt} {
		c.upFramesOut.Add(framesOut)
		c.upBytesOut.Add(bytesOut)
		c.upFramesIn.Add(framesIn)
		c.upBytesIn.Add(bytesIn)
	}
}

func (w peerWriter) ReplyFrame(header, body []byte) error {
	p, pe, rs := w.p, w.pe, w.rs
	b := p.l.current()
	frame := b.response.AppendRawHeader(make([]byte, 0, len(header)+len(body)+8), header, len(body))
	frame = append(frame, body...)
	if int64(len(frame)) > rs.lastLen.Load() && !b.limits.AllowLargerDatagramReplies {
		p.cnt.errors.Add(1)
		pe.cnt.errors.Add(1)
		return errReplyLarger
	}
	due, copies := time.Time{}, 1
	if fs := b.faults; fs != nil {
		rs.mu.Lock()
		rs.seq++
		due, copies = fs.outboundDatagram(rs.seq, b.response.HeaderText(frame[:len(frame)-len(body)]), body, len(frame), &rs.paceFree, time.Now())
		rs.mu.Unlock()
	}
	for range copies {
		p.countOut(b, pe, frame, body)
	}
	send := func() error {
		var err error
		for range copies {
			if _, werr := p.sock.WriteTo(frame, pe.addr); werr != nil {
				p.cnt.errors.Add(1)
				pe.cnt.errors.Add(1)
				err = werr
			}
		}
		return err
	}
	if copies == 0 {
		return nil
	}
	if wait := time.Until(due); wait > 0 {
		p.timers.After(wait, func() { _ = send() })
		return nil
	}
	return send()
}

// servePeer serves the datagram in p.req with the peer's PeerHandler,
// opening it on the peer's first datagram. It reports whether it did
// (false: b has no PacketOpener).
func (p *packetConn) servePeer(b *behaviour, times int) bool {
	if b.popener == nil && p.cur.relay == nil {
		return false
	}
	pe := p.cur
	if pe.relay == nil {
		rs := &relayState{}
		rs.lastLen.Store(int64(p.reqLen))
		h, err := b.popener.OpenPeer(peerWriter{p: p, pe: pe, rs: rs}, &p.req)
		if err != nil {
			p.cnt.errors.Add(1)
			pe.cnt.errors.Add(1)
			if p.l.events.Active() {
				p.l.events.Publish(Event{Type: EventUpstreamError, ListenerID: p.l.name, ConnID: pe.act.id, Peer: pe.act.peer, Message: err.Error()})
			}
			_ = p.ReplyError(err.Error())
			return true
		}
		rs.handler = h
		p.peers.mu.Lock()
		pe.relay = rs // under the lock: the API's goroutine may drop the peer
		p.peers.mu.Unlock()
	}
	pe.relay.lastLen.Store(int64(p.reqLen))
	for range times {
		pe.relay.handler.ServeFrame(p, &p.req)
	}
	return true
}

// closeRelay closes a forgotten peer's PeerHandler. The caller holds the
// peer table's lock.
func (pe *peer) closeRelay() {
	if pe.relay != nil && pe.relay.handler != nil {
		pe.relay.handler.ClosePeer()
	}
}

// closeRelays closes every peer's PeerHandler, when the socket stops.
func (p *packetConn) closeRelays() {
	p.peers.mu.Lock()
	defer p.peers.mu.Unlock()
	for _, pe := range p.peers.byKey {
		pe.closeRelay()
	}
}
