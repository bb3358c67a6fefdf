package lro

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// ErrorDomain is the ErrorInfo domain (AIP-193) of the errors lro returns.
const ErrorDomain = "lro.dev"

// operationType is the ResourceInfo type of operations.
const operationType = "google.longrunning.Operation"

// Sentinel errors. Every error that lro returns from a call wraps one of
// them, so callers branch with errors.Is; each also carries a gRPC status
// (see [Error]).
var (
	// ErrInvalidArgument: the request is malformed (INVALID_ARGUMENT).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such operation (NOT_FOUND).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a request ID was reused for another request
	// (ALREADY_EXISTS).
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the operation is not in a state that allows the
	// call, such as deleting one that is not done (FAILED_PRECONDITION).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnimplemented: the request asks for something lro does not do
	// (UNIMPLEMENTED).
	ErrUnimplemented = errors.New("unimplemented")
	// ErrClosed: the client is stopped or its store is closed (UNAVAILABLE).
	ErrClosed = errors.New("client closed")
	// ErrLeaseLost is the cause of a handler's context when its worker lost
	// the lease: another worker may be running the operation, and whatever
	// this one writes is rejected.
	ErrLeaseLost = errors.New("lease lost")
	// ErrCancelRequested is the cause of a handler's context when a client
	// cancelled the operation.
	ErrCancelRequested = errors.New("operation cancellation requested")
	// ErrShutdown is the cause of a handler's context when the client stops
	// and the grace period has passed; the operation is released and runs
	// again later.
	ErrShutdown = errors.New("client shutting down")
	// ErrAttemptTimeout is the cause of a handler's context when the
	// attempt ran out of its kind's AttemptTimeout; the attempt fails with
	// DEADLINE_EXCEEDED.
	ErrAttemptTimeout = errors.New("attempt timed out")
	// ErrTimeout is the cause of a handler's context when the operation ran
	// out of its kind's Timeout; it ends with DEADLINE_EXCEEDED.
	ErrTimeout = errors.New("operation timed out")
	// ErrMetadataTooLarge is returned by Job.SetMetadata for metadata over
	// Config.MetadataBytesMax, which is not stored: the operation keeps
	// the last metadata set, and goes on. A start whose Kind.InitialMetadata
	// is over the limit is refused with an INTERNAL *Error that wraps it.
	ErrMetadataTooLarge = errors.New("metadata too large")
)

// Error is the error lro returns from its calls. It carries a gRPC code, an
// AIP-193 reason, and optionally the request field at fault; its GRPCStatus
// turns it into a google.rpc.Status with an ErrorInfo (and a BadRequest
// when a field is named), so a server that returns it as is gives clients
// the right status.
type Error struct {
	Code    codes.Code
	Reason  string // UPPER_SNAKE_CASE, the ErrorInfo reason
	Message string
	// Field is the request field at fault (a BadRequest detail, with
	// INVALID_ARGUMENT).
	Field string
	// Resource is the operation concerned (a ResourceInfo detail with
	// NOT_FOUND and ALREADY_EXISTS, a PreconditionFailure with
	// FAILED_PRECONDITION).
	Resource string
	Err      error // the sentinel it wraps
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus implements the interface that grpc's status.FromError uses.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Reason, Domain: ErrorDomain}}
	switch {
	case e.Field != "" && e.Code == codes.InvalidArgument:
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: e.Field, Description: e.Message, Reason: e.Reason},
		}})
	case e.Resource != "" && (e.Code == codes.NotFound || e.Code == codes.AlreadyExists):
		details = append(details, &errdetails.ResourceInfo{ResourceType: operationType, ResourceName: e.Resource, Description: e.Message})
	case e.Resource != "" && e.Code == codes.FailedPrecondition:
		details = append(details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: e.Reason, Subject: e.Resource, Description: e.Message},
		}})
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

var sentinelCodes = map[error]codes.Code{
	ErrInvalidArgument:    codes.InvalidArgument,
	ErrNotFound:           codes.NotFound,
	ErrAlreadyExists:      codes.AlreadyExists,
	ErrFailedPrecondition: codes.FailedPrecondition,
	ErrUnimplemented:      codes.Unimplemented,
	ErrClosed:             codes.Unavailable,
}

func newError(sentinel error, reason, field, format string, args ...any) *Error {
	return &Error{Code: sentinelCodes[sentinel], Reason: reason, Field: field, Message: fmt.Sprintf(format, args...), Err: sentinel}
}

func invalidArgument(field, reason, format string, args ...any) *Error {
	return newError(ErrInvalidArgument, reason, field, format, args...)
}
