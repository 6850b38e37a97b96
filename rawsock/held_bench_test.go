package rawsock

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkHeldReplyMemory measures what a reply held by a latency fault
// costs: 1,000 connections that have each talked once and gone quiet,
// then the same connections each with a reply held by a latency fault
// (5 s, so that the measurement is over before any reply leaves, even on
// a loaded machine). It reports the server's Go memory (heap and stacks
// in use, after a collection) per connection in each state, and their
// ratio. A held reply is an entry in the listener's schedule and a pooled
// buffer, not a sleeping goroutine, so the ratio stays near 1.
func BenchmarkHeldReplyMemory(b *testing.B) {
	const conns = 1000
	for b.Loop() {
		ln := startListener(b, Config{Faults: []Fault{{Kind: FaultLatency, Delay: heldFor, Match: prefixMatcher("slow")}}})
		base := goMemory()
		clients := make([]*client, conns)
		for i := range clients {
			clients[i] = dial(b, ln)
			if got := clients[i].roundTrip("fast"); got != "fast" {
				b.Fatalf("reply %q", got)
			}
		}
		idle := goMemory()
		start := time.Now()
		for _, c := range clients {
			c.send("slow")
		}
		waitFor(b, "every slow frame read", func() bool { return ln.Stats().Snapshot().FramesIn == 2*conns })
		held := goMemory()
		if time.Since(start) >= heldFor {
			b.Fatalf("measured after %v: the replies may have left", time.Since(start))
		}
		for _, c := range clients {
			if got := string(c.recv().Body); got != "slow" {
				b.Fatalf("held reply %q", got)
			}
			_ = c.conn.Close()
		}
		idlePer := float64(idle-base) / conns
		heldPer := float64(held-base) / conns
		b.ReportMetric(idlePer, "idle-B/conn")
		b.ReportMetric(heldPer, "held-B/conn")
		b.ReportMetric(heldPer/idlePer, "held/idle")
		_ = ln.Close()
	}
}

// heldFor is the latency BenchmarkHeldReplyMemory holds replies for.
const heldFor = 5 * time.Second

// goMemory is the Go memory in use, heap and stacks, after two
// collections: the second empties the buffer pools' victim caches, which
// would count buffers no connection holds.
func goMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
