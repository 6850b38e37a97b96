// Command contention measures how sockplane's gRPC API holds up while
// many clients create listeners at once, on a daemon started with a
// bbolt store (--data-dir DIR), where every create waits for a commit
// that fsyncs the store file. It is a benchmark, run by bench/run.sh
// (--only contention), not a test.
//
// It measures two things:
//
//   - GetListener latency of one listener, first on an idle daemon
//     (--gets calls one after another), then while --clients clients
//     create listeners concurrently: one goroutine keeps calling
//     GetListener while the creators work, and a call counts only if
//     creates were in flight when it was sent and when it returned.
//     Target: loaded p50 ≤ 3 × idle p50 + 1 ms.
//   - The wall time of --n creates issued by --clients concurrent
//     clients, against the same --n creates made one after another by
//     one client, nothing else running. The two alternate for --rounds
//     rounds; the ratio is the median of the rounds' ratios. Target:
//     concurrent / serial ≤ 0.6.
//
// Every create is a TCP echo listener on 127.0.0.1:0; each client has
// its own gRPC connection (the GET goroutine too) and takes the next id
// as soon as its create returns. Every batch is deleted, untimed, before
// the next, so that each starts from the same state. The loaded GET
// phase creates in batches of --loaded-n until it has --gets samples or
// --loaded-for has passed, and makes at least --clients creates in any
// case. Warm-up first: --warmup creates and deletes per client and up
// to 200 GetListener calls, none counted.
//
// A create that fails, or returns a listener that is not running with a
// bound address, is an error, as is a failed GetListener or delete; any
// error makes the run fail (exit status 1) after the JSON is printed. A
// missed target is not an error: "getMet" and "ratioMet" say. It deletes
// every listener it created when it ends, also when interrupted.
//
// It prints one JSON object on stdout; latencies are in microseconds,
// totals in milliseconds.
//
//	contention --grpc 127.0.0.1:7070 [--n 64] [--clients 16] [--gets 1000]
//	           [--rounds 3] [--warmup 2] [--loaded-n 256] [--loaded-for 20s]
//	           [--prefix cont] [--token TOKEN] [--timeout 30s]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sockplane/sockplane/bench/internal/latency"
	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// The targets of the issue.
const (
	getFactor  = 3.0
	getSlackUS = 1000.0 // 1 ms
	ratioBound = 0.6
)

type options struct {
	grpcAddr   string
	n, clients int
	gets       int
	rounds     int
	warmup     int
	loadedN    int
	loadedFor  time.Duration
	prefix     string
	token      string
	timeout    time.Duration
}

// result is what contention prints.
type result struct {
	N       int `json:"n"`
	Clients int `json:"clients"`
	Rounds  int `json:"rounds"`

	IdleGet   stats `json:"idleGet"`
	LoadedGet stats `json:"loadedGet"`
	// LoadedDiscarded is how many GetListener calls of the loaded phase
	// did not count: sent or answered while no create was in flight.
	LoadedDiscarded int `json:"loadedDiscarded"`
	// LoadedCreates is how many creates the loaded phase made, in
	// LoadedBatches batches of at most --loaded-n, over LoadedMillis.
	LoadedCreates int     `json:"loadedCreates"`
	LoadedBatches int     `json:"loadedBatches"`
	LoadedMillis  float64 `json:"loadedMillis"`
	// GetBoundMicros is the target: 3 × idle p50 + 1 ms.
	GetBoundMicros float64 `json:"getBoundMicros"`
	GetMet         bool    `json:"getMet"`

	// SerialMillis and ConcurrentMillis are the medians over the rounds
	// of the wall time of --n creates; Ratio the median of the rounds'
	// concurrent / serial.
	SerialMillis     float64    `json:"serialMillis"`
	ConcurrentMillis float64    `json:"concurrentMillis"`
	Ratio            float64    `json:"ratio"`
	RatioBound       float64    `json:"ratioBound"`
	RatioMet         bool       `json:"ratioMet"`
	Runs             []roundRun `json:"runs"`

	// Creates counts every create issued, warm-up included.
	Creates      int    `json:"creates"`
	CreateErrors int    `json:"createErrors"`
	GetErrors    int    `json:"getErrors"`
	DeleteErrors int    `json:"deleteErrors"`
	FirstError   string `json:"firstError,omitempty"`
}

// roundRun is one round of the serial / concurrent comparison.
type roundRun struct {
	SerialMillis     float64 `json:"serialMillis"`
	ConcurrentMillis float64 `json:"concurrentMillis"`
	Ratio            float64 `json:"ratio"`
}

// stats summarise latency samples, in microseconds.
type stats = latency.Summary

func main() {
	res, err := run(os.Args[1:])
	if res != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(res); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "contention:", err)
		os.Exit(1)
	}
}

func run(args []string) (*result, error) {
	var o options
	fs := flag.NewFlagSet("contention", flag.ContinueOnError)
	fs.StringVar(&o.grpcAddr, "grpc", "127.0.0.1:7070", "the daemon's gRPC address (a daemon with --data-dir, for the bbolt store)")
	fs.IntVar(&o.n, "n", 64, "creates per timed batch, serial and concurrent")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients, each with its own gRPC connection")
	fs.IntVar(&o.gets, "gets", 1000, "GetListener samples, idle and under load each")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of serial and concurrent batches (the ratio is the median)")
	fs.IntVar(&o.warmup, "warmup", 2, "untimed creates and deletes per client first")
	fs.IntVar(&o.loadedN, "loaded-n", 256, "creates per batch in the loaded GET phase, each batch then deleted")
	fs.DurationVar(&o.loadedFor, "loaded-for", 20*time.Second, "bound on the loaded GET phase's creates, if --gets samples take longer")
	fs.StringVar(&o.prefix, "prefix", "cont", "prefix of the listener ids (lowercase letters, digits and '-')")
	fs.StringVar(&o.token, "token", "", "bearer token, for a daemon started with one")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on each call")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.n < 1 || o.clients < 1 || o.gets < 1 || o.rounds < 1 || o.loadedN < 1:
		return nil, errors.New("--n, --clients, --gets, --rounds and --loaded-n must be at least 1")
	case o.warmup < 0:
		return nil, errors.New("--warmup must not be negative")
	case o.prefix == "" || len(o.prefix) > 40 || strings.Trim(o.prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		return nil, fmt.Errorf("--prefix %q: want 1 to 40 lowercase letters, digits and '-'", o.prefix)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, live: map[string]bool{}}
	b.setContext(ctx)
	// The getter, and each creator, has a connection of its own.
	for i := range o.clients + 1 {
		conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		api := sockplanev1.NewListenerServiceClient(conn)
		if i == 0 {
			b.getter = api
		} else {
			b.creators = append(b.creators, api)
		}
	}
	res, err := b.measure()
	if ctx.Err() != nil {
		err = fmt.Errorf("interrupted: %w", errors.Join(err, ctx.Err()))
	}
	// Whatever happened, delete what was made.
	b.cleanup()
	if res != nil {
		res.Creates, res.CreateErrors, res.GetErrors, res.DeleteErrors, res.FirstError = b.tally()
		if err == nil && res.CreateErrors+res.GetErrors+res.DeleteErrors > 0 {
			err = fmt.Errorf("%d creates, %d GetListener calls and %d deletes failed; the first: %s",
				res.CreateErrors, res.GetErrors, res.DeleteErrors, res.FirstError)
		}
	}
	return res, err
}

// measure runs the phases in order: warm-up, idle GETs, the serial and
// concurrent rounds, the loaded GETs.
func (b *bench) measure() (*result, error) {
	o := b.o
	res := &result{N: o.n, Clients: o.clients, Rounds: o.rounds, RatioBound: ratioBound}
	getID := o.prefix + "-get"
	if err := b.create(b.getter, getID); err != nil {
		return res, err
	}

	// Warm-up: every connection, the daemon's create and delete paths,
	// the store file's first growth, the GetListener path.
	if o.warmup > 0 {
		ids := b.ids("w", 0, o.warmup*o.clients)
		b.createAll(b.creators, ids, nil)
		b.deleteAll(ids)
		if b.failed() {
			return res, errors.New("warm-up failed: " + b.first())
		}
	}
	get := b.getCall(getID)
	for range min(o.gets, 200) {
		if _, err := get(); err != nil {
			return res, err
		}
	}

	// Idle GETs.
	idle := make([]time.Duration, 0, o.gets)
	for range o.gets {
		d, err := get()
		if err != nil {
			return res, err
		}
		idle = append(idle, d)
	}
	res.IdleGet = latency.Summarise(idle)
	res.GetBoundMicros = getFactor*res.IdleGet.P50 + getSlackUS

	// Serial and concurrent batches, alternating which goes first, so
	// that a drift of the machine does not favour one.
	for round := range o.rounds {
		var run roundRun
		for j := range 2 {
			concurrent := (round+j)%2 == 1
			kind, clients := "s", b.creators[:1]
			if concurrent {
				kind, clients = "c", b.creators
			}
			ids := b.ids(kind, round, o.n)
			took := b.createAll(clients, ids, nil)
			b.deleteAll(ids)
			if concurrent {
				run.ConcurrentMillis = latency.Millis(took)
			} else {
				run.SerialMillis = latency.Millis(took)
			}
			if err := b.ctx.Err(); err != nil {
				return res, err
			}
		}
		run.Ratio = run.ConcurrentMillis / run.SerialMillis
		res.Runs = append(res.Runs, run)
	}
	var serial, concurrent, ratios []float64
	for _, r := range res.Runs {
		serial, concurrent, ratios = append(serial, r.SerialMillis), append(concurrent, r.ConcurrentMillis), append(ratios, r.Ratio)
	}
	res.SerialMillis, res.ConcurrentMillis, res.Ratio = latency.Median(serial), latency.Median(concurrent), latency.Median(ratios)
	res.RatioMet = res.Ratio <= ratioBound

	if b.failed() {
		return res, nil // run reports the errors
	}

	// GETs while creates are in flight.
	creates0, _, _, _, _ := b.tally()
	t0 := time.Now()
	loaded, discarded, batches, err := b.loaded(get)
	res.LoadedMillis = latency.Millis(time.Since(t0))
	creates1, _, _, _, _ := b.tally()
	res.LoadedGet, res.LoadedDiscarded, res.LoadedBatches, res.LoadedCreates = latency.Summarise(loaded), discarded, batches, creates1-creates0
	res.GetMet = res.LoadedGet.N > 0 && res.LoadedGet.P50 <= res.GetBoundMicros
	if err != nil {
		return res, err
	}
	if len(loaded) == 0 && !b.failed() {
		return res, fmt.Errorf("no GetListener call both began and ended while creates were in flight (%d discarded)", discarded)
	}
	return res, b.ctx.Err()
}

// loaded has the creators create listeners concurrently, in batches
// of o.loadedN each followed by their deletes, while a goroutine calls
// get back to back and keeps the latency of each call that began and
// ended while creates were in flight; until it has o.gets of those, or
// o.loadedFor has passed (but at least --clients creates).
func (b *bench) loaded(get func() (time.Duration, error)) (samples []time.Duration, discarded, batches int, err error) {
	samples = make([]time.Duration, 0, b.o.gets)
	var enough atomic.Bool
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			before := b.inflight.Load() > 0
			d, gerr := get()
			if gerr != nil {
				err = gerr
				return
			}
			if !before || b.inflight.Load() == 0 {
				discarded++
				continue
			}
			// Past o.gets it goes on calling, the same load, until the
			// creators stop, but keeps no more.
			if len(samples) < b.o.gets {
				samples = append(samples, d)
				if len(samples) == b.o.gets {
					enough.Store(true)
				}
			}
		}
	}()
	getterDone := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	start := time.Now()
	deadline := start.Add(b.o.loadedFor)
	var made atomic.Int64
	over := func() bool {
		return made.Load() >= int64(b.o.clients) && (enough.Load() || time.Now().After(deadline) || getterDone())
	}
	// Each creator asks before each create.
	stopCreating := func() bool {
		if over() {
			return true
		}
		made.Add(1)
		return false
	}
	for !over() && b.ctx.Err() == nil && !b.failed() {
		ids := b.ids("l", batches, b.o.loadedN)
		b.createAll(b.creators, ids, stopCreating)
		batches++
		b.deleteAll(ids)
	}
	close(stop)
	<-done
	return samples, discarded, batches, err
}
