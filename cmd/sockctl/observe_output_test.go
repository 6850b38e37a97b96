package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// goldenNow is the clock of the golden files.
var goldenNow = time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// ago is a timestamp d before goldenNow.
func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(goldenNow.Add(-d)) }

func goldenConnections() []*sockplanev1.Connection {
	return []*sockplanev1.Connection{
		{
			Id: "1", PeerAddress: "127.0.0.1:51234", LocalAddress: "127.0.0.1:9000",
			OpenedAt: ago(3 * time.Second), LastActivityAt: ago(1500 * time.Millisecond),
			FramesIn: 2, FramesOut: 2, BytesIn: 43, BytesOut: 43,
		},
		{
			Id: "2", PeerAddress: "[::1]:40000", LocalAddress: "[::1]:9000",
			OpenedAt: ago(4*time.Minute + 12*time.Second), LastActivityAt: ago(65 * time.Second),
			FramesIn: 1500, FramesOut: 0, BytesIn: 1 << 20, BytesOut: 0,
		},
		{
			// An unnamed Unix peer, on a path with a space.
			Id: "17", LocalAddress: "/tmp/my sockets/s.sock",
			OpenedAt: ago(5*time.Hour + 7*time.Minute), LastActivityAt: ago(26 * time.Hour),
		},
		{
			// The daemon's clock ahead of this host's: no negative age.
			Id: "300", PeerAddress: "/tmp/peer.sock", LocalAddress: "/run/sockplane/d.sock",
			OpenedAt: ago(50 * time.Hour), LastActivityAt: ago(-2 * time.Second),
		},
		{Id: "5"}, // every other field unset
	}
}

func goldenFrames() []*sockplanev1.CapturedFrame {
	in, out := sockplanev1.Direction_DIRECTION_IN, sockplanev1.Direction_DIRECTION_OUT
	frame := func(ms int, conn string, dir sockplanev1.Direction, header, body string) *sockplanev1.CapturedFrame {
		return &sockplanev1.CapturedFrame{
			At: timestamppb.New(goldenNow.Add(time.Duration(ms) * time.Millisecond)), ConnectionId: conn, Direction: dir,
			Header: header, Body: []byte(body), BodySize: uint64(len(body)),
		}
	}
	long := strings.Repeat("a", 100)
	truncated := frame(9, "2", in, `{"data_size": 10000}`, strings.Repeat("b", 60))
	truncated.Truncated, truncated.BodySize = true, 10000
	return []*sockplanev1.CapturedFrame{
		frame(0, "1", in, `{"data_size": 5}`, "hello"),
		frame(1, "1", out, `{"data_size": 9, "exit_code": 0}`, "two words"),
		frame(2, "1", in, `{"data_size": 5}`, "line\n"),
		frame(3, "2", in, `{"data_size": 3}`, "\x00\x01\xff"),
		frame(4, "2", out, `{"data_size": 7}`, "hex:abc"),
		frame(5, "2", in, `{"data_size": 5}`, `"quo"`),
		frame(6, "2", in, `{"data_size": 0}`, ""),
		frame(7, "2", in, `{"data_size": 100}`, long),
		frame(8, "2", in, ``, " padded "),
		truncated,
		frame(10, "3", in, "{\"data_size\": 4, \"x\": \"\x1b[2J\"}", "\x1b[2J"),
		frame(11, "3", out, `{"data_size": 13}`, "héllo wörld"),
		frame(12, "3", out, ``, strings.Repeat("日本語", 20)),
		frame(13, "", 0, ``, "tab\there"),
	}
}

func goldenEvents() []*sockplanev1.Event {
	at := func(ms int) *timestamppb.Timestamp {
		return timestamppb.New(goldenNow.Add(time.Duration(ms) * time.Millisecond))
	}
	return []*sockplanev1.Event{
		{Type: sockplanev1.EventType_EVENT_TYPE_LISTENER_CREATED, At: at(0), ListenerId: "web", Message: "listening on 127.0.0.1:9000"},
		{Type: sockplanev1.EventType_EVENT_TYPE_LISTENER_STARTED, At: at(1), ListenerId: "web", Message: "listening on 127.0.0.1:9000"},
		{Type: sockplanev1.EventType_EVENT_TYPE_CONNECTION_OPENED, At: at(2), ListenerId: "web", ConnectionId: "1", PeerAddress: "127.0.0.1:51234"},
		{Type: sockplanev1.EventType_EVENT_TYPE_FRAME_ERROR, At: at(3), ListenerId: "web", ConnectionId: "1", PeerAddress: "127.0.0.1:51234", Message: "malformed frame: header \"\x1b[31mred\""},
		{Type: sockplanev1.EventType_EVENT_TYPE_CONNECTION_CLOSED, At: at(4), ListenerId: "web", ConnectionId: "1", PeerAddress: "127.0.0.1:51234"},
		{Type: sockplanev1.EventType_EVENT_TYPE_CONNECTION_OPENED, At: at(5), ListenerId: "sock", ConnectionId: "2"},
		{Type: sockplanev1.EventType_EVENT_TYPE_CONNECTION_OPENED, At: at(6), ListenerId: "dgram", ConnectionId: "3", PeerAddress: "/tmp/my sockets/c.sock"},
		{Type: sockplanev1.EventType_EVENT_TYPE_EVENTS_DROPPED, At: at(7), Dropped: 12},
		{Type: sockplanev1.EventType_EVENT_TYPE_LISTENER_FAILED, At: at(8), ListenerId: "web", Message: "accept: too many open files"},
		{Type: sockplanev1.EventType_EVENT_TYPE_LISTENER_STOPPED, At: at(9), ListenerId: "web"},
		{Type: sockplanev1.EventType_EVENT_TYPE_LISTENER_DELETED, At: at(10), ListenerId: "web"},
		{Type: sockplanev1.EventType(42), At: at(11), ListenerId: "web"}, // a type added later
		{}, // every field unset
	}
}

// TestObserveTableGolden covers the tables and lines of the connections,
// frames and watch commands.
func TestObserveTableGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := printer{w: &b, format: outputTable, now: func() time.Time { return goldenNow }, loc: time.UTC}
	section := func(name string) { b.WriteString("--- " + name + "\n") }

	section("connections list")
	if err := p.connections(&sockplanev1.ListConnectionsResponse{Connections: goldenConnections()}); err != nil {
		t.Fatal(err)
	}
	section("connections list, none")
	if err := p.connections(&sockplanev1.ListConnectionsResponse{}); err != nil {
		t.Fatal(err)
	}
	section("connections close")
	if err := p.closedConnection("3", &sockplanev1.CloseConnectionResponse{}); err != nil {
		t.Fatal(err)
	}
	section("send-frame")
	if err := p.sentFrame("3", &sockplanev1.SendFrameResponse{BytesWritten: 23}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		view frameView
	}{
		{"auto", frameView{body: bodyAuto, width: 40}},
		{"text", frameView{body: bodyText, width: 40}},
		{"hex", frameView{body: bodyHex, width: 40}},
		{"base64", frameView{body: bodyBase64, width: 40}},
		{"auto, width 0", frameView{body: bodyAuto}},
		{"auto, width 2", frameView{body: bodyAuto, width: 2}},
	} {
		section("frames, " + v.name)
		if err := p.frames(&sockplanev1.ListFramesResponse{Frames: goldenFrames()}, v.view); err != nil {
			t.Fatal(err)
		}
	}
	section("frames, none")
	if err := p.frames(&sockplanev1.ListFramesResponse{}, frameView{}); err != nil {
		t.Fatal(err)
	}
	section("watch")
	for _, e := range goldenEvents() {
		if err := p.event(&sockplanev1.WatchEventsResponse{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "observe_table.golden", b.String())
}

// TestObserveJSONGolden covers -o json of the connections, frames,
// send-frame and watch commands.
func TestObserveJSONGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := printer{w: &b, format: outputJSON}
	section := func(name string) { b.WriteString("--- " + name + "\n") }

	section("connections list")
	if err := p.connections(&sockplanev1.ListConnectionsResponse{Connections: goldenConnections()[:2]}); err != nil {
		t.Fatal(err)
	}
	section("connections list, none")
	if err := p.connections(&sockplanev1.ListConnectionsResponse{}); err != nil {
		t.Fatal(err)
	}
	section("connections close")
	if err := p.closedConnection("3", &sockplanev1.CloseConnectionResponse{}); err != nil {
		t.Fatal(err)
	}
	section("send-frame")
	if err := p.sentFrame("3", &sockplanev1.SendFrameResponse{BytesWritten: 23}); err != nil {
		t.Fatal(err)
	}
	section("frames")
	if err := p.frames(&sockplanev1.ListFramesResponse{Frames: goldenFrames()[:4]}, frameView{}); err != nil {
		t.Fatal(err)
	}
	section("frames, none")
	if err := p.frames(&sockplanev1.ListFramesResponse{}, frameView{}); err != nil {
		t.Fatal(err)
	}
	section("watch")
	for _, e := range goldenEvents()[2:8] {
		if err := p.event(&sockplanev1.WatchEventsResponse{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "observe_json.golden", b.String())
}

func TestCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s     string
		width int
		want  string
	}{
		{"hello", 0, "hello"},
		{"hello", 5, "hello"},
		{"hello!", 5, "he..."},
		{"日本語日本語", 5, "日本..."},
		{"hello", 2, "..."},
	} {
		if got := cut(tc.s, tc.width); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}
