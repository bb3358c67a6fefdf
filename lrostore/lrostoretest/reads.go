package lrostoretest

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func runOperationGet(t *testing.T, newStore NewStore) {
	t.Run("Brief", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		want := b.briefs(t)
		states := map[lrostore.State]bool{}
		for id, w := range want {
			brief, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: id, Brief: true})
			require.NoError(t, err)
			require.Equal(t, w, brief)
			states[w.State] = true
		}
		require.Len(t, states, 4, "running, succeeded, failed and cancelled")
		for _, w := range want {
			require.Equal(t, w.State == lrostore.StateRunning, !w.LeaseExpireTime.IsZero(), "a lease expiry, only while running")
		}
		_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String(), Brief: true})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
	})
	t.Run("Live", func(t *testing.T) {
		t.Parallel()
		// A live read is a brief one, with what tells where an operation
		// that is not done stands.
		b := setup(t, newStore)
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Deadline = b.now.Add(time.Hour) })
		op := b.claim(t, 1, b.now)[0]
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StatePending,
			NotBefore: b.now.Add(time.Minute), Error: failureOf(t, 14, "down")}).Finished)
		full := b.get(t, op.ID)
		live, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: op.ID, Brief: true, Live: true})
		require.NoError(t, err)
		require.Equal(t, &lrostore.Operation{ID: full.ID, Parent: full.Parent, State: full.State,
			Attempt: 1, LastError: failureOf(t, 14, "down"), Deadline: b.now.Add(time.Hour), NotBefore: b.now.Add(time.Minute)}, live)
		brief, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: op.ID, Brief: true})
		require.NoError(t, err)
		require.Zero(t, brief.Attempt, "a brief read leaves them out")
		require.Nil(t, brief.LastError)
		_, err = b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String(), Brief: true, Live: true})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
	})
	t.Run("BriefConcurrent", func(t *testing.T) {
		t.Parallel()
		// Brief reads at once, as a busy server makes them: each gets
		// its own operation, or ErrNotFound, and owns what it gets.
		b := setup(t, newStore)
		want := b.briefs(t)
		ids := slices.Sorted(maps.Keys(want))
		ids = append(ids, uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String())
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 50 {
					id := ids[(g+i*7)%len(ids)]
					brief, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: id, Brief: true})
					if want[id] == nil {
						assert.ErrorIs(t, err, lrostore.ErrNotFound, "brief read of missing %s", id)
						continue
					}
					if assert.NoError(t, err, "brief read of %s", id) && assert.Equal(t, want[id], brief) {
						for i := range brief.Metadata {
							brief.Metadata[i] = 'x' // no other reader may see this
						}
					}
				}
			})
		}
		wg.Wait()
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
	})
	t.Run("MalformedIDNamesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		bad := "not-a-uuid"
		_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: bad})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
		_, err = b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: strings.ToUpper(op.ID)})
		require.ErrorIs(t, err, lrostore.ErrNotFound, "IDs are lower case")
		_, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: bad, CancelledError: cancelled})
		require.ErrorIs(t, err, lrostore.ErrNotFound)
		require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: bad}), lrostore.ErrNotFound)

		claimed := b.claim(t, 1, b.now)[0]
		badLease := lrostore.Lease{ID: bad, Token: claimed.LeaseToken}
		held, err := b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
			Leases: []lrostore.Lease{badLease, lease(claimed)}, LeaseTTL: time.Minute, Now: b.now})
		require.NoError(t, err)
		require.Equal(t, []*lrostore.OperationHeartbeatResult{{ID: claimed.ID}}, held)
		written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{{Lease: badLease, Metadata: []byte("m")}}})
		require.NoError(t, err)
		require.Equal(t, []bool{false}, written)
		released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{Leases: []lrostore.Lease{badLease}})
		require.NoError(t, err)
		require.Empty(t, released)
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: badLease, State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
		require.False(t, res.Finished)
		require.Equal(t, lrostore.StateRunning, b.get(t, claimed.ID).State)
	})
}
