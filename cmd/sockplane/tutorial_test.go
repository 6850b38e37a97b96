package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/testenv"
)

// The tests in this file run the tutorial's Python clients, written the
// tutorial's way (testdata/tutorial/*.py), against listeners configured
// for them through REST, and the Unix transports end to end.

// tutorialClients is what the tests of this file run with python3.
const tutorialClients = "the tutorial's Python clients (testdata/tutorial)"

// runTutorialClient runs testdata/tutorial/script against addr
// (host:port), typing input at its ">>>:" prompts and closing its stdin,
// and returns what it printed. The run is bounded by testTimeout: the
// tutorial's clients wait for ever for a reply that does not come.
func runTutorialClient(t *testing.T, python, script, addr, input string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "tutorial", script), host, port)
	cmd.WaitDelay = time.Second // once killed, do not wait long for the pipes
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", script, err, ctx.Err(), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// createListener creates a listener through REST and returns its bound
// address.
func createListener(t *testing.T, d *daemon, body string) string {
	t.Helper()
	r := rest(t, d, "POST", "/v1/listeners", body)
	addr := str(r.body, "status", "boundAddress")
	if r.status != http.StatusOK || addr == "" {
		t.Fatalf("create %s: %d %s", body, r.status, r.raw)
	}
	return addr
}

// TestTutorialTCPClient: the tutorial's looping TCP client, against the
// tutorial's upper-casing server as a listener: raw requests, raw replies.
func TestTutorialTCPClient(t *testing.T) {
	python := testenv.Python(t, tutorialClients)
	d := startDaemon(t)
	addr := createListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_UPPER",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"}}`)
	// The client skips empty lines and strips the others.
	out := runTutorialClient(t, python, "tcp_client.py", addr, "hello\n\n  sticky packets \nünïcode\n")
	if want := ">>>:HELLO\n>>>:>>>:STICKY PACKETS\n>>>:üNïCODE\n>>>:"; out != want {
		t.Errorf("client printed %q, want %q", out, want)
	}
}

// TestTutorialUDPClient: the tutorial's UDP client, against a raw UDP
// upper listener: one datagram each way per line, the empty one too.
func TestTutorialUDPClient(t *testing.T) {
	python := testenv.Python(t, tutorialClients)
	d := startDaemon(t)
	addr := createListener(t, d, `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_UPPER",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_RAW"}}`)
	out := runTutorialClient(t, python, "udp_client.py", addr, "hello\n\nworld\n")
	if want := ">>>:HELLO\n>>>:\n>>>:WORLD\n>>>:"; out != want {
		t.Errorf("client printed %q, want %q", out, want)
	}
}

// startExecDaemon starts a daemon whose exec handler may run echo and
// printf, and returns it with a working directory for the commands that
// holds a file named x, which no command may remove.
func startExecDaemon(t *testing.T) (*daemon, string) {
	t.Helper()
	for _, p := range []string{"echo", "printf"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("no %s program in PATH: the exec tests run it", p)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("still here"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
			t.Errorf("a command removed x: %v", err)
		}
	})
	return startDaemon(t, func(o *options) { o.execAllow = []string{"echo", "printf"} }), dir
}

// The commands typed into the exec clients, and what each prints.
const (
	// No shell runs: the ; and all after it are echo's arguments, $(id) is
	// text, and quotes group words as a shell's would.
	execInput = "echo hello\n" +
		"echo a; rm -rf x\n" +
		"echo $(id) `id`\n" +
		"printf %s-%s a b\n" +
		"echo \"two  spaces\"\n" +
		"printf ''\n" + // no output at all: data_size 0
		"uname -a\n" // not allowed
	refusal = "sockplane: uname: not allowed (allowed: echo, printf)\n"
)

// TestTutorialFixedHeaderClient: the tutorial's fixed-length-header
// client, against an exec listener that reads the bare command and
// replies with struct.pack("i", data_size) and the data.
func TestTutorialFixedHeaderClient(t *testing.T) {
	python := testenv.Python(t, tutorialClients)
	d, dir := startExecDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_EXEC",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_LENGTH_PREFIXED"},"exec":{"workingDir":%q}}`, dir))
	out := runTutorialClient(t, python, "fixed_header_client.py", addr, execInput)
	// The client prints the data with print(), which adds a newline.
	want := ">>>:hello\n\n" +
		">>>:a; rm -rf x\n\n" +
		">>>:$(id) `id`\n\n" +
		">>>:a-b\n" +
		">>>:two  spaces\n\n" +
		">>>:\n" +
		">>>:" + refusal + "\n" +
		">>>:"
	if out != want {
		t.Errorf("client printed:\n%s\nwant:\n%s", out, want)
	}
}

// TestTutorialJSONHeaderClient: the tutorial's JSON-header client,
// against the tutorial's command server as a listener: the bare command
// in; struct.pack("i", len(head)), the JSON head and the data out.
func TestTutorialJSONHeaderClient(t *testing.T) {
	python := testenv.Python(t, tutorialClients)
	d, dir := startExecDaemon(t)
	addr := createListener(t, d, fmt.Sprintf(`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_EXEC",
		"framing":{"request":"FRAMING_RAW","response":"FRAMING_JSON_HEADER"},"exec":{"workingDir":%q}}`, dir))
	out := runTutorialClient(t, python, "json_header_client.py", addr, execInput)
	// head is what print(head_dic) shows of the reply's header.
	head := func(code int, stdout, stderr string) string {
		return fmt.Sprintf("{'data_size': %d, 'exit_code': %d, 'stdout_size': %d, 'stderr_size': %d, 'truncated': False, 'timed_out': False}\n",
			len(stdout)+len(stderr), code, len(stdout), len(stderr))
	}
	want := ">>>:" + head(0, "hello\n", "") + "hello\n\n" +
		">>>:" + head(0, "a; rm -rf x\n", "") + "a; rm -rf x\n\n" +
		">>>:" + head(0, "$(id) `id`\n", "") + "$(id) `id`\n\n" +
		">>>:" + head(0, "a-b", "") + "a-b\n" +
		">>>:" + head(0, "two  spaces\n", "") + "two  spaces\n\n" +
		">>>:" + head(0, "", "") + "\n" +
		">>>:" + head(127, "", refusal) + refusal + "\n" +
		">>>:"
	if out != want {
		t.Errorf("client printed:\n%s\nwant:\n%s", out, want)
	}
}
