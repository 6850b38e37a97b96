//go:build unix

package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/testenv"
)

// clusterShows is what each shell block of the README's cluster section
// shows it printing.
var clusterShows = map[int][]string{
	4: {"served by b", `"name":"b", "grpcAddress":"127.0.0.1:7071", "alive":true`},
	5: {"STATE_UNKNOWN node b is not alive"},
	7: {"back on b"},
}

// TestREADMECluster runs the README's cluster section as pasted in
// terminals: the etcd block and each node's block as processes of their
// own (the built devetcd and daemon; node b stopped with SIGINT before
// block 5, as Ctrl-C, and started again by block 6), the others in one
// shell each, in order, with the README's fixed ports (2379, 7070, 7080,
// 7071, 7081) made free ones.
func TestREADMECluster(t *testing.T) {
	sh := needTool(t, "sh", "the README's cluster section")
	needTool(t, "curl", "the README's cluster section")
	python := testenv.Python(t, "the README's cluster section")
	daemonBin, sockctl := buildDaemon(t), buildSockctl(t)
	devetcd := filepath.Join(t.TempDir(), "devetcd")
	if out, err := exec.Command("go", "build", "-o", devetcd, "../../internal/devetcd").CombinedOutput(); err != nil {
		t.Fatalf("go build devetcd: %v\n%s", err, out)
	}

	readmePorts := []string{"2379", "2380", "7070", "7080", "7071", "7081"}
	free := freePorts(t, len(readmePorts))
	ports := map[string]string{}
	var subst []string
	for i, p := range readmePorts {
		ports[p] = free[i]
		if p != "7070" && p != "7080" { // tourShell.run rewrites those
			subst = append(subst, "127.0.0.1:"+p, "127.0.0.1:"+ports[p])
		}
	}
	rewrite := strings.NewReplacer(subst...)
	block := func(n int) string {
		return rewrite.Replace(readmeBlock(t, "readme-cluster-"+itoa(n)+".sh", "sh"))
	}
	process := func(n int) string {
		cmds := shellCommands(block(n))
		if len(cmds) != 1 {
			t.Fatalf("readme-cluster-%d.sh: want the one command that starts a process, got %q", n, cmds)
		}
		r := strings.NewReplacer("go run ./internal/devetcd", shellQuote(devetcd)+" --listen-client http://127.0.0.1:"+ports["2379"]+" --listen-peer http://127.0.0.1:"+ports["2380"],
			"go run ./cmd/sockplane", shellQuote(daemonBin), "127.0.0.1:7070", "127.0.0.1:"+ports["7070"], "127.0.0.1:7080", "127.0.0.1:"+ports["7080"])
		cmd := r.Replace(strings.TrimSpace(cmds[0]))
		if !strings.Contains(cmd, "--grpc-addr") && strings.Contains(cmd, shellQuote(daemonBin)) {
			cmd += " --grpc-addr 127.0.0.1:" + ports["7070"] + " --http-addr 127.0.0.1:" + ports["7080"]
		}
		return cmd
	}

	dir, home := t.TempDir(), t.TempDir()
	env := tourEnv(home)
	etcd := startProcess(t, dir, env, process(1), "etcd serving clients")
	defer etcd.stop(t)
	a := startProcess(t, dir, env, process(2), "sockplane serving")
	defer a.stop(t)
	b := startProcess(t, dir, env, process(3), "sockplane serving")

	shell := &tourShell{sh: sh, dir: dir, env: env, state: filepath.Join(t.TempDir(), "exports"), sockctl: sockctl, python: python, grpcurl: true}
	nodeA := &tourDaemon{grpcPort: ports["7070"], httpPort: ports["7080"], logs: a.logs}
	run := func(n int) {
		t.Helper()
		// set -a: the variables of one block are there in the next, as in
		// one terminal (the shell's state file keeps exported ones).
		out := shell.run(t, nodeA, []tourBlock{{n: n, code: "set -a\n" + block(n)}})[n]
		for _, want := range clusterShows[n] {
			if !strings.Contains(readmeBlock(t, "readme-cluster-"+itoa(n)+".sh", "sh"), want) {
				t.Errorf("readme-cluster-%d.sh does not show %q", n, want)
			}
			// protojson puts a space after a comma or a colon, or not, at
			// random: compare without spaces.
			if !strings.Contains(strings.ReplaceAll(out, " ", ""), strings.ReplaceAll(rewrite.Replace(want), " ", "")) {
				t.Errorf("readme-cluster-%d.sh did not print %q; it printed:\n%s\nnode b's log:\n%s", n, want, out, b.logs.String())
			}
		}
	}
	run(4)
	b.stop(t)
	run(5)
	b = startProcess(t, dir, env, process(6), "sockplane serving")
	defer b.stop(t)
	run(7)
}

func itoa(n int) string { return strconv.Itoa(n) }

// freePorts returns n distinct loopback ports, picked as etcdtest picks
// its members' (below the ephemeral range: node b starts again on its old
// ports, which meanwhile may have become the local end of a connection).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := etcdtest.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]string, n)
	for i, a := range addrs {
		_, ports[i], _ = net.SplitHostPort(a)
	}
	return ports
}

// process is a README command run as a process of its own, as in a
// terminal of its own.
type process struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
	err    error
}

// startProcess runs command with sh in dir and returns once a line of its
// stderr holds ready.
func startProcess(t *testing.T, dir string, env []string, command, ready string) *process {
	t.Helper()
	p := &process{cmd: exec.Command("sh", "-c", "exec "+command), logs: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout = dir, env, p.logs
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	isReady := make(chan struct{})
	go func() {
		defer close(p.exited)
		r := bufio.NewReader(stderr)
		seen := false
		for {
			line, err := r.ReadString('\n')
			_, _ = p.logs.Write([]byte(line))
			if !seen && strings.Contains(line, ready) {
				seen = true
				close(isReady)
			}
			if err != nil {
				break
			}
		}
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-isReady:
	case <-p.exited:
		t.Fatalf("%s ended before it was ready (%v):\n%s", command, p.err, p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not ready within 30s:\n%s", command, p.logs.String())
	}
	return p
}

// stop stops the process as Ctrl-C does and checks it exits cleanly; a
// second stop does nothing.
func (p *process) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(testTimeout):
		t.Fatalf("%v did not stop within %v of SIGINT:\n%s", p.cmd.Args, testTimeout, p.logs.String())
	}
	if p.err != nil {
		t.Errorf("%v stopped with %v:\n%s", p.cmd.Args, p.err, p.logs.String())
	}
}
