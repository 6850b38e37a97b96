package main

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/internal/testcert"
	"github.com/sockplane/sockplane/internal/testenv"
)

// pinnedClient is a Python client written the tutorial's way, over TLS:
// it trusts only the PEM certificate it is given, sends one frame and
// prints the reply's body.
const pinnedClient = `
import json, socket, ssl, struct, sys
host, port, pem, server_name = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read(), sys.argv[4]
ctx = ssl.create_default_context(cadata=pem)
if len(sys.argv) > 6:
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
with socket.create_connection((host, port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=server_name) as s:
        body = b"hello over tls"
        header = json.dumps({"data_size": len(body)}).encode()
        s.sendall(struct.pack("<i", len(header)) + header + body)
        def recv_exact(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise EOFError("connection closed")
                data += chunk
            return data
        (hlen,) = struct.unpack("<i", recv_exact(4))
        reply = json.loads(recv_exact(hlen))
        print(recv_exact(reply["data_size"]).decode())
`

// runPinned runs pinnedClient against addr with the certificate pem;
// extra are a client certificate and key, for mutual TLS.
func runPinned(t *testing.T, python, addr, pem, serverName string, extra ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	script, pemFile := filepath.Join(dir, "client.py"), filepath.Join(dir, "server.pem")
	if err := os.WriteFile(script, []byte(pinnedClient), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pemFile, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, append([]string{script, host, port, pemFile, serverName}, extra...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestTLSSelfSignedListener: a Python ssl client pinned to the
// certificate GET shows gets its echo, by name and by IP; a plaintext
// client is refused and counted; a restart serves the same certificate.
func TestTLSSelfSignedListener(t *testing.T) {
	python := testenv.Python(t, "the Python ssl client")
	dir := t.TempDir()
	d, stop, _ := runDaemon(t, dir)
	created := wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"secure","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","tls":{"selfSigned":true}}`), 200)
	pem, fingerprint := str(created.body, "status", "tls", "certificatePem"), str(created.body, "status", "tls", "fingerprintSha256")
	addr := str(created.body, "status", "boundAddress")
	if !strings.HasPrefix(pem, "-----BEGIN CERTIFICATE-----") || len(fingerprint) != 64 {
		t.Fatalf("status.tls: %s", created.raw)
	}
	if strings.Contains(created.raw, "PRIVATE KEY") {
		t.Fatal("the API shows the private key")
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if got, err := runPinned(t, python, addr, pem, name); err != nil || got != "hello over tls" {
			t.Errorf("pinned client as %s: %q, %v", name, got, err)
		}
	}

	before := rest(t, d, "GET", "/v1/listeners/secure", "")
	errorsBefore := str(before.body, "status", "stats", "errors")
	if _, err := roundTrip(t, "tcp", addr, "plaintext"); err == nil {
		t.Error("a plaintext client got an answer from a TLS listener")
	}
	poll.Until(t, "the plaintext client's failed handshake counted", func() bool {
		return str(rest(t, d, "GET", "/v1/listeners/secure", "").body, "status", "stats", "errors") != errorsBefore
	})

	stop()
	d, _, _ = runDaemon(t, dir)
	again := wantStatus(t, rest(t, d, "GET", "/v1/listeners/secure", ""), 200)
	if got := str(again.body, "status", "tls", "fingerprintSha256"); got != fingerprint {
		t.Errorf("after a restart the fingerprint is %s, was %s", got, fingerprint)
	}
	addr = str(again.body, "status", "boundAddress")
	if got, err := runPinned(t, python, addr, pem, "localhost"); err != nil || got != "hello over tls" {
		t.Errorf("the client pinned before the restart: %q, %v", got, err)
	}
	// An update of other options keeps the certificate.
	wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/secure", `{"tls":{"selfSigned":true,"alpn":["x-test"]}}`), 200)
	if got := str(rest(t, d, "GET", "/v1/listeners/secure", "").body, "status", "tls", "fingerprintSha256"); got != fingerprint {
		t.Errorf("after an update of alpn the fingerprint is %s, was %s", got, fingerprint)
	}
}

// TestMutualTLSListener: with clientCaFile, a client without a
// certificate is refused, one with a certificate the CA signed is served
// and its subject shows in ListConnections.
func TestMutualTLSListener(t *testing.T) {
	python := testenv.Python(t, "the Python ssl client")
	files := testcert.New(t)
	d := startDaemon(t)
	body := `{"id":"mtls","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_ECHO",` +
		`"tls":{"certFile":"` + files.ServerCert + `","keyFile":"` + files.ServerKey + `","clientCaFile":"` + files.CA + `","minVersion":"1.3"}}`
	created := wantStatus(t, rest(t, d, "POST", "/v1/listeners", body), 200)
	addr := str(created.body, "status", "boundAddress")
	ca, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := runPinned(t, python, addr, string(ca), "localhost"); err == nil {
		t.Errorf("a client without a certificate was served: %q", got)
	}
	if got, err := runPinned(t, python, addr, string(ca), "localhost", files.ClientCert, files.ClientKey); err != nil || got != "hello over tls" {
		t.Fatalf("a client with a certificate: %q, %v", got, err)
	}

	// Its subject, while it is connected: a Go client holds a connection.
	conn := dialTLS(t, addr, files)
	defer conn.Close()
	poll.Until(t, "the client's subject in ListConnections", func() bool {
		return strings.Contains(rest(t, d, "GET", "/v1/listeners/mtls/connections", "").raw, `"tlsPeerSubject":"CN=sockctl-test`)
	})

	bad := rest(t, d, "POST", "/v1/listeners", `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","tls":{"certFile":"/nonexistent.pem","keyFile":"/nonexistent.key"}}`)
	if bad.status != 400 || !strings.Contains(bad.raw, "listener.tls.certFile") {
		t.Errorf("unreadable certFile: %d %s", bad.status, bad.raw)
	}
}

// dialTLS opens a mutual-TLS connection with the test client certificate
// and completes its handshake.
func dialTLS(t *testing.T, addr string, files testcert.Files) *tls.Conn {
	t.Helper()
	cfg := files.ClientTLS(t, true)
	cfg.ServerName = "localhost"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return conn
}
