package rawsock

import (
	"sync"
	"sync/atomic"
)

// Stats are a listener's live counters, safe to read at any time. A
// Registry keeps one Stats per listener across stop and start.
//
// Each connection (and each datagram socket) counts into counters of its
// own, with uncontended atomics, at the moment things happen: bytes in
// when read, a frame in before its handler runs, a frame out before it is
// written. So a peer that has a reply in hand always finds it counted. A
// Snapshot adds the counters of live connections to the totals of closed
// ones.
type Stats struct {
	connectionsActive   atomic.Int64
	connectionsTotal    atomic.Uint64
	listenerErrors      atomic.Uint64 // failed accepts and socket reads
	connectionsRejected atomic.Uint64 // closed at once: MaxConnections were open
	lastConnID          atomic.Uint64 // ids of connections and peers, never reused

	mu     sync.Mutex
	closed totals                 // folded in from detached counters
	live   map[*counters]struct{} // attached counters
}

// StatsSnapshot is a copy of Stats at one moment.
type StatsSnapshot struct {
	ConnectionsActive uint64
	ConnectionsTotal  uint64
	FramesIn          uint64
	FramesOut         uint64
	BytesIn           uint64
	BytesOut          uint64
	Errors            uint64
	// ConnectionsRejected counts connections closed at once because
	// Limits.MaxConnections were open.
	ConnectionsRejected uint64
	// Upstream counters, of a handler that relays to another server (a
	// ConnWriter's CountUpstream): frames and bytes sent to it and
	// received from it.
	UpstreamFramesOut, UpstreamBytesOut, UpstreamFramesIn, UpstreamBytesIn uint64
}

// counters are one connection's or datagram socket's tallies.
type counters struct {
	framesIn, framesOut, bytesIn, bytesOut, errors atomic.Uint64

	upFramesOut, upBytesOut, upFramesIn, upBytesIn atomic.Uint64
}

type totals struct {
	framesIn, framesOut, bytesIn, bytesOut, errors uint64

	upFramesOut, upBytesOut, upFramesIn, upBytesIn uint64
}

func (t *totals) add(c *counters) {
	t.framesIn += c.framesIn.Load()
	t.framesOut += c.framesOut.Load()
	t.bytesIn += c.bytesIn.Load()
	t.bytesOut += c.bytesOut.Load()
	t.errors += c.errors.Load()
	t.upFramesOut += c.upFramesOut.Load()
	t.upBytesOut += c.upBytesOut.Load()
	t.upFramesIn += c.upFramesIn.Load()
	t.upBytesIn += c.upBytesIn.Load()
}

// attach makes c count in the listener's totals.
func (s *Stats) attach(c *counters) {
	s.mu.Lock()
	if s.live == nil {
		s.live = make(map[*counters]struct{})
	}
	s.live[c] = struct{}{}
	s.mu.Unlock()
}

// detach folds c into the totals of closed connections; c must not
// count anything afterwards.
func (s *Stats) detach(c *counters) {
	s.mu.Lock()
	s.closed.add(c)
	delete(s.live, c)
	s.mu.Unlock()
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	t := s.closed
	for c := range s.live {
		t.add(c)
	}
	s.mu.Unlock()
	return StatsSnapshot{
		ConnectionsActive: uint64(max(s.connectionsActive.Load(), 0)),
		ConnectionsTotal:  s.connectionsTotal.Load(),
		FramesIn:          t.framesIn,
		FramesOut:         t.framesOut,
		BytesIn:           t.bytesIn,
		BytesOut:          t.bytesOut,
		Errors:            t.errors + s.listenerErrors.Load(),

		ConnectionsRejected: s.connectionsRejected.Load(),

		UpstreamFramesOut: t.upFramesOut, UpstreamBytesOut: t.upBytesOut,
		UpstreamFramesIn: t.upFramesIn, UpstreamBytesIn: t.upBytesIn,
	}
}
