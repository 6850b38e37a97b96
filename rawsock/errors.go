package rawsock

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the messages they wrap
// carry the details (which address, which limit).
var (
	// ErrListenerClosed is returned by Listener methods after Shutdown or
	// Close, and by Listener.Err once the listener stopped on request.
	ErrListenerClosed = errors.New("rawsock: listener closed")
	// ErrHandlersRunning is returned by Close when handlers that ignore
	// their request's context still run after the connections closed.
	ErrHandlersRunning = errors.New("handlers still running after close")

	// ErrAddrInUse means the address is bound by another socket.
	ErrAddrInUse = errors.New("address already in use")
	// ErrBind means the address could not be bound for another reason
	// (not local, permission denied, ...).
	ErrBind = errors.New("cannot bind address")
)

// FieldError reports an invalid field of a configuration. Field is the
// field's name as the API spells it in JSON, e.g. "address" or
// "framing.byteOrder".
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
