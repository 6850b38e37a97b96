package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

const testToken = "s3cret-token_with.chars~+/="

func TestTokenAuthCheck(t *testing.T) {
	a := NewTokenAuth(testToken)
	for _, tt := range []struct {
		name   string
		values []string
		want   error // nil: accepted
	}{
		{"right", []string{"Bearer " + testToken}, nil},
		{"scheme in any case", []string{"bEARER " + testToken}, nil},
		{"surrounding spaces", []string{"  Bearer  " + testToken + " "}, nil},
		{"missing", nil, errNoCredentials},
		{"two values", []string{"Bearer " + testToken, "Bearer " + testToken}, errManyAuthValues},
		{"basic scheme", []string{"Basic " + testToken}, errNotBearer},
		{"no scheme", []string{testToken}, errNotBearer},
		{"empty token", []string{"Bearer "}, errNotBearer},
		{"wrong token", []string{"Bearer nope"}, errWrongToken},
		{"token prefix", []string{"Bearer " + testToken[:len(testToken)-1]}, errWrongToken},
		{"token and more", []string{"Bearer " + testToken + "x"}, errWrongToken},
	} {
		err := a.check(tt.values)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: check(%q) = %v, want %v", tt.name, tt.values, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "nope") || strings.Contains(err.Error(), testToken)) {
			t.Errorf("%s: the error %q holds what the caller sent", tt.name, err)
		}
	}
}

func TestNewTokenAuthEmptyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewTokenAuth(\"\") did not panic")
		}
	}()
	NewTokenAuth("")
}

// startAuthServer serves the API on 127.0.0.1:0 behind the token check
// and returns a plaintext connection to it.
func startAuthServer(t *testing.T) *grpc.ClientConn {
	t.Helper()
	reg := newTestRegistry(t)
	auth := NewTokenAuth(testToken)
	s := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	RegisterGRPC(s, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn
}

// withAuth is ctx carrying authorization metadata, as sockctl and grpcurl
// -H send it; "" is none.
func withAuth(ctx context.Context, value string) context.Context {
	if value == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", value)
}

func TestTokenAuthInterceptors(t *testing.T) {
	conn := startAuthServer(t)
	ls := sockplanev1.NewListenerServiceClient(conn)
	for _, tt := range []struct {
		name, auth string
		want       codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"wrong token", "Bearer wrong", codes.Unauthenticated},
		{"not bearer", "Basic dXNlcjpwYXNz", codes.Unauthenticated},
		{"right token", "Bearer " + testToken, codes.OK},
	} {
		ctx, cancel := context.WithTimeout(withAuth(context.Background(), tt.auth), testTimeout)
		// Unary.
		_, err := ls.ListListeners(ctx, &sockplanev1.ListListenersRequest{})
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: ListListeners: %v, want %v", tt.name, err, tt.want)
		}
		if tt.want == codes.Unauthenticated && !strings.Contains(status.Convert(err).Message(), "Bearer <token>") && tt.auth != "Bearer wrong" {
			t.Errorf("%s: the message %q does not say how to send the token", tt.name, status.Convert(err).Message())
		}
		// A server stream: refused before the service sees it.
		stream, err := ls.WatchEvents(ctx, &sockplanev1.WatchEventsRequest{})
		if err == nil {
			_, err = stream.Header()
			if err == nil && tt.want != codes.OK {
				_, err = stream.Recv()
			}
		}
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: WatchEvents: %v, want %v", tt.name, err, tt.want)
		}
		// Reflection lists the API: it needs the token too.
		refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err == nil {
			// Send's io.EOF means the server ended the stream; Recv
			// has the status.
			_ = refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			_, err = refl.Recv()
		}
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: reflection: %v, want %v", tt.name, err, tt.want)
		}
		// Health needs no token, whatever is sent.
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: health Check: %v, %v; want SERVING", tt.name, hc, err)
		}
		cancel()
	}
}

// TestGatewayForwardsAuthorization pins what the daemon's REST auth rests
// on: grpc-gateway passes a request's Authorization header on as the
// call's "authorization" metadata (it does so for every handler, before
// its header matcher runs), so the gRPC token check sees REST callers.
// Only the gateway is served here, without NewHTTPGuard's own check.
func TestGatewayForwardsAuthorization(t *testing.T) {
	conn := startAuthServer(t)
	gw, err := NewGateway(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong", http.StatusUnauthorized},
		{"right token", "Bearer " + testToken, http.StatusOK},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/listeners", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		cancel()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: GET /v1/listeners: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}
