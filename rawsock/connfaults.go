package rawsock

import (
	"sync/atomic"
	"time"
)

// connFaults is a stream connection's part in its behaviour's faults:
// which of them apply to it (chosen once, by probability), and the state
// they keep. It is made at accept and remade when Update changes the
// faults; a connection without faults has none.
type connFaults struct {
	set    *faultSet
	active []bool
	inSeq  uint64 // requests seen, for reproducible jitter (the reader's)
	outSeq uint64 // replies seen (under wmu)

	blackhole atomic.Bool // a timeout fault applied: nothing is answered
	resetArm  atomic.Bool // a resetPeer timer is armed
	closeArm  atomic.Bool // a timeout's close timer is armed
	timers    [2]*time.Timer

	inBytes, outBytes int64 // for limitData; outBytes under wmu
	inFree            time.Time
}

// newConnFaults chooses which of set's faults apply to connection id.
func newConnFaults(set *faultSet, id uint64) *connFaults {
	if set == nil {
		return nil
	}
	fx := &connFaults{set: set, active: make([]bool, len(set.faults))}
	for i := range set.faults {
		fx.active[i] = set.applies(i, id)
	}
	return fx
}

func (fx *connFaults) hit(i int) {
	if i >= 0 {
		fx.set.applied[i].Add(1)
	}
}

// stop cancels the timers of faults being replaced or of a closing
// connection.
func (fx *connFaults) stop() {
	if fx == nil {
		return
	}
	for _, t := range fx.timers {
		if t != nil {
			t.Stop()
		}
	}
}

// limitIndex is the active limitData fault of a direction, or -1.
func (fx *connFaults) limitIndex(inbound bool) int {
	for i, f := range fx.set.faults {
		if f.Kind == FaultLimitData && f.Inbound == inbound && fx.active[i] {
			return i
		}
	}
	return -1
}

// limitLeft is how many more bytes a direction may carry; a large number
// when no limit applies.
func (fx *connFaults) limitLeft(inbound bool) int64 {
	i := fx.limitIndex(inbound)
	if i < 0 {
		return 1 << 62
	}
	used := fx.outBytes
	if inbound {
		used = fx.inBytes
	}
	return fx.set.faults[i].Bytes - used
}

// onOpen starts the faults that act from the moment a connection opens:
// resetPeer and timeout without a match.
func (c *streamConn) onOpenFaults() {
	fx := c.fx
	if fx == nil {
		return
	}
	for i, f := range fx.set.faults {
		if !fx.active[i] || f.Match != nil {
			continue
		}
		switch f.Kind {
		case FaultResetPeer:
			c.armReset(i)
		case FaultTimeout:
			c.startTimeout(i)
		}
	}
}

// armReset resets the connection After fault i's delay, once.
func (c *streamConn) armReset(i int) {
	fx := c.fx
	if !fx.resetArm.CompareAndSwap(false, true) {
		return
	}
	fx.hit(i)
	fx.timers[0] = time.AfterFunc(fx.set.faults[i].After, c.resetSocket)
}

// startTimeout makes the connection a black hole, closed After later
// unless After is 0.
func (c *streamConn) startTimeout(i int) {
	fx := c.fx
	if fx.blackhole.Swap(true) {
		return
	}
	fx.hit(i)
	if after := fx.set.faults[i].After; after > 0 && fx.closeArm.CompareAndSwap(false, true) {
		fx.timers[1] = time.AfterFunc(after, func() { _ = c.closeSocket() })
	}
}

// inbound applies the request-side faults to the frame about to be
// served. It returns how many times to serve it (0: drop, 2: duplicate)
// and whether the connection must end (limitData).
func (c *streamConn) inbound(header, body []byte, size int) (serve int, end bool) {
	fx := c.fx
	serve = 1
	fx.inSeq++
	var wait time.Duration
	now := time.Now()
	for i, f := range fx.set.faults {
		if !fx.active[i] || (!f.Inbound && f.Kind != FaultResetPeer && f.Kind != FaultTimeout) {
			continue
		}
		if f.Match != nil && !f.Match.Match(header, body) {
			continue
		}
		switch f.Kind {
		case FaultResetPeer:
			if f.Match != nil && f.Inbound {
				c.armReset(i)
			}
		case FaultTimeout:
			if f.Inbound {
				c.startTimeout(i)
			}
		case FaultLatency:
			fx.hit(i)
			wait += f.Delay + fx.set.jitter(i, c.act.id, fx.inSeq, f.Jitter)
		case FaultBandwidth:
			fx.hit(i)
			if fx.inFree.Before(now) {
				fx.inFree = now
			}
			fx.inFree = fx.inFree.Add(time.Duration(int64(size) * int64(time.Second) / f.BytesPerSecond))
			wait = max(wait, fx.inFree.Sub(now))
		case FaultDrop:
			fx.hit(i)
			serve = 0
		case FaultDuplicate:
			fx.hit(i)
			if serve > 0 {
				serve = 2
			}
		case FaultLimitData:
			if fx.inBytes+int64(size) > f.Bytes {
				fx.hit(i)
				return 0, true
			}
		}
	}
	fx.inBytes += int64(size)
	if fx.blackhole.Load() {
		return 0, false
	}
	if wait > 0 && !c.pause(wait) {
		return 0, true
	}
	return serve, false
}

// pause waits d on the connection's goroutine, or less if the
// connection or the listener closes; it reports whether the full time
// passed. Inbound delays hold the connection's own reader, as a slow
// network would: its later frames wait behind. The listener's pauses
// (Timers, on a timerfd) wake it, so that it wakes on time (see
// timerfdClock).
func (c *streamConn) pause(d time.Duration) bool {
	waited := make(chan struct{})
	if !c.l.pauses.After(d, func() { close(waited) }) {
		return false // the listener stopped: no connection is left to wait
	}
	select {
	case <-waited:
		return true
	case <-c.req.Context().Done():
		return false
	}
}

// outbound applies the reply-side faults to a reply: how long to hold it,
// how to pace it, and how many copies to send (0: drop).
func (c *streamConn) outbound(header, body []byte) (delay time.Duration, pace pacing, copies int) {
	fx := c.fx
	copies = 1
	fx.outSeq++
	for i, f := range fx.set.faults {
		if !fx.active[i] || f.Inbound {
			continue
		}
		if f.Match != nil && !f.Match.Match(header, body) {
			continue
		}
		switch f.Kind {
		case FaultResetPeer:
			if f.Match != nil {
				c.armReset(i)
			}
		case FaultTimeout:
			if f.Match != nil {
				c.startTimeout(i)
			}
		case FaultLatency:
			fx.hit(i)
			delay += f.Delay + fx.set.jitter(i, c.act.id, fx.outSeq<<32, f.Jitter)
		case FaultBandwidth:
			fx.hit(i)
			if pace.rate == 0 || f.BytesPerSecond < pace.rate {
				pace.rate = f.BytesPerSecond
			}
		case FaultSlicer:
			fx.hit(i)
			pace.size, pace.vary, pace.gap = f.AverageBytes, f.VariationBytes, f.Delay
		case FaultDrop:
			fx.hit(i)
			copies = 0
		case FaultDuplicate:
			fx.hit(i)
			if copies > 0 {
				copies = 2
			}
		}
	}
	if fx.blackhole.Load() {
		copies = 0
	}
	return delay, pace, copies
}

// slowClose is how long a closing connection waits first.
func (fx *connFaults) slowClose() (time.Duration, int) {
	if fx == nil || !fx.set.slowClose {
		return 0, -1
	}
	for i, f := range fx.set.faults {
		if f.Kind == FaultSlowClose && fx.active[i] {
			return f.Delay, i
		}
	}
	return 0, -1
}
