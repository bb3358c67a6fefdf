package lrohttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lrohttp"
	"lro.dev/lro/lropb"
)

func TestNewHandlerConfig(t *testing.T) {
	t.Parallel()

	// registered returns a gRPC server with both services (over no client:
	// the handler's construction does not call them).
	registered := func() *grpc.Server {
		s := grpc.NewServer()
		lrogrpc.Register(s, nil)
		return s
	}

	t.Run("ValidParents", func(t *testing.T) {
		t.Parallel()
		for _, parents := range [][]string{
			nil,
			{},
			{"projects/*"},
			{"projects/*/locations/*"},
			{"organizations/acme"},
			{"projects/*/locations/*", "folders/*"},
			{"projects/*/locations/*/instances/*"},
		} {
			h, err := lrohttp.NewHandler(registered(), &lrohttp.Config{Parents: parents})
			require.NoError(t, err, "parents %q", parents)
			require.NotNil(t, h)
		}
		h, err := lrohttp.NewHandler(registered(), nil)
		require.NoError(t, err, "a nil config is the zero config")
		require.NotNil(t, h)
	})

	t.Run("BadParents", func(t *testing.T) {
		t.Parallel()
		for _, parent := range []string{
			"",
			"projects",
			"projects/*/locations",
			"/projects/*",
			"projects/*/",
			"projects//locations/*",
			"projects/**",
			"projects/*/locations/**",
			"projects/{project}",
			"projects/{project=*}",
			"projects/p:x",
			"projects/a b",
			"projects/p?q",
		} {
			h, err := lrohttp.NewHandler(registered(), &lrohttp.Config{Parents: []string{parent}})
			require.Error(t, err, "parent %q", parent)
			require.Nil(t, h)
			require.True(t, strings.HasPrefix(err.Error(), "lrohttp: "), "%v", err)
			require.Contains(t, err.Error(), parent)
		}
		// One bad pattern among good ones.
		_, err := lrohttp.NewHandler(registered(), &lrohttp.Config{Parents: []string{"projects/*", "bad"}})
		require.ErrorContains(t, err, `"bad"`)
		// The same pattern twice: its routes clash.
		_, err = lrohttp.NewHandler(registered(), &lrohttp.Config{Parents: []string{"projects/*", "projects/*"}})
		require.ErrorContains(t, err, "already exists")
	})

	t.Run("ServicesNotRegistered", func(t *testing.T) {
		t.Parallel()
		_, err := lrohttp.NewHandler(grpc.NewServer(), nil)
		require.ErrorContains(t, err, "google.longrunning.Operations is not registered")

		onlyOperations := grpc.NewServer()
		longrunningpb.RegisterOperationsServer(onlyOperations, lrogrpc.NewServer(nil))
		_, err = lrohttp.NewHandler(onlyOperations, nil)
		require.ErrorContains(t, err, "lro.v1.Lro is not registered")

		onlyLro := grpc.NewServer()
		lropb.RegisterLroServer(onlyLro, lrogrpc.NewServer(nil))
		_, err = lrohttp.NewHandler(onlyLro, nil)
		require.ErrorContains(t, err, "google.longrunning.Operations is not registered")

		noWorkers := grpc.NewServer()
		longrunningpb.RegisterOperationsServer(noWorkers, lrogrpc.NewServer(nil))
		lropb.RegisterLroServer(noWorkers, lrogrpc.NewServer(nil))
		_, err = lrohttp.NewHandler(noWorkers, nil)
		require.ErrorContains(t, err, "lro.v1.Workers is not registered")
	})

	t.Run("MaxBodyBytes", func(t *testing.T) {
		t.Parallel()
		// A handler alone, with a small limit: bodies above it are refused
		// before any call.
		h, err := lrohttp.NewHandler(registered(), &lrohttp.Config{MaxBodyBytes: 64})
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		body := `{"kind":"test.echo","input":{"failMessage":"` + strings.Repeat("x", 64) + `"}}`
		for _, chunked := range []bool{false, true} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/operations:start", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if chunked {
				req.ContentLength = -1
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			r := readResponse(t, resp)
			reason := requireGoogleError(t, r, http.StatusBadRequest, "INVALID_ARGUMENT")
			require.Equal(t, "REQUEST_TOO_LARGE", reason)
			require.Contains(t, googleError(t, r).Message, "64 bytes")
		}
	})
}

func readResponse(t *testing.T, resp *http.Response) *response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}
