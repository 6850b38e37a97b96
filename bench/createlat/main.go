// Command createlat measures how long a sockplane create-listener call
// takes until the new port accepts a connection, over gRPC and over REST,
// and checks that every listener it made serves.
//
// It creates --n TCP echo listeners on 127.0.0.1:0, one at a time,
// alternating gRPC CreateListener and REST POST /v1/listeners so that both
// see the same daemon state (the same number of listeners, the same store
// file). Each sample runs from just before the call to the moment a TCP
// connection to the bound address the reply names has been accepted by
// the kernel (the dial returned); --warmup creates of each kind come
// first and are not counted. Then it sends one framed echo on a new
// connection to every listener and counts those that answer it right
// ("serving"), and deletes what it created unless --keep.
//
// For reference it also times, --floor times each, the cheapest calls of
// the same kinds: gRPC GetListener and REST GET /v1/listeners/{id} of one
// of the listeners, and a TCP dial to it: what any create costs at least.
//
// With --fsync-dir it also measures the disk under the daemon's data
// directory: the latency of overwriting 4 KiB of a file and fdatasync-ing
// it, --fsync-count times, and of appending 4 KiB and fdatasync-ing it
// (which also commits the file's new size). A bbolt commit, which every create waits for
// when the daemon has a --data-dir, does two of those (the data pages,
// then the meta page).
//
// It prints one JSON object on stdout.
//
//	createlat --grpc 127.0.0.1:7070 --http 127.0.0.1:7080 [--n 1000] [--warmup 20]
//	          [--prefix lat] [--keep] [--floor 200] [--fsync-dir DIR] [--fsync-count 200]
//	          [--node NAME]
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
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/sockplane/sockplane/bench/internal/latency"
	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/wire"
)

type options struct {
	grpcAddr, httpAddr string
	n, warmup          int
	prefix             string
	keep               bool
	token              string
	timeout            time.Duration
	fsyncDir           string
	fsyncCount         int
	floor              int
	node               string
}

// result is what createlat prints; latencies are in microseconds.
type result struct {
	GRPC    stats `json:"grpc"`
	REST    stats `json:"rest"`
	Created int   `json:"created"`
	// Serving is how many of the created listeners answered an echo.
	Serving int `json:"serving"`
	// FirstFailure is the first create or echo that failed.
	FirstFailure string `json:"firstFailure,omitempty"`
	// Floor is what the cheapest calls take: a gRPC GetListener, a REST
	// GET of a listener, and a TCP dial to one.
	Floor struct {
		GRPCGet stats `json:"grpcGet"`
		RESTGet stats `json:"restGet"`
		Dial    stats `json:"dial"`
	} `json:"floor"`
	Fsync *stats `json:"fsync,omitempty"`
	// FsyncAppend is the same with each 4 KiB appended, so that every
	// fdatasync must also commit the file's new size.
	FsyncAppend *stats `json:"fsyncAppend,omitempty"`
}

// stats summarise samples, in microseconds.
type stats struct {
	latency.Summary
	// CallP50 is the median of the call alone, without the dial.
	CallP50 float64 `json:"callP50Micros,omitempty"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "createlat:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("createlat", flag.ContinueOnError)
	fs.StringVar(&o.grpcAddr, "grpc", "127.0.0.1:7070", "the daemon's gRPC address")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:7080", "the daemon's HTTP (REST) address")
	fs.IntVar(&o.n, "n", 1000, "listeners to create and time, half over each API")
	fs.IntVar(&o.warmup, "warmup", 20, "untimed creates (and deletes) over each API first")
	fs.StringVar(&o.prefix, "prefix", "lat", "prefix of the listener ids")
	fs.BoolVar(&o.keep, "keep", false, "leave the listeners running")
	fs.StringVar(&o.token, "token", "", "bearer token, for a daemon started with one")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on each call and dial")
	fs.StringVar(&o.fsyncDir, "fsync-dir", "", "also time 4 KiB overwrite + fdatasync in this directory")
	fs.IntVar(&o.fsyncCount, "fsync-count", 200, "fdatasyncs to time with --fsync-dir")
	fs.StringVar(&o.node, "node", "", "in a cluster, the node to place the listeners on (another than the one called measures a create through a non-owner)")
	fs.IntVar(&o.floor, "floor", 200, "GetListener calls, REST GETs and dials to time for reference (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.n < 2 || o.warmup < 0 {
		return errors.New("--n must be at least 2 and --warmup not negative")
	}
	ctx := context.Background()
	if o.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token)
	}
	conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &creator{o: o, ctx: ctx, grpc: sockplanev1.NewListenerServiceClient(conn), http: &http.Client{Timeout: o.timeout}}

	// Warm both clients' connections and the daemon's code paths.
	for i := range o.warmup {
		for _, rest := range []bool{false, true} {
			id := fmt.Sprintf("%s-warm-%t-%d", o.prefix, rest, i)
			if _, _, err := c.create(id, rest); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			if err := c.delete(id); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}

	var res result
	var grpcLat, restLat, grpcCall, restCall []time.Duration
	var created []string
	var addrs []string
	defer func() {
		if !o.keep {
			for _, id := range created {
				_ = c.delete(id)
			}
		}
	}()
	for i := range o.n {
		rest := i%2 == 1
		id := fmt.Sprintf("%s-%d", o.prefix, i)
		call, total, addr, err := c.timedCreate(id, rest)
		if err != nil {
			if res.FirstFailure == "" {
				res.FirstFailure = err.Error()
			}
			continue
		}
		created = append(created, id)
		addrs = append(addrs, addr)
		if rest {
			restLat, restCall = append(restLat, total), append(restCall, call)
		} else {
			grpcLat, grpcCall = append(grpcLat, total), append(grpcCall, call)
		}
	}
	res.Created = len(created)
	res.GRPC, res.REST = stats{Summary: latency.Summarise(grpcLat)}, stats{Summary: latency.Summarise(restLat)}
	res.GRPC.CallP50, res.REST.CallP50 = latency.Summarise(grpcCall).P50, latency.Summarise(restCall).P50
	for i, addr := range addrs {
		if err := echo(addr, o.timeout); err != nil {
			if res.FirstFailure == "" {
				res.FirstFailure = fmt.Sprintf("listener %s at %s: %v", created[i], addr, err)
			}
			continue
		}
		res.Serving++
	}
	if o.floor > 0 && len(created) > 0 {
		if err := c.floor(&res, created[0], addrs[0]); err != nil {
			return err
		}
	}
	if o.fsyncDir != "" {
		st, err := fsyncProbe(o.fsyncDir, o.fsyncCount, false)
		if err != nil {
			return err
		}
		res.Fsync = &st
		app, err := fsyncProbe(o.fsyncDir, o.fsyncCount, true)
		if err != nil {
			return err
		}
		res.FsyncAppend = &app
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

type creator struct {
	o    options
	ctx  context.Context
	grpc sockplanev1.ListenerServiceClient
	http *http.Client
}

// timedCreate creates a listener and dials it: call is how long the API
// call took, total until the dial returned.
func (c *creator) timedCreate(id string, rest bool) (call, total time.Duration, addr string, err error) {
	start := time.Now()
	addr, d, err := c.create(id, rest)
	if err != nil {
		return 0, 0, "", err
	}
	call = time.Since(start)
	nc, err := d.Dial("tcp", addr)
	total = time.Since(start)
	if err != nil {
		return 0, 0, "", fmt.Errorf("listener %s: created, but %s does not accept: %w", id, addr, err)
	}
	_ = nc.Close()
	return call, total, addr, nil
}

// create makes a TCP echo listener on 127.0.0.1:0 and returns its bound
// address, and a dialer for it.
func (c *creator) create(id string, rest bool) (string, *net.Dialer, error) {
	d := &net.Dialer{Timeout: c.o.timeout}
	if !rest {
		ctx, cancel := context.WithTimeout(c.ctx, c.o.timeout)
		defer cancel()
		l, err := c.grpc.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
			Id: id, Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0", Handler: sockplanev1.Handler_HANDLER_ECHO,
			Node: c.o.node,
		}})
		if err != nil {
			return "", nil, fmt.Errorf("gRPC create %s: %w", id, err)
		}
		return l.GetListener().GetStatus().GetBoundAddress(), d, nil
	}
	body := fmt.Sprintf(`{"id":%q,"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_ECHO","node":%q}`, id, c.o.node)
	var out struct {
		Status struct {
			BoundAddress string `json:"boundAddress"`
		} `json:"status"`
	}
	if err := c.do(http.MethodPost, "/v1/listeners", body, &out); err != nil {
		return "", nil, fmt.Errorf("REST create %s: %w", id, err)
	}
	return out.Status.BoundAddress, d, nil
}

func (c *creator) delete(id string) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.o.timeout)
	defer cancel()
	_, err := c.grpc.DeleteListener(ctx, &sockplanev1.DeleteListenerRequest{Id: id, Mode: sockplanev1.StopMode_STOP_MODE_IMMEDIATE})
	return err
}

// do sends one REST request and decodes a 200 reply into out.
func (c *creator) do(method, path, body string, out any) error {
	req, err := http.NewRequest(method, "http://"+c.o.httpAddr+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.o.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// floor times o.floor of each of the cheapest calls on listener id at
// addr.
func (c *creator) floor(res *result, id, addr string) error {
	var grpcGet, restGet, dial []time.Duration
	for range c.o.floor {
		start := time.Now()
		ctx, cancel := context.WithTimeout(c.ctx, c.o.timeout)
		_, err := c.grpc.GetListener(ctx, &sockplanev1.GetListenerRequest{Id: id})
		cancel()
		if err != nil {
			return fmt.Errorf("gRPC get %s: %w", id, err)
		}
		grpcGet = append(grpcGet, time.Since(start))

		start = time.Now()
		var out struct{}
		if err := c.do(http.MethodGet, "/v1/listeners/"+id, "", &out); err != nil {
			return fmt.Errorf("REST get %s: %w", id, err)
		}
		restGet = append(restGet, time.Since(start))

		start = time.Now()
		nc, err := net.DialTimeout("tcp", addr, c.o.timeout)
		if err != nil {
			return err
		}
		dial = append(dial, time.Since(start))
		_ = nc.Close()
	}
	res.Floor.GRPCGet, res.Floor.RESTGet, res.Floor.Dial = stats{Summary: latency.Summarise(grpcGet)}, stats{Summary: latency.Summarise(restGet)}, stats{Summary: latency.Summarise(dial)}
	return nil
}

// echo sends one framed message to addr and checks the reply.
func echo(addr string, timeout time.Duration) error {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	var codec wire.Codec
	msg := []byte("are you there?")
	frame, err := codec.AppendFrame(nil, msg)
	if err != nil {
		return err
	}
	if _, err := nc.Write(frame); err != nil {
		return err
	}
	f, err := codec.ReadFrame(bufio.NewReader(nc))
	if err != nil {
		return err
	}
	if !bytes.Equal(f.Body, msg) {
		return fmt.Errorf("echo answered %q", f.Body)
	}
	return nil
}

// fsyncProbe times writing 4 KiB to a file in dir and fdatasync-ing it,
// n times: over the same 4 KiB at the start of the file, or appended.
func fsyncProbe(dir string, n int, appending bool) (stats, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return stats{}, err
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	page := make([]byte, 4096)
	if _, err := f.WriteAt(page, 0); err != nil {
		return stats{}, err
	}
	if err := f.Sync(); err != nil {
		return stats{}, err
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		page[0] = byte(i)
		off := int64(0)
		if appending {
			off = int64(i+1) * int64(len(page))
		}
		start := time.Now()
		if _, err := f.WriteAt(page, off); err != nil {
			return stats{}, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return stats{}, err
		}
		lat = append(lat, time.Since(start))
	}
	return stats{Summary: latency.Summarise(lat)}, nil
}
