package main

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// ageRE matches an age of the connections table.
var ageRE = regexp.MustCompile(`^([0-9]+d)?([0-9]+h)?([0-9]+m)?[0-9]+s$|^[0-9]+[dh][0-9]+[hm]$`)

func TestConnectionsListAndClose(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	info := createListener(t, reg, registry.Spec{ID: "web", Transport: registry.TransportTCP, Handler: registry.HandlerUpper})
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }

	a, b := dialRaw(t, info.BoundAddr), dialRaw(t, info.BoundAddr)
	for _, msg := range []string{"hello", "hi"} {
		if got := a.roundTrip(msg); got != strings.ToUpper(msg) {
			t.Fatalf("reply %q to %q", got, msg)
		}
	}
	if got := b.roundTrip("yo"); got != "YO" {
		t.Fatalf("reply %q", got)
	}
	// Each reply is as long as its request: the upper handler keeps sizes.
	aBytes := len(a.frame("hello")) + len(a.frame("hi"))
	bBytes := len(b.frame("yo"))

	// table
	out := ctl("connections", "list", "web")
	rows := cells(out)
	if got, want := strings.Join(rows[0], "|"), "ID|PEER|LOCAL|OPENED|LAST ACTIVITY|FRAMES IN/OUT|BYTES IN/OUT"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if len(rows) != 3 {
		t.Fatalf("want 2 connections:\n%s", out)
	}
	byPeer := map[string][]string{}
	for _, r := range rows[1:] {
		if len(r) != 7 {
			t.Fatalf("row %q has %d cells, want 7:\n%s", r, len(r), out)
		}
		byPeer[r[1]] = r
	}
	for _, tc := range []struct {
		c             *rawClient
		frames, bytes string
	}{
		{a, "2/2", fmt.Sprintf("%d/%d", aBytes, aBytes)},
		{b, "1/1", fmt.Sprintf("%d/%d", bBytes, bBytes)},
	} {
		r, ok := byPeer[tc.c.addr()]
		if !ok {
			t.Errorf("no row with PEER %s:\n%s", tc.c.addr(), out)
			continue
		}
		if r[2] != info.BoundAddr || !ageRE.MatchString(r[3]) || !ageRE.MatchString(r[4]) || r[5] != tc.frames || r[6] != tc.bytes {
			t.Errorf("row %q, want LOCAL %s, ages, FRAMES %s, BYTES %s", r, info.BoundAddr, tc.frames, tc.bytes)
		}
	}
	aID, bID := byPeer[a.addr()][0], byPeer[b.addr()][0]

	// json
	var list sockplanev1.ListConnectionsResponse
	unmarshal(t, ctl("connections", "list", "web", "-o", "json"), &list)
	if len(list.GetConnections()) != 2 {
		t.Fatalf("-o json: %v", &list)
	}
	for _, c := range list.GetConnections() {
		want := map[string]uint64{aID: uint64(aBytes), bID: uint64(bBytes)}[c.GetId()]
		if c.GetBytesIn() != want || c.GetBytesOut() != want || c.GetLocalAddress() != info.BoundAddr ||
			!c.GetOpenedAt().IsValid() || c.GetLastActivityAt().AsTime().Before(c.GetOpenedAt().AsTime()) {
			t.Errorf("-o json: connection %v", c)
		}
	}

	// close: that client reads EOF, the other goes on
	if out := ctl("connections", "close", "web", aID); out != "closed "+aID+"\n" {
		t.Errorf("close printed %q", out)
	}
	a.readEOF()
	if got := b.roundTrip("still here"); got != "STILL HERE" {
		t.Errorf("the other client got %q", got)
	}
	if out := ctl("connections", "close", "web", bID, "-o", "json"); out != "{}\n" {
		t.Errorf("close -o json printed %q", out)
	}
	b.readEOF()
}

func TestFrames(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	info := createListener(t, reg, registry.Spec{
		ID: "cap", Transport: registry.TransportTCP, Handler: registry.HandlerUpper,
		Capture: registry.CaptureSpec{MaxFrames: 100},
	})
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }

	a, b := dialRaw(t, info.BoundAddr), dialRaw(t, info.BoundAddr)
	a.roundTrip("hello")
	b.roundTrip("\x00\x01\xff")
	a.roundTrip("two words\n")
	var conns sockplanev1.ListConnectionsResponse
	unmarshal(t, ctl("connections", "list", "cap", "-o", "json"), &conns)
	ids := map[string]string{}
	for _, c := range conns.GetConnections() {
		ids[c.GetPeerAddress()] = c.GetId()
	}
	aID, bID := ids[a.addr()], ids[b.addr()]
	if aID == "" || bID == "" {
		t.Fatalf("connections: %v", &conns)
	}

	// The captured order is the order of the round trips.
	type frame struct{ conn, dir, size, header, body string }
	want := []frame{
		{aID, "in", "5", `{"data_size": 5}`, "hello"},
		{aID, "out", "5", `{"data_size": 5}`, "HELLO"},
		{bID, "in", "3", `{"data_size": 3}`, "hex:0001ff"},
		{bID, "out", "3", `{"data_size": 3}`, "hex:0001ff"},
		{aID, "in", "10", `{"data_size": 10}`, `"two words\n"`},
		{aID, "out", "10", `{"data_size": 10}`, `"TWO WORDS\n"`},
	}
	check := func(out string, want []frame) {
		t.Helper()
		rows := cells(out)
		if got, w := strings.Join(rows[0], "|"), "AT|CONN|DIR|SIZE|TRUNCATED|HEADER|BODY"; got != w {
			t.Errorf("header %q, want %q", got, w)
		}
		if len(rows)-1 != len(want) {
			t.Fatalf("%d frames, want %d:\n%s", len(rows)-1, len(want), out)
		}
		var last time.Time
		for i, r := range rows[1:] {
			at, err := time.Parse(timeLayout, r[0])
			if err != nil || at.Before(last) {
				t.Errorf("AT %q: %v, or before the frame before", r[0], err)
			}
			last = at
			got := frame{r[1], r[2], r[3], r[5], r[6]}
			if got != want[i] || r[4] != "no" {
				t.Errorf("frame %d: %q, want %q, not truncated", i, r, want[i])
			}
		}
	}
	check(ctl("frames", "cap"), want)
	check(ctl("frames", "cap", "--connection", bID), want[2:4])
	hexWant := []frame{want[0], want[1], want[4], want[5]}
	for i, body := range []string{"68656c6c6f", "48454c4c4f", "74776f20776f7264730a", "54574f20574f5244530a"} {
		hexWant[i].body = body
	}
	check(ctl("frames", "cap", "--connection", aID, "--body-format", "hex"), hexWant)

	var list sockplanev1.ListFramesResponse
	unmarshal(t, ctl("frames", "cap", "-o", "json"), &list)
	if len(list.GetFrames()) != len(want) {
		t.Fatalf("-o json: %d frames, want %d", len(list.GetFrames()), len(want))
	}
	bodies := []string{"hello", "HELLO", "\x00\x01\xff", "\x00\x01\xff", "two words\n", "TWO WORDS\n"}
	for i, f := range list.GetFrames() {
		dir := sockplanev1.Direction_DIRECTION_IN
		if i%2 == 1 {
			dir = sockplanev1.Direction_DIRECTION_OUT
		}
		if string(f.GetBody()) != bodies[i] || f.GetDirection() != dir || f.GetConnectionId() != want[i].conn || f.GetTruncated() {
			t.Errorf("-o json: frame %d: %v", i, f)
		}
	}
}

func TestFramesOfListenerWithoutCapture(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	createListener(t, reg, registry.Spec{ID: "plain", Transport: registry.TransportTCP})
	out, _, err := sockctl(t, "", "frames", "plain", "--server", server)
	if err == nil || out != "" || !strings.Contains(err.Error(), "listener plain does not capture frames: capture is off") {
		t.Errorf("frames: %q, %v; want an error saying capture is off", out, err)
	}
	// Once capture is on, no frames is an empty table.
	mustSockctl(t, "listeners", "update", "plain", "--capture-max-frames", "10", "--server", server)
	if out := mustSockctl(t, "frames", "plain", "--server", server); out != "AT   CONN   DIR   SIZE   TRUNCATED   HEADER   BODY\n" {
		t.Errorf("frames with capture on printed %q", out)
	}
}

// TestSendFrame answers a client of a record listener, which replies
// nothing by itself, through the daemon: the tutorial's chat server.
func TestSendFrame(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	sub := reg.Events().Subscribe("rec", 16)
	defer sub.Close()
	info := createListener(t, reg, registry.Spec{ID: "rec", Transport: registry.TransportTCP, Handler: registry.HandlerRecord})
	c := dialRaw(t, info.BoundAddr)
	connID := strconv.FormatUint(awaitEvent(t, sub, rawsock.EventConnectionOpened).ConnID, 10)
	ctl := func(stdin string, args ...string) string {
		t.Helper()
		args = append(args, "--server", server)
		out, stderr, err := sockctl(t, stdin, args...)
		if err != nil {
			t.Fatalf("sockctl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}

	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		header string
		body   string
	}{
		{
			name:   "exit code",
			args:   []string{"done", "--header", "exit_code=0"},
			header: `{"data_size": 4, "exit_code": 0}`, body: "done",
		},
		{
			// JSON values as JSON, the rest as strings; --header
			// replaces a field of --header-json; keys in order.
			name: "header values",
			args: []string{"", "--header", "ok=true", "--header", "name=bob", "--header", `quoted="true"`,
				"--header", "n=-1.5", "--header", "empty=", "--header-json", `{"tags": ["a", 2], "name": "x", "nested": {"k": null}}`},
			header: `{"data_size": 0, "empty": "", "n": -1.5, "name": "bob", "nested": {"k":null}, "ok": true, "quoted": "true", "tags": ["a",2]}`,
		},
		{
			name:   "body hex",
			args:   []string{"--body-hex", "00 ff 41"},
			header: `{"data_size": 3}`, body: "\x00\xffA",
		},
		{
			name:   "body from stdin",
			args:   []string{"--body-file", "-"},
			stdin:  "line one\nline two\n",
			header: `{"data_size": 18}`, body: "line one\nline two\n",
		},
	} {
		args := append([]string{"send-frame", "rec", connID}, tc.args...)
		out := ctl(tc.stdin, args...)
		got := c.read()
		if string(got.Header) != tc.header || string(got.Body) != tc.body {
			t.Errorf("%s: client read header %s body %q; want %s %q", tc.name, got.Header, got.Body, tc.header, tc.body)
		}
		if want := fmt.Sprintf("wrote %d bytes to connection %s\n", 4+len(got.Header)+len(got.Body), connID); out != want {
			t.Errorf("%s: printed %q, want %q", tc.name, out, want)
		}
	}

	// The header is JSON with a number in it, as the tutorial's client
	// reads it with json.loads.
	ctl("", "send-frame", "rec", connID, "x", "--header", "exit_code=0")
	var h map[string]any
	if err := json.Unmarshal(c.read().Header, &h); err != nil || h["exit_code"] != 0.0 || h["data_size"] != 1.0 {
		t.Errorf("header %v (%v), want numbers data_size 1 and exit_code 0", h, err)
	}

	var resp sockplanev1.SendFrameResponse
	unmarshal(t, ctl("", "send-frame", "rec", connID, "json", "-o", "json"), &resp)
	if got := c.read(); string(got.Body) != "json" || resp.GetBytesWritten() != uint64(4+len(got.Header)+len(got.Body)) {
		t.Errorf("-o json: %v, client read %q", &resp, got.Body)
	}

	// The record listener captured what the operator sent.
	rows := cells(ctl("", "frames", "rec"))
	if len(rows) != 7 || rows[1][2] != "out" || rows[1][6] != "done" || rows[3][6] != "hex:00ff41" || rows[4][6] != `"line one\nline two\n"` {
		t.Errorf("frames after send-frame: %q", rows)
	}
}

// TestSendFrameUDP is the tutorial's UDP chat server: the record
// listener hears a datagram; the operator answers the peer.
func TestSendFrameUDP(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	sub := reg.Events().Subscribe("chat", 16)
	defer sub.Close()
	info := createListener(t, reg, registry.Spec{ID: "chat", Transport: registry.TransportUDP, Handler: registry.HandlerRecord})
	conn, err := net.Dial("udp", info.BoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	var codec wire.Codec
	hi, _ := codec.AppendFrame(nil, []byte("hi"))
	if _, err := conn.Write(hi); err != nil {
		t.Fatal(err)
	}
	connID := strconv.FormatUint(awaitEvent(t, sub, rawsock.EventConnectionOpened).ConnID, 10)

	rows := cells(mustSockctl(t, "connections", "list", "chat", "--server", server))
	if len(rows) != 2 || rows[1][0] != connID || rows[1][1] != conn.LocalAddr().String() {
		t.Errorf("connections: %q, want peer %s with id %s", rows, conn.LocalAddr(), connID)
	}
	mustSockctl(t, "send-frame", "chat", connID, "hello back", "--server", server)
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	f, err := codec.ParseDatagram(buf[:n])
	if err != nil || string(f.Body) != "hello back" || string(f.Header) != `{"data_size": 10}` {
		t.Errorf("peer read %q %q, %v", f.Header, f.Body, err)
	}
}

// TestObserveDaemonErrors: the daemon's words for what the user got
// wrong, without gRPC's wrapping.
func TestObserveDaemonErrors(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	createListener(t, reg, registry.Spec{ID: "web", Transport: registry.TransportTCP})
	const badConn = `invalid connectionId: "abc" is not a connection id (a positive integer, as ListConnections shows)`
	for _, tc := range []struct {
		args []string
		code codes.Code
		want string
	}{
		{[]string{"connections", "list", "x"}, codes.NotFound, "listener not found: x"},
		{[]string{"connections", "close", "x", "1"}, codes.NotFound, "listener not found: x"},
		{[]string{"connections", "close", "web", "abc"}, codes.InvalidArgument, badConn},
		{[]string{"connections", "close", "web", "99"}, codes.NotFound, "connection not found: 99"},
		{[]string{"frames", "x"}, codes.NotFound, "listener not found: x"},
		{[]string{"frames", "web", "--connection", "abc"}, codes.InvalidArgument, badConn},
		{[]string{"send-frame", "x", "1", "hi"}, codes.NotFound, "listener not found: x"},
		{[]string{"send-frame", "web", "abc", "hi"}, codes.InvalidArgument, badConn},
		{[]string{"send-frame", "web", "99", "hi"}, codes.NotFound, "connection not found: 99"},
		{[]string{"send-frame", "web", "1", "hi", "--header", "data_size=2"}, codes.InvalidArgument, "invalid header.data_size: is set from the body; leave it out"},
		{[]string{"watch", "--listener", "Bad"}, codes.InvalidArgument, `invalid listenerId: "Bad" has 'B': only lowercase letters, digits and '-' are allowed`},
	} {
		out, _, err := sockctl(t, "", append(tc.args, "--server", server)...)
		if status.Code(err) != tc.code || err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v (code %v), want %q (%v)", tc.args, err, status.Code(err), tc.want, tc.code)
		}
		if out != "" {
			t.Errorf("%q printed %q", tc.args, out)
		}
	}

	// Each id is closed in turn; the errors of all come back.
	_, _, err := sockctl(t, "", "connections", "close", "web", "abc", "98", "--server", server)
	if err == nil || !strings.Contains(err.Error(), badConn) || !strings.Contains(err.Error(), "connection not found: 98") {
		t.Errorf("close of two bad ids: %v", err)
	}
}

func TestObserveRejectsBadArgs(t *testing.T) {
	t.Parallel()
	// None of these reaches a daemon: the server address is not used.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connections", "list"}, "accepts 1 arg(s), received 0"},
		{[]string{"connections", "close", "web"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"frames"}, "accepts 1 arg(s), received 0"},
		{[]string{"frames", "web", "--body-format", "octal"}, "auto, text, hex, base64"},
		{[]string{"frames", "web", "--width", "-1"}, "--width -1: want 0 (no cut) or more"},
		{[]string{"send-frame", "web", "1"}, "requires LISTENER_ID, CONNECTION_ID and BODY (or --body-file FILE or --body-hex HEX instead of BODY), got 2 argument(s)"},
		{[]string{"send-frame", "web", "1", "hi", "--body-hex", "00"}, "requires LISTENER_ID and CONNECTION_ID only when --body-file or --body-hex gives the body, got 3 argument(s)"},
		{[]string{"send-frame", "web", "1", "--body-hex", "00", "--body-file", "f"}, "[body-file body-hex] were all set"},
		{[]string{"send-frame", "web", "1", "--body-hex", "0g"}, "--body-hex: encoding/hex: invalid byte"},
		{[]string{"send-frame", "web", "1", "--body-file", "/nonexistent/body"}, "--body-file: open /nonexistent/body: no such file or directory"},
		{[]string{"send-frame", "web", "1", "hi", "--header", "exit_code"}, `--header "exit_code": want KEY=VALUE, e.g. exit_code=0`},
		{[]string{"send-frame", "web", "1", "hi", "--header", "=1"}, `--header "=1": want KEY=VALUE`},
		{[]string{"send-frame", "web", "1", "hi", "--header", "id=9007199254740993"}, "integer 9007199254740993 is too large for a JSON header number (at most 2^53); quote it to send a string"},
		{[]string{"send-frame", "web", "1", "hi", "--header", "n=1e999"}, `--header "n=1e999": number 1e999:`},
		{[]string{"send-frame", "web", "1", "hi", "--header-json", "[1]"}, `--header-json: want a JSON object, e.g. '{"exit_code": 0}', got [1]`},
		{[]string{"send-frame", "web", "1", "hi", "--header-json", "{"}, "--header-json: not JSON"},
		{[]string{"watch", "web"}, `unknown command "web" for "sockctl watch"`},
	} {
		_, _, err := sockctl(t, "", append(tc.args, "--server", "127.0.0.1:1")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestFrameHeader(t *testing.T) {
	t.Parallel()
	h, err := frameHeader("", nil)
	if h != nil || err != nil {
		t.Errorf("no header flags: %v, %v; want nil, nil", h, err)
	}
	h, err = frameHeader(`{"a": 1}`, []string{"b=[1, {\"c\": 2.5}]", "a=x=y", "big=9007199254740992", "s= 0 1"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.AsMap())
	if want := `{"a":"x=y","b":[1,{"c":2.5}],"big":9007199254740992,"s":" 0 1"}`; string(got) != want {
		t.Errorf("header %s, want %s", got, want)
	}
}
