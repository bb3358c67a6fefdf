package lrohttp_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro"
	"lro.dev/lro/lrohttp"
)

// TestHeadAndOptions checks the two methods that no route declares: HEAD
// is the GET of a GET route without its body (RFC 9110 §9.3.2), and is
// 405 where GET is; OPTIONS answers every route with 204 and its Allow
// header, and nothing for CORS (which stays off). The exchanges go
// through lro serve's assembly (the Host check, the long-poll wrapper).
func TestHeadAndOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	name := e.start(t, "", kindEcho, `{"failMessage":"x"}`)
	e.waitDone(t, name)

	get := e.do(t, http.MethodGet, "/v1/"+name, "")
	require.Equal(t, http.StatusOK, get.status)
	for _, tc := range []struct {
		path   string
		status int
		allow  []string // on a 405
	}{
		{path: "/v1/" + name, status: http.StatusOK},
		{path: "/v1/operations?pageSize=1", status: http.StatusOK}, // a list's query parameters, as for GET
		{path: "/v1/kinds", status: http.StatusOK},
		{path: "/v1/" + testParent + "/operations", status: http.StatusOK},
		{path: "/v1/operations/00000000-0000-0000-0000-000000000000", status: http.StatusNotFound},
		{path: "/v1/nothing/here", status: http.StatusNotFound},
		{path: "/v1/operations:start", status: http.StatusMethodNotAllowed, allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/workers:claim", status: http.StatusMethodNotAllowed, allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/" + name + ":wait", status: http.StatusMethodNotAllowed, allow: []string{"OPTIONS", "POST"}},
	} {
		r := e.do(t, http.MethodHead, tc.path, "")
		require.Equal(t, tc.status, r.status, "HEAD %s", tc.path)
		require.Empty(t, r.body, "HEAD %s has no body", tc.path)
		require.Equal(t, "application/json", r.header.Get("Content-Type"), "HEAD %s: the GET's Content-Type", tc.path)
		if tc.allow != nil {
			require.ElementsMatch(t, tc.allow, allowSet(t, r.header), "HEAD %s", tc.path)
		}
	}

	for _, tc := range []struct {
		path  string
		allow []string
	}{
		{path: "/v1/" + name, allow: []string{"DELETE", "GET", "HEAD", "OPTIONS"}},
		{path: "/v1/" + name + ":cancel", allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/operations", allow: []string{"GET", "HEAD", "OPTIONS"}},
		{path: "/v1/operations:start", allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/kinds", allow: []string{"GET", "HEAD", "OPTIONS"}},
		{path: "/v1/workers:claim", allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/workers:renew", allow: []string{"OPTIONS", "POST"}},
		{path: "/v1/" + testParent + "/operations", allow: []string{"GET", "HEAD", "OPTIONS"}},
		{path: "/v1/" + testParent + "/operations:start", allow: []string{"OPTIONS", "POST"}},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.base+tc.path, nil)
		require.NoError(t, err)
		// A browser's CORS preflight: answered, but without the
		// Access-Control headers that would let the page send its request.
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r := e.send(t, req)
		require.Equal(t, http.StatusNoContent, r.status, "OPTIONS %s: %s", tc.path, r.body)
		require.Empty(t, r.body)
		require.Empty(t, r.header.Get("Content-Type"))
		require.ElementsMatch(t, tc.allow, allowSet(t, r.header), "OPTIONS %s", tc.path)
		for k := range r.header {
			require.NotRegexp(t, "(?i)^Access-Control-", k, "OPTIONS %s", tc.path)
		}
	}
	r := e.do(t, http.MethodOptions, "/v1/nothing/here", "")
	requireGoogleError(t, r, http.StatusNotFound, "NOT_FOUND")
}

// TestWrongVerbHost checks that the Host check comes first: a wrong verb
// from a foreign Host is refused for its Host, and the error says nothing
// of the routes.
func TestWrongVerbHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	for _, method := range []string{http.MethodGet, "BREW"} {
		req, err := http.NewRequestWithContext(t.Context(), method, e.base+"/v1/workers:claim", nil)
		require.NoError(t, err)
		req.Host = "evil.example"
		r := e.send(t, req)
		requireGoogleError(t, r, http.StatusForbidden, "PERMISSION_DENIED")
		require.Empty(t, r.header.Values("Allow"))
	}
}

// TestAllowMethods checks the wrapper of a server's own paths: its
// methods reach the handler (HEAD too, for GET), OPTIONS and the routes'
// other methods are answered as on the routes, and other methods are 501.
func TestAllowMethods(t *testing.T) {
	t.Parallel()
	var served []string
	h := lrohttp.AllowMethods(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = append(served, r.Method)
		w.WriteHeader(http.StatusAccepted)
	}), http.MethodGet, http.MethodPost)
	for _, tc := range []struct {
		method string
		status int
		reason string
	}{
		{method: http.MethodGet, status: http.StatusAccepted},
		{method: http.MethodHead, status: http.StatusAccepted},
		{method: http.MethodPost, status: http.StatusAccepted},
		{method: http.MethodOptions, status: http.StatusNoContent},
		{method: http.MethodDelete, status: http.StatusMethodNotAllowed, reason: "METHOD_NOT_ALLOWED"},
		{method: http.MethodPut, status: http.StatusNotImplemented, reason: "METHOD_NOT_IMPLEMENTED"},
		{method: "BREW", status: http.StatusNotImplemented, reason: "METHOD_NOT_IMPLEMENTED"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/mine", nil))
		r := &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		require.Equal(t, tc.status, r.status, tc.method)
		if tc.status == http.StatusNoContent || tc.status == http.StatusMethodNotAllowed {
			require.ElementsMatch(t, []string{"GET", "HEAD", "OPTIONS", "POST"}, allowSet(t, r.header), tc.method)
		} else {
			require.Empty(t, r.header.Values("Allow"), tc.method)
		}
		if tc.reason != "" {
			require.Equal(t, tc.reason, requireGoogleError(t, r, tc.status, "UNIMPLEMENTED"), tc.method)
		}
	}
	require.Equal(t, []string{http.MethodGet, http.MethodHead, http.MethodPost}, served)
}

// A HEAD's response has no body on the wire: the bytes after its headers
// belong to the connection's next response. The GET that serves a HEAD
// once sent its body there.
func TestHeadSendsNoBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	conn, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "HEAD /v1/kinds HTTP/1.1\r\nHost: %s\r\n\r\n", e.addr)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	// The server answers a GET on the same connection; whatever comes
	// first must be its status line.
	_, err = fmt.Fprintf(conn, "GET /v1/kinds HTTP/1.1\r\nHost: %s\r\n\r\n", e.addr)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "HTTP/1.1 200"), "the next response begins %q", line)
}
