// Package command is the exec handler: the tutorial's remote-command
// server made safe. A frame's text is split into words by SplitArgs, as
// sh would split them but expanding nothing; the first word must be on
// the handler's allow list; the program runs directly, without a shell,
// with PATH as its whole environment, no stdin, a timeout that kills its
// whole process group, capped output and a bound on concurrent runs.
//
// Exec is a rawsock.Handler; New validates a Config and fills in its
// defaults.
package command

import (
	"fmt"

	"github.com/sockplane/sockplane/rawsock"
)

// fieldErrorf reports an invalid field of a Config by the name the API
// gives it, e.g. "exec.timeout".
func fieldErrorf(field, format string, args ...any) *rawsock.FieldError {
	return &rawsock.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
