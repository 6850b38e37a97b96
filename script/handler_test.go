package script

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

func ptr(s string) *string { return &s }

// issueSpec is the example script of the issue.
func issueSpec() Spec {
	return Spec{
		Greeting: &Reply{Body: ptr("220 ready")},
		Rules: []Rule{
			{Match: match.Spec{BodyPrefix: "GET "}, Reply: Reply{Body: ptr("OK")}},
			{Match: match.Spec{BodyEquals: ptr("bye")}, Reply: Reply{Body: ptr("BYE"), Then: ThenClose}},
			{Match: match.Spec{BodyRegex: "^ping [0-9]+$"}, Reply: Reply{Body: ptr("pong"), Delay: 50 * time.Millisecond}},
			{Match: match.Spec{Header: map[string]string{"cmd": "get"}}, Reply: Reply{BodyBase64: "AAEC", Header: map[string]string{"status": "ok"}}},
			{Match: match.Spec{BodyContains: "boom"}, Reply: Reply{Then: ThenReset, NoReply: true}},
		},
		Default: &Reply{Echo: true},
	}
}

func request(header, body string) *rawsock.Request {
	var h []byte
	if header != "" {
		h = []byte(header)
	}
	return rawsock.NewRequest(context.Background(), h, []byte(body))
}

func TestServeFrame(t *testing.T) {
	tests := []struct {
		name         string
		header, body string
		want         string
	}{
		{"bodyPrefix", "", "GET /x", `reply "OK"`},
		{"bodyEquals then close", "", "bye", `reply "BYE"; close`},
		{"bodyEquals is exact", "", "bye!", `reply "bye!"`},
		{"bodyRegex with delay", "", "ping 42", `delay 50ms; reply "pong"`},
		{"header with base64 body and extras", `{"data_size": 3, "cmd": "get"}`, "abc", `reply "\x00\x01\x02" status=ok`},
		{"header condition on a frame without one", "", "abc", `reply "abc"`},
		{"noReply then reset", "", "kaboom", `reset`},
		{"first rule wins", "", "GET boom", `reply "OK"`},
		{"default echo", "", "hello", `reply "hello"`},
		{"default echo of an empty body", "", "", `reply ""`},
	}
	h, err := New(issueSpec(), Options{ResponseFraming: wire.FramingJSONHeader})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w fakeWriter
			h.ServeFrame(&w, request(tt.header, tt.body))
			if got := w.String(); got != tt.want {
				t.Errorf("ServeFrame(%s %q) did %s, want %s", tt.header, tt.body, got, tt.want)
			}
		})
	}
}

func TestReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{"none of body, bodyBase64, echo: empty body", Reply{}, `reply ""`},
		{"empty body", Reply{Body: ptr("")}, `reply ""`},
		{"text", Reply{Body: ptr("héllo")}, `reply "héllo"`},
		{"base64 unpadded", Reply{BodyBase64: "aGk"}, `reply "hi"`},
		{"echo", Reply{Echo: true}, `reply "req"`},
		{"echo with header", Reply{Echo: true, Header: map[string]string{"b": "2", "a": "1"}}, `reply "req" a=1 b=2`},
		{"header sorted", Reply{Header: map[string]string{"z": "", "m": "x", "a": "y"}}, `reply "" a=y m=x z=`},
		{"keep open explicitly", Reply{Body: ptr("x"), Then: ThenKeepOpen}, `reply "x"`},
		{"close", Reply{Body: ptr("x"), Then: ThenClose}, `reply "x"; close`},
		{"reset", Reply{Body: ptr("x"), Then: ThenReset}, `reply "x"; reset`},
		{"delay then close", Reply{Body: ptr("x"), Delay: time.Second, Then: ThenClose}, `delay 1s; reply "x"; close`},
		{"zero delay is none", Reply{Body: ptr("x"), Delay: 0}, `reply "x"`},
		{"longest delay", Reply{Body: ptr("x"), Delay: MaxDelay}, `delay 1m0s; reply "x"`},
		{"noReply keeps open", Reply{NoReply: true}, ``},
		{"noReply then close", Reply{NoReply: true, Then: ThenClose}, `close`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Spec{Rules: []Rule{{Reply: tt.reply}}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var w fakeWriter
			h.ServeFrame(&w, request("", "req"))
			if got := w.String(); got != tt.want {
				t.Errorf("did %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUnmatched(t *testing.T) {
	h, err := New(Spec{Rules: []Rule{{Match: match.Spec{BodyPrefix: "a"}, Reply: Reply{Body: ptr("A")}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var w fakeWriter
	h.ServeFrame(&w, request("", "b"))
	if got, want := w.String(), "error no rule matches the frame"; got != want {
		t.Errorf("did %s, want %s", got, want)
	}
	if got := h.Hits(); got.Unmatched != 1 || got.Default != 0 || got.Rules[0] != 0 {
		t.Errorf("Hits() = %+v", got)
	}
}

func TestEmptyScript(t *testing.T) {
	h, err := New(Spec{}, Options{Datagram: true})
	if err != nil {
		t.Fatal(err)
	}
	var w fakeWriter
	h.ServeFrame(&w, request("", "x"))
	h.Greet(&w, request("", ""))
	if got, want := w.String(), "error no rule matches the frame"; got != want {
		t.Errorf("did %s, want %s", got, want)
	}
	if got := h.Hits(); len(got.Rules) != 0 || got.Unmatched != 1 {
		t.Errorf("Hits() = %+v", got)
	}
}

func TestGreet(t *testing.T) {
	tests := []struct {
		name     string
		greeting *Reply
		want     string
	}{
		{"none", nil, ``},
		{"text", &Reply{Body: ptr("220 ready")}, `reply "220 ready"`},
		{"base64 with header", &Reply{BodyBase64: "AA==", Header: map[string]string{"hello": "1"}}, `reply "\x00" hello=1`},
		{"busy: greet and close", &Reply{Body: ptr("421 busy"), Then: ThenClose}, `reply "421 busy"; close`},
		{"delayed", &Reply{Body: ptr("hi"), Delay: time.Millisecond}, `delay 1ms; reply "hi"`},
		{"reset on connect", &Reply{NoReply: true, Then: ThenReset}, `reset`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Spec{Greeting: tt.greeting}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var w fakeWriter
			h.Greet(&w, request("", ""))
			if got := w.String(); got != tt.want {
				t.Errorf("Greet did %s, want %s", got, tt.want)
			}
			if got := h.Hits(); got.Unmatched != 0 || got.Default != 0 {
				t.Errorf("Greet counted a frame: %+v", got)
			}
		})
	}
}

func TestHits(t *testing.T) {
	h, err := New(issueSpec(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"GET a", "GET b", "bye", "ping 1", "x", "y", "z", "boom"} {
		h.ServeFrame(&fakeWriter{}, request("", body))
	}
	h.ServeFrame(&fakeWriter{}, request(`{"data_size": 0, "cmd": "get"}`, ""))
	want := Hits{Rules: []uint64{2, 1, 1, 1, 1}, Default: 3}
	if got := h.Hits(); !slices.Equal(got.Rules, want.Rules) || got.Default != want.Default || got.Unmatched != want.Unmatched {
		t.Errorf("Hits() = %+v, want %+v", got, want)
	}
}

// The counters are shared by every connection of a listener.
func TestHitsConcurrent(t *testing.T) {
	h, err := New(issueSpec(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, frames = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range frames {
				h.ServeFrame(nopWriter{}, request("", "GET /"))
				h.ServeFrame(nopWriter{}, request("", "other"))
				_ = h.Hits()
			}
		})
	}
	wg.Wait()
	if got := h.Hits(); got.Rules[0] != goroutines*frames || got.Default != goroutines*frames {
		t.Errorf("Hits() = %+v, want %d for rule 0 and default", got, goroutines*frames)
	}
}

// A reply that echoes, or sends a fixed body, without header extras is
// on the hot path: it must not allocate per frame.
func TestServeFrameDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h, err := New(Spec{
		Rules: []Rule{
			{Match: match.Spec{BodyPrefix: "GET "}, Reply: Reply{Body: ptr("OK")}},
			{Match: match.Spec{BodyContains: "raw"}, Reply: Reply{BodyBase64: "AAEC", Then: ThenClose}},
			{Match: match.Spec{BodyRegex: `^ping [0-9]+$`}, Reply: Reply{Echo: true, Delay: time.Millisecond}},
		},
		Default: &Reply{Echo: true},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"GET /index.html", "a raw one", "ping 12", "unmatched"} {
		r := request("", body)
		if allocs := testing.AllocsPerRun(1000, func() { h.ServeFrame(nopWriter{}, r) }); allocs != 0 {
			t.Errorf("ServeFrame(%q) allocates %v times per frame, want 0", body, allocs)
		}
	}
}

// Echo must send the request's body as it is when it is served: the
// engine reuses the buffer afterwards, which the writer copes with.
func TestEchoSendsTheRequestBody(t *testing.T) {
	h, err := New(Spec{Default: &Reply{Echo: true}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	w := replyFunc(func(body []byte) { got = body })
	r := request("", "abc")
	h.ServeFrame(w, r)
	if &got[0] != &r.Body[0] {
		t.Error("echo copied the body; the writer copies it already")
	}
}

type replyFunc func([]byte)

func (f replyFunc) Reply(body []byte, _ ...wire.HeaderField) error { f(body); return nil }
func (replyFunc) ReplyError(string) error                          { return nil }
func (replyFunc) Delay(time.Duration)                              {}
func (replyFunc) CloseAfterReply(bool)                             {}
