package rawsock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timers run functions later — held datagram replies, held requests,
// paused readers — in the order they fall due, on one goroutine of their
// own that waits on a heldClock (a timerfd: a Go timer in an otherwise
// idle process fires up to a millisecond late, see timerfdClock). Stop
// cancels those not yet run and waits for the one running, so whoever
// owns a Timers owns what it runs. The goroutine and the clock are made
// by the first After. The zero value is ready to use.
//
// A function must not wait long: the ones due after it wait for it.
type Timers struct {
	mu      sync.Mutex
	q       *dueQueue[timed]
	seq     uint64 // After calls, for their order
	closed  bool
	stopped atomic.Bool // read before each function: Stop cancels the rest of a batch too
}

// timed is a function After was given, due at due.
type timed struct {
	due time.Time
	seq uint64
	fn  func()
}

func timedAt(t timed) time.Time { return t.due }

func timedBefore(a, b timed) bool {
	return a.due.Before(b.due) || a.due.Equal(b.due) && a.seq < b.seq
}

// After runs fn once d has passed, unless Stop comes first; it reports
// false, and fn never runs, when Stop came first.
func (h *Timers) After(d time.Duration, fn func()) bool {
	due := time.Now().Add(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.q == nil {
		h.q = newDueQueue(timedAt, timedBefore, h.runTimed)
	}
	h.seq++
	return h.q.add(timed{due: due, seq: h.seq, fn: fn})
}

func (h *Timers) runTimed(t timed) {
	if !h.stopped.Load() {
		t.fn()
	}
}

// Stop cancels the functions not yet run, waits for the one running, and
// makes every later After do nothing.
func (h *Timers) Stop() {
	h.mu.Lock()
	h.closed = true
	h.stopped.Store(true)
	q := h.q
	h.mu.Unlock()
	if q != nil {
		q.stop()
	}
}
