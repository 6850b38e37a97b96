package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/registry"
)

// RegisterGRPC registers the listener service, gRPC health checking and
// server reflection on s, so grpcurl works with no .proto files at hand.
// The returned health server reports SERVING until the caller says
// otherwise (Shutdown).
func RegisterGRPC(s *grpc.Server, reg *registry.Registry, opts ...Option) *health.Server {
	sockplanev1.RegisterListenerServiceServer(s, NewListenerService(reg, opts...))
	hs := health.NewServer()
	hs.SetServingStatus(sockplanev1.ListenerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return hs
}

// NewGateway returns the REST handler: every request becomes a gRPC call
// on conn. JSON is protojson's, lowerCamelCase; replies show default
// values (a counter at 0 is "0", not absent); a request body with a field
// the API does not have is refused with INVALID_ARGUMENT (HTTP 400) naming
// it, instead of being silently dropped as the gateway does by default, as
// is a body with data after its JSON object, and an enum value the enum
// does not have (the message lists those it has: gatewayJSON). A method a
// path does not take is 405 with Allow (routing.go). A server stream
// (GET /v1/events) is newline-delimited JSON, application/x-ndjson, one
// message per line; an error that ends it is its last line, in the shape
// of every other error. Every error answer is {"code": <gRPC code>,
// "message": ..., "details": [...]}.
//
// The gateway's POST-as-GET fallback for long URLs (a form-encoded POST
// to a GET path) and its X-HTTP-Method-Override header are off: a
// method means what it says, so the Allow of a 405 is the truth.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &gatewayJSON{runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithForwardResponseOption(openStream),
		runtime.WithMiddlewares(routeProbe),
		runtime.WithRoutingErrorHandler(routingError),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	)
	if err := sockplanev1.RegisterListenerServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&gatewayWriter{ResponseWriter: w, ctx: r.Context()}, r)
	}), nil
}

// gatewayWriter is the ResponseWriter the gateway writes to. It keeps two
// things of a server stream out of the HTTP server, which would log them
// (http.Server.ErrorLog: "superfluous response.WriteHeader call"):
//
//   - A status after the reply's header is out. openStream sends a
//     stream's 200 before its first message, but the gateway counts only
//     the messages it wrote itself, so a stream that ends before its
//     first message (the client went away, the daemon shuts down) gets a
//     second WriteHeader with the error's status. The status of a reply
//     already begun cannot change; the error is still written, as the
//     stream's last line.
//   - Anything once the client is gone (the request's context is done):
//     nobody would read it, and the gateway logs a failed write.
type gatewayWriter struct {
	http.ResponseWriter
	ctx         context.Context // the request's
	wroteHeader bool
}

// WriteHeader implements http.ResponseWriter.
func (w *gatewayWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: more may follow
		return
	}
	if w.wroteHeader || w.ctx.Err() != nil {
		return
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *gatewayWriter) Write(p []byte) (int, error) {
	if w.ctx.Err() != nil {
		return len(p), nil
	}
	w.wroteHeader = true // the first Write sends 200 if nothing was sent
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController's Flush calls.
func (w *gatewayWriter) FlushError() error {
	if w.ctx.Err() != nil {
		return nil
	}
	w.wroteHeader = true
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *gatewayWriter) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController the server's writer.
func (w *gatewayWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamOpenHeader marks a server stream the service has accepted: a
// stream refused at the start (a bad argument) ends without it, and the
// gateway then answers with the error's HTTP status.
const streamOpenHeader = "sockplane-stream"

// openStream sends a server stream's HTTP headers as soon as the service
// has accepted it, instead of with its first message: a watcher learns at
// once that it is subscribed. The gateway calls forward-response options
// with a nil message exactly once per stream, before any message; unary
// replies never come here with nil.
func openStream(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	if m != nil {
		return nil
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); !ok || len(md.HeaderMD.Get(streamOpenHeader)) == 0 {
		return nil
	}
	w.Header().Set("Content-Type", ndjson)
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w).Flush()
}
