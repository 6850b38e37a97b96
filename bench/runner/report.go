package main

import (
	"fmt"
	"strings"

	"github.com/sockplane/sockplane/bench/internal/latency"
)

// row is one line of the results table.
type row struct {
	load, mine, ref, ratio, target, met string
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (r *runner) loadResult(name string) *loadResult {
	for i := range r.res.Loads {
		if r.res.Loads[i].Name == name {
			return &r.res.Loads[i]
		}
	}
	return nil
}

// pair returns the summaries of targets a and b of a load, if both ran.
func (r *runner) pair(name, a, b string) (summary, summary, bool) {
	lr := r.loadResult(name)
	if lr == nil {
		return summary{}, summary{}, false
	}
	sa, okA := lr.Summary[a]
	sb, okB := lr.Summary[b]
	return sa, sb, okA && okB && sa.Runs > 0 && sb.Runs > 0
}

// paired returns the median over rounds of op(f(a's run), f(b's run)),
// a and b measured back to back in the same round: drift of the machine
// between rounds, which moves both, cancels out.
func (r *runner) paired(name, a, b string, f func(runStats) float64, op func(x, y float64) float64) float64 {
	lr := r.loadResult(name)
	if lr == nil {
		return 0
	}
	byRun := map[int][2]*runStats{}
	for i := range lr.Runs {
		x := &lr.Runs[i]
		p := byRun[x.Run]
		switch x.Target {
		case a:
			p[0] = x
		case b:
			p[1] = x
		}
		byRun[x.Run] = p
	}
	var v []float64
	for _, p := range byRun {
		if p[0] != nil && p[1] != nil {
			v = append(v, op(f(*p[0]), f(*p[1])))
		}
	}
	return latency.Median(v)
}

func ratio(x, y float64) float64 { return x / y }
func diff(x, y float64) float64  { return x - y }

func notRun(load, target string) row {
	return row{load: load, mine: "not run", ref: "", ratio: "", target: target, met: "—"}
}

func (r *runner) rows() []row {
	var rows []row
	add := func(x row) { rows = append(rows, x) }

	const t64 = "64 B echo, 64 conns: msgs per server CPU-second"
	if s, b, ok := r.pair("tcp64", tSockplane, tBaseline); ok {
		pr := r.paired("tcp64", tSockplane, tBaseline, func(x runStats) float64 { return x.MsgsPerCPUSecond }, ratio)
		add(row{t64, fmt.Sprintf("%.0f", s.MsgsPerCPUSecond), fmt.Sprintf("B %.0f", b.MsgsPerCPUSecond),
			fmt.Sprintf("%.3f × B (of medians: %.3f)", pr, s.MsgsPerCPUSecond/b.MsgsPerCPUSecond), "≥ 1.2 × B", yes(pr >= 1.2)})
	} else {
		add(notRun(t64, "≥ 1.2 × B"))
	}
	rows = append(rows, r.epollRows()...)
	rows = append(rows, r.issue15Rows()...)
	const t1 = "64 B echo, 1 conn: p50 latency"
	if s, b, ok := r.pair("tcp1", tSockplane, tBaseline); ok {
		d := r.paired("tcp1", tSockplane, tBaseline, func(x runStats) float64 { return x.P50Micros }, diff)
		ref := fmt.Sprintf("B %.1f µs", b.P50Micros)
		if _, c, ok := r.pair("tcp1", tSockplane, tCopy); ok {
			ref += fmt.Sprintf(" (io.Copy echo %.1f µs)", c.P50Micros)
		}
		add(row{t1, fmt.Sprintf("%.1f µs", s.P50Micros), ref, fmt.Sprintf("B %+.1f µs (of medians: %+.1f)", d, s.P50Micros-b.P50Micros), "≤ B + 10 µs", yes(d <= 10)})
	} else {
		add(notRun(t1, "≤ B + 10 µs"))
	}
	t1000 := fmt.Sprintf("64 B echo, 1,000 conns: p99 latency (open loop, %.0f/s)", r.cfg.rate1000)
	if s, b, ok := r.pair("tcp1000-open", tSockplane, tBaseline); ok {
		pr := r.paired("tcp1000-open", tSockplane, tBaseline, func(x runStats) float64 { return x.P99Micros }, ratio)
		ref := fmt.Sprintf("B %.0f µs", b.P99Micros)
		if _, c, ok := r.pair("tcp1000-open", tSockplane, tCopy); ok {
			ref += fmt.Sprintf(" (io.Copy echo %.0f µs)", c.P99Micros)
		}
		add(row{t1000, fmt.Sprintf("%.0f µs", s.P99Micros), ref, fmt.Sprintf("%.3f × B (of medians: %.3f)", pr, s.P99Micros/b.P99Micros), "≤ 0.7 × B", yes(pr <= 0.7)})
	} else {
		add(notRun(t1000, "≤ 0.7 × B"))
	}
	const tmib = "1 MiB echo, 1 conn: throughput"
	if s, c, ok := r.pair("mib", tSockplane, tCopy); ok {
		pr := r.paired("mib", tSockplane, tCopy, func(x runStats) float64 { return x.MBPerSec }, ratio)
		add(row{tmib, fmt.Sprintf("%.0f MB/s", s.MBPerSec), fmt.Sprintf("io.Copy echo %.0f MB/s", c.MBPerSec),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, s.MBPerSec/c.MBPerSec), "≥ 0.9 × bulk copy", yes(pr >= 0.9)})
		if _, rw, ok := r.pair("mib", tSockplane, tReadWrite); ok {
			pr := r.paired("mib", tSockplane, tReadWrite, func(x runStats) float64 { return x.MBPerSec }, ratio)
			add(row{tmib + " (reference: the copy through user space)", fmt.Sprintf("%.0f MB/s", s.MBPerSec), fmt.Sprintf("read/write echo %.0f MB/s", rw.MBPerSec),
				fmt.Sprintf("%.3f × (of medians: %.3f)", pr, s.MBPerSec/rw.MBPerSec), "(for reference)", "—"})
		}
	} else {
		add(notRun(tmib, "≥ 0.9 × bulk copy"))
	}
	const tudp = "UDP 64 B echo: msgs/s"
	if s, u, ok := r.pair("udp", tSockplane, tUDPLoop); ok {
		pr := r.paired("udp", tSockplane, tUDPLoop, func(x runStats) float64 { return x.MsgsPerSec }, ratio)
		add(row{tudp, fmt.Sprintf("%.0f", s.MsgsPerSec), fmt.Sprintf("bare loop %.0f", u.MsgsPerSec),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, s.MsgsPerSec/u.MsgsPerSec), "≥ 0.9 × bare loop", yes(pr >= 0.9)})
	} else {
		add(notRun(tudp, "≥ 0.9 × bare loop"))
	}
	if s, p, ok := r.pair("udp", tSockplane, tTutorial); ok {
		pr := r.paired("udp", tSockplane, tTutorial, func(x runStats) float64 { return x.MsgsPerSec }, ratio)
		add(row{tudp, fmt.Sprintf("%.0f", s.MsgsPerSec), fmt.Sprintf("P %.0f", p.MsgsPerSec),
			fmt.Sprintf("%.1f × P (of medians: %.1f)", pr, s.MsgsPerSec/p.MsgsPerSec), "≥ 15 × P", yes(pr >= 15)})
	} else {
		add(notRun(tudp, "≥ 15 × P"))
	}
	rows = append(rows, r.proxyRows()...)
	if len(r.res.Idle) > 0 {
		i := r.res.Idle[len(r.res.Idle)-1]
		held := fmt.Sprintf("%d held", i.Opened)
		met := yes(i.Opened >= idleTarget)
		if i.Opened < idleTarget && i.Limit != "" {
			met = "**no**: fd limit"
		}
		add(row{"idle connections: held by one daemon", held, "100,000", fmt.Sprintf("%.2f ×", float64(i.Opened)/idleTarget), "100,000", met})
		for _, i := range r.res.Idle {
			kind := "never sent a byte"
			if i.Roundtrip {
				kind = "one echo each, then idle"
			}
			add(row{"idle connections: Go memory (heap + stacks) each, " + kind, fmt.Sprintf("%.0f B", i.PerConnGoBytes),
				fmt.Sprintf("heap in use %.0f (live %.0f) + stacks %.0f", i.PerConnHeap, i.PerConnLiveHeap, i.PerConnStack), fmt.Sprintf("%.3f × 4 KiB", i.PerConnGoBytes/4096), "≤ 4 KiB (4,096 B)", yes(i.PerConnGoBytes <= 4096)})
		}
	} else {
		add(notRun("idle connections: held by one daemon", "100,000"))
		add(notRun("idle connections: Go memory (heap + stacks) each", "≤ 4 KiB"))
	}
	for _, c := range r.res.Create {
		res := c.Result
		if c.Store == "etcd" {
			continue // a cluster's: the serving count is checked by the run itself
		}
		add(row{fmt.Sprintf("listeners on one daemon, all serving (%s store)", c.Store), fmt.Sprintf("%d of %d serving", res.Serving, res.Created), "",
			"", "1,000", yes(res.Serving >= 1000 && res.Serving == res.Created)})
	}
	var bolt *createRun
	for i, c := range r.res.Create {
		if c.Store == "bbolt" {
			bolt = &r.res.Create[i]
		}
	}
	for _, c := range r.res.Create {
		g, h := c.Result.GRPC, c.Result.REST
		if c.Store == "etcd" {
			// No target of its own: the issue asks it measured against one
			// node on bbolt.
			ref50, ref99 := "", ""
			if bolt != nil {
				ref50 = fmt.Sprintf("one node on bbolt: %.0f µs (%.1f ×)", bolt.Result.GRPC.P50, g.P50/bolt.Result.GRPC.P50)
				ref99 = fmt.Sprintf("one node on bbolt: %.0f µs (%.1f ×)", bolt.Result.GRPC.P99, g.P99/bolt.Result.GRPC.P99)
			}
			add(row{"create → port accepts through a non-owner cluster node (etcd), gRPC p50", fmt.Sprintf("%.0f µs", g.P50), ref50, "", "measured", "—"})
			add(row{"create → port accepts through a non-owner cluster node (etcd), gRPC p99", fmt.Sprintf("%.0f µs", g.P99), ref99, "", "measured", "—"})
			add(row{"create → port accepts through a non-owner cluster node (etcd), REST p50 / p99", fmt.Sprintf("%.0f / %.0f µs", h.P50, h.P99), "", "", "measured", "—"})
			continue
		}
		store := "store in memory (--data-dir \"\")"
		if c.Store != "memory" {
			store = "bbolt store on disk"
		}
		lim50, lim99 := 1.5*g.P50+200, 1.5*g.P99+200
		add(row{"create → port accepts, gRPC p50, " + store, fmt.Sprintf("%.0f µs", g.P50), fmt.Sprintf("call alone %.0f µs", g.CallP50), fmt.Sprintf("%.2f × 300 µs", g.P50/300), "≤ 300 µs", yes(g.P50 <= 300)})
		add(row{"create → port accepts, gRPC p99, " + store, fmt.Sprintf("%.0f µs", g.P99), "", fmt.Sprintf("%.2f × 2 ms", g.P99/2000), "≤ 2 ms", yes(g.P99 <= 2000)})
		add(row{"create → port accepts, REST p50, " + store, fmt.Sprintf("%.0f µs", h.P50), fmt.Sprintf("1.5 × gRPC + 200 = %.0f µs", lim50), fmt.Sprintf("%.2f ×", h.P50/lim50), "≤ 1.5 × gRPC + 200 µs", yes(h.P50 <= lim50)})
		add(row{"create → port accepts, REST p99, " + store, fmt.Sprintf("%.0f µs", h.P99), fmt.Sprintf("1.5 × gRPC + 200 = %.0f µs", lim99), fmt.Sprintf("%.2f ×", h.P99/lim99), "≤ 1.5 × gRPC + 200 µs", yes(h.P99 <= lim99)})
		if f, a := c.Result.Fsync, c.Result.FsyncAppend; f != nil && a != nil {
			add(row{"(the disk) 4 KiB write + fdatasync under the data dir: overwrite; append", fmt.Sprintf("p50 %.0f µs, p99 %.0f µs; p50 %.0f µs, p99 %.0f µs", f.P50, f.P99, a.P50, a.P99), "", "", "(for reference)", "—"})
		}
	}
	const tcget, tcratio = "GET p50 while 16 clients create (bbolt)", "16-way concurrent creates vs serial (bbolt)"
	if cr := r.res.Contention; cr != nil {
		c := cr.Result
		load := tcget
		if c.Clients != 16 {
			load = fmt.Sprintf("GET p50 while %d clients create (bbolt)", c.Clients)
		}
		add(row{load, fmt.Sprintf("%.0f µs (p99 %.0f µs, n=%d)", c.LoadedGet.P50, c.LoadedGet.P99, c.LoadedGet.N),
			fmt.Sprintf("idle %.0f µs (p99 %.0f µs); 3 × idle + 1 ms = %.0f µs", c.IdleGet.P50, c.IdleGet.P99, c.GetBoundMicros),
			fmt.Sprintf("%.2f × bound (%.1f × idle)", c.LoadedGet.P50/c.GetBoundMicros, c.LoadedGet.P50/c.IdleGet.P50),
			"≤ 3 × idle + 1 ms", yes(c.LoadedGet.N > 0 && c.LoadedGet.P50 <= c.GetBoundMicros)})
		load = tcratio
		if c.Clients != 16 {
			load = fmt.Sprintf("%d-way concurrent creates vs serial (bbolt)", c.Clients)
		}
		add(row{load, fmt.Sprintf("%d creates in %.1f ms", c.N, c.ConcurrentMillis), fmt.Sprintf("serial %.1f ms", c.SerialMillis),
			fmt.Sprintf("%.2f × serial (%s)", c.Ratio, map[bool]string{true: "one round", false: fmt.Sprintf("median of %d paired rounds", len(c.Runs))}[len(c.Runs) == 1]), "≤ 0.6 × serial", yes(c.Ratio > 0 && c.Ratio <= 0.6)})
	} else {
		add(notRun(tcget, "≤ 3 × idle + 1 ms"))
		add(notRun(tcratio, "≤ 0.6 × serial"))
	}
	return rows
}

func (r *runner) markdown() string {
	r.res.Env = r.env
	var b strings.Builder
	e := r.env
	mode := "full"
	if e.Quick {
		mode = "quick (smoke: one short run, small counts; not for the record)"
	}
	fmt.Fprintf(&b, "### Results, %s\n\n", e.Date)
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, Linux %s; %s; %s. Mode: %s.\n", e.CPU, e.CPUs, e.Kernel, e.Go, e.Python, mode)
	fmt.Fprintf(&b, "Method: %s; %d measured run(s) of %s after %s warm-up each, %s untimed first; medians. "+
		"Descriptor limit %d, fs.nr_open %s, ephemeral ports %s.\n\n", e.Pinning, e.Runs, e.Duration, e.Warmup, e.Prewarm, e.FDLimit, e.NROpen, e.PortRange)
	b.WriteString("| Load | sockplane | Baseline / tutorial / reference | Ratio | Target | Met? |\n|---|---|---|---|---|---|\n")
	for _, x := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.load, x.mine, x.ref, x.ratio, x.target, x.met)
	}
	b.WriteString("\nB = plain goroutine-per-connection server (bench/baseline), P = the tutorial's socketserver server (python3), E = a hand-tuned single-threaded C epoll server (bench/epoll/echo.c), W = a hand-tuned C UDP echo in recvmmsg/sendmmsg batches (bench/epoll/udpbatch.c). " +
		"Ratios are the median over rounds of the ratio of two runs made back to back in the same round (paired), and, in parentheses, the ratio of the medians.\n")
	if r.loadResult("proxy64") != nil || r.loadResult("proxymib") != nil {
		fmt.Fprintf(&b, "Proxy rows: every proxy relays to the same bench/baseline --mode %s echo upstream on the server CPU; CPU counted is the proxy process's alone "+
			"(X = sockplane raw relay, F = sockplane framed relay with a latency fault, G = the same without the fault, T = Toxiproxy %s, L = the same with a latency toxic, Y = a hand-tuned single-threaded C epoll relay, bench/epoll/relay.c).\n", e.ProxyUpstream, e.Toxiproxy)
	}
	if len(r.res.Idle) > 0 && r.res.Idle[0].Limit != "" {
		fmt.Fprintf(&b, "Idle connections were capped at %d: %s.\n", r.res.Idle[0].Requested, r.res.Idle[0].Limit)
	}

	b.WriteString("\n#### Every load and server (medians)\n\n")
	b.WriteString("| Load | Server | msgs/s | MB/s | p50 µs | p99 µs | server cores | server CPU µs/msg | msgs per CPU-s | foreign cores (max) | errors | runs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, lr := range r.res.Loads {
		for _, k := range []string{tSockplane, tBaseline, tCopy, tReadWrite, tUDPLoop, tUDPBatch, tTutorial, tEpoll, tRawRelay, tFramedPlain, tFramedRelay, tToxiproxy, tToxiLatency, tEpollRelay} {
			s, ok := lr.Summary[k]
			if !ok || s.Runs == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s: %s | %.0f | %.1f | %.1f | %.1f | %.2f | %.2f | %.0f | %.2f | %d | %d |\n",
				lr.Title, k, s.Label, s.MsgsPerSec, s.MBPerSec, s.P50Micros, s.P99Micros, s.ServerCores, s.CPUPerMsgMicros, s.MsgsPerCPUSecond, s.MaxForeignCores, s.Errors, s.Runs)
		}
	}
	for _, i := range r.res.Idle {
		fmt.Fprintf(&b, "\nIdle (one echo each first: %t): %d connections from %d source addresses in %.1fs; daemon Go heap %.1f → %.1f MiB, stacks %.1f → %.1f MiB, "+
			"goroutines %.0f → %.0f, RSS %.1f → %.1f MiB (%.0f B per connection).\n",
			i.Roundtrip, i.Opened, i.Sources, i.OpenSecs, i.Before.HeapInuse/(1<<20), i.After.HeapInuse/(1<<20), i.Before.StackInuse/(1<<20), i.After.StackInuse/(1<<20),
			i.Before.Goroutines, i.After.Goroutines, i.Before.RSS/(1<<20), i.After.RSS/(1<<20), i.PerConnRSSBytes)
	}
	for _, c := range r.res.Create {
		g, h := c.Result.GRPC, c.Result.REST
		f := c.Result.Floor
		fmt.Fprintf(&b, "\nCreate (%s store): gRPC n=%d p50 %.0f p90 %.0f p99 %.0f max %.0f µs (call alone p50 %.0f); REST n=%d p50 %.0f p90 %.0f p99 %.0f max %.0f µs (call alone p50 %.0f). "+
			"Floor on the same daemon: gRPC GetListener p50 %.0f µs, REST GET p50 %.0f µs, TCP dial p50 %.0f µs.\n",
			c.Store, g.N, g.P50, g.P90, g.P99, g.Max, g.CallP50, h.N, h.P50, h.P90, h.P99, h.Max, h.CallP50, f.GRPCGet.P50, f.RESTGet.P50, f.Dial.P50)
	}
	if cr := r.res.Contention; cr != nil {
		c := cr.Result
		var serial, concurrent []string
		for _, x := range c.Runs {
			serial, concurrent = append(serial, fmt.Sprintf("%.1f", x.SerialMillis)), append(concurrent, fmt.Sprintf("%.1f", x.ConcurrentMillis))
		}
		fmt.Fprintf(&b, "\nContention (bbolt store): %d creates from one client took %s ms, from %d clients %s ms, round by round. "+
			"GetListener of one listener: idle n=%d p50 %.0f p90 %.0f p99 %.0f max %.0f µs; while creating n=%d p50 %.0f p90 %.0f p99 %.0f max %.0f µs "+
			"(%d creates in %d batches over %.1f s; %d calls not counted, sent or answered with no create in flight). %d creates in all, %d failed.\n",
			c.N, strings.Join(serial, ", "), c.Clients, strings.Join(concurrent, ", "),
			c.IdleGet.N, c.IdleGet.P50, c.IdleGet.P90, c.IdleGet.P99, c.IdleGet.Max, c.LoadedGet.N, c.LoadedGet.P50, c.LoadedGet.P90, c.LoadedGet.P99, c.LoadedGet.Max,
			c.LoadedCreates, c.LoadedBatches, c.LoadedMillis/1000, c.LoadedDiscarded, c.Creates, c.CreateErrors)
	}
	if len(r.res.Failures) > 0 {
		b.WriteString("\n**Failures:**\n\n")
		for _, f := range r.res.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}
