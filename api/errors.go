package api

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/cluster/agent"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/registry"
)

// errorCodes maps each rawsock sentinel error to the gRPC code a client
// gets; the gateway maps the codes to HTTP (NOT_FOUND 404, ALREADY_EXISTS
// 409, FAILED_PRECONDITION 400, UNAVAILABLE 503). The first match wins.
var errorCodes = []struct {
	err  error
	code codes.Code
	hint string // appended to the message: what the caller can do
}{
	{err: registry.ErrNotFound, code: codes.NotFound},
	{err: rawsock.ErrConnNotFound, code: codes.NotFound},
	{err: registry.ErrExists, code: codes.AlreadyExists},
	{err: registry.ErrRequestReused, code: codes.AlreadyExists},
	{err: registry.ErrEtagMismatch, code: codes.Aborted, hint: "read the listener again and retry with its new etag"},
	{err: rawsock.ErrAddrInUse, code: codes.AlreadyExists},
	{err: rawsock.ErrBind, code: codes.FailedPrecondition},
	{err: registry.ErrExecDisabled, code: codes.FailedPrecondition, hint: enableExec},
	{err: registry.ErrExecNotAllowed, code: codes.FailedPrecondition, hint: enableExec},
	{err: registry.ErrUnreadable, code: codes.FailedPrecondition},
	{err: registry.ErrShuttingDown, code: codes.Unavailable},
	{err: registry.ErrTooManyListeners, code: codes.ResourceExhausted, hint: "delete some, or start sockplane with a larger --max-listeners"},
	{err: registry.ErrStore, code: codes.Unavailable}, // the disk, not the caller: retry later
	{err: cluster.ErrUnavailable, code: codes.Unavailable, hint: "the cluster's store (etcd) did not answer; listeners keep serving, retry later"},
	{err: agent.ErrNotRun, code: codes.FailedPrecondition},
	{err: registry.ErrNotRecording, code: codes.FailedPrecondition},
	{err: cluster.ErrStatusOwned, code: codes.FailedPrecondition},
}

// enableExec says how the daemon's exec policy is set.
const enableExec = "start sockplane with --exec-allow=PROGRAM,... (e.g. --exec-allow=ls,echo,uname,date) naming the programs"

// toStatus turns an error of the domain into a gRPC status error. field
// prefixes the name of an invalid field, e.g. "listener." for fields of the
// created listener. Errors no entry maps are bugs, and say so: Internal.
func toStatus(err error, fieldPrefix string) error {
	if err == nil {
		return nil
	}
	var fe *rawsock.FieldError
	if errors.As(err, &fe) {
		return invalidArgument(fieldPrefix+fe.Field, fe.Reason)
	}
	for _, e := range errorCodes { // first: etcd's timeout is UNAVAILABLE, not the caller's deadline
		if errors.Is(err, e.err) {
			msg := err.Error()
			if e.hint != "" {
				msg += ": " + e.hint
			}
			return status.Error(e.code, msg)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// invalidArgument is INVALID_ARGUMENT naming the field, in the message and
// as a google.rpc.BadRequest detail for clients that read details.
func invalidArgument(field, reason string) error {
	st := status.New(codes.InvalidArgument, "invalid "+field+": "+reason)
	withDetails, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}},
	})
	if err != nil {
		return st.Err()
	}
	return withDetails.Err()
}
