package rawsock

import (
	"errors"
	"testing"
	"time"
)

// TestCloseDoesNotWaitForStuckHandlers: Close is the hard stop. A
// handler that ignores its request's context does not hold it: Close
// returns after its grace, reporting the handler, and Done closes once
// the handler returns. (goleak, in TestMain, checks that nothing is left.)
func TestCloseDoesNotWaitForStuckHandlers(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	ln := startListener(t, Config{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		close(entered)
		<-release // ignores r.Context()
	})})
	c := dial(t, ln)
	c.send("hang")
	<-entered

	start := time.Now()
	err := ln.Close()
	took := time.Since(start)
	if !errors.Is(err, ErrHandlersRunning) {
		t.Fatalf("Close = %v, want ErrHandlersRunning", err)
	}
	if took > closeGrace+2*time.Second {
		t.Fatalf("Close took %v, past its grace of %v", took, closeGrace)
	}
	select {
	case <-ln.Done():
		t.Fatal("Done closed while a handler still runs")
	default:
	}
	close(release)
	select {
	case <-ln.Done():
	case <-time.After(testTimeout):
		t.Fatal("Done did not close after the handler returned")
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// TestCloseWaitsForHandlersThatHonourTheirContext: a handler that ends on
// its context's cancellation is waited for, and Close reports nothing.
func TestCloseWaitsForHandlersThatHonourTheirContext(t *testing.T) {
	entered := make(chan struct{})
	ln := startListener(t, Config{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		close(entered)
		<-r.Context().Done()
	})})
	c := dial(t, ln)
	c.send("wait")
	<-entered
	if err := ln.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case <-ln.Done():
	default:
		t.Fatal("Close returned before the listener's goroutines ended")
	}
}
