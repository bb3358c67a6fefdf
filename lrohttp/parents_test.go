package lrohttp_test

// The routes of an embedder's parents (server.Config.HTTPParents
// "projects/*/locations/*").

import (
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
)

func TestParentRoutes(t *testing.T) {
	t.Parallel()

	t.Run("EveryRoute", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		const base = "/v1/" + testParent + "/operations"

		op := e.doOK(t, http.MethodPost, base+":start", `{"kind":"test.block","input":"p"}`)
		name := op["name"].(string)
		require.Regexp(t, `^`+testParent+`/operations/[0-9a-f-]{36}$`, name)
		g := e.gates.Get("p")
		await(t, g.Started, "the handler to start")

		list := e.doOK(t, http.MethodGet, base, "")
		require.Len(t, list["operations"], 1)
		require.Equal(t, name, list["operations"].([]any)[0].(map[string]any)["name"])

		got := e.doOK(t, http.MethodGet, "/v1/"+name, "")
		require.Equal(t, map[string]any{"name": name}, got)

		start := time.Now()
		got = e.doOK(t, http.MethodPost, "/v1/"+name+":wait", `{"timeout":"0.1s"}`)
		require.GreaterOrEqual(t, time.Since(start), 90*time.Millisecond)
		require.Equal(t, map[string]any{"name": name}, got, "not done after the timeout")

		r := e.do(t, http.MethodDelete, "/v1/"+name, "")
		requireGoogleError(t, r, http.StatusBadRequest, "FAILED_PRECONDITION")

		require.Equal(t, map[string]any{}, e.doOK(t, http.MethodPost, "/v1/"+name+":cancel", `{}`))
		require.ErrorIs(t, await(t, g.Cause, "the cancellation"), lro.ErrCancelRequested)
		done := e.waitDone(t, name)
		require.Equal(t, float64(1), done["error"].(map[string]any)["code"])

		require.Equal(t, map[string]any{}, e.doOK(t, http.MethodDelete, "/v1/"+name, ""))
		requireGoogleError(t, e.do(t, http.MethodGet, "/v1/"+name, ""), http.StatusNotFound, "NOT_FOUND")
		require.Equal(t, map[string]any{}, e.doOK(t, http.MethodGet, base, ""), "an empty list is {}")
	})

	t.Run("OtherParentIsNotFound", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		inL, _ := e.startHeld(t, testParent, kindBlock, "l")
		top, _ := e.startHeld(t, "", kindBlock, "top")
		id := operationID(inL)
		topID := operationID(top)
		before := map[string][]byte{}
		for _, name := range []string{inL, top} {
			before[name] = compactJSON(t, e.do(t, http.MethodGet, "/v1/"+name, "").body)
		}

		for _, wrong := range []string{
			"projects/p/locations/m/operations/" + id,
			"projects/q/locations/l/operations/" + id,
			"operations/" + id,
			testParent + "/operations/" + topID,
		} {
			for _, c := range []struct{ method, suffix, body string }{
				{http.MethodGet, "", ""},
				{http.MethodPost, ":wait", `{"timeout":"0.01s"}`},
				{http.MethodPost, ":cancel", `{}`},
				{http.MethodDelete, "", ""},
			} {
				r := e.do(t, c.method, "/v1/"+wrong+c.suffix, c.body)
				reason := requireGoogleError(t, r, http.StatusNotFound, "NOT_FOUND")
				require.Equal(t, "OPERATION_NOT_FOUND", reason, "%s %s", c.method, wrong)
			}
		}
		for _, collection := range []string{"projects/p/locations/m", "projects/q/locations/l"} {
			require.Equal(t, map[string]any{}, e.doOK(t, http.MethodGet, "/v1/"+collection+"/operations", ""))
		}
		// Neither cancelled nor deleted under the wrong names.
		for _, name := range []string{inL, top} {
			require.Equal(t, string(before[name]), string(compactJSON(t, e.do(t, http.MethodGet, "/v1/"+name, "").body)))
		}
	})

	t.Run("ParentWithoutRoute", func(t *testing.T) {
		t.Parallel()
		// An operation whose parent matches no pattern exists (gRPC
		// serves it), but has no HTTP route.
		e := newEnv(t, lro.Config{Workers: -1})
		op, err := e.lro.StartOperation(t.Context(), &lropb.StartOperationRequest{Parent: "projects/p", Kind: kindEcho})
		require.NoError(t, err)
		_, err = e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		reason := requireGoogleError(t, e.do(t, http.MethodGet, "/v1/"+op.GetName(), ""), http.StatusNotFound, "NOT_FOUND")
		require.Equal(t, "ROUTE_NOT_FOUND", reason)
		reason = requireGoogleError(t, e.do(t, http.MethodPost, "/v1/projects/p/operations:start", `{"kind":"test.echo"}`), http.StatusNotFound, "NOT_FOUND")
		require.Equal(t, "ROUTE_NOT_FOUND", reason)
	})
}
