package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// results are everything measured.
type results struct {
	Env      env          `json:"env"`
	Loads    []loadResult `json:"loads"`
	Idle     []idleResult `json:"idle,omitempty"`
	Create   []createRun  `json:"create,omitempty"`
	Failures []string     `json:"failures,omitempty"`

	// Contention is bench/contention's run, if it ran.
	Contention *contentionRun `json:"contention,omitempty"`
}

// idleResult is bench/idle's output, and what limited the count.
type idleResult struct {
	Roundtrip       bool    `json:"roundtrip"`
	Requested       int     `json:"requested"`
	Opened          int     `json:"opened"`
	Failed          int     `json:"failed"`
	FirstError      string  `json:"firstError"`
	Sources         int     `json:"sources"`
	OpenSecs        float64 `json:"openSeconds"`
	Active          float64 `json:"active"`
	PerConnGoBytes  float64 `json:"perConnGoBytes"`
	PerConnHeap     float64 `json:"perConnHeapBytes"`
	PerConnLiveHeap float64 `json:"perConnLiveHeapBytes"`
	PerConnStack    float64 `json:"perConnStackBytes"`
	PerConnRSSBytes float64 `json:"perConnRSSBytes"`
	Before          memory  `json:"before"`
	After           memory  `json:"after"`
	// Limit says what kept the count below the target, if anything.
	Limit string `json:"limit,omitempty"`
}

type memory struct {
	HeapInuse  float64 `json:"heapInuse"`
	HeapAlloc  float64 `json:"heapAlloc"`
	StackInuse float64 `json:"stackInuse"`
	RSS        float64 `json:"rss"`
	Goroutines float64 `json:"goroutines"`
}

// idleTarget is the count of idle connections.
const idleTarget = 100000

// fdMargin is the descriptors left for everything but the connections:
// the daemon's API sockets, store, epoll and pipes; the client's too.
const fdMargin = 200

// idle opens as many idle connections to a fresh daemon as the
// descriptor limit allows, up to --idle-n, and measures the daemon's Go
// memory per connection: once with connections that never sent a byte,
// once with connections that each had one echo answered first (only the
// latter with --quick).
func (r *runner) idle() error {
	kinds := []bool{false, true}
	if r.cfg.quick {
		kinds = []bool{true} // the stricter of the two
	}
	for _, roundtrip := range kinds {
		res, err := r.idleOnce(roundtrip)
		if res != nil {
			r.res.Idle = append(r.res.Idle, *res)
		}
		stopAll()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) idleOnce(roundtrip bool) (*idleResult, error) {
	n := r.cfg.idleN
	res := &idleResult{}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return res, err
	}
	if room := int(lim.Cur) - fdMargin; n > room {
		n = room
		res.Limit = fmt.Sprintf("RLIMIT_NOFILE is %d (hard %d) for the daemon, which holds one descriptor per connection; "+
			"raising the hard limit needs CAP_SYS_RESOURCE (fs.nr_open is %s)", lim.Cur, lim.Max, r.env.NROpen)
	}
	d, err := r.startDaemon("sockplane (idle)", "")
	if err != nil {
		return res, err
	}
	addr, err := d.createListener(`{"id":"idle","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_ECHO",` +
		`"limits":{"maxConnections":1048576,"idleTimeout":"0s"}}`)
	if err != nil {
		return res, err
	}
	logf("idle: opening %d connections to %s (one echo each first: %t)", n, addr, roundtrip)
	argv := r.pin(r.cfg.loadCPU, r.binPath("idle"), "--addr", addr, "--n", strconv.Itoa(n),
		"--metrics", "http://"+d.http+"/metrics", "--listener", "idle", "--roundtrip="+strconv.FormatBool(roundtrip))
	if r.cfg.quick {
		argv = append(argv, "--settle", "1500ms") // past the 1 s after which a connection parks
	}
	out, err := runProc(r.ctx, "idle", argv, goEnv, 5*time.Minute)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out, res); err != nil {
		return res, fmt.Errorf("idle printed %q: %w", out, err)
	}
	logf("idle: %d of %d open (%d failed, one echo each first: %t), %.0f B of Go memory each (heap %.0f, stacks %.0f)",
		res.Opened, res.Requested, res.Failed, roundtrip, res.PerConnGoBytes, res.PerConnHeap, res.PerConnStack)
	if res.Failed > 0 {
		return res, fmt.Errorf("%d connections failed: %s", res.Failed, res.FirstError)
	}
	if int(res.Active) != res.Opened {
		return res, fmt.Errorf("the listener counts %.0f connections active, not %d", res.Active, res.Opened)
	}
	return res, nil
}

// createRun is one daemon's create-latency measurement.
type createRun struct {
	Store   string       `json:"store"` // "memory", "bbolt" or "etcd" (a cluster, through a non-owner)
	DataDir string       `json:"dataDir,omitempty"`
	Result  createResult `json:"result"`
}

type createResult struct {
	GRPC         latStats `json:"grpc"`
	REST         latStats `json:"rest"`
	Created      int      `json:"created"`
	Serving      int      `json:"serving"`
	FirstFailure string   `json:"firstFailure"`
	Floor        struct {
		GRPCGet latStats `json:"grpcGet"`
		RESTGet latStats `json:"restGet"`
		Dial    latStats `json:"dial"`
	} `json:"floor"`
	Fsync       *latStats `json:"fsync"`
	FsyncAppend *latStats `json:"fsyncAppend"`
}

type latStats struct {
	N       int     `json:"n"`
	P50     float64 `json:"p50Micros"`
	P90     float64 `json:"p90Micros"`
	P99     float64 `json:"p99Micros"`
	Max     float64 `json:"maxMicros"`
	Mean    float64 `json:"meanMicros"`
	CallP50 float64 `json:"callP50Micros"`
}

// create measures create-listener latency on a daemon without a store
// (disk false) or with one in a new data directory (disk true).
func (r *runner) create(disk bool) error {
	cr := createRun{Store: "memory"}
	dataDir := ""
	if disk {
		var err error
		if dataDir, err = os.MkdirTemp(r.cfg.dataParent, "sockplane-bench-data-"); err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
		cr.Store, cr.DataDir = "bbolt", dataDir
	}
	d, err := r.startDaemon("sockplane (create, "+cr.Store+")", dataDir)
	if err != nil {
		return err
	}
	var extra []string
	if disk {
		extra = []string{"--fsync-dir", dataDir}
	}
	return r.timeCreates(cr, d, extra...)
}

// createCluster measures create-listener latency through a cluster node
// for a listener another node serves: devetcd (one member, its data on
// disk, fsynced) and two daemons, a and b, all on the server CPU; the
// creates go to a with node b.
func (r *runner) createCluster() error {
	dataDir, err := os.MkdirTemp(r.cfg.dataParent, "sockplane-bench-etcd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	client, peer, err := freeLoopbackPorts()
	if err != nil {
		return err
	}
	etcdURL := "http://" + client
	p, err := startProc("devetcd", r.pin(r.cfg.serverCPU, r.binPath("devetcd"), "--listen-client", etcdURL,
		"--listen-peer", "http://"+peer, "--data-dir", dataDir), goEnv, stderrLines)
	if err != nil {
		return err
	}
	if _, err := p.waitLine(regexp.MustCompile(`etcd serving clients`), startTimeout); err != nil {
		return err
	}
	go func() {
		for range p.lines {
		}
	}()
	var nodes []*daemon
	for _, name := range []string{"a", "b"} {
		d, err := r.startDaemon("sockplane (cluster node "+name+")", "", "--etcd-endpoints", etcdURL, "--node", name)
		if err != nil {
			return err
		}
		nodes = append(nodes, d)
	}
	return r.timeCreates(createRun{Store: "etcd", DataDir: dataDir}, nodes[0], "--node", "b", "--fsync-dir", dataDir)
}

// freeLoopbackPorts returns two loopback host:ports that were free a
// moment ago (devetcd's client and peer URLs).
func freeLoopbackPorts() (string, string, error) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer a.Close()
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer b.Close()
	return a.Addr().String(), b.Addr().String(), nil
}

// timeCreates runs createlat against d and records the result as cr.
func (r *runner) timeCreates(cr createRun, d *daemon, extra ...string) error {
	warm := 20
	if r.cfg.quick {
		warm = 4
	}
	argv := r.pin(r.cfg.loadCPU, append([]string{r.binPath("createlat"), "--grpc", d.grpc, "--http", d.http,
		"--n", strconv.Itoa(r.cfg.createN), "--warmup", strconv.Itoa(warm)}, extra...)...)
	logf("create: %d listeners on a daemon with a %s store", r.cfg.createN, cr.Store)
	out, err := runProc(r.ctx, "createlat", argv, goEnv, 10*time.Minute)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &cr.Result); err != nil {
		return fmt.Errorf("createlat printed %q: %w", out, err)
	}
	r.res.Create = append(r.res.Create, cr)
	res := cr.Result
	logf("create (%s): gRPC p50 %.0fµs p99 %.0fµs, REST p50 %.0fµs p99 %.0fµs, %d of %d serving",
		cr.Store, res.GRPC.P50, res.GRPC.P99, res.REST.P50, res.REST.P99, res.Serving, res.Created)
	if res.Serving != r.cfg.createN {
		return fmt.Errorf("%d of %d listeners serving: %s", res.Serving, r.cfg.createN, res.FirstFailure)
	}
	return nil
}

// contentionRun is bench/contention's output: GetListener latency while
// many clients create listeners, and concurrent against serial creates,
// on a daemon with a bbolt store.
type contentionRun struct {
	DataDir string           `json:"dataDir"`
	Result  contentionResult `json:"result"`
}

type contentionResult struct {
	N                int      `json:"n"`
	Clients          int      `json:"clients"`
	Rounds           int      `json:"rounds"`
	IdleGet          latStats `json:"idleGet"`
	LoadedGet        latStats `json:"loadedGet"`
	LoadedDiscarded  int      `json:"loadedDiscarded"`
	LoadedCreates    int      `json:"loadedCreates"`
	LoadedBatches    int      `json:"loadedBatches"`
	LoadedMillis     float64  `json:"loadedMillis"`
	GetBoundMicros   float64  `json:"getBoundMicros"`
	GetMet           bool     `json:"getMet"`
	SerialMillis     float64  `json:"serialMillis"`
	ConcurrentMillis float64  `json:"concurrentMillis"`
	Ratio            float64  `json:"ratio"`
	RatioBound       float64  `json:"ratioBound"`
	RatioMet         bool     `json:"ratioMet"`
	Runs             []struct {
		SerialMillis     float64 `json:"serialMillis"`
		ConcurrentMillis float64 `json:"concurrentMillis"`
		Ratio            float64 `json:"ratio"`
	} `json:"runs"`
	Creates      int    `json:"creates"`
	CreateErrors int    `json:"createErrors"`
	GetErrors    int    `json:"getErrors"`
	DeleteErrors int    `json:"deleteErrors"`
	FirstError   string `json:"firstError"`
}

// contention runs bench/contention against a fresh daemon with a bbolt
// store in a new data directory: GetListener p50 while 16 clients
// create, and 16 concurrent clients' creates against one client's.
func (r *runner) contention() error {
	dataDir, err := os.MkdirTemp(r.cfg.dataParent, "sockplane-bench-contention-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	d, err := r.startDaemon("sockplane (contention, bbolt)", dataDir)
	if err != nil {
		return err
	}
	args := []string{"--grpc", d.grpc, "--n", strconv.Itoa(r.cfg.contendN), "--clients", "16",
		"--rounds", "5", "--gets", "1000", "--loaded-for", "20s"}
	if r.cfg.quick {
		args = []string{"--grpc", d.grpc, "--n", strconv.Itoa(r.cfg.contendN), "--clients", "16",
			"--rounds", "3", "--warmup", "1", "--gets", "200", "--loaded-n", "64", "--loaded-for", "3s"}
	}
	logf("contention: %d creates from 16 clients vs 1, and GetListener while they create, on a daemon with a bbolt store", r.cfg.contendN)
	out, runErr := runProc(r.ctx, "contention", r.pin(r.cfg.loadCPU, append([]string{r.binPath("contention")}, args...)...), goEnv, 5*time.Minute)
	cr := contentionRun{DataDir: dataDir}
	if err := json.Unmarshal(out, &cr.Result); err != nil {
		if runErr != nil {
			return runErr
		}
		return fmt.Errorf("contention printed %q: %w", out, err)
	}
	r.res.Contention = &cr
	c := cr.Result
	logf("contention: GET p50 idle %.0fµs, while creating %.0fµs (n=%d; target ≤ %.0fµs); %d creates: serial %.1fms, 16 clients %.1fms, ratio %.2f (target ≤ %.1f); %d creates, %d failed",
		c.IdleGet.P50, c.LoadedGet.P50, c.LoadedGet.N, c.GetBoundMicros, c.N, c.SerialMillis, c.ConcurrentMillis, c.Ratio, c.RatioBound, c.Creates, c.CreateErrors)
	return runErr
}
