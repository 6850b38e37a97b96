package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillNineLosesNothingAcknowledged creates listeners as fast as the
// API answers and SIGKILLs the daemon at a random moment, again and
// again, on one data directory: every restart must open the store and
// find every listener whose create was acknowledged, running, with its
// id.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	acknowledged := map[string]bool{}
	const rounds = 8
	for round := range rounds + 1 {
		cmd, httpAddr := startBinary(t, "--data-dir", dir)
		checkRestored(t, httpAddr, acknowledged)
		if round == rounds {
			break
		}
		killAt := time.Duration(rand.IntN(60)) * time.Millisecond
		killed := time.AfterFunc(killAt, func() { _ = cmd.Process.Kill() }) // the random kill point itself
		client := &http.Client{Timeout: testTimeout}
		for i := 0; ; i++ {
			id := fmt.Sprintf("r%d-%d", round, i)
			resp, err := client.Post("http://"+httpAddr+"/v1/listeners", "application/json",
				strings.NewReader(`{"id":"`+id+`","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`))
			if err != nil {
				break // killed
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				acknowledged[id] = true
			}
		}
		killed.Stop()
		_ = cmd.Wait()
		t.Logf("round %d: killed after %v; %d listeners acknowledged so far", round, killAt, len(acknowledged))
	}
}

func checkRestored(t *testing.T, httpAddr string, acknowledged map[string]bool) {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/v1/listeners")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Listeners []struct {
			ID     string `json:"id"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		} `json:"listeners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, l := range list.Listeners {
		state[l.ID] = l.Status.State
	}
	for id := range acknowledged {
		if state[id] != "STATE_RUNNING" {
			t.Fatalf("acknowledged listener %s after a restart: %q", id, state[id])
		}
	}
}

// TestCorruptStoreFailsTheStart: a damaged store is a clear start-up
// error, never a silent empty state.
func TestCorruptStoreFailsTheStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sockplane.db"), []byte(strings.Repeat("garbage ", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runDaemonOnce(t, "--data-dir", dir)
	if err == nil || !strings.Contains(out, "--data-dir") || !strings.Contains(out, "sockplane.db") {
		t.Fatalf("start on a corrupt store: %v\n%s", err, out)
	}
}

// runDaemonOnce runs the daemon expecting it to exit by itself.
func runDaemonOnce(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)
	cmd := exec.Command(buildDaemon(t), args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return string(out), err
	case <-time.After(testTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the daemon kept running")
		return "", nil
	}
}
