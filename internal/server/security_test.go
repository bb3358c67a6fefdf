package server_test

// End-to-end tests of the server's security (TLS, authentication,
// authorization, limits, audit): the assembled server, with TLS and the
// authenticator that lro serve builds (lroauth.New over a token file that
// it watches and a JWKS file), called through Google's Go clients over
// gRPC and HTTPS.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/internal/tlstest"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
)

const (
	secIssuer   = "https://idp.lro.test"
	secAudience = "lro-e2e"
	// secKindA and secKindB are run by workers of the Workers service.
	secKindA = "sec.a"
	secKindB = "sec.b"
	// secP1 and secP2 are the parents of the tests' operations.
	secP1 = "projects/p1"
	secP2 = "projects/p2"
)

// secTokenGrants are the principals of the token file and their grants;
// the token of each is secToken(principal).
var secTokenGrants = map[string][]string{
	"admin":      {"admin:*"},
	"reader":     {"reader:*"},
	"p1reader":   {"reader:" + secP1},
	"p1starter":  {"starter:" + secP1},
	"p2starter":  {"starter:" + secP2},
	"p1operator": {"operator:" + secP1},
	"workerA":    {"worker:" + secKindA},
	"workerB":    {"worker:" + secKindB},
}

// secToken is the static token of a principal of the token file.
func secToken(principal string) string { return "tok-" + principal + "-5f3a9c" }

// secCert is an entry of the token file's certificates.
type secCert struct {
	subject string
	grants  []string
}

// writeTokenFile writes a token file with tokens (principal to token) and
// their grants from secTokenGrants (reader:* for a principal it does not
// list), and certs; by a rename, as TokenFile.Watch asks.
func writeTokenFile(t *testing.T, path string, tokens map[string]string, certs []secCert) {
	t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	for principal, token := range tokens {
		grants := secTokenGrants[principal]
		if grants == nil {
			grants = []string{"reader:*"}
		}
		sum := sha256.Sum256([]byte(token))
		fmt.Fprintf(&b, "  - principal: %q\n    sha256: %s\n    grants: %s\n", principal, hex.EncodeToString(sum[:]), yamlList(grants))
	}
	if len(certs) > 0 {
		b.WriteString("certificates:\n")
		for _, c := range certs {
			fmt.Fprintf(&b, "  - subject: %q\n    grants: %s\n", c.subject, yamlList(c.grants))
		}
	}
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(b.String()), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func yamlList(list []string) string {
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// secKey is a signing key of the tests' JWTs.
type secKey struct {
	jwk jose.JSONWebKey
}

func newSecKey(t *testing.T, kid string) secKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return secKey{jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}}
}

// sign returns a JWT signed by k with the standard claims std and the
// others of extra.
func (k secKey) sign(t *testing.T, std jwt.Claims, extra map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	token, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	require.NoError(t, err)
	return token
}

// secClaims are valid claims for subject, for an hour.
func secClaims(subject string) jwt.Claims {
	now := time.Now()
	return jwt.Claims{Subject: subject, Issuer: secIssuer, Audience: jwt.Audience{secAudience},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
}

// secOptions vary the server of secEnv.
type secOptions struct {
	clientCA *tlstest.CA // mTLS: client certificates signed by it
	certs    []secCert
	limits   server.PrincipalLimits
	logger   *slog.Logger
}

// secEnv is a server with TLS and the authentication of lro serve, and
// what its tests need to call it.
type secEnv struct {
	srv       *server.Server
	addr      string
	tls       *tls.Config // trusts the server's CA
	tokenFile string
	key       secKey // signs the JWTs that the server accepts
}

// newSecEnv starts a server with TLS on 127.0.0.1 and lroauth.New over a
// watched token file (every principal of secTokenGrants) and a JWKS file
// (key), as lro serve builds its authenticator (serveOptions.authenticator).
func newSecEnv(t *testing.T, o secOptions) *secEnv {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	e := &secEnv{tls: &tls.Config{RootCAs: ca.Pool()}, tokenFile: filepath.Join(dir, "tokens.yaml"), key: newSecKey(t, "k1")}
	tokens := map[string]string{}
	for p := range secTokenGrants {
		tokens[p] = secToken(p)
	}
	writeTokenFile(t, e.tokenFile, tokens, o.certs)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{e.key.jwk.Public()}})
	require.NoError(t, err)
	jwksFile := filepath.Join(dir, "jwks.json")
	require.NoError(t, os.WriteFile(jwksFile, set, 0o600))

	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	tokenFile, err := lroauth.LoadTokenFile(e.tokenFile)
	require.NoError(t, err)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tokenFile.Watch(ctx, lroauth.WatchIntervalDefault, logger)
	}()
	jwts, err := lroauth.NewJWTVerifier(ctx, lroauth.JWTConfig{JWKS: jwksFile, Issuer: secIssuer, Audience: secAudience, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		jwts.Close()
		<-watched
	})

	tlsConfig := &server.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	if o.clientCA != nil {
		tlsConfig.ClientCAFile = o.clientCA.File
	}
	e.srv = newServer(t, server.Config{
		Client:        lro.Config{Workers: -1},
		HTTPParents:   []string{"projects/*"},
		TLS:           tlsConfig,
		Authenticator: lroauth.New(tokenFile, jwts),
		Limits:        o.limits,
		Logger:        logger,
		Register: func(c *lro.Client) error {
			if err := demo.Register(c); err != nil {
				return err
			}
			if err := lro.Declare(c, lro.DeclaredKind{Name: secKindA}); err != nil {
				return err
			}
			return lro.Declare(c, lro.DeclaredKind{Name: secKindB})
		},
	})
	e.addr = e.srv.Addr().String()
	return e
}

// conn is a gRPC connection over TLS that sends token as a bearer token
// on every call (none if token is empty), with the client certificates
// certs.
func (e *secEnv) conn(t *testing.T, token string, certs ...tls.Certificate) *grpc.ClientConn {
	t.Helper()
	c := e.tls.Clone()
	c.Certificates = certs
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: staticToken(token)}))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func staticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})
}

// ops is Google's gRPC client of the Operations service over TLS, with
// option.WithTokenSource (no credentials if token is empty).
func (e *secEnv) ops(t *testing.T, token string) *autogen.OperationsClient {
	t.Helper()
	opts := []option.ClientOption{option.WithEndpoint(e.addr),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(e.tls)))}
	if token != "" {
		opts = append(opts, option.WithTokenSource(staticToken(token)))
	} else {
		opts = append(opts, option.WithoutAuthentication())
	}
	c, err := autogen.NewOperationsClient(t.Context(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient is an HTTPS client that trusts the server's CA and sends
// token as a bearer token (none if empty).
func (e *secEnv) httpClient(t *testing.T, token string) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: e.tls.Clone(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if token != "" {
		rt = &oauth2.Transport{Source: staticToken(token), Base: tr}
	}
	return &http.Client{Transport: rt, Timeout: 30 * time.Second}
}

// restOps is Google's REST client of the Operations service over HTTPS.
func (e *secEnv) restOps(t *testing.T, token string) *autogen.OperationsClient {
	t.Helper()
	c, err := autogen.NewOperationsRESTClient(t.Context(), option.WithEndpoint("https://"+e.addr),
		option.WithHTTPClient(e.httpClient(t, token)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// start starts an operation of kind on parent with the token's
// principal; a demo.sleep of a minute (the server runs no handler: it
// stays pending).
func (e *secEnv) start(t *testing.T, token, parent, kind string) (*longrunningpb.Operation, error) {
	t.Helper()
	req := &lropb.StartOperationRequest{Kind: kind, Parent: parent}
	if kind == demo.KindSleep {
		input, err := structpb.NewValue(map[string]any{"duration": "60s"})
		require.NoError(t, err)
		req.KindInput = &lropb.StartOperationRequest_Input{Input: input}
	}
	return lropb.NewLroClient(e.conn(t, token)).StartOperation(t.Context(), req)
}

// mustStart is start that must succeed.
func (e *secEnv) mustStart(t *testing.T, token, parent, kind string) *longrunningpb.Operation {
	t.Helper()
	op, err := e.start(t, token, parent, kind)
	require.NoError(t, err)
	return op
}

// list lists every operation of parent with c.
func list(t *testing.T, c *autogen.OperationsClient, parent string) ([]string, error) {
	t.Helper()
	collection := "operations"
	if parent != "" {
		collection = parent + "/operations"
	}
	var names []string
	it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: collection})
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names, nil
		}
		if err != nil {
			return names, err
		}
		names = append(names, op.GetName())
	}
}

// allOps lists the operations of every parent the tests use, as admin.
func (e *secEnv) allOps(t *testing.T) []string {
	t.Helper()
	admin := e.ops(t, secToken("admin"))
	var all []string
	for _, parent := range []string{"", secP1, secP2} {
		names, err := list(t, admin, parent)
		require.NoError(t, err)
		all = append(all, names...)
	}
	return all
}

// get returns the operation name as admin sees it.
func (e *secEnv) get(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := e.ops(t, secToken("admin")).GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
	require.NoError(t, err)
	return op
}

// requireStatus requires that err is a gRPC status error with code and, if
// reason is not empty, an ErrorInfo with reason; it returns the status.
func requireStatus(t *testing.T, err error, code codes.Code, reason string) *status.Status {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status error: %v", err)
	require.Equal(t, code, st.Code(), "%v", err)
	if reason != "" {
		require.Equal(t, reason, errorReason(t, err), "%v", err)
	}
	return st
}

// restError returns the googleapi.Error of an error of Google's REST
// client.
func restError(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.ErrorAs(t, err, &ge)
	return ge
}

// TestSecurityGoogleClients runs the calls of Google's clients, gRPC and
// REST, over TLS with static tokens and JWTs: what each principal may do
// succeeds, what it may not is refused (UNAUTHENTICATED or
// PERMISSION_DENIED, with their reasons), and changes nothing.
func TestSecurityGoogleClients(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, secOptions{})
	jwtOperator := e.key.sign(t, secClaims("jwt-operator"), map[string]any{"permissions": []string{"operator:" + secP1}})

	// Allowed calls, by a static token and by a JWT: start on its own
	// parent, get, list, wait, cancel (both are operators of p1).
	for what, token := range map[string]string{"static": secToken("p1operator"), "jwt": jwtOperator} {
		t.Run("Allowed/"+what, func(t *testing.T) {
			op := e.mustStart(t, token, secP1, demo.KindSleep)
			require.True(t, strings.HasPrefix(op.GetName(), secP1+"/operations/"), op.GetName())
			ops := e.ops(t, token)
			got, err := ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
			require.NoError(t, err)
			require.Equal(t, op.GetName(), got.GetName())
			names, err := list(t, ops, secP1)
			require.NoError(t, err)
			require.Contains(t, names, op.GetName())
			rest := e.restOps(t, token)
			got, err = rest.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
			require.NoError(t, err)
			require.Equal(t, op.GetName(), got.GetName())
			names, err = list(t, rest, secP1)
			require.NoError(t, err)
			require.Contains(t, names, op.GetName())
			waited, err := ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(10 * time.Millisecond)})
			require.NoError(t, err)
			require.False(t, waited.GetDone())
			require.NoError(t, ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
			cancelled := e.get(t, op.GetName())
			require.True(t, cancelled.GetDone())
			require.Equal(t, int32(codes.Canceled), cancelled.GetError().GetCode())
		})
	}

	t.Run("Unauthenticated", func(t *testing.T) {
		// Health checks need no credentials.
		health, err := healthpb.NewHealthClient(e.conn(t, "")).Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, health.GetStatus())
		resp, err := e.httpClient(t, "").Get("https://" + e.addr + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)

		op := e.mustStart(t, secToken("admin"), secP1, demo.KindSleep)
		other := newSecKey(t, "k1") // the kid of the server's key, not its key
		expired := secClaims("jwt-operator")
		expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
		wrongAudience := secClaims("jwt-operator")
		wrongAudience.Audience = jwt.Audience{"another-service"}
		wrongIssuer := secClaims("jwt-operator")
		wrongIssuer.Issuer = "https://another-idp.lro.test"
		perms := map[string]any{"permissions": []string{"admin:*"}}
		for _, c := range []struct {
			what, token, reason string
		}{
			{"no token", "", "CREDENTIALS_MISSING"},
			{"unknown static token", "tok-nobody-5f3a9c", "TOKEN_INVALID"},
			{"expired JWT", e.key.sign(t, expired, perms), "TOKEN_EXPIRED"},
			{"JWT signed by another key", other.sign(t, secClaims("jwt-operator"), perms), "TOKEN_INVALID"},
			{"JWT with an unknown key", newSecKey(t, "k-unknown").sign(t, secClaims("jwt-operator"), perms), "UNKNOWN_KEY"},
			{"wrong-audience JWT", e.key.sign(t, wrongAudience, perms), "WRONG_AUDIENCE"},
			{"wrong-issuer JWT", e.key.sign(t, wrongIssuer, perms), "WRONG_ISSUER"},
		} {
			ops := e.ops(t, c.token)
			_, err := ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
			st := requireStatus(t, err, codes.Unauthenticated, c.reason)
			if c.token != "" {
				require.NotContains(t, st.Message(), c.token, c.what)
			}
			_, err = list(t, ops, secP1)
			requireStatus(t, err, codes.Unauthenticated, c.reason)
			before := e.allOps(t)
			conn := e.conn(t, c.token)
			_, err = lropb.NewLroClient(conn).StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: secKindA, Parent: secP1})
			requireStatus(t, err, codes.Unauthenticated, c.reason)
			_, err = longrunningpb.NewOperationsClient(conn).CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
			requireStatus(t, err, codes.Unauthenticated, c.reason)
			_, err = longrunningpb.NewOperationsClient(conn).DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
			requireStatus(t, err, codes.Unauthenticated, c.reason)
			_, err = lropb.NewWorkersClient(conn).ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindA}, Wait: durationpb.New(0)})
			requireStatus(t, err, codes.Unauthenticated, c.reason)
			require.ElementsMatch(t, before, e.allOps(t), "%s: a refused start created an operation", c.what)
			require.False(t, e.get(t, op.GetName()).GetDone(), "%s: a refused cancel changed the operation", c.what)
		}
	})

	t.Run("PermissionDenied", func(t *testing.T) {
		p1op := e.mustStart(t, secToken("admin"), secP1, demo.KindSleep)
		p2op := e.mustStart(t, secToken("admin"), secP2, demo.KindSleep)
		before := e.allOps(t)

		// A reader may not start; a starter may not start on another parent.
		_, err := e.start(t, secToken("p1reader"), secP1, demo.KindSleep)
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = e.start(t, secToken("reader"), "", demo.KindSleep)
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = e.start(t, secToken("p1starter"), secP2, demo.KindSleep)
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = e.start(t, secToken("p1starter"), "", demo.KindSleep)
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		// A worker may not start either.
		_, err = e.start(t, secToken("workerA"), "", secKindA)
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		require.ElementsMatch(t, before, e.allOps(t), "a refused start created an operation")

		// A reader and a starter may not cancel nor delete; an operator of
		// p1 may not on p2.
		for _, who := range []string{"p1reader", "p1starter", "reader", "p1operator"} {
			for _, op := range []*longrunningpb.Operation{p1op, p2op} {
				if who == "p1operator" && op == p1op {
					continue
				}
				ops := e.ops(t, secToken(who))
				was := e.get(t, op.GetName())
				err := ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
				requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
				err = ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
				requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
				require.True(t, proto.Equal(was, e.get(t, op.GetName())), "%s: a refused cancel or delete changed %s", who, op.GetName())
			}
		}

		// Grants on p1 only: an operation of p2 is refused alike whether
		// it exists or not, so that the answer does not tell.
		missing := secP2 + "/operations/" + uuid.NewString()
		for _, who := range []string{"p1reader", "p1operator"} {
			ops := e.ops(t, secToken(who))
			var messages []string
			for _, name := range []string{p2op.GetName(), missing} {
				_, err := ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
				st := requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
				messages = append(messages, strings.ReplaceAll(st.Message(), name, "NAME"))
				_, err = ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(time.Millisecond)})
				requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
			}
			require.Equal(t, messages[0], messages[1], "%s: the answers on an operation that exists and one that does not differ", who)
			// On its own parent, an operation that does not exist is
			// NOT_FOUND.
			_, err := ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: secP1 + "/operations/" + uuid.NewString()})
			requireStatus(t, err, codes.NotFound, "")
		}

		// The ID of p2's operation under p1, where the grants reach, is not
		// p2's operation: the parent is part of the name.
		disguised := secP1 + "/operations/" + strings.TrimPrefix(p2op.GetName(), secP2+"/operations/")
		p1operator := e.ops(t, secToken("p1operator"))
		_, err = p1operator.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: disguised})
		requireStatus(t, err, codes.NotFound, "")
		_, err = p1operator.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: disguised, Timeout: durationpb.New(time.Millisecond)})
		requireStatus(t, err, codes.NotFound, "")
		err = p1operator.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: disguised})
		requireStatus(t, err, codes.NotFound, "")
		err = p1operator.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: disguised})
		requireStatus(t, err, codes.NotFound, "")
		require.False(t, e.get(t, p2op.GetName()).GetDone(), "a call on a disguised name changed p2's operation")

		// Lists: a parent outside the grants is refused; the own parent's
		// list holds its operations only.
		p1ops := e.ops(t, secToken("p1reader"))
		for _, parent := range []string{secP2, ""} {
			_, err := list(t, p1ops, parent)
			requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		}
		names, err := list(t, p1ops, secP1)
		require.NoError(t, err)
		require.Contains(t, names, p1op.GetName())
		for _, name := range names {
			require.True(t, strings.HasPrefix(name, secP1+"/operations/"), "the list of %s holds %s", secP1, name)
		}
		all, err := list(t, e.ops(t, secToken("reader")), secP2)
		require.NoError(t, err)
		require.Contains(t, all, p2op.GetName(), "reader:* lists every parent")
	})

	// A request ID makes starts idempotent within one parent only: the
	// same ID on another parent, by a principal who may not read the
	// first, starts its own operation rather than returning the first.
	t.Run("RequestID", func(t *testing.T) {
		input, err := structpb.NewValue(map[string]any{"duration": "60s"})
		require.NoError(t, err)
		req := func(parent string) *lropb.StartOperationRequest {
			return &lropb.StartOperationRequest{Kind: demo.KindSleep, Parent: parent, RequestId: "sec-request-1",
				KindInput: &lropb.StartOperationRequest_Input{Input: input}}
		}
		start := func(who, parent string) *longrunningpb.Operation {
			t.Helper()
			op, err := lropb.NewLroClient(e.conn(t, secToken(who))).StartOperation(t.Context(), req(parent))
			require.NoError(t, err)
			return op
		}
		first := start("p1starter", secP1)
		require.Equal(t, first.GetName(), start("p1starter", secP1).GetName(), "a repeat returns the first operation")
		other := start("p2starter", secP2)
		require.True(t, strings.HasPrefix(other.GetName(), secP2+"/operations/"), other.GetName())
		_, err = lropb.NewLroClient(e.conn(t, secToken("p2starter"))).StartOperation(t.Context(), req(secP1))
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	})

	t.Run("Workers", func(t *testing.T) {
		workerA := lropb.NewWorkersClient(e.conn(t, secToken("workerA")))
		workerB := lropb.NewWorkersClient(e.conn(t, secToken("workerB")))
		opA := e.mustStart(t, secToken("admin"), "", secKindA)
		opB := e.mustStart(t, secToken("admin"), "", secKindB)
		noWait := durationpb.New(0)

		// A worker of kind A may not claim B, nor every kind.
		_, err := workerA.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindB}, Max: 1, Wait: noWait})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = workerA.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindA, secKindB}, Max: 2, Wait: noWait})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = workerA.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Max: 1, Wait: noWait})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		require.False(t, e.get(t, opB.GetName()).GetDone())
		// Over HTTPS alike.
		resp, err := e.httpClient(t, secToken("workerA")).Post("https://"+e.addr+"/v1/workers:claim", "application/json",
			strings.NewReader(`{"kinds":["`+secKindB+`"],"max":1,"wait":"0s"}`))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", body)

		// B's worker holds B; A's may not renew, release nor finish it.
		claimB, err := workerB.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindB}, Max: 1, Wait: noWait})
		require.NoError(t, err)
		require.Len(t, claimB.GetOperations(), 1)
		leaseB := claimB.GetOperations()[0]
		require.Equal(t, opB.GetName(), leaseB.GetName())
		stateB := func() (string, *longrunningpb.Operation) {
			var md metadata.MD
			op, err := longrunningpb.NewOperationsClient(e.conn(t, secToken("admin"))).GetOperation(t.Context(),
				&longrunningpb.GetOperationRequest{Name: opB.GetName()}, grpc.Header(&md))
			require.NoError(t, err)
			return strings.Join(md.Get(lrogrpc.StateHeader), ","), op
		}
		state, was := stateB()
		require.Equal(t, "running", state)
		_, err = workerA.RenewLeases(t.Context(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: leaseB.GetName(), LeaseToken: leaseB.GetLeaseToken()}}})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = workerA.ReleaseOperations(t.Context(), &lropb.ReleaseOperationsRequest{Leases: []*lropb.Lease{
			{Name: leaseB.GetName(), LeaseToken: leaseB.GetLeaseToken()}}})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = workerA.FinishOperations(t.Context(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
			{Name: leaseB.GetName(), LeaseToken: leaseB.GetLeaseToken()}}})
		requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		// Nor may a reader or an operator use the Workers service.
		for _, who := range []string{"reader", "p1operator"} {
			_, err = lropb.NewWorkersClient(e.conn(t, secToken(who))).FinishOperations(t.Context(), &lropb.FinishOperationsRequest{
				Results: []*lropb.OperationResult{{Name: leaseB.GetName(), LeaseToken: leaseB.GetLeaseToken()}}})
			requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		}
		state, now := stateB()
		require.Equal(t, "running", state, "a refused call changed B's lease")
		require.True(t, proto.Equal(was, now), "a refused call changed B")

		// A's worker claims A and finishes it; B's finishes B.
		claimA, err := workerA.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindA}, Max: 1, Wait: noWait})
		require.NoError(t, err)
		require.Len(t, claimA.GetOperations(), 1)
		require.Equal(t, opA.GetName(), claimA.GetOperations()[0].GetName())
		// A's lease token on B's name: the token is bound to A's
		// operation, so each item is refused, whatever the call answers.
		leaseA := claimA.GetOperations()[0]
		fin, err := workerA.FinishOperations(t.Context(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
			{Name: opB.GetName(), LeaseToken: leaseA.GetLeaseToken()}}})
		if err == nil {
			require.EqualValues(t, codes.InvalidArgument, fin.GetResults()[0].GetCode(), "%v", fin.GetResults()[0])
		} else {
			requireStatus(t, err, codes.InvalidArgument, "")
		}
		renewed, err := workerA.RenewLeases(t.Context(), &lropb.RenewLeasesRequest{Leases: []*lropb.LeaseRenewal{
			{Name: opB.GetName(), LeaseToken: leaseA.GetLeaseToken()}}})
		if err == nil {
			require.EqualValues(t, codes.InvalidArgument, renewed.GetLeases()[0].GetError().GetCode(), "%v", renewed.GetLeases()[0])
		} else {
			requireStatus(t, err, codes.InvalidArgument, "")
		}
		released, err := workerA.ReleaseOperations(t.Context(), &lropb.ReleaseOperationsRequest{Leases: []*lropb.Lease{
			{Name: opB.GetName(), LeaseToken: leaseA.GetLeaseToken()}}})
		if err == nil {
			require.EqualValues(t, codes.InvalidArgument, released.GetResults()[0].GetCode(), "%v", released.GetResults()[0])
		} else {
			requireStatus(t, err, codes.InvalidArgument, "")
		}
		state, now = stateB()
		require.Equal(t, "running", state, "A's token on B's name changed B's lease")
		require.True(t, proto.Equal(was, now), "A's token on B's name changed B")
		for _, c := range []struct {
			w     lropb.WorkersClient
			lease *lropb.ClaimedOperation
		}{{workerA, claimA.GetOperations()[0]}, {workerB, leaseB}} {
			fin, err := c.w.FinishOperations(t.Context(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
				{Name: c.lease.GetName(), LeaseToken: c.lease.GetLeaseToken()}}})
			require.NoError(t, err)
			require.EqualValues(t, codes.OK, fin.GetResults()[0].GetCode(), "%v", fin.GetResults()[0])
			require.True(t, e.get(t, c.lease.GetName()).GetDone())
		}
	})

	t.Run("HTTPS", func(t *testing.T) {
		op := e.mustStart(t, secToken("admin"), secP1, demo.KindSleep)
		p2op := e.mustStart(t, secToken("admin"), secP2, demo.KindSleep)

		// Allowed: get and list, with Google's REST client.
		rest := e.restOps(t, secToken("p1reader"))
		got, err := rest.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		require.Equal(t, op.GetName(), got.GetName())
		names, err := list(t, rest, secP1)
		require.NoError(t, err)
		require.Contains(t, names, op.GetName())
		require.NotContains(t, names, p2op.GetName())

		// 401 with WWW-Authenticate, without a token or with a bad one.
		for _, c := range []struct{ token, challenge string }{
			{"", `Bearer realm="lro"`},
			{"tok-nobody-5f3a9c", `Bearer realm="lro", error="invalid_token"`},
			{e.key.sign(t, jwt.Claims{Subject: "x", Issuer: secIssuer, Audience: jwt.Audience{secAudience},
				Expiry: jwt.NewNumericDate(time.Now().Add(-time.Hour))}, nil), `Bearer realm="lro", error="invalid_token"`},
		} {
			_, err := e.restOps(t, c.token).GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
			ge := restError(t, err)
			require.Equal(t, http.StatusUnauthorized, ge.Code, "%v", err)
			require.Equal(t, c.challenge, ge.Header.Get("WWW-Authenticate"))
		}

		// 403 on another parent, for get (whether the operation exists
		// or not, alike) and list.
		var messages []string
		for _, name := range []string{p2op.GetName(), secP2 + "/operations/" + uuid.NewString()} {
			_, err = rest.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			ge := restError(t, err)
			require.Equal(t, http.StatusForbidden, ge.Code, "%v", err)
			messages = append(messages, strings.ReplaceAll(ge.Message, name, "NAME"))
		}
		require.Equal(t, messages[0], messages[1])
		_, err = list(t, rest, secP2)
		require.Equal(t, http.StatusForbidden, restError(t, err).Code, "%v", err)

		// A plain POST start: with a starter's bearer token, 200; without
		// one, 401 and no operation.
		before := e.allOps(t)
		post := func(token string) (int, http.Header, string) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+e.addr+"/v1/"+secP1+"/operations:start",
				strings.NewReader(`{"kind":"demo.sleep","input":{"duration":"60s"}}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := e.httpClient(t, "").Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, resp.Header, string(body)
		}
		code, header, body := post("")
		require.Equal(t, http.StatusUnauthorized, code, body)
		require.Equal(t, `Bearer realm="lro"`, header.Get("WWW-Authenticate"))
		require.Contains(t, body, `"CREDENTIALS_MISSING"`)
		code, _, body = post(secToken("p1reader"))
		require.Equal(t, http.StatusForbidden, code, body)
		require.ElementsMatch(t, before, e.allOps(t), "a refused start created an operation")
		code, _, body = post(secToken("p1starter"))
		require.Equal(t, http.StatusOK, code, body)
		var started struct{ Name string }
		require.NoError(t, json.Unmarshal([]byte(body), &started))
		require.True(t, strings.HasPrefix(started.Name, secP1+"/operations/"), body)
		require.ElementsMatch(t, append(before, started.Name), e.allOps(t))
	})
}

// TestSecurityMTLS: with client certificates required, a client without
// one fails the handshake; one with a certificate is the principal of its
// subject, with the grants that the token file gives it, and no token.
func TestSecurityMTLS(t *testing.T) {
	t.Parallel()
	clients := tlstest.NewCA(t, "clients")
	alice := clients.Client(t, "alice")
	e := newSecEnv(t, secOptions{clientCA: clients, certs: []secCert{{subject: alice.Cert.Subject.String(), grants: []string{"reader:*"}}}})

	// Without a certificate: no handshake, no call (a token does not help).
	for _, token := range []string{"", secToken("admin")} {
		c := e.tls.Clone()
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c))}
		if token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: staticToken(token)}))
		}
		conn, err := grpc.NewClient(e.addr, opts...)
		require.NoError(t, err)
		_, err = longrunningpb.NewOperationsClient(conn).ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
		conn.Close()
	}
	resp, err := e.httpClient(t, "").Get("https://" + e.addr + "/v1/operations")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("HTTPS without a client certificate: %s", resp.Status)
	}

	// With one: Get and List with no token; Start is PERMISSION_DENIED.
	withCert := func(token string) *grpc.ClientConn { return e.conn(t, token, alice.TLS(t)) }
	admin := lropb.NewLroClient(withCert(secToken("admin")))
	op, err := admin.StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: secKindA})
	require.NoError(t, err, "a token beside the certificate decides")
	ops := longrunningpb.NewOperationsClient(withCert(""))
	got, err := ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()})
	require.NoError(t, err)
	require.Equal(t, op.GetName(), got.GetName())
	listed, err := ops.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
	require.NoError(t, err)
	require.Len(t, listed.GetOperations(), 1)
	_, err = lropb.NewLroClient(withCert("")).StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: secKindA})
	st := requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	require.Contains(t, st.Message(), "CN=alice")
	_, err = ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	listed, err = ops.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
	require.NoError(t, err)
	require.Len(t, listed.GetOperations(), 1, "a refused start created an operation")
	require.False(t, listed.GetOperations()[0].GetDone(), "a refused cancel changed the operation")

	// A certificate whose subject the file does not list authenticates,
	// with no grants: PERMISSION_DENIED, not UNAUTHENTICATED.
	bob := clients.Client(t, "bob")
	_, err = longrunningpb.NewOperationsClient(e.conn(t, "", bob.TLS(t))).GetOperation(t.Context(),
		&longrunningpb.GetOperationRequest{Name: op.GetName()})
	requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")

	// Over HTTPS too.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.tls.RootCAs, Certificates: []tls.Certificate{alice.TLS(t)}}}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + e.addr + "/v1/" + op.GetName())
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)

	// The dashboard's calls are authenticated by the browser's
	// certificate, with no token to ask for, and see its grants.
	resp, err = (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + e.addr + "/ui/api/session")
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var session struct {
		Principal  string
		Grants     []string
		CanReadAll bool
		CanOperate bool
	}
	require.NoError(t, json.Unmarshal(body, &session))
	require.Equal(t, alice.Cert.Subject.String(), session.Principal)
	require.Equal(t, []string{"reader:*"}, session.Grants)
	require.True(t, session.CanReadAll)
	require.False(t, session.CanOperate)
}

// TestSecurityTokenReload: a token file rewritten while the server runs
// takes effect without a restart: the new token works, the removed one is
// UNAUTHENTICATED.
func TestSecurityTokenReload(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, secOptions{})
	old := e.ops(t, secToken("reader"))
	_, err := list(t, old, "")
	require.NoError(t, err)

	fresh := "tok-reader-rotated-71c2"
	tokens := map[string]string{"reader": fresh}
	for p := range secTokenGrants {
		if p != "reader" {
			tokens[p] = secToken(p)
		}
	}
	writeTokenFile(t, e.tokenFile, tokens, nil)
	// TokenFile.Watch looks at the file every second; its signal is not
	// reachable from here, so poll.
	renewed := e.ops(t, fresh)
	require.Eventually(t, func() bool {
		_, err := list(t, renewed, "")
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the new token did not come to work")
	_, err = list(t, old, "")
	requireStatus(t, err, codes.Unauthenticated, "TOKEN_INVALID")
	_, err = list(t, e.ops(t, secToken("admin")), "")
	require.NoError(t, err, "a token kept in the file keeps working")
}

// TestSecurityRateLimit: with authentication on, a principal beyond its
// rate is RESOURCE_EXHAUSTED with a RetryInfo (gRPC), 429 with Retry-After
// (HTTP); another principal is not affected.
func TestSecurityRateLimit(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, secOptions{limits: server.PrincipalLimits{Rate: 0.1, Burst: 2}})
	kinds := lropb.NewLroClient(e.conn(t, secToken("reader")))
	for range 2 {
		_, err := kinds.ListKinds(t.Context(), &lropb.ListKindsRequest{})
		require.NoError(t, err)
	}
	var md metadata.MD
	_, err := kinds.ListKinds(t.Context(), &lropb.ListKindsRequest{}, grpc.Header(&md))
	st := requireStatus(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	require.NotNil(t, retry, "no RetryInfo in %v", err)
	require.Positive(t, retry.GetRetryDelay().AsDuration())
	require.NotEmpty(t, md.Get(server.RetryAfterHeader))

	// Another principal has its own bucket.
	_, err = lropb.NewLroClient(e.conn(t, secToken("admin"))).ListKinds(t.Context(), &lropb.ListKindsRequest{})
	require.NoError(t, err)

	// Over HTTPS.
	client := e.httpClient(t, secToken("p1reader"))
	get := func() int {
		resp, err := client.Get("https://" + e.addr + "/v1/kinds")
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 {
		require.Equal(t, http.StatusOK, get())
	}
	resp, err := client.Get("https://" + e.addr + "/v1/kinds")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), `"RATE_LIMITED"`)
	resp, err = e.httpClient(t, secToken("p1starter")).Get("https://" + e.addr + "/v1/kinds")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "another principal is limited")
}

// TestSecurityWaitLimit: with authentication on and one wait per
// principal, a second concurrent WaitOperation of the principal is
// RESOURCE_EXHAUSTED TOO_MANY_WAITS while the first waits; another
// principal may wait; once the first ends, the principal may wait again.
func TestSecurityWaitLimit(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, secOptions{limits: server.PrincipalLimits{Waits: 1}})
	op := e.mustStart(t, secToken("admin"), "", secKindA)
	reader := longrunningpb.NewOperationsClient(e.conn(t, secToken("reader")))
	wait := func(c longrunningpb.OperationsClient, ctx context.Context, timeout time.Duration) error {
		_, err := c.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(timeout)})
		return err
	}
	tooMany := func(err error) bool {
		if status.Code(err) != codes.ResourceExhausted {
			return false
		}
		for _, d := range status.Convert(err).Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "TOO_MANY_WAITS" {
				return true
			}
		}
		return false
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := make(chan error, 1)
	go func() {
		// The probes below wait too: until this wait holds the slot, one of
		// them may, and this one is refused; it tries again.
		for deadline := time.Now().Add(20 * time.Second); ; {
			err := wait(reader, ctx, time.Minute)
			if tooMany(err) && time.Now().Before(deadline) {
				continue
			}
			first <- err
			return
		}
	}()
	// Nothing signals that the first wait is under way: poll.
	require.Eventually(t, func() bool {
		return tooMany(wait(reader, t.Context(), time.Millisecond))
	}, 20*time.Second, 5*time.Millisecond, "a second wait of the principal was not refused")
	err := wait(reader, t.Context(), time.Millisecond)
	requireStatus(t, err, codes.ResourceExhausted, "TOO_MANY_WAITS")
	require.NoError(t, wait(longrunningpb.NewOperationsClient(e.conn(t, secToken("admin"))), t.Context(), time.Millisecond),
		"another principal may wait")
	// Over HTTPS, the principal's waits are the same.
	resp, err := e.httpClient(t, secToken("reader")).Post("https://"+e.addr+"/v1/"+op.GetName()+":wait", "application/json",
		strings.NewReader(`{"timeout":"0.001s"}`))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"TOO_MANY_WAITS"`)
	select {
	case err := <-first:
		t.Fatalf("the first wait ended: %v", err)
	default:
	}
	cancel()
	require.Equal(t, codes.Canceled, status.Code(<-first))
	require.Eventually(t, func() bool {
		return wait(reader, t.Context(), time.Millisecond) == nil
	}, 20*time.Second, 5*time.Millisecond, "the principal may not wait again after its wait ended")
}

// TestSecurityInsecureRefused: server.New refuses to listen beyond
// loopback without TLS and authentication, naming the flags; it listens
// with both, or with Insecure.
func TestSecurityInsecureRefused(t *testing.T) {
	t.Parallel()
	_, err := server.New(t.Context(), server.Config{Addr: "0.0.0.0:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db")})
	require.Error(t, err)
	for _, want := range []string{"0.0.0.0", "--tls-cert and --tls-key", "--auth-tokens, --auth-jwks or --tls-client-ca", "--insecure"} {
		require.Contains(t, err.Error(), want)
	}
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokenFile(t, tokens, map[string]string{"admin": secToken("admin")}, nil)
	tokenFile, err := lroauth.LoadTokenFile(tokens)
	require.NoError(t, err)
	_, err = server.New(t.Context(), server.Config{Addr: "0.0.0.0:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		Authenticator: lroauth.New(tokenFile, nil)})
	require.ErrorContains(t, err, "without TLS (--tls-cert and --tls-key):", "authentication without TLS")
	_, err = server.New(t.Context(), server.Config{Addr: "0.0.0.0:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		TLS: &server.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}})
	require.ErrorContains(t, err, "without authentication (--auth-tokens, --auth-jwks or --tls-client-ca):", "TLS without authentication")

	secure := newServer(t, server.Config{Addr: "0.0.0.0:0", Client: lro.Config{Workers: -1},
		TLS: &server.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}, Authenticator: lroauth.New(tokenFile, nil)})
	_, port, err := net.SplitHostPort(secure.Addr().String())
	require.NoError(t, err)
	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", port), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool()})),
		grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: staticToken(secToken("admin"))}))
	require.NoError(t, err)
	defer conn.Close()
	_, err = longrunningpb.NewOperationsClient(conn).ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
	require.NoError(t, err)
	newServer(t, server.Config{Addr: "0.0.0.0:0", Client: lro.Config{Workers: -1}, Insecure: true})
}

// TestSecurityAuditLog: a start, a cancel, a delete and a refused cancel
// each log one audit line with the principal's name.
func TestSecurityAuditLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newSecEnv(t, secOptions{logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	op := e.mustStart(t, secToken("p1operator"), secP1, demo.KindSleep)
	ops := e.ops(t, secToken("p1operator"))
	err := e.ops(t, secToken("p1reader")).CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
	requireStatus(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	require.NoError(t, ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
	require.NoError(t, ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: op.GetName()}))

	type line struct{ principal, method, code string }
	var got []line
	for _, m := range logs.records(t) {
		if m["name"] != op.GetName() {
			continue
		}
		code, _ := m["code"].(string)
		got = append(got, line{fmt.Sprint(m["principal"]), fmt.Sprint(m["method"]), code})
	}
	require.ElementsMatch(t, []line{
		{"p1operator", lroauth.MethodStartOperation, ""},
		{"p1reader", lroauth.MethodCancelOperation, "PERMISSION_DENIED"},
		{"p1operator", lroauth.MethodCancelOperation, ""},
		{"p1operator", lroauth.MethodDeleteOperation, ""},
	}, got)

	// Over HTTPS, with a JWT's principal; and a worker's finish.
	jwtOperator := e.key.sign(t, secClaims("jwt-operator"), map[string]any{"permissions": []string{"operator:" + secP1}})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+e.addr+"/v1/"+secP1+"/operations:start",
		strings.NewReader(`{"kind":"demo.sleep","input":{"duration":"60s"}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.httpClient(t, jwtOperator).Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var started struct{ Name string }
	require.NoError(t, json.Unmarshal(body, &started))
	err = e.restOps(t, secToken("p1reader")).CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: started.Name})
	require.Equal(t, http.StatusForbidden, restError(t, err).Code, "%v", err)
	require.NoError(t, e.restOps(t, jwtOperator).CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: started.Name}))
	opA := e.mustStart(t, secToken("admin"), "", secKindA)
	workerA := lropb.NewWorkersClient(e.conn(t, secToken("workerA")))
	claim, err := workerA.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{secKindA}, Max: 1, Wait: durationpb.New(0)})
	require.NoError(t, err)
	require.Len(t, claim.GetOperations(), 1)
	_, err = workerA.FinishOperations(t.Context(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
		{Name: opA.GetName(), LeaseToken: claim.GetOperations()[0].GetLeaseToken()}}})
	require.NoError(t, err)

	got = nil
	var finished []any
	for _, m := range logs.records(t) {
		if m["method"] == lroauth.MethodFinishOperations {
			require.Equal(t, "workerA", m["principal"])
			finished = append(finished, m["names"])
		}
		if m["name"] != started.Name {
			continue
		}
		code, _ := m["code"].(string)
		got = append(got, line{fmt.Sprint(m["principal"]), fmt.Sprint(m["method"]), code})
	}
	require.ElementsMatch(t, []line{
		{"jwt-operator", lroauth.MethodStartOperation, ""},
		{"p1reader", lroauth.MethodCancelOperation, "PERMISSION_DENIED"},
		{"jwt-operator", lroauth.MethodCancelOperation, ""},
	}, got)
	require.Equal(t, []any{[]any{opA.GetName()}}, finished)
}

// Calls refused for their credentials have no principal for the audit log:
// they are logged at warn, once per reason per interval, with the method
// and the peer, never the token.
func TestSecurityRefusedCredentialsLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newSecEnv(t, secOptions{logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	const guess = "tok-guessed-0000"
	for range 3 {
		_, err := e.ops(t, guess).GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: "operations/" + uuid.NewString()})
		requireStatus(t, err, codes.Unauthenticated, "TOKEN_INVALID")
	}
	resp, err := e.httpClient(t, "").Get("https://" + e.addr + "/v1/operations")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	var got []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		if m["msg"] == "a call was refused for its credentials" {
			got = append(got, m)
		}
	}
	require.Len(t, got, 2, "one line per reason within the interval: %v", got)
	require.Equal(t, "WARN", got[0]["level"])
	require.Equal(t, lroauth.MethodGetOperation, got[0]["method"])
	require.Equal(t, "TOKEN_INVALID", got[0]["reason"])
	require.Contains(t, got[0]["peer"], "127.0.0.1:")
	require.Equal(t, "GET /v1/operations", got[1]["method"])
	require.Equal(t, "CREDENTIALS_MISSING", got[1]["reason"])
	require.NotContains(t, logs.String(), guess, "the log never carries a token")
}
