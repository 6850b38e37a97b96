// Command runner is bench/run.sh's engine: it starts sockplane, the plain
// standard-library baseline (bench/baseline) and the tutorial's Python
// socketserver servers (bench/tutorial_server.py) side by side, drives
// each with the same `sockctl bench` loads, measures the idle-connection
// memory (bench/idle), the create-listener latency (bench/createlat) and
// the API under concurrent creates (bench/contention), compares
// sockplane's proxy listener with Toxiproxy in front of one echo upstream
// (proxy.go), and prints the
// results as a markdown table, one row per target of docs/PERFORMANCE.md.
//
// Method: the servers run on one CPU (--server-cpu) and every load
// generator on another (--load-cpu), through taskset, each Go process
// with GOMAXPROCS=1. Each load first runs untimed on each server
// (--prewarm), then --runs times per server, the servers taking turns,
// each run with its own --warmup before its --duration measured. Results
// are the medians of the runs; a ratio between two servers is the median
// over the rounds of the ratio of their two runs in the same round, which
// cancels the machine's drift between rounds. A server's CPU time comes from utime +
// stime in /proc/<pid>/stat, sampled inside the measured window; the CPU
// time of every other process on the machine in the same window is
// reported as "foreign" load, and a run with more than --max-foreign
// cores of it is run again (up to --retries times; the quietest attempt
// counts).
//
// Use bench/run.sh, which builds the binaries and raises the descriptor
// limit first.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin        string // directory of the built binaries
	python     string
	tutorial   string // bench/tutorial_server.py
	quick      bool
	runs       int
	duration   time.Duration
	warmup     time.Duration
	prewarm    time.Duration
	serverCPU  string
	loadCPU    string
	out        string
	jsonOut    string
	dataParent string
	clkTck     int
	maxForeign float64
	retries    int
	only       string
	rate1000   float64
	udpConns   int
	idleN      int
	createN    int
	contendN   int
	from       string
	// The proxy rows: the upstream's bench/baseline mode, and the
	// version of Toxiproxy run.sh installed (for the labels).
	proxyUpstream    string
	toxiproxyVersion string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "", "directory holding sockplane, sockctl, baseline, idle, createlat and contention (required)")
	fs.StringVar(&c.python, "python", "python3", "the Python interpreter for the tutorial's servers")
	fs.StringVar(&c.tutorial, "tutorial", "bench/tutorial_server.py", "the tutorial's servers")
	fs.BoolVar(&c.quick, "quick", false, "smoke form: one short run of each load, small idle and create counts")
	fs.IntVar(&c.runs, "runs", 5, "measured runs per load and server (medians are reported)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time of each run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load at the start of each run")
	fs.DurationVar(&c.prewarm, "prewarm", 2*time.Second, "untimed run of each load on each server before the measured runs")
	fs.StringVar(&c.serverCPU, "server-cpu", "0", "CPU the servers are pinned to")
	fs.StringVar(&c.loadCPU, "load-cpu", "1", "CPU the load generators are pinned to")
	fs.StringVar(&c.out, "out", "", "also write the markdown report here")
	fs.StringVar(&c.jsonOut, "json", "", "write every run's raw numbers here, as JSON")
	fs.StringVar(&c.dataParent, "data-parent", os.TempDir(), "where the data directory of the create-latency run with a real store is made")
	fs.IntVar(&c.clkTck, "clk-tck", 100, "clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK)")
	fs.Float64Var(&c.maxForeign, "max-foreign", 0.15, "a run during which other processes used more than this many cores is run again")
	fs.IntVar(&c.retries, "retries", 3, "how many times a run disturbed by other processes is run again")
	fs.StringVar(&c.only, "only", "", "comma-separated subset of rows: tcp64,tcp1,tcp1000,mib,udp,proxy,idle,create,contention (default: all)")
	fs.Float64Var(&c.rate1000, "rate-1000", 20000, "total request rate of the open-loop 1,000-connection load, per second")
	fs.IntVar(&c.udpConns, "udp-conns", 8, "UDP sockets of the UDP load")
	fs.IntVar(&c.idleN, "idle-n", 100000, "idle connections to open (fewer if the descriptor limit is lower)")
	fs.IntVar(&c.createN, "create-n", 1000, "listeners createlat creates on each daemon, half over each API")
	fs.IntVar(&c.contendN, "contention-n", 64, "creates bench/contention times from 16 concurrent clients and from one")
	fs.StringVar(&c.proxyUpstream, "proxy-upstream", "copy", "bench/baseline mode of the echo upstream behind the proxies: copy (io.Copy, the cheapest) or framed")
	fs.StringVar(&c.toxiproxyVersion, "toxiproxy-version", "(version not given)", "the Toxiproxy version run.sh installed as toxiproxy-server, for the report")
	fs.StringVar(&c.from, "from", "", "measure nothing: print the report of a --json file written before")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.from != "" {
		b, err := os.ReadFile(c.from)
		if err != nil {
			return err
		}
		r := &runner{cfg: c}
		if err := json.Unmarshal(b, &r.res); err != nil {
			return fmt.Errorf("%s: %w", c.from, err)
		}
		r.env = r.res.Env
		fmt.Print(r.markdown())
		return nil
	}
	if c.bin == "" {
		return errors.New("--bin is required")
	}
	if c.clkTck <= 0 {
		return errors.New("--clk-tck must be positive")
	}
	clockTick = time.Second / time.Duration(c.clkTck)
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("runs", func() { c.runs = 1 })
		def("duration", func() { c.duration = time.Second })
		def("warmup", func() { c.warmup = 300 * time.Millisecond })
		def("prewarm", func() { c.prewarm = 0 })
		def("retries", func() { c.retries = 0 })
		def("idle-n", func() { c.idleN = 2000 })
		def("create-n", func() { c.createN = 40 })
		def("contention-n", func() { c.contendN = 32 })
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer stopAll()

	r := &runner{cfg: c, ctx: ctx, env: environment(c)}
	if path, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		r.taskset = path
	} else {
		r.env.Pinning = "none (taskset missing or one CPU): results are not comparable with pinned runs"
		fmt.Fprintln(os.Stderr, "runner: warning:", r.env.Pinning)
	}
	err := r.all()
	stopAll()
	report := r.markdown()
	fmt.Print(report)
	if c.out != "" {
		if werr := os.WriteFile(c.out, []byte(report), 0o644); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(r.res, "", "  ")
		if werr := os.WriteFile(c.jsonOut, b, 0o644); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

// runner holds the servers and the results.
type runner struct {
	cfg     config
	ctx     context.Context
	taskset string
	env     env
	targets map[string]*target
	res     results
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *runner) want(row string) bool {
	if r.cfg.only == "" {
		return true
	}
	for _, s := range strings.Split(r.cfg.only, ",") {
		if strings.TrimSpace(s) == row {
			return true
		}
	}
	return false
}

// all runs every row asked for, in order; a row that fails is recorded
// and the others still run.
func (r *runner) all() error {
	var errs []error
	if r.want("tcp64") || r.want("tcp1") || r.want("tcp1000") || r.want("mib") || r.want("udp") {
		if err := r.startServers(); err != nil {
			return err
		}
		for _, l := range r.loads() {
			if !r.want(l.key) {
				continue
			}
			if err := r.runLoad(l); err != nil {
				logf("%s: %v", l.key, err)
				errs = append(errs, fmt.Errorf("%s: %w", l.key, err))
				r.res.Failures = append(r.res.Failures, fmt.Sprintf("%s: %v", l.key, err))
			}
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
		}
		stopAll()
	}
	if r.want("proxy") {
		if err := r.proxy(); err != nil {
			logf("proxy: %v", err)
			errs = append(errs, fmt.Errorf("proxy: %w", err))
		}
		stopAll()
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
	if r.want("idle") {
		if err := r.idle(); err != nil {
			logf("idle: %v", err)
			errs = append(errs, fmt.Errorf("idle: %w", err))
			r.res.Failures = append(r.res.Failures, fmt.Sprintf("idle: %v", err))
		}
		stopAll()
	}
	if r.want("create") {
		for _, disk := range []bool{false, true} {
			if err := r.create(disk); err != nil {
				logf("create: %v", err)
				errs = append(errs, fmt.Errorf("create (disk %t): %w", disk, err))
				r.res.Failures = append(r.res.Failures, fmt.Sprintf("create (disk store %t): %v", disk, err))
			}
			stopAll()
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
		}
		if err := r.createCluster(); err != nil {
			logf("create (cluster): %v", err)
			errs = append(errs, fmt.Errorf("create (cluster): %w", err))
			r.res.Failures = append(r.res.Failures, fmt.Sprintf("create (cluster, through a non-owner node): %v", err))
		}
		stopAll()
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
	if r.want("contention") {
		if err := r.contention(); err != nil {
			logf("contention: %v", err)
			errs = append(errs, fmt.Errorf("contention: %w", err))
			r.res.Failures = append(r.res.Failures, fmt.Sprintf("contention: %v", err))
		}
		stopAll()
	}
	return errors.Join(errs...)
}

// env describes the machine and the method, for the report.
type env struct {
	Date      string `json:"date"`
	Kernel    string `json:"kernel"`
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	Go        string `json:"go"`
	Python    string `json:"python"`
	Pinning   string `json:"pinning"`
	Runs      int    `json:"runs"`
	Duration  string `json:"duration"`
	Warmup    string `json:"warmup"`
	Prewarm   string `json:"prewarm"`
	Quick     bool   `json:"quick"`
	FDLimit   uint64 `json:"fdLimit"`
	NROpen    string `json:"nrOpen"`
	PortRange string `json:"portRange"`
	// The proxy rows' upstream (bench/baseline mode) and Toxiproxy.
	ProxyUpstream string `json:"proxyUpstream,omitempty"`
	Toxiproxy     string `json:"toxiproxy,omitempty"`
}

func environment(c config) env {
	e := env{
		Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), CPUs: runtime.NumCPU(), Go: runtime.Version(),
		ProxyUpstream: c.proxyUpstream, Toxiproxy: c.toxiproxyVersion,
		Runs: c.runs, Duration: c.duration.String(), Warmup: c.warmup.String(), Prewarm: c.prewarm.String(), Quick: c.quick,
		Pinning: fmt.Sprintf("servers on CPU %s, load generators on CPU %s (taskset); Go processes with GOMAXPROCS=1", c.serverCPU, c.loadCPU),
	}
	e.Kernel = readTrim("/proc/sys/kernel/osrelease")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command(c.python, "--version").CombinedOutput(); err == nil {
		e.Python = strings.TrimSpace(string(out))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		e.FDLimit = lim.Cur
	}
	e.NROpen = readTrim("/proc/sys/fs/nr_open")
	e.PortRange = strings.Join(strings.Fields(readTrim("/proc/sys/net/ipv4/ip_local_port_range")), "-")
	return e
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// bin is the path of a built binary.
func (r *runner) binPath(name string) string { return filepath.Join(r.cfg.bin, name) }

// goEnv is the environment of every Go process: one P, on its one CPU.
var goEnv = []string{"GOMAXPROCS=1"}
