package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// execReply is a reply of Exec with its header fields decoded.
type execReply struct {
	body       string
	exitCode   int
	stdoutSize int
	stderrSize int
	truncated  bool
	timedOut   bool
}

// replyRecorder is a rawsock.ResponseWriter that keeps what it is given.
type replyRecorder struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers [][]wire.HeaderField
}

func (rr *replyRecorder) Reply(body []byte, extra ...wire.HeaderField) error {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.bodies = append(rr.bodies, bytes.Clone(body))
	rr.headers = append(rr.headers, slices.Clone(extra))
	return nil
}

// The exec handler replies only with Reply; the rest of the interface is
// recorded as nothing.
func (rr *replyRecorder) ReplyError(string) error { return errors.New("unexpected ReplyError") }
func (rr *replyRecorder) Delay(time.Duration)     {}
func (rr *replyRecorder) CloseAfterReply(bool)    {}

// execFieldNames are the header fields of every Exec reply, in order.
var execFieldNames = []string{"exit_code", "stdout_size", "stderr_size", "truncated", "timed_out"}

// serve runs one request through e and returns its only reply, after
// checking the header's shape.
func serve(tb testing.TB, e *Exec, ctx context.Context, body string) execReply {
	tb.Helper()
	got, err := serveExec(e, ctx, body)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// serveExec is serve for goroutines other than the test's.
func serveExec(e *Exec, ctx context.Context, body string) (execReply, error) {
	rr := &replyRecorder{}
	e.ServeFrame(rr, rawsock.NewRequest(ctx, nil, []byte(body)))
	if len(rr.bodies) != 1 {
		return execReply{}, fmt.Errorf("%q: %d replies, want 1", body, len(rr.bodies))
	}
	fields := rr.headers[0]
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, execFieldNames) {
		return execReply{}, fmt.Errorf("%q: header fields %q, want %q", body, names, execFieldNames)
	}
	got := execReply{body: string(rr.bodies[0])}
	var ok [5]bool
	got.exitCode, ok[0] = fields[0].Value.(int)
	got.stdoutSize, ok[1] = fields[1].Value.(int)
	got.stderrSize, ok[2] = fields[2].Value.(int)
	got.truncated, ok[3] = fields[3].Value.(bool)
	got.timedOut, ok[4] = fields[4].Value.(bool)
	if ok != [5]bool{true, true, true, true, true} {
		return execReply{}, fmt.Errorf("%q: header field types %#v", body, fields)
	}
	if got.stdoutSize+got.stderrSize != len(got.body) {
		return execReply{}, fmt.Errorf("%q: stdout_size %d + stderr_size %d != body length %d", body, got.stdoutSize, got.stderrSize, len(got.body))
	}
	return got, nil
}

// need returns the absolute paths of programs, or skips the test.
func need(tb testing.TB, programs ...string) map[string]string {
	tb.Helper()
	paths := make(map[string]string, len(programs))
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			tb.Skipf("%s is needed as a program in PATH: %v", p, err)
		}
		if path, err = filepath.Abs(path); err != nil {
			tb.Fatal(err)
		}
		paths[p] = path
	}
	return paths
}

func newTestExec(tb testing.TB, cfg Config) *Exec {
	tb.Helper()
	e, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return e
}

// writeFile creates a file in dir with the given mode and returns its path.
func writeFile(tb testing.TB, dir, name, content string, mode fs.FileMode) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		tb.Fatal(err)
	}
	return path
}

func TestExecRuns(t *testing.T) {
	t.Parallel()
	bin := need(t, "echo", "sh", "ls", "head")
	zeros := strings.Repeat("\x00", 1024)
	tests := []struct {
		name   string
		cfg    Config
		in     string
		want   execReply
		substr bool // want.body is only a part of the body
	}{
		{
			name: "echo",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "echo hello world",
			want: execReply{body: "hello world\n", stdoutSize: 12},
		},
		{
			name: "raw client line",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "echo hello world\r\n",
			want: execReply{body: "hello world\n", stdoutSize: 12},
		},
		{
			name: "quoted arguments",
			cfg:  Config{Allow: []string{"echo"}},
			in:   `echo 'a  b' "c\"d" e\ f`,
			want: execReply{body: "a  b c\"d e f\n", stdoutSize: 13},
		},
		{
			name: "absolute allow entry",
			cfg:  Config{Allow: []string{bin["echo"]}},
			in:   bin["echo"] + " hi",
			want: execReply{body: "hi\n", stdoutSize: 3},
		},
		{
			name: "stderr after stdout",
			cfg:  Config{Allow: []string{"sh"}},
			in:   `sh -c 'echo err >&2; echo out'`,
			want: execReply{body: "out\nerr\n", stdoutSize: 4, stderrSize: 4},
		},
		{
			name:   "exit status passes through",
			cfg:    Config{Allow: []string{"ls"}},
			in:     "ls /nonexistent-sockplane-dir",
			want:   execReply{body: "nonexistent-sockplane-dir", exitCode: 2},
			substr: true,
		},
		{
			name: "exit status of sh",
			cfg:  Config{Allow: []string{"sh"}},
			in:   "sh -c 'exit 3'",
			want: execReply{exitCode: 3},
		},
		{
			name: "killed by a signal",
			cfg:  Config{Allow: []string{"sh"}},
			in:   "sh -c 'kill -TERM $$'",
			want: execReply{exitCode: 128 + int(syscall.SIGTERM)},
		},
		{
			name: "stdout flood",
			cfg:  Config{Allow: []string{"head"}, MaxOutputBytes: 1024},
			in:   "head -c 1000000 /dev/zero",
			want: execReply{body: zeros, stdoutSize: 1024, truncated: true},
		},
		{
			name: "stderr flood",
			cfg:  Config{Allow: []string{"sh"}, MaxOutputBytes: 1024},
			in:   "sh -c 'head -c 100000 /dev/zero >&2; echo ok'",
			want: execReply{body: "ok\n" + zeros, stdoutSize: 3, stderrSize: 1024, truncated: true},
		},
		{
			name: "output of exactly the limit",
			cfg:  Config{Allow: []string{"head"}, MaxOutputBytes: 1024},
			in:   "head -c 1024 /dev/zero",
			want: execReply{body: zeros, stdoutSize: 1024},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := serve(t, newTestExec(t, tt.cfg), context.Background(), tt.in)
			if tt.substr {
				if !strings.Contains(got.body, tt.want.body) {
					t.Errorf("body %q does not contain %q", got.body, tt.want.body)
				}
				got.body = tt.want.body
				tt.want.stdoutSize, tt.want.stderrSize = got.stdoutSize, got.stderrSize
			}
			if got != tt.want {
				t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestExecRunsNoShell sends the shell's metacharacters: they must arrive
// as words, and what they would do in a shell must not happen.
func TestExecRunsNoShell(t *testing.T) {
	t.Parallel()
	need(t, "echo", "rm")
	dir := t.TempDir()
	victim := writeFile(t, dir, "x", "keep me", 0o644)
	e := newTestExec(t, Config{Allow: []string{"echo", "rm"}, Dir: dir})
	for _, in := range []string{
		"echo a; rm -rf x",
		"echo a && rm x",
		"echo a || rm x",
		"echo a | rm x",
		"echo a & rm x",
		"echo $(rm x)",
		"echo `rm x`",
		"echo a > y",
		"echo a >> y",
		"echo a < x",
		"echo * ? ~ $HOME ${PATH} # not a comment",
		"echo a\nrm x",
	} {
		got := serve(t, e, context.Background(), in)
		words, err := SplitArgs(in)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join(words[1:], " ") + "\n"
		if got.exitCode != 0 || got.body != want {
			t.Errorf("%q: exit %d, body %q; want 0, %q", in, got.exitCode, got.body, want)
		}
	}
	if got := serve(t, e, context.Background(), "echo a; rm -rf x"); got.body != "a; rm -rf x\n" {
		t.Errorf("body %q", got.body)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("x is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "y")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("y was created: %v", err)
	}
}

func TestExecRefuses(t *testing.T) {
	t.Parallel()
	bin := need(t, "echo")
	dir := t.TempDir()
	victim := writeFile(t, dir, "x", "keep me", 0o644)
	prog := writeFile(t, dir, "prog", "#!/bin/sh\necho ran > ran\n", 0o755)
	data := writeFile(t, dir, "data", "not a program\n", 0o644)
	garbage := writeFile(t, dir, "garbage", "\x00\x01\x02 not a program\n", 0o755)
	empty := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		in   string
		code int
		msg  string
	}{
		{
			name: "not allowed",
			cfg:  Config{Allow: []string{"ls", "echo", "date"}},
			in:   "rm -rf x",
			code: 127,
			msg:  "rm: not allowed (allowed: date, echo, ls)",
		},
		{
			name: "relative path for a bare entry",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "./echo hi",
			code: 127,
			msg:  "./echo: not allowed (allowed: echo)",
		},
		{
			name: "absolute path for a bare entry",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "/bin/echo hi",
			code: 127,
			msg:  "/bin/echo: not allowed (allowed: echo)",
		},
		{
			name: "its own absolute path for a bare entry",
			cfg:  Config{Allow: []string{"echo"}},
			in:   bin["echo"] + " hi",
			code: 127,
			msg:  bin["echo"] + ": not allowed (allowed: echo)",
		},
		{
			name: "bare name for an absolute entry",
			cfg:  Config{Allow: []string{bin["echo"]}},
			in:   "echo hi",
			code: 127,
			msg:  "echo: not allowed (allowed: " + bin["echo"] + ")",
		},
		{
			name: "unclean path for an absolute entry",
			cfg:  Config{Allow: []string{bin["echo"]}},
			in:   "/" + bin["echo"] + " hi",
			code: 127,
			msg:  "/" + bin["echo"] + ": not allowed (allowed: " + bin["echo"] + ")",
		},
		{
			name: "empty program name",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "'' hi",
			code: 127,
			msg:  `"": not allowed (allowed: echo)`,
		},
		{
			name: "control characters are quoted",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "'\x1b[2Jrm'",
			code: 127,
			msg:  `"\x1b[2Jrm": not allowed (allowed: echo)`,
		},
		{
			name: "not in PATH",
			cfg:  Config{Allow: []string{"sockplane-no-such-program"}},
			in:   "sockplane-no-such-program",
			code: 127,
			msg:  "sockplane-no-such-program: not found in PATH",
		},
		{
			name: "only the configured PATH",
			cfg:  Config{Allow: []string{"echo"}, Path: empty},
			in:   "echo hi",
			code: 127,
			msg:  "echo: not found in PATH",
		},
		{
			name: "relative PATH entries are skipped",
			cfg:  Config{Allow: []string{"prog"}, Dir: dir, Path: ".::prog:" + empty},
			in:   "prog",
			code: 127,
			msg:  "prog: not found in PATH",
		},
		{
			name: "absolute entry missing",
			cfg:  Config{Allow: []string{"/nonexistent-sockplane/prog"}},
			in:   "/nonexistent-sockplane/prog",
			code: 127,
			msg:  "/nonexistent-sockplane/prog: not found",
		},
		{
			name: "not executable",
			cfg:  Config{Allow: []string{data}},
			in:   data,
			code: 126,
			msg:  data + ": cannot execute: permission denied",
		},
		{
			name: "no shell for a file that is not a program",
			cfg:  Config{Allow: []string{garbage}},
			in:   garbage,
			code: 126,
			msg:  garbage + ": cannot execute: exec format error",
		},
		{
			name: "unterminated single quote",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "echo 'abc",
			code: 2,
			msg:  "unterminated single quote",
		},
		{
			name: "unterminated double quote",
			cfg:  Config{Allow: []string{"echo"}},
			in:   `echo "abc`,
			code: 2,
			msg:  "unterminated double quote",
		},
		{
			name: "trailing backslash",
			cfg:  Config{Allow: []string{"echo"}},
			in:   `echo abc\`,
			code: 2,
			msg:  "trailing backslash",
		},
		{
			name: "empty",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "",
			code: 2,
			msg:  "empty command",
		},
		{
			name: "only whitespace",
			cfg:  Config{Allow: []string{"echo"}},
			in:   " \t\r\n ",
			code: 2,
			msg:  "empty command",
		},
		{
			name: "NUL byte",
			cfg:  Config{Allow: []string{"echo"}},
			in:   "echo a\x00b",
			code: 2,
			msg:  "command contains a NUL byte",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(t, newTestExec(t, tt.cfg), context.Background(), tt.in)
			want := execReply{
				body:       "sockplane: " + tt.msg + "\n",
				exitCode:   tt.code,
				stderrSize: len("sockplane: " + tt.msg + "\n"),
			}
			if got != want {
				t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, want)
			}
		})
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("x is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("prog ran (%s): %v", prog, err)
	}
}

func TestExecZeroRefuses(t *testing.T) {
	got := serve(t, &Exec{}, context.Background(), "echo hi")
	if got.exitCode != 127 || got.body != "sockplane: echo: not allowed (nothing is)\n" {
		t.Errorf("zero Exec: %+v", got)
	}
}

func TestExecEnvironmentIsOnlyPath(t *testing.T) {
	t.Parallel()
	bin := need(t, "env")
	path := filepath.Dir(bin["env"]) + ":/nonexistent-sockplane"
	e := newTestExec(t, Config{Allow: []string{"env"}, Path: path, Dir: t.TempDir()})
	got := serve(t, e, context.Background(), "env")
	if want := "PATH=" + path + "\n"; got.exitCode != 0 || got.body != want {
		t.Errorf("env: exit %d, body %q; want 0, %q", got.exitCode, got.body, want)
	}
}

func TestExecWorkingDir(t *testing.T) {
	t.Parallel()
	need(t, "pwd")
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := serve(t, newTestExec(t, Config{Allow: []string{"pwd"}, Dir: dir}), context.Background(), "pwd")
	if got.exitCode != 0 || got.body != dir+"\n" {
		t.Errorf("pwd: exit %d, body %q; want 0, %q", got.exitCode, got.body, dir+"\n")
	}
}

func TestExecTimeout(t *testing.T) {
	t.Parallel()
	need(t, "sleep")
	e := newTestExec(t, Config{Allow: []string{"sleep"}, Timeout: 200 * time.Millisecond})
	start := time.Now()
	got := serve(t, e, context.Background(), "sleep 60")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if want := (execReply{exitCode: 128 + int(syscall.SIGKILL), timedOut: true}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestExecTimeoutKeepsOutput(t *testing.T) {
	t.Parallel()
	need(t, "yes")
	e := newTestExec(t, Config{Allow: []string{"yes"}, Timeout: 200 * time.Millisecond, MaxOutputBytes: 1000})
	got := serve(t, e, context.Background(), "yes")
	want := execReply{
		body:       strings.Repeat("y\n", 500),
		exitCode:   128 + int(syscall.SIGKILL),
		stdoutSize: 1000,
		truncated:  true,
		timedOut:   true,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestExecRequestContextKills checks that a peer that goes away takes its
// run with it, and that it is not reported as a timeout.
func TestExecRequestContextKills(t *testing.T) {
	t.Parallel()
	need(t, "sleep")
	e := newTestExec(t, Config{Allow: []string{"sleep"}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := serve(t, e, ctx, "sleep 60")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if want := (execReply{exitCode: 128 + int(syscall.SIGKILL)}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// processGone reports whether pid has exited. A zombie counts: nothing
// runs, and it is for its new parent to reap.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	i := bytes.LastIndexByte(stat, ')') // the command name may hold anything
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func TestExecKillsProcessGroup(t *testing.T) {
	t.Parallel()
	need(t, "sh", "sleep")
	tests := []struct {
		name    string
		timeout time.Duration
		in      string
		exit    int
		within  time.Duration
	}{
		// The timeout kills sh and the sleep it waits for.
		{"on timeout", 500 * time.Millisecond, "sh -c 'sleep 60 & echo $!; wait'", 128 + int(syscall.SIGKILL), 3 * time.Second},
		// sh exits at once; the sleep it left holds stdout open and must
		// die then, not when execWaitDelay gives up on the pipe.
		{"left behind", 0, "sh -c 'sleep 60 & echo $!'", 0, execWaitDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestExec(t, Config{Allow: []string{"sh"}, Timeout: tt.timeout})
			start := time.Now()
			got := serve(t, e, context.Background(), tt.in)
			if elapsed := time.Since(start); elapsed > tt.within {
				t.Errorf("took %v, more than %v", elapsed, tt.within)
			}
			if got.exitCode != tt.exit {
				t.Errorf("exit code %d, want %d (%+v)", got.exitCode, tt.exit, got)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(got.body))
			if err != nil {
				t.Fatalf("no grandchild pid in %q", got.body)
			}
			poll.Until(t, fmt.Sprintf("grandchild %d to die", pid), func() bool { return processGone(pid) })
		})
	}
}

// TestExecEscapedProcessDoesNotHang: a process that left the process
// group survives the kill and holds stdout; the reply must still come,
// after execWaitDelay.
func TestExecEscapedProcessDoesNotHang(t *testing.T) {
	t.Parallel()
	need(t, "sh", "setsid", "sleep")
	e := newTestExec(t, Config{Allow: []string{"sh"}})
	start := time.Now()
	got := serve(t, e, context.Background(), "sh -c 'setsid sleep 60 & echo $!'")
	elapsed := time.Since(start)
	pid, err := strconv.Atoi(strings.TrimSpace(got.body))
	if err != nil {
		t.Fatalf("no pid in %+v", got)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if elapsed > execWaitDelay+2*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if got.exitCode != 0 {
		t.Errorf("exit code %d", got.exitCode)
	}
}

func TestExecConcurrencyLimit(t *testing.T) {
	t.Parallel()
	need(t, "echo", "sleep")
	e := newTestExec(t, Config{Allow: []string{"echo", "sleep"}, MaxConcurrent: 1})

	// A run holds the only slot until its peer goes away.
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	type result struct {
		reply execReply
		err   error
	}
	first := make(chan result, 1)
	go func() {
		got, err := serveExec(e, ctx1, "sleep 60")
		first <- result{got, err}
	}()
	poll.Until(t, "the first run to take the slot", func() bool { return len(e.slots) == 1 })

	// A second request waits, and gives up when its peer does.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	got := serve(t, e, ctx2, "echo second")
	want := "sockplane: echo: not run: context deadline exceeded while waiting for one of 1 run slots\n"
	if got.exitCode != 126 || got.body != want {
		t.Errorf("second: exit %d, body %q; want 126, %q", got.exitCode, got.body, want)
	}

	// A request whose peer is already gone does not run even with a slot.
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if got := serve(t, e, done, "echo third"); got.exitCode != 126 || got.body != "sockplane: echo: not run: context canceled\n" {
		t.Errorf("third: %+v", got)
	}

	cancel1()
	if r := <-first; r.err != nil || r.reply.exitCode != 128+int(syscall.SIGKILL) || r.reply.timedOut {
		t.Errorf("first: %+v, %v", r.reply, r.err)
	}
	if len(e.slots) != 0 {
		t.Errorf("%d slots held after the runs", len(e.slots))
	}
	if got := serve(t, e, context.Background(), "echo fourth"); got.body != "fourth\n" {
		t.Errorf("fourth: %+v", got)
	}
}

// TestExecConcurrentRuns is for the race detector: many runs share an Exec.
func TestExecConcurrentRuns(t *testing.T) {
	t.Parallel()
	need(t, "echo")
	e := newTestExec(t, Config{Allow: []string{"echo"}, MaxConcurrent: 2})
	var wg sync.WaitGroup
	results := make([]execReply, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() { results[i], errs[i] = serveExec(e, context.Background(), "echo "+strconv.Itoa(i)) })
	}
	wg.Wait()
	for i, got := range results {
		if want := strconv.Itoa(i) + "\n"; errs[i] != nil || got.body != want || got.exitCode != 0 {
			t.Errorf("run %d: %+v, %v", i, got, errs[i])
		}
	}
}

func TestNewExecValidation(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "f", "", 0o644)
	ok := []string{"echo"}
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no allow list", Config{}, "exec.allow"},
		{"empty allow list", Config{Allow: []string{}}, "exec.allow"},
		{"empty entry", Config{Allow: []string{"echo", ""}}, "exec.allow"},
		{"entry with a space", Config{Allow: []string{"rm -rf"}}, "exec.allow"},
		{"entry with a tab", Config{Allow: []string{"ls\t"}}, "exec.allow"},
		{"entry with a newline", Config{Allow: []string{"ls\n"}}, "exec.allow"},
		{"entry with NUL", Config{Allow: []string{"ls\x00"}}, "exec.allow"},
		{"dot-slash entry", Config{Allow: []string{"./ls"}}, "exec.allow"},
		{"relative path entry", Config{Allow: []string{"bin/ls"}}, "exec.allow"},
		{"dot entry", Config{Allow: []string{"."}}, "exec.allow"},
		{"dot-dot entry", Config{Allow: []string{".."}}, "exec.allow"},
		{"unclean absolute entry", Config{Allow: []string{"/usr/bin/../bin/ls"}}, "exec.allow"},
		{"trailing slash entry", Config{Allow: []string{"/usr/bin/"}}, "exec.allow"},
		{"negative timeout", Config{Allow: ok, Timeout: -time.Second}, "exec.timeout"},
		{"negative output", Config{Allow: ok, MaxOutputBytes: -1}, "exec.maxOutputBytes"},
		{"output too large", Config{Allow: ok, MaxOutputBytes: HardMaxOutputBytes + 1}, "exec.maxOutputBytes"},
		{"negative concurrency", Config{Allow: ok, MaxConcurrent: -1}, "exec.maxConcurrent"},
		{"missing dir", Config{Allow: ok, Dir: "/nonexistent-sockplane"}, "exec.workingDir"},
		{"dir is a file", Config{Allow: ok, Dir: file}, "exec.workingDir"},
	}
	for _, tt := range tests {
		e, err := New(tt.cfg)
		var fe *rawsock.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: New = %v, %v; want a FieldError for %s", tt.name, e, err, tt.field)
		}
	}
}

func TestNewExecDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("PATH", "")
	e := newTestExec(t, Config{Allow: []string{"echo", "/bin/ls", "echo"}, Dir: "."})
	if e.timeout != DefaultTimeout || e.maxOut != DefaultMaxOutputBytes || cap(e.slots) != DefaultMaxConcurrent {
		t.Errorf("timeout %v, max output %d, max concurrent %d", e.timeout, e.maxOut, cap(e.slots))
	}
	if e.path != DefaultPath || !slices.Equal(e.env, []string{"PATH=" + DefaultPath}) {
		t.Errorf("path %q, env %q", e.path, e.env)
	}
	if e.dir != dir {
		t.Errorf("dir %q, want %q", e.dir, dir)
	}
	if e.allowed != "/bin/ls, echo" {
		t.Errorf("allowed %q", e.allowed)
	}

	t.Setenv("PATH", "/a:/b")
	if e := newTestExec(t, Config{Allow: []string{"echo"}}); e.path != "/a:/b" || e.dir != "" {
		t.Errorf("path %q, dir %q", e.path, e.dir)
	}
}
