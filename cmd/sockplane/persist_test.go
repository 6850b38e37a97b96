package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillNineLosesNothingAcknowledged creates listeners as fast as the
// API answers and SIGKILLs the daemon at a random moment, again and
// again, on one data directory: every restart must open the store and
// find every listener whose create was acknowledged, running (its
// status says so and its port answers), with its id.
//
// The kill lands at a random moment after the round's first
// acknowledged create, so every round has something to lose: a round
// that acknowledges nothing, a create refused, or a daemon that dies
// before the kill fails the test rather than passing it vacuously.
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
		var killing atomic.Bool
		var killed *time.Timer
		client := &http.Client{Timeout: testTimeout}
		ackedThisRound := 0
		for i := 0; ; i++ {
			id := fmt.Sprintf("r%d-%d", round, i)
			resp, err := client.Post("http://"+httpAddr+"/v1/listeners", "application/json",
				strings.NewReader(`{"id":"`+id+`","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`))
			if err != nil {
				if !killing.Load() {
					t.Fatalf("round %d: create %s failed before the kill, after %d acknowledged: %v", round, id, ackedThisRound, err)
				}
				break // killed
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				// SIGKILL leaves the daemon no time to answer: any answer
				// but 200 is the daemon refusing a valid create.
				t.Fatalf("round %d: create %s: %d %s", round, id, resp.StatusCode, body)
			}
			if readErr != nil && !killing.Load() {
				t.Fatalf("round %d: create %s: reading the reply: %v", round, id, readErr)
			}
			// The status line says 200: the daemon acknowledged the create
			// even if the kill cut the rest of the reply.
			acknowledged[id] = true
			ackedThisRound++
			if killed == nil { // the random kill point itself, counted from the first acknowledgement
				killed = time.AfterFunc(killAt, func() {
					killing.Store(true)
					_ = cmd.Process.Kill()
				})
			}
		}
		killed.Stop()
		_ = cmd.Wait()
		t.Logf("round %d: killed %v after the first acknowledgement; %d acknowledged this round, %d so far", round, killAt, ackedThisRound, len(acknowledged))
	}
	if len(acknowledged) < rounds {
		t.Fatalf("%d creates acknowledged in %d rounds", len(acknowledged), rounds)
	}
}

// checkRestored checks that every acknowledged listener is listed,
// running, and answers on its bound address.
func checkRestored(t *testing.T, httpAddr string, acknowledged map[string]bool) {
	t.Helper()
	client := &http.Client{Timeout: testTimeout}
	// One page holds them all: a round acknowledges at most a few dozen.
	resp, err := client.Get("http://" + httpAddr + "/v1/listeners?pageSize=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list after a restart: %s", resp.Status)
	}
	var list struct {
		Listeners []struct {
			ID     string `json:"id"`
			Status struct {
				State        string `json:"state"`
				BoundAddress string `json:"boundAddress"`
			} `json:"status"`
		} `json:"listeners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	type status struct{ state, addr string }
	listed := map[string]status{}
	for _, l := range list.Listeners {
		listed[l.ID] = status{l.Status.State, l.Status.BoundAddress}
	}
	for id := range acknowledged {
		st := listed[id]
		if st.state != "STATE_RUNNING" {
			t.Fatalf("acknowledged listener %s after a restart: %q", id, st.state)
		}
		if got, err := roundTrip(t, "tcp", st.addr, "restored "+id); err != nil || got != "restored "+id {
			t.Fatalf("acknowledged listener %s, running on %s after a restart: echo %q, %v", id, st.addr, got, err)
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
