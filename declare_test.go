package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

func TestDeclare(t *testing.T) {
	t.Parallel()
	c, err := lro.NewClient(openStore(t), &lro.Config{Logger: testLogger(t)})
	require.NoError(t, err)
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "1bad"}), "must match")
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "a.b", MaxAttempts: -1}), "negative")
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "a.b", LeaseTTL: time.Millisecond}), "below the minimum")
	schema, err := structpb.NewStruct(map[string]any{"type": "object"})
	require.NoError(t, err)
	require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "json.kind", InputSchema: schema, MaxAttempts: 3, LeaseTTL: 5 * time.Second}))
	require.ErrorContains(t, lro.Declare(c, lro.DeclaredKind{Name: "json.kind"}), "already registered")
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background())
	require.Equal(t, []lro.KindInfo{{Name: "json.kind", RequestType: "google.protobuf.Struct", MetadataType: "google.protobuf.Struct",
		ResponseType: "google.protobuf.Struct", MaxAttempts: 3, LeaseTTL: 5 * time.Second, InputSchema: schema,
		Retry: defaultRetry()}}, c.Kinds())
}

// A declared kind's operations wait, pending, for a remote worker: the
// client neither claims them nor stores them claimed at start, even with
// every worker slot free, while its own kinds' starts still run at once.
func TestDeclaredKindsWaitForWorkers(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	p := newProbe()
	c := newClient(t, store, nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "local", Run: p.blocking})
		require.NoError(t, lro.Declare(c, lro.DeclaredKind{Name: "remote"}))
		lro.ClaimedSignal(c).Init()
	})
	in, err := structpb.NewStruct(map[string]any{"n": 1})
	require.NoError(t, err)
	ops, err := c.StartOperations(context.Background(), []lro.StartRequest{
		{Kind: "remote", Request: in},
		{Kind: "local", Request: wrapperspb.String("x")},
		{Kind: "remote", Request: in},
	})
	require.NoError(t, err)
	r := p.next(t)
	require.Equal(t, ops[1].GetName(), r.job.Name)
	require.Equal(t, lrostore.StateRunning, storedOp(t, store, ops[1].GetName()).State)
	// Let several claims pass: none takes the declared kind's operations.
	for range 3 {
		lro.ClaimedSignal(c).Wait(t)
	}
	for _, op := range []string{ops[0].GetName(), ops[2].GetName()} {
		stored := storedOp(t, store, op)
		require.Equal(t, lrostore.StatePending, stored.State)
		require.Zero(t, stored.Attempt)
	}
	_, err = c.StartOperation(context.Background(), "remote", wrapperspb.String("x"), nil)
	require.ErrorContains(t, err, "takes a google.protobuf.Struct")
	r.release <- result{resp: wrapperspb.String("ok")}
}
