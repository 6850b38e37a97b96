package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/internal/testenv"
)

// readmeClient returns the Python client the README's tour saves as
// client.py (cat > client.py <<'EOF' ... EOF), verbatim.
func readmeClient(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "cat > client.py <<'EOF'\n")
	if !ok {
		t.Fatal("README.md has no cat > client.py <<'EOF' heredoc")
	}
	code, _, ok := strings.Cut(after, "\nEOF\n")
	if !ok {
		t.Fatal("README.md: the client.py heredoc has no EOF line")
	}
	return code + "\n"
}

// TestREADMEPythonClient runs the README's Python client against an
// upper listener spawned through REST, several messages on one
// connection, on IPv4 and, where the machine has it, on IPv6 loopback,
// whose bound address ([::1]:port) the client must take apart.
func TestREADMEPythonClient(t *testing.T) {
	python := testenv.Python(t, "the README's Python client")
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(readmeClient(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	for _, c := range []struct{ id, address string }{{"shout", "127.0.0.1:0"}, {"shout6", "[::1]:0"}} {
		t.Run(c.id, func(t *testing.T) {
			if strings.HasPrefix(c.address, "[") {
				ln, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback on this machine: %v", err)
				}
				_ = ln.Close()
			}
			created := rest(t, d, "POST", "/v1/listeners", `{"id":"`+c.id+`","transport":"TRANSPORT_TCP","address":"`+c.address+`","handler":"HANDLER_UPPER"}`)
			addr := str(created.body, "status", "boundAddress")
			if addr == "" {
				t.Fatalf("create: %s", created.raw)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			out, err := exec.CommandContext(ctx, python, script, addr, "hello", "sticky packets", "ünïcode").CombinedOutput()
			if err != nil {
				t.Fatalf("python3 client %s: %v\n%s", addr, err, out)
			}
			if want := "HELLO\nSTICKY PACKETS\nüNïCODE\n"; string(out) != want {
				t.Fatalf("python3 client %s printed %q, want %q", addr, out, want)
			}
		})
	}
}
