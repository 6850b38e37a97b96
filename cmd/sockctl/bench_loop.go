package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// errLost is a datagram reply that did not come within --timeout.
var errLost = errors.New("reply lost")

// benchConn is one connection's sending and receiving, for the loops.
type benchConn interface {
	// send writes n requests, in one write where the transport allows.
	send(n int) error
	// next returns the next reply's body, valid until the next call;
	// errLost when a datagram reply did not come in time.
	next() ([]byte, error)
	// more reports whether a whole reply is already read and waiting.
	more() bool
	// expire makes reads give up at t.
	expire(t time.Time)
	close()
}

// loopWorker runs the closed or the open loop over a benchConn.
type loopWorker struct {
	b    *benchRun
	conn benchConn
}

func (w *loopWorker) close() { w.conn.close() }

func (w *loopWorker) run(ctx context.Context, hist *hdrhistogram.Histogram, due func(int64) time.Time) {
	stop := context.AfterFunc(ctx, w.conn.close)
	defer stop()
	if due == nil {
		w.closedLoop(hist)
	} else {
		w.openLoop(hist, due)
	}
}

// closedLoop keeps depth requests in flight: each reply sends one more,
// batched with the replies already read.
func (w *loopWorker) closedLoop(hist *hdrhistogram.Histogram) {
	b := w.b
	sent := newFIFO(b.opts.depth)
	now := time.Now()
	if err := w.conn.send(b.opts.depth); err != nil {
		b.fail(err)
		return
	}
	for range b.opts.depth {
		sent.push(now)
	}
	answered := 0
	for {
		body, err := w.conn.next()
		now = time.Now()
		switch {
		case errors.Is(err, errLost):
			b.fail(err)
			sent.pop()
			answered++
		case err != nil:
			if now.Before(b.deadline) {
				b.fail(err)
			}
			return
		default:
			if err := b.check(body); err != nil {
				b.fail(err)
			}
			b.record(hist, sent.pop(), now)
			answered++
		}
		if now.After(b.deadline) {
			return
		}
		if !w.conn.more() {
			if err := w.conn.send(answered); err != nil {
				b.fail(err)
				return
			}
			for range answered {
				sent.push(now)
			}
			answered = 0
		}
	}
}

// openLoop sends on schedule whatever the replies, and measures each
// reply from when its request was due. When the schedule ends, the last
// replies get --timeout to arrive.
func (w *loopWorker) openLoop(hist *hdrhistogram.Histogram, due func(int64) time.Time) {
	b := w.b
	var (
		mu       sync.Mutex
		sent     = newFIFO(1024)
		total    int64 // requests sent
		got      int64 // replies read
		finished bool  // the schedule is over
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			mu.Lock()
			finished = true
			wait := b.opts.timeout
			if got == total {
				wait = 0 // every reply is in: wake the reader now
			}
			mu.Unlock()
			w.conn.expire(time.Now().Add(wait))
		}()
		for k := int64(0); ; {
			next := due(k)
			if next.After(b.deadline) {
				return
			}
			if d := time.Until(next); d > 0 {
				time.Sleep(d) // the schedule itself: requests are due then
			}
			// Everything due by now goes out in one write.
			n := int64(0)
			for now := time.Now(); !due(k+n).After(now) && !due(k+n).After(b.deadline); n++ {
			}
			mu.Lock()
			for i := range n {
				sent.push(due(k + i))
			}
			total += n
			mu.Unlock()
			if err := w.conn.send(int(n)); err != nil {
				b.fail(err)
				return
			}
			k += n
		}
	}()
	defer func() { <-done }()
	for {
		mu.Lock()
		all := finished && got == total
		mu.Unlock()
		if all {
			return
		}
		body, err := w.conn.next()
		now := time.Now()
		mu.Lock()
		outstanding := total - got
		var t time.Time
		if outstanding > 0 {
			t = sent.pop()
			got++
		}
		mu.Unlock()
		switch {
		case errors.Is(err, errLost):
			b.fail(err)
			continue
		case err != nil:
			if outstanding > 0 {
				b.fail(fmt.Errorf("%d replies missing: %w", outstanding, err))
			}
			w.conn.close()
			return
		case outstanding <= 0:
			b.fail(errors.New("a reply to no request"))
			continue
		}
		if err := b.check(body); err != nil {
			b.fail(err)
		}
		b.record(hist, t, now)
	}
}

// fifo is a growable ring of send times.
type fifo struct {
	buf        []time.Time
	head, size int
}

func newFIFO(n int) *fifo { return &fifo{buf: make([]time.Time, max(n, 1))} }

func (f *fifo) push(t time.Time) {
	if f.size == len(f.buf) {
		grown := make([]time.Time, 2*len(f.buf))
		for i := range f.size {
			grown[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = grown, 0
	}
	f.buf[(f.head+f.size)%len(f.buf)] = t
	f.size++
}

func (f *fifo) pop() time.Time {
	t := f.buf[f.head]
	f.head = (f.head + 1) % len(f.buf)
	f.size--
	return t
}
