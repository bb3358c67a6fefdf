package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lropb"
)

// TestWorkersServed: lro serve serves the Workers service on its port, over
// gRPC and HTTP; an HTTP claim that waits is not cut by the write timeout;
// and claims that wait count against --max-waits as waits do, while
// claims that do not wait are always taken.
func TestWorkersServed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{
		MaxWaits:     1,
		HTTPTimeouts: server.HTTPTimeouts{Write: 300 * time.Millisecond},
		Register: func(c *lro.Client) error {
			if err := demo.Register(c); err != nil {
				return err
			}
			return lro.Declare(c, lro.DeclaredKind{Name: "remote"})
		},
	})
	base := "http://" + srv.Addr().String()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	workers := lropb.NewWorkersClient(conn)
	post := func(path, body string) (int, string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	// Over HTTP: a claim that waits longer than the write timeout.
	began := time.Now()
	code, body := post("/v1/workers:claim", `{"kinds":["remote"],"max":1,"wait":"0.6s"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{}`, body)
	require.GreaterOrEqual(t, time.Since(began), 600*time.Millisecond)

	// The cap: an HTTP claim holds the one long poll allowed.
	held := make(chan string, 1)
	go func() {
		// The probes below wait too (1ms each): until this claim holds the
		// slot, one of them may, and this one is refused; it tries again.
		for deadline := time.Now().Add(10 * time.Second); ; {
			code, body := post("/v1/workers:claim", `{"kinds":["remote"],"max":1,"wait":"30s","json":true}`)
			if code == http.StatusTooManyRequests && time.Now().Before(deadline) {
				continue
			}
			if code != http.StatusOK {
				t.Errorf("held claim: %d %s", code, body)
			}
			held <- body
			return
		}
	}()
	require.Eventually(t, func() bool {
		_, err := workers.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{"remote"}, Max: 1,
			Wait: durationpb.New(time.Millisecond)})
		return status.Code(err) == codes.ResourceExhausted
	}, 10*time.Second, 5*time.Millisecond, "a claim that waits beyond the cap is refused")
	_, err = workers.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{"remote"}, Max: 1})
	st := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
	require.Equal(t, "TOO_MANY_WAITS", st.Details()[0].(*errdetails.ErrorInfo).GetReason())
	resp, err := workers.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{"remote"}, Max: 1,
		Wait: durationpb.New(0)})
	require.NoError(t, err, "a claim that does not wait is taken")
	require.Empty(t, resp.GetOperations())

	// A start wakes the held claim.
	code, body = post("/v1/operations:start", `{"kind":"remote","input":{"n":1}}`)
	require.Equal(t, http.StatusOK, code, body)
	select {
	case body := <-held:
		require.Contains(t, body, `"input":{"n":1}`)
	case <-time.After(10 * time.Second):
		t.Fatal("the held claim did not return with the start")
	}

	// Over gRPC: malformed, then a claim, a finish.
	_, err = workers.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{"demo.nope"}, Max: 1})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	code, body = post("/v1/operations:start", `{"kind":"remote"}`)
	require.Equal(t, http.StatusOK, code, body)
	resp, err = workers.ClaimOperations(t.Context(), &lropb.ClaimOperationsRequest{Kinds: []string{"remote"}, Max: 1})
	require.NoError(t, err)
	require.Len(t, resp.GetOperations(), 1)
	claimed := resp.GetOperations()[0]
	fin, err := workers.FinishOperations(t.Context(), &lropb.FinishOperationsRequest{Results: []*lropb.OperationResult{
		{Name: claimed.GetName(), LeaseToken: claimed.GetLeaseToken()}}})
	require.NoError(t, err)
	require.EqualValues(t, codes.OK, fin.GetResults()[0].GetCode())
}
