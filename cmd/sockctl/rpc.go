package main

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// daemonClient is a connection to the daemon's gRPC API.
type daemonClient struct {
	conn    *grpc.ClientConn
	ls      sockplanev1.ListenerServiceClient
	server  string        // the daemon's address, for error messages
	timeout time.Duration // bounds each call
	// tls and clientCert say whether TLS is on and whether a client
	// certificate is sent, for the hints of error messages.
	tls, clientCert bool
}

// dialDaemon returns a client of the daemon at server, with the token and
// TLS of sec. gRPC connects on the first call, so an unreachable daemon,
// or a failed TLS handshake, shows up as that call's error.
func dialDaemon(server string, timeout time.Duration, sec *clientSecurity) (*daemonClient, error) {
	opts, err := sec.dialOptions(server)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(server, opts...)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", server, err)
	}
	return &daemonClient{
		conn:       conn,
		ls:         sockplanev1.NewListenerServiceClient(conn),
		server:     server,
		timeout:    timeout,
		tls:        sec.tlsOn(),
		clientCert: sec.tlsCert != "",
	}, nil
}

// Close closes the connection.
func (d *daemonClient) Close() error { return d.conn.Close() }

// call makes one call of d within d.timeout and turns a failure into an
// *rpcError.
func call[Req, Resp any](ctx context.Context, d *daemonClient, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	resp, err := rpc(ctx, req)
	if err != nil {
		return resp, d.describe(err)
	}
	return resp, nil
}

// rpcError is a failed call told in words, without gRPC's "rpc error:
// code = ... desc =" wrapping. It keeps the status, so status.Code works
// on it.
type rpcError struct {
	msg string
	st  *status.Status
}

func (e *rpcError) Error() string { return e.msg }

// GRPCStatus returns the status the daemon sent.
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// describe turns the error of a call into an *rpcError. The daemon's
// messages for the errors a user causes ("listener not found: x",
// "invalid listener.address: ...") stand alone; other codes are named.
func (d *daemonClient) describe(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var msg string
	switch st.Code() {
	case codes.NotFound, codes.AlreadyExists, codes.InvalidArgument, codes.FailedPrecondition:
		msg = st.Message()
	case codes.Unauthenticated:
		msg = fmt.Sprintf("the daemon at %s refused the call: %s (pass --token or set %s)", d.server, st.Message(), tokenEnv)
	case codes.Unavailable:
		msg = fmt.Sprintf("daemon at %s unavailable: %s%s", d.server, st.Message(), d.tlsHint(st.Message()))
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("no answer from the daemon at %s within %v", d.server, d.timeout)
	default:
		msg = codeWords(st.Code()) + ": " + st.Message()
	}
	return &rpcError{msg: msg + httpPortHint(st.Message()), st: st}
}

// httpPortHint says, of a failed call's message, that the server speaks
// HTTP but not gRPC: most likely the daemon's REST port. In plaintext it
// answers the HTTP/2 preface in HTTP/1.1; over TLS it speaks HTTP/2 and
// answers with a status and a body of its own.
func httpPortHint(msg string) string {
	if !containsAny(msg, "looked like an HTTP/1.1 header", "unexpected HTTP status code", "unexpected content-type") {
		return ""
	}
	return " (an HTTP server, not gRPC, answered: is --server the daemon's REST port (--http-addr, default 127.0.0.1:7080)? Give its gRPC port (--grpc-addr, default 127.0.0.1:7070))"
}

// codeWords spells a code in lowercase words: "resource exhausted".
func codeWords(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tlsHint guesses, from the message of a failed connection, at a TLS
// setting that does not match the daemon's, and says what to pass.
func (d *daemonClient) tlsHint(msg string) string {
	switch {
	case !d.tls && strings.Contains(msg, "server preface") && httpPortHint(msg) == "":
		return " (if the daemon serves TLS, pass --tls-ca)"
	case d.tls && !d.clientCert && containsAny(msg, "certificate required", "broken pipe", "connection reset", "EOF"):
		// With TLS 1.3 the client's handshake ends before the server
		// checks for a client certificate, so a refusal for the lack of
		// one shows as the alert or, as often, as a closed connection.
		return " (if the daemon requires a client certificate, pass --tls-cert and --tls-key)"
	}
	return ""
}

func containsAny(s string, parts ...string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
