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
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// Defaults and limits of an Exec.
const (
	// DefaultTimeout bounds one run of a command.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxOutputBytes is how much of stdout, and of stderr, a
	// run keeps: 64 KiB each.
	DefaultMaxOutputBytes = 64 << 10
	// HardMaxOutputBytes is the largest MaxOutputBytes: 32 MiB, so
	// that stdout and stderr together fit in wire.HardMaxBodyBytes.
	HardMaxOutputBytes = wire.HardMaxBodyBytes / 2
	// DefaultMaxConcurrent is how many commands one Exec runs at once.
	DefaultMaxConcurrent = 4
	// DefaultPath is the PATH of the commands when the daemon has none.
	DefaultPath = "/usr/local/bin:/usr/bin:/bin"
)

// Exit codes of the runs that never start, as a shell would report them.
const (
	exitUsage     = 2   // the text is not a command: a quoting error, empty
	exitCannotRun = 126 // found, but cannot be executed, or never got to run
	exitNotFound  = 127 // not allowed or not found: the shell's "command not found"
)

// execWaitDelay bounds how long a run waits, once its process is gone or
// killed, for whatever still holds its output pipes: a process that left
// the process group is not killed with it.
const execWaitDelay = time.Second

// errExecTimeout is the cause of a run's context when Timeout expires; it
// tells a timeout from a peer that went away.
var errExecTimeout = errors.New("exec timeout")

// Config configures an Exec handler. New validates it and fills in
// the defaults.
type Config struct {
	// Allow lists the programs that may run: bare names looked up in Path
	// (e.g. "ls"), or clean absolute paths (e.g. "/usr/bin/ls"). A bare
	// name allows only itself as typed: not "./ls", not "/bin/ls"; an
	// absolute path allows only itself. Required, non-empty.
	//
	// The arguments are the peer's to choose, so allowing a program that
	// runs other programs from its arguments (sh, env, find, xargs, awk,
	// git, ...) allows everything, and one that changes the system from
	// them (date -s, as root) lets the peer change it.
	Allow []string
	// Timeout bounds one run; when it expires the whole process group is
	// killed with SIGKILL, grandchildren included. The wait for a free
	// slot (see MaxConcurrent) is not counted. Default: 5s.
	Timeout time.Duration
	// MaxOutputBytes caps what is kept of stdout, and of stderr, in bytes;
	// the rest is read and dropped. Default: 64 KiB; at most 32 MiB.
	MaxOutputBytes int
	// MaxConcurrent bounds the runs at once of this handler (one
	// listener); a request waits for a free slot until its context ends.
	// Default: 4.
	MaxConcurrent int
	// Dir is the working directory of the commands; a relative Dir is
	// made absolute by New. Default: the daemon's.
	Dir string
	// Path is the PATH the bare names of Allow are looked up in, and the
	// only variable of the commands' environment. Its relative entries
	// (including empty ones) are skipped, so lookups never depend on a
	// working directory. Default: the daemon's PATH, or DefaultPath
	// if that is empty.
	Path string
}

// Exec is the handler that runs a command for each frame, safely: the
// frame's text is split into words with SplitArgs, the first word must be
// on the allow list, and the program is executed directly, without a
// shell, with PATH as its whole environment, no stdin, a timeout, capped
// output and a bound on concurrent runs. Create one with New; the zero
// Exec refuses every command.
type Exec struct {
	allow   map[string]bool
	allowed string // the sorted allow list, for messages
	timeout time.Duration
	maxOut  int
	dir     string
	path    string
	env     []string
	slots   chan struct{} // a semaphore: one token per run
}

var _ rawsock.Handler = (*Exec)(nil)

// New validates cfg, applies its defaults and returns the handler. An
// invalid field gives a *FieldError whose Field is "exec.allow",
// "exec.timeout", "exec.maxOutputBytes", "exec.maxConcurrent" or
// "exec.workingDir".
func New(cfg Config) (*Exec, error) {
	if len(cfg.Allow) == 0 {
		return nil, fieldErrorf("exec.allow", "required: the programs that may run")
	}
	allow := make(map[string]bool, len(cfg.Allow))
	for _, name := range cfg.Allow {
		if err := checkAllowEntry(name); err != nil {
			return nil, err
		}
		allow[name] = true
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fieldErrorf("exec.timeout", "negative: %v", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxOutputBytes < 0:
		return nil, fieldErrorf("exec.maxOutputBytes", "negative: %d", cfg.MaxOutputBytes)
	case cfg.MaxOutputBytes > HardMaxOutputBytes:
		return nil, fieldErrorf("exec.maxOutputBytes", "%d bytes, more than %d", cfg.MaxOutputBytes, HardMaxOutputBytes)
	case cfg.MaxOutputBytes == 0:
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	switch {
	case cfg.MaxConcurrent < 0:
		return nil, fieldErrorf("exec.maxConcurrent", "negative: %d", cfg.MaxConcurrent)
	case cfg.MaxConcurrent == 0:
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Dir != "" {
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fieldErrorf("exec.workingDir", "%v", err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fieldErrorf("exec.workingDir", "%v", err)
		}
		if !fi.IsDir() {
			return nil, fieldErrorf("exec.workingDir", "%s is not a directory", dir)
		}
		cfg.Dir = dir
	}
	if cfg.Path == "" {
		cfg.Path = os.Getenv("PATH")
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}

	names := make([]string, 0, len(allow))
	for name := range allow {
		names = append(names, name)
	}
	slices.Sort(names)
	return &Exec{
		allow:   allow,
		allowed: strings.Join(names, ", "),
		timeout: cfg.Timeout,
		maxOut:  cfg.MaxOutputBytes,
		dir:     cfg.Dir,
		path:    cfg.Path,
		env:     []string{"PATH=" + cfg.Path},
		slots:   make(chan struct{}, cfg.MaxConcurrent),
	}, nil
}

// checkAllowEntry rejects what SplitArgs could never produce unquoted or
// what would make the allow list mean more than it says: a relative path
// depends on the working directory, an unclean absolute one looks like
// another program.
func checkAllowEntry(name string) error {
	switch {
	case name == "":
		return fieldErrorf("exec.allow", "empty entry")
	case strings.ContainsFunc(name, unicode.IsSpace) || strings.IndexByte(name, 0) >= 0:
		return fieldErrorf("exec.allow", "%q contains whitespace or NUL", name)
	case name == "." || name == "..":
		return fieldErrorf("exec.allow", "%q is not a program", name)
	case filepath.IsAbs(name):
		if filepath.Clean(name) != name {
			return fieldErrorf("exec.allow", "%q is not a clean path; use %q", name, filepath.Clean(name))
		}
	case strings.ContainsRune(name, '/'):
		return fieldErrorf("exec.allow", "%q is a relative path: use a bare name or an absolute path", name)
	}
	return nil
}

// ServeFrame runs the command in the request body and replies with its
// stdout followed by its stderr, and the header fields exit_code,
// stdout_size, stderr_size (bytes kept of each), truncated (either stream
// went over MaxOutputBytes) and timed_out (Timeout killed it).
//
// exit_code is the program's exit status, or 128 + the signal number when
// a signal killed it (137 for a timeout or a peer that went away), or -1
// when neither is known. A command that does not run is answered with a
// one-line message as the body, counted as stderr, and a shell's exit
// code: 2 when the text is not a command (a quoting error, no words, a
// NUL byte), 127 when the program is not allowed or not found, 126 when it
// cannot be executed (permission, not an executable format: there is no
// fallback to a shell) or when the request's context ended while it waited
// for a free slot. The header never has an "error" field: that one ends
// the connection.
func (e *Exec) ServeFrame(w rawsock.ResponseWriter, r *rawsock.Request) {
	if bytes.IndexByte(r.Body, 0) >= 0 {
		refuse(w, exitUsage, "command contains a NUL byte")
		return
	}
	argv, err := SplitArgs(string(r.Body))
	if err != nil {
		refuse(w, exitUsage, err.Error())
		return
	}
	if len(argv) == 0 {
		refuse(w, exitUsage, "empty command")
		return
	}
	path, code, msg := e.resolve(argv[0])
	if msg != "" {
		refuse(w, code, msg)
		return
	}

	ctx := r.Context()
	// Checked first because select picks at random when a slot is free too.
	if err := ctx.Err(); err != nil {
		refuse(w, exitCannotRun, fmt.Sprintf("%s: not run: %v", displayName(argv[0]), err))
		return
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		refuse(w, exitCannotRun, fmt.Sprintf("%s: not run: %v while waiting for one of %d run slots",
			displayName(argv[0]), ctx.Err(), cap(e.slots)))
		return
	}
	res := e.run(ctx, path, argv)
	<-e.slots // before Reply: a slow peer must not hold a slot

	if res.msg != "" {
		refuse(w, res.code, res.msg)
		return
	}
	stdout, stderr := res.stdout.kept, res.stderr.kept
	body := stdout
	switch {
	case len(stdout) == 0:
		body = stderr
	case len(stderr) > 0:
		body = append(stdout, stderr...)
	}
	_ = w.Reply(body,
		wire.HeaderField{Name: "exit_code", Value: res.code},
		wire.HeaderField{Name: "stdout_size", Value: len(stdout)},
		wire.HeaderField{Name: "stderr_size", Value: len(stderr)},
		wire.HeaderField{Name: "truncated", Value: res.stdout.dropped > 0 || res.stderr.dropped > 0},
		wire.HeaderField{Name: "timed_out", Value: res.timedOut},
	)
}

// refuse replies to a command that did not run, with a message the
// tutorial's client prints as it is.
func refuse(w rawsock.ResponseWriter, code int, msg string) {
	body := make([]byte, 0, len("sockplane: ")+len(msg)+1)
	body = append(body, "sockplane: "...)
	body = append(body, msg...)
	body = append(body, '\n')
	_ = w.Reply(body,
		wire.HeaderField{Name: "exit_code", Value: code},
		wire.HeaderField{Name: "stdout_size", Value: 0},
		wire.HeaderField{Name: "stderr_size", Value: len(body)},
		wire.HeaderField{Name: "truncated", Value: false},
		wire.HeaderField{Name: "timed_out", Value: false},
	)
}

// resolve checks name against the allow list and finds its program. It
// returns the program's absolute path, or an exit code and a message.
func (e *Exec) resolve(name string) (path string, code int, msg string) {
	if !e.allow[name] {
		if e.allowed == "" {
			return "", exitNotFound, displayName(name) + ": not allowed (nothing is)"
		}
		return "", exitNotFound, displayName(name) + ": not allowed (allowed: " + e.allowed + ")"
	}
	if filepath.IsAbs(name) {
		return name, 0, "" // its errors come from execve, as a shell's do
	}
	// Only a bare name gets here: allow entries with a '/' are absolute.
	for _, dir := range filepath.SplitList(e.path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, 0, ""
		}
	}
	return "", exitNotFound, displayName(name) + ": not found in PATH"
}

// displayName is name as a message shows it: quoted when it is empty or
// has bytes a terminal would not print plainly, cut when it is long.
func displayName(name string) string {
	const limit = 64
	if len(name) > limit {
		name = name[:limit] + "..."
	}
	for _, c := range name {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return strconv.Quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

// runResult is what a run produced. msg is set when the program did not
// start; then code is the exit code to report and nothing else counts.
type runResult struct {
	stdout, stderr *capture
	code           int
	timedOut       bool
	msg            string
}

// run executes the program at path with argv, in its own process group,
// and returns when the program has exited, its process group is killed
// and its output is read.
func (e *Exec) run(parent context.Context, path string, argv []string) runResult {
	ctx, cancel := context.WithTimeoutCause(parent, e.timeout, errExecTimeout)
	defer cancel()

	stdout, err := newCapture(e.maxOut)
	if err != nil {
		return runResult{code: exitCannotRun, msg: fmt.Sprintf("%s: cannot run: %v", displayName(argv[0]), err)}
	}
	defer stdout.close()
	stderr, err := newCapture(e.maxOut)
	if err != nil {
		return runResult{code: exitCannotRun, msg: fmt.Sprintf("%s: cannot run: %v", displayName(argv[0]), err)}
	}
	defer stderr.close()

	cmd := exec.CommandContext(ctx, path)
	cmd.Args = argv // argv[0] as typed, as a shell passes it
	cmd.Env = e.env // non-nil, so os/exec adds no PWD either
	cmd.Dir = e.dir
	cmd.Stdout = stdout.w // *os.File: the child writes to our pipe, os/exec copies nothing
	cmd.Stderr = stderr.w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var killed atomic.Bool
	cmd.Cancel = func() error {
		err := killGroup(cmd.Process.Pid)
		if err == nil {
			killed.Store(true)
		}
		return err
	}
	cmd.WaitDelay = execWaitDelay

	if err := cmd.Start(); err != nil {
		return startFailure(ctx, argv[0], err)
	}
	// The child has its copies; ours would keep the pipes from ever
	// reaching EOF.
	_ = stdout.w.Close()
	_ = stderr.w.Close()
	go stdout.drain()
	go stderr.drain()

	_ = cmd.Wait() // the exit status is in ProcessState; pipe errors show as missing output
	// What the program left behind in its group dies with it, and so the
	// pipes it held reach EOF now rather than at execWaitDelay.
	_ = killGroup(cmd.Process.Pid)
	awaitDrained(execWaitDelay, stdout, stderr)

	return runResult{
		stdout:   stdout,
		stderr:   stderr,
		code:     exitCode(cmd.ProcessState),
		timedOut: killed.Load() && errors.Is(context.Cause(ctx), errExecTimeout),
	}
}

// startFailure turns an error of Cmd.Start into the reply a shell would
// give.
func startFailure(ctx context.Context, name string, err error) runResult {
	name = displayName(name)
	if ctx.Err() != nil {
		return runResult{code: exitCannotRun, msg: fmt.Sprintf("%s: not run: %v", name, context.Cause(ctx))}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "fork/exec /usr/bin/x: " repeats what the peer knows
	}
	if errors.Is(err, fs.ErrNotExist) {
		return runResult{code: exitNotFound, msg: name + ": not found"}
	}
	return runResult{code: exitCannotRun, msg: fmt.Sprintf("%s: cannot execute: %v", name, err)}
}

// killGroup sends SIGKILL to the process group led by pid. A group that
// is already empty gives os.ErrProcessDone, which os/exec does not report
// as a failure to cancel.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// exitCode is the status a shell would report for ps.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return -1
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// capture reads one output pipe of a run to its end: it keeps the first
// max bytes and counts the rest, which it still reads, so the child never
// blocks on a full pipe.
type capture struct {
	r, w    *os.File
	max     int
	kept    []byte
	dropped int64
	done    chan struct{} // closed when drain returns
}

func newCapture(max int) (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	return &capture{r: r, w: w, max: max, done: make(chan struct{})}, nil
}

// drain reads the pipe until EOF or an error, straight into kept while it
// has room, so the kept bytes are copied once, from the kernel.
func (c *capture) drain() {
	defer close(c.done)
	var discard []byte
	for {
		buf := discard
		keep := len(c.kept) < c.max
		if keep {
			if len(c.kept) == cap(c.kept) {
				c.kept = slices.Grow(c.kept, min(c.max-len(c.kept), max(len(c.kept), 512)))
			}
			buf = c.kept[len(c.kept):min(cap(c.kept), c.max)]
		} else if discard == nil {
			discard = make([]byte, 32<<10)
			buf = discard
		}
		n, err := c.r.Read(buf)
		if keep {
			c.kept = c.kept[:len(c.kept)+n]
		} else {
			c.dropped += int64(n)
		}
		if err != nil {
			return
		}
	}
}

// close releases both ends of the pipe; drain must have returned or never
// started.
func (c *capture) close() {
	_ = c.r.Close()
	_ = c.w.Close() // already closed after a successful start
}

// awaitDrained waits for the captures to reach EOF. After grace it cuts
// them short: a process that escaped the group may hold a pipe forever.
func awaitDrained(grace time.Duration, caps ...*capture) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for _, c := range caps {
		select {
		case <-c.done:
		case <-timer.C:
			for _, o := range caps {
				_ = o.r.SetReadDeadline(time.Now())
			}
			<-c.done
		}
	}
}
