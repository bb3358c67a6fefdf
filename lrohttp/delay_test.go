package lrohttp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro"
)

// Over HTTP/JSON, "delay" (a duration such as "0.3s") and "runAfter" (an
// RFC 3339 time) keep a started operation pending until its time.
func TestDelayedStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	for _, field := range []func(began time.Time) string{
		func(time.Time) string { return `"delay":"0.3s"` },
		func(began time.Time) string {
			return `"runAfter":"` + began.Add(300*time.Millisecond).UTC().Format(time.RFC3339Nano) + `"`
		},
	} {
		began := time.Now()
		field := field(began)
		op := e.doOK(t, http.MethodPost, "/v1/operations:start",
			`{"kind":"`+kindEcho+`","input":{"failMessage":"later"},`+field+`}`)
		name := op["name"].(string)
		_, info, err := e.srv.Client().GetOperationInfo(t.Context(), name)
		require.NoError(t, err)
		require.Equal(t, "pending", info.State, field)
		r := e.do(t, http.MethodGet, "/v1/"+name, "")
		require.Equal(t, http.StatusOK, r.status)
		require.NotContains(t, r.object(t), "done", field)
		require.Equal(t, "pending", r.header.Get("Lro-State"))
		at, err := time.Parse(time.RFC3339Nano, r.header.Get("Lro-Not-Before"))
		require.NoError(t, err, "the Lro-Not-Before header")
		require.True(t, at.Equal(info.NotBefore), "%v, not %v", at, info.NotBefore)
		done := e.waitDone(t, name)
		require.Equal(t, "later", done["response"].(map[string]any)["value"], field)
		require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, field)
	}
	for _, body := range []string{
		`{"kind":"` + kindEcho + `","delay":"-1s"}`,
		`{"kind":"` + kindEcho + `","delay":"soon"}`,
		`{"kind":"` + kindEcho + `","runAfter":"tomorrow"}`,
		`{"kind":"` + kindEcho + `","delay":"1s","runAfter":"2026-01-01T00:00:00Z"}`,
		`{"kind":"` + kindEcho + `","runAfter":"2999-01-01T00:00:00Z"}`,
	} {
		r := e.do(t, http.MethodPost, "/v1/operations:start", body)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", body, r.body)
		require.Equal(t, "INVALID_ARGUMENT", r.object(t)["error"].(map[string]any)["status"], body)
	}
}
