package rawsock

import (
	"sync"
	"time"
)

// A heldWriter writes the replies a listener's connections held (a
// latency fault, a Delay, a slicer, a bandwidth fault) when they fall
// due: one goroutine and one timer for the whole listener, with the
// connections' next due times in a heap. A timer per connection would
// start a goroutine at every reply (time.AfterFunc's), whose fresh stack
// the write outgrows: starting it, switching to it and copying its
// stack cost more than the write's own user space, 11 µs of a relayed
// reply's 34 µs under a 1 ms latency fault.
//
// The writer never waits on a peer: a connection whose write lock is
// taken, or whose socket does not take a piece whole, goes on to a
// goroutine of its own (see writeHeldNow). It waits on a heldClock, a
// timerfd, so that a reply leaves when it falls due to within the
// kernel's timer precision, not the runtime's. The listener makes the writer
// when a connection first holds a reply and stops it with its pollers,
// once its connections are gone.
type heldWriter struct {
	mu     sync.Mutex
	h      []heldDue // a min-heap by due
	batch  []heldDue // the run goroutine's
	clock  heldClock
	armed  time.Time // the due time the clock is armed for; zero: none
	closed bool      // the clock is closed: arm it no more
	done   chan struct{}
}

// heldDue is a connection's next due time, under its schedule gen.
type heldDue struct {
	due time.Time
	c   *streamConn
	gen uint64
}

func (d heldDue) before(o heldDue) bool { return d.due.Before(o.due) }

// schedule has c's held replies written at due, as schedule gen.
func (hw *heldWriter) schedule(c *streamConn, due time.Time, gen uint64) {
	hw.mu.Lock()
	heapPush(&hw.h, heldDue{due: due, c: c, gen: gen}, heldDue.before)
	if !hw.closed && (hw.armed.IsZero() || due.Before(hw.armed)) {
		// Under the lock, so that two schedules cannot leave the clock
		// armed for the later of their times; setting a timer does not
		// block.
		hw.armed = due
		hw.clock.set(time.Until(due))
	}
	hw.mu.Unlock()
}

func (hw *heldWriter) run() {
	defer close(hw.done)
	for {
		hw.mu.Lock()
		now := time.Now()
		if !hw.armed.After(now) {
			hw.armed = time.Time{} // it fired, or is about to: a spare wake-up costs nothing
		}
		for len(hw.h) > 0 && !hw.h[0].due.After(now) {
			hw.batch = append(hw.batch, heapPop(&hw.h, heldDue.before))
		}
		if len(hw.h) > 0 && !hw.closed && (hw.armed.IsZero() || hw.h[0].due.Before(hw.armed)) {
			hw.armed = hw.h[0].due
			hw.clock.set(hw.armed.Sub(now))
		}
		hw.mu.Unlock()
		if len(hw.batch) > 0 {
			for _, d := range hw.batch {
				d.c.writeHeldNow(d.gen)
			}
			clear(hw.batch)
			hw.batch = hw.batch[:0]
			continue // writing took time: more may be due
		}
		if !hw.clock.wait() {
			return
		}
	}
}

// heldWriter returns the listener's held-reply writer, making it on first
// use, or nil once it stopped.
func (l *Listener) heldWriter() *heldWriter {
	if hw := l.held.Load(); hw != nil {
		return hw
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.heldDone {
		return nil
	}
	if hw := l.held.Load(); hw != nil {
		return hw
	}
	hw := &heldWriter{clock: newHeldClock(), done: make(chan struct{})}
	l.held.Store(hw)
	go hw.run()
	return hw
}

// stopHeldWriter ends the held-reply writer, if there is one; the
// listener's connections are gone, so nothing it had scheduled is owed.
func (l *Listener) stopHeldWriter() {
	l.mu.Lock()
	l.heldDone = true
	hw := l.held.Load()
	l.mu.Unlock()
	if hw == nil {
		return
	}
	hw.mu.Lock()
	hw.closed = true
	hw.mu.Unlock()
	hw.clock.close()
	<-hw.done
	l.held.Store(nil) // a straggler's schedule then finds none (see scheduleHeld)
}
