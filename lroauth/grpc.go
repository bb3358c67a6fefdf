package lroauth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// exemptPrefixes are the gRPC services that need no credentials: health
// checks, which load balancers and orchestrators make without any, and
// reflection, which only describes the API.
var exemptPrefixes = []string{"/grpc.health.v1.", "/grpc.reflection."}

func exempt(method string) bool {
	for _, p := range exemptPrefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// UnaryServerInterceptor returns a gRPC interceptor that authenticates each
// unary call with a and calls its handler with the principal in its
// context (NewContext); a call that a refuses gets a's error, and its
// handler is not called.
//
// The credentials are the call's "authorization" metadata and its TLS
// state (credentials.TLSInfo of its peer). A call whose context already
// holds a principal keeps it without asking a: an HTTP Middleware, or the
// embedder's own interceptor before this one, authenticated it. The gRPC
// health and reflection services (methods under /grpc.health.v1. and
// /grpc.reflection.) need no credentials.
func UnaryServerInterceptor(a Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticateGRPC(ctx, a, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func StreamServerInterceptor(a Authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authenticateGRPC(ss.Context(), a, info.FullMethod)
		if err != nil {
			return err
		}
		if ctx != ss.Context() {
			ss = &principalStream{ServerStream: ss, ctx: ctx}
		}
		return handler(srv, ss)
	}
}

// principalStream is a stream whose context holds the principal.
type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

// authenticateGRPC returns ctx with the principal of the call, or ctx
// itself if it needs none or already has one.
func authenticateGRPC(ctx context.Context, a Authenticator, method string) (context.Context, error) {
	if exempt(method) || FromContext(ctx) != nil {
		return ctx, nil
	}
	c := &Credentials{}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		values := md.Get("authorization")
		if len(values) > 1 {
			return nil, Unauthenticated("CREDENTIALS_AMBIGUOUS", "the call has more than one authorization header")
		}
		if len(values) == 1 {
			c.Authorization = values[0]
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			c.TLS = &info.State
		}
	}
	p, err := authenticate(ctx, a, c)
	if err != nil {
		return nil, err
	}
	return NewContext(ctx, p), nil
}

// authenticate calls a, and makes its error one that carries a gRPC status:
// an error without one (from an embedder's Authenticator) becomes
// UNAUTHENTICATED with its message.
func authenticate(ctx context.Context, a Authenticator, c *Credentials) (*Principal, error) {
	p, err := a.Authenticate(ctx, c)
	switch {
	case err == nil && p == nil:
		return nil, Unauthenticated("CREDENTIALS_INVALID", "the credentials name no principal")
	case err == nil:
		return p, nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, status.FromContextError(err).Err()
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if errors.As(err, &withStatus) {
		return nil, err
	}
	return nil, Unauthenticated("CREDENTIALS_INVALID", err.Error())
}
