package script

import (
	"testing"
	"time"

	"github.com/sockplane/sockplane/match"
)

func TestThenText(t *testing.T) {
	for _, th := range []Then{ThenKeepOpen, ThenClose, ThenReset} {
		b, err := th.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText: %v", th, err)
		}
		if string(b) != th.String() {
			t.Errorf("MarshalText = %q, String = %q", b, th.String())
		}
		var back Then
		if err := back.UnmarshalText(b); err != nil || back != th {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, th)
		}
	}
	if got := ThenClose.String(); got != "THEN_CLOSE" {
		t.Errorf("ThenClose.String() = %q", got)
	}
	if got := Then(7).String(); got != "then(7)" {
		t.Errorf("Then(7).String() = %q", got)
	}
	if _, err := Then(7).MarshalText(); err == nil {
		t.Error("Then(7).MarshalText succeeded")
	}
	var th Then
	if err := th.UnmarshalText([]byte("THEN_EXPLODE")); err == nil {
		t.Error(`UnmarshalText("THEN_EXPLODE") succeeded`)
	}
}

func TestCloneAndEqual(t *testing.T) {
	s := issueSpec()
	c := s.Clone()
	if !Equal(s, c) {
		t.Fatal("the clone is not Equal")
	}
	*c.Greeting.Body = "x"
	c.Rules[0].Match.BodyPrefix = "x"
	*c.Rules[1].Match.BodyEquals = "x"
	c.Rules[3].Match.Header["cmd"] = "x"
	c.Rules[3].Reply.Header["status"] = "x"
	c.Default.Echo = false
	if !Equal(s, issueSpec()) {
		t.Error("changing the clone changed the original")
	}
	if got := (Spec{}).Clone(); !Equal(got, Spec{}) || got.Rules != nil || got.Greeting != nil || got.Default != nil {
		t.Errorf("Spec{}.Clone() = %+v", got)
	}

	change := func(f func(*Spec)) Spec {
		s := issueSpec()
		f(&s)
		return s
	}
	tests := []struct {
		name string
		a, b Spec
		want bool
	}{
		{"same", issueSpec(), issueSpec(), true},
		{"nil and empty rules", Spec{}, Spec{Rules: []Rule{}}, true},
		{"nil and empty reply header", Spec{Default: &Reply{}}, Spec{Default: &Reply{Header: map[string]string{}}}, true},
		{"no greeting", issueSpec(), change(func(s *Spec) { s.Greeting = nil }), false},
		{"no default", issueSpec(), change(func(s *Spec) { s.Default = nil }), false},
		{"greeting body", issueSpec(), change(func(s *Spec) { s.Greeting.Body = ptr("x") }), false},
		{"nil and empty body", Spec{Default: &Reply{}}, Spec{Default: &Reply{Body: ptr("")}}, false},
		{"fewer rules", issueSpec(), change(func(s *Spec) { s.Rules = s.Rules[:4] }), false},
		{"rules swapped", issueSpec(), change(func(s *Spec) { s.Rules[0], s.Rules[1] = s.Rules[1], s.Rules[0] }), false},
		{"match", issueSpec(), change(func(s *Spec) { s.Rules[2].Match = match.Spec{} }), false},
		{"bodyBase64", issueSpec(), change(func(s *Spec) { s.Rules[3].Reply.BodyBase64 = "AA" }), false},
		{"echo", issueSpec(), change(func(s *Spec) { s.Default.Echo = false }), false},
		{"header", issueSpec(), change(func(s *Spec) { s.Rules[3].Reply.Header = nil }), false},
		{"delay", issueSpec(), change(func(s *Spec) { s.Rules[2].Reply.Delay = time.Second }), false},
		{"noReply", issueSpec(), change(func(s *Spec) { s.Rules[4].Reply.NoReply = false }), false},
		{"then", issueSpec(), change(func(s *Spec) { s.Rules[4].Reply.Then = ThenClose }), false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
		if got := Equal(tt.b, tt.a); got != tt.want {
			t.Errorf("%s: Equal (swapped) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
