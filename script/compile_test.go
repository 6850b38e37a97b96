package script

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

func TestNewErrors(t *testing.T) {
	ok := Reply{Body: ptr("ok")}
	rule := func(r Reply) []Rule { return []Rule{{Reply: ok}, {Reply: r}} }
	tests := []struct {
		name  string
		spec  Spec
		opts  Options
		field string
	}{
		{"bad regex", Spec{Rules: []Rule{{Reply: ok}, {Reply: ok}, {Match: match.Spec{BodyRegex: "("}, Reply: ok}}}, Options{}, "rules[2].match.bodyRegex"},
		{"bad match base64", Spec{Rules: []Rule{{Match: match.Spec{BodyBase64: "!"}, Reply: ok}}}, Options{}, "rules[0].match.bodyBase64"},
		{"bad reply base64", Spec{Rules: []Rule{{Reply: Reply{BodyBase64: "!!"}}}}, Options{}, "rules[0].reply.bodyBase64"},
		{"body and bodyBase64", Spec{Rules: rule(Reply{Body: ptr("a"), BodyBase64: "AA=="})}, Options{}, "rules[1].reply.bodyBase64"},
		{"body and echo", Spec{Rules: rule(Reply{Body: ptr(""), Echo: true})}, Options{}, "rules[1].reply.echo"},
		{"bodyBase64 and echo", Spec{Rules: rule(Reply{BodyBase64: "AA==", Echo: true})}, Options{}, "rules[1].reply.echo"},
		{"noReply with body", Spec{Rules: rule(Reply{NoReply: true, Body: ptr("")})}, Options{}, "rules[1].reply.body"},
		{"noReply with bodyBase64", Spec{Rules: rule(Reply{NoReply: true, BodyBase64: "AA=="})}, Options{}, "rules[1].reply.bodyBase64"},
		{"noReply with echo", Spec{Rules: rule(Reply{NoReply: true, Echo: true})}, Options{}, "rules[1].reply.echo"},
		{"noReply with header", Spec{Rules: rule(Reply{NoReply: true, Header: map[string]string{"a": "b"}})}, Options{}, "rules[1].reply.header"},
		{"noReply with delay", Spec{Rules: rule(Reply{NoReply: true, Delay: time.Second, Then: ThenClose})}, Options{}, "rules[1].reply.delay"},
		{"negative delay", Spec{Rules: rule(Reply{Delay: -time.Nanosecond})}, Options{}, "rules[1].reply.delay"},
		{"delay too long", Spec{Rules: rule(Reply{Delay: MaxDelay + time.Nanosecond})}, Options{}, "rules[1].reply.delay"},
		{"unknown then", Spec{Rules: rule(Reply{Then: Then(3)})}, Options{}, "rules[1].reply.then"},
		{"negative then", Spec{Rules: rule(Reply{Then: Then(-1)})}, Options{}, "rules[1].reply.then"},
		{"close on datagram", Spec{Rules: rule(Reply{Then: ThenClose})}, Options{Datagram: true}, "rules[1].reply.then"},
		{"reset on datagram", Spec{Default: &Reply{Then: ThenReset}}, Options{Datagram: true}, "default.then"},
		{"header on length-prefixed", Spec{Rules: rule(Reply{Header: map[string]string{"a": "b"}})}, Options{ResponseFraming: wire.FramingLengthPrefixed}, "rules[1].reply.header"},
		{"header on raw", Spec{Default: &Reply{Echo: true, Header: map[string]string{"a": "b"}}}, Options{ResponseFraming: wire.FramingRaw}, "default.header"},
		{"header data_size", Spec{Rules: rule(Reply{Header: map[string]string{"data_size": "1"}})}, Options{}, `rules[1].reply.header["data_size"]`},
		{"header too big", Spec{Rules: rule(Reply{Header: map[string]string{"big": strings.Repeat("x", wire.DefaultMaxHeaderBytes)}})}, Options{}, "rules[1].reply.header"},
		{"body too big", Spec{Rules: rule(Reply{Body: ptr(strings.Repeat("x", wire.HardMaxBodyBytes+1))})}, Options{}, "rules[1].reply.body"},
		{"greeting on datagram", Spec{Greeting: &Reply{Body: ptr("hi")}}, Options{Datagram: true}, "greeting"},
		{"greeting echo", Spec{Greeting: &Reply{Echo: true}}, Options{}, "greeting.echo"},
		{"greeting bad base64", Spec{Greeting: &Reply{BodyBase64: "#"}}, Options{}, "greeting.bodyBase64"},
		{"greeting header on raw", Spec{Greeting: &Reply{Header: map[string]string{"a": "b"}}}, Options{ResponseFraming: wire.FramingRaw}, "greeting.header"},
		{"greeting delay too long", Spec{Greeting: &Reply{Delay: time.Hour}}, Options{}, "greeting.delay"},
		{"default bad base64", Spec{Default: &Reply{BodyBase64: "A"}}, Options{}, "default.bodyBase64"},
		{"default echo and body", Spec{Default: &Reply{Echo: true, Body: ptr("x")}}, Options{}, "default.echo"},
		{"default noReply with echo", Spec{Default: &Reply{NoReply: true, Echo: true}}, Options{}, "default.echo"},
		{"greeting before rules", Spec{Greeting: &Reply{Echo: true}, Rules: rule(Reply{Then: 9})}, Options{}, "greeting.echo"},
		{"rules before default", Spec{Rules: rule(Reply{Then: 9}), Default: &Reply{Then: 9}}, Options{}, "rules[1].reply.then"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.spec, tt.opts)
			var fe *rawsock.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("New = %v, %v; want a *rawsock.FieldError", h, err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if fe.Reason == "" || strings.ToLower(fe.Reason[:1]) != fe.Reason[:1] {
				t.Errorf("Reason %q: want a lower-case reason", fe.Reason)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		opts Options
	}{
		{"issue example", issueSpec(), Options{ResponseFraming: wire.FramingJSONHeader}},
		{"issue example, default framing", issueSpec(), Options{}},
		{"empty", Spec{}, Options{}},
		{"datagram without greeting or close", Spec{Rules: []Rule{{Reply: Reply{Echo: true, Delay: time.Second}}}, Default: &Reply{NoReply: true}}, Options{Datagram: true}},
		{"raw framing without header", Spec{Default: &Reply{Echo: true}}, Options{ResponseFraming: wire.FramingRaw}},
		{"empty header map on raw", Spec{Default: &Reply{Header: map[string]string{}}}, Options{ResponseFraming: wire.FramingRaw}},
		{"noReply keep open", Spec{Default: &Reply{NoReply: true}}, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.spec, tt.opts); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

// New compiles the spec: changing it afterwards changes nothing.
func TestNewCopiesTheSpec(t *testing.T) {
	s := issueSpec()
	h, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	*s.Rules[0].Reply.Body = "changed"
	s.Rules[3].Reply.Header["status"] = "changed"
	var w fakeWriter
	h.ServeFrame(&w, request("", "GET /"))
	h.ServeFrame(&w, request(`{"cmd": "get"}`, ""))
	if got, want := w.String(), `reply "OK"; reply "\x00\x01\x02" status=ok`; got != want {
		t.Errorf("did %s, want %s", got, want)
	}
}
