package lrohttp_test

// Regression tests of bugs found in the handler: query parameters that
// overrode fields the path binds (and so reached another parent's
// operations), system parameters that were not dropped when
// percent-encoded, query parameters on body:"*" routes, and gRPC headers
// that leaked into HTTP errors.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"lro.dev/lro"
)

// TestQueryCannotOverridePath: a field bound by the URL path (the name of
// an operation or collection, the parent of a start) is not also a query
// parameter (google.api.http: only the fields "not bound by the path
// template" become query parameters). A request whose query names one must
// be refused, or act on the path's resource, never on the query's: an
// embedder that authorizes requests by their path (a proxy allowing
// /v1/projects/p/...) relies on it.
func TestQueryCannotOverridePath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	victim, _ := e.startHeld(t, "projects/victim/locations/l", kindBlock, "victim")
	mine := e.start(t, testParent, kindEcho, "")
	e.waitDone(t, mine)
	victimBefore := string(compactJSON(t, e.do(t, http.MethodGet, "/v1/"+victim, "").body))

	var overridden []string
	for _, c := range []struct{ method, path, body, wantName string }{
		{http.MethodGet, "/v1/" + mine + "?name=" + victim, "", mine},
		{http.MethodPost, "/v1/" + mine + ":wait?name=" + victim, `{"timeout":"0.01s"}`, mine},
		{http.MethodDelete, "/v1/" + mine + "?name=" + victim, "", ""},
		{http.MethodPost, "/v1/" + mine + ":cancel?name=" + victim, `{}`, ""},
		{http.MethodGet, "/v1/" + testParent + "/operations?name=projects/victim/locations/l/operations", "", ""},
		{http.MethodPost, "/v1/" + testParent + "/operations:start?parent=projects/victim/locations/l", `{"kind":"test.echo"}`, ""},
	} {
		r := e.do(t, c.method, c.path, c.body)
		body := string(r.body)
		if strings.Contains(body, "victim") {
			overridden = append(overridden, fmt.Sprintf("%s %s → %d %s", c.method, c.path, r.status, body))
			continue
		}
		if r.status == http.StatusBadRequest {
			requireGoogleError(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")
			continue
		}
		require.Equal(t, http.StatusOK, r.status, "%s %s: %s", c.method, c.path, body)
		if c.wantName != "" {
			require.Equal(t, c.wantName, r.object(t)["name"])
		}
	}
	victimAfter := string(compactJSON(t, e.do(t, http.MethodGet, "/v1/"+victim, "").body))
	if victimAfter != victimBefore {
		overridden = append(overridden, "and "+victim+" was changed: "+victimAfter)
	}
	if len(overridden) > 0 {
		t.Fatalf("a query parameter overrides the field the path binds:\n%s", strings.Join(overridden, "\n"))
	}
}

// TestSystemParameters: Google's system parameters ($alt, $fields, …) are
// ignored, however the client encodes them.
func TestSystemParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{Workers: -1})
	name := e.start(t, "", kindEcho, "")
	for _, query := range []string{
		"$alt=json;enum-encoding=int",
		"$alt=json&$prettyPrint=false",
	} {
		r := e.do(t, http.MethodGet, "/v1/"+name+"?"+query, "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", query, r.body)
	}

	// Google's generated REST clients build their queries with
	// url.Values.Encode, which escapes "$": they send
	// "%24alt=json%3Benum-encoding%3Dint".
	r := e.do(t, http.MethodGet, "/v1/"+name+"?%24alt=json%3Benum-encoding%3Dint", "")
	if r.status == http.StatusBadRequest && strings.Contains(string(r.body), `\"$alt\"`) {
		t.Fatalf("lrohttp strips system parameters only when the raw query holds a literal \"$\"; "+
			"a percent-encoded %%24alt is an unknown field: %s", r.body)
	}
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// TestQueryParametersOfBodyRoutes: on a route whose body is "*", every field
// comes from the body (google.api.http: "it is not possible to have HTTP
// parameters"); a query parameter must not set, let alone override, one.
func TestQueryParametersOfBodyRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{Workers: -1})
	r := e.do(t, http.MethodPost, "/v1/operations:start?kind="+kindEmpty, `{"kind":"`+kindEcho+`"}`)
	if r.status == http.StatusOK {
		name, _ := r.object(t)["name"].(string)
		ops, err := e.srv.Client().ListOperations(t.Context(), "operations", &lro.ListOptions{
			Filter: fmt.Sprintf(`kind = %q`, kindEmpty)})
		require.NoError(t, err)
		overridden := len(ops.GetOperations()) == 1 && ops.GetOperations()[0].GetName() == name
		t.Fatalf("a query parameter of a body:\"*\" route is accepted (the operation is of kind %s: query overrides body = %v)",
			map[bool]string{true: kindEmpty, false: kindEcho}[overridden], overridden)
	}
	requireGoogleError(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")
	require.Zero(t, e.count(t, "operations"))
}

// TestNoGRPCHeadersInErrors: an HTTP error response carries no header of
// the in-process gRPC call.
func TestNoGRPCHeadersInErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{Workers: -1})
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/operations?bogus=1", ""},
		{"POST", "/v1/operations:start", `{"kind":`},
		{"GET", "/v1/operations/" + uuid.NewString(), ""},
	} {
		r := e.do(t, c.method, c.path, c.body)
		require.GreaterOrEqual(t, r.status, 400)
		for k := range r.header {
			if strings.HasPrefix(strings.ToLower(k), "grpc-") {
				t.Fatalf("%s %s answers %d with header %s: %q", c.method, c.path, r.status, k, r.header.Get(k))
			}
		}
	}
}

// TestRetryHeaders: GET of an operation that waits to run again after a
// failed attempt tells the attempts made and that attempt's error, a
// google.rpc.Status in base64, while its own error stays empty.
func TestRetryHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	r := e.do(t, "POST", "/v1/operations:start", `{"kind": "`+kindRetried+`", "input": "down for now"}`)
	require.Equal(t, http.StatusOK, r.status, r.body)
	var started struct{ Name string }
	require.NoError(t, json.Unmarshal(r.body, &started))
	require.Eventually(t, func() bool {
		r = e.do(t, "GET", "/v1/"+started.Name, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.NotContains(t, string(r.body), `"error"`)
		return r.header.Get("Lro-Last-Error-Bin") != ""
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "pending", r.header.Get("Lro-State"))
	require.Equal(t, "1", r.header.Get("Lro-Attempt"))
	b, err := base64.RawStdEncoding.DecodeString(r.header.Get("Lro-Last-Error-Bin")) // as gRPC sends -bin headers
	require.NoError(t, err, r.header.Get("Lro-Last-Error-Bin"))
	last := &spb.Status{}
	require.NoError(t, proto.Unmarshal(b, last))
	require.Equal(t, int32(codes.Unavailable), last.GetCode())
	require.Equal(t, "down for now", last.GetMessage())
}

// TestLeaseHeaders: GET of an operation that is not done tells its state,
// and while it runs when its worker's lease expires, in response headers,
// so that an operator can tell a live worker from a dead one.
func TestLeaseHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{LeaseTTL: time.Minute})
	before := time.Now()
	name, g := e.startHeld(t, "", kindBlock, "k")
	r := e.do(t, "GET", "/v1/"+name, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "running", r.header.Get("Lro-State"))
	expire, err := time.Parse(time.RFC3339Nano, r.header.Get("Lro-Lease-Expire-Time"))
	require.NoError(t, err, "header %v", r.header)
	require.WithinRange(t, expire, before.Add(time.Minute-time.Second), time.Now().Add(time.Minute+time.Second))
	g.Release()
	e.waitDone(t, name)
	r = e.do(t, "GET", "/v1/"+name, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Empty(t, r.header.Get("Lro-State"), "a done operation gets neither header")
	require.Empty(t, r.header.Get("Lro-Lease-Expire-Time"))
}
