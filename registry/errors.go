package registry

import (
	"errors"
	"fmt"

	"github.com/sockplane/sockplane/rawsock"
)

// Sentinel errors. Callers test them with errors.Is; the messages that
// wrap them carry the details (which id, which program, which limit).
// The engine's (rawsock.ErrAddrInUse, rawsock.ErrBind) come through
// wrapped as they are.
var (
	// ErrShuttingDown is returned by every change after Shutdown began.
	ErrShuttingDown = errors.New("shutting down")
	// ErrTooManyListeners means Policy.MaxListeners exist already.
	ErrTooManyListeners = errors.New("too many listeners")
	// ErrNotFound means no listener has the given id.
	ErrNotFound = errors.New("listener not found")
	// ErrExists means a listener with the given id exists already.
	ErrExists = errors.New("listener already exists")
	// ErrExecDisabled means an exec listener meets a policy that allows
	// no programs.
	ErrExecDisabled = errors.New("the exec handler is off: the daemon allows no programs")
	// ErrExecNotAllowed means none of an exec listener's programs is
	// allowed by the policy.
	ErrExecNotAllowed = errors.New("the exec listener's programs are not allowed by the daemon")
	// ErrUnreadable means the stored record of a listener could not be
	// read (a newer schema, a corrupt value): it is kept as it is, and the
	// listener cannot run or change until it is deleted or a sockplane
	// that reads it runs.
	ErrUnreadable = errors.New("the listener's stored record cannot be read")
	// ErrEtagMismatch means a change named an etag the listener no
	// longer has: someone changed it since the caller read it.
	ErrEtagMismatch = errors.New("the listener changed since it was read")
	// ErrRequestReused means a Create's request id was used by a create of
	// another spec.
	ErrRequestReused = errors.New("the request id was used for another listener")
	// ErrStore wraps a failure to read or write the store.
	ErrStore = errors.New("cannot save the listener's state")
)

func fieldErrorf(field, format string, args ...any) *rawsock.FieldError {
	return &rawsock.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
