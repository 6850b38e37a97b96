// Package testenv finds the outside tools sockplane's tests run, and
// decides what a missing one means: a skip on a developer's machine, a
// failure in CI (CI set, as CI services and .ci/run's caller set it), where a
// skip would pass without running the test at all.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Python returns python3's path. what says what needs it, for the
// message.
func Python(tb testing.TB, what string) string {
	tb.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			tb.Fatalf("python3 is required in CI (CI=%q) to run %s: %v", ci, what, err)
		}
		tb.Skipf("python3 is not installed: cannot run %s (CI is unset, so this is a skip)", what)
	}
	return python
}
