package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// The daemon binary, built once for the tests that run it as a process.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func buildDaemon(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skips building and running the daemon binary")
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "sockplane-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "sockplane")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// startBinary runs the daemon with args on 127.0.0.1:0 ports and returns
// it with its REST address, once it says it serves. The test kills it at
// the end if it still runs.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	args = append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)
	cmd := exec.Command(buildDaemon(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	logs := bufio.NewReader(stderr)
	httpAddr := waitForServing(t, logs)
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	return cmd, httpAddr
}

// waitForServing reads the daemon's log until it says where it serves.
func waitForServing(t *testing.T, logs *bufio.Reader) (httpAddr string) {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		for {
			line, err := logs.ReadString('\n')
			if m := regexp.MustCompile(`msg="sockplane serving" grpc=\S+ http=(\S+)`).FindStringSubmatch(line); m != nil {
				found <- m[1]
				return
			}
			if err != nil {
				found <- ""
				return
			}
		}
	}()
	select {
	case addr := <-found:
		if addr == "" {
			t.Fatal("the daemon ended before it served")
		}
		return addr
	case <-time.After(testTimeout):
		t.Fatalf("no serving line in %v", testTimeout)
	}
	return ""
}
