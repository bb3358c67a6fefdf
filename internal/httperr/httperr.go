// Package httperr writes errors in Google's JSON error format, as lro's
// HTTP API answers them: {"error": {"code", "message", "status",
// "details"}}, every error with an ErrorInfo (AIP-193).
package httperr

import (
	"encoding/json"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro"
)

// googleError is the body of Google's JSON error format, in its order.
type googleError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

// Write answers with st in Google's JSON error format and the HTTP status
// given.
func Write(w http.ResponseWriter, status int, st *spb.Status) {
	details := make([]json.RawMessage, 0, len(st.GetDetails()))
	for _, d := range st.GetDetails() {
		b, err := protojson.Marshal(d)
		if err != nil {
			continue // a detail of a type this binary does not know
		}
		details = append(details, b)
	}
	body, err := json.Marshal(struct {
		Error googleError `json:"error"`
	}{googleError{Code: status, Message: st.GetMessage(), Status: CodeName(codes.Code(st.GetCode())), Details: details}})
	if err != nil {
		body = []byte(`{"error":{"code":500,"message":"error response does not encode","status":"INTERNAL"}}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// HTTPStatus is the HTTP status of a code, as google.rpc.Code and AIP-193
// give it.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError // Unknown, Internal, DataLoss
}

// EnsureErrorInfo returns st with an ErrorInfo, adding one whose reason is
// the code's name if it has none.
func EnsureErrorInfo(st *spb.Status) *spb.Status {
	for _, d := range st.GetDetails() {
		if d.MessageIs(&errdetails.ErrorInfo{}) {
			return st
		}
	}
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: CodeName(codes.Code(st.GetCode())), Domain: lro.ErrorDomain})
	st = proto.Clone(st).(*spb.Status)
	st.Details = append(st.Details, info)
	return st
}

// CodeName is the google.rpc.Code name of c, such as "NOT_FOUND".
func CodeName(c codes.Code) string { return code.Code(c).String() }
