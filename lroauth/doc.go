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
// Permission is checked before anything is read, so a call on an operation
// outside the caller's grants is PERMISSION_DENIED whether or not the
// operation exists (AIP-211): the answer leaks nothing.
package lroauth
