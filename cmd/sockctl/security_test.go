package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sockplane/sockplane/api"
	"github.com/sockplane/sockplane/internal/testcert"
	"github.com/sockplane/sockplane/registry"
)

const testToken = "sockctl-test-token-0123456789"

// startSecureDaemon serves the gRPC API as the daemon does with
// --auth-token and, with certs, --tls-cert, --tls-key and --tls-client-ca
// (mutual TLS), on 127.0.0.1:0. It returns the address.
func startSecureDaemon(tb testing.TB, certs *testcert.Files) string {
	tb.Helper()
	reg := newRegistry(tb)
	if _, err := reg.Create(context.Background(), registry.Spec{ID: "secret-web", Transport: registry.TransportTCP, Address: "127.0.0.1:0"}, registry.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	auth := api.NewTokenAuth(testToken)
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	}
	if certs != nil {
		cert, err := tls.LoadX509KeyPair(certs.ServerCert, certs.ServerKey)
		if err != nil {
			tb.Fatal(err)
		}
		cas := x509.NewCertPool()
		pem, err := os.ReadFile(certs.CA)
		if err != nil {
			tb.Fatal(err)
		}
		cas.AppendCertsFromPEM(pem)
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    cas,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		})))
	}
	s := grpc.NewServer(opts...)
	api.RegisterGRPC(s, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Stop()
		select {
		case <-served:
		case <-time.After(testTimeout):
			tb.Errorf("grpc server did not stop within %v", testTimeout)
		}
	})
	return ln.Addr().String()
}

func TestTokenAndMutualTLS(t *testing.T) {
	t.Setenv(tokenEnv, "")
	certs := testcert.New(t)
	addr := startSecureDaemon(t, &certs)
	tlsFlags := []string{"--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}
	list := func(flags ...string) (string, error) {
		out, _, err := sockctl(t, "", append(append([]string{"--server", addr}, flags...), "listeners", "list")...)
		return out, err
	}

	if out, err := list(append(tlsFlags, "--token", testToken)...); err != nil || !strings.Contains(out, "secret-web") {
		t.Errorf("--token and a client certificate: %v\n%s", err, out)
	}
	if out, err := list(append(tlsFlags, "--token", testToken, "--tls-server-name", "localhost")...); err != nil || !strings.Contains(out, "secret-web") {
		t.Errorf("--tls-server-name localhost: %v\n%s", err, out)
	}
	t.Run("token from the environment", func(t *testing.T) {
		t.Setenv(tokenEnv, testToken)
		if out, err := list(tlsFlags...); err != nil || !strings.Contains(out, "secret-web") {
			t.Errorf("$%s and a client certificate: %v\n%s", tokenEnv, err, out)
		}
		// The flag wins over the environment.
		if _, err := list(append(tlsFlags, "--token", "wrong")...); err == nil {
			t.Error("--token wrong with the right $SOCKPLANE_TOKEN: no error")
		}
	})

	for _, tt := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no token", tlsFlags, "refused the call: missing credentials"},
		{"wrong token", append(tlsFlags, "--token", "wrong"), "invalid bearer token (pass --token or set SOCKPLANE_TOKEN)"},
		{"no client certificate", []string{"--tls-ca", certs.CA, "--token", testToken}, "pass --tls-cert and --tls-key"},
		{"another CA", append([]string{"--tls-ca", certs.OtherCA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}, "--token", testToken), "certificate"},
		{"wrong server name", append(tlsFlags, "--token", testToken, "--tls-server-name", "other.example"), "other.example"},
		{"plaintext", []string{"--token", testToken}, "if the daemon serves TLS, pass --tls-ca"},
		{"cert without key", []string{"--tls-ca", certs.CA, "--tls-cert", certs.ClientCert}, "--tls-cert and --tls-key go together"},
		{"CA not PEM", []string{"--tls-ca", certs.ClientKey}, "no PEM certificate"},
	} {
		_, err := list(tt.flags...)
		t.Logf("%s: %v", tt.name, err)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to say %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: the error %q holds the token", tt.name, err)
		}
	}
}

// TestTokenOverPlaintextLoopback: the daemon's default is plaintext on
// loopback, and a token still works there.
func TestTokenOverPlaintextLoopback(t *testing.T) {
	t.Setenv(tokenEnv, "")
	addr := startSecureDaemon(t, nil)
	if out := mustSockctl(t, "--server", addr, "--token", testToken, "listeners", "list"); !strings.Contains(out, "secret-web") {
		t.Errorf("list: %s", out)
	}
	if _, _, err := sockctl(t, "", "--server", addr, "listeners", "list"); err == nil || !strings.Contains(err.Error(), "missing credentials") {
		t.Errorf("without a token: %v", err)
	}
	// Not to another host: the token would cross the network in clear.
	// Refused before anything is sent.
	_, _, err := sockctl(t, "", "--server", "192.0.2.1:7070", "--token", testToken, "listeners", "list")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("plaintext token to 192.0.2.1: %v", err)
	}
}

func TestIsLocalTarget(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:7070":         true,
		"127.9.9.9:7070":         true,
		"[::1]:7070":             true,
		"localhost:7070":         true,
		"dns:///localhost:7070":  true,
		"unix:///run/sock":       true,
		"192.0.2.1:7070":         false,
		"[::]:7070":              false,
		"example.com:7070":       false,
		"localhost.example:7070": false,
		"no-port":                false,
	} {
		if got := isLocalTarget(target); got != want {
			t.Errorf("isLocalTarget(%q) = %v, want %v", target, got, want)
		}
	}
}
