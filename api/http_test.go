package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sockplane/sockplane/api/openapi"
	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// reply is what a test server answered.
type reply struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, srv *httptest.Server, method, path string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// named answers 200 with its name, so a test sees who served a request.
type named string

func (n named) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, string(n))
}

func TestHTTPHandlerEndpoints(t *testing.T) {
	var notReady atomic.Pointer[error]
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{
		Gateway: named("gateway"),
		Metrics: named("metrics"),
		Ready: func() error {
			if err := notReady.Load(); err != nil {
				return *err
			}
			return nil
		},
	}))
	defer srv.Close()

	for _, tt := range []struct {
		method, path string
		status       int
		contentType  string // prefix
		body         string // "*": anything
	}{
		{"GET", "/healthz", 200, "text/plain", "ok\n"},
		{"HEAD", "/healthz", 200, "text/plain", ""},
		{"GET", "/readyz", 200, "text/plain", "ok\n"},
		{"GET", "/metrics", 200, "text/plain", "metrics"},
		{"HEAD", "/metrics", 200, "text/plain", ""},
		{"GET", "/openapi.json", 200, "application/json", "*"},
		{"HEAD", "/openapi.json", 200, "application/json", ""},
		{"POST", "/healthz", 405, "text/plain", "method not allowed\n"},
		{"PUT", "/readyz", 405, "text/plain", "method not allowed\n"},
		{"DELETE", "/metrics", 405, "text/plain", "method not allowed\n"},
		{"POST", "/openapi.json", 405, "text/plain", "method not allowed\n"},
		// Everything else, whatever the method, is the gateway's.
		{"GET", "/v1/listeners", 200, "text/plain", "gateway"},
		{"POST", "/v1/listeners/x:stop", 200, "text/plain", "gateway"},
		{"DELETE", "/v1/listeners/x", 200, "text/plain", "gateway"},
		{"GET", "/", 200, "text/plain", "gateway"},
		{"GET", "/healthz/", 200, "text/plain", "gateway"}, // exact paths only
		{"GET", "/metrics.json", 200, "text/plain", "gateway"},
	} {
		r := do(t, srv, tt.method, tt.path)
		name := tt.method + " " + tt.path
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d", name, r.status, tt.status)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
			t.Errorf("%s: Content-Type %q, want %s", name, ct, tt.contentType)
		}
		if tt.body != "*" && r.body != tt.body {
			t.Errorf("%s: body %q, want %q", name, r.body, tt.body)
		}
		if tt.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q, want GET, HEAD", name, r.header.Get("Allow"))
		}
	}

	// Readiness follows Ready at each request, with the reason.
	draining := errors.New("shutting down")
	notReady.Store(&draining)
	if r := do(t, srv, "GET", "/readyz"); r.status != 503 || r.body != "not ready: shutting down\n" {
		t.Errorf("readyz while not ready: %d %q", r.status, r.body)
	}
	if r := do(t, srv, "GET", "/healthz"); r.status != 200 {
		t.Errorf("healthz while not ready: %d, want 200: the process is alive", r.status)
	}
	notReady.Store(nil)
	if r := do(t, srv, "GET", "/readyz"); r.status != 200 {
		t.Errorf("readyz when ready again: %d", r.status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if cc := do(t, srv, "GET", path).header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, cc)
		}
	}
}

// TestHTTPHandlerOpenAPI: /openapi.json is the generated document, whole.
func TestHTTPHandlerOpenAPI(t *testing.T) {
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Gateway: named("gateway")}))
	defer srv.Close()
	r := do(t, srv, "GET", "/openapi.json")
	if r.status != 200 || r.body != openapi.JSON {
		t.Fatalf("status %d, %d bytes; want 200 and the %d bytes of openapi.JSON", r.status, len(r.body), len(openapi.JSON))
	}
	if cl := r.header.Get("Content-Length"); cl == "" {
		t.Error("no Content-Length")
	}
	var doc struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf(`"swagger": %q, want "2.0"`, doc.Swagger)
	}
	for _, path := range []string{"/v1/listeners", "/v1/listeners/{id}", "/v1/listeners/{id}:stop"} {
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("no path %s", path)
		}
	}
}

// TestHTTPHandlerDefaults: without Metrics there is no /metrics of our
// own; without Ready the daemon is ready while it serves.
func TestHTTPHandlerDefaults(t *testing.T) {
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Gateway: named("gateway")}))
	defer srv.Close()
	if r := do(t, srv, "GET", "/metrics"); r.body != "gateway" {
		t.Errorf("/metrics without Metrics: %q, want the gateway's", r.body)
	}
	if r := do(t, srv, "GET", "/readyz"); r.status != 200 {
		t.Errorf("/readyz without Ready: %d", r.status)
	}
}

// TestHealthReady: /readyz follows the gRPC health server, and turns 503
// as soon as it shuts down, as the daemon's shutdown does first.
func TestHealthReady(t *testing.T) {
	hs := health.NewServer()
	service := sockplanev1.ListenerService_ServiceDesc.ServiceName
	hs.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Gateway: named("gateway"), Ready: HealthReady(hs)}))
	defer srv.Close()

	if r := do(t, srv, "GET", "/readyz"); r.status != 200 {
		t.Fatalf("serving: %d %q", r.status, r.body)
	}
	hs.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
	if r := do(t, srv, "GET", "/readyz"); r.status != 503 || !strings.Contains(r.body, service+" is NOT_SERVING") {
		t.Errorf("service not serving: %d %q", r.status, r.body)
	}
	hs.Resume()
	if r := do(t, srv, "GET", "/readyz"); r.status != 200 {
		t.Errorf("resumed: %d %q", r.status, r.body)
	}
	hs.Shutdown()
	if r := do(t, srv, "GET", "/readyz"); r.status != 503 || !strings.Contains(r.body, "grpc server is NOT_SERVING") {
		t.Errorf("after Shutdown: %d %q", r.status, r.body)
	}

	// A service the health server never heard of is not ready either.
	if err := HealthReady(health.NewServer())(); err == nil || !strings.Contains(err.Error(), service) {
		t.Errorf("unregistered service: %v", err)
	}
}

func TestNewHTTPHandlerWithoutGatewayPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewHTTPHandler(HTTPConfig{})
}
