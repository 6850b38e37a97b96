package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// tokenEnv holds the daemon's API token when --token is not given.
const tokenEnv = "SOCKPLANE_TOKEN"

// clientSecurity are the flags of how sockctl proves itself to the daemon
// and checks the daemon: a bearer token, and TLS.
type clientSecurity struct {
	// token is the bearer token. Default: $SOCKPLANE_TOKEN, else none.
	token string
	// tlsCA holds the PEM CA certificates the daemon's certificate must
	// chain to. Default: "", the system's roots (with TLS on).
	tlsCA string
	// tlsCert and tlsKey are the PEM client certificate and key, for a
	// daemon with mutual TLS. Default: "", no client certificate.
	tlsCert, tlsKey string
	// tlsServerName is the name the daemon's certificate must hold.
	// Default: "", the host of --server.
	tlsServerName string
}

// addFlags adds the flags to cmd's persistent flags.
func (s *clientSecurity) addFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&s.token, "token", "", "bearer `TOKEN` of the daemon's API (default $"+tokenEnv+", which unlike a flag does not show in the process list)")
	pf.StringVar(&s.tlsCA, "tls-ca", "", "`FILE` of PEM CA certificates to verify the daemon with; it, --tls-cert, --tls-key and --tls-server-name turn TLS on (default roots: the system's)")
	pf.StringVar(&s.tlsCert, "tls-cert", "", "PEM client certificate `FILE`, for a daemon with mutual TLS; needs --tls-key")
	pf.StringVar(&s.tlsKey, "tls-key", "", "PEM private key `FILE` of --tls-cert")
	pf.StringVar(&s.tlsServerName, "tls-server-name", "", "`NAME` the daemon's certificate must hold (default: the host of --server)")
}

// tlsOn reports whether a --tls-* flag asks for TLS.
func (s *clientSecurity) tlsOn() bool {
	return s.tlsCA != "" || s.tlsCert != "" || s.tlsKey != "" || s.tlsServerName != ""
}

// dialOptions returns the credentials of a connection to the daemon at
// server: TLS or plaintext, and the token on every call.
func (s *clientSecurity) dialOptions(server string) ([]grpc.DialOption, error) {
	token := s.token
	if token == "" {
		token = strings.TrimSpace(os.Getenv(tokenEnv))
	}
	var opts []grpc.DialOption
	if s.tlsOn() {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		if token != "" && !isLocalTarget(server) {
			return nil, fmt.Errorf("--server %s is not a loopback address: a token over plaintext would cross the network in clear text; turn TLS on with --tls-ca, or with --tls-server-name for a certificate the system trusts", server)
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken{token: token, requireTLS: s.tlsOn()}))
	}
	return opts, nil
}

// tlsConfig is the client TLS of the --tls-* flags, TLS 1.2 at least.
func (s *clientSecurity) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", s.tlsCA)
		}
	}
	switch {
	case s.tlsCert == "" && s.tlsKey == "":
	case s.tlsCert == "" || s.tlsKey == "":
		return nil, errors.New("--tls-cert and --tls-key go together: the client certificate and its private key")
	default:
		cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", s.tlsCert, s.tlsKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// isLocalTarget reports whether a gRPC target stays on this machine: a
// Unix socket, or host:port with localhost or a loopback IP.
func isLocalTarget(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	target = strings.TrimPrefix(target, "passthrough:///")
	target = strings.TrimPrefix(target, "dns:///")
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// bearerToken puts "authorization: Bearer <token>" on every call. gRPC's
// own token credentials (credentials/oauth) always demand TLS, but the
// daemon's default is plaintext on loopback, where a token still guards
// against other local users and web pages; so requireTLS is set only
// when TLS is on, and dialOptions refuses plaintext to any other host.
type bearerToken struct {
	token      string
	requireTLS bool
}

var _ credentials.PerRPCCredentials = bearerToken{}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b bearerToken) RequireTransportSecurity() bool { return b.requireTLS }
