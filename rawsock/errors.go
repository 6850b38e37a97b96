package rawsock

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the messages they wrap
// carry the details (which id, which address, which limit).
var (
	// ErrListenerClosed is returned by Listener methods after Shutdown or
	// Close, and by Listener.Err once the listener stopped on request.
	ErrListenerClosed = errors.New("rawsock: listener closed")

	// ErrShuttingDown is returned by a Registry after Shutdown.
	ErrShuttingDown = errors.New("shutting down: no new listeners")

	// ErrTooManyListeners means the daemon's bound on listeners is reached.
	ErrTooManyListeners = errors.New("too many listeners")

	// ErrNotFound means no listener has the given id.
	ErrNotFound = errors.New("listener not found")
	// ErrExists means a listener with the given id exists already.
	ErrExists = errors.New("listener already exists")
	// ErrAddrInUse means the address is bound by another socket.
	ErrAddrInUse = errors.New("address already in use")
	// ErrBind means the address could not be bound for another reason
	// (not local, permission denied, ...).
	ErrBind = errors.New("cannot bind address")

	// ErrMalformedFrame means a peer sent bytes that are not a frame of the
	// listener's framing.
	ErrMalformedFrame = errors.New("malformed frame")
	// ErrFrameTooLarge means a frame declared a header or body larger than
	// the listener's limits allow.
	ErrFrameTooLarge = errors.New("frame too large")
)

// FieldError reports an invalid field of a Spec. Field is the field's name
// as the API spells it in JSON, e.g. "address" or "framing.byteOrder".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
