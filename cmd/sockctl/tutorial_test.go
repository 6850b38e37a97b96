package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/testenv"
)

// startTutorialServer runs testdata/tutorial_server.py, the tutorial's
// JSON-header server, and returns its address. The server is killed when
// the test ends.
func startTutorialServer(t *testing.T) string {
	t.Helper()
	python := testenv.Python(t, "the tutorial's JSON-header server (testdata/tutorial_server.py)")
	cmd := exec.Command(python, "testdata/tutorial_server.py")
	cmd.WaitDelay = testTimeout // bounds Wait on the output pipes once the process is gone
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // killed: its error says so
	})
	// The server prints the port it bound, then serves until killed.
	// StdoutPipe is an *os.File over a pipe, which takes a deadline.
	if f, ok := stdout.(*os.File); ok {
		if err := f.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the server's port: %v\nstderr: %s", err, stderr.String())
	}
	port, err := strconv.ParseUint(strings.TrimSpace(line), 10, 16)
	if err != nil {
		t.Fatalf("the server printed %q, want its port", line)
	}
	return net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10))
}

// TestTutorialJSONHeaderServer: send and chat talk to a server written
// the tutorial's way, in Python: the bare command in, read with one
// recv(1024); struct.pack("i", len(head)), the JSON head and the data out,
// in three sends.
func TestTutorialJSONHeaderServer(t *testing.T) {
	t.Parallel()
	addr := startTutorialServer(t)

	out := mustSockctl(t, "send", "--request-framing", "raw", "--response-framing", "json", addr, "hello", "world", "sticky packets")
	if want := "HELLO\nWORLD\nSTICKY PACKETS\n"; out != want {
		t.Errorf("send printed %q, want %q", out, want)
	}

	// chat shows each reply's header as the server wrote it, as the
	// tutorial's client prints head_dic, then the body.
	out, stderr, err := sockctl(t, "hello\n\n  dir c:\\ \n", "chat", "--request-framing", "raw", addr)
	if err != nil {
		t.Fatalf("chat: %v\nstderr: %s", err, stderr)
	}
	want := ">>> {\"data_size\": 5}\nHELLO\n>>> >>> {\"data_size\": 7}\nDIR C:\\\n>>> \n"
	if out != want {
		t.Errorf("chat printed %q, want %q", out, want)
	}
}
