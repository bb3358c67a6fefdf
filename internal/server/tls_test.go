package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/internal/tlstest"
	"lro.dev/lro/lropb"
)

// googleClients are Google's Go clients of the Operations service, over
// gRPC with TLS and over HTTPS.
func googleClients(t *testing.T, addr string, c *tls.Config) (grpcClient, restClient *autogen.OperationsClient) {
	t.Helper()
	var err error
	grpcClient, err = autogen.NewOperationsClient(t.Context(), option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(c))))
	require.NoError(t, err)
	t.Cleanup(func() { grpcClient.Close() })
	tr := &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	restClient, err = autogen.NewOperationsRESTClient(t.Context(), option.WithEndpoint("https://"+addr),
		option.WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	t.Cleanup(func() { restClient.Close() })
	return grpcClient, restClient
}

// listNames lists every operation through c.
func listNames(t *testing.T, c *autogen.OperationsClient) []string {
	t.Helper()
	var names []string
	it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
	for {
		op, err := it.Next()
		if err == iterator.Done {
			return names
		}
		require.NoError(t, err)
		names = append(names, op.GetName())
	}
}

// TestTLSGoogleClients: with TLS, Google's gRPC and REST clients, and plain
// HTTP/1.1 and HTTP/2 requests, reach the services on the one port; a
// client without TLS does not.
func TestTLSGoogleClients(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1},
		TLS: &server.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}})
	addr := srv.Addr().String()
	c := &tls.Config{RootCAs: ca.Pool()}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	require.NoError(t, err)
	defer conn.Close()
	op, err := lropb.NewLroClient(conn).StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: "demo.sleep"})
	require.NoError(t, err)
	name := op.GetName()

	grpcClient, restClient := googleClients(t, addr, c)
	for what, client := range map[string]*autogen.OperationsClient{"gRPC": grpcClient, "REST": restClient} {
		got, err := client.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err, what)
		require.Equal(t, name, got.GetName(), what)
		require.Contains(t, listNames(t, client), name, what)
		// The server's errors come through as they are.
		_, err = client.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: "operations/malformed"})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%s: %v", what, err)
	}

	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		for _, path := range []string{"/healthz", "/v1/" + name} {
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + path)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
			require.Equal(t, map[bool]int{false: 1, true: 2}[h2], resp.ProtoMajor)
		}
		tr.CloseIdleConnections()
	}

	// Without TLS, or with a CA that did not sign the certificate, no call
	// gets through.
	plain, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	_, err = healthpb.NewHealthClient(plain).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("plain HTTP to the TLS port succeeded")
	}
	other := &tls.Config{RootCAs: tlstest.NewCA(t, "other").Pool()}
	strange, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(other)))
	require.NoError(t, err)
	defer strange.Close()
	_, err = healthpb.NewHealthClient(strange).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

// TestServeTLSProcess: lro serve with --tls-cert, --tls-key and
// --tls-client-ca serves clients with a certificate only; on an address
// beyond loopback without TLS and authentication it exits with status 1,
// naming the flags, unless --insecure.
func TestServeTLSProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "server")
	cert := ca.Server(t)
	clients := tlstest.NewCA(t, "clients")
	p := startServer(t, "tls", dir+"/lro.db", "--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--tls-client-ca", clients.File)
	alice := clients.Client(t, "alice")
	for _, c := range []struct {
		certs []tls.Certificate
		want  codes.Code
	}{{nil, codes.Unavailable}, {[]tls.Certificate{alice.TLS(t)}, codes.OK}} {
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: c.certs})))
		require.NoError(t, err)
		_, err = longrunningpb.NewOperationsClient(conn).ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
		require.Equal(t, c.want, status.Code(err), "%v", err)
		conn.Close()
	}

	refused := runServer(t, "insecure", dir+"/other.db", "--addr", "0.0.0.0:0")
	_, err := refused.waitAddr()
	require.Error(t, err)
	<-refused.done
	var exit *exec.ExitError
	require.ErrorAs(t, refused.waitErr, &exit)
	require.Equal(t, 1, exit.ExitCode())
	logs := refused.logs()
	for _, want := range []string{"refusing to serve on 0.0.0.0", "--tls-cert and --tls-key", "--auth-tokens, --auth-jwks or --tls-client-ca", "--insecure"} {
		require.True(t, strings.Contains(logs, want), "stderr %q does not say %q", logs, want)
	}
}
