// Package match compiles a condition on a frame, as the API spells it,
// into a Matcher that tests frames on the engine's hot path without
// allocating: body conditions compare the body as it is, and header
// conditions walk the JSON header in place instead of decoding it. The
// script handler uses it to pick the rule that answers a frame.
package match

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/sockplane/sockplane/rawsock"
)

// Spec is a condition on a frame. Every field that is set must hold; the
// zero Spec matches every frame. The JSON names of the fields are in the
// comments.
type Spec struct {
	// BodyEquals (bodyEquals): the body is exactly this UTF-8 text. Nil
	// sets no condition; "" means an empty body.
	BodyEquals *string
	// BodyPrefix (bodyPrefix): the body starts with this text.
	BodyPrefix string
	// BodyContains (bodyContains): the body contains this text.
	BodyContains string
	// BodyRegex (bodyRegex): an RE2 expression (package regexp) that
	// matches somewhere in the body bytes; anchor it with ^ and $ to match
	// the whole body.
	BodyRegex string
	// BodyBase64 (bodyBase64): the body is exactly these bytes, in
	// standard base64 with or without padding. It is how a condition says
	// "these bytes" when they are not UTF-8 text.
	BodyBase64 string
	// Header (header): a subset of the JSON header's top-level fields. A
	// value matches a field that is a JSON string with that text, or any
	// other field whose compact JSON text it is, so "5" matches 5, "true"
	// matches true and "null" matches null. A frame without a JSON header
	// matches no Header condition.
	Header map[string]string
}

// IsZero reports whether s sets no condition, so that it matches every
// frame.
func (s Spec) IsZero() bool {
	return s.BodyEquals == nil && s.BodyPrefix == "" && s.BodyContains == "" &&
		s.BodyRegex == "" && s.BodyBase64 == "" && len(s.Header) == 0
}

// Matcher is a compiled Spec. It is immutable, so any number of
// goroutines may use one at once.
type Matcher struct {
	// The body conditions are []byte once, here, so that Match compares
	// the body as it is without converting it.
	equals    []byte
	hasEquals bool
	bytesEq   []byte // from BodyBase64
	hasBytes  bool
	prefix    []byte
	contains  []byte
	re        *regexp.Regexp
	header    []headerCond // sorted by name, for a deterministic order
}

// Compile checks s and compiles it. Its errors are *rawsock.FieldError
// naming the field by its JSON name, e.g. "bodyRegex".
func Compile(s Spec) (*Matcher, error) {
	m := &Matcher{
		prefix:   []byte(s.BodyPrefix),
		contains: []byte(s.BodyContains),
	}
	if s.BodyEquals != nil {
		m.equals, m.hasEquals = []byte(*s.BodyEquals), true
	}
	if s.BodyBase64 != "" {
		b, err := DecodeBase64(s.BodyBase64)
		if err != nil {
			return nil, fieldErrorf("bodyBase64", "not standard base64: %v", err)
		}
		m.bytesEq, m.hasBytes = b, true
	}
	if s.BodyRegex != "" {
		re, err := regexp.Compile(s.BodyRegex)
		if err != nil {
			return nil, fieldErrorf("bodyRegex", "%v", err)
		}
		m.re = re
	}
	for _, name := range slices.Sorted(maps.Keys(s.Header)) {
		m.header = append(m.header, headerCond{name: name, value: s.Header[name]})
	}
	return m, nil
}

// DecodeBase64 reads the bytes of a bodyBase64: standard base64 with its
// padding, or without it, as people who write a test's bytes by hand
// often leave it off. Scripts' replies read theirs with it too.
func DecodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	if b, rawErr := base64.RawStdEncoding.DecodeString(s); rawErr == nil {
		return b, nil
	}
	return nil, err
}

// Match reports whether a frame with this JSON header (nil when its
// framing has none) and body meets every condition. A nil Matcher matches
// every frame. The body conditions never allocate; a header condition
// allocates only to decode a key or value with escapes in it.
func (m *Matcher) Match(header, body []byte) bool {
	if m == nil {
		return true
	}
	// Cheapest tests first: most frames fail on one of them.
	if m.hasEquals && !bytes.Equal(body, m.equals) {
		return false
	}
	if m.hasBytes && !bytes.Equal(body, m.bytesEq) {
		return false
	}
	if !bytes.HasPrefix(body, m.prefix) {
		return false
	}
	if len(m.contains) > 0 && !bytes.Contains(body, m.contains) {
		return false
	}
	if m.re != nil && !m.re.Match(body) {
		return false
	}
	if len(m.header) > 0 && !matchHeader(header, m.header) {
		return false
	}
	return true
}

func fieldErrorf(field, format string, args ...any) *rawsock.FieldError {
	return &rawsock.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
