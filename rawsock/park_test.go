package rawsock

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleConnectionsWaitOnThePoller: connections of a NonBlocking
// handler wait on the listener's poller, not on goroutines of their own,
// and the poller serves them.
func TestIdleConnectionsWaitOnThePoller(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}, Limits: Limits{IdleTimeout: 5 * time.Second}})
	const n = 300
	before := runtime.NumGoroutine()
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, ln)
		clients[i].roundTrip("first")
	}
	waitFor(t, "every idle connection to wait on the poller", func() bool { return ln.parked.Load() >= n })
	// A goroutine per connection would add n; the poller adds a few.
	waitFor(t, "the connections' goroutines to exit", func() bool { return runtime.NumGoroutine()-before < n/10 })
	for _, c := range clients {
		if got := c.roundTrip("again"); got != "AGAIN" {
			t.Fatalf("a connection on the poller answered %q", got)
		}
	}
	if got := runtime.NumGoroutine() - before; got >= n/10 {
		t.Fatalf("%d more goroutines while %d connections are served by the poller", got, n)
	}
	if s := ln.Stats().Snapshot(); s.ConnectionsActive != n || s.Errors != 0 || s.FramesIn != 2*n {
		t.Fatalf("stats %+v", s)
	}
}

// TestBlockingHandlerParksAfterIdle: a connection of a handler that may
// block is served on its own goroutine, which parks it on the poller
// only once it stayed idle for parkAfter: a busy one never moves.
func TestBlockingHandlerParksAfterIdle(t *testing.T) {
	const park = 50 * time.Millisecond
	saved := parkAfter
	parkAfter = park
	ln := startListener(t, Config{Handler: HandlerFunc(func(w ResponseWriter, r *Request) { Upper{}.ServeFrame(w, r) })})
	parkAfter = saved // the listener has its copy

	busy := dial(t, ln)
	busy.roundTrip("first") // a new connection waits on the poller, then on its goroutine
	start := ln.parked.Load()
	// Being busy is what is tested: a round trip that took less than half
	// the park delay, from the previous reply to its own, left the
	// connection idle for less than that, and must not have parked it. A
	// slower one (a loaded machine stalled the test) proves nothing and
	// is not counted. The loop never sleeps.
	const want = 200
	fast, last := 0, time.Now()
	for deadline := last.Add(testTimeout / 2); fast < want && last.Before(deadline); {
		before := ln.parked.Load()
		busy.roundTrip("busy")
		now := time.Now()
		if now.Sub(last) < park/2 {
			if got := ln.parked.Load(); got != before {
				t.Fatalf("parked during a round trip of %v, with a park delay of %v", now.Sub(last), park)
			}
			fast++
		}
		last = now
	}
	if fast < want {
		t.Fatalf("only %d round trips under %v in %v: too few to tell", fast, park/2, testTimeout/2)
	}
	// The control: idle at last, the same connection does park, so the
	// zero above is not a listener that never parks.
	waitFor(t, "the busy connection, now idle, to park", func() bool { return ln.parked.Load() > start })
	if got := busy.roundTrip("after"); got != "AFTER" {
		t.Fatalf("the formerly busy connection answered %q after parking", got)
	}
}
