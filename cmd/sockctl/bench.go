package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/sockplane/sockplane/wire"
	"github.com/spf13/cobra"
)

// benchOptions are the flags of sockctl bench.
type benchOptions struct {
	conns    int           // connections (UDP: sockets). Default: 1.
	depth    int           // requests in flight per connection. Default: 1.
	size     int           // body bytes per request. Default: 64.
	duration time.Duration // measured time. Default: 10s.
	warmup   time.Duration // unmeasured load first. Default: 1s.
	rate     float64       // requests per second in all, open loop; 0: closed loop.
	udp      bool
	unix     string        // the path of a Unix stream socket instead of ADDR. Default: none.
	expect   string        // echo, upper or none: what a reply body must be
	timeout  time.Duration // a reply later than this is an error (and, for UDP, lost)
	framing  *enumFlag[wire.Framing]
	order    *enumFlag[wire.ByteOrder]
	tls      listenerTLS
}

// benchResult is what a run measured.
type benchResult struct {
	Transport    string  `json:"transport"`
	Address      string  `json:"address"`
	Conns        int     `json:"conns"`
	Depth        int     `json:"depth"`
	Size         int     `json:"size"`
	Rate         float64 `json:"rate"`
	Seconds      float64 `json:"seconds"`
	Messages     int64   `json:"messages"`
	MsgsPerSec   float64 `json:"msgsPerSec"`
	MBPerSec     float64 `json:"mbPerSec"`
	P50Micros    float64 `json:"p50Micros"`
	P99Micros    float64 `json:"p99Micros"`
	P999Micros   float64 `json:"p999Micros"`
	MaxMicros    float64 `json:"maxMicros"`
	Errors       int64   `json:"errors"`
	FirstFailure string  `json:"firstFailure,omitempty"`
}

func newBenchCmd(daemon *daemonOptions) *cobra.Command {
	o := benchOptions{framing: newEnumFlag(codecFramingNames, "json"), order: newEnumFlag(byteOrderNames, "little")}
	cmd := &cobra.Command{
		Use:   "bench (ADDR | --unix PATH)",
		Short: "Load a listener and report throughput, latency percentiles and errors",
		Long: `Bench opens --conns connections to the listener at ADDR (TCP; UDP with
--udp; with --unix PATH, the Unix stream socket at PATH) and keeps --depth
requests of --size bytes in flight on each (closed loop), or sends --rate
requests per second in all whatever the replies (open loop, so that queueing
shows in the latencies instead of slowing the load down). It checks every
reply's body (--expect echo, upper or none), warms up for --warmup, measures
for --duration and prints messages per second, MB per second (request bodies),
the p50, p99 and p999 latency and the errors. Latency is measured from when a
request was due, not from when it could be sent.

With --tls (or --tls-ca, --tls-pin, --insecure, --tls-cert and --tls-key, as
for send) every connection speaks TLS; the handshakes are done before the
clock starts, so the figures are those of the encrypted traffic alone.`,
		Example: `  sockctl bench --conns 64 --duration 10s 127.0.0.1:9000
  sockctl bench --depth 32 --size 1024 127.0.0.1:9000
  sockctl bench --udp --conns 4 127.0.0.1:9001
  sockctl bench --unix /tmp/shout.sock --expect upper
  sockctl bench --rate 20000 --conns 8 -o json 127.0.0.1:9000
  sockctl bench --tls-ca web.pem --conns 16 127.0.0.1:9443`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.unix != "" {
				if len(args) > 0 {
					return fmt.Errorf("takes no ADDR with --unix PATH, got %q", args)
				}
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			addr := o.unix
			if addr == "" {
				addr = args[0]
			}
			res, err := runBench(cmd.Context(), addr, o)
			if err != nil {
				return err
			}
			if err := printBench(cmd.OutOrStdout(), daemon.output.value, res); err != nil {
				return err
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d errors; the first: %s", res.Errors, res.FirstFailure)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.conns, "conns", 1, "connections (UDP: sockets) at once")
	f.IntVar(&o.depth, "depth", 1, "requests in flight per connection (closed loop)")
	f.IntVar(&o.size, "size", 64, "body bytes of each request")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring, not counted")
	f.Float64Var(&o.rate, "rate", 0, "requests per second in all, open loop (0: closed loop)")
	f.BoolVar(&o.udp, "udp", false, "send UDP datagrams, one frame each")
	f.StringVar(&o.unix, "unix", "", "load the Unix stream socket at `PATH` instead of an ADDR")
	cmd.MarkFlagsMutuallyExclusive("udp", "unix")
	f.StringVar(&o.expect, "expect", "echo", "what a reply body must be: echo, upper or none")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "a reply later than this is an error")
	f.Var(o.order, "byte-order", "byte order of the 4-byte lengths; must match the listener's")
	f.Var(o.framing, "framing", "framing of requests and replies (json, length or raw); must match the listener's")
	o.tls.addFlags(cmd)
	return cmd
}

// network is what the flags say to dial: tcp, udp or unix.
func (o *benchOptions) network() string {
	switch {
	case o.udp:
		return "udp"
	case o.unix != "":
		return "unix"
	}
	return "tcp"
}

func (o *benchOptions) check() error {
	if err := o.tls.check(o.network()); err != nil {
		return err
	}
	switch {
	case o.conns < 1:
		return errors.New("--conns must be at least 1")
	case o.depth < 1:
		return errors.New("--depth must be at least 1")
	case o.size < 0 || o.size > wire.DefaultMaxBodyBytes:
		return fmt.Errorf("--size must be from 0 to %d", wire.DefaultMaxBodyBytes)
	case o.duration <= 0:
		return errors.New("--duration must be positive")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.expect != "echo" && o.expect != "upper" && o.expect != "none":
		return fmt.Errorf("--expect %q: want echo, upper or none", o.expect)
	case o.framing.value == wire.FramingRaw && o.expect == "none":
		return errors.New("--framing raw counts replies by their length: it needs --expect echo or upper")
	case o.framing.value == wire.FramingRaw && o.size == 0:
		return errors.New("--framing raw cannot send empty messages")
	}
	return nil
}

// benchRun is the state the workers share.
type benchRun struct {
	opts     benchOptions
	tls      *tls.Config // nil: plaintext
	codec    wire.Codec
	request  []byte // one request frame
	body     []byte // its body
	want     []byte // the reply body it must get, nil for --expect none
	start    time.Time
	measure  time.Time // replies to requests due before this are not counted
	deadline time.Time

	messages atomic.Int64
	errors   atomic.Int64
	failOnce sync.Once
	failure  string

	mu   sync.Mutex
	hist *hdrhistogram.Histogram
}

// fail counts an error and keeps the first one's words.
func (b *benchRun) fail(err error) {
	b.errors.Add(1)
	b.failOnce.Do(func() { b.failure = err.Error() })
}

// newHist is a histogram of latencies in nanoseconds, 1 ns to a minute,
// two significant figures: small enough to keep one per worker.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(time.Minute), 2) }

func runBench(ctx context.Context, addr string, o benchOptions) (benchResult, error) {
	b := &benchRun{opts: o, hist: newHist()}
	b.codec = wire.Codec{Framing: o.framing.value, ByteOrder: o.order.value, MaxBodyBytes: wire.HardMaxBodyBytes}
	body := make([]byte, o.size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	b.body = body
	var err error
	if b.request, err = b.codec.AppendFrame(nil, body); err != nil {
		return benchResult{}, err
	}
	switch o.expect {
	case "echo":
		b.want = body
	case "upper":
		b.want = []byte(string(upperASCII(body)))
	}
	network := o.network()
	if b.tls, err = o.tls.config(network, addr); err != nil {
		return benchResult{}, err
	}
	// Connect everything before the clock starts.
	workers := make([]benchWorker, o.conns)
	for i := range workers {
		if workers[i], err = dialWorker(ctx, network, addr, b); err != nil {
			for _, w := range workers[:i] {
				w.close()
			}
			return benchResult{}, fmt.Errorf("connection %d of %d: %w", i+1, o.conns, err)
		}
	}
	b.start = time.Now()
	b.measure = b.start.Add(o.warmup)
	b.deadline = b.measure.Add(o.duration)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			defer w.close()
			hist := newHist()
			w.run(ctx, hist, b.schedule(i))
			b.mu.Lock()
			b.hist.Merge(hist)
			b.mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return benchResult{}, err
	}
	seconds := o.duration.Seconds()
	n := b.messages.Load()
	micros := func(q float64) float64 { return float64(b.hist.ValueAtQuantile(q)) / 1e3 }
	transport := network
	if b.tls != nil {
		transport += "+tls"
	}
	return benchResult{
		Transport: transport, Address: addr, Conns: o.conns, Depth: o.depth, Size: o.size, Rate: o.rate,
		Seconds: seconds, Messages: n, MsgsPerSec: float64(n) / seconds, MBPerSec: float64(n) * float64(o.size) / seconds / 1e6,
		P50Micros: micros(50), P99Micros: micros(99), P999Micros: micros(99.9), MaxMicros: float64(b.hist.Max()) / 1e3,
		Errors: b.errors.Load(), FirstFailure: b.failure,
	}, nil
}

// schedule returns when each request of worker i is due in an open loop
// (the k-th at start + offset + k*interval), or nil for a closed loop.
func (b *benchRun) schedule(i int) func(k int64) time.Time {
	if b.opts.rate == 0 {
		return nil
	}
	interval := time.Duration(float64(time.Second) * float64(b.opts.conns) / b.opts.rate)
	offset := interval * time.Duration(i) / time.Duration(b.opts.conns) // spread the workers
	return func(k int64) time.Time { return b.start.Add(offset + time.Duration(k)*interval) }
}

// record counts a reply to a request due at due, if it falls in the
// measured window.
func (b *benchRun) record(hist *hdrhistogram.Histogram, due, now time.Time) {
	if due.Before(b.measure) || now.After(b.deadline) {
		return
	}
	b.messages.Add(1)
	_ = hist.RecordValue(int64(now.Sub(due)))
}

// check compares a reply body with what it must be.
func (b *benchRun) check(body []byte) error {
	if b.want != nil && string(body) != string(b.want) {
		return fmt.Errorf("a reply of %d bytes is not the expected %d-byte %s%s", len(body), len(b.want), b.opts.expect, b.expectHint(body))
	}
	return nil
}

// expectHint says which --expect the listener's handler would pass, when
// a reply shows it.
func (b *benchRun) expectHint(body []byte) string {
	switch {
	case b.opts.expect != "upper" && bytes.Equal(body, upperASCII(b.body)):
		return " (the listener upper-cases: pass --expect upper)"
	case b.opts.expect != "echo" && bytes.Equal(body, b.body):
		return " (the listener echoes: pass --expect echo)"
	case b.codec.Framing == wire.FramingRaw:
		return "" // --expect none is refused: replies are counted by length
	}
	return " (pass --expect none not to check the replies)"
}

func upperASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// benchWorker drives one connection.
type benchWorker interface {
	run(ctx context.Context, hist *hdrhistogram.Histogram, due func(k int64) time.Time)
	close()
}

func printBench(w io.Writer, format outputFormat, r benchResult) error {
	if format == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f/s", r.Rate)
	}
	_, err := fmt.Fprintf(w, `%s %s: %d conns, depth %d, %d B, %.0fs, %s (GOMAXPROCS %d)
messages   %d
msgs/s     %.0f
MB/s       %.2f
latency    p50 %.1fµs   p99 %.1fµs   p999 %.1fµs   max %.1fµs
errors     %d
`, r.Transport, r.Address, r.Conns, r.Depth, r.Size, r.Seconds, loop, runtime.GOMAXPROCS(0),
		r.Messages, r.MsgsPerSec, r.MBPerSec, r.P50Micros, r.P99Micros, r.P999Micros, r.MaxMicros, r.Errors)
	return err
}
