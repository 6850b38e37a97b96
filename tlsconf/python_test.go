package tlsconf

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/internal/testenv"
)

// TestPythonClientPinsSelfSigned: a Python client that trusts only
// Info.CertificatePEM (ssl.create_default_context(cadata=pem)) verifies
// the self-signed certificate by name and by IP, in OpenSSL's strict mode
// too, and exchanges bytes with a Go server built from the spec.
func TestPythonClientPinsSelfSigned(t *testing.T) {
	python := testenv.Python(t, "the Python ssl client that pins a self-signed certificate")
	srv, info := selfSignedServer(t, Spec{SelfSigned: true, ALPN: []string{"sockplane/1"}})
	_, port, _ := strings.Cut(srv.addr, ":")

	ctx, cancel := context.WithTimeout(t.Context(), 4*ioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/pinned_client.py")
	cmd.Env = append(os.Environ(), "PEM="+info.CertificatePEM, "PORT="+port)
	out, err := cmd.CombinedOutput()
	t.Logf("python:\n%s", out)
	if err != nil {
		t.Fatalf("python client: %v", err)
	}
	for _, want := range []string{
		"ok localhost default", "ok 127.0.0.1 default", "refused other.test default",
		"ok localhost strict", "ok 127.0.0.1 strict", "refused other.test strict",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("python output lacks %q", want)
		}
	}
	if !strings.Contains(string(out), "sockplane/1") {
		t.Error("python did not negotiate ALPN sockplane/1")
	}
}
