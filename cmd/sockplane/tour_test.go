//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/testenv"
)

// tourBlock is one of the README's shell blocks marked
// "<!-- readme-tour-N.sh: ... -->": the set-up, the five-minute tour,
// access control and the exec handler, in README order.
type tourBlock struct {
	n    int
	code string
	// daemon is set for a block that starts the daemon (its one command
	// is go run ./cmd/sockplane ...): the test runs the built daemon with
	// the block's flags instead.
	daemon bool
}

var tourMarker = regexp.MustCompile(`<!-- (readme-tour-(\d+)\.sh):`)

// tourBlocks returns the README's tour blocks, in order, checking they
// are numbered 1, 2, 3, ... as they come.
func tourBlocks(t *testing.T) []tourBlock {
	t.Helper()
	var blocks []tourBlock
	for i, m := range tourMarker.FindAllStringSubmatch(readmeText(t), -1) {
		n, _ := strconv.Atoi(m[2])
		if n != i+1 {
			t.Fatalf("README.md: tour marker %s where readme-tour-%d.sh was expected: number them in order", m[1], i+1)
		}
		b := tourBlock{n: n, code: readmeBlock(t, m[1], "sh")}
		cmds := shellCommands(b.code)
		for _, c := range cmds {
			if strings.HasPrefix(c, "go run ./cmd/sockplane") {
				if len(cmds) != 1 {
					t.Fatalf("README.md: %s starts the daemon among other commands; the daemon runs in the foreground, so give it a block of its own:\n%s", m[1], b.code)
				}
				b.daemon = true
			}
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		t.Fatal("README.md has no readme-tour-N.sh markers")
	}
	if !blocks[0].daemon {
		t.Fatalf("README.md: readme-tour-1.sh must start the daemon, which the rest of the tour talks to:\n%s", blocks[0].code)
	}
	return blocks
}

// shown is a text the README shows a block printing (in a "# ..."
// comment of the block), which the block's output must hold.
type shown struct {
	text string
	// grpcurl: printed by a grpcurl command, not checked when grpcurl is
	// missing (outside CI).
	grpcurl bool
	// linux: printed on Linux only.
	linux bool
}

// inREADME is how the README shows the text: a line as it is (in a
// comment, or in a line of comments), lines as "# " comments one under
// the other.
func (s shown) inREADME() string {
	lines := strings.Split(strings.TrimSuffix(s.text, "\n"), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return "# " + strings.Join(lines, "\n# ")
}

// tourShows is, for each tour block, what the README shows it printing.
var tourShows = map[int][]shown{
	4: {{text: "HELLO"}, {text: "WORLD"},
		{text: "ID      TRANSPORT   HANDLER   STATE     ADDRESS"},
		{text: "shout   tcp         upper     running"}},
	5: {{text: "HELLO\nSTICKY PACKETS\n"}},
	6: {{text: `"status": "SERVING"`, grpcurl: true}},
	7: {{text: `{"type":"EVENT_TYPE_CONNECTION_OPENED"`}, {text: "hi there\n"}, {text: "closed by the server\n"},
		{text: "sockplane_listener_frames_in_total"}},
	8: {{text: `"state":"STATE_STOPPED"`}, {text: `"state":"STATE_RUNNING"`}, {text: `"message":"listener not found: shout"`}},
	11: {{text: `{"listeners":[]`}, {text: `"message":"missing credentials: `}, {text: "ok"},
		{text: `"status": "SERVING"`, grpcurl: true}},
	14: {{text: `{"listeners":[]`}},
	16: {{text: "Linux", linux: true}},
}

// apiError is an error reply of the REST API, as curl -s prints it
// (protojson may put a space after a comma).
var apiError = regexp.MustCompile(`\{"code":\s?\d+,\s?"message":\s?"((?:[^"\\]|\\.)*)"`)

// unexpectedErrors returns the error replies in out, the output of block
// n, that the README does not show it printing: curl -s exits 0 on a 404,
// so a command the README means to succeed fails only this way.
func unexpectedErrors(n int, out string, haveGRPCurl bool) []string {
	var bad []string
	for _, m := range apiError.FindAllStringSubmatch(out, -1) {
		message := `"message":"` + m[1] + `"`
		ok := !haveGRPCurl && strings.Contains(m[1], "listener not found: dgram") // made by a grpcurl command
		for _, s := range tourShows[n] {
			ok = ok || (strings.HasPrefix(s.text, `"message":"`) && strings.Contains(message, s.text))
		}
		if !ok {
			bad = append(bad, m[0])
		}
	}
	return bad
}

// tourServing is, for each block that starts the daemon, what its
// "sockplane serving" log line must say.
var tourServing = map[int]string{
	1:  "tls=off auth=none",
	10: "tls=off auth=token",
	13: "tls=mutual auth=client-cert",
	15: "tls=off auth=none",
}

// TestREADMETour runs the README's tour blocks as a user pastes them, in
// order, on a fresh machine: the daemon blocks start the built daemon with
// the flags they give (ports made 0, since 7070 and 7080 may be taken, and
// read back from its log), stopping the one before with SIGINT as Ctrl-C
// would; the blocks between two daemon starts run in one sh -e, as in one
// terminal, so that their variables carry over (and exported ones, like
// $SOCKPLANE_TOKEN, on to the next such run). They run in a fresh
// directory with a fresh $HOME (the default data directory and
// ~/.config/sockplane are in it), 127.0.0.1:7070 and :7080 (and
// localhost:...) made the running daemon's ports, go run ./cmd/sockctl a
// built sockctl, python3 testenv.Python. Each block must succeed and print
// what the README shows it printing.
func TestREADMETour(t *testing.T) {
	sh := needTool(t, "sh", "the README's tour")
	needTool(t, "curl", "the README's tour")
	needTool(t, "openssl", "the README's TLS set-up")
	python := testenv.Python(t, "the README's tour")
	haveGRPCurl := true
	if _, err := exec.LookPath("grpcurl"); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("grpcurl is required in CI (CI=%q) to run the README's grpcurl commands (.ci/run installs it): %v", ci, err)
		}
		haveGRPCurl = false
		t.Log("grpcurl is not installed: the README's grpcurl commands are skipped (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4 runs them)")
	}
	blocks := tourBlocks(t)
	for n, shows := range tourShows {
		if n < 1 || n > len(blocks) {
			t.Fatalf("tourShows names block %d; the README has %d", n, len(blocks))
		}
		for _, s := range shows {
			if !strings.Contains(blocks[n-1].code, s.inREADME()) {
				t.Errorf("readme-tour-%d.sh does not show %q, which the test expects it to print", n, s.text)
			}
		}
	}
	for n := range tourServing {
		if n < 1 || n > len(blocks) || !blocks[n-1].daemon {
			t.Fatalf("tourServing names block %d, which does not start the daemon", n)
		}
	}
	daemonBin := buildDaemon(t)
	sockctl := buildSockctl(t)

	dir, home := t.TempDir(), t.TempDir()
	env := tourEnv(home)
	shell := &tourShell{sh: sh, dir: dir, env: env, state: filepath.Join(t.TempDir(), "exports"),
		sockctl: sockctl, python: python, grpcurl: haveGRPCurl}

	var (
		d       *tourDaemon
		pending []tourBlock
	)
	flush := func() {
		t.Helper()
		if len(pending) == 0 {
			return
		}
		outputs := shell.run(t, d, pending)
		for _, b := range pending {
			if bad := unexpectedErrors(b.n, outputs[b.n], haveGRPCurl); len(bad) > 0 {
				t.Errorf("readme-tour-%d.sh got error replies the README does not show: %q; its output:\n%s", b.n, bad, outputs[b.n])
			}
			for _, s := range tourShows[b.n] {
				if (s.grpcurl && !haveGRPCurl) || (s.linux && runtime.GOOS != "linux") {
					continue
				}
				if !strings.Contains(outputs[b.n], s.text) {
					t.Errorf("readme-tour-%d.sh did not print %q, which the README shows; it printed:\n%s", b.n, s.text, outputs[b.n])
				}
			}
		}
		pending = nil
	}
	for _, b := range blocks {
		if !b.daemon {
			pending = append(pending, b)
			continue
		}
		flush()
		if d != nil {
			d.stop(t)
		}
		d = startTourDaemon(t, daemonBin, env, dir, shellCommands(b.code)[0])
		if want := tourServing[b.n]; want != "" && !strings.Contains(d.serving, want) {
			t.Errorf("readme-tour-%d.sh: the daemon says %q, want %s", b.n, d.serving, want)
		}
	}
	flush()
	d.stop(t)
}

// tourEnv is the test's environment for the tour's shells and daemons,
// with home as $HOME and nothing of the user's sockplane settings.
func tourEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "SOCKPLANE_TOKEN":
			continue
		case "PYTHONUNBUFFERED":
			// Unbuffered, print writes its text and its newline apart, and
			// another process of the block (an event stream, a curl) may
			// write between them: the tour then does not show a line it
			// printed (seen as "closed by the server{}").
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// tourShell runs tour blocks as one terminal would.
type tourShell struct {
	sh, dir string
	env     []string
	// state is where each run leaves its exported variables for the next.
	state           string
	sockctl, python string
	grpcurl         bool
}

var tourOutputMarker = regexp.MustCompile(`\n@@readme-tour-(\d+)@@\n`)

// run runs blocks in one sh -e against the daemon d and returns what each
// printed on stdout, by block number. A block that fails fails the test.
func (s *tourShell) run(t *testing.T, d *tourDaemon, blocks []tourBlock) map[int]string {
	t.Helper()
	if d == nil {
		t.Fatalf("readme-tour-%d.sh runs before any block starts the daemon", blocks[0].n)
	}
	subst := strings.NewReplacer(
		"go run ./cmd/sockctl", shellQuote(s.sockctl)+" --server 127.0.0.1:"+d.grpcPort,
		"127.0.0.1:7070", "127.0.0.1:"+d.grpcPort, "localhost:7070", "localhost:"+d.grpcPort,
		"127.0.0.1:7080", "127.0.0.1:"+d.httpPort, "localhost:7080", "localhost:"+d.httpPort,
		"python3 ", shellQuote(s.python)+" ")
	var script strings.Builder
	fmt.Fprintf(&script, "if [ -f %[1]s ]; then . %[1]s; fi\n", shellQuote(s.state))
	if !s.grpcurl {
		script.WriteString(`grpcurl() { echo "tour test: grpcurl is not installed; skipped: grpcurl $*" >&2; }` + "\n")
	}
	for _, b := range blocks {
		code := subst.Replace(b.code)
		if strings.Contains(code, ":7070") || strings.Contains(code, ":7080") {
			t.Fatalf("readme-tour-%d.sh reaches port 7070 or 7080 at an address the test does not rewrite (127.0.0.1:, localhost:):\n%s", b.n, b.code)
		}
		fmt.Fprintf(&script, "printf '\\n@@readme-tour-%d@@\\n'\n%s\n", b.n, code)
	}
	fmt.Fprintf(&script, "export -p > %s\n", shellQuote(s.state))

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.sh, "-e", "-x", "-c", script.String())
	cmd.Dir, cmd.Env = s.dir, s.env
	// Its own process group, so that what a block leaves in the
	// background dies with it, on a timeout too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Files, not pipes: a background process holding a pipe open would
	// keep Wait waiting.
	stdout, stderr := tempFile(t, "stdout"), tempFile(t, "stderr")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	out, errOut := readFile(t, stdout.Name()), readFile(t, stderr.Name())

	outputs := map[int]string{}
	last := 0
	idx := tourOutputMarker.FindAllStringSubmatchIndex(out, -1)
	for i, m := range idx {
		n, _ := strconv.Atoi(out[m[2]:m[3]])
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		outputs[n], last = out[m[1]:end], n
	}
	if err != nil {
		code := ""
		for _, b := range blocks {
			if b.n == last {
				code = b.code
			}
		}
		t.Fatalf("readme-tour-%d.sh failed: %v (ctx: %v)\n%s\nits output:\n%s\nthe shell's trace (stderr), last lines:\n%s\nthe daemon's log:\n%s",
			last, err, ctx.Err(), code, outputs[last], lastLines(errOut, 40), d.logs.String())
	}
	return outputs
}

func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tourDaemon is the daemon binary run for a tour block.
type tourDaemon struct {
	cmd                *exec.Cmd
	logs               *lockedBuffer
	serving            string // its "sockplane serving" line
	grpcPort, httpPort string
	exited             chan struct{}
	err                error // of Wait, once exited is closed
}

var servingLine = regexp.MustCompile(`msg="sockplane serving" grpc=(\S+) http=(\S+).*`)

// startTourDaemon runs command, a README line go run ./cmd/sockplane
// [FLAGS], as the built daemon bin with FLAGS, through sh (for ~ and
// quotes) in dir with env, on port 0 for the README's 7070 and 7080 (and
// on 127.0.0.1:0 for the flags it does not give), and returns it once it
// serves.
func startTourDaemon(t *testing.T, bin string, env []string, dir, command string) *tourDaemon {
	t.Helper()
	flags := strings.NewReplacer(":7070", ":0", ":7080", ":0").Replace(strings.TrimPrefix(command, "go run ./cmd/sockplane"))
	script := "exec " + shellQuote(bin) + " --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0" + flags
	d := &tourDaemon{cmd: exec.Command("sh", "-c", script), logs: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd.Dir, d.cmd.Env = dir, env
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	serving := make(chan string, 1)
	go func() {
		defer close(d.exited)
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			_, _ = d.logs.Write([]byte(line))
			if m := servingLine.FindString(line); m != "" {
				serving <- m
			}
			if err != nil {
				break
			}
		}
		d.err = d.cmd.Wait()
	}()
	select {
	case line := <-serving:
		m := servingLine.FindStringSubmatch(line)
		d.serving = line
		d.grpcPort, d.httpPort = port(t, m[1]), port(t, m[2])
	case <-d.exited:
		t.Fatalf("%s: the daemon ended before it served (%v):\n%s", command, d.err, d.logs.String())
	case <-time.After(testTimeout):
		t.Fatalf("%s: the daemon did not say it serves within %v:\n%s", command, testTimeout, d.logs.String())
	}
	return d
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("the daemon's address %q: %v", addr, err)
	}
	return p
}

// stop stops the daemon as Ctrl-C in its terminal does, and checks that
// it shuts down cleanly, releasing its ports and data directory.
func (d *tourDaemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(testTimeout):
		t.Fatalf("the daemon did not stop within %v of SIGINT:\n%s", testTimeout, d.logs.String())
	}
	if d.err != nil {
		t.Fatalf("the daemon stopped with %v, want a clean exit on SIGINT:\n%s", d.err, d.logs.String())
	}
}
