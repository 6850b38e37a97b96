package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sockplane/sockplane/bench/internal/latency"
)

// A load is one `sockctl bench` configuration, run against several
// targets.
type load struct {
	key     string   // the row it belongs to, for --only
	name    string   // unique, for the results
	title   string   // for the report
	args    []string // sockctl bench flags, besides duration, warm-up and the address
	targets []string // keys of r.targets
}

func (r *runner) loads() []load {
	rate := strconv.FormatFloat(r.cfg.rate1000, 'f', -1, 64)
	return []load{
		{key: "tcp64", name: "tcp64", title: "64 B echo, 64 conns, closed loop", args: []string{"--conns", "64", "--size", "64"},
			targets: []string{tSockplane, tBaseline, tTutorial, tEpoll}},
		{key: "tcp1", name: "tcp1", title: "64 B echo, 1 conn, closed loop (ping-pong)", args: []string{"--conns", "1", "--size", "64"},
			targets: []string{tSockplane, tBaseline, tTutorial, tCopy}},
		{key: "tcp1000", name: "tcp1000-open", title: "64 B echo, 1,000 conns, open loop at " + rate + "/s in all", args: []string{"--conns", "1000", "--size", "64", "--rate", rate},
			targets: []string{tSockplane, tBaseline, tCopy}},
		{key: "tcp1000", name: "tcp1000-closed", title: "64 B echo, 1,000 conns, closed loop", args: []string{"--conns", "1000", "--size", "64"},
			targets: []string{tSockplane, tBaseline, tEpoll}},
		{key: "mib", name: "mib", title: "1 MiB echo, 1 conn, closed loop", args: []string{"--conns", "1", "--size", "1048576"},
			targets: []string{tSockplane, tCopy, tReadWrite, tBaseline, tEpoll}},
		{key: "udp", name: "udp", title: fmt.Sprintf("UDP 64 B echo, %d sockets, closed loop", r.cfg.udpConns), args: []string{"--udp", "--conns", strconv.Itoa(r.cfg.udpConns), "--size", "64"},
			targets: []string{tSockplane + "udp", tUDPLoop, tTutorial + "udp", tUDPBatch}},
	}
}

// runStats is one measured run of a load on a target.
type runStats struct {
	Target       string  `json:"target"`
	Run          int     `json:"run"`
	Attempts     int     `json:"attempts"`
	MsgsPerSec   float64 `json:"msgsPerSec"`
	MBPerSec     float64 `json:"mbPerSec"`
	P50Micros    float64 `json:"p50Micros"`
	P99Micros    float64 `json:"p99Micros"`
	P999Micros   float64 `json:"p999Micros"`
	Errors       int64   `json:"errors"`
	FirstFailure string  `json:"firstFailure,omitempty"`
	// Window is the wall time CPU was sampled over, inside the measured
	// time; the cores are CPU-seconds per second in it.
	WindowSecs  float64 `json:"windowSeconds"`
	ServerCores float64 `json:"serverCores"`
	ClientCores float64 `json:"clientCores"`
	// UpstreamCores is the CPU of the target's upstream (the proxy rows'
	// echo server): part of the setup, so not foreign, and not the
	// server's either.
	UpstreamCores float64 `json:"upstreamCores,omitempty"`
	ForeignCores  float64 `json:"foreignCores"`
	StealCores    float64 `json:"stealCores"`
	// CPUPerMsgMicros is server CPU-microseconds per message;
	// MsgsPerCPUSecond its inverse.
	CPUPerMsgMicros  float64 `json:"cpuPerMsgMicros"`
	MsgsPerCPUSecond float64 `json:"msgsPerCpuSecond"`
}

// summary is the medians of a target's runs of a load.
type summary struct {
	Label            string  `json:"label"`
	Runs             int     `json:"runs"`
	MsgsPerSec       float64 `json:"msgsPerSec"`
	MBPerSec         float64 `json:"mbPerSec"`
	P50Micros        float64 `json:"p50Micros"`
	P99Micros        float64 `json:"p99Micros"`
	CPUPerMsgMicros  float64 `json:"cpuPerMsgMicros"`
	MsgsPerCPUSecond float64 `json:"msgsPerCpuSecond"`
	ServerCores      float64 `json:"serverCores"`
	MaxForeignCores  float64 `json:"maxForeignCores"`
	Errors           int64   `json:"errors"`
}

type loadResult struct {
	Name    string             `json:"name"`
	Title   string             `json:"title"`
	Args    []string           `json:"args"`
	Runs    []runStats         `json:"runs"`
	Summary map[string]summary `json:"summary"` // by target key
}

// cpuSnapshot is the CPU time of the server, the client and the machine
// at one moment.
type cpuSnapshot struct {
	at                                    time.Time
	server, client, upstream, busy, steal time.Duration
}

// snapshot reads the CPU times; upstreamPID 0 means no upstream.
func snapshot(serverPID, clientPID, upstreamPID int) (cpuSnapshot, error) {
	s := cpuSnapshot{at: time.Now()}
	var err1, err2, err3, err4 error
	s.server, err1 = procCPU(serverPID)
	s.client, err2 = procCPU(clientPID)
	if upstreamPID != 0 {
		s.upstream, err4 = procCPU(upstreamPID)
	}
	s.busy, s.steal, err3 = systemCPU()
	return s, errors.Join(err1, err2, err3, err4)
}

// benchOutput is what `sockctl bench -o json` prints.
type benchOutput struct {
	Messages     int64   `json:"messages"`
	MsgsPerSec   float64 `json:"msgsPerSec"`
	MBPerSec     float64 `json:"mbPerSec"`
	P50Micros    float64 `json:"p50Micros"`
	P99Micros    float64 `json:"p99Micros"`
	P999Micros   float64 `json:"p999Micros"`
	Errors       int64   `json:"errors"`
	FirstFailure string  `json:"firstFailure"`
}

// measure runs load l against t once. With sample, it reads the CPU
// times inside the measured window: from settle after the warm-up began
// plus the warm-up (sockctl connects first, which settle covers), to
// the planned end of the measured time.
func (r *runner) measure(l load, t *target, warm, dur time.Duration, sample bool) (runStats, error) {
	argv := r.pin(r.cfg.loadCPU, r.binPath("sockctl"), "bench", "-o", "json", "--warmup", warm.String(), "--duration", dur.String())
	argv = append(append(argv, l.args...), t.addr)
	p, err := startProc("sockctl bench", argv, goEnv, stdoutWhole)
	if err != nil {
		return runStats{}, err
	}
	defer p.stop(stopGrace)
	t0 := time.Now()
	settle := 500 * time.Millisecond
	if r.cfg.quick {
		settle = 200 * time.Millisecond
	}
	var s0, s1 cpuSnapshot
	upPID := 0
	if t.upstream != nil {
		upPID = t.upstream.pid()
	}
	if sample {
		if err := r.sleepUntil(p, t0.Add(settle+warm)); err != nil {
			return runStats{}, err
		}
		if s0, err = snapshot(t.proc.pid(), p.pid(), upPID); err != nil {
			return runStats{}, err
		}
		if err := r.sleepUntil(p, t0.Add(warm+dur)); err != nil {
			return runStats{}, err
		}
		if s1, err = snapshot(t.proc.pid(), p.pid(), upPID); err != nil {
			return runStats{}, err
		}
	}
	select {
	case <-p.waited:
	case <-time.After(warm + dur + time.Minute):
		return runStats{}, fmt.Errorf("sockctl bench %s did not finish within a minute of its duration", t.addr)
	case <-r.ctx.Done():
		return runStats{}, r.ctx.Err()
	}
	var out benchOutput
	if err := json.Unmarshal(p.stdout.Bytes(), &out); err != nil {
		return runStats{}, fmt.Errorf("sockctl bench %s: %v (%v): %s", t.addr, p.err, err, p.stderr.String())
	}
	res := runStats{
		Target: t.key, MsgsPerSec: out.MsgsPerSec, MBPerSec: out.MBPerSec, P50Micros: out.P50Micros, P99Micros: out.P99Micros,
		P999Micros: out.P999Micros, Errors: out.Errors, FirstFailure: out.FirstFailure,
	}
	if sample {
		w := s1.at.Sub(s0.at).Seconds()
		res.WindowSecs = w
		res.ServerCores = (s1.server - s0.server).Seconds() / w
		res.ClientCores = (s1.client - s0.client).Seconds() / w
		res.UpstreamCores = (s1.upstream - s0.upstream).Seconds() / w
		res.ForeignCores = max(0, (s1.busy-s0.busy).Seconds()/w-res.ServerCores-res.ClientCores-res.UpstreamCores)
		res.StealCores = (s1.steal - s0.steal).Seconds() / w
		if res.MsgsPerSec > 0 && res.ServerCores > 0 {
			res.CPUPerMsgMicros = res.ServerCores / res.MsgsPerSec * 1e6
			res.MsgsPerCPUSecond = res.MsgsPerSec / res.ServerCores
		}
	}
	return res, nil
}

// sleepUntil waits for t, and fails if p exits first.
func (r *runner) sleepUntil(p *proc, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-p.waited:
		return fmt.Errorf("%s exited early (%v): %s%s", p.name, p.err, p.stdout.String(), p.stderr.String())
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// runLoad warms each target up, then runs the load --runs times on each,
// the targets taking turns (starting with a different one each round).
func (r *runner) runLoad(l load) error {
	lr := loadResult{Name: l.name, Title: l.title, Args: l.args, Summary: map[string]summary{}}
	defer func() { r.res.Loads = append(r.res.Loads, lr) }()
	if r.cfg.prewarm > 0 {
		for _, k := range l.targets {
			logf("%s: warming up %s", l.name, k)
			if _, err := r.measure(l, r.targets[k], 0, r.cfg.prewarm, false); err != nil {
				return err
			}
		}
	}
	for i := range r.cfg.runs {
		for j := range l.targets {
			k := l.targets[(i+j)%len(l.targets)]
			t := r.targets[k]
			var best runStats
			for attempt := 0; ; attempt++ {
				res, err := r.measure(l, t, r.cfg.warmup, r.cfg.duration, true)
				if err != nil {
					return err
				}
				res.Run, res.Attempts = i+1, attempt+1
				if attempt == 0 || res.ForeignCores < best.ForeignCores {
					best = res
				}
				if res.ForeignCores <= r.cfg.maxForeign || attempt >= r.cfg.retries {
					break
				}
				logf("%s %s run %d: other processes used %.2f cores; again", l.name, k, i+1, res.ForeignCores)
				time.Sleep(2 * time.Second)
			}
			logf("%s %s run %d: %.0f msgs/s, %.1f MB/s, p50 %.1fµs, p99 %.1fµs, server %.2f cores, %.2f µs CPU/msg, upstream %.2f, foreign %.2f, errors %d",
				l.name, k, i+1, best.MsgsPerSec, best.MBPerSec, best.P50Micros, best.P99Micros, best.ServerCores, best.CPUPerMsgMicros, best.UpstreamCores, best.ForeignCores, best.Errors)
			lr.Runs = append(lr.Runs, best)
		}
	}
	for _, k := range l.targets {
		var rs []runStats
		for _, x := range lr.Runs {
			if x.Target == r.targets[k].key {
				rs = append(rs, x)
			}
		}
		s := summary{Label: r.targets[k].label, Runs: len(rs)}
		med := func(f func(runStats) float64) float64 {
			v := make([]float64, len(rs))
			for i, x := range rs {
				v[i] = f(x)
			}
			return latency.Median(v)
		}
		s.MsgsPerSec = med(func(x runStats) float64 { return x.MsgsPerSec })
		s.MBPerSec = med(func(x runStats) float64 { return x.MBPerSec })
		s.P50Micros = med(func(x runStats) float64 { return x.P50Micros })
		s.P99Micros = med(func(x runStats) float64 { return x.P99Micros })
		s.CPUPerMsgMicros = med(func(x runStats) float64 { return x.CPUPerMsgMicros })
		s.MsgsPerCPUSecond = med(func(x runStats) float64 { return x.MsgsPerCPUSecond })
		s.ServerCores = med(func(x runStats) float64 { return x.ServerCores })
		for _, x := range rs {
			s.MaxForeignCores = max(s.MaxForeignCores, x.ForeignCores)
			s.Errors += x.Errors
		}
		lr.Summary[r.targets[k].key] = s
	}
	var errs []error
	for k, s := range lr.Summary {
		if s.Errors > 0 {
			errs = append(errs, fmt.Errorf("%s on %s: %d errors", l.name, k, s.Errors))
		}
	}
	return errors.Join(errs...)
}
