package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// recordingService answers the calls of sockctl with canned replies and
// keeps the requests: what the commands send, whatever the real
// server does with it.
type recordingService struct {
	sockplanev1.UnimplementedListenerServiceServer
	// pages are the ListListeners replies by page token.
	pages map[string]*sockplanev1.ListListenersResponse
	// deleted is the BatchDeleteListeners reply's ids.
	deleted []string

	mu   sync.Mutex
	reqs []proto.Message
}

func (s *recordingService) record(m proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, proto.Clone(m))
}

// requests returns the requests since the last call.
func (s *recordingService) requests() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func (s *recordingService) ListListeners(_ context.Context, req *sockplanev1.ListListenersRequest) (*sockplanev1.ListListenersResponse, error) {
	s.record(req)
	return s.pages[req.GetPageToken()], nil
}

func (s *recordingService) UpdateListener(_ context.Context, req *sockplanev1.UpdateListenerRequest) (*sockplanev1.UpdateListenerResponse, error) {
	s.record(req)
	return &sockplanev1.UpdateListenerResponse{Listener: req.GetListener()}, nil
}

func (s *recordingService) StopListener(_ context.Context, req *sockplanev1.StopListenerRequest) (*sockplanev1.StopListenerResponse, error) {
	s.record(req)
	return &sockplanev1.StopListenerResponse{Listener: &sockplanev1.Listener{Id: req.GetId()}}, nil
}

func (s *recordingService) StartListener(_ context.Context, req *sockplanev1.StartListenerRequest) (*sockplanev1.StartListenerResponse, error) {
	s.record(req)
	return &sockplanev1.StartListenerResponse{Listener: &sockplanev1.Listener{Id: req.GetId()}}, nil
}

func (s *recordingService) DeleteListener(_ context.Context, req *sockplanev1.DeleteListenerRequest) (*sockplanev1.DeleteListenerResponse, error) {
	s.record(req)
	return &sockplanev1.DeleteListenerResponse{}, nil
}

func (s *recordingService) BatchDeleteListeners(_ context.Context, req *sockplanev1.BatchDeleteListenersRequest) (*sockplanev1.BatchDeleteListenersResponse, error) {
	s.record(req)
	return &sockplanev1.BatchDeleteListenersResponse{DeletedIds: s.deleted}, nil
}

// startRecording serves svc on 127.0.0.1:0 and returns its address.
func startRecording(tb testing.TB, svc *recordingService) string {
	tb.Helper()
	s := grpc.NewServer()
	sockplanev1.RegisterListenerServiceServer(s, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Stop()
		select {
		case <-served:
		case <-time.After(testTimeout):
			tb.Errorf("grpc server did not stop within %v", testTimeout)
		}
	})
	return ln.Addr().String()
}

// wantRequests compares the requests svc got with want.
func wantRequests(tb testing.TB, svc *recordingService, what string, want ...proto.Message) {
	tb.Helper()
	got := svc.requests()
	if len(got) != len(want) {
		tb.Errorf("%s: %d requests %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			tb.Errorf("%s: request %d\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

// TestListReadsEveryPage: list asks for pages of 1000 with the selector,
// follows next_page_token to the end, and prints every listener once.
func TestListReadsEveryPage(t *testing.T) {
	t.Parallel()
	page := func(next string, ids ...string) *sockplanev1.ListListenersResponse {
		resp := &sockplanev1.ListListenersResponse{NextPageToken: next}
		for _, id := range ids {
			resp.Listeners = append(resp.Listeners, &sockplanev1.Listener{Id: id, Transport: sockplanev1.Transport_TRANSPORT_TCP})
		}
		return resp
	}
	svc := &recordingService{pages: map[string]*sockplanev1.ListListenersResponse{
		"":   page("t2", "a", "b"),
		"t2": page("t3", "c"),
		"t3": page("", "d", "e"),
	}}
	server := startRecording(t, svc)

	out := mustSockctl(t, "listeners", "list", "-l", "env=ci,team!=web", "--server", server)
	var ids []string
	for _, r := range tableRows(out)[1:] {
		ids = append(ids, r[0])
	}
	if strings.Join(ids, " ") != "a b c d e" {
		t.Errorf("list printed %q:\n%s", ids, out)
	}
	req := func(token string) *sockplanev1.ListListenersRequest {
		return &sockplanev1.ListListenersRequest{Filter: "env=ci,team!=web", PageSize: 1000, PageToken: token}
	}
	wantRequests(t, svc, "list -l", req(""), req("t2"), req("t3"))

	var list sockplanev1.ListListenersResponse
	unmarshal(t, mustSockctl(t, "listeners", "list", "-o", "json", "--server", server), &list)
	if len(list.GetListeners()) != 5 || list.GetNextPageToken() != "" {
		t.Errorf("list -o json: %v, want the 5 listeners of every page and no token", &list)
	}
	svc.requests()

	// A daemon that answers a token with itself would loop forever.
	svc.pages["t3"] = page("t3", "d")
	if _, _, err := sockctl(t, "", "listeners", "list", "--server", server); err == nil || !strings.Contains(err.Error(), `page token "t3"`) {
		t.Errorf("list of a looping daemon: %v", err)
	}
}

func TestUpdateSends(t *testing.T) {
	t.Parallel()
	svc := &recordingService{}
	server := startRecording(t, svc)
	mustSockctl(t, "listeners", "update", "web", "--handler", "upper", "-l", "env=ci", "--ttl", "30s", "--etag", "e-1", "--server", server)
	wantRequests(t, svc, "update", &sockplanev1.UpdateListenerRequest{
		Listener: &sockplanev1.Listener{
			Id: "web", Etag: "e-1", Handler: sockplanev1.Handler_HANDLER_UPPER,
			Labels: map[string]string{"env": "ci"}, Ttl: durationpb.New(30 * time.Second),
		},
		// --handler other than script clears the script: a script is
		// only for that handler.
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"handler", "script", "proxy", "labels", "ttl"}},
	})
}

func TestStopStartDeleteSend(t *testing.T) {
	t.Parallel()
	svc := &recordingService{deleted: []string{"a", "b"}}
	server := startRecording(t, svc)
	ctl := func(args ...string) string { return mustSockctl(t, append(args, "--server", server)...) }

	ctl("listeners", "stop", "web", "--mode", "immediate", "--drain-timeout", "3s", "--etag", "e-2")
	wantRequests(t, svc, "stop", &sockplanev1.StopListenerRequest{
		Id: "web", Mode: sockplanev1.StopMode_STOP_MODE_IMMEDIATE, DrainTimeout: durationpb.New(3 * time.Second), Etag: "e-2",
	})
	ctl("listeners", "stop", "a", "b")
	wantRequests(t, svc, "stop without flags", &sockplanev1.StopListenerRequest{Id: "a"}, &sockplanev1.StopListenerRequest{Id: "b"})
	ctl("listeners", "start", "web", "--etag", "e-3")
	wantRequests(t, svc, "start", &sockplanev1.StartListenerRequest{Id: "web", Etag: "e-3"})

	if out := ctl("listeners", "delete", "web", "--mode", "graceful", "--drain-timeout", "1s", "--etag", "e-4"); out != "deleted web\n" {
		t.Errorf("delete printed %q", out)
	}
	wantRequests(t, svc, "delete", &sockplanev1.DeleteListenerRequest{
		Id: "web", Mode: sockplanev1.StopMode_STOP_MODE_GRACEFUL, DrainTimeout: durationpb.New(time.Second), Etag: "e-4",
	})

	if out := ctl("listeners", "delete", "-l", "env=ci", "--mode", "immediate"); out != "deleted a\ndeleted b\n" {
		t.Errorf("delete -l printed %q", out)
	}
	wantRequests(t, svc, "delete -l", &sockplanev1.BatchDeleteListenersRequest{Filter: "env=ci", Mode: sockplanev1.StopMode_STOP_MODE_IMMEDIATE})
	ctl("listeners", "delete", "-l", "env=ci", "x", "--drain-timeout", "2s")
	wantRequests(t, svc, "delete -l with ids", &sockplanev1.BatchDeleteListenersRequest{Filter: "env=ci", Ids: []string{"x"}, DrainTimeout: durationpb.New(2 * time.Second)})
	if out := ctl("listeners", "delete", "-l", "env=ci", "-o", "json"); out != "{\n  \"deletedIds\": [\n    \"a\",\n    \"b\"\n  ]\n}\n" {
		t.Errorf("delete -l -o json printed %q", out)
	}
	svc.requests()

	// Refused before any call.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listeners", "stop", "a", "b", "--etag", "e"}, "--etag is for one listener"},
		{[]string{"listeners", "delete", "-l", "env=ci", "--etag", "e"}, "--etag is for one listener"},
		{[]string{"listeners", "delete"}, "-l SELECTOR"},
		{[]string{"listeners", "stop", "a", "--mode", "later"}, "graceful, immediate"},
		{[]string{"listeners", "stop", "a", "-o", "yaml"}, "--output yaml is not for sockctl listeners stop: want one of: table, json"},
		{[]string{"apply", "-f", "x.yaml", "-o", "json"}, "--output json is not for sockctl apply"},
	} {
		_, _, err := sockctl(t, "", append(tc.args, "--server", server)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.args, err, tc.want)
		}
	}
	wantRequests(t, svc, "refused commands")
}
