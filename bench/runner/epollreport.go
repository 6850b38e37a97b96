package main

import "fmt"

// epollRows compares sockplane with E, the C epoll reference of issue
// 15, on the loads the issue names: CPU per message at 64 and 1,000
// connections (the targets), and 1 MiB throughput (information only: the
// issue's 1 MiB target is against the best Go reference).
func (r *runner) epollRows() []row {
	var rows []row
	cpu := func(x runStats) float64 { return x.MsgsPerCPUSecond }
	for _, c := range []struct {
		name, load string
		min        float64
	}{
		{"tcp64", "64 B echo, 64 conns: msgs per server CPU-second, vs E (issue 15)", 0.95},
		{"tcp1000-closed", "64 B echo, 1,000 conns (closed loop): msgs per server CPU-second, vs E (issue 15)", 0.9},
	} {
		target := fmt.Sprintf("≥ %.2f × E", c.min)
		s, e, ok := r.pair(c.name, tSockplane, tEpoll)
		if !ok {
			rows = append(rows, notRun(c.load, target))
			continue
		}
		pr := r.paired(c.name, tSockplane, tEpoll, cpu, ratio)
		rows = append(rows, row{c.load, fmt.Sprintf("%.0f", s.MsgsPerCPUSecond), fmt.Sprintf("E %.0f", e.MsgsPerCPUSecond),
			fmt.Sprintf("%.3f × E (of medians: %.3f)", pr, s.MsgsPerCPUSecond/e.MsgsPerCPUSecond), target, yes(pr >= c.min)})
	}
	const tmib = "1 MiB echo, 1 conn: throughput, vs E (issue 15)"
	if s, e, ok := r.pair("mib", tSockplane, tEpoll); ok {
		pr := r.paired("mib", tSockplane, tEpoll, func(x runStats) float64 { return x.MBPerSec }, ratio)
		rows = append(rows, row{tmib, fmt.Sprintf("%.0f MB/s", s.MBPerSec), fmt.Sprintf("E %.0f MB/s", e.MBPerSec),
			fmt.Sprintf("%.3f × E (of medians: %.3f)", pr, s.MBPerSec/e.MBPerSec), "(for reference)", "—"})
	} else {
		rows = append(rows, notRun(tmib, "(for reference)"))
	}
	return rows
}
