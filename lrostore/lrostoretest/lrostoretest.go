// Package lrostoretest is the conformance suite of lrostore.Store: every
// store runs it, unchanged, from its own tests.
//
//	func TestConformance(t *testing.T) {
//		lrostoretest.Run(t, func(t *testing.T) lrostore.Store { return openStore(t) })
//		t.Run("Migrations", func(t *testing.T) { lrostoretest.RunMigrations(t, newDatabase, latest) })
//	}
//
// A store with the lrostore.Notifier capability runs RunNotifier too.
//
// The suite is split by area: reads.go (OperationGet), lists.go
// (OperationList and the Limit/Max guards), writes.go (inserts, metadata,
// finishes, cancellations, deletions), claims.go (claims, leases, rescues,
// retention), attempts.go (the attempt history), stats.go (counts and
// statistics by kind), store.go (concurrency, keys, write checks, Close), text.go
// (stored text and permanent errors), notifier.go and migrations.go. Each
// test makes a store of its own and runs in parallel with the others of
// its area, but for those that measure the whole process.
package lrostoretest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// NewStore returns an empty store for one test; the suite closes it.
type NewStore func(t *testing.T) lrostore.Store

type bundle struct {
	ctx   context.Context
	store lrostore.Store
	now   time.Time
}

func setup(t *testing.T, newStore NewStore) *bundle {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() { s.Close() })
	return &bundle{ctx: context.Background(), store: s, now: time.Now().UTC().Truncate(time.Microsecond)}
}

var (
	cancelled = &lrostore.Failure{Code: 1, Message: "operation cancelled", Status: []byte("cancelled-status")}
	exhausted = &lrostore.Failure{Code: 10, Message: "attempts exhausted", Status: []byte("exhausted-status")}
)

// insert inserts n operations of kind "k" under parent "" and returns them in
// creation order.
func (b *bundle) insert(t *testing.T, n int, mutate ...func(*lrostore.OperationInsertParams)) []*lrostore.Operation {
	t.Helper()
	params := &lrostore.OperationInsertManyParams{Now: b.now}
	for i := range n {
		p := &lrostore.OperationInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte(fmt.Sprintf("input-%d", i)),
			RequestHash: []byte("hash"), MaxAttempts: 3,
		}
		for _, m := range mutate {
			m(p)
		}
		params.Operations = append(params.Operations, p)
	}
	res, err := b.store.OperationInsertMany(b.ctx, params)
	require.NoError(t, err)
	ops := make([]*lrostore.Operation, n)
	for i, r := range res {
		require.False(t, r.Existing)
		ops[i] = r.Operation
	}
	return ops
}

func (b *bundle) claim(t *testing.T, max int, now time.Time) []*lrostore.Operation {
	t.Helper()
	ops, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
		Owner: "worker-1", Kinds: []string{"k"}, Max: max, LeaseTTL: 10 * time.Second, Now: now,
	})
	require.NoError(t, err)
	return ops
}

func (b *bundle) get(t *testing.T, id string) *lrostore.Operation {
	t.Helper()
	op, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: id})
	require.NoError(t, err)
	return op
}

// briefs stores four operations of parent "projects/p", one running, one
// succeeded, one failed and one cancelled, and returns what a brief read
// of each must return, by ID.
func (b *bundle) briefs(t *testing.T) map[string]*lrostore.Operation {
	t.Helper()
	ops := b.insert(t, 4, func(p *lrostore.OperationInsertParams) {
		p.Parent, p.Metadata, p.MetadataType, p.RequestID = "projects/p", []byte("m0"), "type/m", p.ID
	})
	claimed := b.claim(t, 3, b.now)
	require.Len(t, claimed, 3)
	failed := &lrostore.Failure{Code: 5, Message: "not found", Status: []byte("failed-status")}
	require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
		Metadata: []byte("m1"), MetadataType: "type/m", Response: []byte("r"), ResponseType: "type/r"}).Finished)
	require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[1]), State: lrostore.StateFailed, Error: failed}).Finished)
	_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[3].ID, Parent: "projects/p", CancelledError: cancelled})
	require.NoError(t, err)
	want := make(map[string]*lrostore.Operation, len(ops))
	for _, op := range ops {
		full := b.get(t, op.ID)
		w := &lrostore.Operation{ID: full.ID, Parent: full.Parent, State: full.State, Metadata: full.Metadata, Response: full.Response,
			LeaseExpireTime: full.LeaseExpireTime}
		if full.Error != nil {
			w.Error = &lrostore.Failure{Code: full.Error.Code, Status: full.Error.Status}
		}
		want[op.ID] = w
	}
	return want
}

func lease(op *lrostore.Operation) lrostore.Lease {
	return lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
}

func ids(ops []*lrostore.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.ID
	}
	return out
}

func (b *bundle) finish(t *testing.T, f *lrostore.OperationFinishParams) *lrostore.OperationFinishResult {
	t.Helper()
	res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
		Finishes: []*lrostore.OperationFinishParams{f}, CancelledError: cancelled, Now: b.now.Add(time.Second),
	})
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0]
}

// Run runs the suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Text", func(t *testing.T) { runText(t, newStore) })
	t.Run("PermanentErrors", func(t *testing.T) { runPermanentErrors(t, newStore) })
	t.Run("OperationInsertMany", func(t *testing.T) { runOperationInsertMany(t, newStore) })
	t.Run("OperationGet", func(t *testing.T) { runOperationGet(t, newStore) })
	t.Run("OperationList", func(t *testing.T) { runOperationList(t, newStore) })
	t.Run("OperationClaim", func(t *testing.T) { runOperationClaim(t, newStore) })
	t.Run("OperationHeartbeat", func(t *testing.T) { runOperationHeartbeat(t, newStore) })
	t.Run("OperationSetMetadataMany", func(t *testing.T) { runOperationSetMetadataMany(t, newStore) })
	t.Run("OperationFinishMany", func(t *testing.T) { runOperationFinishMany(t, newStore) })
	t.Run("Retries", func(t *testing.T) { runRetries(t, newStore) })
	t.Run("OperationExpire", func(t *testing.T) { runOperationExpire(t, newStore) })
	t.Run("OperationReleaseMany", func(t *testing.T) { runOperationReleaseMany(t, newStore) })
	t.Run("OperationRescue", func(t *testing.T) { runOperationRescue(t, newStore) })
	t.Run("DelayedOperations", func(t *testing.T) { runDelayedOperations(t, newStore) })
	t.Run("OperationCancel", func(t *testing.T) { runOperationCancel(t, newStore) })
	t.Run("OperationDelete", func(t *testing.T) { runOperationDelete(t, newStore) })
	t.Run("OperationDeleteDoneBefore", func(t *testing.T) { runOperationDeleteDoneBefore(t, newStore) })
	t.Run("Guards", func(t *testing.T) { runGuards(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { runConcurrency(t, newStore) })
	t.Run("KeyGetOrCreate", func(t *testing.T) { runKeyGetOrCreate(t, newStore) })
	t.Run("WriteCheck", func(t *testing.T) { runWriteCheck(t, newStore) })
	t.Run("OperationCountPending", func(t *testing.T) { runCountPending(t, newStore) })
	t.Run("SchemaVersion", func(t *testing.T) { runSchemaVersion(t, newStore) })
	t.Run("Attempts", func(t *testing.T) { runAttempts(t, newStore) })
	t.Run("OperationCountByState", func(t *testing.T) { runCountByState(t, newStore) })
	t.Run("KindStats", func(t *testing.T) { runKindStats(t, newStore) })
	t.Run("Close", func(t *testing.T) { runClose(t, newStore) })
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
