package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/testenv"
)

// expectedOutput is what a README shell block says its commands print:
// the "# ..." lines right after a command (or after such lines), with the
// "# " taken off. Comments after a blank line or before the first command
// are prose. A heredoc's body is never read as either.
func expectedOutput(block string) []string {
	var want []string
	afterCommand, heredoc := false, ""
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		switch {
		case heredoc != "":
			if line == heredoc {
				heredoc = ""
			}
			afterCommand = false
		case strings.HasPrefix(line, "# "):
			if afterCommand {
				want = append(want, strings.TrimPrefix(line, "# "))
			}
		case strings.TrimSpace(line) == "":
			afterCommand = false
		default:
			if m := heredocStart.FindStringSubmatch(line); m != nil {
				heredoc = m[1]
			}
			afterCommand = !strings.HasSuffix(line, `\`) || afterCommand
		}
	}
	return want
}

var heredocStart = regexp.MustCompile(`<<'([A-Z]+)'$`)

// TestREADMEMockAServer runs the README's "Mock a server" block (see
// runREADMEBlock).
func TestREADMEMockAServer(t *testing.T) { runREADMEBlock(t, "readme-mock.sh", 10) }

// TestREADMEProxy runs the README's "Faults on real traffic" block (see
// runREADMEBlock).
func TestREADMEProxy(t *testing.T) { runREADMEBlock(t, "readme-proxy.sh", 4) }

// TestREADMERecordReplay runs the README's "Record and replay" block
// (see runREADMEBlock).
func TestREADMERecordReplay(t *testing.T) { runREADMEBlock(t, "readme-replay.sh", 4) }

// runREADMEBlock runs the README's block name as a user pastes it, in
// one shell, against a daemon of its own (its 127.0.0.1:7080 made the
// daemon's REST address, go run ./cmd/sockctl a built sockctl with the
// daemon's gRPC address), and
// checks that it prints what the README says it prints, line by line:
// at least minWant lines, or the parser or the README is wrong.
func runREADMEBlock(t *testing.T, name string, minWant int) {
	sh := needTool(t, "sh", "the README's shell commands")
	needTool(t, "curl", "the README's curl commands")
	python := testenv.Python(t, "the README's Python commands")
	block := readmeBlock(t, name, "sh")
	want := expectedOutput(block)
	if len(want) < minWant {
		t.Fatalf("found %d expected output lines in the README's %s, want at least %d; the parser or the README is wrong", len(want), name, minWant)
	}
	sockctl := buildSockctl(t)
	d := startDaemon(t)
	script := strings.NewReplacer("127.0.0.1:7080", d.httpAddr(), "go run ./cmd/sockctl", sockctl+" --server "+d.grpcAddr(), "python3 ", python+" ").Replace(block)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-e", "-c", script)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s failed: %v\nstdout:\n%s\nstderr:\n%s", name, err, out, stderr.String())
	}
	var got []string
	for line := range strings.Lines(string(out)) {
		got = append(got, strings.TrimRight(line, " \n"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s printed:\n%s\nthe README says:\n%s\nstderr:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"), stderr.String())
	}
}
