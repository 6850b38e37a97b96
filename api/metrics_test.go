package api

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

// TestListenerMetricsMatchStats drives real traffic through a registry's
// listeners, scrapes /metrics as Prometheus would, and checks that every
// listener series equals the registry's stats for that listener.
func TestListenerMetricsMatchStats(t *testing.T) {
	reg := newTestRegistry(t)
	shout := createListener(t, reg, registry.Spec{ID: "shout", Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper})
	dgram := createListener(t, reg, registry.Spec{ID: "dgram", Transport: registry.TransportUDP, Address: "127.0.0.1:0"})
	idle := createListener(t, reg, registry.Spec{ID: "idle", Transport: registry.TransportTCP, Address: "127.0.0.1:0"})

	// shout: three frames on a connection left open, so one is active.
	conn := dialListener(t, "tcp", shout.BoundAddr)
	if got := exchange(t, conn, "hello", "sticky", "packets"); got != "HELLO STICKY PACKETS" {
		t.Fatalf("shout replied %q", got)
	}
	// dgram: a datagram that is not a frame (dropped, an error), then a
	// frame; its reply proves the first was counted, since one goroutine
	// reads the socket in order.
	udp := dialListener(t, "udp", dgram.BoundAddr)
	if _, err := udp.Write([]byte("not a frame")); err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, udp, "hi"); got != "hi" {
		t.Fatalf("dgram replied %q", got)
	}
	// idle: a frame, then a header length of 0, which gets an error frame
	// and the connection closed; then the listener is stopped. Stop
	// returns once the connection is gone, so its stats are final, and
	// more frames went out than came in.
	once := dialListener(t, "tcp", idle.BoundAddr)
	if got := exchange(t, once, "bye"); got != "bye" {
		t.Fatalf("idle replied %q", got)
	}
	if _, err := once.Write([]byte{0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	var codec wire.Codec
	if f, err := codec.ReadFrame(bufio.NewReader(once)); err != nil || !strings.Contains(string(f.Header), `"error"`) {
		t.Fatalf("idle: want an error frame, got %q, %v", f.Header, err)
	}
	_ = once.Close()
	if _, err := reg.Stop(context.Background(), "idle", registry.StopOptions{}); err != nil {
		t.Fatal(err)
	}

	families := scrape(t, newTestMetrics(t, reg))
	infos := reg.List(nil)
	if len(infos) != 3 {
		t.Fatalf("registry lists %d listeners", len(infos))
	}
	for _, info := range infos {
		labels := map[string]string{"listener": info.Spec.ID, "transport": string(info.Spec.Transport), "handler": string(info.Spec.Handler)}
		s := info.Stats
		for _, want := range []struct {
			name  string
			typ   dto.MetricType
			value uint64
		}{
			{"sockplane_listener_connections_active", dto.MetricType_GAUGE, s.ConnectionsActive},
			{"sockplane_listener_connections_total", dto.MetricType_COUNTER, s.ConnectionsTotal},
			{"sockplane_listener_frames_in_total", dto.MetricType_COUNTER, s.FramesIn},
			{"sockplane_listener_frames_out_total", dto.MetricType_COUNTER, s.FramesOut},
			{"sockplane_listener_bytes_in_total", dto.MetricType_COUNTER, s.BytesIn},
			{"sockplane_listener_bytes_out_total", dto.MetricType_COUNTER, s.BytesOut},
			{"sockplane_listener_errors_total", dto.MetricType_COUNTER, s.Errors},
		} {
			got, ok := sample(families, want.name, want.typ, labels)
			if !ok {
				t.Errorf("%s%v: no sample", want.name, labels)
			} else if got != float64(want.value) {
				t.Errorf("%s%v = %v, stats say %d", want.name, labels, got, want.value)
			}
		}
	}

	// The stats themselves are what the traffic says, so the comparison
	// above did not compare zeros.
	stats := func(id string) rawsock.StatsSnapshot {
		info, err := reg.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return info.Stats
	}
	if s := stats("shout"); s.FramesIn != 3 || s.FramesOut != 3 || s.ConnectionsActive != 1 || s.ConnectionsTotal != 1 {
		t.Errorf("shout: stats %+v", s)
	}
	if s := stats("dgram"); s.FramesIn != 1 || s.FramesOut != 1 || s.Errors != 1 {
		t.Errorf("dgram: stats %+v", s)
	}
	if s := stats("idle"); s.FramesIn != 1 || s.FramesOut != 2 || s.Errors != 1 || s.ConnectionsActive != 0 || s.ConnectionsTotal != 1 {
		t.Errorf("idle: stats %+v", s)
	}

	for _, info := range infos {
		want := 1.0
		if info.Spec.ID == "idle" {
			want = 0
		}
		labels := map[string]string{"listener": info.Spec.ID, "transport": string(info.Spec.Transport), "handler": string(info.Spec.Handler)}
		if up, ok := sample(families, "sockplane_listener_up", dto.MetricType_GAUGE, labels); !ok || up != want {
			t.Errorf("sockplane_listener_up%v = %v (present %v), want %v", labels, up, ok, want)
		}
	}
	if l := families["sockplane_listener_up"].GetMetric(); len(l) != 3 {
		t.Errorf("sockplane_listener_up has %d series, want one per listener", len(l))
	}
	for state, want := range map[string]float64{"running": 2, "stopped": 1, "failed": 0} {
		if got, ok := sample(families, "sockplane_listeners", dto.MetricType_GAUGE, map[string]string{"state": state}); !ok || got != want {
			t.Errorf("sockplane_listeners{state=%q} = %v (present %v), want %v", state, got, ok, want)
		}
	}
	// The labels are the spec's, as the API's enums name them in lower case.
	if _, ok := sample(families, "sockplane_listener_frames_in_total", dto.MetricType_COUNTER,
		map[string]string{"listener": "shout", "transport": "tcp", "handler": "upper"}); !ok {
		t.Error("no frames_in series labelled listener=shout, transport=tcp, handler=upper")
	}
	// The runtime and scrape collectors are on the same registry.
	for _, name := range []string{"go_goroutines", "go_gc_duration_seconds", "process_start_time_seconds", "promhttp_metric_handler_requests_total"} {
		if _, ok := families[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

// TestMetricsGRPCSeries: once the services are registered, every method
// has its gRPC series, at zero before any call.
func TestMetricsGRPCSeries(t *testing.T) {
	reg := newTestRegistry(t)
	m := newTestMetrics(t, reg)
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(m.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(m.StreamServerInterceptor()))
	defer s.Stop()
	RegisterGRPC(s, reg)
	m.InitializeGRPC(s)

	families := scrape(t, m)
	labels := map[string]string{"grpc_service": "sockplane.v1.ListenerService", "grpc_method": "CreateListener", "grpc_type": "unary", "grpc_code": "OK"}
	if got, ok := sample(families, "grpc_server_handled_total", dto.MetricType_COUNTER, labels); !ok || got != 0 {
		t.Errorf("grpc_server_handled_total%v = %v (present %v), want 0", labels, got, ok)
	}
	if _, ok := families["grpc_server_handling_seconds"]; !ok {
		t.Error("no grpc_server_handling_seconds histogram")
	}
}

// TestListenerMetricsEmptyRegistry: no listeners, no listener series, but
// the count by state is there, at zero.
func TestListenerMetricsEmptyRegistry(t *testing.T) {
	families := scrape(t, newTestMetrics(t, newTestRegistry(t)))
	if _, ok := families["sockplane_listener_up"]; ok {
		t.Error("sockplane_listener_up without listeners")
	}
	for _, state := range []string{"running", "stopped", "failed"} {
		if got, ok := sample(families, "sockplane_listeners", dto.MetricType_GAUGE, map[string]string{"state": state}); !ok || got != 0 {
			t.Errorf("sockplane_listeners{state=%q} = %v (present %v), want 0", state, got, ok)
		}
	}
}

// newTestRegistry returns a registry whose listeners are shut down when
// the test ends, and checks then that nothing the test started is left
// running.
func newTestRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // first registered, so it runs last
	reg := registry.New(slog.New(slog.DiscardHandler), registry.Policy{}, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := reg.Shutdown(ctx); err != nil {
			t.Errorf("registry shutdown: %v", err)
		}
	})
	return reg
}

func createListener(t *testing.T, reg *registry.Registry, spec registry.Spec) registry.Info {
	t.Helper()
	info, err := reg.Create(context.Background(), spec, registry.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", spec.ID, err)
	}
	return info
}

func dialListener(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// exchange sends each body as one JSON-header frame, reads the replies and
// returns their bodies joined by spaces. On a stream the frames go out
// pipelined in one write; on a datagram socket one per datagram.
func exchange(t *testing.T, conn net.Conn, bodies ...string) string {
	t.Helper()
	var codec wire.Codec
	replies := make([]string, 0, len(bodies))
	if _, ok := conn.(net.PacketConn); ok {
		buf := make([]byte, 64<<10)
		for _, body := range bodies {
			frame, err := codec.AppendFrame(nil, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			f, err := codec.ParseDatagram(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			replies = append(replies, string(f.Body))
		}
		return strings.Join(replies, " ")
	}
	var frames []byte
	for _, body := range bodies {
		var err error
		if frames, err = codec.AppendFrame(frames, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for range bodies {
		f, err := codec.ReadFrame(br)
		if err != nil {
			t.Fatalf("reply %d: %v", len(replies), err)
		}
		replies = append(replies, string(f.Body))
	}
	return strings.Join(replies, " ")
}

func newTestMetrics(t *testing.T, reg *registry.Registry) *Metrics {
	t.Helper()
	m, err := NewMetrics(reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape serves m over HTTP and parses what a GET of it returns with the
// Prometheus text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return scrapeURL(t, srv.Client(), srv.URL)
}

func scrapeURL(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	return families
}

// sample returns the value of the series of family name whose labels
// include want, checking the family's type.
func sample(families map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok || mf.GetType() != typ {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := make(map[string]string)
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	return 0, false
}
