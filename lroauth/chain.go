package lroauth

import (
	"context"
	"strings"
)

// New returns the Authenticator of lro's own credentials: static tokens
// from tokens, JWTs verified by jwts, and client certificates. Either may
// be nil. It decides in this order:
//
//  1. A call with an authorization header is decided by its bearer token
//     alone (ParseBearer), even if it also has a client certificate. A
//     token with two dots, the shape of a JWT, goes to jwts; any other
//     token, or every token if jwts is nil, to the static tokens of
//     tokens. (Static tokens are opaque: make them without two dots, such
//     as with openssl rand -hex 32.)
//  2. A call with no authorization header and a client certificate that
//     the server verified is the principal named by the leaf's subject,
//     with the grants that tokens gives it (none if tokens does not list
//     it, or is nil).
//  3. A call with neither is refused: CREDENTIALS_MISSING.
func New(tokens *TokenFile, jwts *JWTVerifier) Authenticator {
	return &authenticator{tokens: tokens, jwts: jwts}
}

type authenticator struct {
	tokens *TokenFile
	jwts   *JWTVerifier
}

func (a *authenticator) Authenticate(ctx context.Context, c *Credentials) (*Principal, error) {
	if c.Authorization == "" {
		if p := certPrincipal(a.tokens, c.TLS); p != nil {
			return p, nil
		}
	}
	token, err := ParseBearer(c.Authorization)
	if err != nil {
		return nil, err
	}
	switch {
	case a.jwts != nil && strings.Count(token, ".") == 2:
		return a.jwts.Verify(ctx, token)
	case a.tokens != nil:
		return a.tokens.tokenPrincipal(token)
	case a.jwts != nil:
		return nil, Unauthenticated("TOKEN_INVALID", "the bearer token is not a JWT, and this server accepts only JWTs")
	}
	return nil, Unauthenticated("TOKEN_INVALID", "this server accepts no bearer tokens, only client certificates")
}

var (
	_ Authenticator = (*TokenFile)(nil)
	_ Authenticator = (*JWTVerifier)(nil)
	_ Authenticator = (*authenticator)(nil)
	_ Authenticator = AuthenticatorFunc(nil)
)
