// Package poll waits in tests for a condition that no event announces
// (a counter another goroutine publishes, a port that closes), with a
// deadline. It is how sockplane's tests wait instead of sleeping.
package poll

import (
	"testing"
	"time"
)

// Timeout bounds every wait.
const Timeout = 10 * time.Second

// Until polls cond every millisecond until it holds, and fails the test
// if it does not within Timeout.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	Within(tb, Timeout, what, cond)
}

// Within is Until with a deadline of its own, for a wait whose bound is
// what the test checks (a lease's expiry, say).
func Within(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}
