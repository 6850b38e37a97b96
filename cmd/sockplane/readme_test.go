package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/internal/testenv"
)

// readmeClient returns the Python client the README shows, verbatim.
func readmeClient(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- readme-client.py")
	if !ok {
		t.Fatal("README.md has no readme-client.py marker")
	}
	_, after, ok = strings.Cut(after, "```python\n")
	code, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("no python block after the readme-client.py marker")
	}
	return code
}

// TestREADMEPythonClient runs the README's Python client against an
// upper listener spawned through REST, several messages on one
// connection.
func TestREADMEPythonClient(t *testing.T) {
	python := testenv.Python(t, "the README's Python client")
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(readmeClient(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	created := rest(t, d, "POST", "/v1/listeners", `{"id":"shout","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`)
	addr := str(created.body, "status", "boundAddress")
	if addr == "" {
		t.Fatalf("create: %s", created.raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, script, addr, "hello", "sticky packets", "ünïcode").CombinedOutput()
	if err != nil {
		t.Fatalf("python3 client: %v\n%s", err, out)
	}
	if want := "HELLO\nSTICKY PACKETS\nüNïCODE\n"; string(out) != want {
		t.Fatalf("python3 client printed %q, want %q", out, want)
	}
}
