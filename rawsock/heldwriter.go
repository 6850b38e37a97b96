package rawsock

import "time"

// A heldWriter writes the replies a listener's connections held (a
// latency fault, a Delay, a slicer, a bandwidth fault) when they fall
// due: one goroutine and one clock for the whole listener, with the
// connections' next due times in a dueQueue. A timer per connection would
// start a goroutine at every reply (time.AfterFunc's), whose fresh stack
// the write outgrows: starting it, switching to it and copying its
// stack cost more than the write's own user space, 11 µs of a relayed
// reply's 34 µs under a 1 ms latency fault.
//
// The writer never waits on a peer: a connection whose write lock is
// taken, or whose socket does not take a piece whole, goes on to a
// goroutine of its own (see writeHeldNow). Its clock is a timerfd, so a
// reply leaves when it falls due to within the kernel's timer precision,
// not the runtime's (see timerfdClock). The listener makes the writer
// when a connection first holds a reply and stops it with its pollers,
// once its connections are gone.
type heldWriter struct{ q *dueQueue[heldDue] }

// heldDue is a connection's next due time, under its schedule gen.
type heldDue struct {
	due time.Time
	c   *streamConn
	gen uint64
}

func newHeldWriter() *heldWriter {
	return &heldWriter{q: newDueQueue(
		func(d heldDue) time.Time { return d.due },
		func(a, b heldDue) bool { return a.due.Before(b.due) },
		func(d heldDue) { d.c.writeHeldNow(d.gen) },
	)}
}

// schedule has c's held replies written at due, as schedule gen.
func (hw *heldWriter) schedule(c *streamConn, due time.Time, gen uint64) {
	hw.q.add(heldDue{due: due, c: c, gen: gen})
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
	hw := newHeldWriter()
	l.held.Store(hw)
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
	hw.q.stop()
	l.held.Store(nil) // a straggler's schedule then finds none (see scheduleHeld)
}
