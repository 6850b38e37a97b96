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

// TestREADMEMockAServer runs the README's "Mock a server" block as a
// user pastes it, in one shell, against a daemon of its own (its
// 127.0.0.1:7080 made the daemon's REST address, go run ./cmd/sockctl a
// built sockctl), and checks that it prints what the README says it
// prints, line by line.
func TestREADMEMockAServer(t *testing.T) {
	sh := needTool(t, "sh", "the README's shell commands")
	needTool(t, "curl", "the README's curl commands")
	python := testenv.Python(t, "the README's mock client")
	block := readmeBlock(t, "readme-mock.sh", "sh")
	want := expectedOutput(block)
	if len(want) < 10 {
		t.Fatalf("found %d expected output lines in the README's block; the parser or the README is wrong", len(want))
	}
	sockctl := buildSockctl(t)
	d := startDaemon(t)
	script := strings.NewReplacer("127.0.0.1:7080", d.httpAddr(), "go run ./cmd/sockctl", sockctl, "python3 ", python+" ").Replace(block)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-e", "-c", script)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the block failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var got []string
	for line := range strings.Lines(string(out)) {
		got = append(got, strings.TrimRight(line, " \n"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the block printed:\n%s\nthe README says:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr.String())
	}
}
