package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc/credentials"

	"github.com/sockplane/sockplane/api"
)

// security is the API's access control, settled from the flags once,
// before anything binds.
type security struct {
	// auth checks the bearer token on both ports. Nil: no token.
	auth *api.TokenAuth
	// tokenOnCommandLine is set when the token came from --auth-token,
	// which other local users can read in the process list.
	tokenOnCommandLine bool
	// tls is the server TLS of both ports. Nil: plaintext.
	tls *tls.Config
	// mutualTLS is set when both ports require a client certificate
	// signed by --tls-client-ca.
	mutualTLS bool
	// certNames are the DNS names of the server certificate, which the
	// HTTP port's Host check accepts besides the loopback names.
	certNames []string
}

// maxTokenFile bounds what --auth-token-file may hold: a token is a line,
// not a document.
const maxTokenFile = 4 << 10

// security reads the token and the TLS files and checks that the API is
// not exposed without authentication. Its errors name the flag at fault
// and say how to fix it.
func (o options) security() (*security, error) {
	sec := &security{}
	token, err := o.token()
	if err != nil {
		return nil, err
	}
	if token != "" {
		sec.auth = api.NewTokenAuth(token)
		sec.tokenOnCommandLine = o.authToken != ""
	}
	if err := sec.loadTLS(o); err != nil {
		return nil, err
	}
	for _, a := range []struct{ flag, addr string }{{"--grpc-addr", o.grpcAddr}, {"--http-addr", o.httpAddr}} {
		if err := sec.checkExposure(a.flag, a.addr); err != nil {
			return nil, err
		}
	}
	return sec, nil
}

// token returns the token of --auth-token or --auth-token-file, or "".
func (o options) token() (string, error) {
	switch {
	case o.authToken != "" && o.authTokenFile != "":
		return "", errors.New("--auth-token and --auth-token-file both set: set one")
	case o.authToken != "":
		return validToken("--auth-token", strings.TrimSpace(o.authToken))
	case o.authTokenFile == "":
		return "", nil
	}
	f, err := os.Open(o.authTokenFile)
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	defer f.Close()
	// The mode of the open file, not of the path: no swap in between.
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("--auth-token-file %s: mode %04o lets other users read or change the token; run chmod 600 %s", o.authTokenFile, perm, o.authTokenFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("--auth-token-file %s: over %d bytes; it should hold the token alone", o.authTokenFile, maxTokenFile)
	}
	// Trimmed, so that the newline of `echo TOKEN > file` is not part of it.
	return validToken("--auth-token-file "+o.authTokenFile, strings.TrimSpace(string(data)))
}

// validToken returns token when every byte of it can travel in an HTTP
// header and in gRPC metadata after "Bearer ": printable ASCII, no space.
// Its errors never quote the token.
func validToken(flag, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%s: the token is empty", flag)
	}
	for i := range len(token) {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", fmt.Errorf("%s: the token has a space, a control character or a non-ASCII byte at byte %d; use printable ASCII, e.g. from openssl rand -hex 32", flag, i)
		}
	}
	return token, nil
}

// loadTLS builds the server TLS of both ports from --tls-cert, --tls-key
// and --tls-client-ca: TLS 1.2 at least, and with a client CA, mutual TLS.
func (s *security) loadTLS(o options) error {
	switch {
	case o.tlsCert == "" && o.tlsKey == "":
		if o.tlsClientCA != "" {
			return errors.New("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS with client certificates, and the server needs its own first")
		}
		return nil
	case o.tlsCert == "" || o.tlsKey == "":
		return errors.New("--tls-cert and --tls-key go together: the certificate and its private key")
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", o.tlsCert, o.tlsKey, err)
	}
	if cert.Leaf != nil {
		s.certNames = cert.Leaf.DNSNames
	}
	s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if o.tlsClientCA == "" {
		return nil
	}
	pem, err := os.ReadFile(o.tlsClientCA)
	if err != nil {
		return fmt.Errorf("--tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", o.tlsClientCA)
	}
	s.tls.ClientCAs = pool
	s.tls.ClientAuth = tls.RequireAndVerifyClientCert
	s.mutualTLS = true
	return nil
}

// authenticated reports whether every API caller must prove who it is:
// with a token or a client certificate. TLS alone is not enough: it
// hides the traffic but lets anyone in.
func (s *security) authenticated() bool { return s.auth != nil || s.mutualTLS }

// checkExposure refuses a non-loopback addr when the API has no
// authentication: whoever reaches the port could create listeners, read
// what they capture and, with --exec-allow, run programs as this user.
func (s *security) checkExposure(flag, addr string) error {
	loopback, err := isLoopbackAddr(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	if loopback || s.authenticated() {
		return nil
	}
	var tlsNote string
	if s.tls != nil {
		tlsNote = " (--tls-cert alone encrypts but lets any client in)"
	}
	return fmt.Errorf("%s %s is not a loopback address and the API has no authentication%s: anyone who can reach it "+
		"could create listeners, read their traffic and, with --exec-allow, run programs as this user; "+
		"set --auth-token-file (a bearer token), or --tls-cert, --tls-key and --tls-client-ca (mutual TLS), or bind to 127.0.0.1",
		flag, addr, tlsNote)
}

// isLoopbackAddr reports whether addr, a host:port to bind, is on the
// loopback interface only: "localhost" or a loopback IP. An empty host,
// 0.0.0.0 and :: are every interface; any other name may resolve to
// anything.
func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback(), nil
}

// isLoopbackListener reports whether ln listens on a loopback IP only.
func isLoopbackListener(ln net.Listener) bool {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// The REST gateway calls the gRPC server in-process, over gatewayListener,
// not over the gRPC port: the port may demand TLS and a client
// certificate, and the gateway would need a certificate of its own.
// Access control stays the same: the HTTP port checks TLS and client
// certificates itself, and the gateway forwards the caller's
// Authorization header, which the gRPC server's token check reads as for
// any other call.

// gatewayListener is a net.Listener for the gateway alone: each dial
// makes a connected pair of Unix sockets (socketpair(2)), one end for the
// dialer and one for Accept. Nothing outside the process can connect: no
// port, no socket file, no name. Kernel socket buffers make it behave as
// a TCP connection does, which net.Pipe, unbuffered, does not.
type gatewayListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newGatewayListener() *gatewayListener {
	return &gatewayListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the gateway to dial, or for Close.
func (l *gatewayListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close ends Accept and refuses new dials; connections already made stay
// open until their ends close them.
func (l *gatewayListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr is a name for logs: the listener has no address.
func (l *gatewayListener) Addr() net.Addr { return gatewayAddr{} }

// dial is the gateway client's dialer (grpc.WithContextDialer): it hands
// one end of a new socket pair to Accept and returns the other.
func (l *gatewayListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("gateway socketpair: %w", err)
	}
	server, err := fdConn(fds[0])
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, err
	}
	client, err := fdConn(fds[1])
	if err != nil {
		_ = server.Close()
		return nil, err
	}
	select {
	case l.conns <- gatewayConn{server}:
		return client, nil
	case <-l.done:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = server.Close()
	_ = client.Close()
	return nil, err
}

// fdConn makes a net.Conn of fd and closes fd (net.FileConn dups it).
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "sockplane-gateway")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("gateway socketpair: %w", err)
	}
	return c, nil
}

type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "socketpair" }
func (gatewayAddr) String() string  { return "sockplane-gateway" }

// gatewayConn is the server end of a gateway connection. Only
// gatewayListener makes one, which is how gatewayCreds knows it.
type gatewayConn struct{ net.Conn }

// gatewayCreds are the gRPC server's credentials with TLS on: TLS for
// every connection, except the gateway's in-process ones, which need no
// handshake. (Credentials are the server's, not the listener's, so the
// two listeners of one grpc.Server cannot be told apart another way.)
type gatewayCreds struct {
	credentials.TransportCredentials
}

// ServerHandshake implements credentials.TransportCredentials.
func (c gatewayCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if gc, ok := conn.(gatewayConn); ok {
		return gc, gatewayAuthInfo{}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

// Clone implements credentials.TransportCredentials.
func (c gatewayCreds) Clone() credentials.TransportCredentials {
	return gatewayCreds{c.TransportCredentials.Clone()}
}

// gatewayAuthInfo is the AuthInfo of a gateway connection.
type gatewayAuthInfo struct{ credentials.CommonAuthInfo }

func (gatewayAuthInfo) AuthType() string { return "sockplane-gateway" }

// tlsMode names the TLS of the API ports for the log: off, on or mutual.
func (d *daemon) tlsMode() string {
	switch {
	case d.sec.mutualTLS:
		return "mutual"
	case d.sec.tls != nil:
		return "on"
	}
	return "off"
}

// authMode names how API callers prove who they are, for the log.
func (d *daemon) authMode() string {
	switch {
	case d.sec.auth != nil && d.sec.mutualTLS:
		return "token+client-cert"
	case d.sec.auth != nil:
		return "token"
	case d.sec.mutualTLS:
		return "client-cert"
	}
	return "none"
}

// warnSecurity logs what the configuration allows but should not be left
// so.
func (d *daemon) warnSecurity() {
	if d.sec.tokenOnCommandLine {
		d.log.Warn("the API token is on the command line, which other local users can read in the process list; use --auth-token-file")
	}
	exposed := !isLoopbackListener(d.grpcLn) || !isLoopbackListener(d.httpLn)
	if exposed && d.sec.auth != nil && d.sec.tls == nil {
		d.log.Warn("the API is on a non-loopback address without TLS: the token and all API traffic cross the network in clear text; set --tls-cert and --tls-key")
	}
}
