package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenAuth checks the bearer token of API calls: "authorization: Bearer
// <token>" metadata on gRPC, the Authorization header on HTTP. The REST
// gateway forwards a request's Authorization header as the call's
// "authorization" metadata (grpc-gateway v2 does that for every handler,
// whatever its header matcher), so one token check covers both.
//
// Every call needs the token except gRPC health checking: probes
// (Kubernetes, load balancers, grpc_health_probe) carry no credentials,
// and health tells an anonymous caller only whether the daemon serves.
// Server reflection needs the token like any other call: it lists the
// whole API surface, and the rule is "every RPC except health".
type TokenAuth struct {
	// sum is the SHA-256 of the token. Comparing digests in constant time
	// hides the token's length as well as its bytes: subtle's compare
	// returns at once when the lengths differ.
	sum [sha256.Size]byte
}

// NewTokenAuth returns the check for token, which must not be empty.
func NewTokenAuth(token string) *TokenAuth {
	if token == "" {
		panic("api: NewTokenAuth with an empty token")
	}
	return &TokenAuth{sum: sha256.Sum256([]byte(token))}
}

// Errors of a refused credential. Their text says what is wrong and how to
// send the token right, and never holds what the caller sent: a wrong
// token may be a real secret meant for another service, and error
// messages end up in logs.
var (
	errNoCredentials  = errors.New("missing credentials: send the header \"authorization: Bearer <token>\" with the API token")
	errManyAuthValues = errors.New("more than one authorization value: send exactly one \"Bearer <token>\"")
	errNotBearer      = errors.New("authorization is not a bearer token: send \"Bearer <token>\"")
	errWrongToken     = errors.New("invalid bearer token")
)

// check reports whether values, the authorization values of one request,
// hold exactly the token. The scheme name is case-insensitive, as in
// every HTTP authentication scheme (RFC 9110, section 11.1).
func (a *TokenAuth) check(values []string) error {
	switch len(values) {
	case 0:
		return errNoCredentials
	case 1:
	default:
		return errManyAuthValues
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errNotBearer
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.sum[:]) != 1 {
		return errWrongToken
	}
	return nil
}

// healthMethodPrefix starts the full method name of every gRPC health
// call: Check, List and Watch.
var healthMethodPrefix = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// authorize checks the call named fullMethod with incoming context ctx.
func (a *TokenAuth) authorize(ctx context.Context, fullMethod string) error {
	if strings.HasPrefix(fullMethod, healthMethodPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if err := a.check(md.Get("authorization")); err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return nil
}

// UnaryServerInterceptor refuses a unary call without the token with
// UNAUTHENTICATED (HTTP 401 through the gateway).
func (a *TokenAuth) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor refuses a stream without the token with
// UNAUTHENTICATED before the service sees it.
func (a *TokenAuth) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.authorize(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
