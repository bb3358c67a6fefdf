package tlsconn_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/tlsconn"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	var seen *tls.ConnectionState
	h := tlsconn.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.TLS }))

	// No state stored: r.TLS stays nil.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Nil(t, seen)

	// ConnContext of a conn that is not TLS stores nothing.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx := tlsconn.ConnContext(context.Background(), a)
	require.Nil(t, tlsconn.State(ctx))
	require.Nil(t, tlsconn.Unwrap(a))
	tc := tls.Server(a, &tls.Config{})
	require.Same(t, tc, tlsconn.Unwrap(tc))
	// Before its handshake, a TLS conn has no state to store.
	require.Nil(t, tlsconn.State(tlsconn.ConnContext(context.Background(), tc)))

	// A stored state becomes r.TLS, on a copy of the request.
	state := &tls.ConnectionState{HandshakeComplete: true, ServerName: "x"}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = nil
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(tlsconn.ContextWithState(state)))
	require.Equal(t, "x", seen.ServerName)
	require.Nil(t, r.TLS)
}
