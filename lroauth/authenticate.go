package lroauth

import (
	"context"
	"crypto/tls"
)

// Credentials are what a call presents to prove who calls.
type Credentials struct {
	// Authorization is the value of the call's authorization header (gRPC
	// metadata or HTTP), such as "Bearer TOKEN"; empty if none.
	Authorization string
	// TLS is the state of the call's TLS connection, nil over plain TCP.
	// Its VerifiedChains are set when the server verified a client
	// certificate.
	TLS *tls.ConnectionState
}

// An Authenticator maps credentials to a principal. It returns an error
// made with Unauthenticated when they are missing or not valid; the
// message says what is wrong without echoing a secret.
type Authenticator interface {
	Authenticate(ctx context.Context, c *Credentials) (*Principal, error)
}

// AuthenticatorFunc is an Authenticator as a function.
type AuthenticatorFunc func(ctx context.Context, c *Credentials) (*Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, c *Credentials) (*Principal, error) {
	return f(ctx, c)
}
