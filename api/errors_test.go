package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"not found", fmt.Errorf("%w: x", registry.ErrNotFound), codes.NotFound, "listener not found: x"},
		{"duplicate id", fmt.Errorf("%w: x", registry.ErrExists), codes.AlreadyExists, "listener already exists: x"},
		{"address in use", fmt.Errorf("%w: 127.0.0.1:1", rawsock.ErrAddrInUse), codes.AlreadyExists, "address already in use: 127.0.0.1:1"},
		{"cannot bind", fmt.Errorf("%w 192.0.2.1:0: nope", rawsock.ErrBind), codes.FailedPrecondition, "cannot bind address 192.0.2.1:0: nope"},
		{"exec off", registry.ErrExecDisabled, codes.FailedPrecondition, registry.ErrExecDisabled.Error() + ": " + enableExec},
		{"exec narrowed to nothing", fmt.Errorf("%w: none of uname", registry.ErrExecNotAllowed), codes.FailedPrecondition,
			registry.ErrExecNotAllowed.Error() + ": none of uname: " + enableExec},
		{"unreadable record", fmt.Errorf("%w: x", registry.ErrUnreadable), codes.FailedPrecondition, registry.ErrUnreadable.Error() + ": x"},
		{"too many", registry.ErrTooManyListeners, codes.ResourceExhausted, "too many listeners: delete some, or start sockplane with a larger --max-listeners"},
		{"shutting down", registry.ErrShuttingDown, codes.Unavailable, "shutting down"},
		{"deeply wrapped", fmt.Errorf("outer: %w", fmt.Errorf("%w: y", registry.ErrNotFound)), codes.NotFound, "outer: listener not found: y"},
		{"field", &rawsock.FieldError{Field: "address", Reason: "required"}, codes.InvalidArgument, "invalid listener.address: required"},
		{"cancelled", context.Canceled, codes.Canceled, ""},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{"a bug", errors.New("surprise"), codes.Internal, "surprise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err, "listener."))
			if st.Code() != tt.code || (tt.msg != "" && st.Message() != tt.msg) {
				t.Fatalf("toStatus(%v) = %v %q, want %v %q", tt.err, st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
	if toStatus(nil, "") != nil {
		t.Fatal("toStatus(nil) is not nil")
	}
}

// TestToStatusEveryTableEntry: each sentinel in the table yields its code.
func TestToStatusEveryTableEntry(t *testing.T) {
	for _, e := range errorCodes {
		if got := status.Code(toStatus(e.err, "")); got != e.code {
			t.Errorf("%v: %v, want %v", e.err, got, e.code)
		}
	}
}

func TestInvalidArgumentNamesTheField(t *testing.T) {
	st := status.Convert(invalidArgument("listener.address", "required"))
	var found bool
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			v := br.GetFieldViolations()
			found = len(v) == 1 && v[0].GetField() == "listener.address" && v[0].GetDescription() == "required"
		}
	}
	if st.Code() != codes.InvalidArgument || !found {
		t.Fatalf("status %v with details %v", st, st.Details())
	}
}
