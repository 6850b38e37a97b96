package main

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/registry"
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
		{[]string{"--transport", "sctp"}, []string{`"sctp"`, "--transport", "tcp, udp, unix, unixgram"}},
		{[]string{"--transport", "tcp", "--handler", "rot13"}, []string{`"rot13"`, "--handler", "echo, upper, exec"}},
		{[]string{"--transport", "tcp", "--framing", "xml"}, []string{"--framing", "json, length, raw"}},
		{[]string{"--transport", "tcp", "--response-framing", "xml"}, []string{"--response-framing", "json, length, raw"}},
		{[]string{"--transport", "unix"}, []string{"--address PATH is required with --transport unix"}},
		{[]string{"--transport", "unixgram"}, []string{"--address PATH is required with --transport unixgram"}},
		{[]string{"--transport", "tcp", "--unix-mode", "0660"}, []string{"--unix-mode is only for --transport unix and unixgram"}},
		{[]string{"--transport", "tcp", "--exec-timeout", "1s"}, []string{"--exec-timeout is only for --handler exec"}},
		{[]string{"--transport", "tcp", "--handler", "upper", "--exec-allow", "ls"}, []string{"--exec-allow is only for --handler exec"}},
		{[]string{"--transport", "tcp", "--handler", "exec", "--exec-max-output", "-1"}, []string{"--exec-max-output"}},
		{[]string{"--transport", "tcp", "--byte-order", "middle"}, []string{"--byte-order", "little, big"}},
		{[]string{"--transport", "tcp", "-o", "yaml"}, []string{"--output", "table, json"}},
		{nil, []string{`"transport"`, "not set"}},
		{[]string{"--transport", "tcp", "--handler", "script"}, []string{"--handler script needs --script FILE"}},
		{[]string{"--transport", "tcp", "--tls-min-version", "1.1"}, []string{"--tls-min-version", "1.2, 1.3"}},
		{[]string{"--transport", "tcp", "--fault", "drop,probability=2"}, []string{`--fault "drop,probability=2"`, "from 0 to 1"}},
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
// state, transport and handler, and one with every field unset.
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
		{
			Id: "shout", Transport: sockplanev1.Transport_TRANSPORT_UNIX, Address: "/run/sockplane/shout.sock",
			Handler: sockplanev1.Handler_HANDLER_UPPER, UnixMode: proto.String("0660"),
			Framing: &sockplanev1.FramingConfig{
				Request:   sockplanev1.Framing_FRAMING_RAW,
				Response:  sockplanev1.Framing_FRAMING_RAW,
				ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_LITTLE_ENDIAN,
			},
			Status: &sockplanev1.ListenerStatus{
				State: sockplanev1.State_STATE_RUNNING, BoundAddress: "/run/sockplane/shout.sock", Stats: stats(1, 3, 3, 0),
			},
		},
		{
			// A path with a space is quoted in the table, to stay one column.
			Id: "dgram-sock", Transport: sockplanev1.Transport_TRANSPORT_UNIXGRAM, Address: "/tmp/my sockets/d.sock",
			Handler: sockplanev1.Handler_HANDLER_ECHO, UnixMode: proto.String("0600"),
			Status: &sockplanev1.ListenerStatus{State: sockplanev1.State_STATE_STOPPED, Stats: stats(0, 2, 2, 0)},
		},
		{
			Id: "cmd", Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:9000",
			Handler: sockplanev1.Handler_HANDLER_EXEC,
			Framing: &sockplanev1.FramingConfig{
				Request:   sockplanev1.Framing_FRAMING_RAW,
				Response:  sockplanev1.Framing_FRAMING_JSON_HEADER,
				ByteOrder: sockplanev1.ByteOrder_BYTE_ORDER_LITTLE_ENDIAN,
			},
			Exec: &sockplanev1.ExecOptions{
				Allow: []string{"uname", "date"}, Timeout: durationpb.New(5 * time.Second),
				MaxOutputBytes: 65536, MaxConcurrent: 4,
			},
			Status: &sockplanev1.ListenerStatus{
				State: sockplanev1.State_STATE_RUNNING, BoundAddress: "127.0.0.1:9000", Stats: stats(1, 4, 4, 0),
			},
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

// TestCreateUnix creates Unix stream and datagram listeners from the
// command line and talks to them through their socket files.
func TestCreateUnix(t *testing.T) {
	t.Parallel()
	server, _ := startDaemon(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		transport, flag string
	}{
		{"unix", "--unix"},
		{"unixgram", "--unixgram"},
	} {
		path := filepath.Join(dir, tc.transport+".sock")
		out := mustSockctl(t, "listeners", "create", "--server", server, "--id", tc.transport,
			"--transport", tc.transport, "--address", path, "--unix-mode", "0660", "--handler", "upper", "--framing", "raw")
		if r := row(t, out, tc.transport); strings.Join(r[1:5], " ") != tc.transport+" upper running "+path {
			t.Errorf("create --transport %s:\n%s", tc.transport, out)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
			t.Errorf("socket file %s: %v, %v; want a socket with mode 0660", path, fi, err)
		}
		if out := mustSockctl(t, "send", "--framing", "raw", tc.flag, path, "hello", "world"); out != "HELLO\nWORLD\n" {
			t.Errorf("send %s: %q", tc.flag, out)
		}
		var l sockplanev1.Listener
		unmarshal(t, mustSockctl(t, "listeners", "get", tc.transport, "-o", "json", "--server", server), &l)
		if l.GetUnixMode() != "0660" || l.GetFraming().GetRequest() != sockplanev1.Framing_FRAMING_RAW ||
			l.GetFraming().GetResponse() != sockplanev1.Framing_FRAMING_RAW {
			t.Errorf("get %s: %v", tc.transport, &l)
		}
	}
}

// TestCreateExec creates the tutorial's command server from the command
// line, every exec option set, and talks to it as the tutorial's client
// does: the bare command in, a JSON-header reply out.
func TestCreateExec(t *testing.T) {
	t.Parallel()
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Skip("no echo program in PATH: cannot run the exec handler")
	}
	server, _ := startDaemon(t, registry.Policy{ExecAllow: []string{"echo", "true"}})
	dir := t.TempDir()
	out := mustSockctl(t, "listeners", "create", "--server", server, "-o", "json", "--id", "cmd",
		"--transport", "tcp", "--handler", "exec", "--request-framing", "raw",
		"--exec-allow", "echo", "--exec-timeout", "2s", "--exec-max-output", "1000", "--exec-max-concurrent", "2", "--exec-dir", dir)
	var l sockplanev1.Listener
	unmarshal(t, out, &l)
	e := l.GetExec()
	if l.GetHandler() != sockplanev1.Handler_HANDLER_EXEC || strings.Join(e.GetAllow(), ",") != "echo" ||
		e.GetTimeout().AsDuration() != 2*time.Second || e.GetMaxOutputBytes() != 1000 || e.GetMaxConcurrent() != 2 || e.GetWorkingDir() != dir {
		t.Errorf("created %v", &l)
	}
	if l.GetFraming().GetRequest() != sockplanev1.Framing_FRAMING_RAW || l.GetFraming().GetResponse() != sockplanev1.Framing_FRAMING_JSON_HEADER {
		t.Errorf("framing %v, want raw requests and JSON-header replies", l.GetFraming())
	}
	addr := l.GetStatus().GetBoundAddress()

	// No shell runs: the ; and what follows are echo's arguments.
	if out := mustSockctl(t, "send", "--request-framing", "raw", addr, "echo hello", "echo a; rm -rf x"); out != "hello\n\na; rm -rf x\n\n" {
		t.Errorf("send: %q (echo is %s)", out, echo)
	}
	out, _, err = sockctl(t, "echo hi\ntrue\n", "chat", "--request-framing", "raw", addr)
	if code := exitCode(err, io.Discard); code != 127 {
		t.Errorf("chat: exit status %d (%v), want the refused command's 127", code, err)
	}
	// true is allowed by the daemon but not by this listener: the reply
	// says so, with the shell's exit code for a command not found.
	refusal := "sockplane: true: not allowed (allowed: echo)\n"
	want := `>>> {"data_size": 3, "exit_code": 0, "stdout_size": 3, "stderr_size": 0, "truncated": false, "timed_out": false}` + "\nhi\n\n" +
		fmt.Sprintf(`>>> {"data_size": %d, "exit_code": 127, "stdout_size": 0, "stderr_size": %[1]d, "truncated": false, "timed_out": false}`, len(refusal)) +
		"\n" + refusal + "\n>>> \n"
	if out != want {
		t.Errorf("chat:\n%s\nwant:\n%s", out, want)
	}
}
