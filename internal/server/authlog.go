package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/internal/logthrottle"
)

// authLogEvery is how often refused credentials of one reason are logged
// at most: an attacker guessing tokens, or a client with an expired one
// that retries, must not flood the log.
const authLogEvery = 10 * time.Second

// authLog logs the calls refused for their credentials (UNAUTHENTICATED),
// which never reach the audit log, having no principal: at warn, with the
// method, the peer's address and the reason, never the credentials; one
// line per reason per authLogEvery, with a count of the rest.
type authLog struct {
	logs *logthrottle.Logger
}

func newAuthLog(logger *slog.Logger) *authLog {
	return &authLog{logs: logthrottle.New(logger, authLogEvery)}
}

// intercept goes before authentication, and sees its refusals.
func (a *authLog) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil && status.Code(err) == codes.Unauthenticated {
		addr := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			addr = p.Addr.String()
		}
		a.log(ctx, info.FullMethod, addr, reason(err))
	}
	return resp, err
}

// wrap goes around the HTTP authentication middleware, and sees its 401s.
func (a *authLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			// The reason is in the body; the challenge tells a refused
			// token from none.
			reason := "CREDENTIALS_MISSING"
			if strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
				reason = "TOKEN_REFUSED"
			}
			a.log(r.Context(), r.Method+" "+r.URL.Path, r.RemoteAddr, reason)
		}
	})
}

func (a *authLog) log(ctx context.Context, method, addr, reason string) {
	a.logs.Log(ctx, slog.LevelWarn, "unauthenticated "+reason, "a call was refused for its credentials",
		slog.String("method", method), slog.String("peer", addr), slog.String("reason", reason))
}

// reason is the ErrorInfo reason of a status error, else its code's name.
func reason(err error) string {
	var e *lro.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return st.Code().String()
}

// statusRecorder keeps the status that a handler writes.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Flush flushes the response, if the writer can.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
