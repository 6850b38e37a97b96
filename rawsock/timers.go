package rawsock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timers run functions later — held datagram replies, held requests —
// in the order they fall due, on one goroutine of their own that waits
// on a heldClock (a timerfd: a Go timer in an otherwise idle process
// fires up to a millisecond late, see timerfdClock). Stop cancels those
// not yet run and waits for the one running, so whoever owns a Timers
// owns what it runs. The goroutine and the clock are made by the first
// After. The zero value is ready to use.
//
// A function must not wait long: the ones due after it wait for it.
type Timers struct {
	mu      sync.Mutex
	h       []timed // a min-heap by due, then by order of After
	seq     uint64  // After calls, for that order
	clock   heldClock
	armed   time.Time // the due time the clock is armed for; zero: none
	closed  bool
	stopped atomic.Bool // run's check before each function of a batch
	done    chan struct{}
	batch   []timed // run's
}

// timed is a function After was given, due at due.
type timed struct {
	due time.Time
	seq uint64
	fn  func()
}

func (t timed) before(o timed) bool {
	return t.due.Before(o.due) || t.due.Equal(o.due) && t.seq < o.seq
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
	if h.clock == nil {
		h.clock, h.done = newHeldClock(), make(chan struct{})
		go h.run()
	}
	h.seq++
	heapPush(&h.h, timed{due: due, seq: h.seq, fn: fn}, timed.before)
	if h.armed.IsZero() || due.Before(h.armed) {
		h.armed = due // under the lock, as heldWriter.schedule does
		h.clock.set(d)
	}
	return true
}

func (h *Timers) run() {
	defer close(h.done)
	for {
		h.mu.Lock()
		now := time.Now()
		if !h.armed.After(now) {
			h.armed = time.Time{}
		}
		for len(h.h) > 0 && !h.h[0].due.After(now) {
			h.batch = append(h.batch, heapPop(&h.h, timed.before))
		}
		if len(h.h) > 0 && !h.closed && (h.armed.IsZero() || h.h[0].due.Before(h.armed)) {
			h.armed = h.h[0].due
			h.clock.set(h.armed.Sub(now))
		}
		h.mu.Unlock()
		if len(h.batch) > 0 {
			for _, t := range h.batch {
				if h.stopped.Load() {
					break
				}
				t.fn()
			}
			clear(h.batch)
			h.batch = h.batch[:0]
			continue
		}
		if !h.clock.wait() {
			return
		}
	}
}

// Stop cancels the functions not yet run, waits for the one running, and
// makes every later After do nothing.
func (h *Timers) Stop() {
	h.mu.Lock()
	again := h.closed
	h.closed = true
	h.stopped.Store(true)
	h.h = nil
	clock, done := h.clock, h.done
	h.mu.Unlock()
	if clock == nil {
		return
	}
	if !again {
		clock.close()
	}
	<-done
}
