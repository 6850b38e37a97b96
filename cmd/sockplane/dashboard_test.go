package main

// Tests of the web dashboard (package ui, served by api/ui.go) in a real
// browser: headless Chromium driven over the DevTools protocol (chromedp)
// against the real daemon, in-process (startDaemon). Each test makes
// its own browser and is bounded by dashTimeout.
//
// Screenshots of every step go to $SOCKPLANE_SCREENSHOTS (default: a
// temporary directory, logged). With SOCKPLANE_UPDATE_DOCS=1 the steps
// that docs/ shows are written there too (docs/dashboard-*.png):
//
//	SOCKPLANE_UPDATE_DOCS=1 go test -run Dashboard ./cmd/sockplane/
//
// The browser is the first of chromium, chromium-browser, google-chrome
// and google-chrome-stable on PATH. Without one a test skips, unless CI
// is set: CI installs Chromium (.ci/run), so there a missing browser
// fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplane/sockplane/ui"
	"github.com/sockplane/sockplane/wire"
)

// dashTimeout bounds one browser test, browser start included.
const dashTimeout = 60 * time.Second

// dashWait bounds one wait for the page.
const dashWait = 15 * time.Second

// hostile is what a peer sends to see whether the page runs it.
const hostile = `<img src=x onerror=window.__pwned=1>`

// dashBrowser finds the browser, or skips (fails under CI).
func dashBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no browser for the dashboard tests: none of chromium, chromium-browser, google-chrome on PATH (Debian: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, and .ci/run installs it, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

// dashShotDir is where the screenshots go.
func dashShotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SOCKPLANE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one test's headless browser on one daemon.
type browser struct {
	t     *testing.T
	ctx   context.Context
	d     *daemon
	base  string
	shots string
	step  int

	mu      sync.Mutex
	console []string // every console message, for the log
	bad     []string // exceptions and Content-Security-Policy refusals
}

// newBrowser starts a browser (1280x800) for the test; it is closed, and
// its console checked, when the test ends.
func newBrowser(t *testing.T, d *daemon) *browser {
	t.Helper()
	exe := dashBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), dashTimeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox does not start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("lang", "en-US"),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx, d: d, base: "http://" + d.httpAddr(), shots: dashShotDir(t)}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		bcancel()
		acancel()
		cancel()
		t.Fatalf("starting %s: %v", exe, err)
	}
	messages := chromedp.Console(bctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range messages {
			if err != nil {
				return
			}
			line := fmt.Sprintf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			b.mu.Lock()
			b.console = append(b.console, line)
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
				b.bad = append(b.bad, line)
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx)
		bcancel()
		acancel()
		cancel()
		<-watched
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, line := range b.bad {
			t.Errorf("the page: %s", line)
		}
		if t.Failed() {
			for _, line := range b.console {
				t.Log(line)
			}
		}
	})
	t.Logf("screenshots in %s", b.shots)
	return b
}

// do runs actions, failing the test with what was being done.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail saves a screenshot of the page as it is and stops the test.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.shot("failed")
	b.t.Fatalf("%s: %v", what, err)
}

// waitFor waits until the JavaScript expression is truthy.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[any](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(dashWait)))
	if err != nil {
		b.fail("waiting for "+what+" ("+expr+")", err)
	}
}

// eval evaluates an expression and decodes its value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluating "+expr, err)
	}
	return v
}

// text is the textContent of the first element sel matches ("" when none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// js quotes s as a JavaScript string.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// setSelect chooses a value of a <select> as a user does, change event
// included.
func (b *browser) setSelect(sel, value string) {
	b.t.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el || !Array.from(el.options).some((o) => o.value === %s)) return false;
		el.value = %s;
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, js(sel), js(value), js(value)))
	if !ok {
		b.fail("choosing "+value+" in "+sel, errors.New("no such select or option"))
	}
}

// typeInto replaces an input's text by typing.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do("typing into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	b.clear(sel)
	if text != "" {
		b.do("typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
	}
}

// clear empties an input as a user does, input event included.
func (b *browser) clear(sel string) {
	b.t.Helper()
	eval[bool](b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		el.value = '';
		el.dispatchEvent(new Event('input', {bubbles: true}));
		return true;
	})()`, js(sel)))
}

// click clicks the first element sel matches, once it is visible.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("clicking "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// scrollTop scrolls the page to its top, for a screenshot.
func (b *browser) scrollTop() {
	b.t.Helper()
	b.do("scrolling to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
}

// docShots are the steps docs/ shows, by screenshot name.
var docShots = map[string]string{
	"listeners":    "dashboard-listeners.png",
	"listener":     "dashboard-listener.png",
	"create-error": "dashboard-create.png",
	"token-prompt": "dashboard-token.png",
	"phone":        "dashboard-phone.png",
}

// shot saves a screenshot of the viewport as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	// A toast would hide a part of the page.
	_ = chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('toast')?.remove()`))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.step++
	file := filepath.Join(b.shots, fmt.Sprintf("%s-%02d-%s.png", b.t.Name(), b.step, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("screenshot: %v", err)
	}
	if doc, ok := docShots[name]; ok && os.Getenv("SOCKPLANE_UPDATE_DOCS") != "" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", doc), png, 0o644); err != nil {
			b.t.Errorf("docs screenshot: %v", err)
		}
	}
}

// open loads a page of the dashboard and waits for the app to run.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("opening "+path, chromedp.Navigate(b.base+path))
	b.waitFor("the app", `document.querySelector('#app > *') !== null`)
}

// state is the state badge of the listener page.
func (b *browser) waitState(state string) {
	b.t.Helper()
	b.waitFor("state "+state, fmt.Sprintf(`(document.querySelector('#listener-state .badge') || {}).textContent === %s`, js(state)))
}

// confirmDialog answers the stop/delete dialog.
func (b *browser) confirmDialog(mode, drain string) {
	b.t.Helper()
	b.waitFor("the stop dialog", `document.querySelector('#stop-dialog[open]') !== null`)
	if mode == "immediate" {
		b.click(`#stop-dialog input[value="STOP_MODE_IMMEDIATE"]`)
	}
	if drain != "" {
		b.typeInto(`#stop-dialog input[name="drainTimeout"]`, drain)
	}
	b.click(`#stop-dialog button[data-action="confirm"]`)
	b.waitFor("the dialog to close", `document.querySelector('#stop-dialog') === null`)
}

// frame is one framed message: a 4-byte little-endian header length, the
// JSON header with data_size (and extra fields), the body.
func frame(body string, extra map[string]any) []byte {
	header := map[string]any{"data_size": len(body)}
	for k, v := range extra {
		header[k] = v
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // markup goes on the wire as itself
	_ = enc.Encode(header)
	h := strings.TrimSuffix(buf.String(), "\n")
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(h)))
	out = append(out, h...)
	return append(out, body...)
}

// getListener reads a listener through the API, with its JSON compacted:
// protojson puts spaces at random, so that no one relies on its layout.
func getListener(t *testing.T, d *daemon, id string) restResult {
	t.Helper()
	r := rest(t, d, "GET", "/v1/listeners/"+id, "")
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(r.raw)); err != nil {
		t.Fatal(err)
	}
	r.raw = buf.String()
	return r
}

// createREST creates a listener through the API and returns its bound
// address.
func createREST(t *testing.T, d *daemon, body string) string {
	t.Helper()
	r := rest(t, d, "POST", "/v1/listeners", body)
	if r.status != http.StatusOK {
		t.Fatalf("create %s: %d %s", body, r.status, r.raw)
	}
	return str(r.body, "status", "boundAddress")
}

// TestDashboardListenerLifecycle: a listener created through the form
// serves a raw client; the page shows the connection, the counters and
// the captured frame, sends the client a frame, closes its connection
// (the client reads EOF), stops, starts and deletes it.
func TestDashboardListenerLifecycle(t *testing.T) {
	d := startDaemon(t)
	// A few listeners besides, so the table shows some variety.
	echoAddr := createREST(t, d, `{"id":"echo","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","labels":{"env":"dev","team":"core"}}`)
	createREST(t, d, `{"id":"chat","transport":"TRANSPORT_UDP","address":"127.0.0.1:0","handler":"HANDLER_RECORD","labels":{"env":"dev"}}`)
	createREST(t, d, `{"id":"banner","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"greeting":{"body":"220 ready"},"rules":[{"match":{"bodyPrefix":"PING"},"reply":{"body":"PONG"}}],"default":{"echo":true}},
		"faults":[{"latency":{"delay":"5ms"}}],"tls":{"selfSigned":true},"labels":{"env":"staging"}}`)
	b := newBrowser(t, d)

	// Some traffic on "echo" while the test runs, so that rates move.
	trafficCtx, stopTraffic := context.WithCancel(b.ctx)
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		conn, err := net.DialTimeout("tcp", echoAddr, testTimeout)
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		var codec wire.Codec
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-trafficCtx.Done():
				return
			case <-tick.C:
			}
			_ = conn.SetDeadline(time.Now().Add(testTimeout))
			if _, err := conn.Write(frame(`{"ping": "the echo listener is busy"}`, nil)); err != nil {
				return
			}
			if _, err := codec.ReadFrame(r); err != nil {
				return
			}
		}
	}()
	defer func() {
		stopTraffic()
		<-trafficDone
	}()

	// GET / redirects to the dashboard.
	b.open("/")
	if loc := eval[string](b, `location.pathname`); loc != "/ui/" {
		t.Fatalf("GET / went to %s, want /ui/", loc)
	}
	b.waitFor("the table", `document.querySelector('#listeners-table tr[data-id="banner"]') !== null`)
	b.waitFor("live events", `document.querySelector('#stream-status.live') !== null`)

	// Create through the form: a record listener (captures every frame).
	b.click("#new-listener")
	b.waitFor("the create form", `document.querySelector('#create-form') !== null`)
	b.typeInto(`#create-form input[name="listener.id"]`, "web-1")
	b.setSelect(`#create-form select[name="listener.transport"]`, "TRANSPORT_TCP")
	b.typeInto(`#create-form input[name="listener.address"]`, "127.0.0.1:0")
	b.setSelect(`#create-form select[name="listener.handler"]`, "HANDLER_RECORD")
	b.typeInto(`#create-form textarea[name="listener.labels"]`, "env=ci\ntier=web")
	b.typeInto(`#create-form input[name="listener.limits.maxBodyBytes"]`, "65536")
	b.shot("create-form")
	b.click("#create-submit")
	b.waitFor("the listener page", `location.pathname === '/ui/listeners/web-1'`)
	b.waitState("running")
	got := getListener(t, d, "web-1")
	addr := str(got.body, "status", "boundAddress")
	if got.status != http.StatusOK || str(got.body, "handler") != "HANDLER_RECORD" || addr == "" ||
		!strings.Contains(got.raw, `"tier":"web"`) || !strings.Contains(got.raw, `"maxBodyBytes":65536`) {
		t.Fatalf("the listener the form created: %d %s", got.status, got.raw)
	}
	b.waitFor("the bound address", fmt.Sprintf(`document.querySelector('#listener-bound').textContent === %s`, js(addr)))

	// A raw client connects and sends one framed message.
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(dashTimeout))
	const hello = "hello from a raw client"
	if _, err := conn.Write(frame(hello, nil)); err != nil {
		t.Fatal(err)
	}
	peer := conn.LocalAddr().String()
	b.waitFor("the connection", fmt.Sprintf(`(document.querySelector('#connections-table tr[data-connection] td.peer') || {}).textContent === %s`, js(peer)))
	b.waitFor("the counters", `document.querySelector('#status-list dd[data-key="frames"]').textContent === '1 in, 0 out'`)
	wantBytes := fmt.Sprintf("%d B in, 0 B out", len(frame(hello, nil)))
	b.waitFor("the byte counters", fmt.Sprintf(`document.querySelector('#status-list dd[data-key="bytes"]').textContent === %s`, js(wantBytes)))
	b.waitFor("the captured frame", fmt.Sprintf(`(document.querySelector('#frames-list .frame.dir-in .frame-text') || {}).textContent === %s`, js(hello)))
	if hex := b.text("#frames-list .frame .frame-hex"); !strings.Contains(hex, "68 65 6c 6c 6f 20 66 72") || !strings.Contains(hex, "|hello from a raw|") {
		t.Errorf("the frame's hex dump: %q", hex)
	}
	if header := b.text("#frames-list .frame .frame-header-text"); header != fmt.Sprintf(`{"data_size":%d}`, len(hello)) {
		t.Errorf("the frame's header: %q", header)
	}
	b.waitFor("the rate chart", `document.querySelector('.rate-chart .line-in').getAttribute('points').split(' ').length >= 2`)
	b.scrollTop()
	b.shot("listener")

	// Send the client a frame from the page.
	b.waitFor("the connection in the send form", `document.querySelector('#send-connection').value === '1'`)
	b.typeInto("#send-body", "hi from the page")
	b.click("#send-submit")
	b.waitFor("the send result", `document.querySelector('#send-result').textContent.startsWith('Sent ')`)
	var codec wire.Codec
	r := bufio.NewReader(conn)
	f, err := codec.ReadFrame(r)
	if err != nil || string(f.Body) != "hi from the page" {
		t.Fatalf("the client read %q, %v; want the frame the page sent", f.Body, err)
	}
	b.waitFor("the sent frame captured", `(document.querySelector('#frames-list .frame.dir-out .frame-text') || {}).textContent === 'hi from the page'`)

	// Close the connection from the page: the client reads EOF.
	b.click(`#connections-table tr[data-connection="1"] .close-connection`)
	if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close on the page the client read %d bytes, %v; want EOF", n, err)
	}
	b.waitFor("no connections", `!document.querySelector('#connections-empty').hidden`)
	b.waitFor("the close in the events", `Array.from(document.querySelectorAll('#listener-events .ev-type')).some((e) => e.textContent === 'connection closed')`)
	b.shot("closed")

	// Stop (graceful, with a drain bound), then start again.
	b.click("#toggle-run")
	b.confirmDialog("graceful", "2s")
	b.waitState("stopped")
	if st := str(getListener(t, d, "web-1").body, "status", "state"); st != "STATE_STOPPED" {
		t.Fatalf("after Stop on the page: %s", st)
	}
	if c, err := net.DialTimeout("tcp", addr, testTimeout); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a stopped listener's port: %v, want connection refused", err)
	}
	b.shot("stopped")
	b.click("#toggle-run")
	b.waitState("running")
	b.shot("started")
	if st := str(getListener(t, d, "web-1").body, "status", "state"); st != "STATE_RUNNING" {
		t.Fatalf("after Start on the page: %s", st)
	}

	// The table: every column, and the rates of the busy listener.
	b.click(`nav.crumbs a`)
	b.waitFor("the table", `document.querySelector('#listeners-table tr[data-id="web-1"]') !== null`)
	row := func(id, col string) string {
		return b.text(fmt.Sprintf(`#listeners-table tr[data-id=%q] td.col-%s`, id, col))
	}
	b.waitFor("a rate", `/[1-9]/.test(document.querySelector('#listeners-table tr[data-id="echo"] td.col-fps').textContent)`)
	for col, want := range map[string]string{"transport": "tcp", "handler": "record", "state": "running", "bound": addr, "labels": "env=citier=web", "conns": "0", "errors": "0"} {
		if got := row("web-1", col); got != want {
			t.Errorf("row web-1, column %s: %q, want %q", col, got, want)
		}
	}
	if got := row("echo", "bps"); !strings.HasSuffix(got, "/s") {
		t.Errorf("bytes/s of echo: %q", got)
	}
	b.scrollTop()
	b.shot("listeners")

	// Delete from the table, at once.
	b.click(`#listeners-table tr[data-id="web-1"] button.delete`)
	b.confirmDialog("immediate", "")
	b.waitFor("the row gone", `document.querySelector('#listeners-table tr[data-id="web-1"]') === null`)
	b.shot("deleted")
	if got := getListener(t, d, "web-1"); got.status != http.StatusNotFound {
		t.Fatalf("after Delete on the page: %d %s", got.status, got.raw)
	}
}

// TestDashboardFormErrors: the API's errors show next to the field they
// name, in the create form and in the edit form; an edit in place
// changes only what the form changed (PATCH with updateMask).
func TestDashboardFormErrors(t *testing.T) {
	d := startDaemon(t)
	b := newBrowser(t, d)
	b.open("/ui/")
	b.click("#new-listener")
	b.waitFor("the create form", `document.querySelector('#create-form') !== null`)
	form := "#create-form "
	fieldError := func(path string) string {
		return b.text(fmt.Sprintf(`%s.field[data-field=%q] > .field-error`, form, path))
	}
	waitFieldError := func(path, want string) {
		t.Helper()
		b.waitFor("the error of "+path, fmt.Sprintf(`((document.querySelector(%s) || {}).textContent || '').includes(%s)`,
			js(fmt.Sprintf(`%s.field[data-field=%q] > .field-error`, form, path)), js(want)))
	}
	b.typeInto(form+`input[name="listener.id"]`, "strict")
	b.typeInto(form+`input[name="listener.address"]`, "127.0.0.1:0")

	// Too large a body bound: the API's field violation, next to the field.
	b.typeInto(form+`input[name="listener.limits.maxBodyBytes"]`, "999999999")
	b.click("#create-submit")
	waitFieldError("listener.limits.maxBodyBytes", "999999999 is not from 1 to 67108864")
	if got := eval[bool](b, `document.querySelector('#create-form input[name="listener.limits.maxBodyBytes"]').getAttribute('aria-invalid') === 'true'`); !got {
		t.Error("the field with the error is not marked aria-invalid")
	}
	if got := b.text(form + `.form-error[data-for="form"]`); !strings.Contains(got, "The API refused: invalid listener.limits.maxBodyBytes") {
		t.Errorf("the form's error: %q", got)
	}
	b.scrollTop()
	b.shot("create-error")

	// A client-side check: not a duration, refused before any call.
	b.typeInto(form+`input[name="listener.limits.maxBodyBytes"]`, "65536")
	b.typeInto(form+`input[name="listener.limits.headerTimeout"]`, "soon")
	b.click("#create-submit")
	waitFieldError("listener.limits.headerTimeout", `"soon" is not a duration`)
	if got := fieldError("listener.limits.maxBodyBytes"); got != "" {
		t.Errorf("an error left from the last try: %q", got)
	}
	b.typeInto(form+`input[name="listener.limits.headerTimeout"]`, "2s")

	// A script rule with a bad regexp: listener.script.rules[1].match.bodyRegex
	// shows at the script's field, with its whole path.
	b.setSelect(form+`select[name="listener.handler"]`, "HANDLER_SCRIPT")
	b.do("filling the script", chromedp.SetValue(chromedp.CSS(form+`textarea[name="listener.script"]`),
		`{"rules": [{"match": {"bodyPrefix": "a"}, "reply": {"body": "A"}}, {"match": {"bodyRegex": "("}, "reply": {"body": "B"}}]}`))
	b.click("#create-submit")
	waitFieldError("listener.script", "listener.script.rules[1].match.bodyRegex: error parsing regexp")
	b.do("scrolling", chromedp.ScrollIntoView(chromedp.CSS(form+`.field[data-field="listener.script"]`)))
	b.shot("script-error")
	b.do("fixing the script", chromedp.SetValue(chromedp.CSS(form+`textarea[name="listener.script"]`),
		`{"rules": [{"match": {"bodyPrefix": "a"}, "reply": {"body": "A"}}, {"match": {"bodyRegex": "^b+$"}, "reply": {"body": "B"}}]}`))

	// Faults: rows are added and removed; an error names its row's field.
	b.setSelect(form+`select.fault-kind`, "latency")
	b.click(form + `button.add-fault`)
	b.setSelect(form+`select.fault-kind`, "drop")
	b.click(form + `button.add-fault`)
	b.setSelect(form+`select.fault-kind`, "bandwidth")
	b.click(form + `button.add-fault`)
	b.typeInto(form+`input[name="listener.faults[0].latency.delay"]`, "10ms")
	b.click(form + `.fault-row[data-kind="drop"] button.remove-fault`)
	b.waitFor("the drop row removed, the rows renumbered", `document.querySelector('#create-form .fault-row[data-field="listener.faults[1]"]').dataset.kind === 'bandwidth'`)
	b.click("#create-submit")
	waitFieldError("listener.faults[1].bandwidth.bytesPerSecond", "at least 1")
	b.do("scrolling", chromedp.ScrollIntoView(chromedp.CSS(form+`.fault-row[data-field="listener.faults[1]"]`)))
	b.shot("fault-error")
	b.typeInto(form+`input[name="listener.faults[1].bandwidth.bytesPerSecond"]`, "100000")
	b.typeInto(form+`textarea[name="listener.labels"]`, "app=strict")

	// Now it is right: created.
	b.click("#create-submit")
	b.waitFor("the listener page", `location.pathname === '/ui/listeners/strict'`)
	b.waitState("running")
	b.waitFor("the script's hits", `document.querySelector('#script-hits') !== null`)
	b.waitFor("the faults' counters", `document.querySelectorAll('#fault-status tbody tr').length === 2`)
	created := getListener(t, d, "strict")
	if !strings.Contains(created.raw, `"bytesPerSecond":100000`) || !strings.Contains(created.raw, `"bodyRegex":"^b+$"`) || strings.Contains(created.raw, `"drop"`) {
		t.Fatalf("the listener: %s", created.raw)
	}

	// Edit in place: an error of PATCH shows in the edit form too.
	form = "#edit-form "
	b.click("#edit-listener")
	b.waitFor("the edit form", `document.querySelector('#edit-form') !== null`)
	if got := eval[string](b, `document.querySelector('#edit-form input[name="listener.limits.maxBodyBytes"]').value`); got != "65536" {
		t.Fatalf("the edit form's maxBodyBytes: %q, want the listener's 65536", got)
	}
	b.typeInto(form+`input[name="listener.limits.maxBodyBytes"]`, "70000000")
	b.click("#edit-submit")
	waitFieldError("listener.limits.maxBodyBytes", "70000000 is not from 1 to 67108864")
	b.shot("edit-error")
	b.typeInto(form+`input[name="listener.limits.maxBodyBytes"]`, "1024")
	b.typeInto(form+`textarea[name="listener.labels"]`, "app=strict\nedited=yes")
	b.click("#edit-submit")
	b.waitFor("the spec again", `document.querySelector('#edit-form') === null && document.querySelector('#spec-body').textContent.includes('edited=yes')`)
	b.shot("edited")
	edited := getListener(t, d, "strict")
	if !strings.Contains(edited.raw, `"maxBodyBytes":1024`) || !strings.Contains(edited.raw, `"edited":"yes"`) ||
		!strings.Contains(edited.raw, `"headerTimeout":"2s"`) || !strings.Contains(edited.raw, `"bodyRegex":"^b+$"`) ||
		str(edited.body, "status", "generation") != "2" {
		t.Fatalf("after the edit: %s", edited.raw)
	}
}

// TestDashboardEveryField: the create form sets every field of a
// listener (those TestDashboardFormErrors does not: framing, every
// limit, capture, exec, TLS, TTL, the fault seed), the listener page
// shows the TLS certificate's fingerprint, and the edit form reads the
// listener back as it is (saving it unchanged changes nothing).
func TestDashboardEveryField(t *testing.T) {
	d := startDaemon(t, func(o *options) { o.execAllow = []string{"echo", "date"} })
	b := newBrowser(t, d)
	b.open("/ui/")
	b.click("#new-listener")
	form := "#create-form "
	in := func(name string) string { return form + `[name="listener.` + name + `"]` }
	b.typeInto(in("id"), "full")
	b.setSelect(in("transport"), "TRANSPORT_TCP")
	b.typeInto(in("address"), "127.0.0.1:0")
	b.setSelect(in("handler"), "HANDLER_EXEC")
	b.setSelect(in("framing.request"), "FRAMING_LENGTH_PREFIXED")
	b.setSelect(in("framing.response"), "FRAMING_JSON_HEADER")
	b.setSelect(in("framing.byteOrder"), "BYTE_ORDER_BIG_ENDIAN")
	for name, v := range map[string]string{
		"limits.maxConnections": "7", "limits.maxHeaderBytes": "2048", "limits.maxBodyBytes": "4096",
		"limits.headerTimeout": "3s", "limits.idleTimeout": "1m30s",
		"capture.maxFrames": "50", "capture.maxBytesPerFrame": "128",
		"exec.allow": "echo", "exec.timeout": "2s", "exec.maxOutputBytes": "1024", "exec.maxConcurrent": "2", "exec.workingDir": "/tmp",
		"faultSeed": "7", "ttl": "1h",
	} {
		b.typeInto(in(name), v)
	}
	b.click(form + `button.add-fault`) // latency, the default kind
	b.typeInto(in("faults[0].latency.delay"), "1ms")
	b.typeInto(in("faults[0].name"), "slow")
	b.typeInto(in("faults[0].probability"), "0.5")
	b.setSelect(in("faults[0].direction"), "DIRECTION_IN")
	b.do("the match", chromedp.SetValue(chromedp.CSS(in("faults[0].match")), `{"bodyPrefix": "date"}`))
	b.setSelect(in("tls.selfSigned"), "self")
	b.setSelect(in("tls.minVersion"), "1.3")
	b.typeInto(in("tls.alpn"), "h2, http/1.1")
	b.typeInto(in("labels"), "suite=dashboard")
	b.click("#create-submit")
	b.waitFor("the listener page", `location.pathname === '/ui/listeners/full'`)
	b.waitState("running")

	got := getListener(t, d, "full")
	for _, want := range []string{
		`"handler":"HANDLER_EXEC"`,
		`"framing":{"request":"FRAMING_LENGTH_PREFIXED","response":"FRAMING_JSON_HEADER","byteOrder":"BYTE_ORDER_BIG_ENDIAN"}`,
		`"maxConnections":7`, `"maxHeaderBytes":2048`, `"maxBodyBytes":4096`, `"headerTimeout":"3s"`, `"idleTimeout":"90s"`,
		`"capture":{"maxFrames":50,"maxBytesPerFrame":128}`,
		`"exec":{"allow":["echo"],"timeout":"2s","maxOutputBytes":1024,"maxConcurrent":2,"workingDir":"/tmp"}`,
		`"name":"slow","probability":0.5,"direction":"DIRECTION_IN"`, `"bodyPrefix":"date"`, `"latency":{"delay":"0.001s"}`,
		`"faultSeed":7`, `"selfSigned":true`, `"minVersion":"1.3"`, `"alpn":["h2","http/1.1"]`,
		`"labels":{"suite":"dashboard"}`, `"expireTime":`,
	} {
		if !strings.Contains(got.raw, want) {
			t.Errorf("the listener lacks %s: %s", want, got.raw)
		}
	}
	fingerprint := str(got.body, "status", "tls", "fingerprintSha256")
	b.waitFor("the certificate's fingerprint", fmt.Sprintf(`(document.querySelector('#tls-fingerprint') || {}).textContent === %s`, js(fingerprint)))
	b.waitFor("the fault's counter", `(document.querySelector('#fault-status tbody td') || {}).textContent === 'slow'`)
	b.scrollTop()
	b.shot("every-field")

	// The edit form reads back what the listener is: saved as it is, it
	// has nothing to change.
	b.click("#edit-listener")
	b.waitFor("the edit form", `document.querySelector('#edit-form') !== null`)
	b.click("#edit-submit")
	b.waitFor("nothing to change", `document.querySelector('#edit-form .form-error[data-for="form"]').textContent === 'Nothing changed.'`)
	if gen := str(getListener(t, d, "full").body, "status", "generation"); gen != "1" {
		t.Errorf("generation %s after saving an unchanged form: something was sent", gen)
	}
	// One change: only it is sent; the handler change clears exec.
	b.setSelect("#edit-form "+`[name="listener.handler"]`, "HANDLER_ECHO")
	b.click("#edit-submit")
	b.waitFor("the spec again", `document.querySelector('#edit-form') === null`)
	after := getListener(t, d, "full")
	if str(after.body, "handler") != "HANDLER_ECHO" || strings.Contains(after.raw, `"exec":`) || !strings.Contains(after.raw, `"maxConnections":7`) || !strings.Contains(after.raw, `"selfSigned":true`) {
		t.Errorf("after changing the handler: %s", after.raw)
	}
}

// TestDashboardToken: under --auth-token the page loads, asks for the
// token when the API answers 401, keeps it in sessionStorage and sends it
// as a bearer header.
func TestDashboardToken(t *testing.T) {
	const token = "dashboard-test-token"
	d := startDaemon(t, func(o *options) { o.authToken = token })
	req, _ := http.NewRequest("POST", "http://"+d.httpAddr()+"/v1/listeners",
		strings.NewReader(`{"id":"guarded","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: testTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create with the token: %d", resp.StatusCode)
	}

	b := newBrowser(t, d)
	b.open("/ui/")
	b.waitFor("the token prompt", `document.querySelector('#token-dialog[open]') !== null`)
	if got := b.text("#token-reason"); !strings.Contains(got, "401") {
		t.Errorf("the prompt's reason: %q", got)
	}
	b.shot("token-prompt")

	// A wrong token: asked again, saying so.
	b.typeInto("#token-input", "not-the-token")
	b.click("#token-submit")
	b.waitFor("the prompt again", `document.querySelector('#token-dialog[open]') !== null && document.querySelector('#token-reason').textContent.includes('refused')`)
	b.shot("token-refused")

	b.typeInto("#token-input", token)
	b.click("#token-submit")
	b.waitFor("the listeners", `document.querySelector('#listeners-table tr[data-id="guarded"]') !== null`)
	b.waitFor("live events", `document.querySelector('#stream-status.live') !== null`)
	if got := eval[string](b, `sessionStorage.getItem('sockplane.token')`); got != token {
		t.Errorf("sessionStorage holds %q", got)
	}
	if eval[bool](b, `document.querySelector('#token-dialog').open`) {
		t.Error("the prompt is still open")
	}
	// A reload keeps the tab's token: no prompt.
	b.open("/ui/listeners/guarded")
	b.waitState("running")
	if eval[bool](b, `document.querySelector('#token-dialog').open`) {
		t.Error("the prompt came back after a reload")
	}
	b.shot("token-accepted")
}

// TestDashboardHostileText: what peers send, and what users may write,
// shows as text: a frame body and header with markup, a datagram peer
// whose address is markup, a listener whose address is markup, an id
// that is markup (refused, and its error shown). Nothing runs.
func TestDashboardHostileText(t *testing.T) {
	d := startDaemon(t)
	// Not t.TempDir(): its long path and the markup would pass the
	// 108 bytes of a Unix socket's path.
	dir, err := os.MkdirTemp("", "sp-xss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sockPath := filepath.Join(dir, hostile+".sock")
	peerPath := filepath.Join(dir, "peer"+hostile)
	tcpAddr := createREST(t, d, `{"id":"rec","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_RECORD"}`)
	b := newBrowser(t, d)

	// The captured frames: a body and a header field of markup.
	conn, err := net.DialTimeout("tcp", tcpAddr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(frame(hostile, map[string]any{"note": "<script>window.__pwned=2</script>"})); err != nil {
		t.Fatal(err)
	}
	b.open("/ui/listeners/rec")
	b.waitFor("the hostile frame", fmt.Sprintf(`(document.querySelector('#frames-list .frame-text') || {}).textContent === %s`, js(hostile)))
	if got := b.text("#frames-list .frame-header-text"); !strings.Contains(got, "<script>window.__pwned=2</script>") {
		t.Errorf("the frame's header shows %q", got)
	}
	b.shot("hostile-frames")

	// A Unix datagram listener at a path of markup, created through the
	// form; a peer bound at another such path sends it the hostile body.
	b.open("/ui/")
	b.click("#new-listener")
	b.typeInto(`#create-form input[name="listener.id"]`, "dgram")
	b.setSelect(`#create-form select[name="listener.transport"]`, "TRANSPORT_UNIXGRAM")
	b.setSelect(`#create-form select[name="listener.handler"]`, "HANDLER_RECORD")
	b.do("the address", chromedp.SetValue(chromedp.CSS(`#create-form input[name="listener.address"]`), sockPath))
	b.click("#create-submit")
	b.waitFor("the listener page", `location.pathname === '/ui/listeners/dgram'`)
	b.waitState("running")
	if got := b.text("#listener-bound"); got != sockPath {
		t.Errorf("the bound address shows %q, want %q", got, sockPath)
	}
	peer, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: peerPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteToUnix(frame(hostile, nil), &net.UnixAddr{Name: sockPath, Net: "unixgram"}); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the peer in the events", fmt.Sprintf(`Array.from(document.querySelectorAll('#listener-events .ev-peer')).some((e) => e.textContent === %s)`, js(peerPath)))
	b.waitFor("the peer in the connections", fmt.Sprintf(`(document.querySelector('#connections-table td.peer') || {}).textContent === %s`, js(peerPath)))
	b.waitFor("the datagram captured", fmt.Sprintf(`(document.querySelector('#frames-list .frame-text') || {}).textContent === %s`, js(hostile)))

	// Reply to the datagram peer from the page.
	b.typeInto("#send-body", "reply to "+hostile)
	b.click("#send-submit")
	b.waitFor("the send result", `document.querySelector('#send-result').textContent.startsWith('Sent ')`)
	_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 4096)
	n, _, err := peer.ReadFromUnix(buf)
	if err != nil || !strings.HasSuffix(string(buf[:n]), "reply to "+hostile) {
		t.Fatalf("the datagram peer read %q, %v", buf[:n], err)
	}
	b.shot("hostile-datagram")

	// The events log of the listeners page: a listener whose address is
	// markup, and an id of markup, refused next to the field.
	b.open("/ui/")
	b.waitFor("live events", `document.querySelector('#stream-status.live') !== null`)
	second := filepath.Join(dir, "b"+hostile)
	createREST(t, d, fmt.Sprintf(`{"id":"dgram2","transport":"TRANSPORT_UNIXGRAM","address":%s,"labels":{"x":"y"}}`, js(second)))
	b.waitFor("the create event", fmt.Sprintf(`Array.from(document.querySelectorAll('#events-log .ev-message')).some((e) => e.textContent === %s)`, js("listening on "+second)))
	b.click("#new-listener")
	b.do("the id", chromedp.SetValue(chromedp.CSS(`#create-form input[name="listener.id"]`), hostile))
	b.typeInto(`#create-form input[name="listener.address"]`, "127.0.0.1:0")
	b.click("#create-submit")
	b.waitFor("the id's error", fmt.Sprintf(`(document.querySelector('#create-form .field[data-field="listener.id"] .field-error') || {}).textContent.includes(%s)`, js(hostile)))
	b.shot("hostile-events")

	// Nothing ran, and no element came from the data: the only image is
	// the page's own logo.
	if got := eval[string](b, `typeof window.__pwned`); got != "undefined" {
		t.Fatalf("window.__pwned is %s: the page ran markup from a peer", got)
	}
	if got := eval[int](b, `document.querySelectorAll('img').length`); got != 1 {
		t.Errorf("%d img elements in the page, want 1 (the logo)", got)
	}
	if got := eval[int](b, `document.querySelectorAll('#app script, #app img, #app iframe').length`); got != 0 {
		t.Errorf("%d script/img/iframe elements in the app", got)
	}
}

// TestDashboardManyListeners: 1,000 listeners: the table shows one page
// of them, pages on, filters by label selector (the API's) and by text
// (across every page), and the page stays responsive meanwhile; on a
// phone-width window it fits the width.
func TestDashboardManyListeners(t *testing.T) {
	d := startDaemon(t)
	const n = 1000
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make(chan int)
	client := &http.Client{Timeout: testTimeout}
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				group := "even"
				if i%2 == 1 {
					group = "odd"
				}
				body := fmt.Sprintf(`{"id":"l-%04d","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","labels":{"group":%q}}`, i, group)
				req, _ := http.NewRequest("POST", "http://"+d.httpAddr()+"/v1/listeners", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("create l-%04d: %d", i, resp.StatusCode)
				}
			}
		})
	}
	for i := 1; i <= n; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d listeners created in %v", n, time.Since(began).Round(time.Millisecond))

	b := newBrowser(t, d)
	b.open("/ui/?size=100")
	b.waitFor("a page of 100", `document.querySelectorAll('#listeners-table tbody tr').length === 100`)
	if first := b.text("#listeners-table tbody tr td.col-id"); first != "l-0001" {
		t.Errorf("the first row: %q", first)
	}
	// Responsive: over 3 s of polls, no task holds the page for long.
	lag, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`new Promise((resolve) => {
		let worst = 0, last = performance.now();
		const id = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last - 20); last = now; }, 20);
		setTimeout(() => { clearInterval(id); resolve(worst); }, 3000);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("longest stall of the page over 3 s of polls at 100 rows of 1000 listeners: %.0f ms", lag)
	if lag > 1000 { // a frozen page, not a busy machine
		t.Errorf("the page stalled %.0f ms", lag)
	}
	b.click("#next-page")
	b.waitFor("page 2", `(document.querySelector('#listeners-table tbody tr td.col-id') || {}).textContent === 'l-0101'`)
	if info := b.text("#page-info"); !strings.HasPrefix(info, "page 2") {
		t.Errorf("page info %q", info)
	}
	b.click("#prev-page")
	b.waitFor("page 1", `(document.querySelector('#listeners-table tbody tr td.col-id') || {}).textContent === 'l-0001'`)

	// The label selector, server-side.
	b.typeInto("#filter-selector", "group=odd")
	b.waitFor("odd ones only", `(() => { const rows = document.querySelectorAll('#listeners-table tbody tr');
		return rows.length === 100 && Array.from(rows).every((r) => r.querySelector('td.col-labels').textContent === 'group=odd'); })()`)
	b.typeInto("#filter-selector", "group in (odd")
	b.waitFor("the selector's error", `document.querySelector('#filter-error').textContent !== ''`)
	b.clear("#filter-selector")

	// Text, across every page: l-0777 lives on page 8.
	b.typeInto("#filter-text", "l-0777")
	b.waitFor("one match", `(() => { const rows = document.querySelectorAll('#listeners-table tbody tr');
		return rows.length === 1 && rows[0].dataset.id === 'l-0777'; })()`)
	if info := b.text("#page-info"); !strings.HasPrefix(info, "1 of 1000 match") {
		t.Errorf("page info %q", info)
	}
	b.typeInto("#filter-text", "odd l-00")
	b.waitFor("the odd ones of l-00xx", `document.querySelectorAll('#listeners-table tbody tr').length === 50`)
	b.clear("#filter-text")
	b.waitFor("a page of 100 again", `document.querySelectorAll('#listeners-table tbody tr').length === 100`)

	// A phone-width window: nothing wider than the screen.
	b.do("a phone's viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open("/ui/?size=25")
	b.waitFor("a page of 25", `document.querySelectorAll('#listeners-table tbody tr').length === 25`)
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("the page is %v px wide (scroll width, window width): wider than the phone", w)
	}
	b.shot("phone")
	b.open("/ui/listeners/l-0001")
	b.waitState("running")
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("the listener page is %v px wide: wider than the phone", w)
	}
	b.shot("phone-listener")
}

// TestDashboardServing checks what the HTTP port serves for the
// dashboard, without a browser: the routes, the headers (CSP, nosniff),
// the token exemption of its files, and that its files keep the rules
// the page's safety rests on (no inline script or style, no markup from
// data, nothing from another origin).
func TestDashboardServing(t *testing.T) {
	const token = "serving-token"
	d := startDaemon(t, func(o *options) { o.authToken = token })
	client := &http.Client{Timeout: testTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+d.httpAddr()+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	html := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	index, err := ui.Files.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		header       map[string]string
		status       int
		contentType  string
		location     string
		body         string // a part of it
	}{
		{"GET", "/", html, http.StatusFound, "", "/ui/", ""},
		{"GET", "/ui", nil, http.StatusFound, "", "/ui/", ""},
		{"GET", "/ui/", nil, http.StatusOK, "text/html; charset=utf-8", "", string(index)},
		{"HEAD", "/ui/", nil, http.StatusOK, "text/html; charset=utf-8", "", ""},
		{"GET", "/ui/listeners/some-id", nil, http.StatusOK, "text/html; charset=utf-8", "", string(index)},
		{"GET", "/ui/anything/else", nil, http.StatusOK, "text/html; charset=utf-8", "", string(index)},
		{"GET", "/ui/static/app.js", nil, http.StatusOK, "text/javascript; charset=utf-8", "", "import"},
		{"GET", "/ui/static/app.css", nil, http.StatusOK, "text/css; charset=utf-8", "", ":root"},
		{"GET", "/ui/static/icon.svg", nil, http.StatusOK, "image/svg+xml", "", "<svg"},
		{"GET", "/ui/static/nope.js", nil, http.StatusNotFound, "text/plain; charset=utf-8", "", ""},
		{"GET", "/ui/static/../index.html", nil, http.StatusNotFound, "text/plain; charset=utf-8", "", ""},
		{"POST", "/ui/", bearer, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "", "method not allowed"},
		// The API keeps its guards: no token, 401; and GET / from a
		// client that is not a browser is the API's, as before.
		{"POST", "/ui/", nil, http.StatusUnauthorized, "application/json", "", ""},
		{"GET", "/v1/listeners", nil, http.StatusUnauthorized, "application/json", "", ""},
		{"GET", "/", nil, http.StatusUnauthorized, "application/json", "", ""},
		{"GET", "/", bearer, http.StatusNotFound, "application/json", "", ""},
		{"GET", "/v1/listeners", bearer, http.StatusOK, "application/json", "", `"listeners"`},
	} {
		name := tt.method + " " + tt.path
		resp, body := get(tt.method, tt.path, tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d (%s)", name, resp.StatusCode, tt.status, body)
			continue
		}
		if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", name, resp.Header.Get("Content-Type"), tt.contentType)
		}
		if tt.location != "" && resp.Header.Get("Location") != tt.location {
			t.Errorf("%s: Location %q, want %q", name, resp.Header.Get("Location"), tt.location)
		}
		if !strings.Contains(body, tt.body) {
			t.Errorf("%s: body %.200q does not hold %.100q", name, body, tt.body)
		}
		if strings.HasPrefix(tt.path, "/ui") && tt.status != http.StatusUnauthorized {
			if got := resp.Header.Get("Content-Security-Policy"); got != "default-src 'self'" {
				t.Errorf("%s: Content-Security-Policy %q", name, got)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q", name, got)
			}
		}
		if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", name, resp.Header.Get("Allow"))
		}
	}

	// The files: every script and style is a file of its own (the CSP
	// allows nothing inline), no code writes markup, nothing is fetched
	// from another origin.
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`).Match(index) {
		t.Error("index.html has an inline script, style or event handler")
	}
	files, err := ui.Files.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'|\.style\.cssText`)
	remote := regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
	for _, f := range files {
		b, err := ui.Files.ReadFile("static/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name(), ".js") {
			if m := forbidden.Find(b); m != nil {
				t.Errorf("static/%s uses %s: untrusted text must go in as text", f.Name(), m)
			}
		}
		for _, m := range remote.FindAll(b, -1) {
			if string(m) != "http://www.w3.org/" { // the SVG namespace, not a fetch
				t.Errorf("static/%s names another origin: %s", f.Name(), m)
			}
		}
	}
}

// TestDashboardProxy: the create form makes a proxy listener (its
// section shows with the handler), recording, and a client gets the
// upstream's answers through it.
func TestDashboardProxy(t *testing.T) {
	d := startDaemon(t)
	upstream := createListener(t, d, `{"id":"real","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_UPPER"}`)
	b := newBrowser(t, d)
	b.open("/ui/")
	b.click("#new-listener")
	form := "#create-form "
	in := func(name string) string { return form + `[name="listener.` + name + `"]` }
	b.typeInto(in("id"), "px")
	b.setSelect(in("transport"), "TRANSPORT_TCP")
	b.typeInto(in("address"), "127.0.0.1:0")
	b.setSelect(in("handler"), "HANDLER_PROXY")
	b.typeInto(in("proxy.upstream"), upstream)
	b.typeInto(in("proxy.connectTimeout"), "1s")
	b.setSelect(in("proxy.record"), "on")
	b.typeInto(in("proxy.record.maxExchanges"), "10")
	b.click("#create-submit")
	b.waitFor("the listener page", `location.pathname === '/ui/listeners/px'`)
	b.waitState("running")
	got := getListener(t, d, "px")
	if want := fmt.Sprintf(`"proxy":{"upstream":%q,"transport":"TRANSPORT_TCP","connectTimeout":"1s","record":{"maxExchanges":10}}`, upstream); !strings.Contains(got.raw, want) {
		t.Fatalf("the proxy listener: %s\nwant %s", got.raw, want)
	}
	if reply, err := roundTrip(t, "tcp", str(got.body, "status", "boundAddress"), "through"); err != nil || reply != "THROUGH" {
		t.Fatalf("through the proxy: %q, %v", reply, err)
	}
}
