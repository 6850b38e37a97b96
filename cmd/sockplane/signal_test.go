package main

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryExitsCleanlyOnSignal builds the real daemon, starts it on
// port 0, spawns a listener through REST, and sends SIGTERM and SIGINT:
// the daemon must exit 0 quickly and its listener's port must refuse.
func TestBinaryExitsCleanlyOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, httpAddr := startBinary(t, "--shutdown-timeout", "3s", "--data-dir", t.TempDir())

			resp, err := http.Post("http://"+httpAddr+"/v1/listeners", "application/json",
				strings.NewReader(`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			addr := regexp.MustCompile(`"boundAddress":"([^"]+)"`).FindStringSubmatch(string(body))
			if addr == nil {
				t.Fatalf("create: %s", body)
			}
			if got, err := roundTrip(t, "tcp", addr[1], "ping"); err != nil || got != "ping" {
				t.Fatalf("listener before the signal: %q %v", got, err)
			}

			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after %v: %v, want status 0", sig, err)
				}
			case <-time.After(testTimeout):
				t.Fatalf("still running %v after %v", testTimeout, sig)
			}
			t.Logf("%v: exited 0 in %v", sig, time.Since(start).Round(time.Millisecond))
			if _, err := roundTrip(t, "tcp", addr[1], "ping"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("listener port after exit: %v, want refused", err)
			}
		})
	}
}
