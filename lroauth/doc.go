// Package lroauth authenticates and authorizes the callers of lro's
// services.
//
// It splits the work in two, so that a server that embeds lro can replace
// either half:
//
//   - Authentication maps a call's credentials (a bearer token in the
//     authorization header, a TLS client certificate) to a *Principal. An
//     Authenticator does it; UnaryServerInterceptor, StreamServerInterceptor
//     and Middleware run one for gRPC and HTTP, and put the principal in
//     the call's context (NewContext). A server with its own authentication
//     puts its own principals there instead.
//   - Authorization decides whether a principal may make a call: an
//     AuthorizeFunc, given the principal and the Call (the method, the
//     operation's name or parent, the kinds). Grants, the default, decides
//     by the principal's grants (ROLE:PATTERN). lrogrpc.WithAuthorize
//     installs one.
//
// # Credentials
//
// lro's own Authenticator is New, over two sources, either optional:
//
//   - a TokenFile (LoadTokenFile): static bearer tokens, stored as their
//     SHA-256, and grants for client certificates by subject; it reloads
//     when the file changes (TokenFile.Watch);
//   - a JWTVerifier (NewJWTVerifier): bearer JWTs signed by a key of a
//     JSON Web Key Set, a file or a URL, refreshed in the background.
//
// A bearer token decides alone; a call with none is authenticated by its
// verified client certificate, if it has one. A refusal is UNAUTHENTICATED
// (HTTP 401) with an ErrorInfo whose reason says what to fix:
// CREDENTIALS_MISSING, UNSUPPORTED_SCHEME, MALFORMED_TOKEN,
// CREDENTIALS_AMBIGUOUS (two authorization headers), TOKEN_INVALID,
// TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, WRONG_ISSUER, WRONG_AUDIENCE or
// UNKNOWN_KEY. Messages never echo a token.
//
// # Authorization
//
// Permission is checked before anything is read, so a call on an operation
// outside the caller's grants is PERMISSION_DENIED whether or not the
// operation exists (AIP-211): the answer leaks nothing.
package lroauth
