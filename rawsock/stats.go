package rawsock

import "sync/atomic"

// Stats are a listener's live counters. They are updated with atomics by
// the serving goroutines and may be read at any time. A Registry keeps one
// Stats per listener across stop and start.
type Stats struct {
	connectionsActive atomic.Int64
	connectionsTotal  atomic.Uint64
	framesIn          atomic.Uint64
	framesOut         atomic.Uint64
	bytesIn           atomic.Uint64
	bytesOut          atomic.Uint64
	errors            atomic.Uint64
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
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() StatsSnapshot {
	active := s.connectionsActive.Load()
	if active < 0 {
		active = 0
	}
	return StatsSnapshot{
		ConnectionsActive: uint64(active),
		ConnectionsTotal:  s.connectionsTotal.Load(),
		FramesIn:          s.framesIn.Load(),
		FramesOut:         s.framesOut.Load(),
		BytesIn:           s.bytesIn.Load(),
		BytesOut:          s.bytesOut.Load(),
		Errors:            s.errors.Load(),
	}
}

// counters are a serving goroutine's tallies since it last published
// them: it publishes once per read batch, not once per frame, so
// concurrent connections do not fight over the shared cache lines.
type counters struct {
	framesIn, framesOut, bytesIn, bytesOut, errors uint64
}

func (s *Stats) add(c *counters) {
	if c.framesIn != 0 {
		s.framesIn.Add(c.framesIn)
	}
	if c.framesOut != 0 {
		s.framesOut.Add(c.framesOut)
	}
	if c.bytesIn != 0 {
		s.bytesIn.Add(c.bytesIn)
	}
	if c.bytesOut != 0 {
		s.bytesOut.Add(c.bytesOut)
	}
	if c.errors != 0 {
		s.errors.Add(c.errors)
	}
	*c = counters{}
}
