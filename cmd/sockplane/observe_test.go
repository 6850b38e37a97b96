package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sockplane/sockplane/wire"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestMetricsMatchListenerStats: after a listener created over REST has
// served frames, /metrics parses with the Prometheus text parser and its
// series equal the stats REST reports for the listener; the REST call
// itself shows up in the gRPC server metrics.
func TestMetricsMatchListenerStats(t *testing.T) {
	d := startDaemon(t)
	created := rest(t, d, "POST", "/v1/listeners",
		`{"id":"obs","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`)
	if created.status != http.StatusOK {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}

	// Two frames on a connection left open, so the stats hold still while
	// the test reads them: every counter is bumped before its reply is
	// written, and the open connection keeps connections_active at 1.
	conn, err := net.DialTimeout("tcp", str(created.body, "status", "boundAddress"), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	var codec wire.Codec
	var frames []byte
	for _, body := range []string{"hello", "world"} {
		if frames, err = codec.AppendFrame(frames, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for _, want := range []string{"HELLO", "WORLD"} {
		if f, err := codec.ReadFrame(br); err != nil || string(f.Body) != want {
			t.Fatalf("reply %q, %v; want %q", f.Body, err, want)
		}
	}

	got := rest(t, d, "GET", "/v1/listeners/obs", "")
	families := scrapeMetrics(t, d)
	labels := map[string]string{"listener": "obs", "transport": "tcp", "handler": "upper"}
	for _, tt := range []struct{ metric, stat string }{
		{"sockplane_listener_connections_active", "connectionsActive"},
		{"sockplane_listener_connections_total", "connectionsTotal"},
		{"sockplane_listener_frames_in_total", "framesIn"},
		{"sockplane_listener_frames_out_total", "framesOut"},
		{"sockplane_listener_bytes_in_total", "bytesIn"},
		{"sockplane_listener_bytes_out_total", "bytesOut"},
		{"sockplane_listener_errors_total", "errors"},
	} {
		// protojson writes uint64 as a JSON string.
		want, err := strconv.ParseUint(str(got.body, "status", "stats", tt.stat), 10, 64)
		if err != nil {
			t.Fatalf("stats.%s in %s: %v", tt.stat, got.raw, err)
		}
		if v, ok := metricValue(families, tt.metric, labels); !ok || v != float64(want) {
			t.Errorf("%s = %v (present %v); REST stats.%s = %d", tt.metric, v, ok, tt.stat, want)
		}
	}
	if v, _ := metricValue(families, "sockplane_listener_frames_in_total", labels); v != 2 {
		t.Errorf("frames_in_total = %v, want the 2 frames sent", v)
	}
	if v, ok := metricValue(families, "sockplane_listener_up", labels); !ok || v != 1 {
		t.Errorf("sockplane_listener_up = %v (present %v), want 1", v, ok)
	}

	// The gateway's calls went through the gRPC interceptors.
	for _, method := range []string{"CreateListener", "GetListener"} {
		grpcLabels := map[string]string{"grpc_service": "sockplane.v1.ListenerService", "grpc_method": method, "grpc_code": "OK"}
		if v, ok := metricValue(families, "grpc_server_handled_total", grpcLabels); !ok || v < 1 {
			t.Errorf("grpc_server_handled_total%v = %v (present %v), want at least 1", grpcLabels, v, ok)
		}
	}
	for _, name := range []string{"grpc_server_handling_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := families[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

// TestProbesAndOpenAPI: the probes and the OpenAPI document on the HTTP
// port, and /readyz turning 503 when the daemon starts shutting down
// (its first step) while the servers still serve.
func TestProbesAndOpenAPI(t *testing.T) {
	d := startDaemon(t)
	for _, tt := range []struct {
		path        string
		status      int
		contentType string
	}{
		{"/healthz", 200, "text/plain"},
		{"/readyz", 200, "text/plain"},
		{"/openapi.json", 200, "application/json"},
		{"/metrics", 200, "text/plain"},
	} {
		status, ct, body := httpGet(t, d, tt.path)
		if status != tt.status || !strings.HasPrefix(ct, tt.contentType) {
			t.Errorf("GET %s: %d %q, want %d %s", tt.path, status, ct, tt.status, tt.contentType)
		}
		if tt.path == "/openapi.json" {
			var doc map[string]any
			if err := json.Unmarshal([]byte(body), &doc); err != nil || doc["swagger"] != "2.0" {
				t.Errorf("GET /openapi.json: not a Swagger 2.0 document (%v)", err)
			}
		}
	}

	d.health.Shutdown() // what shutdown does first
	if status, _, body := httpGet(t, d, "/readyz"); status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: ") {
		t.Errorf("GET /readyz after health shutdown: %d %q, want 503", status, body)
	}
	if status, _, _ := httpGet(t, d, "/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz after health shutdown: %d, want 200", status)
	}
	if r := rest(t, d, "GET", "/v1/listeners", ""); r.status != http.StatusOK {
		t.Errorf("the REST API stopped before the servers did: %d", r.status)
	}
}

// TestShutdownEndsOpenStreams: streams that never end by themselves, a
// REST event watcher (GET /v1/events) and a gRPC health watcher, end
// with UNAVAILABLE when shutdown begins, so the daemon stops at once
// instead of waiting them out for all of --shutdown-timeout.
func TestShutdownEndsOpenStreams(t *testing.T) {
	opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", shutdownTimeout: time.Minute}
	d, err := newDaemon(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- d.serve(ctx) }()

	type result struct {
		status int
		body   string
		err    error
	}
	watched := make(chan result, 1)
	go func() {
		reqCtx, reqCancel := context.WithTimeout(context.Background(), testTimeout)
		defer reqCancel()
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, "http://"+d.httpAddr()+"/v1/events", nil)
		if err != nil {
			watched <- result{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			watched <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		watched <- result{resp.StatusCode, string(body), err}
	}()

	waitCtx, waitCancel := context.WithTimeout(context.Background(), testTimeout)
	defer waitCancel()
	health, err := healthpb.NewHealthClient(dialGRPC(t, d)).Watch(waitCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := health.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch: %v, %v", first, err)
	}
	// The REST watcher is open once its gRPC stream has started. The
	// gateway sends no headers before the first event, so the gRPC
	// server's own count is the one sign there is.
	for {
		families := scrapeMetrics(t, d)
		if v, _ := metricValue(families, "grpc_server_started_total", map[string]string{"grpc_method": "WatchEvents"}); v >= 1 {
			break
		}
		if waitCtx.Err() != nil {
			t.Fatal("the REST event watcher never reached the gRPC server")
		}
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("shutdown waited on the open streams (--shutdown-timeout %v)", opts.shutdownTimeout)
	}
	r := <-watched // the request's own deadline bounds this
	if r.err != nil || !strings.Contains(r.body, "sockplane is shutting down") {
		t.Errorf("REST watcher: %d %q, %v; want the stream ended by shutdown", r.status, r.body, r.err)
	}
	for {
		_, err := health.Recv() // NOT_SERVING may come first
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Errorf("health watch ended with %v, want UNAVAILABLE", err)
			}
			break
		}
	}
}

func httpGet(t *testing.T, d *daemon, path string) (status int, contentType, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.httpAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}

// scrapeMetrics GETs /metrics and parses it as Prometheus does.
func scrapeMetrics(t *testing.T, d *daemon) map[string]*dto.MetricFamily {
	t.Helper()
	status, _, body := httpGet(t, d, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET /metrics: not the Prometheus text format: %v", err)
	}
	return families
}

// metricValue returns the value of the counter or gauge series of family
// name whose labels include want.
func metricValue(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
next:
	for _, m := range families[name].GetMetric() {
		have := make(map[string]string)
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
