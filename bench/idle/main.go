// Command idle opens many idle TCP connections to one address and holds
// them, to measure what an idle connection costs the server. The
// connections come from the source addresses 127.0.0.2, 127.0.0.3, ...
// (--per-source each, so no source address runs out of ephemeral
// ports), --concurrency at a time; idle prints its progress on stderr.
// With --roundtrip (the default) each connection first sends one framed
// echo request and reads the reply, as a client that talked and then went
// quiet: a server may hold more for such a connection than for one that
// never spoke. Idle then waits --settle before it measures, and measures
// twice, --settle apart, keeping the smaller reading.
//
// With --metrics, the server's Prometheus endpoint (sockplane's GET
// /metrics), it also measures the server's Go memory, heap in use plus
// stacks in use, before the connections open and once they are all open,
// each time as the smallest reading taken just after one of --gcs garbage
// collections (it scrapes /metrics until go_gc_duration_seconds_count has
// grown by --gcs: a scrape allocates, and enough of them start a
// collection). It prints one JSON object on stdout, then holds the
// connections for --hold, or until SIGINT or SIGTERM.
//
//	idle --addr 127.0.0.1:PORT --n 100000 [--metrics http://127.0.0.1:7080/metrics]
//	     [--listener ID] [--roundtrip=true] [--settle 3s] [--per-source 10000]
//	     [--concurrency 32] [--hold 0s]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockplane/sockplane/wire"
)

type options struct {
	addr        string
	n           int
	perSource   int
	concurrency int
	dialTimeout time.Duration
	metrics     string
	listener    string
	hold        time.Duration
	gcTimeout   time.Duration
	gcs         int
	scrapeEvery time.Duration
	roundtrip   bool
	settle      time.Duration
}

// result is what idle prints.
type result struct {
	Requested int `json:"requested"`
	Opened    int `json:"opened"`
	Failed    int `json:"failed"`
	// FirstError is the first failed dial's error.
	FirstError string  `json:"firstError,omitempty"`
	Sources    int     `json:"sources"`
	Roundtrip  bool    `json:"roundtrip"`
	OpenSecs   float64 `json:"openSeconds"`
	// Active is the listener's sockplane_listener_connections_active
	// once every connection is open, -1 when not measured.
	Active float64 `json:"active"`
	// Before and After are the server's memory with no connection and
	// with Opened connections; PerConn* are (After-Before)/Opened.
	Before          memory  `json:"before"`
	After           memory  `json:"after"`
	PerConnGoBytes  float64 `json:"perConnGoBytes"`
	PerConnHeap     float64 `json:"perConnHeapBytes"`
	PerConnLiveHeap float64 `json:"perConnLiveHeapBytes"`
	PerConnStack    float64 `json:"perConnStackBytes"`
	PerConnRSSBytes float64 `json:"perConnRSSBytes"`
}

// memory is what the server's /metrics says of its memory.
type memory struct {
	// HeapInuse is the bytes in in-use heap spans, live objects and the
	// free slots between them; HeapAlloc the bytes of heap objects
	// (after the collections, nearly all live).
	HeapInuse  float64 `json:"heapInuse"`
	HeapAlloc  float64 `json:"heapAlloc"`
	StackInuse float64 `json:"stackInuse"`
	RSS        float64 `json:"rss"`
	Goroutines float64 `json:"goroutines"`
	// GCs is how many collections ran while measuring (--gcs are asked
	// for); Scrapes how many scrapes it took.
	GCs     float64 `json:"gcs"`
	Scrapes int     `json:"scrapes"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "", "TCP address to connect to (required)")
	fs.IntVar(&o.n, "n", 1000, "connections to open")
	fs.IntVar(&o.perSource, "per-source", 10000, "connections per source address 127.0.0.2, 127.0.0.3, ... (at most 25000: a source address has about 28,000 ephemeral ports)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "dials in progress at once")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "bound on one dial")
	fs.StringVar(&o.metrics, "metrics", "", "the server's Prometheus /metrics URL, to measure its memory (optional)")
	fs.StringVar(&o.listener, "listener", "", "the sockplane listener id, to read its connections_active from --metrics (optional)")
	fs.DurationVar(&o.hold, "hold", 0, "how long to hold the connections after measuring (0: exit at once)")
	fs.DurationVar(&o.gcTimeout, "gc-timeout", time.Minute, "bound on waiting for the server's --gcs garbage collections")
	fs.DurationVar(&o.scrapeEvery, "scrape-every", 10*time.Millisecond, "pause between the scrapes that wait for collections")
	fs.IntVar(&o.gcs, "gcs", 4, "garbage collections of the server to wait for before each memory reading (the smallest reading after one counts)")
	fs.BoolVar(&o.roundtrip, "roundtrip", true, "send one framed echo request on each connection and read the reply before idling")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait this long after the last connection opened before measuring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case o.addr == "":
		return errors.New("--addr is required")
	case o.n < 1:
		return errors.New("--n must be at least 1")
	case o.perSource < 1 || o.perSource > 25000:
		return errors.New("--per-source must be from 1 to 25000")
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	res := result{Requested: o.n, Sources: (o.n + o.perSource - 1) / o.perSource, Active: -1, Roundtrip: o.roundtrip}
	if res.Sources > 250 {
		return fmt.Errorf("--n %d needs %d source addresses; 127.0.0.2 to 127.0.0.251 is the most", o.n, res.Sources)
	}
	var err error
	if o.metrics != "" {
		if res.Before, err = settledMemory(ctx, o); err != nil {
			return fmt.Errorf("memory before: %w", err)
		}
		logf("before: heap %.1f MiB, stacks %.1f MiB, %d scrapes", res.Before.HeapInuse/(1<<20), res.Before.StackInuse/(1<<20), res.Before.Scrapes)
	}

	start := time.Now()
	conns, failed, firstErr := openAll(ctx, o)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	res.OpenSecs = time.Since(start).Seconds()
	res.Opened, res.Failed = len(conns), failed
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	logf("opened %d of %d in %.1fs (%d failed)", res.Opened, o.n, res.OpenSecs, failed)

	if o.metrics != "" && res.Opened > 0 {
		// Twice, --settle apart, keeping the smaller: the connections only
		// shrink once open (a connection that served parks after a while),
		// and a server busy with something else may not have settled yet
		// at the first reading.
		for i := range 2 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.settle):
			}
			m, err := settledMemory(ctx, o)
			if err != nil {
				return fmt.Errorf("memory after: %w", err)
			}
			logf("after (%d): heap %.1f MiB, stacks %.1f MiB, %d scrapes", i+1, m.HeapInuse/(1<<20), m.StackInuse/(1<<20), m.Scrapes)
			if i == 0 || m.HeapInuse+m.StackInuse < res.After.HeapInuse+res.After.StackInuse {
				res.After = m
			}
		}
		if o.listener != "" {
			m, err := scrape(ctx, o.metrics)
			if err != nil {
				return err
			}
			res.Active = m.find("sockplane_listener_connections_active", `listener="`+o.listener+`"`)
		}
		n := float64(res.Opened)
		res.PerConnHeap = (res.After.HeapInuse - res.Before.HeapInuse) / n
		res.PerConnStack = (res.After.StackInuse - res.Before.StackInuse) / n
		res.PerConnLiveHeap = (res.After.HeapAlloc - res.Before.HeapAlloc) / n
		res.PerConnGoBytes = res.PerConnHeap + res.PerConnStack
		res.PerConnRSSBytes = (res.After.RSS - res.Before.RSS) / n
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if o.hold > 0 {
		logf("holding %d connections for %s", len(conns), o.hold)
		select {
		case <-ctx.Done():
		case <-time.After(o.hold):
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "idle: "+format+"\n", args...)
}

// openAll dials o.n connections, o.concurrency at a time, and reports
// progress every second.
func openAll(ctx context.Context, o options) (conns []net.Conn, failed int, firstErr error) {
	var (
		mu     sync.Mutex
		next   atomic.Int64
		opened atomic.Int64
	)
	conns = make([]net.Conn, 0, o.n)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				logf("%d of %d open", opened.Load(), o.n)
			}
		}
	}()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.n {
					return
				}
				src := net.IPv4(127, 0, 0, byte(2+i/o.perSource))
				d := net.Dialer{Timeout: o.dialTimeout, LocalAddr: &net.TCPAddr{IP: src}, Control: bindAddressNoPort}
				c, err := d.DialContext(ctx, "tcp", o.addr)
				if err == nil && o.roundtrip {
					if err = roundtrip(c, o.dialTimeout); err != nil {
						_ = c.Close()
					}
				}
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d from %s: %w", i, src, err)
					}
				} else {
					conns = append(conns, c)
					opened.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	return conns, failed, firstErr
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// bindAddressNoPort lets the kernel choose the local port at connect
// time, from the whole 4-tuple, instead of at bind time: otherwise bind
// must find a port free on the source address for every destination,
// TIME_WAIT sockets of an earlier run included, which gets slow as the
// ports fill up.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// request is the framed echo request of --roundtrip, the way the
// tutorial's client frames it; the reply is the same bytes.
var request = func() []byte {
	var codec wire.Codec
	b, err := codec.AppendFrame(nil, []byte("hello, then quiet"))
	if err != nil {
		panic(err)
	}
	return b
}()

// roundtrip sends request on c and reads the echo back.
func roundtrip(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(request); err != nil {
		return err
	}
	reply := make([]byte, len(request))
	if _, err := io.ReadFull(c, reply); err != nil {
		return err
	}
	if !bytes.Equal(reply, request) {
		return fmt.Errorf("the echo answered %q", reply)
	}
	return nil
}

// settledMemory scrapes the server's metrics until it has run --gcs
// more garbage collections than at the first scrape, and returns the
// smallest of the readings taken first after each of them: what is left
// after a collection is live memory, not garbage waiting for one, and
// the smallest such reading leaves out garbage made between a
// collection and the scrape that saw it. A scrape allocates, and enough
// scrapes start a collection; they are paced (--scrape-every), because
// what is allocated while a collection marks counts as live until the
// next one, and the server has one CPU to mark with.
func settledMemory(ctx context.Context, o options) (memory, error) {
	ctx, cancel := context.WithTimeout(ctx, o.gcTimeout)
	defer cancel()
	first, err := scrape(ctx, o.metrics)
	if err != nil {
		return memory{}, err
	}
	gc0 := first["go_gc_duration_seconds_count"]
	last := gc0
	var best memory
	for scrapes := 1; ; scrapes++ {
		select {
		case <-ctx.Done():
		case <-time.After(o.scrapeEvery):
		}
		m, err := scrape(ctx, o.metrics)
		if err != nil {
			if ctx.Err() != nil {
				return memory{}, fmt.Errorf("the server ran %v collections in %s, not %d: %w", last-gc0, o.gcTimeout, o.gcs, err)
			}
			return memory{}, err
		}
		gc := m["go_gc_duration_seconds_count"]
		if gc == last {
			continue
		}
		last = gc
		r := memory{
			HeapInuse: m["go_memstats_heap_inuse_bytes"], HeapAlloc: m["go_memstats_heap_alloc_bytes"], StackInuse: m["go_memstats_stack_inuse_bytes"],
			RSS: m["process_resident_memory_bytes"], Goroutines: m["go_goroutines"], GCs: gc - gc0, Scrapes: scrapes,
		}
		if best.Scrapes == 0 || r.HeapInuse+r.StackInuse < best.HeapInuse+best.StackInuse {
			best = r
		}
		if gc-gc0 >= float64(o.gcs) {
			best.GCs, best.Scrapes = gc-gc0, scrapes
			return best, nil
		}
	}
}

// series maps each series of a Prometheus text exposition, its name and
// labels as written, to its value.
type series map[string]float64

// find returns the value of the first series named name whose labels
// include label (`name="value"`), or -1.
func (s series) find(name, label string) float64 {
	for k, v := range s {
		if strings.HasPrefix(k, name+"{") && strings.Contains(k, label) {
			return v
		}
	}
	return -1
}

// scrape reads the metrics at url.
func scrape(ctx context.Context, url string) (series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	m := make(series)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}
