package api

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockplane/sockplane/rawsock"
)

// errorCodes maps each rawsock sentinel error to the gRPC code a client
// gets; the gateway maps the codes to HTTP (NOT_FOUND 404, ALREADY_EXISTS
// 409, FAILED_PRECONDITION 400, UNAVAILABLE 503). The first match wins.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{rawsock.ErrNotFound, codes.NotFound},
	{rawsock.ErrConnNotFound, codes.NotFound},
	{rawsock.ErrExists, codes.AlreadyExists},
	{rawsock.ErrAddrInUse, codes.AlreadyExists},
	{rawsock.ErrBind, codes.FailedPrecondition},
	{rawsock.ErrExecDisabled, codes.FailedPrecondition},
	{rawsock.ErrShuttingDown, codes.Unavailable},
	{rawsock.ErrTooManyListeners, codes.ResourceExhausted},
	{rawsock.ErrStore, codes.Unavailable}, // the disk, not the caller: retry later
}

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
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
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
