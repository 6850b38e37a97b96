package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sockplane/sockplane/wire"
)

// These guess, from a reply that went wrong, at the framing flag that
// does not match the listener's: the listener's framing cannot be asked
// for on the wire, but its replies show it.

// requestFramingHint is added to an error a listener sent before any
// reply when the words say it could not read the request at all.
const requestFramingHint = " (the listener could not read the request: do --framing or --request-framing, and --byte-order, match the listener's?)"

// unreadableRequest says whether msg, an error a listener sent, is one
// of a request in another framing: not JSON where a header should be, or
// a header length that is 4 bytes of text.
func unreadableRequest(msg string) bool {
	return strings.HasPrefix(msg, wire.ErrMalformedFrame.Error()) || strings.Contains(msg, "header length")
}

// textReplyHint says, of the first bytes of a reply that did not parse
// in the response framing, that they are text, as a raw reply (the exec
// handler's message, an echo) is; or nothing.
func textReplyHint(head []byte) string {
	if len(head) < 4 || !utf8.Valid(head) || bytes.ContainsFunc(head, func(r rune) bool {
		return !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r'
	}) {
		return ""
	}
	return fmt.Sprintf("; it begins with the text %q, as a raw reply does: try --framing raw, or --response-framing raw", head)
}

// jsonFramedReply returns the JSON header of body, a reply read in the
// length or raw framing, when body is in fact a JSON-header frame: whole
// (raw), or its header alone (length, which took the header length for
// the body's). A reply equal to the request is an echo of what was sent,
// and is taken as it is.
func jsonFramedReply(body, request []byte) ([]byte, bool) {
	if bytes.Equal(body, request) {
		return nil, false
	}
	for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
		c := wire.Codec{Framing: wire.FramingJSONHeader, ByteOrder: order}
		if f, n, _, err := c.Parse(body); err == nil && n == len(body) {
			return f.Header, true
		}
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(body, &h) != nil {
		return nil, false
	}
	_, ok := h["data_size"]
	return body, ok
}

// checkJSONFramed fails a reply read in the length or raw framing that is
// a JSON-header frame: the listener speaks that framing, and the frame
// is, as often as not, its error for a request it could not read.
func (c *frameConn) checkJSONFramed(f wire.Frame, request []byte) error {
	if c.response.Framing == wire.FramingJSONHeader {
		return nil
	}
	header, ok := jsonFramedReply(f.Body, request)
	if !ok {
		return nil
	}
	const hint = " (the reply is a JSON-header frame: the listener's replies are --response-framing json, the default)"
	if msg, ok := headerError(header); ok {
		return &serverError{addr: c.addr, msg: msg, hint: hint}
	}
	return fmt.Errorf("bad reply from %s: %s%s", c.addr, header, hint)
}
