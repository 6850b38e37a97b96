package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerAtHTTPPort: --server given an HTTP server's address, as the
// daemon's REST port is, says which port to give instead; in plaintext
// (HTTP/1.1 answers the HTTP/2 preface) and over TLS (HTTP/2, a 404).
func TestServerAtHTTPPort(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(http.NotFoundHandler())
	secure.EnableHTTP2 = true
	secure.StartTLS()
	t.Cleanup(secure.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--server", plain.Listener.Addr().String()},
		{"--server", secure.Listener.Addr().String(), "--tls-ca", ca},
	} {
		_, _, err := sockctl(t, "", append([]string{"listeners", "list", "--timeout", "5s"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "is --server the daemon's REST port") || strings.Contains(err.Error(), "pass --tls-ca") {
			t.Errorf("%q: err = %v, want a hint at the gRPC port alone", args, err)
		}
	}
}
