package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeText is README.md.
func readmeText(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(readme)
}

// readmeBlock returns the code block of language lang that follows the
// HTML comment starting "<!-- name" in README.md, verbatim.
func readmeBlock(t *testing.T, name, lang string) string {
	t.Helper()
	_, after, ok := strings.Cut(readmeText(t), "<!-- "+name+":")
	if !ok {
		t.Fatalf("README.md has no %s marker", name)
	}
	comment, after, ok := strings.Cut(after, "-->")
	if !ok || strings.Contains(comment, "\n") {
		t.Fatalf("README.md: the %s marker is not a one-line comment", name)
	}
	after, ok = strings.CutPrefix(strings.TrimLeft(after, "\n"), "```"+lang+"\n")
	code, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("README.md: no %s block right after the %s marker", lang, name)
	}
	return code
}

// shellCommands splits a shell block into its commands: each line that
// is not blank or a comment, with the lines a trailing backslash joins
// to it.
func shellCommands(block string) []string {
	var (
		cmds []string
		cur  strings.Builder
	)
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		if cur.Len() == 0 {
			if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
		}
		cur.WriteString(line + "\n")
		if !strings.HasSuffix(line, `\`) {
			cmds = append(cmds, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		cmds = append(cmds, cur.String())
	}
	return cmds
}

// needTool returns the path of program, or skips the test (fails it in
// CI, where a skip would pass without running it), as testenv.Python does
// for python3.
func needTool(t *testing.T, program, what string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("%s is required in CI (CI=%q) to run %s: %v", program, ci, what, err)
		}
		t.Skipf("%s is not installed: cannot run %s (CI is unset, so this is a skip)", program, what)
	}
	return path
}

// buildSockctl builds cmd/sockctl into the test's temporary directory,
// as buildDaemon builds the daemon.
func buildSockctl(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skips building and running the sockctl binary")
	}
	path := filepath.Join(t.TempDir(), "sockctl")
	if out, err := exec.Command("go", "build", "-o", path, "../sockctl").CombinedOutput(); err != nil {
		t.Fatalf("go build ../sockctl: %v\n%s", err, out)
	}
	return path
}

// shellQuote quotes s as one word for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// decodeJSON decodes what a README command printed.
func decodeJSON(t *testing.T, what, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s printed no JSON object (%v):\n%s", what, err, out)
	}
	return m
}

// listedIDs are the ids of a {"listeners": [...]} reply, in its order.
func listedIDs(m map[string]any) []string {
	list, _ := m["listeners"].([]any)
	ids := []string{}
	for _, l := range list {
		if obj, ok := l.(map[string]any); ok {
			ids = append(ids, str(obj, "id"))
		}
	}
	return ids
}

// TestREADMEFixturesInCI runs the README's "Fixtures in CI" section as a
// user pastes it, against a daemon of its own: the curl commands one at a
// time through sh (the README's 127.0.0.1:7080 made the daemon's REST
// address), checking what each says and does, then the sockctl apply
// command, twice, on the section's fixtures.yaml.
func TestREADMEFixturesInCI(t *testing.T) {
	sh := needTool(t, "sh", "the README's shell commands")
	needTool(t, "curl", "the README's curl commands")
	script := readmeBlock(t, "readme-fixtures.sh", "sh")
	fixtures := readmeBlock(t, "readme-fixtures.yaml", "yaml")
	applyBlock := readmeBlock(t, "readme-fixtures-apply.sh", "sh")
	sockctl := buildSockctl(t)

	d := startDaemon(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fixtures.yaml"), []byte(fixtures), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(command string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, sh, "-c", command)
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", command, err, out, stderr.String())
		}
		return string(out)
	}
	curl := func(command string) map[string]any {
		t.Helper()
		if !strings.Contains(command, "127.0.0.1:7080") {
			t.Fatalf("the README command does not call 127.0.0.1:7080, the daemon's REST port:\n%s", command)
		}
		return decodeJSON(t, command, run(strings.ReplaceAll(command, "127.0.0.1:7080", d.httpAddr())))
	}

	// A listener of another run, which the batch delete must leave.
	other := wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"run43-echo","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","labels":{"ci-run":"43"}}`), 200)

	commands := shellCommands(script)
	kinds := []string{"create", "patch", "list", "batch delete"}
	if len(commands) != len(kinds) {
		t.Fatalf("the README's fixtures block has %d commands, want %d (%s):\n%s", len(commands), len(kinds), strings.Join(kinds, ", "), script)
	}
	var conn *framedConn
	for i, command := range commands {
		switch kinds[i] {
		case "create":
			start := time.Now()
			created := curl(command)
			if str(created, "id") != "run42-echo" || str(created, "labels", "ci-run") != "42" || str(created, "status", "state") != "STATE_RUNNING" {
				t.Fatalf("create printed %v", created)
			}
			expire, err := time.Parse(time.RFC3339Nano, str(created, "expireTime"))
			if err != nil || expire.Before(start.Add(10*time.Minute-time.Second)) || expire.After(time.Now().Add(10*time.Minute)) {
				t.Fatalf("create: expireTime %q, want 10 minutes from now (%v)", str(created, "expireTime"), err)
			}
			// "safe to retry": the same command again answers the same listener.
			again := curl(command)
			if str(again, "etag") != str(created, "etag") || str(again, "status", "boundAddress") != str(created, "status", "boundAddress") {
				t.Fatalf("the retried create answered %v, want the listener of the first: %v", again, created)
			}
			conn = dialFramed(t, str(created, "status", "boundAddress"))
			if f := conn.roundTrip("hello"); string(f.Body) != "hello" {
				t.Fatalf("echo before the PATCH: %q", f.Body)
			}
		case "patch":
			patched := curl(command)
			limits, _ := patched["limits"].(map[string]any)
			if str(patched, "handler") != "HANDLER_UPPER" || limits["maxBodyBytes"] != 65536.0 {
				t.Fatalf("patch printed %v", patched)
			}
			// The connection opened before is still open, and answered by the new handler.
			if f := conn.roundTrip("hello"); string(f.Body) != "HELLO" {
				t.Fatalf("the same connection after the PATCH: %q, want HELLO", f.Body)
			}
			got := wantStatus(t, rest(t, d, "GET", "/v1/listeners/run42-echo", ""), 200)
			if str(got.body, "handler") != "HANDLER_UPPER" || str(got.body, "labels", "ci-run") != "42" || str(got.body, "expireTime") == "" {
				t.Fatalf("after the PATCH: %s", got.raw)
			}
			_ = conn.conn.Close()
		case "list":
			if ids := listedIDs(curl(command)); !slices.Equal(ids, []string{"run42-echo"}) {
				t.Fatalf("the run's listeners: %q, want [run42-echo]", ids)
			}
		case "batch delete":
			deleted, _ := curl(command)["deletedIds"].([]any)
			if len(deleted) != 1 || deleted[0] != "run42-echo" {
				t.Fatalf("batch delete deleted %v, want [run42-echo]", deleted)
			}
			wantStatus(t, rest(t, d, "GET", "/v1/listeners/run42-echo", ""), 404)
			if got := wantStatus(t, rest(t, d, "GET", "/v1/listeners/run43-echo", ""), 200); str(got.body, "status", "state") != "STATE_RUNNING" ||
				str(got.body, "etag") != str(other.body, "etag") {
				t.Fatalf("the other run's listener after the batch delete: %s", got.raw)
			}
		}
	}

	// sockctl apply, as the README runs it from the directory of
	// fixtures.yaml, with the daemon's gRPC address.
	applyCmds := shellCommands(applyBlock)
	if len(applyCmds) != 1 || !strings.Contains(applyCmds[0], "go run ./cmd/sockctl ") {
		t.Fatalf("the README's apply block is not one go run ./cmd/sockctl command:\n%s", applyBlock)
	}
	apply := strings.Replace(applyCmds[0], "go run ./cmd/sockctl ", shellQuote(sockctl)+" --server "+d.grpcAddr()+" ", 1)
	if out := run(apply); out != "created ci-echo\ncreated ci-upper\n" {
		t.Fatalf("first apply printed %q, want created ci-echo, created ci-upper", out)
	}
	first := map[string]restResult{}
	for _, id := range []string{"ci-echo", "ci-upper"} {
		first[id] = wantStatus(t, rest(t, d, "GET", "/v1/listeners/"+id, ""), 200)
		if str(first[id].body, "labels", "suite") != "smoke" || str(first[id].body, "status", "state") != "STATE_RUNNING" {
			t.Fatalf("%s after apply: %s", id, first[id].raw)
		}
	}
	if body, err := roundTrip(t, "udp", str(first["ci-upper"].body, "status", "boundAddress"), "hi"); err != nil || body != "HI" {
		t.Fatalf("ci-upper answered %q, %v; want HI", body, err)
	}
	if out := run(apply); out != "unchanged ci-echo\nunchanged ci-upper\n" {
		t.Fatalf("second apply printed %q, want unchanged for both", out)
	}
	for id, r := range first {
		got := wantStatus(t, rest(t, d, "GET", "/v1/listeners/"+id, ""), 200)
		if str(got.body, "etag") != str(r.body, "etag") || str(got.body, "expireTime") != str(r.body, "expireTime") {
			t.Fatalf("%s changed by the second apply (etag %s, expireTime %s; was %s, %s)", id,
				str(got.body, "etag"), str(got.body, "expireTime"), str(r.body, "etag"), str(r.body, "expireTime"))
		}
	}
	// What the README says of --prune: a stray of the suite is deleted.
	wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"stray","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","labels":{"suite":"smoke"}}`), 200)
	if out := run(apply); out != "unchanged ci-echo\nunchanged ci-upper\ndeleted stray\n" {
		t.Fatalf("apply with a stray printed %q", out)
	}
	list := wantStatus(t, rest(t, d, "GET", "/v1/listeners", ""), 200)
	if ids := listedIDs(list.body); !slices.Equal(ids, []string{"ci-echo", "ci-upper", "run43-echo"}) {
		t.Fatalf("listeners at the end: %q", ids)
	}
}

// TestREADMEAPITable: every rule of the REST mapping, the source of
// truth, has its row in the README's API table: the RPC, the method and
// the path (with the README's lowerCamelCase names of path variables).
func TestREADMEAPITable(t *testing.T) {
	mapping, err := os.ReadFile("../../proto/sockplane/v1/listener_service_http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // RPC: its row
	for line := range strings.Lines(readmeText(t)) {
		if m := regexp.MustCompile("^\\| `(\\w+)`").FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	rule := regexp.MustCompile(`(?m)^\s*- selector: sockplane\.v1\.\w+\.(\w+)\s*\n((?:\s+\w+: .*\n)*)`)
	verb := regexp.MustCompile(`(?m)^\s+(get|post|put|patch|delete): (\S+)`)
	variable := regexp.MustCompile(`\{([a-z_.]+)\}`)
	rules := rule.FindAllStringSubmatch(string(mapping), -1)
	if len(rules) == 0 {
		t.Fatal("no rules read from listener_service_http.yaml")
	}
	for _, r := range rules {
		rpc, body := r[1], r[2]
		v := verb.FindStringSubmatch(body)
		if v == nil {
			t.Errorf("%s: no method in the REST mapping", rpc)
			continue
		}
		path := variable.ReplaceAllStringFunc(v[2], func(s string) string {
			name := strings.Trim(s, "{}")
			if name == "listener.id" { // UpdateListener: the README names it {id}
				name = "id"
			}
			parts := strings.Split(name, "_")
			for i := 1; i < len(parts); i++ {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
			return "{" + strings.Join(parts, "") + "}"
		})
		want := strings.ToUpper(v[1]) + " " + path
		row, ok := rows[rpc]
		switch {
		case !ok:
			t.Errorf("the README's API table has no row for %s (%s)", rpc, want)
		case !strings.Contains(row, "`"+want+"`") && !strings.Contains(row, "`"+want+"[") && !strings.Contains(row, "`"+want+"?"):
			t.Errorf("the README's row of %s does not give %s:\n%s", rpc, want, row)
		}
	}
	for rpc, params := range map[string][]string{
		"ListListeners":  {"filter=", "pageSize=", "pageToken=", "nextPageToken"},
		"CreateListener": {"requestId="},
		"UpdateListener": {"updateMask=", "etag"},
		"DeleteListener": {"mode=", "drainTimeout=", "etag="},
	} {
		for _, p := range params {
			if !strings.Contains(rows[rpc], p) {
				t.Errorf("the README's row of %s does not name %s", rpc, p)
			}
		}
	}
}
