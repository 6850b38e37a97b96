package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sockplane/sockplane/api/openapi"
	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// HTTPConfig is what the daemon serves on its HTTP port.
type HTTPConfig struct {
	// Gateway serves every path that is not one of NewHTTPHandler's own
	// endpoints: the REST API (NewGateway). Required.
	Gateway http.Handler
	// Metrics serves GET /metrics, e.g. Metrics.Handler(). Default: nil,
	// no /metrics (the gateway answers 404).
	Metrics http.Handler
	// Ready reports whether the daemon takes API calls: nil, or a nil
	// error, is ready; an error says why not. It is called on every GET
	// /readyz, so it must be cheap. Default: nil, ready while serving.
	Ready func() error
}

// NewHTTPHandler returns the handler of the daemon's HTTP port:
//
//	GET /metrics       cfg.Metrics
//	GET /healthz       liveness: 200 "ok" while the process serves HTTP
//	GET /readyz        readiness: 200 "ok" when cfg.Ready says so, else 503 and the reason
//	GET /openapi.json  the OpenAPI document of the REST API (package openapi)
//	GET /ui/...        the web dashboard (ui.go); GET / from a browser redirects there
//	anything else      cfg.Gateway
//
// Its own endpoints answer GET and HEAD, and 405 to other methods. Paths
// are matched exactly and the gateway gets every other request untouched
// (no cleaning or redirects on the way), so the REST API behaves as if it
// were served alone. NewHTTPHandler panics when cfg.Gateway is nil, as
// http.Handle does with a nil handler: that is a programming error.
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	if cfg.Gateway == nil {
		panic("api: NewHTTPHandler without a Gateway")
	}
	own := map[string]http.Handler{
		"/healthz":      http.HandlerFunc(serveHealthz),
		"/readyz":       readyz(cfg.Ready),
		"/openapi.json": http.HandlerFunc(serveOpenAPI),
	}
	if cfg.Metrics != nil {
		own["/metrics"] = cfg.Metrics
	}
	for path, h := range own {
		own[path] = getOnly(h)
	}
	return &httpHandler{gateway: cfg.Gateway, own: own, ui: newUIHandler()}
}

type httpHandler struct {
	gateway http.Handler
	own     map[string]http.Handler // read only once built
	ui      http.Handler            // the dashboard: uiRoute
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if own, ok := h.own[r.URL.Path]; ok {
		own.ServeHTTP(w, r)
		return
	}
	if uiRoute(r) {
		h.ui.ServeHTTP(w, r)
		return
	}
	h.gateway.ServeHTTP(w, r)
}

// getOnly refuses every method but GET and HEAD (net/http drops the body
// of a reply to HEAD).
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, "ok")
}

func readyz(ready func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				writeProbe(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		writeProbe(w, http.StatusOK, "ok")
	})
}

// writeProbe answers a probe. Its answer is about this moment, so no
// cache may keep it.
func writeProbe(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// serveOpenAPI serves the embedded document; http.ServeContent sets its
// length and answers HEAD and range requests.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "openapi.json", time.Time{}, strings.NewReader(openapi.JSON))
}

// healthCheckTimeout bounds one readiness check. The health server answers
// from memory, so this never runs out in practice.
const healthCheckTimeout = time.Second

// HealthReady returns an HTTPConfig.Ready that follows hs, the gRPC
// health server RegisterGRPC returns: ready while hs reports SERVING for
// the whole server and for sockplane.v1.ListenerService. hs.Shutdown
// makes it not ready at once, which is how the daemon turns /readyz to
// 503 before it stops serving.
func HealthReady(hs *health.Server) func() error {
	services := []string{"", sockplanev1.ListenerService_ServiceDesc.ServiceName}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), healthCheckTimeout)
		defer cancel()
		for _, service := range services {
			resp, err := hs.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err != nil {
				return fmt.Errorf("grpc health of %q: %w", service, err)
			}
			if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
				if service == "" {
					return fmt.Errorf("grpc server is %s", st)
				}
				return fmt.Errorf("%s is %s", service, st)
			}
		}
		return nil
	}
}
