package api

import (
	"fmt"
	"log/slog"
	"net/http"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// Metrics is the daemon's Prometheus registry: the listeners (see
// ListenerCollector), the gRPC server (grpc_server_*, from
// go-grpc-middleware's prometheus provider, with handling-time
// histograms), the Go runtime (go_*), the process (process_*) and the
// scrapes themselves (promhttp_*). It is its own registry, not the
// global one, so nothing a dependency registers behind our back is
// exposed.
type Metrics struct {
	registry *prometheus.Registry
	grpc     *grpcprom.ServerMetrics
	handler  http.Handler
}

// maxConcurrentScrapes bounds the scrapes served at once; more get 503.
// Each one locks the registry and every listener's stats briefly, which
// a flood of scrapes must not turn into contention with accepts.
const maxConcurrentScrapes = 8

// NewMetrics registers every collector on a new registry. Errors from the
// metrics handler (a collector that fails) go to log at warn level; the
// scrape still serves what the other collectors produced.
func NewMetrics(reg *registry.Registry, log *slog.Logger) (*Metrics, error) {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		grpc:     grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
	}
	for _, c := range []prometheus.Collector{
		NewListenerCollector(reg),
		m.grpc,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.registry.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	m.handler = promhttp.InstrumentMetricHandler(m.registry, promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.registry,
		MaxRequestsInFlight: maxConcurrentScrapes,
	}))
	return m, nil
}

// Handler serves the metrics in the Prometheus text format (or another
// format the scraper negotiates), for GET /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// UnaryServerInterceptor counts and times unary gRPC calls.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor()
}

// StreamServerInterceptor counts and times streaming gRPC calls, and
// counts their messages.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// InitializeGRPC creates the gRPC series of every method registered on s,
// at zero, so a method never called still shows up, and rate() sees its
// first call. Call it after every service is registered.
func (m *Metrics) InitializeGRPC(s *grpc.Server) { m.grpc.InitializeMetrics(s) }

// Labels of the per-listener series. listener is the listener's id;
// transport and handler are as in its spec ("tcp", "echo").
var listenerLabels = []string{"listener", "transport", "handler"}

// listenerCounter is one per-listener series read from the stats.
type listenerCounter struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(rawsock.StatsSnapshot) uint64
}

// ListenerCollector is a prometheus.Collector of the registry's listeners.
// It reads Registry.List on each scrape, so serving frames costs nothing
// more than the counters rawsock keeps anyway. Every registered listener
// has a series, stopped and failed ones included, so its counters carry
// on across stop and start:
//
//	sockplane_listener_up{listener,transport,handler}                 gauge: 1 running, 0 stopped or failed
//	sockplane_listener_connections_active{listener,transport,handler} gauge
//	sockplane_listener_connections_total{listener,transport,handler}  counter
//	sockplane_listener_frames_in_total{...}, _frames_out_total{...}   counters
//	sockplane_listener_bytes_in_total{...}, _bytes_out_total{...}     counters, framing included
//	sockplane_listener_errors_total{listener,transport,handler}        counter
//	sockplane_listeners{state}                                        gauge: listeners by state (running, stopped, failed), 0s included
//
// The state is a separate gauge rather than a label of the per-listener
// series, so a listener's series keep their identity when it stops.
// Deleting a listener ends its series; creating one with the same id
// starts them from 0, which Prometheus reads as a counter reset.
type ListenerCollector struct {
	reg       *registry.Registry
	up        *prometheus.Desc
	listeners *prometheus.Desc
	counters  []listenerCounter
}

var _ prometheus.Collector = (*ListenerCollector)(nil)

// NewListenerCollector returns a collector of reg's listeners.
func NewListenerCollector(reg *registry.Registry) *ListenerCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("sockplane_listener_"+name, help, listenerLabels, nil)
	}
	return &ListenerCollector{
		reg: reg,
		up:  desc("up", "Whether the listener is running (1) or stopped or failed (0)."),
		listeners: prometheus.NewDesc("sockplane_listeners",
			"Registered listeners by state.", []string{"state"}, nil),
		counters: []listenerCounter{
			{desc("connections_active", "Open connections (stream transports)."), prometheus.GaugeValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.ConnectionsActive }},
			{desc("connections_total", "Connections accepted (stream transports)."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.ConnectionsTotal }},
			{desc("frames_in_total", "Request frames read."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.FramesIn }},
			{desc("frames_out_total", "Frames written."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.FramesOut }},
			{desc("bytes_in_total", "Bytes read, framing included."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.BytesIn }},
			{desc("bytes_out_total", "Bytes written, framing included."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.BytesOut }},
			{desc("errors_total", "Malformed frames, dropped datagrams and failed socket operations."), prometheus.CounterValue,
				func(s rawsock.StatsSnapshot) uint64 { return s.Errors }},
		},
	}
}

// Describe implements prometheus.Collector.
func (c *ListenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.listeners
	for _, k := range c.counters {
		ch <- k.desc
	}
}

// Collect implements prometheus.Collector.
func (c *ListenerCollector) Collect(ch chan<- prometheus.Metric) {
	byState := map[registry.State]int{registry.StateRunning: 0, registry.StateStopped: 0, registry.StateFailed: 0}
	for _, info := range c.reg.List(nil) {
		byState[info.State]++
		labels := []string{info.Spec.ID, string(info.Spec.Transport), string(info.Spec.Handler)}
		up := 0.0
		if info.State == registry.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, labels...)
		for _, k := range c.counters {
			ch <- prometheus.MustNewConstMetric(k.desc, k.valueType, float64(k.value(info.Stats)), labels...)
		}
	}
	for state, n := range byState {
		ch <- prometheus.MustNewConstMetric(c.listeners, prometheus.GaugeValue, float64(n), state.String())
	}
}
