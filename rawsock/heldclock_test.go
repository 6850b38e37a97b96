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

// A latency fault of 200 µs holds a reply for about that long, not for
// the runtime's timer granularity: a Go timer in a process with nothing
// else to do fires when its epoll_wait returns, whose timeout is whole
// milliseconds, and held such replies for 1.1–1.3 ms.
func TestShortLatencyIsPrecise(t *testing.T) {
	const delay = 200 * time.Microsecond
	ln := startListener(t, Config{Faults: []Fault{{Kind: FaultLatency, Delay: delay}}})
	c := dial(t, ln)
	c.roundTrip("warm")
	var took []time.Duration
	for range 41 {
		took = append(took, elapsed(func() { c.roundTrip("on time") }))
	}
	slices.Sort(took)
	if took[0] < delay {
		t.Fatalf("a reply came back after %v, before its %v delay", took[0], delay)
	}
	// A loopback round trip without the fault takes tens of µs; the
	// bound leaves room for a loaded machine, and is under the
	// millisecond a Go timer would add.
	if median := took[len(took)/2]; median > delay+700*time.Microsecond {
		t.Fatalf("median round trip %v with a %v latency fault (fastest %v)", median, delay, took[0])
	}
}
