package lro

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lrosqlite"
)

// refusingStore refuses for good every write of results or metadata that
// holds "bad", and counts the calls.
type refusingStore struct {
	lrostore.Store
	finishCalls, metadataCalls int
}

var errRefused = &lrostore.PermanentError{Err: errors.New("value refused")}

func (s *refusingStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	s.finishCalls++
	for _, f := range p.Finishes {
		if bytes.Contains(f.Response, []byte("bad")) {
			return nil, errRefused
		}
	}
	return s.Store.OperationFinishMany(ctx, p)
}

func (s *refusingStore) OperationSetMetadataMany(ctx context.Context, p *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	s.metadataCalls++
	for _, u := range p.Updates {
		if bytes.Contains(u.Metadata, []byte("bad")) {
			return nil, errRefused
		}
	}
	return s.Store.OperationSetMetadataMany(ctx, p)
}

// newRefusingClient returns a client on a refusingStore over an in-memory
// SQLite store, closed when the test ends.
func newRefusingClient(t *testing.T) (*Client, *refusingStore) {
	t.Helper()
	inner, err := lrosqlite.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { inner.Close() })
	store := &refusingStore{Store: inner}
	c, err := NewClient(store, &Config{})
	require.NoError(t, err)
	return c, store
}

// claimed stores n operations claimed by owner, and returns their leases.
func claimed(t *testing.T, s lrostore.Store, n int) []lrostore.Lease {
	t.Helper()
	ctx := context.Background()
	params := &lrostore.OperationInsertManyParams{}
	for range n {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1, LeaseOwner: "w", LeaseTTL: LeaseTTLDefault})
	}
	res, err := s.OperationInsertMany(ctx, params)
	require.NoError(t, err)
	leases := make([]lrostore.Lease, n)
	for i, r := range res {
		leases[i] = lrostore.Lease{ID: r.Operation.ID, Token: r.Operation.LeaseToken}
	}
	return leases
}

func TestFinishManyIsolatesARefusedResult(t *testing.T) {
	c, store := newRefusingClient(t)
	leases := claimed(t, store, 3)
	fs := make([]*lrostore.OperationFinishParams, 3)
	for i, l := range leases {
		fs[i] = &lrostore.OperationFinishParams{Lease: l, State: lrostore.StateSucceeded, Response: []byte("good"), ResponseType: "t"}
	}
	fs[1].Response = []byte("bad")

	out, err := c.exec.finishMany(context.Background(), fs)
	require.NoError(t, err)
	require.Equal(t, 4, store.finishCalls, "the batch, then each alone")
	require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateSucceeded}, out[0].res)
	require.ErrorIs(t, out[1].err, errRefused)
	require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateSucceeded}, out[2].res)
}

func TestFlushMetadataDropsARefusedUpdate(t *testing.T) {
	c, store := newRefusingClient(t)
	leases := claimed(t, store, 2)
	jobs := make([]*job, 2)
	for i, l := range leases {
		jobs[i] = &job{e: c.exec, op: &lrostore.Operation{ID: l.ID, Kind: "k"}, name: "operations/" + l.ID, lease: l,
			meta: []byte("good"), metaType: "t", metaDirty: true}
		c.leases.dirty[jobs[i]] = struct{}{}
	}
	jobs[0].meta = []byte("bad")

	require.NoError(t, c.leases.flushMetadata(context.Background()))
	require.Equal(t, 3, store.metadataCalls, "the batch, then each alone")
	require.Empty(t, c.leases.dirty, "the refused update is dropped, not written again and again")
	op, err := store.Store.OperationGet(context.Background(), &lrostore.OperationGetParams{ID: leases[1].ID})
	require.NoError(t, err)
	require.Equal(t, []byte("good"), op.Metadata)
	require.False(t, jobs[0].lost, "a refused update does not cost the lease")
}
