package agent

import (
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQueueCoalesces: adds of an id while its run is in progress cost one
// more run, not one each; another id runs meanwhile; close waits.
func TestQueueCoalesces(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 10)
	var runs sync.Map // id -> *atomic.Int32
	q := newQueue(func(id string) {
		n, _ := runs.LoadOrStore(id, new(atomic.Int32))
		if n.(*atomic.Int32).Add(1) == 1 && id == "slow" {
			started <- id
			<-release // the first run of "slow" blocks until released
			return
		}
		started <- id
	})
	q.add("slow")
	if got := <-started; got != "slow" {
		t.Fatalf("first run: %s", got)
	}
	for range 5 {
		q.add("slow") // while its first run blocks
	}
	q.add("other")
	if got := <-started; got != "other" {
		t.Fatalf("a blocked id held back another: got %s", got)
	}
	close(release)
	if got := <-started; got != "slow" {
		t.Fatalf("the rerun: %s", got)
	}
	q.close()
	if n, _ := runs.Load("slow"); n.(*atomic.Int32).Load() != 2 {
		t.Fatalf("slow ran %d times, want 2 (one, and one for the adds during it)", n.(*atomic.Int32).Load())
	}
	q.add("late") // refused after close
	if _, ok := runs.Load("late"); ok {
		t.Fatal("ran after close")
	}
}
