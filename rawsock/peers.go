package rawsock

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// The peer table of a datagram listener: bounded, and a peer silent for
// longer than peerIdleExpiry is forgotten.
const (
	maxPeers       = 1024
	peerIdleExpiry = 5 * time.Minute
)

// peerKey identifies a datagram sender: a UDP address, or a unixgram
// sender's path ("" for every unnamed one).
type peerKey struct {
	ap   netip.AddrPort
	path string
}

// peer is one datagram sender, with its own counters.
type peer struct {
	act   activity
	cnt   counters
	key   peerKey
	addr  net.Addr    // where replies go
	relay *relayState // a PacketOpener's, once opened; set under the table's lock
}

// peerTable is owned by the datagram reader, which adds and touches
// peers; the API reads, forgets and sends to them, hence the mutex.
type peerTable struct {
	mu    sync.Mutex
	byKey map[peerKey]*peer
	byID  map[uint64]*peer
}

// observe returns the peer for key, adding it (and evicting the stalest
// if the table is full) when it is new. addr builds its address only
// then.
func (p *packetConn) observe(key peerKey, addr func() net.Addr, now time.Time) *peer {
	t := &p.peers
	t.mu.Lock()
	pe, ok := t.byKey[key]
	if !ok {
		if len(t.byKey) >= maxPeers {
			p.evictLocked(now)
		}
		pe = &peer{key: key, addr: addr()}
		pe.act = activity{id: p.l.stats.lastConnID.Add(1), peer: addrString(pe.addr), opened: now, counter: &pe.cnt}
		t.byKey[key] = pe
		t.byID[pe.act.id] = pe
	}
	t.mu.Unlock()
	pe.act.touch(now)
	if !ok && p.l.events.Active() {
		p.l.events.Publish(Event{Type: EventConnectionOpened, ListenerID: p.l.name, ConnID: pe.act.id, Peer: pe.act.peer})
	}
	return pe
}

// evictLocked drops the expired peers, or, if none is, the stalest one.
func (p *packetConn) evictLocked(now time.Time) {
	var stalest *peer
	for _, pe := range p.peers.byKey {
		last := time.Unix(0, pe.act.lastIn.Load())
		if now.Sub(last) > peerIdleExpiry {
			p.dropLocked(pe)
			continue
		}
		if stalest == nil || pe.act.lastIn.Load() < stalest.act.lastIn.Load() {
			stalest = pe
		}
	}
	if len(p.peers.byKey) >= maxPeers && stalest != nil {
		p.dropLocked(stalest)
	}
}

func (p *packetConn) dropLocked(pe *peer) {
	delete(p.peers.byKey, pe.key)
	delete(p.peers.byID, pe.act.id)
	pe.closeRelay()
	if p.l.events.Active() {
		p.l.events.Publish(Event{Type: EventConnectionClosed, ListenerID: p.l.name, ConnID: pe.act.id, Peer: pe.act.peer})
	}
}

// peerInfos lists the peers heard from within peerIdleExpiry.
func (p *packetConn) peerInfos(local string) []ConnInfo {
	now := time.Now()
	p.peers.mu.Lock()
	defer p.peers.mu.Unlock()
	infos := make([]ConnInfo, 0, len(p.peers.byKey))
	for _, pe := range p.peers.byKey {
		if now.Sub(time.Unix(0, pe.act.lastIn.Load())) > peerIdleExpiry {
			p.dropLocked(pe)
			continue
		}
		infos = append(infos, pe.act.info(local))
	}
	return infos
}

func (p *packetConn) lookup(id uint64) (*peer, error) {
	p.peers.mu.Lock()
	defer p.peers.mu.Unlock()
	pe, ok := p.peers.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrConnNotFound, id)
	}
	return pe, nil
}

// forget drops a peer; it comes back as a new one if it sends again.
func (p *packetConn) forget(id uint64) error {
	pe, err := p.lookup(id)
	if err != nil {
		return err
	}
	p.peers.mu.Lock()
	p.dropLocked(pe)
	p.peers.mu.Unlock()
	return nil
}

// sendTo writes one frame to a peer, for an operator: a datagram of its
// own, so it cannot tear a reply the handler writes meanwhile.
func (p *packetConn) sendTo(id uint64, body []byte, extra []wire.HeaderField) (int, error) {
	b := p.l.current()
	if err := checkExtraFields(b.response, extra); err != nil {
		return 0, err
	}
	pe, err := p.lookup(id)
	if err != nil {
		return 0, err
	}
	out, err := b.response.AppendFrame(nil, body, extra...)
	if err != nil {
		return 0, err
	}
	if ua, ok := pe.addr.(*net.UnixAddr); ok && (ua == nil || ua.Name == "") {
		return 0, errUnnamedPeer
	}
	p.countOut(b, pe, out, body)
	if _, err := p.sock.WriteTo(out, pe.addr); err != nil {
		p.cnt.errors.Add(1)
		pe.cnt.errors.Add(1)
		return 0, err
	}
	return len(out), nil
}
