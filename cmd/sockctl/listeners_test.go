package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// unmarshal parses protojson output into m.
func unmarshal(tb testing.TB, out string, m proto.Message) {
	tb.Helper()
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		tb.Fatalf("output is not a %T: %v\n%s", m, err, out)
	}
}

// tableRows returns the rows of a table, header first, split on runs of
// spaces.
func tableRows(out string) [][]string {
	var rows [][]string
	for line := range strings.Lines(out) {
		// "FRAMES IN/OUT" is one column with a space in its name.
		line = strings.Replace(line, "FRAMES IN/OUT", "FRAMES_IN/OUT", 1)
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// row finds the row of id in a table.
func row(tb testing.TB, out, id string) []string {
	tb.Helper()
	for _, r := range tableRows(out)[1:] {
		if r[0] == id {
			return r
		}
	}
	tb.Fatalf("no row %q in\n%s", id, out)
	return nil
}

func TestListenersLifecycle(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }

	// create, table
	out := ctl("listeners", "create", "--id", "web", "--transport", "tcp", "--handler", "upper")
	if got, want := tableRows(out)[0], []string{"ID", "TRANSPORT", "HANDLER", "STATE", "ADDRESS", "CONNS", "FRAMES_IN/OUT", "ERRORS"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("header = %q, want %q", got, want)
	}
	web := row(t, out, "web")
	if got, want := strings.Join(web[:4], " "), "web tcp upper running"; got != want {
		t.Errorf("create row starts %q, want %q", got, want)
	}
	if _, port, err := net.SplitHostPort(web[4]); err != nil || port == "0" {
		t.Errorf("ADDRESS = %q, want the bound address with a real port", web[4])
	}

	// create, json
	out = ctl("listeners", "create", "--id", "dgram", "--transport", "udp", "--byte-order", "big", "-o", "json")
	var dgram sockplanev1.Listener
	unmarshal(t, out, &dgram)
	if dgram.GetId() != "dgram" || dgram.GetTransport() != sockplanev1.Transport_TRANSPORT_UDP ||
		dgram.GetFraming().GetByteOrder() != sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN ||
		dgram.GetHandler() != sockplanev1.Handler_HANDLER_ECHO {
		t.Errorf("created %v", &dgram)
	}
	if dgram.GetStatus().GetState() != sockplanev1.State_STATE_RUNNING {
		t.Errorf("state = %v, want STATE_RUNNING", dgram.GetStatus().GetState())
	}
	if _, port, err := net.SplitHostPort(dgram.GetStatus().GetBoundAddress()); err != nil || port == "0" {
		t.Errorf("boundAddress = %q, want a real port", dgram.GetStatus().GetBoundAddress())
	}
	if !strings.Contains(out, `"boundAddress"`) || !strings.Contains(out, `"framesIn"`) {
		t.Errorf("json is not lowerCamelCase with default values:\n%s", out)
	}

	// list: ordered by id
	out = ctl("listeners", "list")
	rows := tableRows(out)
	if len(rows) != 3 || rows[1][0] != "dgram" || rows[2][0] != "web" {
		t.Errorf("list:\n%s", out)
	}
	var list sockplanev1.ListListenersResponse
	unmarshal(t, ctl("listeners", "list", "-o", "json"), &list)
	if len(list.GetListeners()) != 2 {
		t.Errorf("list -o json has %d listeners, want 2", len(list.GetListeners()))
	}

	// get
	var got sockplanev1.Listener
	unmarshal(t, ctl("listeners", "get", "web", "-o", "json"), &got)
	if got.GetId() != "web" || got.GetHandler() != sockplanev1.Handler_HANDLER_UPPER || got.GetStatus().GetState() != sockplanev1.State_STATE_RUNNING {
		t.Errorf("get web: %v", &got)
	}

	// stop: ADDRESS falls back to the requested address
	out = ctl("listeners", "stop", "web")
	if r := row(t, out, "web"); r[3] != "stopped" || r[4] != "127.0.0.1:0" {
		t.Errorf("stop:\n%s", out)
	}
	var stopped sockplanev1.Listener
	unmarshal(t, ctl("listeners", "stop", "web", "-o", "json"), &stopped)
	if stopped.GetStatus().GetState() != sockplanev1.State_STATE_STOPPED || stopped.GetStatus().GetBoundAddress() != "" {
		t.Errorf("stop again: %v", stopped.GetStatus())
	}

	// start
	out = ctl("listeners", "start", "web")
	if r := row(t, out, "web"); r[3] != "running" {
		t.Errorf("start:\n%s", out)
	}

	// delete, then get fails
	if out := ctl("listeners", "delete", "web"); out != "deleted web\n" {
		t.Errorf("delete printed %q", out)
	}
	stdout, _, err := sockctl(t, "", "listeners", "get", "web", "--server", server)
	if err == nil {
		t.Fatalf("get after delete succeeded:\n%s", stdout)
	}
	if status.Code(err) != codes.NotFound || err.Error() != "listener not found: web" {
		t.Errorf("get after delete: %q (code %v), want %q (NotFound)", err, status.Code(err), "listener not found: web")
	}
}

func TestStopSeveralReportsEachFailure(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	mustSockctl(t, "listeners", "create", "--id", "a", "--transport", "tcp", "--server", server)

	out, _, err := sockctl(t, "", "listeners", "stop", "nope", "a", "gone", "--server", server)
	if err == nil {
		t.Fatal("stop of missing listeners succeeded")
	}
	for _, id := range []string{"nope", "gone"} {
		if !strings.Contains(err.Error(), "listener not found: "+id) {
			t.Errorf("error %q does not name %q", err, id)
		}
	}
	if r := row(t, out, "a"); r[3] != "stopped" {
		t.Errorf("a was not stopped:\n%s", out)
	}
}

func TestCreateRejectsBadFlags(t *testing.T) {
	t.Parallel()
	// None of these reaches a daemon: the server address is not used.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--transport", "sctp"}, []string{`"sctp"`, "--transport", "tcp, udp"}},
		{[]string{"--transport", "tcp", "--handler", "rot13"}, []string{`"rot13"`, "--handler", "echo, upper"}},
		{[]string{"--transport", "tcp", "--framing", "length"}, []string{"--framing", "json"}},
		{[]string{"--transport", "tcp", "--byte-order", "middle"}, []string{"--byte-order", "little, big"}},
		{[]string{"--transport", "tcp", "-o", "yaml"}, []string{"--output", "table, json"}},
		{nil, []string{`"transport"`, "not set"}},
	} {
		args := append([]string{"listeners", "create", "--server", "127.0.0.1:1"}, tc.args...)
		_, _, err := sockctl(t, "", args...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not contain %q", tc.args, err, w)
			}
		}
	}
}

func TestCreateInvalidArgumentFromDaemon(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	_, _, err := sockctl(t, "", "listeners", "create", "--id", "Bad_ID", "--transport", "tcp", "--server", server)
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(err.Error(), "invalid listener.id: ") {
		t.Errorf("err = %v (code %v), want InvalidArgument naming listener.id", err, status.Code(err))
	}
}

func TestDaemonUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now

	_, _, err = sockctl(t, "", "listeners", "list", "--server", addr, "--timeout", "5s")
	if status.Code(err) != codes.Unavailable || !strings.HasPrefix(err.Error(), "daemon at "+addr+" unavailable: ") {
		t.Errorf("err = %v (code %v), want Unavailable naming %s", err, status.Code(err), addr)
	}
	if err != nil && strings.Contains(err.Error(), "rpc error") {
		t.Errorf("err = %q keeps gRPC's wrapping", err)
	}
}

// goldenListeners are fixed listeners for the golden files: one of each
// state, and one with every field unset.
func goldenListeners() []*sockplanev1.Listener {
	stats := func(conns, in, out, errs uint64) *sockplanev1.ListenerStats {
		return &sockplanev1.ListenerStats{ConnectionsActive: conns, FramesIn: in, FramesOut: out, Errors: errs}
	}
	return []*sockplanev1.Listener{
		{
			Id: "tcp-5f0c1a2b", Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0",
			Handler: sockplanev1.Handler_HANDLER_UPPER,
			Status: &sockplanev1.ListenerStatus{
				State: sockplanev1.State_STATE_RUNNING, BoundAddress: "127.0.0.1:40123", Stats: stats(2, 1500, 1500, 0),
			},
		},
		{
			Id: "dgram", Transport: sockplanev1.Transport_TRANSPORT_UDP, Address: "[::1]:9001",
			Handler: sockplanev1.Handler_HANDLER_ECHO,
			Status:  &sockplanev1.ListenerStatus{State: sockplanev1.State_STATE_STOPPED, Stats: stats(0, 7, 6, 1)},
		},
		{
			Id: "broken", Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "10.9.9.9:80",
			Status: &sockplanev1.ListenerStatus{State: sockplanev1.State_STATE_FAILED, Error: "cannot bind address"},
		},
		{Id: "bare"}, // every field unset
	}
}

func TestTableGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	ls := goldenListeners()
	if err := writeTable(&b, ls); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- empty\n")
	if err := writeTable(&b, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.String())
}

func TestJSONGolden(t *testing.T) {
	t.Parallel()
	ls := goldenListeners()
	ls[0].Framing = &sockplanev1.FramingConfig{
		Request:   sockplanev1.Framing_FRAMING_JSON_HEADER,
		Response:  sockplanev1.Framing_FRAMING_JSON_HEADER,
		ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_BIG_ENDIAN,
	}
	ls[0].Status.StartedAt = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC))
	var b strings.Builder
	p := printer{w: &b, format: outputJSON}
	if err := p.listeners(ls[0]); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- list\n")
	if err := p.list(&sockplanev1.ListListenersResponse{Listeners: ls[2:]}); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- empty list\n")
	if err := p.list(&sockplanev1.ListListenersResponse{}); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- delete\n")
	if err := p.deleted("x", &sockplanev1.DeleteListenerResponse{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "json.golden", b.String())
}
