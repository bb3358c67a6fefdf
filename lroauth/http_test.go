package lroauth

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"

	"lro.dev/lro"
)

// whoAmIHandler answers with the principal's name.
func whoAmIHandler(calls *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		p := FromContext(r.Context())
		if p == nil {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, p.Name)
	})
}

// answer is what serveHTTP returns of a response.
type answer struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func serveHTTP(h http.Handler, r *http.Request) answer {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return answer{rec.Code, rec.Header(), rec.Body.String()}
}

// checkResponse is googleapi.CheckResponse of the answer: its error as
// Google's REST clients read it.
func (a answer) checkResponse() error {
	return googleapi.CheckResponse(&http.Response{StatusCode: a.StatusCode, Header: a.Header,
		Body: io.NopCloser(strings.NewReader(a.Body))})
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	calls := 0
	h := Middleware(New(f.tokens, f.jwts), whoAmIHandler(&calls))
	request := func(authorization ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1/operations", nil)
		for _, a := range authorization {
			r.Header.Add("Authorization", a)
		}
		return r
	}

	resp := serveHTTP(h, request("Bearer "+f.staticToken))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ci-bot", resp.Body)
	resp = serveHTTP(h, request("Bearer "+f.jwt))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "alice", resp.Body)

	// TLS state from the request, else from the context.
	r := request()
	r.TLS = verifiedTLS(pkix.Name{CommonName: "worker-1", Organization: []string{"Example"}})
	resp = serveHTTP(h, r)
	require.Equal(t, workerSubject, resp.Body)
	r = request()
	r = r.WithContext(WithTLSState(r.Context(), verifiedTLS(pkix.Name{CommonName: "from-ctx"})))
	resp = serveHTTP(h, r)
	require.Equal(t, "CN=from-ctx", resp.Body)
	require.Equal(t, 4, calls)

	for _, tt := range []struct {
		name      string
		headers   []string
		reason    string
		challenge string
	}{
		{"Missing", nil, "CREDENTIALS_MISSING", `Bearer realm="lro"`},
		{"Basic", []string{"Basic eDp5"}, "UNSUPPORTED_SCHEME", `Bearer realm="lro"`},
		{"Unknown", []string{"Bearer not-a-token"}, "TOKEN_INVALID", `Bearer realm="lro", error="invalid_token"`},
		{"Malformed", []string{"Bearer a b"}, "MALFORMED_TOKEN", `Bearer realm="lro", error="invalid_token"`},
		{"Two", []string{"Bearer " + f.staticToken, "Bearer " + f.jwt}, "CREDENTIALS_AMBIGUOUS", `Bearer realm="lro", error="invalid_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := serveHTTP(h, request(tt.headers...))
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Equal(t, tt.challenge, resp.Header.Get("WWW-Authenticate"))
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			// As Google's REST clients read it.
			err := resp.checkResponse()
			ae, ok := apierror.FromError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, http.StatusUnauthorized, ae.HTTPCode())
			require.Equal(t, codes.Unauthenticated, ae.GRPCStatus().Code())
			require.Equal(t, tt.reason, ae.Reason())
			require.Equal(t, lro.ErrorDomain, ae.Domain())
		})
	}
	require.Equal(t, 4, calls, "a refused request reached the handler")
}

// TestMiddlewareErrorShape pins the body to the JSON error format of lro's
// HTTP API (lrohttp's goldens).
func TestMiddlewareErrorShape(t *testing.T) {
	t.Parallel()
	calls := 0
	resp := serveHTTP(Middleware(New(nil, nil), whoAmIHandler(&calls)), httptest.NewRequest(http.MethodGet, "/", nil))
	var got, want any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &got))
	require.NoError(t, json.Unmarshal([]byte(`{
  "error": {
    "code": 401,
    "message": "unauthenticated: the call carries no credentials: send an authorization header \"Bearer TOKEN\"",
    "status": "UNAUTHENTICATED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "CREDENTIALS_MISSING",
        "domain": "lro.dev"
      }
    ]
  }
}`), &want))
	require.Equal(t, want, got)
}

func TestMiddlewareKeepsPrincipal(t *testing.T) {
	t.Parallel()
	auth := &countingAuth{Authenticator: New(nil, nil)}
	calls := 0
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(NewContext(r.Context(), &Principal{Name: "from-embedder"}))
	resp := serveHTTP(Middleware(auth, whoAmIHandler(&calls)), r)
	require.Equal(t, "from-embedder", resp.Body)
	require.Zero(t, auth.calls.Load())
}

func TestMiddlewareOtherErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err       error
		status    int
		reason    string
		challenge bool
	}{
		{errNoGood, http.StatusUnauthorized, "CREDENTIALS_INVALID", true},
		{&lro.Error{Code: codes.PermissionDenied, Reason: "BANNED", Message: "banned"}, http.StatusForbidden, "BANNED", false},
		{&lro.Error{Code: codes.Unavailable, Reason: "IDP_DOWN", Message: "down"}, http.StatusServiceUnavailable, "IDP_DOWN", false},
		{context.DeadlineExceeded, http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", false},
	} {
		a := AuthenticatorFunc(func(context.Context, *Credentials) (*Principal, error) { return nil, tt.err })
		calls := 0
		resp := serveHTTP(Middleware(a, whoAmIHandler(&calls)), httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, tt.status, resp.StatusCode, "%v", tt.err)
		require.Equal(t, tt.challenge, resp.Header.Get("WWW-Authenticate") != "")
		ae, ok := apierror.FromError(resp.checkResponse())
		require.True(t, ok)
		require.Equal(t, tt.reason, ae.Reason())
		require.Zero(t, calls)
	}
}

// TestMiddlewareMutualTLS serves HTTPS with client certificates.
func TestMiddlewareMutualTLS(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	pki := newTestPKI(t, pkix.Name{CommonName: "worker-1", Organization: []string{"Example"}})
	calls := 0
	srv := httptest.NewUnstartedServer(Middleware(New(f.tokens, f.jwts), whoAmIHandler(&calls)))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(cert bool) *http.Client {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: "bufnet", MinVersion: tls.VersionTLS12}
		if cert {
			cfg.Certificates = []tls.Certificate{pki.client}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	get := func(c *http.Client, token string) answer {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return answer{resp.StatusCode, resp.Header, body(t, resp)}
	}
	resp := get(client(true), "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, workerSubject, resp.Body)
	resp = get(client(true), f.staticToken)
	require.Equal(t, "ci-bot", resp.Body)
	resp = get(client(false), "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = get(client(false), f.jwt)
	require.Equal(t, "alice", resp.Body)
}
