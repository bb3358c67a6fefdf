package lroauth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro"
)

type tlsStateKey struct{}

// WithTLSState returns ctx with the TLS state of a connection, for
// Middleware to read when the request's own TLS field is nil: a server
// that terminates TLS before a connection multiplexer hands net/http a
// plain connection, and sets the state through http.Server.ConnContext.
// The state must be taken after the handshake (tls.Conn.HandshakeContext),
// or it holds no client certificate.
func WithTLSState(ctx context.Context, state *tls.ConnectionState) context.Context {
	return context.WithValue(ctx, tlsStateKey{}, state)
}

// TLSStateFromContext returns the TLS state that WithTLSState put in ctx,
// or nil.
func TLSStateFromContext(ctx context.Context) *tls.ConnectionState {
	s, _ := ctx.Value(tlsStateKey{}).(*tls.ConnectionState)
	return s
}

// Middleware returns a handler that authenticates each request with a and
// serves it with next, the principal in its context (NewContext). The
// credentials are the request's Authorization header and its TLS state
// (r.TLS, else TLSStateFromContext). A request whose context already holds
// a principal keeps it without asking a.
//
// A request that a refuses is answered here, and next does not see it: in
// the JSON error format of lro's HTTP API (Google's, a google.rpc.Status
// with an ErrorInfo), 401 with WWW-Authenticate: Bearer realm="lro", and
// error="invalid_token" when the request had a bearer token (RFC 6750).
//
// Every request through it must authenticate: mount it around the API
// only, and serve what needs no credentials (a /healthz, CORS preflights)
// beside it, not through it.
func Middleware(a Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if FromContext(ctx) != nil {
			next.ServeHTTP(w, r)
			return
		}
		c := &Credentials{TLS: r.TLS}
		if c.TLS == nil {
			c.TLS = TLSStateFromContext(ctx)
		}
		values := r.Header.Values("Authorization")
		var (
			p   *Principal
			err error
		)
		if len(values) > 1 {
			err = Unauthenticated("CREDENTIALS_AMBIGUOUS", "the request has more than one Authorization header")
		} else {
			if len(values) == 1 {
				c.Authorization = values[0]
			}
			p, err = authenticate(ctx, a, c)
		}
		if err != nil {
			_, parseErr := ParseBearer(c.Authorization)
			writeHTTPError(w, err, len(values) > 1 || !isReason(parseErr, "CREDENTIALS_MISSING", "UNSUPPORTED_SCHEME"))
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(ctx, p)))
	})
}

// isReason reports whether err is an *lro.Error with one of reasons.
func isReason(err error, reasons ...string) bool {
	var e *lro.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, r := range reasons {
		if e.Reason == r {
			return true
		}
	}
	return false
}

// writeHTTPError answers with err in Google's JSON error format, as lro's
// HTTP API does; invalidToken says whether the request had a bearer token.
func writeHTTPError(w http.ResponseWriter, err error, invalidToken bool) {
	st := status.Convert(err)
	httpCode := httpStatus(st.Code())
	details := make([]json.RawMessage, 0, len(st.Proto().GetDetails())+1)
	hasInfo := false
	for _, d := range st.Proto().GetDetails() {
		hasInfo = hasInfo || d.MessageIs(&errdetails.ErrorInfo{})
		if b, err := protojson.Marshal(d); err == nil {
			details = append(details, b)
		}
	}
	if !hasInfo {
		// Every error of lro's API carries an ErrorInfo; the code's name
		// stands for the reason, as lrohttp does.
		info, _ := anypb.New(&errdetails.ErrorInfo{Reason: code.Code(st.Code()).String(), Domain: lro.ErrorDomain})
		if b, err := protojson.Marshal(info); err == nil {
			details = append(details, b)
		}
	}
	type googleError struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	}
	body, err := json.Marshal(struct {
		Error googleError `json:"error"`
	}{googleError{Code: httpCode, Message: st.Message(), Status: code.Code(st.Code()).String(), Details: details}})
	if err != nil {
		body = []byte(`{"error":{"code":500,"message":"error response does not encode","status":"INTERNAL"}}`)
		httpCode = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if httpCode == http.StatusUnauthorized {
		challenge := `Bearer realm="lro"`
		if invalidToken {
			challenge += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	w.WriteHeader(httpCode)
	w.Write(append(body, '\n'))
}

// httpStatus is the HTTP status of the codes an Authenticator may return,
// as google.rpc.Code gives them.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
