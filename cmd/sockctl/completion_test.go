package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScripts: each shell's script is valid in that shell, and
// bash's registers the completion of sockctl. A shell that is not
// installed is skipped, except in CI (CI set), whose .ci/run installs
// them all.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		shell string
		check []string // the command that checks the script, which follows
	}{
		{"bash", []string{"bash", "-c", `source "$0" && complete -p sockctl`}},
		{"zsh", []string{"zsh", "-n"}},
		{"fish", []string{"fish", "--no-execute"}},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			t.Parallel()
			script := mustSockctl(t, "completion", tc.shell)
			if !strings.Contains(script, "sockctl") {
				t.Fatalf("completion %s: %q", tc.shell, script)
			}
			if _, err := exec.LookPath(tc.check[0]); err != nil {
				if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
					t.Fatalf("%s is required in CI (CI=%q) to check its completion script (.ci/run installs it): %v", tc.check[0], ci, err)
				}
				t.Skipf("%s is not installed: %v", tc.check[0], err)
			}
			path := filepath.Join(t.TempDir(), "sockctl."+tc.shell)
			if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.shell == "bash" {
				if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
					t.Fatalf("bash -n: %v\n%s", err, out)
				}
			}
			out, err := exec.Command(tc.check[0], append(tc.check[1:], path)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(tc.check, " "), err, out)
			}
			if tc.shell == "bash" && !strings.Contains(string(out), "__start_sockctl") {
				t.Errorf("complete -p sockctl: %q, want the script's function", out)
			}
		})
	}
}

// TestCompletions: what the scripts ask sockctl for: subcommands, and
// the names an enum flag takes.
func TestCompletions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"listeners", "l"}, []string{"list"}},
		{[]string{"comp"}, []string{"completion"}},
		{[]string{"listeners", "stop", "web", "--mode", ""}, []string{"graceful", "immediate"}},
		{[]string{"send", "--framing", ""}, []string{"json", "length", "raw"}},
		{[]string{"listeners", "list", "-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"bench", "--byte-order", ""}, []string{"little", "big"}},
	} {
		out := mustSockctl(t, append([]string{"__complete"}, tc.args...)...)
		var got []string
		for line := range strings.Lines(out) {
			if name, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t"); name != "" && !strings.HasPrefix(name, ":") {
				got = append(got, name)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("__complete %q: %q, want %q", tc.args, got, tc.want)
		}
	}
}
