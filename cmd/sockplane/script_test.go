package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/internal/testenv"
)

// The tests in this file drive HANDLER_SCRIPT listeners, through REST,
// with a Python client written the tutorial's way
// (testdata/script/framed_client.py): each rule kind, the default, the
// greeting, the end of a connection after a reply, and the field paths
// of the errors an invalid script gets.

// framedClient is what the tests of this file run with python3.
const framedClient = "the framed Python client (testdata/script/framed_client.py)"

// A step is one step of the Python client's plan (see framed_client.py).
type step map[string]any

func send(body string) step { return step{"op": "send", "body": body} }

// sendHeader sends body with extra fields in its JSON header, written
// as Python's json.dumps writes them (5 stays a number).
func sendHeader(body string, header map[string]any) step {
	return step{"op": "send", "body": body, "header": header}
}

func sendBytes(body []byte) step { return step{"op": "send", "body_b64": body} }

var (
	recv = step{"op": "recv"}
	end  = step{"op": "end"}
)

// readTimeout sets the timeout of the client's next reads.
func readTimeout(d time.Duration) step { return step{"op": "timeout", "seconds": d.Seconds()} }

// seen is what the Python client saw at one recv or end step.
type seen struct {
	Header  map[string]any `json:"header"`
	Body    string         `json:"body"`
	BodyB64 []byte         `json:"body_b64"`
	MS      float64        `json:"ms"` // from the last send to the reply's first byte
	Error   string         `json:"error"`
	End     string         `json:"end"`
}

func (s seen) String() string {
	out, _ := json.Marshal(s)
	return string(out)
}

// runFramedClient runs the Python client on target ("tcp", host, port;
// "udp", host, port; or "unix", path) with the plan steps and returns
// what it saw, one entry per recv and end step.
func runFramedClient(t *testing.T, python string, steps []step, target ...string) []seen {
	t.Helper()
	plan, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	args := append([]string{filepath.Join("testdata", "script", "framed_client.py")}, target...)
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(plan)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 framed_client.py %v: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", target, err, ctx.Err(), stdout.String(), stderr.String())
	}
	var out []seen
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var s seen
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("client output: %v\n%s", err, stdout.String())
		}
		out = append(out, s)
	}
	want := 0
	for _, s := range steps {
		if s["op"] == "recv" || s["op"] == "end" {
			want++
		}
	}
	if len(out) != want {
		t.Fatalf("the client printed %d results for %d recv and end steps: %v\nstderr:\n%s", len(out), want, out, stderr.String())
	}
	return out
}

// tcpTarget is the client's target for a TCP or UDP listener at addr.
func tcpTarget(t *testing.T, network, addr string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return []string{network, host, port}
}

// createdListener creates a listener through REST and returns its id
// and bound address.
func createdListener(t *testing.T, d *daemon, body string) (id, addr string) {
	t.Helper()
	r := rest(t, d, "POST", "/v1/listeners", body)
	id, addr = str(r.body, "id"), str(r.body, "status", "boundAddress")
	if r.status != http.StatusOK || id == "" || addr == "" {
		t.Fatalf("create %s: %d %s", body, r.status, r.raw)
	}
	return id, addr
}

// listenerStatus is GET /v1/listeners/{id}'s status.
func listenerStatus(t *testing.T, d *daemon, id string) map[string]any {
	t.Helper()
	r := wantStatus(t, rest(t, d, "GET", "/v1/listeners/"+id, ""), http.StatusOK)
	st, _ := r.body["status"].(map[string]any)
	if st == nil {
		t.Fatalf("GET %s: no status: %s", id, r.raw)
	}
	return st
}

// jsonOf is v as compact JSON, for comparing counters read back from
// REST (uint64 values are JSON strings there).
func jsonOf(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}

// wantReply checks that s is a reply with body want and no error.
func wantReply(t *testing.T, what string, s seen, want string) {
	t.Helper()
	if s.Error != "" || s.Header == nil || s.Body != want || s.Header["data_size"] != float64(len(want)) {
		t.Errorf("%s: the client saw %v, want the reply %q", what, s, want)
	}
}

// TestScriptRuleKinds: one script listener with a rule of each kind and
// an echo default, against one Python client connection: the greeting
// comes before the client says anything; each request gets the reply of
// the first rule that matches it, or the echo; a header condition
// {"n": "5"} holds for "n": 5 as for "n": "5"; a reply carries its extra
// header fields and waits out its delay; GET counts every rule's hits.
func TestScriptRuleKinds(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t, framedClient)
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"greeting":{"body":"220 ready"},
		"rules":[
			{"match":{"bodyEquals":"exact"},"reply":{"body":"equals"}},
			{"match":{"bodyPrefix":"GET "},"reply":{"body":"prefix"}},
			{"match":{"bodyContains":"needle"},"reply":{"body":"contains"}},
			{"match":{"bodyRegex":"^ping [0-9]+$"},"reply":{"body":"regex","delay":"150ms"}},
			{"match":{"bodyBase64":"AAEC/w=="},"reply":{"bodyBase64":"3q2+7w==","header":{"status":"ok","code":"200"}}},
			{"match":{"header":{"n":"5"}},"reply":{"body":"header"}},
			{"match":{"bodyPrefix":"both","header":{"cmd":"get"}},"reply":{"body":"all fields"}}
		],
		"default":{"echo":true}}}`)
	if st := listenerStatus(t, d, id); jsonOf(st["script"]) != `{"defaultHits":"0","ruleHits":["0","0","0","0","0","0","0"],"unmatched":"0"}` {
		t.Fatalf("a new script listener's counters: %s", jsonOf(st["script"]))
	}

	type exchange struct {
		what  string
		req   step
		reply string
	}
	exchanges := []exchange{
		{"bodyEquals", send("exact"), "equals"},
		{"bodyEquals is the whole body", send("exactly"), "exactly"},
		{"bodyPrefix", send("GET /index"), "prefix"},
		{"the first matching rule wins", send("GET needle"), "prefix"},
		{"bodyContains", send("hay needle stack"), "contains"},
		{"bodyPrefix is at the start", send("no GET here"), "no GET here"},
		{"bodyRegex", send("ping 42"), "regex"},
		{"bodyRegex is anchored by its ^ and $", send("ping 42!"), "ping 42!"},
		{"bodyBase64", sendBytes([]byte{0, 1, 2, 0xff}), "\xde\xad\xbe\xef"},
		{"bodyBase64 is the exact bytes", sendBytes([]byte{0, 1, 2}), "\x00\x01\x02"},
		{`header {"n": "5"} with "n": 5`, sendHeader("x", map[string]any{"n": 5}), "header"},
		{`header {"n": "5"} with "n": "5"`, sendHeader("y", map[string]any{"n": "5"}), "header"},
		{`header {"n": "5"} with "n": 6`, sendHeader("z", map[string]any{"n": 6}), "z"},
		{"a header and a body condition", sendHeader("both ways", map[string]any{"cmd": "get"}), "all fields"},
		{"the body condition alone", send("both ways"), "both ways"},
		{"the header condition alone", sendHeader("neither", map[string]any{"cmd": "get"}), "neither"},
	}
	steps := []step{recv} // the greeting, before any request
	for _, e := range exchanges {
		steps = append(steps, e.req, recv)
	}
	saw := runFramedClient(t, python, steps, tcpTarget(t, "tcp", addr)...)

	wantReply(t, "the greeting, before the first request", saw[0], "220 ready")
	for i, e := range exchanges {
		s := saw[i+1]
		if e.what == "bodyBase64" {
			// Not UTF-8: the body is in body_b64 only.
			if s.Error != "" || !bytes.Equal(s.BodyB64, []byte(e.reply)) {
				t.Errorf("%s: the client saw %v, want the bytes % x", e.what, s, e.reply)
			}
			if want := map[string]any{"data_size": 4.0, "code": "200", "status": "ok"}; !reflect.DeepEqual(s.Header, want) {
				t.Errorf("reply.header: the reply's header is %v, want %v", s.Header, want)
			}
			continue
		}
		wantReply(t, e.what, s, e.reply)
		if e.what == "bodyRegex" {
			if s.MS < 150 || s.MS > 150+1000 {
				t.Errorf("a reply with delay 150ms came %.1fms after the request", s.MS)
			}
		}
	}

	st := listenerStatus(t, d, id)
	if got, want := jsonOf(st["script"]), `{"defaultHits":"7","ruleHits":["1","2","1","1","1","2","1"],"unmatched":"0"}`; got != want {
		t.Errorf("status.script = %s, want %s", got, want)
	}
	stats, _ := st["stats"].(map[string]any)
	if stats["errors"] != "0" || stats["framesIn"] != fmt.Sprint(len(exchanges)) || stats["framesOut"] != fmt.Sprint(len(exchanges)+1) {
		t.Errorf("stats after %d requests and a greeting: %s", len(exchanges), jsonOf(stats))
	}
}

// TestScriptNoMatchIsAnErrorFrame: with no default, a frame no rule
// matches gets an error frame {"error": ..., "data_size": 0}, counted in
// stats.errors and status.script.unmatched, and the connection stays
// open: the next frame that matches gets its reply.
func TestScriptNoMatchIsAnErrorFrame(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t, framedClient)
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"rules":[{"match":{"bodyEquals":"hi"},"reply":{"body":"hello"}}]}}`)
	saw := runFramedClient(t, python, []step{send("what?"), recv, send("hi"), recv, send("again?"), recv, send("hi"), recv},
		tcpTarget(t, "tcp", addr)...)
	for _, i := range []int{0, 2} {
		if msg, _ := saw[i].Header["error"].(string); msg == "" || saw[i].Header["data_size"] != 0.0 || saw[i].Error != "" {
			t.Errorf("an unmatched frame got %v, want an error frame", saw[i])
		}
	}
	wantReply(t, "a matching frame after an error frame", saw[1], "hello")
	wantReply(t, "the same connection, later", saw[3], "hello")
	st := listenerStatus(t, d, id)
	if got, want := jsonOf(st["script"]), `{"defaultHits":"0","ruleHits":["2"],"unmatched":"2"}`; got != want {
		t.Errorf("status.script = %s, want %s", got, want)
	}
	if stats, _ := st["stats"].(map[string]any); stats["errors"] != "2" || stats["connectionsTotal"] != "1" {
		t.Errorf("stats after two unmatched frames on one connection: %s, want 2 errors", jsonOf(stats))
	}
}

// TestScriptThenCloseAndReset: a THEN_CLOSE reply reaches the client,
// then the connection ends with EOF; a THEN_RESET rule (noReply) resets
// it: the client's recv fails with ECONNRESET.
func TestScriptThenCloseAndReset(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t, framedClient)
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"rules":[
			{"match":{"bodyEquals":"bye"},"reply":{"body":"BYE","then":"THEN_CLOSE"}},
			{"match":{"bodyContains":"boom"},"reply":{"then":"THEN_RESET","noReply":true}}
		],"default":{"echo":true}}}`)
	target := tcpTarget(t, "tcp", addr)

	saw := runFramedClient(t, python, []step{send("hello"), recv, send("bye"), recv, end}, target...)
	wantReply(t, "before THEN_CLOSE", saw[0], "hello")
	wantReply(t, "the THEN_CLOSE reply", saw[1], "BYE")
	if saw[2].End != "eof" {
		t.Errorf("after the THEN_CLOSE reply the client saw %v, want EOF", saw[2])
	}

	saw = runFramedClient(t, python, []step{send("hello"), recv, send("kaboom"), end}, target...)
	wantReply(t, "before THEN_RESET", saw[0], "hello")
	if saw[1].End != "reset" {
		t.Errorf("after the THEN_RESET rule the client saw %v, want a connection reset", saw[1])
	}
	if got := jsonOf(listenerStatus(t, d, id)["script"]); got != `{"defaultHits":"2","ruleHits":["1","1"],"unmatched":"0"}` {
		t.Errorf("status.script = %s", got)
	}
	poll.Until(t, "both connections to close", func() bool {
		stats, _ := listenerStatus(t, d, id)["stats"].(map[string]any)
		return stats["connectionsActive"] == "0" && stats["connectionsTotal"] == "2"
	})
}

// TestScriptOnUDP: a script on a UDP listener answers each datagram to
// its sender: rules, the default, and the counters.
func TestScriptOnUDP(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t, framedClient)
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"rules":[
			{"match":{"bodyPrefix":"GET "},"reply":{"body":"OK","header":{"via":"udp"}}},
			{"match":{"header":{"cmd":"quit"}},"reply":{"body":"BYE"}}
		],"default":{"echo":true}}}`)
	saw := runFramedClient(t, python, []step{
		readTimeout(5 * time.Second),
		// A reply may not be larger than its request (limits.allowLargerDatagramReplies).
		send("GET /a/path/long/enough/for/the/reply"), recv,
		sendHeader("", map[string]any{"cmd": "quit"}), recv,
		send("other"), recv,
	}, tcpTarget(t, "udp", addr)...)
	wantReply(t, "bodyPrefix over UDP", saw[0], "OK")
	if saw[0].Header["via"] != "udp" {
		t.Errorf("reply.header over UDP: %v", saw[0].Header)
	}
	wantReply(t, "a header rule over UDP", saw[1], "BYE")
	wantReply(t, "the default over UDP", saw[2], "other")
	if got := jsonOf(listenerStatus(t, d, id)["script"]); got != `{"defaultHits":"1","ruleHits":["1","1"],"unmatched":"0"}` {
		t.Errorf("status.script = %s", got)
	}
}

// TestScriptOnUnixStream: a script on a Unix stream socket greets, answers
// and closes after a THEN_CLOSE reply, as on TCP.
func TestScriptOnUnixStream(t *testing.T) {
	t.Parallel()
	python := testenv.Python(t, framedClient)
	d := startDaemon(t)
	path := filepath.Join(t.TempDir(), "script.sock")
	id, _ := createdListener(t, d, fmt.Sprintf(`{"transport":"TRANSPORT_UNIX","address":%q,"handler":"HANDLER_SCRIPT",
		"script":{"greeting":{"body":"+OK ready"},"rules":[
			{"match":{"bodyRegex":"^(?i)quit$"},"reply":{"body":"+OK bye","then":"THEN_CLOSE"}},
			{"match":{"bodyPrefix":"STAT"},"reply":{"body":"+OK 2 320"}}
		]}}`, path))
	saw := runFramedClient(t, python, []step{recv, send("STAT"), recv, send("Quit"), recv, end}, "unix", path)
	wantReply(t, "the greeting on a Unix socket", saw[0], "+OK ready")
	wantReply(t, "a rule on a Unix socket", saw[1], "+OK 2 320")
	wantReply(t, "THEN_CLOSE on a Unix socket", saw[2], "+OK bye")
	if saw[3].End != "eof" {
		t.Errorf("after THEN_CLOSE on a Unix socket the client saw %v, want EOF", saw[3])
	}
	if got := jsonOf(listenerStatus(t, d, id)["script"]); got != `{"defaultHits":"0","ruleHits":["1","1"],"unmatched":"0"}` {
		t.Errorf("status.script = %s", got)
	}
}

// TestScriptChangesLive: a PATCH of the script changes what the same open
// connection gets at its next frame, and resets nothing else.
func TestScriptChangesLive(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"rules":[{"match":{"bodyEquals":"version"},"reply":{"body":"v1"}}]}}`)
	c := dialFramed(t, addr)
	if f := c.roundTrip("version"); string(f.Body) != "v1" {
		t.Fatalf("before the PATCH: %q", f.Body)
	}
	wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/"+id+"?updateMask=script",
		`{"script":{"rules":[{"match":{"bodyEquals":"version"},"reply":{"body":"v2"}}]}}`), http.StatusOK)
	if f := c.roundTrip("version"); string(f.Body) != "v2" {
		t.Fatalf("the same connection after the PATCH: %q, want v2", f.Body)
	}
	if stats, _ := listenerStatus(t, d, id)["stats"].(map[string]any); stats["connectionsTotal"] != "1" || stats["connectionsActive"] != "1" {
		t.Fatalf("the PATCH reconnected the client: %s", jsonOf(stats))
	}
}

// wantFieldViolation checks that r is a 400 whose message and
// details[0].fieldViolations[0].field name field.
func wantFieldViolation(t *testing.T, what string, r restResult, field string) {
	t.Helper()
	var reply struct {
		Message string `json:"message"`
		Details []struct {
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	}
	_ = json.Unmarshal([]byte(r.raw), &reply)
	if r.status != http.StatusBadRequest || len(reply.Details) == 0 || len(reply.Details[0].FieldViolations) == 0 ||
		reply.Details[0].FieldViolations[0].Field != field || !strings.Contains(reply.Message, field) {
		t.Errorf("%s: %d %s, want 400 naming %s in details[0].fieldViolations[0].field", what, r.status, r.raw, field)
	}
}

// TestScriptInvalidSpecs: a script that cannot work is refused with 400
// and a BadRequest detail naming the field's path from the request's top.
func TestScriptInvalidSpecs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	script := func(transport, extra, script string) string {
		return fmt.Sprintf(`{"transport":%q,"address":"127.0.0.1:0","handler":"HANDLER_SCRIPT"%s,"script":%s}`, transport, extra, script)
	}
	tests := []struct {
		name, body, field string
	}{
		{"invalid regex", script("TRANSPORT_TCP", "", `{"rules":[
			{"match":{"bodyPrefix":"a"},"reply":{"body":"1"}},
			{"match":{"bodyPrefix":"b"},"reply":{"body":"2"}},
			{"match":{"bodyRegex":"ping ([0-9]+"},"reply":{"body":"3"}}]}`),
			"listener.script.rules[2].match.bodyRegex"},
		{"bad base64 in a match", script("TRANSPORT_TCP", "", `{"rules":[{"match":{"bodyBase64":"not base64!"},"reply":{"body":"x"}}]}`),
			"listener.script.rules[0].match.bodyBase64"},
		{"bad base64 in a reply", script("TRANSPORT_TCP", "", `{"rules":[{"reply":{"bodyBase64":"%%%"}}]}`),
			"listener.script.rules[0].reply.bodyBase64"},
		{"greeting on UDP", script("TRANSPORT_UDP", "", `{"greeting":{"body":"hi"}}`),
			"listener.script.greeting"},
		{"reply.header on FRAMING_LENGTH_PREFIXED", script("TRANSPORT_TCP", `,"framing":{"response":"FRAMING_LENGTH_PREFIXED"}`,
			`{"rules":[{"reply":{"body":"x"}},{"reply":{"body":"y","header":{"status":"ok"}}}]}`),
			"listener.script.rules[1].reply.header"},
		{"THEN_CLOSE on UDP", script("TRANSPORT_UDP", "", `{"default":{"body":"x","then":"THEN_CLOSE"}}`),
			"listener.script.default.then"},
		{"a script on another handler", `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_ECHO","script":{"default":{"echo":true}}}`,
			"listener.script"},
	}
	for _, tt := range tests {
		wantFieldViolation(t, tt.name, rest(t, d, "POST", "/v1/listeners", tt.body), tt.field)
	}
	if list := wantStatus(t, rest(t, d, "GET", "/v1/listeners", ""), http.StatusOK); len(list.body["listeners"].([]any)) != 0 {
		t.Errorf("a refused create left a listener: %s", list.raw)
	}

	// A PATCH with a bad script is refused the same way, and changes nothing.
	id, _ := createdListener(t, d, script("TRANSPORT_TCP", "", `{"default":{"echo":true}}`))
	wantFieldViolation(t, "PATCH with a bad regex", rest(t, d, "PATCH", "/v1/listeners/"+id+"?updateMask=script",
		`{"script":{"rules":[{"match":{"bodyRegex":"*"},"reply":{"body":"x"}}]}}`), "listener.script.rules[0].match.bodyRegex")
	if got := wantStatus(t, rest(t, d, "GET", "/v1/listeners/"+id, ""), http.StatusOK); !strings.Contains(got.raw, `"default":{`) || strings.Contains(got.raw, `"bodyRegex":"*"`) {
		t.Errorf("after a refused PATCH: %s", got.raw)
	}
}
