package agent

import (
	"errors"
	"fmt"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// ErrNotRun means the listener's node could not run it, for a reason
// that has no error of its own here (its status says which).
var ErrNotRun = errors.New("the listener's node could not run it")

// reasons name the errors an owner reports in a status (Status.Reason),
// so that the node whose call waits for it returns the same kind of
// error the owner had, and the API maps it as it maps a local one.
var reasons = []struct {
	name string
	err  error
}{
	{"ADDR_IN_USE", rawsock.ErrAddrInUse},
	{"BIND", rawsock.ErrBind},
	{"EXEC_DISABLED", registry.ErrExecDisabled},
	{"EXEC_NOT_ALLOWED", registry.ErrExecNotAllowed},
	{"TOO_MANY_LISTENERS", registry.ErrTooManyListeners},
}

func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "OTHER"
}

// ownerError is the error an owner reported in a status, as an error of
// the same kind.
func ownerError(node, reason, msg string) error {
	for _, r := range reasons {
		if r.name == reason {
			return fmt.Errorf("node %s: %w (%s)", node, r.err, msg)
		}
	}
	return fmt.Errorf("node %s: %w: %s", node, ErrNotRun, msg)
}
