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
func RegisterGRPC(s *grpc.Server, reg *registry.Registry) *health.Server {
	sockplanev1.RegisterListenerServiceServer(s, NewListenerService(reg))
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
// it, instead of being silently dropped as the gateway does by default.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &streamUnwrapping{runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithForwardResponseOption(openStream),
	)
	if err := sockplanev1.RegisterListenerServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	return mux, nil
}

// streamUnwrapping is the gateway's JSON marshaler, except that each
// message of a server stream (GET /v1/events) is written as the message
// itself, one per line, instead of the gateway's {"result": ...} wrapper:
// newline-delimited JSON, flushed per message, that curl -N shows as it
// comes and any NDJSON reader parses. Stream errors keep their
// {"error": ...} form.
type streamUnwrapping struct {
	runtime.JSONPb
}

// Marshal implements runtime.Marshaler.
func (m *streamUnwrapping) Marshal(v any) ([]byte, error) {
	if wrapped, ok := v.(map[string]any); ok && len(wrapped) == 1 {
		if result, ok := wrapped["result"]; ok {
			return m.JSONPb.Marshal(result)
		}
	}
	return m.JSONPb.Marshal(v)
}

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
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w).Flush()
}
