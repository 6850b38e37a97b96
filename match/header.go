package match

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// headerCond is one field of Spec.Header.
type headerCond struct {
	name, value string
}

// maxStackConds is how many header conditions matchHeader tracks without
// allocating; scripts rarely test more fields than this at once.
const maxStackConds = 8

// matchHeader reports whether the JSON header has every field of conds
// with a matching value, as if it were decoded into a
// map[string]json.RawMessage (so when a key repeats, the last one
// counts). A nil header (a framing without one), a malformed one, or one
// that is not a JSON object matches nothing.
//
// It walks the validated header in place rather than decoding it, so
// that a header rule costs no allocation per frame unless a key or value
// has escapes to decode.
func matchHeader(header []byte, conds []headerCond) bool {
	if header == nil || !json.Valid(header) {
		return false
	}
	i := skipSpace(header, 0)
	if header[i] != '{' {
		return false // null, an array or a scalar: no fields
	}
	var stack [maxStackConds][]byte
	var found [][]byte // found[k] is the value of conds[k]'s field
	if len(conds) <= maxStackConds {
		found = stack[:len(conds)]
	} else {
		found = make([][]byte, len(conds))
	}
	i = skipSpace(header, i+1)
	for header[i] != '}' {
		keyEnd := skipString(header, i)
		key := header[i:keyEnd]
		start := skipSpace(header, skipSpace(header, keyEnd)+1) // past the ':'
		end := skipValue(header, start)
		for k := range conds {
			if keyEquals(key, conds[k].name) {
				found[k] = header[start:end]
			}
		}
		i = skipSpace(header, end)
		if header[i] == ',' {
			i = skipSpace(header, i+1)
		}
	}
	for k, c := range conds {
		if found[k] == nil || !valueMatches(found[k], c.value) {
			return false
		}
	}
	return true
}

// The scanners below run on JSON that json.Valid accepted, so they need
// not check what they skip, and an index never runs off the end before
// the closing brace of the object.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++ // the escaped byte; \uXXXX's digits are plain bytes
		}
	}
	return i + 1
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default: // a number, true, false or null
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
			i++
		}
		return i
	}
}

// stringText returns the text of the JSON string raw (quotes included)
// when that text is just the bytes between the quotes: no escapes, and
// valid UTF-8, since decoding replaces invalid bytes.
func stringText(raw []byte) (text []byte, ok bool) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return nil, false
	}
	return inner, true
}

// decodeString decodes the JSON string raw as encoding/json does.
func decodeString(raw []byte) (string, bool) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

func keyEquals(raw []byte, name string) bool {
	if text, ok := stringText(raw); ok {
		return string(text) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

// valueMatches reports whether the JSON value raw matches want: a string
// by its text, anything else by its compact JSON text.
func valueMatches(raw []byte, want string) bool {
	switch raw[0] {
	case '"':
		if text, ok := stringText(raw); ok {
			return string(text) == want
		}
		s, ok := decodeString(raw)
		return ok && s == want
	case '{', '[':
		return compactEquals(raw, want)
	default:
		// Numbers, true, false and null hold no spaces, and skipValue
		// stopped before any after them.
		return string(raw) == want
	}
}

// compactEquals reports whether want is raw with the spaces outside its
// strings elided, as json.Compact writes it, without writing it.
func compactEquals(raw []byte, want string) bool {
	j := 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case isSpace(c):
			continue
		}
		if j == len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}
