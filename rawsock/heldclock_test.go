package rawsock

import (
	"slices"
	"testing"
	"time"
)

// Both clocks fire no earlier than they were set for, again after being
// set again, and close ends a wait.
func TestHeldClocks(t *testing.T) {
	fd, err := newTimerfdClock()
	if err != nil {
		t.Fatalf("timerfd: %v", err) // Linux has had timerfds since 2.6.25
	}
	for name, c := range map[string]heldClock{"timerfd": fd, "go": newGoClock()} {
		t.Run(name, func(t *testing.T) {
			const d = 300 * time.Microsecond
			for i := range 5 {
				start := time.Now()
				c.set(d)
				if !c.wait() {
					t.Fatalf("wait %d: closed", i)
				}
				if took := time.Since(start); took < d {
					t.Fatalf("wait %d: fired after %v, set for %v", i, took, d)
				}
			}
			// Set again before it fired: the later setting counts.
			start := time.Now()
			c.set(time.Hour)
			c.set(d)
			if !c.wait() || time.Since(start) > time.Minute {
				t.Fatal("re-set clock did not fire at its new time")
			}
			waited := make(chan bool)
			go func() { waited <- c.wait() }()
			c.close()
			if <-waited {
				t.Fatal("wait after close reported a firing")
			}
		})
	}
}

// A latency fault of 200 µs holds a reply for about that long, on
// streams and datagrams, not for the runtime's timer granularity: a Go
// timer in a process with nothing else to do fires when its epoll_wait
// returns, whose timeout is whole milliseconds, and held such replies
// for 1.1–1.3 ms.
func TestShortLatencyIsPrecise(t *testing.T) {
	const delay = 200 * time.Microsecond
	faults := []Fault{{Kind: FaultLatency, Delay: delay}}
	t.Run("tcp", func(t *testing.T) {
		c := dial(t, startListener(t, Config{Faults: faults}))
		checkHeldFor(t, delay, func() { c.roundTrip("on time") })
	})
	t.Run("tcp-requests", func(t *testing.T) {
		in := []Fault{{Kind: FaultLatency, Delay: delay, Inbound: true}}
		c := dial(t, startListener(t, Config{Faults: in}))
		checkHeldFor(t, delay, func() { c.roundTrip("on time") })
	})
	t.Run("udp", func(t *testing.T) {
		ln := startListener(t, Config{Network: "udp", Faults: faults})
		c := dialUDP(t, ln)
		checkHeldFor(t, delay, func() { udpRoundTrip(t, c, ln.current().response, "on time") })
	})
}

// checkHeldFor times 41 round trips after a first: none may be faster
// than delay, and their median must be within 700 µs of it (a loopback
// round trip without a fault takes tens of µs; the bound leaves room
// for a loaded machine, and is under the millisecond a Go timer adds).
func checkHeldFor(t *testing.T, delay time.Duration, roundTrip func()) {
	t.Helper()
	roundTrip()
	var took []time.Duration
	for range 41 {
		took = append(took, elapsed(roundTrip))
	}
	slices.Sort(took)
	if took[0] < delay {
		t.Fatalf("a reply came back after %v, before its %v delay", took[0], delay)
	}
	if median := took[len(took)/2]; median > delay+700*time.Microsecond {
		t.Fatalf("median round trip %v with a %v latency fault (fastest %v)", median, delay, took[0])
	}
}

// Timers run functions in the order they fall due, those due together
// in the order they were given; Stop cancels the rest and waits for the
// one running, and After does nothing after it.
func TestTimers(t *testing.T) {
	var h Timers
	got := make(chan int, 8)
	h.After(30*time.Millisecond, func() { got <- 3 })
	h.After(10*time.Millisecond, func() { got <- 1 })
	h.After(10*time.Millisecond, func() { got <- 2 })
	for want := 1; want <= 3; want++ {
		if n := <-got; n != want {
			t.Fatalf("function %d ran when %d was due", n, want)
		}
	}
	running, release := make(chan struct{}), make(chan struct{})
	h.After(0, func() { close(running); <-release })
	h.After(0, func() { got <- 4 }) // due, but behind the one running
	h.After(time.Hour, func() { got <- 5 })
	<-running
	stopped := make(chan struct{})
	go func() { h.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a function ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	h.After(0, func() { got <- 6 })
	h.Stop() // again: nothing to do
	select {
	case n := <-got:
		t.Fatalf("function %d ran after Stop", n)
	default:
	}
	var unused Timers
	unused.Stop() // a Timers never used has nothing to stop
}
