// Package tlsconn carries the TLS state of a connection to the code that
// serves its requests, when the server does TLS itself before it splits the
// connections of one port between gRPC and HTTP (cmux).
//
// net/http fills Request.TLS only for the *tls.Conn it accepted, and
// grpc-go's server fills peer.Peer.AuthInfo only from its own transport
// credentials. Behind cmux neither sees a *tls.Conn: HTTP handlers see the
// state through Handler, which sets Request.TLS from the state that
// ConnContext stored (grpc-go's ServeHTTP, which vanguard calls, turns
// Request.TLS into the peer's credentials.TLSInfo), and gRPC sees it
// through the server's transport credentials, which Unwrap the conn.
package tlsconn

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/soheilhy/cmux"
)

type stateKey struct{}

// Unwrap returns the *tls.Conn under c: c itself, or the connection that
// a cmux.MuxConn, or a wrapper with a NetConn method (as *tls.Conn has),
// holds, however deep; nil if there is none.
func Unwrap(c net.Conn) *tls.Conn {
	for range 8 { // wrappers are few; a cycle must not spin
		switch w := c.(type) {
		case *tls.Conn:
			return w
		case *cmux.MuxConn:
			c = w.Conn
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// ConnContext stores the TLS state of c, if it is (or wraps) a *tls.Conn
// whose handshake is complete, in ctx; it has the signature of
// http.Server.ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	tc := Unwrap(c)
	if tc == nil {
		return ctx
	}
	state := tc.ConnectionState()
	if !state.HandshakeComplete {
		return ctx
	}
	return context.WithValue(ctx, stateKey{}, &state)
}

// State returns the TLS state that ConnContext stored in ctx, or nil.
func State(ctx context.Context) *tls.ConnectionState {
	state, _ := ctx.Value(stateKey{}).(*tls.ConnectionState)
	return state
}

// Handler sets Request.TLS, where net/http left it nil, to the state that
// ConnContext stored, so that h and what it calls see the connection's
// TLS as if net/http had done it.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if state := State(r.Context()); state != nil {
				r = r.WithContext(r.Context()) // a shallow copy: r is not ours to change
				r.TLS = state
			}
		}
		h.ServeHTTP(w, r)
	})
}
