package lrohttp_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro"
)

// TestGoldenWorkers is TestGolden for the Workers service: a worker that
// has only an HTTP client claims operations of a declared kind, renews
// their leases with progress, finishes them (twice, and with a forged
// token), and releases one. The exchanges, in order, are in
// testdata/workers/<case>.golden.
func TestGoldenWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	vars := map[string]string{}
	vars["one"] = e.start(t, "", kindRemote, `{"n":1}`)
	vars["two"] = e.start(t, "", kindRemote, `{"n":2}`)

	// captureClaim records the names and lease tokens of a claim's
	// operations as op0, token0, op1, token1…
	captureClaim := func(want int) func(t *testing.T, r *response, vars map[string]string) {
		return func(t *testing.T, r *response, vars map[string]string) {
			var resp struct {
				Operations []struct {
					Name       string `json:"name"`
					LeaseToken string `json:"leaseToken"`
				} `json:"operations"`
			}
			require.NoError(t, json.Unmarshal(r.body, &resp))
			require.Len(t, resp.Operations, want, "%s", r.body)
			for i, op := range resp.Operations {
				vars["op"+string(rune('a'+i))] = op.Name
				vars["token"+string(rune('a'+i))] = op.LeaseToken
			}
		}
	}
	cases := []struct {
		name, path, body string
		status           int
		errStatus        string
		check            func(t *testing.T, r *response, vars map[string]string)
	}{
		{name: "claim", path: "/v1/workers:claim", status: 200, check: captureClaim(2),
			body: `{"worker":"w1","kinds":["test.remote"],"max":10,"wait":"0s","json":true}`},
		{name: "renew", path: "/v1/workers:renew", status: 200,
			body: `{"worker":"w1","leases":[{"name":"{opa}","leaseToken":"{tokena}","metadata":{"progress":0.5}},{"name":"{opb}","leaseToken":"{tokenb}"}]}`},
		{name: "renew_wrong_metadata", path: "/v1/workers:renew", status: 200,
			body: `{"leases":[{"name":"{opa}","leaseToken":"{tokena}","metadata":"not an object"}]}`},
		{name: "finish", path: "/v1/workers:finish", status: 200,
			body: `{"worker":"w1","results":[` +
				`{"name":"{opa}","leaseToken":"{tokena}","response":{"ok":true}},` +
				`{"name":"{opb}","leaseToken":"{tokenb}","error":{"code":9,"message":"boom"}},` +
				`{"name":"{opa}","leaseToken":"Zm9yZ2Vk"}]}`},
		{name: "finish_again", path: "/v1/workers:finish", status: 200,
			body: `{"results":[{"name":"{opa}","leaseToken":"{tokena}"}]}`},
		{name: "renew_after_finish", path: "/v1/workers:renew", status: 200,
			body: `{"leases":[{"name":"{opa}","leaseToken":"{tokena}","metadata":{"late":true}}]}`},
		{name: "claim_none", path: "/v1/workers:claim", status: 200,
			body: `{"kinds":["test.remote"],"max":1,"wait":"0.05s"}`},
		{name: "start_three", path: "/v1/operations:start", status: 200,
			body: `{"kind":"test.remote","input":{"n":3}}`},
		{name: "claim_typed", path: "/v1/workers:claim", status: 200, check: captureClaim(1),
			body: `{"kinds":["test.remote"],"max":1}`},
		{name: "release", path: "/v1/workers:release", status: 200,
			body: `{"leases":[{"name":"{opa}","leaseToken":"{tokena}"}]}`},
		{name: "release_again", path: "/v1/workers:release", status: 200,
			body: `{"leases":[{"name":"{opa}","leaseToken":"{tokena}"}]}`},
		{name: "claim_after_release", path: "/v1/workers:claim", status: 200, check: captureClaim(1),
			body: `{"kinds":["test.remote"],"max":1,"json":true}`},
		{name: "err_claim_max", path: "/v1/workers:claim", status: 400, errStatus: "INVALID_ARGUMENT",
			body: `{"kinds":["test.remote"],"max":1000000}`},
		{name: "err_claim_unknown_kind", path: "/v1/workers:claim", status: 400, errStatus: "INVALID_ARGUMENT",
			body: `{"kinds":["test.remote","no.such"],"max":1}`},
		{name: "err_claim_negative_wait", path: "/v1/workers:claim", status: 400, errStatus: "INVALID_ARGUMENT",
			body: `{"kinds":["test.remote"],"max":1,"wait":"-1s"}`},
	}
	for _, tc := range cases {
		ok := t.Run(tc.name, func(t *testing.T) {
			body := expand(tc.body, vars)
			r := e.do(t, http.MethodPost, tc.path, body)
			require.Equal(t, tc.status, r.status, "%s: %s", tc.path, r.body)
			if tc.errStatus != "" {
				requireGoogleError(t, r, tc.status, tc.errStatus)
			}
			if tc.check != nil {
				tc.check(t, r, vars)
			}
			exchange := formatExchange(t, http.MethodPost, tc.path, "application/json", nil, body, r)
			if tc.errStatus != "" {
				exchange += clientView(t, r)
			}
			compareGolden(t, "workers/"+tc.name, exchange)
		})
		if !ok {
			break // the later cases rely on this one
		}
	}
	// The operations ended as the worker said.
	done := e.waitDone(t, vars["one"])
	require.Equal(t, map[string]any{"@type": "type.googleapis.com/google.protobuf.Struct", "value": map[string]any{"ok": true}}, done["response"])
	require.Equal(t, map[string]any{"@type": "type.googleapis.com/google.protobuf.Struct", "value": map[string]any{"progress": 0.5}}, done["metadata"])
	failed := e.waitDone(t, vars["two"])
	require.Equal(t, "boom", failed["error"].(map[string]any)["message"])
}
