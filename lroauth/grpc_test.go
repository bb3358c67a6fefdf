package lroauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// bearerCreds sends a bearer token with each call. Real clients send it
// over TLS only; this one allows plain connections, for tests.
type bearerCreds string

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return false }

// whoAmI answers GetOperation with the caller's principal as the
// operation's name, and StreamingOutputCall with it as the body.
type whoAmI struct {
	longrunningpb.UnimplementedOperationsServer
	testpb.UnimplementedTestServiceServer
	calls atomic.Int64
}

func (s *whoAmI) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.calls.Add(1)
	p := FromContext(ctx)
	if p == nil {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return &longrunningpb.Operation{Name: p.Name, Done: p.Can(RoleReader, req.GetName())}, nil
}

func (s *whoAmI) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	s.calls.Add(1)
	p := FromContext(stream.Context())
	if p == nil {
		return status.Error(codes.Internal, "no principal")
	}
	return stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte(p.Name)}})
}

// countingAuth counts the calls of an Authenticator.
type countingAuth struct {
	Authenticator
	calls atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, cr *Credentials) (*Principal, error) {
	c.calls.Add(1)
	return c.Authenticator.Authenticate(ctx, cr)
}

// grpcHarness is a gRPC server with the interceptors on bufconn.
type grpcHarness struct {
	svc  *whoAmI
	auth *countingAuth
	lis  *bufconn.Listener
}

func newGRPCHarness(t *testing.T, a Authenticator, creds credentials.TransportCredentials, before ...grpc.UnaryServerInterceptor) *grpcHarness {
	t.Helper()
	h := &grpcHarness{svc: &whoAmI{}, auth: &countingAuth{Authenticator: a}, lis: bufconn.Listen(1 << 20)}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append(before, UnaryServerInterceptor(h.auth))...),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(h.auth)),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	longrunningpb.RegisterOperationsServer(s, h.svc)
	testpb.RegisterTestServiceServer(s, h.svc)
	healthpb.RegisterHealthServer(s, health.NewServer())
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.Serve(h.lis)
	}()
	t.Cleanup(func() { s.Stop(); <-served })
	return h
}

func (h *grpcHarness) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return h.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// requireAPIError asserts that err is code with reason, as Google's client
// sees it.
func requireAPIError(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, status.Code(err), "%v", err)
	ae, ok := apierror.FromError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, reason, ae.Reason())
	require.Equal(t, "lro.dev", ae.Domain())
}

func TestUnaryServerInterceptor(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	h := newGRPCHarness(t, New(f.tokens, f.jwts), nil)
	ctx := context.Background()
	ops, err := autogen.NewOperationsClient(ctx, option.WithGRPCConn(h.dial(t, nil)))
	require.NoError(t, err)
	get := func(token string) (*longrunningpb.Operation, error) {
		var opts []gax.CallOption
		if token != "" {
			opts = append(opts, gax.WithGRPCOptions(grpc.PerRPCCredentials(bearerCreds(token))))
		}
		return ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/x"}, opts...)
	}

	op, err := get(f.staticToken)
	require.NoError(t, err)
	require.Equal(t, "ci-bot", op.GetName())
	op, err = get(f.jwt)
	require.NoError(t, err)
	require.Equal(t, "alice", op.GetName())
	require.EqualValues(t, 2, h.svc.calls.Load())

	_, err = get("")
	requireAPIError(t, err, codes.Unauthenticated, "CREDENTIALS_MISSING")
	_, err = get("not-a-known-token")
	requireAPIError(t, err, codes.Unauthenticated, "TOKEN_INVALID")
	require.NotContains(t, err.Error(), "not-a-known-token")
	expired := validClaims()
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	_, err = get(mint(t, f.key, expired))
	requireAPIError(t, err, codes.Unauthenticated, "TOKEN_EXPIRED")
	_, err = get(mint(t, newKey(t, "k1", jose.ES256, 0), validClaims()))
	requireAPIError(t, err, codes.Unauthenticated, "TOKEN_INVALID")
	c := validClaims()
	c.Audience = []string{"someone-else"}
	_, err = get(mint(t, f.key, c))
	requireAPIError(t, err, codes.Unauthenticated, "WRONG_AUDIENCE")
	require.EqualValues(t, 2, h.svc.calls.Load(), "a refused call reached its handler")

	// Two authorization values.
	md := metadata.Pairs("authorization", "Bearer "+f.staticToken, "authorization", "Bearer "+f.jwt)
	_, err = ops.GetOperation(metadata.NewOutgoingContext(ctx, md), &longrunningpb.GetOperationRequest{Name: "operations/x"})
	requireAPIError(t, err, codes.Unauthenticated, "CREDENTIALS_AMBIGUOUS")

	// Health needs no credentials.
	resp, err := healthpb.NewHealthClient(h.dial(t, nil)).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}

func TestStreamServerInterceptor(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	h := newGRPCHarness(t, New(f.tokens, f.jwts), nil)
	client := testpb.NewTestServiceClient(h.dial(t, nil))
	recv := func(opts ...grpc.CallOption) (string, error) {
		stream, err := client.StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{}, opts...)
		require.NoError(t, err)
		resp, err := stream.Recv()
		return string(resp.GetPayload().GetBody()), err
	}
	name, err := recv(grpc.PerRPCCredentials(bearerCreds(f.jwt)))
	require.NoError(t, err)
	require.Equal(t, "alice", name)
	_, err = recv()
	requireAPIError(t, err, codes.Unauthenticated, "CREDENTIALS_MISSING")
	require.EqualValues(t, 1, h.svc.calls.Load())
}

func TestInterceptorKeepsPrincipal(t *testing.T) {
	t.Parallel()
	// The embedder's own interceptor authenticated the call first.
	embedder := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(NewContext(ctx, &Principal{Name: "from-embedder"}), req)
	}
	h := newGRPCHarness(t, New(nil, nil), nil, embedder)
	ops := longrunningpb.NewOperationsClient(h.dial(t, nil))
	op, err := ops.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: "operations/x"})
	require.NoError(t, err)
	require.Equal(t, "from-embedder", op.GetName())
	require.Zero(t, h.auth.calls.Load())
}

func TestInterceptorErrors(t *testing.T) {
	t.Parallel()
	plain := AuthenticatorFunc(func(context.Context, *Credentials) (*Principal, error) {
		return nil, errNoGood
	})
	nothing := AuthenticatorFunc(func(context.Context, *Credentials) (*Principal, error) { return nil, nil })
	for _, tt := range []struct {
		a      Authenticator
		reason string
	}{{plain, "CREDENTIALS_INVALID"}, {nothing, "CREDENTIALS_INVALID"}} {
		h := newGRPCHarness(t, tt.a, nil)
		_, err := longrunningpb.NewOperationsClient(h.dial(t, nil)).GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: "operations/x"})
		requireAPIError(t, err, codes.Unauthenticated, tt.reason)
	}
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoGood = constError("no good")

// testPKI is a CA with a server and a client certificate.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newTestPKI(t *testing.T, clientSubject pkix.Name) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, dns []string) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = issue(2, pkix.Name{CommonName: "server"}, x509.ExtKeyUsageServerAuth, []string{"bufnet"})
	p.client = issue(3, clientSubject, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func TestInterceptorMutualTLS(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	pki := newTestPKI(t, pkix.Name{CommonName: "worker-1", Organization: []string{"Example"}})
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	h := newGRPCHarness(t, New(f.tokens, f.jwts), credentials.NewTLS(serverTLS))
	withCert := h.dial(t, credentials.NewTLS(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, ServerName: "bufnet", MinVersion: tls.VersionTLS12}))
	withoutCert := h.dial(t, credentials.NewTLS(&tls.Config{RootCAs: pki.pool, ServerName: "bufnet", MinVersion: tls.VersionTLS12}))
	ctx := context.Background()
	req := &longrunningpb.GetOperationRequest{Name: "operations/x"}

	op, err := longrunningpb.NewOperationsClient(withCert).GetOperation(ctx, req)
	require.NoError(t, err)
	require.Equal(t, workerSubject, op.GetName())

	op, err = longrunningpb.NewOperationsClient(withCert).GetOperation(ctx, req, grpc.PerRPCCredentials(bearerCreds(f.staticToken)))
	require.NoError(t, err)
	require.Equal(t, "ci-bot", op.GetName(), "the token decides over the certificate")

	_, err = longrunningpb.NewOperationsClient(withoutCert).GetOperation(ctx, req)
	requireAPIError(t, err, codes.Unauthenticated, "CREDENTIALS_MISSING")
	op, err = longrunningpb.NewOperationsClient(withoutCert).GetOperation(ctx, req, grpc.PerRPCCredentials(bearerCreds(f.jwt)))
	require.NoError(t, err)
	require.Equal(t, "alice", op.GetName())
}
