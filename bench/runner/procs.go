package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the runner started: a server or a load. It runs in
// its own process group, which stop signals, and is killed if the
// runner dies first.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string   // stdout or stderr line by line, see startProc
	stdout *bytes.Buffer // stdout whole, see startProc; read after waited
	stderr *tailBuffer
	waited chan struct{}
	err    error // the exit status, after waited
}

// procs are every process started, for the clean-up on exit.
var (
	procsMu sync.Mutex
	procs   []*proc
)

// pin returns argv prefixed with taskset to run on cpu, when pinning is
// on.
func (r *runner) pin(cpu string, argv ...string) []string {
	if r.taskset == "" {
		return argv
	}
	return append([]string{r.taskset, "-c", cpu}, argv...)
}

// What startProc does with a process's output.
type outputMode int

const (
	stdoutLines outputMode = iota // stdout to p.lines, stderr kept
	stderrLines                   // stderr to p.lines and kept, stdout dropped
	stdoutWhole                   // stdout to p.stdout, stderr kept
)

// startProc starts argv with env added to the runner's environment. Lines
// go to p.lines, a bounded buffer: lines beyond it are dropped. The last
// 16 KiB of stderr are kept for error messages.
func startProc(name string, argv, env []string, mode outputMode) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 1024), stderr: &tailBuffer{max: 16 << 10}, waited: make(chan struct{})}
	var out io.ReadCloser
	var err error
	switch mode {
	case stderrLines:
		cmd.Stdout = io.Discard
		out, err = cmd.StderrPipe()
	case stdoutLines:
		cmd.Stderr = p.stderr
		out, err = cmd.StdoutPipe()
	case stdoutWhole:
		cmd.Stderr = p.stderr
		p.stdout = new(bytes.Buffer)
		cmd.Stdout = p.stdout
		out = io.NopCloser(strings.NewReader(""))
	}
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if mode == stderrLines {
				_, _ = p.stderr.Write([]byte(line + "\n"))
			}
			select {
			case p.lines <- line:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.lines)
		close(p.waited)
	}()
	return p, nil
}

// pid is the process id, the one /proc/<pid>/stat describes: taskset
// execs the program in its own process.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitLine returns the first line matching re within timeout, with its
// submatches.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.waited
				return nil, fmt.Errorf("%s exited (%v) before it printed %s; its output: %s", p.name, p.err, re, p.stderr.String())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m, nil
			}
		case <-t.C:
			return nil, fmt.Errorf("%s printed no %s within %s; its output: %s", p.name, re, timeout, p.stderr.String())
		}
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.waited:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		select {
		case <-p.waited:
		case <-time.After(5 * time.Second):
		}
	}
}

// stopAll stops every process still running.
func stopAll() {
	procsMu.Lock()
	ps := procs
	procs = nil
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.stop(5 * time.Second) })
	}
	wg.Wait()
}

// runProc runs argv to the end, bounded by timeout, and returns its
// stdout; an exit status other than 0 is an error carrying its stderr.
func runProc(ctx context.Context, name string, argv, env []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (bound %s)", ctx.Err(), timeout)
		}
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// clockTick is the length of one clock tick of /proc/<pid>/stat and
// /proc/stat: 1/CLK_TCK (getconf CLK_TCK, which run.sh passes as
// --clk-tck), 100 Hz on Linux whatever the kernel's HZ.
var clockTick = 10 * time.Millisecond

// procCPU is the user plus system CPU time of process pid and all its
// threads, from fields 14 and 15 of /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/pid/stat: " + s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/pid/stat: " + s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// systemCPU is the busy time of every CPU together (user, nice, system,
// irq, softirq) and the time the hypervisor stole, from /proc/stat.
func systemCPU() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat: " + line)
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	// user nice system idle iowait irq softirq steal
	return time.Duration(v[0]+v[1]+v[2]+v[5]+v[6]) * clockTick, time.Duration(v[7]) * clockTick, nil
}
