package lroauth

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/internal/httperr"
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
	httpCode := httperr.HTTPStatus(st.Code())
	if httpCode == http.StatusUnauthorized {
		challenge := `Bearer realm="lro"`
		if invalidToken {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	httperr.Write(w, httpCode, httperr.EnsureErrorInfo(st.Proto()))
}
