package rawsock

import (
	"sync"
	"time"
)

// A dueQueue hands items to its do function when they fall due, in due
// order, on one goroutine of its own that waits on a heldClock: the
// held-reply writer's connections and Timers' functions. Items due
// together go to do one after another, without a wake-up each.
type dueQueue[T any] struct {
	mu     sync.Mutex
	h      []T // a min-heap under before
	batch  []T // run's
	clock  heldClock
	armed  time.Time // the due time the clock is armed for; zero: none
	closed bool      // the clock is closed: arm it no more
	done   chan struct{}
	due    func(T) time.Time
	before func(a, b T) bool
}

// newDueQueue starts a queue whose items fall due at due(x), ordered by
// before (which must order by due first), and are handed to do.
func newDueQueue[T any](due func(T) time.Time, before func(a, b T) bool, do func(T)) *dueQueue[T] {
	q := &dueQueue[T]{clock: newHeldClock(), done: make(chan struct{}), due: due, before: before}
	go q.run(do)
	return q
}

// add queues x; false when the queue was stopped (x is then never done).
func (q *dueQueue[T]) add(x T) bool {
	at := q.due(x)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.push(x)
	if q.armed.IsZero() || at.Before(q.armed) {
		// Under the lock, so that two adds cannot leave the clock armed
		// for the later of their times; setting a timer does not block.
		q.armed = at
		q.clock.set(time.Until(at))
	}
	return true
}

func (q *dueQueue[T]) run(do func(T)) {
	defer close(q.done)
	for {
		q.mu.Lock()
		now := time.Now()
		if !q.armed.After(now) {
			q.armed = time.Time{} // it fired, or is about to: a spare wake-up costs nothing
		}
		for len(q.h) > 0 && !q.due(q.h[0]).After(now) {
			q.batch = append(q.batch, q.pop())
		}
		if len(q.h) > 0 && !q.closed {
			if next := q.due(q.h[0]); q.armed.IsZero() || next.Before(q.armed) {
				q.armed = next
				q.clock.set(next.Sub(now))
			}
		}
		q.mu.Unlock()
		if len(q.batch) > 0 {
			for _, x := range q.batch {
				do(x)
			}
			clear(q.batch)
			q.batch = q.batch[:0]
			continue // doing took time: more may be due
		}
		if !q.clock.wait() {
			return
		}
	}
}

// stop drops what is queued, ends the goroutine once the item being done
// is, and makes every later add fail. It may be called more than once.
func (q *dueQueue[T]) stop() {
	q.mu.Lock()
	again := q.closed
	q.closed = true
	clear(q.h)
	q.h = nil
	q.mu.Unlock()
	if !again {
		q.clock.close()
	}
	<-q.done
}

// push and pop keep h a min-heap under before. The caller holds mu.
func (q *dueQueue[T]) push(x T) {
	q.h = append(q.h, x)
	for i := len(q.h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.before(q.h[i], q.h[parent]) {
			break
		}
		q.h[i], q.h[parent] = q.h[parent], q.h[i]
		i = parent
	}
}

func (q *dueQueue[T]) pop() T {
	h := q.h
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	var zero T
	h[last] = zero
	h = h[:last]
	q.h = h
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < last && q.before(h[l], h[least]) {
			least = l
		}
		if r < last && q.before(h[r], h[least]) {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	return top
}
