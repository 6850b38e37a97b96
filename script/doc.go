// Package script is the HANDLER_SCRIPT handler: it answers each frame by
// a list of rules, for tests that need a server which says given things
// to given frames. A rule pairs a condition (package match) with a reply:
// a body, the request's own body or nothing, extra JSON header fields, a
// delay, and whether the connection then stays open, closes or is reset.
// The first rule whose condition holds answers; a default reply answers
// the rest, and without one they get an error frame. A greeting can be
// sent when a stream connection opens, as an SMTP or FTP server does.
//
// New validates a Spec and compiles it into a Handler; a Handler counts
// the frames each rule answered (Hits).
package script

import (
	"fmt"

	"github.com/sockplane/sockplane/rawsock"
)

// fieldErrorf reports an invalid field of a Spec by its JSON path
// relative to the script, e.g. "rules[2].match.bodyRegex".
func fieldErrorf(field, format string, args ...any) *rawsock.FieldError {
	return &rawsock.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
