package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
)

// framedConn is one open client connection to a JSON-header listener.
type framedConn struct {
	t     *testing.T
	conn  net.Conn
	br    *bufio.Reader
	codec wire.Codec
}

func dialFramed(t *testing.T, addr string) *framedConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return &framedConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *framedConn) roundTrip(body string) wire.Frame {
	c.t.Helper()
	frame, err := c.codec.AppendFrame(nil, []byte(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	f, err := c.codec.ReadFrame(c.br)
	if err != nil {
		c.t.Fatalf("reply to %q: %v", body, err)
	}
	return f
}

func wantStatus(t *testing.T, r restResult, status int) restResult {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// TestPatchChangesALiveListener: PATCH turns an echo listener into upper,
// changes its limits and turns capture on, while one client stays
// connected: the same connection's next frames see each change. A stale
// etag is 409.
func TestPatchChangesALiveListener(t *testing.T) {
	d := startDaemon(t)
	created := wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"live","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`), 200)
	etag := str(created.body, "etag")
	c := dialFramed(t, str(created.body, "status", "boundAddress"))
	if f := c.roundTrip("hello"); string(f.Body) != "hello" {
		t.Fatalf("echo: %q", f.Body)
	}

	patched := wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/live", `{"handler":"HANDLER_UPPER","etag":"`+etag+`"}`), 200)
	if str(patched.body, "handler") != "HANDLER_UPPER" || str(patched.body, "etag") == etag {
		t.Fatalf("patched: %s", patched.raw)
	}
	if f := c.roundTrip("hello"); string(f.Body) != "HELLO" {
		t.Fatalf("the same connection after PATCH: %q, want HELLO", f.Body)
	}
	if r := rest(t, d, "PATCH", "/v1/listeners/live", `{"handler":"HANDLER_ECHO","etag":"`+etag+`"}`); r.status != 409 {
		t.Fatalf("PATCH with a stale etag: %d %s, want 409", r.status, r.raw)
	}

	wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/live?updateMask=limits.maxBodyBytes,capture",
		`{"limits":{"maxBodyBytes":8},"capture":{"maxFrames":10}}`), 200)
	if f := c.roundTrip("small"); string(f.Body) != "SMALL" {
		t.Fatalf("after the limits change: %q", f.Body)
	}
	frames := wantStatus(t, rest(t, d, "GET", "/v1/listeners/live/frames", ""), 200)
	if list, _ := frames.body["frames"].([]any); len(list) != 2 {
		t.Fatalf("capture turned on live recorded %d frames, want the request and the reply: %s", len(list), frames.raw)
	}
	if f := c.roundTrip("far too large"); !strings.Contains(string(f.Header), "exceeds the limit of 8") {
		t.Fatalf("the new limit on the open connection: %s", f.Header)
	}
	got := wantStatus(t, rest(t, d, "GET", "/v1/listeners/live", ""), 200)
	if str(got.body, "status", "state") != "STATE_RUNNING" {
		t.Fatalf("after the updates: %s", got.raw)
	}
	if st, _ := got.body["status"].(map[string]any); st["generation"] != st["observedGeneration"] || st["generation"] == "1" {
		t.Fatalf("generations: %s", got.raw)
	}

	for _, bad := range []struct{ path, body string }{
		{"/v1/listeners/live?updateMask=status", `{}`},
		{"/v1/listeners/live?updateMask=nosuch", `{}`},
		{"/v1/listeners/live", `{}`},
	} {
		if r := rest(t, d, "PATCH", bad.path, bad.body); r.status != 400 || !strings.Contains(str(r.body, "message"), "updateMask") {
			t.Errorf("PATCH %s %s: %d %s, want 400 naming updateMask", bad.path, bad.body, r.status, r.raw)
		}
	}
}

// TestLabelsPagesAndBatchDelete: label filters select, every page of a
// paged list together holds each listener exactly once, and a batch
// delete by selector leaves the others running.
func TestLabelsPagesAndBatchDelete(t *testing.T) {
	d := startDaemon(t)
	const n = 23
	for i := range n {
		env := []string{"ci", "dev"}[i%2]
		body := fmt.Sprintf(`{"id":"l-%02d","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","labels":{"env":"%s","n":"%d"}}`, i, env, i)
		wantStatus(t, rest(t, d, "POST", "/v1/listeners", body), 200)
	}
	seen := map[string]int{}
	token, pages := "", 0
	for {
		r := wantStatus(t, rest(t, d, "GET", "/v1/listeners?pageSize=5&pageToken="+url.QueryEscape(token), ""), 200)
		list, _ := r.body["listeners"].([]any)
		for _, l := range list {
			seen[str(l.(map[string]any), "id")]++
		}
		pages++
		if token = str(r.body, "nextPageToken"); token == "" {
			break
		}
	}
	if len(seen) != n || pages != 5 {
		t.Fatalf("%d listeners over %d pages, want %d over 5", len(seen), pages, n)
	}
	for id, times := range seen {
		if times != 1 {
			t.Fatalf("%s listed %d times", id, times)
		}
	}
	ci := wantStatus(t, rest(t, d, "GET", "/v1/listeners?filter="+url.QueryEscape("env=ci,n notin (0,2)"), ""), 200)
	if list, _ := ci.body["listeners"].([]any); len(list) != 10 {
		t.Fatalf("filter env=ci,n notin (0,2): %d listeners, want 10", len(list))
	}
	if r := rest(t, d, "GET", "/v1/listeners?filter="+url.QueryEscape("env in ci"), ""); r.status != 400 || !strings.Contains(str(r.body, "message"), "filter") {
		t.Fatalf("a bad filter: %d %s", r.status, r.raw)
	}
	if r := rest(t, d, "POST", "/v1/listeners:batchDelete", `{}`); r.status != 400 {
		t.Fatalf("batch delete of nothing named: %d %s, want 400", r.status, r.raw)
	}
	del := wantStatus(t, rest(t, d, "POST", "/v1/listeners:batchDelete", `{"filter":"env=ci","mode":"STOP_MODE_IMMEDIATE"}`), 200)
	ids, _ := del.body["deletedIds"].([]any)
	if len(ids) != 12 {
		t.Fatalf("deleted %d, want the 12 of env=ci: %s", len(ids), del.raw)
	}
	rest := wantStatus(t, rest(t, d, "GET", "/v1/listeners", ""), 200)
	left, _ := rest.body["listeners"].([]any)
	var names []string
	for _, l := range left {
		m := l.(map[string]any)
		if str(m, "labels", "env") != "dev" || str(m, "status", "state") != "STATE_RUNNING" {
			t.Fatalf("left after the batch delete: %v", m)
		}
		names = append(names, str(m, "id"))
	}
	sort.Strings(names)
	if len(names) != 11 {
		t.Fatalf("%d left, want the 11 of env=dev", len(names))
	}
}

// TestRetriedCreateMakesOneListener: the same requestId twice makes one
// listener; with another body it is 409.
func TestRetriedCreateMakesOneListener(t *testing.T) {
	d := startDaemon(t)
	body := `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","labels":{"run":"r1"}}`
	first := wantStatus(t, rest(t, d, "POST", "/v1/listeners?requestId=abc-123", body), 200)
	again := wantStatus(t, rest(t, d, "POST", "/v1/listeners?requestId=abc-123", body), 200)
	if str(first.body, "id") == "" || str(first.body, "id") != str(again.body, "id") {
		t.Fatalf("a retry made another listener: %s then %s", str(first.body, "id"), str(again.body, "id"))
	}
	if list := wantStatus(t, rest(t, d, "GET", "/v1/listeners", ""), 200); len(list.body["listeners"].([]any)) != 1 {
		t.Fatalf("listeners after a retry: %s", list.raw)
	}
	other := `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0"}`
	if r := rest(t, d, "POST", "/v1/listeners?requestId=abc-123", other); r.status != 409 {
		t.Fatalf("the request id with another body: %d %s, want 409", r.status, r.raw)
	}
}

// TestTTLDeletesAndSurvivesRestarts: a listener with ttl 2s is gone
// within 3s; one whose expiry passed while the daemon was down is gone
// after the restart.
func TestTTLDeletesAndSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	d, stop, _ := runDaemon(t, dir)
	created := wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"brief","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","ttl":"2s"}`), 200)
	if str(created.body, "expireTime") == "" {
		t.Fatalf("no expireTime shown: %s", created.raw)
	}
	start := time.Now()
	poll.Until(t, "the 2s listener to expire", func() bool { return rest(t, d, "GET", "/v1/listeners/brief", "").status == 404 })
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a 2s ttl took %v to expire", took)
	}
	downCreated := wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"while-down","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","ttl":"1s"}`), 200)
	wantStatus(t, rest(t, d, "POST", "/v1/listeners", `{"id":"stays","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","ttl":"3600s"}`), 200)
	stop()
	expiry, err := time.Parse(time.RFC3339Nano, str(downCreated.body, "expireTime"))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing runs to wait for: the daemon is down while the clock passes
	// the listener's expiry, which is what this test is about.
	time.Sleep(time.Until(expiry))

	d, _, _ = runDaemon(t, dir)
	if r := rest(t, d, "GET", "/v1/listeners/while-down", ""); r.status != 404 {
		t.Fatalf("expired while down: %d %s", r.status, r.raw)
	}
	if r := rest(t, d, "GET", "/v1/listeners/stays", ""); r.status != 200 || str(r.body, "status", "state") != "STATE_RUNNING" {
		t.Fatalf("not yet expired: %d %s", r.status, r.raw)
	}
}
