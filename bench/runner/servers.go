package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// A target is one server socket a load can be pointed at.
type target struct {
	key   string // S, B, C, R, U, P, E
	label string
	addr  string
	proc  *proc
	// upstream, if set, is a process the target relays to: its CPU is
	// measured apart, neither the server's nor foreign.
	upstream *proc
}

// Target keys.
const (
	tSockplane    = "S" // a sockplane listener
	tBaseline     = "B" // bench/baseline --mode framed
	tCopy         = "C" // bench/baseline --mode copy
	tReadWrite    = "R" // bench/baseline --mode readwrite
	tUDPLoop      = "U" // bench/baseline --mode udp
	tTutorial     = "P" // bench/tutorial_server.py
	tEpoll        = "E" // bench/epoll/echo.c, built by run.sh as epoll-echo
	tUDPBatch     = "W" // bench/epoll/udpbatch.c, built by run.sh as epoll-udpbatch
	startTimeout  = 15 * time.Second
	stopGrace     = 5 * time.Second
	daemonLogLine = `sockplane serving.* grpc=(\S+) http=(\S+)`
)

var (
	addrLine   = regexp.MustCompile(`^(\S+:\d+)$`)
	daemonLine = regexp.MustCompile(daemonLogLine)
)

// daemon is a running sockplane.
type daemon struct {
	proc       *proc
	grpc, http string
}

// startDaemon starts sockplane on the server CPU with dataDir ("":
// memory only).
func (r *runner) startDaemon(name, dataDir string, extra ...string) (*daemon, error) {
	argv := r.pin(r.cfg.serverCPU, append([]string{r.binPath("sockplane"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--max-listeners", "1000"}, extra...)...)
	p, err := startProc(name, argv, goEnv, stderrLines)
	if err != nil {
		return nil, err
	}
	m, err := p.waitLine(daemonLine, startTimeout)
	if err != nil {
		return nil, err
	}
	// Keep draining the log so the daemon never blocks on a full pipe.
	go func() {
		for range p.lines {
		}
	}()
	return &daemon{proc: p, grpc: m[1], http: m[2]}, nil
}

// createListener creates a listener over REST and returns its bound
// address.
func (d *daemon) createListener(spec string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+d.http+"/v1/listeners", bytes.NewBufferString(spec))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create listener %s: %s: %s", spec, resp.Status, b)
	}
	var l struct {
		Status struct {
			BoundAddress string `json:"boundAddress"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return "", err
	}
	return l.Status.BoundAddress, nil
}

// startServers starts every server of the load rows on the server CPU:
// the daemon with a TCP and a UDP echo listener, the baseline modes, the
// C epoll reference and the tutorial's two servers. They all stay up for all the loads, so
// the servers can take turns run by run; an idle one costs nothing.
func (r *runner) startServers() error {
	r.targets = map[string]*target{}
	d, err := r.startDaemon("sockplane", "")
	if err != nil {
		return err
	}
	for _, t := range []struct{ key, transport string }{{tSockplane, "TCP"}, {tSockplane + "udp", "UDP"}} {
		spec := fmt.Sprintf(`{"id":"bench-%s","transport":"TRANSPORT_%s","address":"127.0.0.1:0","handler":"HANDLER_ECHO",`+
			`"limits":{"maxConnections":4096}}`, map[string]string{"TCP": "tcp", "UDP": "udp"}[t.transport], t.transport)
		addr, err := d.createListener(spec)
		if err != nil {
			return err
		}
		r.targets[t.key] = &target{key: tSockplane, label: "sockplane " + t.transport + " echo listener", addr: addr, proc: d.proc}
	}
	for _, b := range []struct{ key, mode, label string }{
		{tBaseline, "framed", "plain goroutine-per-connection framed echo (bench/baseline --mode framed)"},
		{tCopy, "copy", "plain io.Copy echo, splice(2) (bench/baseline --mode copy)"},
		{tReadWrite, "readwrite", "plain read/write echo through a 32 KiB buffer (bench/baseline --mode readwrite)"},
		{tUDPLoop, "udp", "bare ReadFrom/WriteTo loop (bench/baseline --mode udp)"},
	} {
		p, err := startProc("baseline "+b.mode, r.pin(r.cfg.serverCPU, r.binPath("baseline"), "--mode", b.mode), goEnv, stdoutLines)
		if err != nil {
			return err
		}
		m, err := p.waitLine(addrLine, startTimeout)
		if err != nil {
			return err
		}
		r.targets[b.key] = &target{key: b.key, label: b.label, addr: m[1], proc: p}
	}
	if err := r.startEpoll(); err != nil {
		return err
	}
	if err := r.startUDPBatch(); err != nil {
		return err
	}
	for _, t := range []struct{ key, kind string }{{tTutorial, "tcp"}, {tTutorial + "udp", "udp"}} {
		p, err := startProc("tutorial "+t.kind, r.pin(r.cfg.serverCPU, r.cfg.python, r.cfg.tutorial, t.kind), nil, stdoutLines)
		if err != nil {
			return err
		}
		m, err := p.waitLine(addrLine, startTimeout)
		if err != nil {
			return err
		}
		r.targets[t.key] = &target{key: tTutorial, label: "the tutorial's socketserver Threading" + map[string]string{"tcp": "TCP", "udp": "UDP"}[t.kind] + "Server (python3)", addr: m[1], proc: p}
	}
	for k, t := range r.targets {
		logf("server %s: %s at %s (pid %d)", k, t.label, t.addr, t.proc.pid())
	}
	return nil
}

// startEpoll starts E, the single-threaded C epoll echo of issue 15.
func (r *runner) startEpoll() error {
	return r.startCReference(tEpoll, "epoll-echo", "hand-tuned single-threaded C epoll framed echo (bench/epoll/echo.c)")
}

// startUDPBatch starts W, the C recvmmsg/sendmmsg echo: how far batching
// alone takes a server past the bare loop on the UDP load.
func (r *runner) startUDPBatch() error {
	return r.startCReference(tUDPBatch, "epoll-udpbatch", "hand-tuned C UDP echo, recvmmsg/sendmmsg batches (bench/epoll/udpbatch.c)")
}

// startCReference starts one of the C references of bench/epoll, built
// by bench/run.sh as bin, pinned to the server CPU, and takes the address
// it prints (like bench/baseline) as target key's. Not a Go process: no
// GOMAXPROCS.
func (r *runner) startCReference(key, bin, label string, args ...string) error {
	p, err := startProc(bin, r.pin(r.cfg.serverCPU, append([]string{r.binPath(bin)}, args...)...), nil, stdoutLines)
	if err != nil {
		return fmt.Errorf("start %s (built by bench/run.sh): %w", bin, err)
	}
	m, err := p.waitLine(addrLine, startTimeout)
	if err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	r.targets[key] = &target{key: key, label: label, addr: m[1], proc: p}
	return nil
}
