package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/registry"
)

// TestWatch watches a real daemon: a client comes and goes, then a
// listener is created.
func TestWatch(t *testing.T) {
	t.Parallel()
	server, reg := startDaemon(t)
	info := createListener(t, reg, registry.Spec{ID: "web", Transport: registry.TransportTCP, Handler: registry.HandlerUpper})
	createListener(t, reg, registry.Spec{ID: "other", Transport: registry.TransportTCP, Handler: registry.HandlerUpper})

	// --listener web, table
	stdout, stderr := newLineWriter(), newLineWriter()
	cancel, wait := startSockctl(t, stdout, stderr, "watch", "--listener", "web", "--server", server)
	// Once this line is out, the daemon watches: no event is missed.
	if got, want := stderr.next(t), "watching the events of listener web at "+server+"; Ctrl-C to stop"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
	// A client of another listener makes no line.
	o := dialRaw(t, createListener(t, reg, registry.Spec{Transport: registry.TransportTCP}).BoundAddr)
	o.roundTrip("x")
	c := dialRaw(t, info.BoundAddr)
	c.roundTrip("hi")
	_ = c.conn.Close()
	for _, typ := range []string{"connection-opened", "connection-closed"} {
		line := stdout.next(t)
		f := strings.Fields(line)
		if len(f) != 5 || f[1] != typ || f[2] != "web" || !strings.HasPrefix(f[3], "conn=") || f[4] != "peer="+c.addr() {
			t.Errorf("line %q, want %s web conn=ID peer=%s", line, typ, c.addr())
		}
		if _, err := time.Parse(timeLayout, f[0]); err != nil {
			t.Errorf("line %q: time: %v", line, err)
		}
	}
	cancel() // Ctrl-C
	if err := wait(); err != nil {
		t.Errorf("watch after Ctrl-C: %v", err)
	}
	if rest := stdout.rest() + stderr.rest(); rest != "" {
		t.Errorf("more output: %q", rest)
	}

	// every listener, json
	stdout, stderr = newLineWriter(), newLineWriter()
	cancel, wait = startSockctl(t, stdout, stderr, "watch", "-o", "json", "--server", server)
	if got, want := stderr.next(t), "watching the events of every listener at "+server+"; Ctrl-C to stop"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
	late := createListener(t, reg, registry.Spec{ID: "late", Transport: registry.TransportTCP})
	line := stdout.next(t)
	var resp sockplanev1.WatchEventsResponse
	unmarshal(t, line, &resp)
	e := resp.GetEvent()
	if e.GetType() != sockplanev1.EventType_EVENT_TYPE_LISTENER_CREATED || e.GetListenerId() != "late" ||
		!strings.Contains(e.GetMessage(), late.BoundAddr) || !e.GetAt().IsValid() {
		t.Errorf("event %v", e)
	}
	if !isCompactJSON(line) {
		t.Errorf("line %q is not compact JSON", line)
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("watch -o json after Ctrl-C: %v", err)
	}
}

// isCompactJSON reports whether line is JSON as json.Compact writes it.
func isCompactJSON(line string) bool {
	var buf bytes.Buffer
	return json.Compact(&buf, []byte(line)) == nil && buf.String() == line
}

// fakeWatch is a daemon whose WatchEvents sends events, then ends with
// end.
type fakeWatch struct {
	sockplanev1.UnimplementedListenerServiceServer
	events []*sockplanev1.Event
	end    error
}

func (f *fakeWatch) WatchEvents(_ *sockplanev1.WatchEventsRequest, stream grpc.ServerStreamingServer[sockplanev1.WatchEventsResponse]) error {
	for _, e := range f.events {
		if err := stream.Send(&sockplanev1.WatchEventsResponse{Event: e}); err != nil {
			return err
		}
	}
	return f.end
}

// serveGRPC serves srv on 127.0.0.1:0 until the test ends and returns its
// address.
func serveGRPC(tb testing.TB, srv sockplanev1.ListenerServiceServer) string {
	tb.Helper()
	s := grpc.NewServer()
	sockplanev1.RegisterListenerServiceServer(s, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Stop()
		<-served
	})
	return ln.Addr().String()
}

// TestWatchEnd: how the daemon ends the stream decides the exit.
func TestWatchEnd(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	events := []*sockplanev1.Event{
		{Type: sockplanev1.EventType_EVENT_TYPE_CONNECTION_OPENED, At: timestamppb.New(at), ListenerId: "web", ConnectionId: "1", PeerAddress: "127.0.0.1:5000"},
		{Type: sockplanev1.EventType_EVENT_TYPE_EVENTS_DROPPED, At: timestamppb.New(at.Add(time.Second)), Dropped: 12},
		{Type: sockplanev1.EventType_EVENT_TYPE_FRAME_ERROR, At: timestamppb.New(at.Add(2 * time.Second)), ListenerId: "web", ConnectionId: "1", PeerAddress: "127.0.0.1:5000", Message: "malformed frame: \x1b[31m"},
	}
	for _, tc := range []struct {
		name    string
		end     error
		wantErr string // "" for none
		code    codes.Code
	}{
		{"shutdown", status.Error(codes.Unavailable, "sockplane is shutting down"), "", codes.OK},
		{"other unavailable", status.Error(codes.Unavailable, "overloaded"), "unavailable: overloaded", codes.Unavailable},
		{"internal", status.Error(codes.Internal, "boom"), "internal: boom", codes.Internal},
		{"clean end", nil, "ended the watch", codes.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := serveGRPC(t, &fakeWatch{events: events, end: tc.end})
			for _, format := range []string{"table", "json"} {
				stdout, stderr, err := sockctl(t, "", "watch", "--server", server, "-o", format)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("-o %s: %v, want no error", format, err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("-o %s: %v, want an error with %q", format, err, tc.wantErr)
				case tc.wantErr != "" && status.Code(err) != tc.code:
					t.Errorf("-o %s: %v has code %v, want %v", format, err, status.Code(err), tc.code)
				}
				lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
				if len(lines) != len(events) {
					t.Fatalf("-o %s printed:\n%s", format, stdout)
				}
				for i, e := range events {
					if format == "table" {
						if want := (printer{}).eventLine(e); lines[i] != want {
							t.Errorf("line %q, want %q", lines[i], want)
						}
						continue
					}
					var got sockplanev1.WatchEventsResponse
					unmarshal(t, lines[i], &got)
					if !proto.Equal(got.GetEvent(), e) || !isCompactJSON(lines[i]) {
						t.Errorf("line %q, want %v compact", lines[i], e)
					}
				}
				wantStderr := "watching the events of every listener at " + server + "; Ctrl-C to stop\n"
				if tc.wantErr == "" {
					wantStderr += "watch ended: the daemon at " + server + " said: sockplane is shutting down\n"
				}
				if stderr != wantStderr {
					t.Errorf("stderr %q, want %q", stderr, wantStderr)
				}
			}
		})
	}
}

// TestWatchConnectTimeout: --timeout bounds connecting, to a server
// that accepts but never speaks gRPC.
func TestWatchConnectTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	addr := ln.Addr().String()
	_, _, err = sockctl(t, "", "watch", "--server", addr, "--timeout", "100ms")
	if want := "no answer from the daemon at " + addr + " within 100ms"; err == nil || err.Error() != want || status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("err = %v (code %v), want %q", err, status.Code(err), want)
	}
	var rpcErr *rpcError
	if !errors.As(err, &rpcErr) {
		t.Errorf("err is a %T, want an *rpcError", err)
	}
}
