package rawsock

import (
	"runtime"
	"testing"
	"time"
)

// TestParkedConnectionsServeAndShrink: connections idle past parkAfter
// move to fresh goroutines and keep serving; busy ones do not move. The
// stack they save is measured by bench/ on a whole daemon: in one test
// process, freed stacks and adaptive start sizes blur it, so it is only
// logged here.
func TestParkedConnectionsServeAndShrink(t *testing.T) {
	const park = 20 * time.Millisecond
	saved := parkAfter
	parkAfter = park
	ln := startListener(t, Config{Handler: Upper{}, Limits: Limits{IdleTimeout: 2 * time.Second}})
	busyLn := startListener(t, Config{Handler: Upper{}})
	parkAfter = saved // the listeners have their copies

	const n = 500
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, ln)
		clients[i].roundTrip("grow the stack")
	}
	// What is tested: the connections sit idle past parkAfter, and the
	// park timer hands every one of them over. The wait is for that
	// effect, bounded by waitFor's deadline, not for a guessed time.
	waitFor(t, "every idle connection to move to a fresh goroutine", func() bool { return ln.parked.Load() >= n })
	if got := ln.parked.Load(); got != n {
		t.Fatalf("%d hand-overs for %d idle connections", got, n)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("stack in use per idle connection: %d B", int64(after.StackInuse-before.StackInuse)/n)
	for _, c := range clients {
		if got := c.roundTrip("parked"); got != "PARKED" {
			t.Fatalf("a parked connection answered %q", got)
		}
	}
	if s := ln.Stats().Snapshot(); s.ConnectionsActive != n || s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}

	// A connection kept busy for longer than parkAfter never moves. The
	// loop is bounded by the clock because being busy for a while is what
	// is tested; it never sleeps.
	busy := dial(t, busyLn)
	for start := time.Now(); time.Since(start) < 5*park; {
		busy.roundTrip("busy")
		if got := busyLn.parked.Load(); got > 0 {
			t.Fatalf("%d hand-overs while every connection was busy", got)
		}
	}
	// The control: idle at last, the same connection does move, so the
	// zero above is not a listener that never parks.
	waitFor(t, "the busy connection, now idle, to move to a fresh goroutine", func() bool { return busyLn.parked.Load() >= 1 })
	if got := busy.roundTrip("after"); got != "AFTER" {
		t.Fatalf("the formerly busy connection answered %q after parking", got)
	}
}
