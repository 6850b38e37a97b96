package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/registry"
)

// writeFile writes content to name in a new temporary directory.
func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// getListener gets a listener through sockctl.
func getListener(tb testing.TB, server, id string) *sockplanev1.Listener {
	tb.Helper()
	var l sockplanev1.Listener
	unmarshal(tb, mustSockctl(tb, "listeners", "get", id, "-o", "json", "--server", server), &l)
	return &l
}

// listedIDs are the ids list prints.
func listedIDs(tb testing.TB, server string) string {
	tb.Helper()
	var ids []string
	for _, r := range tableRows(mustSockctl(tb, "listeners", "list", "--server", server))[1:] {
		ids = append(ids, r[0])
	}
	return strings.Join(ids, " ")
}

// TestApplyPlan: apply creates what is missing, updates what differs in
// the fields the file states, leaves the rest, prunes what the selector
// matches and the file does not name; and a second run changes nothing.
func TestApplyPlan(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }
	ctl("listeners", "create", "--id", "same", "--transport", "tcp", "--handler", "upper", "-l", "env=ci")
	ctl("listeners", "create", "--id", "differ", "--transport", "tcp", "-l", "env=ci", "--limit-max-body-bytes", "1000")
	ctl("listeners", "create", "--id", "stale", "--transport", "udp", "-l", "env=ci,team=web")
	ctl("listeners", "create", "--id", "other", "--transport", "tcp", "-l", "env=prod")
	before := getListener(t, server, "differ")

	file := writeFile(t, "ci.yaml", `# the ci listeners
- id: fresh
  transport: TRANSPORT_TCP
  address: 127.0.0.1:0
  handler: HANDLER_UPPER
  labels: {env: ci}
- id: same
  transport: TRANSPORT_TCP
  handler: HANDLER_UPPER
  labels: {env: ci}
- id: differ
  handler: upper # not a protojson name
  limits: {maxConnections: 7}
  labels: {env: ci, tier: front}
`)
	// protojson takes enum names only as written in the .proto.
	_, _, err := sockctl(t, "", "apply", "-f", file, "--server", server)
	if err == nil || !strings.Contains(err.Error(), file+": listeners[2] (differ): ") || !strings.Contains(err.Error(), "upper") {
		t.Fatalf("apply of handler: upper: %v", err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(mustRead(t, file), "handler: upper # not a protojson name", "handler: HANDLER_UPPER", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The run above created fresh and left same alone: undo that, for
	// the plan to show every decision.
	ctl("listeners", "delete", "fresh")

	out := ctl("apply", "-f", file, "--prune", "-l", "env=ci")
	if want := "created fresh\nunchanged same\nupdated differ\ndeleted stale\n"; out != want {
		t.Errorf("apply printed\n%s\nwant\n%s", out, want)
	}
	if got := listedIDs(t, server); got != "differ fresh other same" {
		t.Errorf("listeners after apply: %s, want differ fresh other same", got)
	}
	after := getListener(t, server, "differ")
	if after.GetHandler() != sockplanev1.Handler_HANDLER_UPPER || after.GetLimits().GetMaxConnections() != 7 ||
		after.GetLabels()["tier"] != "front" || len(after.GetLabels()) != 2 {
		t.Errorf("differ after apply: %v", after)
	}
	// The fields the file leaves out are as they were, and an update of
	// neither address nor transport does not rebind.
	if after.GetLimits().GetMaxBodyBytes() != 1000 || after.GetStatus().GetBoundAddress() != before.GetStatus().GetBoundAddress() {
		t.Errorf("differ after apply: limits %v, bound %s; before: bound %s", after.GetLimits(), after.GetStatus().GetBoundAddress(), before.GetStatus().GetBoundAddress())
	}
	if fresh := getListener(t, server, "fresh"); fresh.GetHandler() != sockplanev1.Handler_HANDLER_UPPER || fresh.GetLabels()["env"] != "ci" {
		t.Errorf("fresh: %v", fresh)
	}

	// Again: nothing to do.
	if out := ctl("apply", "-f", file, "--prune", "-l", "env=ci"); out != "unchanged fresh\nunchanged same\nunchanged differ\n" {
		t.Errorf("second apply printed\n%s", out)
	}
	if g := getListener(t, server, "differ").GetStatus().GetGeneration(); g != after.GetStatus().GetGeneration() {
		t.Errorf("second apply moved differ's generation from %d to %d", after.GetStatus().GetGeneration(), g)
	}

	// A change made since is put back.
	ctl("listeners", "update", "same", "--handler", "echo")
	if out := ctl("apply", "-f", file); out != "unchanged fresh\nupdated same\nunchanged differ\n" {
		t.Errorf("apply after a change printed\n%s", out)
	}
	if h := getListener(t, server, "same").GetHandler(); h != sockplanev1.Handler_HANDLER_UPPER {
		t.Errorf("same's handler %v after apply, want HANDLER_UPPER", h)
	}
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestApplyJSON: {"listeners": [...]} in JSON, with proto names, on
// standard input; and one listener, in a JSON file.
func TestApplyJSON(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	file := `{"listeners": [
  {"id": "a", "transport": "TRANSPORT_TCP", "address": "127.0.0.1:0", "framing": {"request": "FRAMING_RAW", "byte_order": "BYTE_ORDER_BIG_ENDIAN"}},
  {"id": "b", "transport": "TRANSPORT_UDP", "address": "127.0.0.1:0", "handler": "HANDLER_RECORD", "capture": {"max_frames": 5}, "ttl": "3600s"}
]}`
	for i, want := range []string{"created a\ncreated b\n", "unchanged a\nunchanged b\n"} {
		out, stderr, err := sockctl(t, file, "apply", "-f", "-", "--server", server)
		if err != nil || out != want {
			t.Errorf("run %d: apply printed %q, %v %s; want %q", i, out, err, stderr, want)
		}
	}
	a := getListener(t, server, "a")
	if f := a.GetFraming(); f.GetRequest() != sockplanev1.Framing_FRAMING_RAW || f.GetResponse() != sockplanev1.Framing_FRAMING_JSON_HEADER ||
		f.GetByteOrder() != sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN {
		t.Errorf("a's framing: %v", f)
	}
	// ttl counts from the create; a second apply does not extend it.
	b := getListener(t, server, "b")
	if b.GetCapture().GetMaxFrames() != 5 || b.GetExpireTime() == nil || time.Until(b.GetExpireTime().AsTime()) < 50*time.Minute {
		t.Errorf("b: capture %v, expireTime %v; want 5 frames and an expiry in about an hour", b.GetCapture(), b.GetExpireTime())
	}

	one := writeFile(t, "a.json", `{"id": "a", "framing": {"request": "FRAMING_LENGTH_PREFIXED"}}`)
	if out := mustSockctl(t, "apply", "-f", one, "--server", server); out != "updated a\n" {
		t.Errorf("apply of one listener printed %q", out)
	}
	if f := getListener(t, server, "a").GetFraming(); f.GetRequest() != sockplanev1.Framing_FRAMING_LENGTH_PREFIXED || f.GetByteOrder() != sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN {
		t.Errorf("a's framing after apply: %v", f)
	}
}

// TestGetYAMLRoundTrip: what get -o yaml and list -o yaml write, apply
// reads, and finds unchanged; and it puts back a listener changed since.
func TestGetYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("echo"); err != nil {
		t.Skip("no echo program in PATH: cannot run the exec handler")
	}
	server, _ := startDaemon(t, registry.Policy{ExecAllow: []string{"echo", "true"}})
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }
	sock := filepath.Join(t.TempDir(), "shout.sock")
	ctl("listeners", "create", "--id", "shout", "--transport", "unix", "--address", sock, "--unix-mode", "0660",
		"--handler", "upper", "--framing", "raw", "-l", "env=ci", "-l", "example.com/flag=yes")
	ctl("listeners", "create", "--id", "cmd", "--transport", "tcp", "--handler", "exec", "--request-framing", "raw",
		"--exec-allow", "echo", "--exec-timeout", "2s", "--limit-idle-timeout", "0s", "--capture-max-frames", "3", "--ttl", "1h")
	ctl("listeners", "create", "--id", "plain", "--transport", "udp", "--byte-order", "big", "--limit-allow-larger-datagram-replies")

	for _, id := range []string{"shout", "cmd", "plain"} {
		yaml := ctl("listeners", "get", id, "-o", "yaml")
		for _, absent := range []string{"status", "etag", "ttl", "boundAddress"} {
			if strings.Contains(yaml, absent+":") {
				t.Errorf("get %s -o yaml has %s:\n%s", id, absent, yaml)
			}
		}
		file := writeFile(t, id+".yaml", yaml)
		if out := ctl("apply", "-f", file); out != "unchanged "+id+"\n" {
			t.Errorf("apply of get %s -o yaml printed %q; the file:\n%s", id, out, yaml)
		}
	}
	if y := ctl("listeners", "get", "shout", "-o", "yaml"); !strings.Contains(y, `unixMode: "0660"`) || !strings.Contains(y, `example.com/flag: "yes"`) {
		t.Errorf("get shout -o yaml does not quote what YAML would misread:\n%s", y)
	}
	if y := ctl("listeners", "get", "cmd", "-o", "yaml"); !strings.Contains(y, "expireTime:") {
		t.Errorf("get cmd -o yaml has no expireTime:\n%s", y)
	}

	list := writeFile(t, "all.yaml", ctl("listeners", "list", "-o", "yaml"))
	if out := ctl("apply", "-f", list); out != "unchanged cmd\nunchanged plain\nunchanged shout\n" {
		t.Errorf("apply of list -o yaml printed %q", out)
	}
	// list -o json, status and etag and all, applies too.
	if out, _, err := sockctl(t, ctl("listeners", "list", "-o", "json"), "apply", "-f", "-", "--server", server); err != nil || out != "unchanged cmd\nunchanged plain\nunchanged shout\n" {
		t.Errorf("apply of list -o json printed %q, %v", out, err)
	}

	ctl("listeners", "update", "shout", "--handler", "echo", "-l", "env=prod")
	ctl("listeners", "update", "cmd", "--exec-timeout", "3s", "--limit-idle-timeout", "1m")
	if out := ctl("apply", "-f", list); out != "updated cmd\nunchanged plain\nupdated shout\n" {
		t.Errorf("apply after updates printed %q", out)
	}
	if out := ctl("apply", "-f", list); out != "unchanged cmd\nunchanged plain\nunchanged shout\n" {
		t.Errorf("apply after apply printed %q", out)
	}
	shout := getListener(t, server, "shout")
	if shout.GetHandler() != sockplanev1.Handler_HANDLER_UPPER || shout.GetUnixMode() != "0660" || shout.GetStatus().GetState() != sockplanev1.State_STATE_RUNNING || shout.GetLabels()["env"] != "ci" {
		t.Errorf("shout after apply: %v", shout)
	}
	cmd := getListener(t, server, "cmd")
	if cmd.GetExec().GetTimeout().AsDuration() != 2*time.Second || cmd.GetLimits().GetIdleTimeout().AsDuration() != 0 {
		t.Errorf("cmd after apply: exec %v, limits %v", cmd.GetExec(), cmd.GetLimits())
	}
}

// TestApplyFailures: a listener apply cannot read or the daemon refuses
// fails with the file, its index and its id; the others are applied, the
// exit is an error, and nothing is pruned while a listener is unread.
func TestApplyFailures(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	mustSockctl(t, "listeners", "create", "--id", "stale", "--transport", "tcp", "-l", "env=ci", "--server", server)
	file := writeFile(t, "bad.yaml", `
- transport: TRANSPORT_TCP
- {id: ok1, transport: TRANSPORT_TCP, address: "127.0.0.1:0", labels: {env: ci}}
- {id: bad-address, transport: TRANSPORT_TCP, address: "no port", labels: {env: ci}}
- {id: colour, transport: TRANSPORT_TCP, colour: red}
- {id: ok2, transport: TRANSPORT_UDP, address: "127.0.0.1:0", labels: {env: ci}}
`)
	out, _, err := sockctl(t, "", "apply", "-f", file, "--prune", "-l", "env=ci", "--server", server)
	if out != "created ok1\ncreated ok2\n" {
		t.Errorf("apply printed\n%s", out)
	}
	if err == nil {
		t.Fatal("apply succeeded")
	}
	for _, want := range []string{
		file + ": listeners[0]: no id",
		file + ": listeners[2] (bad-address): invalid listener.address",
		file + ": listeners[3] (colour): ",
		file + ": not pruning: 2 listeners of the file could not be read",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\ndoes not say %q", err, want)
		}
	}
	if got := listedIDs(t, server); got != "ok1 ok2 stale" {
		t.Errorf("listeners: %s, want ok1 ok2 stale", got)
	}

	// A listener the daemon refuses is still named: prune keeps its
	// namesake.
	file = writeFile(t, "refused.yaml", `
- {id: ok1, transport: TRANSPORT_TCP, address: "127.0.0.1:0", labels: {env: ci}}
- {id: stale, address: "no port"}
`)
	out, _, err = sockctl(t, "", "apply", "-f", file, "--prune", "-l", "env=ci", "--server", server)
	if out != "unchanged ok1\ndeleted ok2\n" || err == nil || !strings.Contains(err.Error(), file+": listeners[1] (stale): invalid listener.address") {
		t.Errorf("apply printed %q, %v", out, err)
	}
	if got := listedIDs(t, server); got != "ok1 stale" {
		t.Errorf("listeners: %s, want ok1 stale", got)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply"}, "-f FILE"},
		{[]string{"apply", "-f", file, "--prune"}, "--prune needs -l SELECTOR"},
		{[]string{"apply", "-f", file, "-l", "env=ci"}, "-l SELECTOR is for --prune"},
		{[]string{"apply", "-f", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml: no such file"},
		{[]string{"apply", "-f", writeFile(t, "empty.yaml", "")}, "empty.yaml: want a listener"},
	} {
		_, _, err := sockctl(t, "", append(tc.args, "--server", server)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestApplyAsTheDaemonReads: a file that spells values otherwise than
// the daemon shows them (an octal mode without its 0, Go durations), or
// gives a field as zero for the daemon's default, which get shows filled
// in, is unchanged on every run after the first; and a real difference
// in one of those fields is still an update.
func TestApplyAsTheDaemonReads(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }
	sock := filepath.Join(t.TempDir(), "s.sock")
	content := `
- id: unix
  transport: TRANSPORT_UNIX
  address: ` + sock + `
  unixMode: "660"
  limits: {headerTimeout: 1500ms, idleTimeout: 1h30m}
- id: defaults
  transport: TRANSPORT_UDP
  address: 127.0.0.1:0
  handler: HANDLER_RECORD
  framing: {request: FRAMING_UNSPECIFIED}
  capture: {maxFrames: 0, maxBytesPerFrame: 0}
  limits: {maxConnections: 0, maxBodyBytes: 0}
`
	file := writeFile(t, "f.yaml", content)
	if out := ctl("apply", "-f", file); out != "created unix\ncreated defaults\n" {
		t.Fatalf("first apply printed %q", out)
	}
	before := map[string]*sockplanev1.Listener{"unix": getListener(t, server, "unix"), "defaults": getListener(t, server, "defaults")}
	if u := before["unix"]; u.GetUnixMode() != "0660" || u.GetLimits().GetIdleTimeout().AsDuration() != 90*time.Minute ||
		u.GetLimits().GetHeaderTimeout().AsDuration() != 1500*time.Millisecond {
		t.Fatalf("unix: mode %q, limits %v", u.GetUnixMode(), u.GetLimits())
	}
	if d := before["defaults"]; d.GetCapture().GetMaxFrames() != 1000 || d.GetLimits().GetMaxConnections() != 1024 ||
		d.GetFraming().GetRequest() != sockplanev1.Framing_FRAMING_JSON_HEADER {
		t.Fatalf("defaults: the daemon's defaults are not filled in: %v", d)
	}
	for run := range 2 {
		if out := ctl("apply", "-f", file); out != "unchanged unix\nunchanged defaults\n" {
			t.Errorf("apply %d printed %q", run+2, out)
		}
	}
	for id, b := range before {
		if a := getListener(t, server, id); a.GetEtag() != b.GetEtag() || a.GetStatus().GetGeneration() != b.GetStatus().GetGeneration() {
			t.Errorf("%s: etag %s, generation %d after applies; was %s, %d", id, a.GetEtag(), a.GetStatus().GetGeneration(), b.GetEtag(), b.GetStatus().GetGeneration())
		}
	}

	// What differs is put back, whatever the spelling. (unix is stopped,
	// so that its new mode is a change of spec alone, whatever a rebind
	// on the same path does.)
	ctl("listeners", "stop", "unix")
	ctl("listeners", "update", "unix", "--unix-mode", "0640", "--limit-idle-timeout", "1m")
	ctl("listeners", "update", "defaults", "--capture-max-frames", "5", "--limit-max-connections", "7")
	if out := ctl("apply", "-f", file); out != "updated unix\nupdated defaults\n" {
		t.Errorf("apply after updates printed %q", out)
	}
	if u := getListener(t, server, "unix"); u.GetUnixMode() != "0660" || u.GetLimits().GetIdleTimeout().AsDuration() != 90*time.Minute {
		t.Errorf("unix after apply: mode %q, limits %v", u.GetUnixMode(), u.GetLimits())
	}
	if d := getListener(t, server, "defaults"); d.GetCapture().GetMaxFrames() != 1000 || d.GetLimits().GetMaxConnections() != 1024 {
		t.Errorf("defaults after apply: capture %v, limits %v", d.GetCapture(), d.GetLimits())
	}
	if out := ctl("apply", "-f", file); out != "unchanged unix\nunchanged defaults\n" {
		t.Errorf("apply after apply printed %q", out)
	}

	// A bad duration names the file, the listener and the field.
	bad := writeFile(t, "bad.yaml", strings.Replace(content, "1h30m", "an hour", 1))
	if _, _, err := sockctl(t, "", "apply", "-f", bad, "--server", server); err == nil ||
		!strings.Contains(err.Error(), bad+`: listeners[0] (unix): limits.idleTimeout: "an hour" is not a duration`) {
		t.Errorf("apply of a bad duration: %v", err)
	}
}

// TestApplyTTL: a file's ttl sets the expiry of the listener apply
// creates; applying the file again, however late, neither extends it nor
// says updated; a ttl added to the file, or shortened, is applied; a
// longer one is not (apply never extends).
func TestApplyTTL(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }
	ctl("listeners", "create", "--id", "old", "--transport", "tcp")
	file := writeFile(t, "ttl.yaml", "- {id: fix, transport: TRANSPORT_TCP, address: 127.0.0.1:0, ttl: 600s}\n- {id: old, ttl: 10m}\n")
	start := time.Now()
	if out := ctl("apply", "-f", file); out != "created fix\nupdated old\n" {
		t.Fatalf("first apply printed %q", out)
	}
	expiry := map[string]time.Time{}
	for _, id := range []string{"fix", "old"} {
		l := getListener(t, server, id)
		e := l.GetExpireTime().AsTime()
		if l.GetExpireTime() == nil || e.Before(start.Add(10*time.Minute-time.Second)) || e.After(time.Now().Add(10*time.Minute)) {
			t.Fatalf("%s: expireTime %v, want 10 minutes from the apply", id, l.GetExpireTime())
		}
		expiry[id] = e
	}
	// Wait until a re-sent ttl would give a later expiry than the first.
	poll.Until(t, "the clock to move a millisecond", func() bool { return time.Since(start) > 2*time.Millisecond })
	for run := range 2 {
		if out := ctl("apply", "-f", file); out != "unchanged fix\nunchanged old\n" {
			t.Errorf("apply %d printed %q", run+2, out)
		}
	}
	for id, e := range expiry {
		if got := getListener(t, server, id).GetExpireTime().AsTime(); !got.Equal(e) {
			t.Errorf("%s: expireTime moved from %v to %v by a re-apply", id, e, got)
		}
	}

	// Shorter: pulled in. Longer: left as it is.
	if err := os.WriteFile(file, []byte("- {id: fix, ttl: 1m}\n- {id: old, ttl: 2h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ctl("apply", "-f", file); out != "updated fix\nunchanged old\n" {
		t.Errorf("apply of a shorter and a longer ttl printed %q", out)
	}
	if e := getListener(t, server, "fix").GetExpireTime().AsTime(); time.Until(e) > time.Minute || time.Until(e) < 50*time.Second {
		t.Errorf("fix: expires in %v, want about a minute", time.Until(e))
	}
	if e := getListener(t, server, "old").GetExpireTime().AsTime(); !e.Equal(expiry["old"]) {
		t.Errorf("old: expireTime moved from %v to %v: apply extended it", expiry["old"], e)
	}
	if out := ctl("apply", "-f", file); out != "unchanged fix\nunchanged old\n" {
		t.Errorf("apply again printed %q", out)
	}
}
