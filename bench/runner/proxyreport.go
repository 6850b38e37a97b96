package main

import "fmt"

// proxyRows are the rows of issue 13: sockplane's proxy against
// Toxiproxy, both in front of the same upstream, counting only the
// proxy process's CPU.
func (r *runner) proxyRows() []row {
	var rows []row
	add := func(x row) { rows = append(rows, x) }

	const t64, g64 = "proxy, 64 B echo, 64 conns: msgs per proxy CPU-second (raw relay)", "≥ 1.5 × Toxiproxy"
	if x, t, ok := r.pair("proxy64", tRawRelay, tToxiproxy); ok {
		pr := r.paired("proxy64", tRawRelay, tToxiproxy, func(s runStats) float64 { return s.MsgsPerCPUSecond }, ratio)
		add(row{t64, fmt.Sprintf("%.0f", x.MsgsPerCPUSecond), fmt.Sprintf("Toxiproxy %.0f", t.MsgsPerCPUSecond),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, x.MsgsPerCPUSecond/t.MsgsPerCPUSecond), g64, yes(pr >= 1.5)})
	} else {
		add(notRun(t64, g64))
	}
	// Y, the C relay, says what a relay with nothing else in its process
	// gets against Toxiproxy on this machine, and how far sockplane's raw
	// relay is from it.
	if y, t, ok := r.pair("proxy64", tEpollRelay, tToxiproxy); ok {
		py := r.paired("proxy64", tEpollRelay, tToxiproxy, func(s runStats) float64 { return s.MsgsPerCPUSecond }, ratio)
		add(row{"proxy, 64 B echo, 64 conns: msgs per proxy CPU-second, the C epoll relay Y against Toxiproxy (reference: a relay with nothing else in its process)",
			fmt.Sprintf("Y %.0f", y.MsgsPerCPUSecond), fmt.Sprintf("Toxiproxy %.0f", t.MsgsPerCPUSecond),
			fmt.Sprintf("%.3f × (of medians: %.3f)", py, y.MsgsPerCPUSecond/t.MsgsPerCPUSecond), "(for reference)", "—"})
		if x, _, ok := r.pair("proxy64", tRawRelay, tEpollRelay); ok {
			px := r.paired("proxy64", tRawRelay, tEpollRelay, func(s runStats) float64 { return s.MsgsPerCPUSecond }, ratio)
			add(row{"proxy, 64 B echo, 64 conns: msgs per proxy CPU-second, raw relay against the C epoll relay Y (reference)",
				fmt.Sprintf("%.0f", x.MsgsPerCPUSecond), fmt.Sprintf("Y %.0f", y.MsgsPerCPUSecond),
				fmt.Sprintf("%.3f × (of medians: %.3f)", px, x.MsgsPerCPUSecond/y.MsgsPerCPUSecond), "(for reference)", "—"})
		}
	}
	const tmib, gmib = "proxy, 1 MiB echo, 1 conn: throughput (raw relay)", "≥ 1.0 × Toxiproxy"
	if x, t, ok := r.pair("proxymib", tRawRelay, tToxiproxy); ok {
		pr := r.paired("proxymib", tRawRelay, tToxiproxy, func(s runStats) float64 { return s.MBPerSec }, ratio)
		add(row{tmib, fmt.Sprintf("%.0f MB/s", x.MBPerSec), fmt.Sprintf("Toxiproxy %.0f MB/s", t.MBPerSec),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, x.MBPerSec/t.MBPerSec), gmib, yes(pr >= 1.0)})
		if _, y, ok := r.pair("proxymib", tRawRelay, tEpollRelay); ok {
			py := r.paired("proxymib", tRawRelay, tEpollRelay, func(s runStats) float64 { return s.MBPerSec }, ratio)
			add(row{tmib + " (reference: the C epoll relay Y)", fmt.Sprintf("%.0f MB/s", x.MBPerSec), fmt.Sprintf("Y %.0f MB/s", y.MBPerSec),
				fmt.Sprintf("%.3f × (of medians: %.3f)", py, x.MBPerSec/y.MBPerSec), "(for reference)", "—"})
		}
	} else {
		add(notRun(tmib, gmib))
	}
	tlat := fmt.Sprintf("proxy, 64 B echo, 64 conns: proxy CPU per message, framed relay with one latency fault (%s)", proxyLatency)
	const glat = "≤ 1.3 × raw relay"
	if f, x, ok := r.pair("proxy64", tFramedRelay, tRawRelay); ok {
		pr := r.paired("proxy64", tFramedRelay, tRawRelay, func(s runStats) float64 { return s.CPUPerMsgMicros }, ratio)
		add(row{tlat, fmt.Sprintf("%.2f µs", f.CPUPerMsgMicros), fmt.Sprintf("raw relay %.2f µs", x.CPUPerMsgMicros),
			fmt.Sprintf("%.3f × (of medians: %.3f)", pr, f.CPUPerMsgMicros/x.CPUPerMsgMicros), glat, yes(pr <= 1.3)})
		if g, _, ok := r.pair("proxy64", tFramedPlain, tRawRelay); ok {
			pg := r.paired("proxy64", tFramedPlain, tRawRelay, func(s runStats) float64 { return s.CPUPerMsgMicros }, ratio)
			add(row{"proxy, 64 B echo, 64 conns: proxy CPU per message, framed relay without a fault (reference: what framing costs)", fmt.Sprintf("%.2f µs", g.CPUPerMsgMicros),
				fmt.Sprintf("raw relay %.2f µs", x.CPUPerMsgMicros),
				fmt.Sprintf("%.3f × (of medians: %.3f)", pg, g.CPUPerMsgMicros/x.CPUPerMsgMicros), "(for reference)", "—"})
		}
		if l, _, ok := r.pair("proxy64", tToxiLatency, tRawRelay); ok {
			pl := r.paired("proxy64", tFramedRelay, tToxiLatency, func(s runStats) float64 { return s.CPUPerMsgMicros }, ratio)
			add(row{tlat + " (reference: Toxiproxy with a latency toxic)", fmt.Sprintf("%.2f µs", f.CPUPerMsgMicros),
				fmt.Sprintf("Toxiproxy, latency toxic %.2f µs", l.CPUPerMsgMicros),
				fmt.Sprintf("%.3f × (of medians: %.3f)", pl, f.CPUPerMsgMicros/l.CPUPerMsgMicros), "(for reference)", "—"})
		}
	} else {
		add(notRun(tlat, glat))
	}
	return rows
}
