package main

import (
	"errors"
	"fmt"
	"time"
)

// Target keys of the proxy rows (issue 13). Each is a proxy in front of
// the same echo upstream; only the proxy's own CPU is counted.
const (
	tRawRelay     = "X" // sockplane HANDLER_PROXY, FRAMING_RAW both ways
	tFramedRelay  = "F" // sockplane HANDLER_PROXY, JSON-header framing, one latency fault
	tToxiproxy    = "T" // Toxiproxy, no toxic
	tToxiLatency  = "L" // Toxiproxy with one latency toxic, for reference
	tFramedPlain  = "G" // sockplane HANDLER_PROXY, JSON-header framing, no fault: what framing alone costs
	tEpollRelay   = "Y" // bench/epoll/relay.c, built by run.sh as epoll-relay: a relay with nothing else in its process
	proxyLatency  = time.Millisecond
	proxyUpstream = "baseline --mode %s (upstream)" // the upstream process's name
)

// proxyLoads are the loads of the proxy rows: the 64 B load drives every
// proxy, the 1 MiB load the two raw relays.
func (r *runner) proxyLoads() []load {
	return []load{
		{key: "proxy", name: "proxy64", title: "proxy: 64 B echo, 64 conns, closed loop", args: []string{"--conns", "64", "--size", "64"},
			targets: []string{tRawRelay, tToxiproxy, tFramedRelay, tToxiLatency, tFramedPlain, tEpollRelay}},
		{key: "proxy", name: "proxymib", title: "proxy: 1 MiB echo, 1 conn, closed loop", args: []string{"--conns", "1", "--size", "1048576"},
			targets: []string{tRawRelay, tToxiproxy, tEpollRelay}},
	}
}

// proxy runs the proxy rows: one echo upstream, a daemon with three
// proxy listeners and Toxiproxy with two proxies, all on the server CPU.
// The load is the framed echo load of the other rows either way: a raw
// relay passes the frames through as bytes.
func (r *runner) proxy() error {
	if err := r.startProxies(); err != nil {
		r.res.Failures = append(r.res.Failures, fmt.Sprintf("proxy: %v", err))
		return err
	}
	var errs []error
	for _, l := range r.proxyLoads() {
		if err := r.runLoad(l); err != nil {
			logf("%s: %v", l.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			r.res.Failures = append(r.res.Failures, fmt.Sprintf("%s: %v", l.name, err))
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// startProxies starts the upstream and the six proxies in front of it.
func (r *runner) startProxies() error {
	r.targets = map[string]*target{}
	mode := r.cfg.proxyUpstream
	up, err := startProc(fmt.Sprintf(proxyUpstream, mode), r.pin(r.cfg.serverCPU, r.binPath("baseline"), "--mode", mode), goEnv, stdoutLines)
	if err != nil {
		return err
	}
	m, err := up.waitLine(addrLine, startTimeout)
	if err != nil {
		return err
	}
	upstream := m[1]
	logf("proxy: upstream bench/baseline --mode %s at %s (pid %d)", mode, upstream, up.pid())

	d, err := r.startDaemon("sockplane (proxy)", "")
	if err != nil {
		return err
	}
	const spec = `{"id":"%s","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_PROXY",` +
		`"proxy":{"upstream":"%s"},"limits":{"maxConnections":4096}%s}`
	raw, err := d.createListener(fmt.Sprintf(spec, "relay-raw", upstream, `,"framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"}`))
	if err != nil {
		return err
	}
	framed, err := d.createListener(fmt.Sprintf(spec, "relay-framed", upstream, fmt.Sprintf(`,"faults":[{"latency":{"delay":"%s"}}]`, proxyLatency)))
	if err != nil {
		return err
	}
	plainFramed, err := d.createListener(fmt.Sprintf(spec, "relay-framed-plain", upstream, ""))
	if err != nil {
		return err
	}
	r.targets[tFramedPlain] = &target{key: tFramedPlain, label: "sockplane HANDLER_PROXY, JSON-header framing, no fault", addr: plainFramed, proc: d.proc}
	r.targets[tRawRelay] = &target{key: tRawRelay, label: "sockplane HANDLER_PROXY, FRAMING_RAW both ways (raw relay)", addr: raw, proc: d.proc}
	r.targets[tFramedRelay] = &target{key: tFramedRelay, label: fmt.Sprintf("sockplane HANDLER_PROXY, JSON-header framing, one latency fault of %s on replies", proxyLatency), addr: framed, proc: d.proc}

	tp, err := r.startToxiproxy()
	if err != nil {
		return err
	}
	plain, err := tp.createProxy("bench", upstream)
	if err != nil {
		return err
	}
	slow, err := tp.createProxy("bench-latency", upstream)
	if err != nil {
		return err
	}
	if err := tp.addLatency("bench-latency", proxyLatency); err != nil {
		return err
	}
	r.targets[tToxiproxy] = &target{key: tToxiproxy, label: "Toxiproxy " + r.cfg.toxiproxyVersion + ", no toxic", addr: plain, proc: tp.proc}
	r.targets[tToxiLatency] = &target{key: tToxiLatency, label: fmt.Sprintf("Toxiproxy %s, one latency toxic of %s downstream", r.cfg.toxiproxyVersion, proxyLatency), addr: slow, proc: tp.proc}
	if err := r.startEpollRelay(upstream); err != nil {
		return err
	}
	for k, t := range r.targets {
		t.upstream = up
		logf("proxy %s: %s at %s (pid %d)", k, t.label, t.addr, t.proc.pid())
	}
	return nil
}

// startEpollRelay starts Y, the single-threaded C epoll relay, in front
// of upstream: what a relay costs on this machine with nothing else in
// the process, the floor the proxy rows' ratios are read against.
func (r *runner) startEpollRelay(upstream string) error {
	return r.startCReference(tEpollRelay, "epoll-relay", "hand-tuned single-threaded C epoll relay (bench/epoll/relay.c)", "127.0.0.1:0", upstream)
}
