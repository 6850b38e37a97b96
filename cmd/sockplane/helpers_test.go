package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		// etcd's peer connections of a stopped member (cluster tests)
		// outlive it by seconds: see etcdtest.LeakTimeout.
		deadline := time.Now().Add(etcdtest.LeakTimeout)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
		}
	}
	os.Exit(code)
}

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

// startDaemon runs the daemon in-process on 127.0.0.1:0 ports; when the
// test ends it cancels the daemon's context, as a signal would, and
// checks that the daemon shut down cleanly. edits, if any, change the
// options first (e.g. to set execAllow).
func startDaemon(t *testing.T, edits ...func(*options)) *daemon {
	t.Helper()
	opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", shutdownTimeout: 5 * time.Second}
	for _, edit := range edits {
		edit(&opts)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := newDaemon(opts, logger)
	if err != nil {
		t.Fatalf("newDaemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testTimeout):
			t.Error("the daemon did not shut down")
		}
	})
	return d
}

// restResult is an HTTP reply: its status and its JSON body.
type restResult struct {
	status int
	body   map[string]any
	raw    string
}

func rest(t *testing.T, d *daemon, method, path, body string) restResult {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.httpAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: testTimeout}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := restResult{status: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: reply is not a JSON object: %s", method, path, raw)
	}
	return r
}

// str digs a string out of a decoded JSON object: str(m, "status", "state").
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[k]
	}
	s, _ := v.(string)
	return s
}

// roundTrip sends body as one JSON-header frame to a TCP or UDP listener
// and returns the reply body.
func roundTrip(t *testing.T, network, addr, body string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, testTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	var codec wire.Codec
	frame, err := codec.AppendFrame(nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(frame); err != nil {
		return "", err
	}
	if network == "udp" {
		buf := make([]byte, 64<<10)
		n, err := conn.Read(buf)
		if err != nil {
			return "", err
		}
		f, err := codec.ParseDatagram(buf[:n])
		return string(f.Body), err
	}
	f, err := codec.ReadFrame(bufio.NewReader(conn))
	return string(f.Body), err
}
