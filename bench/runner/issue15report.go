package main

import "fmt"

// Issue 15's targets beyond E: the limit of the machine on big frames,
// idle memory, datagrams and creates.
const (
	mibVsBestMin         = 1.0  // × the faster Go reference echo of 1 MiB
	idleBytesMax         = 1536 // B of Go memory per idle connection
	udpVsBareMin         = 1.5  // × the bare ReadFrom/WriteTo loop
	createP50Max         = 300  // µs, gRPC, memory store
	createP99Max         = 1000 // µs, gRPC, memory store
	createOverDiskMicros = 300  // µs over the disk's fdatasync p50, bbolt store
)

// issue15Rows are issue 15's rows that are not against E (epollRows).
func (r *runner) issue15Rows() []row {
	var rows []row
	add := func(x row) { rows = append(rows, x) }

	// 1 MiB: against whichever Go reference was faster on the day, by
	// its median, then the paired ratio to that one.
	const tmib = "1 MiB echo, 1 conn: throughput, vs the faster of io.Copy/splice and read/write echo (issue 15)"
	mbps := func(x runStats) float64 { return x.MBPerSec }
	s, c, okC := r.pair("mib", tSockplane, tCopy)
	_, rw, okR := r.pair("mib", tSockplane, tReadWrite)
	switch {
	case okC || okR:
		best, name, bs := tCopy, "io.Copy echo", c
		if !okC || okR && rw.MBPerSec > c.MBPerSec {
			best, name, bs = tReadWrite, "read/write echo", rw
		}
		pr := r.paired("mib", tSockplane, best, mbps, ratio)
		add(row{tmib, fmt.Sprintf("%.0f MB/s", s.MBPerSec), fmt.Sprintf("%s %.0f MB/s", name, bs.MBPerSec),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, s.MBPerSec/bs.MBPerSec), fmt.Sprintf("≥ %.1f × the faster", mibVsBestMin), yes(pr >= mibVsBestMin)})
	default:
		add(notRun(tmib, fmt.Sprintf("≥ %.1f × the faster", mibVsBestMin)))
	}

	const tudp = "UDP 64 B echo: msgs/s, vs the bare loop (issue 15)"
	if s, u, ok := r.pair("udp", tSockplane, tUDPLoop); ok {
		pr := r.paired("udp", tSockplane, tUDPLoop, func(x runStats) float64 { return x.MsgsPerSec }, ratio)
		add(row{tudp, fmt.Sprintf("%.0f", s.MsgsPerSec), fmt.Sprintf("bare loop %.0f", u.MsgsPerSec),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, s.MsgsPerSec/u.MsgsPerSec), fmt.Sprintf("≥ %.1f × bare loop", udpVsBareMin), yes(pr >= udpVsBareMin)})
		// W bounds what batching gets on this load, for any server.
		if w, _, ok := r.pair("udp", tUDPBatch, tUDPLoop); ok {
			pw := r.paired("udp", tUDPBatch, tUDPLoop, func(x runStats) float64 { return x.MsgsPerSec }, ratio)
			add(row{tudp + " (reference: the C batching echo W against the bare loop)", fmt.Sprintf("W %.0f", w.MsgsPerSec), fmt.Sprintf("bare loop %.0f", u.MsgsPerSec),
				fmt.Sprintf("%.3f × (of medians: %.3f)", pw, w.MsgsPerSec/u.MsgsPerSec), "(for reference)", "—"})
		}
	} else {
		add(notRun(tudp, fmt.Sprintf("≥ %.1f × bare loop", udpVsBareMin)))
	}

	for _, i := range r.res.Idle {
		kind := "never sent a byte"
		if i.Roundtrip {
			kind = "one echo each, then idle"
		}
		add(row{fmt.Sprintf("idle connections at %d: Go memory (heap + stacks) each, %s (issue 15)", i.Opened, kind), fmt.Sprintf("%.0f B", i.PerConnGoBytes),
			fmt.Sprintf("heap in use %.0f (live %.0f) + stacks %.0f", i.PerConnHeap, i.PerConnLiveHeap, i.PerConnStack),
			fmt.Sprintf("%.3f × 1.5 KiB", i.PerConnGoBytes/idleBytesMax), "≤ 1.5 KiB (1,536 B)", yes(i.Opened > 0 && i.PerConnGoBytes <= idleBytesMax)})
	}
	if len(r.res.Idle) == 0 {
		add(notRun("idle connections: Go memory (heap + stacks) each (issue 15)", "≤ 1.5 KiB (1,536 B)"))
	}

	for _, c := range r.res.Create {
		g := c.Result.GRPC
		switch c.Store {
		case "memory":
			add(row{"create → port accepts, gRPC, memory store: p50 / p99 (issue 15)", fmt.Sprintf("%.0f / %.0f µs", g.P50, g.P99), fmt.Sprintf("call alone p50 %.0f µs", g.CallP50),
				fmt.Sprintf("%.2f × / %.2f ×", g.P50/createP50Max, g.P99/createP99Max), fmt.Sprintf("≤ %d µs / ≤ %d µs", createP50Max, createP99Max), yes(g.P50 <= createP50Max && g.P99 <= createP99Max)})
		case "bbolt":
			f := c.Result.Fsync
			if f == nil {
				continue
			}
			lim := f.P50 + createOverDiskMicros
			add(row{"create → port accepts, gRPC p50, bbolt store (issue 15)", fmt.Sprintf("%.0f µs", g.P50), fmt.Sprintf("fdatasync p50 %.0f + %d = %.0f µs", f.P50, createOverDiskMicros, lim),
				fmt.Sprintf("%.2f ×", g.P50/lim), fmt.Sprintf("≤ fdatasync p50 + %d µs", createOverDiskMicros), yes(g.P50 <= lim)})
		}
	}
	return rows
}
