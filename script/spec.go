package script

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/sockplane/sockplane/match"
)

// Then is what happens to the connection after a reply.
type Then int

// The Then values.
const (
	// ThenKeepOpen leaves the connection open for the next frame.
	ThenKeepOpen Then = iota
	// ThenClose closes the connection (FIN) once the reply has left.
	ThenClose
	// ThenReset resets the connection (RST) once the reply has left.
	ThenReset
)

var thenNames = [...]string{
	ThenKeepOpen: "THEN_KEEP_OPEN",
	ThenClose:    "THEN_CLOSE",
	ThenReset:    "THEN_RESET",
}

func (t Then) String() string {
	if t.valid() {
		return thenNames[t]
	}
	return "then(" + strconv.Itoa(int(t)) + ")"
}

func (t Then) valid() bool { return t >= 0 && int(t) < len(thenNames) }

// MarshalText implements encoding.TextMarshaler: the API's name, e.g.
// "THEN_CLOSE".
func (t Then) MarshalText() ([]byte, error) {
	if !t.valid() {
		return nil, fmt.Errorf("unknown then %d", int(t))
	}
	return []byte(thenNames[t]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Then) UnmarshalText(b []byte) error {
	for i, name := range thenNames {
		if name == string(b) {
			*t = Then(i)
			return nil
		}
	}
	return fmt.Errorf("unknown then %q", b)
}

// MaxDelay bounds Reply.Delay: a script stands in for a slow server, not
// one that holds a connection's replies back for good.
const MaxDelay = time.Minute

// Reply is what a rule, the default or the greeting sends. The JSON names
// of the fields are in the comments.
type Reply struct {
	// Body (body) is the reply's body as UTF-8 text.
	Body *string
	// BodyBase64 (bodyBase64) is the reply's body as standard base64,
	// padded or not, for bytes that are not text.
	BodyBase64 string
	// Echo (echo) replies with the request's body. At most one of Body,
	// BodyBase64 and Echo is set; with none the body is empty.
	Echo bool
	// Header (header) holds extra JSON header fields, sent as strings
	// after "data_size" in the order of their names. Only the JSON header
	// framing has a place for them.
	Header map[string]string
	// Delay (delay) holds the reply back, at most MaxDelay. The
	// connection goes on reading meanwhile, and its later replies leave
	// after this one, so replies stay in order.
	Delay time.Duration
	// NoReply (noReply) sends nothing; Then still applies, so a rule can
	// close or reset without a word.
	NoReply bool
	// Then (then) says what happens to the connection after the reply.
	// Datagram transports have no connection: only ThenKeepOpen is valid
	// there.
	Then Then
}

// Rule answers the frames its Match (match) holds for with its Reply
// (reply).
type Rule struct {
	Match match.Spec
	Reply Reply
}

// Spec is a script, as the API spells it.
type Spec struct {
	// Greeting (greeting) is sent when a stream connection opens, before
	// any frame; datagram transports refuse one. It cannot echo, as there
	// is no request yet. Nil: none.
	Greeting *Reply
	// Rules (rules) are tried in order; the first that matches answers.
	Rules []Rule
	// Default (default) answers the frames no rule matches. Nil: they get
	// an error frame.
	Default *Reply
}

// Clone returns a deep copy of s, which shares nothing with it.
func (s Spec) Clone() Spec {
	s.Greeting = cloneReplyPtr(s.Greeting)
	s.Default = cloneReplyPtr(s.Default)
	if s.Rules != nil {
		rules := make([]Rule, len(s.Rules))
		for i, r := range s.Rules {
			rules[i] = Rule{Match: r.Match.Clone(), Reply: r.Reply.clone()}
		}
		s.Rules = rules
	}
	return s
}

func cloneReplyPtr(r *Reply) *Reply {
	if r == nil {
		return nil
	}
	c := r.clone()
	return &c
}

func (r Reply) clone() Reply {
	if r.Body != nil {
		b := *r.Body
		r.Body = &b
	}
	r.Header = maps.Clone(r.Header)
	return r
}

// Equal reports whether a and b are the same script. Nil and empty maps
// and slices are equal; a nil Body and a Body of "" are not, as they are
// spelled differently.
func Equal(a, b Spec) bool {
	return equalReplyPtr(a.Greeting, b.Greeting) &&
		equalReplyPtr(a.Default, b.Default) &&
		slices.EqualFunc(a.Rules, b.Rules, func(x, y Rule) bool {
			return match.Equal(x.Match, y.Match) && equalReply(x.Reply, y.Reply)
		})
}

func equalReplyPtr(a, b *Reply) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equalReply(*a, *b)
}

func equalReply(a, b Reply) bool {
	return equalStringPtr(a.Body, b.Body) &&
		a.BodyBase64 == b.BodyBase64 &&
		a.Echo == b.Echo &&
		maps.Equal(a.Header, b.Header) &&
		a.Delay == b.Delay &&
		a.NoReply == b.NoReply &&
		a.Then == b.Then
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
