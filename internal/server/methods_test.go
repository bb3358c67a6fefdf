package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro"
	"lro.dev/lro/internal/server"
)

// TestWrongMethod: the answers of lrohttp to a method a path does not take
// (405 with Allow) and to one no route takes (501) come out of lro serve
// as lrohttp writes them, through the Host check and the wrapper that
// extends the write deadline of long polls (POST …:wait and
// …/workers:claim), and /healthz answers methods by the same rules.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}, AllowedHosts: []string{"lro.example.com"}})
	const opPath = "/v1/operations/00000000-0000-0000-0000-000000000000"
	for _, tc := range []struct {
		method, path string
		status       int
		allow        []string // the set of Allow
		reason       string
	}{
		{method: "GET", path: "/v1/workers:claim", status: 405, allow: []string{"OPTIONS", "POST"}, reason: "METHOD_NOT_ALLOWED"},
		{method: "DELETE", path: "/v1/workers:claim", status: 405, allow: []string{"OPTIONS", "POST"}, reason: "METHOD_NOT_ALLOWED"},
		{method: "GET", path: opPath + ":wait", status: 405, allow: []string{"OPTIONS", "POST"}, reason: "METHOD_NOT_ALLOWED"},
		{method: "POST", path: opPath, status: 405, allow: []string{"DELETE", "GET", "HEAD", "OPTIONS"}, reason: "METHOD_NOT_ALLOWED"},
		{method: "POST", path: "/healthz", status: 405, allow: []string{"GET", "HEAD", "OPTIONS"}, reason: "METHOD_NOT_ALLOWED"},
		{method: "OPTIONS", path: "/v1/workers:claim", status: 204, allow: []string{"OPTIONS", "POST"}},
		{method: "OPTIONS", path: "/healthz", status: 204, allow: []string{"GET", "HEAD", "OPTIONS"}},
		{method: "HEAD", path: "/healthz", status: 200},
		{method: "BREW", path: "/v1/workers:claim", status: 501, reason: "METHOD_NOT_IMPLEMENTED"},
		{method: "PUT", path: opPath + ":wait", status: 501, reason: "METHOD_NOT_IMPLEMENTED"},
		{method: "BREW", path: "/healthz", status: 501, reason: "METHOD_NOT_IMPLEMENTED"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, "http://"+srv.Addr().String()+tc.path, nil)
		require.NoError(t, err)
		req.Host = "lro.example.com"
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.status, res.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		var allow []string
		for _, v := range res.Header.Values("Allow") {
			for m := range strings.SplitSeq(v, ",") {
				allow = append(allow, strings.TrimSpace(m))
			}
		}
		require.ElementsMatch(t, tc.allow, allow, "%s %s: Allow", tc.method, tc.path)
		if tc.reason == "" {
			continue
		}
		var e struct {
			Error struct {
				Code    int
				Status  string
				Details []struct{ Reason, Domain string }
			}
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s %s: %s", tc.method, tc.path, body)
		require.Equal(t, tc.status, e.Error.Code)
		require.Equal(t, "UNIMPLEMENTED", e.Error.Status)
		require.Len(t, e.Error.Details, 1)
		require.Equal(t, tc.reason, e.Error.Details[0].Reason)
		require.Equal(t, lro.ErrorDomain, e.Error.Details[0].Domain)
	}

	// The Host check comes first: a foreign Host learns nothing of the
	// routes.
	for _, method := range []string{"GET", "BREW", "OPTIONS"} {
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+srv.Addr().String()+"/v1/workers:claim", nil)
		require.NoError(t, err)
		req.Host = "attacker.example"
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusForbidden, res.StatusCode, method)
		require.Empty(t, res.Header.Values("Allow"), method)
	}
}
