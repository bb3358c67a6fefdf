package tlsconn

import (
	"context"
	"crypto/tls"
)

// ContextWithState stores state as ConnContext does.
func ContextWithState(state *tls.ConnectionState) context.Context {
	return context.WithValue(context.Background(), stateKey{}, state)
}
