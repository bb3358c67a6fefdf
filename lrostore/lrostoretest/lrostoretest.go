// Package lrostoretest is the conformance suite of lrostore.Store: every
// store runs it, unchanged, from its own tests.
//
//	func TestConformance(t *testing.T) {
//		lrostoretest.Run(t, func(t *testing.T) lrostore.Store { return openStore(t) })
//	}
package lrostoretest

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/filter"
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
	t.Run("OperationInsertMany", func(t *testing.T) {
		t.Run("StoresEveryField", func(t *testing.T) {
			b := setup(t, newStore)
			id := uuid.Must(uuid.NewV7()).String()
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
				Operations: []*lrostore.OperationInsertParams{{
					ID: id, Parent: "projects/p/locations/l", Kind: "k", Input: []byte{1, 2, 3},
					Metadata: []byte{4}, MetadataType: "type.googleapis.com/m", RequestID: "r-1",
					RequestHash: []byte{9}, MaxAttempts: 7,
				}}})
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.False(t, res[0].Existing)
			op := b.get(t, id)
			require.Equal(t, res[0].Operation, op)
			require.Equal(t, &lrostore.Operation{
				ID: id, Parent: "projects/p/locations/l", Kind: "k", State: lrostore.StatePending,
				Input: []byte{1, 2, 3}, Metadata: []byte{4}, MetadataType: "type.googleapis.com/m",
				RequestID: "r-1", RequestHash: []byte{9}, MaxAttempts: 7, CreateTime: b.now, UpdateTime: b.now,
			}, op)
		})
		t.Run("RequestIDReturnsExisting", func(t *testing.T) {
			b := setup(t, newStore)
			first := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "same" })[0]
			other := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "same"; p.Parent = "projects/q" })[0]
			require.NotEqual(t, first.ID, other.ID, "request IDs are scoped by parent")
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
				{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), RequestID: "same", RequestHash: []byte("other"), MaxAttempts: 1},
				{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("y"), MaxAttempts: 1},
			}})
			require.NoError(t, err)
			require.True(t, res[0].Existing)
			require.Equal(t, first.ID, res[0].Operation.ID)
			require.Equal(t, []byte("hash"), res[0].Operation.RequestHash)
			require.False(t, res[1].Existing)
		})
		t.Run("RequestIDTwiceInOneBatch", func(t *testing.T) {
			b := setup(t, newStore)
			id1, id2 := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
				{ID: id1, Kind: "k", Input: []byte("x"), RequestID: "r", MaxAttempts: 1},
				{ID: id2, Kind: "k", Input: []byte("x"), RequestID: "r", MaxAttempts: 1},
			}})
			require.NoError(t, err)
			require.False(t, res[0].Existing)
			require.True(t, res[1].Existing)
			require.Equal(t, id1, res[1].Operation.ID)
		})
		t.Run("UnsetFieldsStayEmpty", func(t *testing.T) {
			b := setup(t, newStore)
			id := uuid.Must(uuid.NewV7()).String()
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
				Operations: []*lrostore.OperationInsertParams{{ID: id, Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
			require.NoError(t, err)
			want := &lrostore.Operation{ID: id, Kind: "k", State: lrostore.StatePending, Input: []byte("x"),
				MaxAttempts: 1, CreateTime: b.now, UpdateTime: b.now}
			require.Equal(t, want, res[0].Operation)
			require.Equal(t, want, b.get(t, id))
		})
		t.Run("LeaseOwnerInsertsClaimed", func(t *testing.T) {
			b := setup(t, newStore)
			pending := b.insert(t, 1)[0]
			claimed := b.insert(t, 2, func(p *lrostore.OperationInsertParams) {
				p.LeaseOwner, p.LeaseTTL, p.MaxAttempts = "worker-1", 10*time.Second, 2
			})
			want := &lrostore.Operation{ID: claimed[0].ID, Kind: "k", State: lrostore.StateRunning,
				Input: []byte("input-0"), RequestHash: []byte("hash"), Attempt: 1, MaxAttempts: 2,
				LeaseOwner: "worker-1", LeaseToken: 1, LeaseExpireTime: b.now.Add(10 * time.Second),
				CreateTime: b.now, UpdateTime: b.now}
			require.Equal(t, want, claimed[0])
			require.Equal(t, want, b.get(t, claimed[0].ID))
			require.Equal(t, []string{pending.ID}, ids(b.claim(t, 10, b.now)), "a claimed insert is not claimed again")

			// The lease is an ordinary one: heartbeats renew it, finishes
			// end the operation under it, and a rescue takes it back once
			// it expires (attempt 2 then has a new token).
			held, err := b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
				Leases: []lrostore.Lease{lease(claimed[0]), lease(claimed[1])}, LeaseTTL: 10 * time.Second, Now: b.now})
			require.NoError(t, err)
			require.Len(t, held, 2)
			require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
				Response: []byte("r"), ResponseType: "t"}).Finished)
			later := b.now.Add(11 * time.Second)
			res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
				ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later})
			require.NoError(t, err)
			require.ElementsMatch(t, []string{pending.ID, claimed[1].ID}, res.Retried)
			again, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
				Owner: "worker-2", Kinds: []string{"k"}, Max: 10, LeaseTTL: 10 * time.Second, Now: later})
			require.NoError(t, err)
			require.Equal(t, []string{pending.ID, claimed[1].ID}, ids(again))
			require.Equal(t, int32(2), again[1].Attempt)
			require.Equal(t, int64(2), again[1].LeaseToken)
		})
		t.Run("LeaseOwnerOfATakenRequestIDClaimsNothing", func(t *testing.T) {
			b := setup(t, newStore)
			first := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
				Operations: []*lrostore.OperationInsertParams{{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k",
					Input: []byte("x"), RequestID: "r", RequestHash: []byte("hash"), MaxAttempts: 1,
					LeaseOwner: "worker-1", LeaseTTL: time.Minute}}})
			require.NoError(t, err)
			require.True(t, res[0].Existing)
			require.Equal(t, first, res[0].Operation)
			require.Equal(t, first, b.get(t, first.ID), "the operation that holds the request ID is unchanged")
		})
		t.Run("ZeroNowIsTheCurrentTime", func(t *testing.T) {
			// Stores may read another clock than the caller's (a database
			// server's), so the times are compared loosely.
			b := setup(t, newStore)
			before := time.Now()
			res, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
				{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
			require.NoError(t, err)
			op := res[0].Operation
			require.WithinDuration(t, before, op.CreateTime, 5*time.Second)
			require.Equal(t, op.CreateTime, op.UpdateTime)
			require.Equal(t, b.get(t, op.ID), op, "the inserted operation is the one stored")
			res, err = b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
				{ID: uuid.Must(uuid.NewV7()).String(), Kind: "other", Input: []byte("x"), MaxAttempts: 1, LeaseOwner: "w", LeaseTTL: time.Minute}}})
			require.NoError(t, err)
			require.Equal(t, b.get(t, res[0].Operation.ID), res[0].Operation, "the inserted claimed operation is the one stored")
			claimed, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
				Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Hour})
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			require.WithinDuration(t, before.Add(time.Hour), claimed[0].LeaseExpireTime, 5*time.Second)
			require.Equal(t, claimed[0].UpdateTime.Add(time.Hour), claimed[0].LeaseExpireTime)
			res2, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{
				{Lease: lease(claimed[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"}}})
			require.NoError(t, err)
			require.True(t, res2[0].Finished)
			require.WithinDuration(t, before, b.get(t, op.ID).EndTime, 5*time.Second)
		})
	})

	t.Run("OperationGet", func(t *testing.T) {
		t.Run("Brief", func(t *testing.T) {
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
		t.Run("BriefConcurrent", func(t *testing.T) {
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
			b := setup(t, newStore)
			_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
			require.ErrorIs(t, err, lrostore.ErrNotFound)
		})
		t.Run("MalformedIDNamesNothing", func(t *testing.T) {
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
	})

	t.Run("OperationList", func(t *testing.T) {
		t.Run("NewestFirstByParentWithPages", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 5)
			b.insert(t, 2, func(p *lrostore.OperationInsertParams) { p.Parent = "projects/p" })
			page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 3})
			require.NoError(t, err)
			require.Equal(t, []string{ops[4].ID, ops[3].ID, ops[2].ID}, ids(page))
			page, err = b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 3, BeforeID: ops[2].ID})
			require.NoError(t, err)
			require.Equal(t, []string{ops[1].ID, ops[0].ID}, ids(page))
			page, err = b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Parent: "projects/p"})
			require.NoError(t, err)
			require.Len(t, page, 2)
		})
		t.Run("Filter", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 4)
			b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })
			claimed := b.claim(t, 2, b.now)
			require.Equal(t, ids(ops[:2]), ids(claimed))
			require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
				Response: []byte("r"), ResponseType: "type.googleapis.com/R"}).Finished)
			require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[1]), State: lrostore.StateFailed,
				Error: &lrostore.Failure{Code: 9, Message: "boom", Status: []byte("s")}}).Finished)
			for _, tc := range []struct {
				filter string
				want   []string
			}{
				{`done = true`, []string{ops[1].ID, ops[0].ID}},
				{`done = false AND kind = "k"`, []string{ops[3].ID, ops[2].ID}},
				{`error.code = 9`, []string{ops[1].ID}},
				{`error.code != 9`, nil},
				{`response.@type = "type.googleapis.com/R"`, []string{ops[0].ID}},
				{`name = "operations/` + ops[2].ID + `"`, []string{ops[2].ID}},
				{`kind = "other" OR error:*`, []string{ops[1].ID}},
			} {
				expr, err := filter.Parse(tc.filter)
				require.NoError(t, err, tc.filter)
				page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr})
				require.NoError(t, err, tc.filter)
				bounded, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr, Brief: true, MaxBytes: 1 << 20})
				require.NoError(t, err, tc.filter)
				require.Equal(t, ids(page), ids(bounded), "%s, brief and bounded by size", tc.filter)
				if tc.filter == `kind = "other" OR error:*` {
					require.Len(t, page, 2, tc.filter)
					continue
				}
				require.Equal(t, tc.want, nilIfEmpty(ids(page)), tc.filter)
			}
		})
		t.Run("Brief", func(t *testing.T) {
			b := setup(t, newStore)
			want := b.briefs(t)
			page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Parent: "projects/p", Limit: 10, Brief: true})
			require.NoError(t, err)
			require.Len(t, page, len(want))
			for _, op := range page {
				require.Equal(t, want[op.ID], op)
			}
		})
		t.Run("MaxBytesEndsThePageAfterTheOperationThatSpendsIt", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 10, func(p *lrostore.OperationInsertParams) { p.Metadata = make([]byte, 100_000) })
			slices.Reverse(ops) // newest first, as listed
			for _, brief := range []bool{false, true} {
				for _, maxBytes := range []int{1, 100_000, 350_000, 2_000_000} {
					page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 11, Brief: brief, MaxBytes: maxBytes})
					require.NoError(t, err)
					// Up to and including the operation that brings the
					// total over MaxBytes, and no further.
					want, read := 0, 0
					for _, op := range ops {
						if read > maxBytes {
							break
						}
						size := op.Size()
						if brief {
							size -= len(op.Input)
						}
						read += size
						want++
					}
					require.Equal(t, ids(ops[:want]), ids(page), "brief %v, MaxBytes %d", brief, maxBytes)
					for _, op := range page {
						require.Len(t, op.Metadata, 100_000)
					}
				}
			}
		})
		t.Run("MaxBytesReadsNoFurther", func(t *testing.T) {
			// A list bounded by MaxBytes does not read the operations after
			// the one that spends it: what it allocates stays near
			// MaxBytes, whatever the number of operations it could list.
			b := setup(t, newStore)
			const n, size = 48, 1 << 20
			b.insert(t, n, func(p *lrostore.OperationInsertParams) { p.Metadata = make([]byte, size) })
			page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: n + 1, Brief: true})
			require.NoError(t, err)
			require.Len(t, page, n, "without MaxBytes, Limit bounds the list")
			page = nil
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			page, err = b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: n + 1, Brief: true, MaxBytes: size + size/2})
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			require.Len(t, page, 2)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("a list of 2 operations of %d MiB among %d allocated %.1f MiB", size>>20, n, float64(allocated)/(1<<20))
			require.Less(t, allocated, uint64(n*size/2), "the list read operations past MaxBytes")
		})
		t.Run("FilterOrdersStringsByteWise", func(t *testing.T) {
			// Upper case sorts before lower case, as in byte order (and
			// not in most languages' collations).
			b := setup(t, newStore)
			upper := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "B" })[0]
			b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "a" })
			expr, err := filter.Parse(`kind < "a"`)
			require.NoError(t, err)
			page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr})
			require.NoError(t, err)
			require.Equal(t, []string{upper.ID}, ids(page))
		})
	})

	t.Run("OperationClaim", func(t *testing.T) {
		t.Run("OldestFirstWithLease", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 3)
			b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "other" })
			claimed := b.claim(t, 2, b.now)
			require.Equal(t, ids(ops[:2]), ids(claimed))
			for _, op := range claimed {
				require.Equal(t, lrostore.StateRunning, op.State)
				require.Equal(t, int32(1), op.Attempt)
				require.Equal(t, int64(1), op.LeaseToken)
				require.Equal(t, "worker-1", op.LeaseOwner)
				require.Equal(t, b.now.Add(10*time.Second), op.LeaseExpireTime)
			}
			require.Equal(t, ids(ops[2:]), ids(b.claim(t, 5, b.now)), "only kind k, and not the claimed ones")
			require.Empty(t, b.claim(t, 5, b.now))
		})
		t.Run("ConcurrentClaimsTakeEachOnce", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 200)
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						ops, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
							Owner: "w", Kinds: []string{"k"}, Max: 7, LeaseTTL: time.Minute})
						if err != nil {
							t.Error(err)
							return
						}
						if len(ops) == 0 {
							return
						}
						mu.Lock()
						for _, op := range ops {
							seen[op.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.Len(t, seen, 200)
			for id, n := range seen {
				require.Equal(t, 1, n, id)
			}
		})
	})

	t.Run("OperationHeartbeat", func(t *testing.T) {
		t.Run("RenewsHeldLeasesOnly", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 2)
			claimed := b.claim(t, 2, b.now)
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: claimed[1].ID, CancelledError: cancelled})
			require.NoError(t, err)
			stale := lrostore.Lease{ID: claimed[0].ID, Token: claimed[0].LeaseToken + 1}
			res, err := b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
				Leases: []lrostore.Lease{lease(claimed[0]), lease(claimed[1]), stale}, LeaseTTL: time.Minute, Now: b.now.Add(time.Second)})
			require.NoError(t, err)
			sort.Slice(res, func(i, j int) bool { return res[i].ID < res[j].ID })
			require.Equal(t, []*lrostore.OperationHeartbeatResult{
				{ID: claimed[0].ID}, {ID: claimed[1].ID, CancelRequested: true},
			}, res)
			require.Equal(t, b.now.Add(time.Second+time.Minute), b.get(t, claimed[0].ID).LeaseExpireTime)
		})
	})

	t.Run("OperationSetMetadataMany", func(t *testing.T) {
		t.Run("FencedByLease", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
				Updates: []*lrostore.OperationSetMetadataParams{
					{Lease: lease(op), Metadata: []byte("m1"), MetadataType: "t1"},
					{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken - 1}, Metadata: []byte("stale"), MetadataType: "t0"},
				}, Now: b.now.Add(time.Second)})
			require.NoError(t, err)
			require.Equal(t, []bool{true, false}, written)
			got := b.get(t, op.ID)
			require.Equal(t, []byte("m1"), got.Metadata)
			require.Equal(t, "t1", got.MetadataType)
			require.Equal(t, b.now.Add(time.Second), got.UpdateTime)
		})
		t.Run("SameLeaseTwiceLastWins", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
				Updates: []*lrostore.OperationSetMetadataParams{
					{Lease: lease(op), Metadata: []byte("m1"), MetadataType: "t1"},
					{Lease: lease(op), Metadata: []byte("m2"), MetadataType: "t2"},
				}})
			require.NoError(t, err)
			require.Equal(t, []bool{true, true}, written)
			got := b.get(t, op.ID)
			require.Equal(t, []byte("m2"), got.Metadata)
			require.Equal(t, "t2", got.MetadataType)
		})
	})

	t.Run("OperationFinishMany", func(t *testing.T) {
		t.Run("SucceedsOnceAndNeverChanges", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded,
				Response: []byte("resp"), ResponseType: "type.googleapis.com/R", Metadata: []byte("final"), MetadataType: "t"})
			require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateSucceeded}, res)
			got := b.get(t, op.ID)
			require.Equal(t, lrostore.StateSucceeded, got.State)
			require.Equal(t, []byte("resp"), got.Response)
			require.Equal(t, []byte("final"), got.Metadata)
			require.Nil(t, got.Error)
			require.Equal(t, b.now.Add(time.Second), got.EndTime)
			require.Empty(t, got.LeaseOwner)

			again := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateFailed,
				Error: &lrostore.Failure{Code: 2, Message: "late", Status: []byte("x")}})
			require.False(t, again.Finished)
			require.Equal(t, got, b.get(t, op.ID))
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
			require.NoError(t, err)
			written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
				Updates: []*lrostore.OperationSetMetadataParams{{Lease: lease(op), Metadata: []byte("late")}}})
			require.NoError(t, err)
			require.Equal(t, []bool{false}, written)
			require.Equal(t, got, b.get(t, op.ID), "a done operation never changes")
		})
		t.Run("KeepsMetadataWhenNoneGiven", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Metadata, p.MetadataType = []byte("m"), "t" })
			op := b.claim(t, 1, b.now)[0]
			b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			require.Equal(t, []byte("m"), b.get(t, op.ID).Metadata)
		})
		t.Run("StaleTokenRejected", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			res := b.finish(t, &lrostore.OperationFinishParams{Lease: lrostore.Lease{ID: op.ID, Token: op.LeaseToken + 1},
				State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			require.False(t, res.Finished)
			require.Equal(t, lrostore.StateRunning, b.get(t, op.ID).State)
		})
		t.Run("FailureAfterCancelRequestIsCancellation", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 2)
			ops := b.claim(t, 2, b.now)
			for _, op := range ops {
				_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
				require.NoError(t, err)
			}
			res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[0]), State: lrostore.StateFailed,
				Error: &lrostore.Failure{Code: 2, Message: "context canceled", Status: []byte("x")}})
			require.Equal(t, lrostore.StateCancelled, res.State)
			require.Equal(t, cancelled, b.get(t, ops[0].ID).Error)
			res = b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[1]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			require.Equal(t, lrostore.StateSucceeded, res.State, "work that completed despite the request keeps its result")
		})
		t.Run("ResultsInInputOrder", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 3)
			ops := b.claim(t, 3, b.now)
			res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
				Finishes: []*lrostore.OperationFinishParams{
					{Lease: lease(ops[2]), State: lrostore.StateFailed, Error: &lrostore.Failure{Code: 2, Message: "m", Status: []byte("s")}},
					{Lease: lrostore.Lease{ID: ops[1].ID, Token: ops[1].LeaseToken + 1}, State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
					{Lease: lease(ops[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"},
				}, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
			require.Equal(t, []*lrostore.OperationFinishResult{
				{Finished: true, State: lrostore.StateFailed}, {}, {Finished: true, State: lrostore.StateSucceeded},
			}, res)
			require.Equal(t, &lrostore.Failure{Code: 2, Message: "m", Status: []byte("s")}, b.get(t, ops[2].ID).Error)
		})
		t.Run("SameLeaseTwiceFirstWins", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			res, err := b.store.OperationFinishMany(b.ctx, &lrostore.OperationFinishManyParams{
				Finishes: []*lrostore.OperationFinishParams{
					{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("first"), ResponseType: "t"},
					{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("second"), ResponseType: "t"},
				}, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
			require.Equal(t, []*lrostore.OperationFinishResult{{Finished: true, State: lrostore.StateSucceeded}, {}}, res)
			require.Equal(t, []byte("first"), b.get(t, op.ID).Response)
		})
	})

	t.Run("OperationReleaseMany", func(t *testing.T) {
		t.Run("BackToPendingWithoutCountingTheAttempt", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 1)
			op := b.claim(t, 1, b.now)[0]
			released, err := b.store.OperationReleaseMany(b.ctx, &lrostore.OperationReleaseManyParams{
				Leases: []lrostore.Lease{lease(op), {ID: op.ID, Token: 99}}})
			require.NoError(t, err)
			require.Equal(t, []string{op.ID}, released)
			got := b.get(t, op.ID)
			require.Equal(t, lrostore.StatePending, got.State)
			require.Equal(t, int32(0), got.Attempt)
			again := b.claim(t, 1, b.now)[0]
			require.Equal(t, int32(1), again.Attempt)
			require.Equal(t, op.LeaseToken+1, again.LeaseToken, "each claim has its own token")
			res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			require.False(t, res.Finished, "the released worker's late write is rejected")
		})
	})

	t.Run("OperationRescue", func(t *testing.T) {
		t.Run("RetriesFailsAndCancels", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 4, func(p *lrostore.OperationInsertParams) { p.MaxAttempts = 2 })
			claimed := b.claim(t, 4, b.now) // attempt 1 each
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[2].ID, CancelledError: cancelled})
			require.NoError(t, err)
			// ops[3] keeps a fresh lease.
			_, err = b.store.OperationHeartbeat(b.ctx, &lrostore.OperationHeartbeatParams{
				Leases: []lrostore.Lease{lease(claimed[3])}, LeaseTTL: time.Hour, Now: b.now})
			require.NoError(t, err)

			later := b.now.Add(11 * time.Second)
			res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
				ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later})
			require.NoError(t, err)
			require.ElementsMatch(t, []string{ops[0].ID, ops[1].ID}, res.Retried)
			require.Equal(t, []string{ops[2].ID}, res.Ended)
			require.Equal(t, cancelled, b.get(t, ops[2].ID).Error)
			require.Equal(t, lrostore.StateRunning, b.get(t, ops[3].ID).State)

			again := b.claim(t, 4, later) // attempt 2 of ops[0] and ops[1]
			require.Equal(t, ids(ops[:2]), ids(again))
			require.Equal(t, int32(2), again[0].Attempt)
			res, err = b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
				ExhaustedError: exhausted, CancelledError: cancelled, Max: 100, Now: later.Add(11 * time.Second)})
			require.NoError(t, err)
			require.Empty(t, res.Retried)
			require.ElementsMatch(t, []string{ops[0].ID, ops[1].ID}, res.Ended)
			got := b.get(t, ops[0].ID)
			require.Equal(t, lrostore.StateFailed, got.State)
			require.Equal(t, exhausted, got.Error)
			require.False(t, got.EndTime.IsZero())

			late := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(again[0]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
			require.False(t, late.Finished, "the lost worker's late result is rejected")
		})
		t.Run("EarliestExpiryFirstUpToMax", func(t *testing.T) {
			b := setup(t, newStore)
			b.insert(t, 3)
			var claimed []*lrostore.Operation
			for i := range 3 { // leases expire 10s, 11s and 12s after now
				claimed = append(claimed, b.claim(t, 1, b.now.Add(time.Duration(i)*time.Second))...)
			}
			res, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
				ExhaustedError: exhausted, CancelledError: cancelled, Max: 2, Now: b.now.Add(time.Minute)})
			require.NoError(t, err)
			require.ElementsMatch(t, []string{claimed[0].ID, claimed[1].ID}, res.Retried)
			require.Empty(t, res.Ended)
			require.Equal(t, lrostore.StateRunning, b.get(t, claimed[2].ID).State)
		})
	})

	t.Run("OperationCancel", func(t *testing.T) {
		t.Run("PendingRunningDoneAndMissing", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 3)
			running := b.claim(t, 2, b.now)
			b.finish(t, &lrostore.OperationFinishParams{Lease: lease(running[1]), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})

			got, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[2].ID, CancelledError: cancelled, Now: b.now.Add(time.Minute)})
			require.NoError(t, err)
			require.Equal(t, lrostore.StateCancelled, got.State)
			require.Equal(t, cancelled, got.Error)
			require.Equal(t, b.now.Add(time.Minute), got.EndTime)

			got, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled})
			require.NoError(t, err)
			require.Equal(t, lrostore.StateRunning, got.State)
			require.True(t, got.CancelRequested)

			done := b.get(t, ops[1].ID)
			got, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[1].ID, CancelledError: cancelled})
			require.NoError(t, err)
			require.Equal(t, done, got)

			_, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: uuid.Must(uuid.NewV7()).String(), CancelledError: cancelled})
			require.ErrorIs(t, err, lrostore.ErrNotFound)
			_, err = b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, Parent: "projects/other", CancelledError: cancelled})
			require.ErrorIs(t, err, lrostore.ErrNotFound)
		})
	})

	t.Run("OperationDelete", func(t *testing.T) {
		t.Run("DoneOnly", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 2)
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled})
			require.NoError(t, err)
			require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[1].ID}), lrostore.ErrNotDone)
			require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID, Parent: "projects/x"}), lrostore.ErrNotFound)
			require.NoError(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID}))
			_, err = b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: ops[0].ID})
			require.ErrorIs(t, err, lrostore.ErrNotFound)
			require.ErrorIs(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: ops[0].ID}), lrostore.ErrNotFound)
		})
		t.Run("RequestIDFreedWithTheOperation", func(t *testing.T) {
			b := setup(t, newStore)
			op := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
			require.NoError(t, err)
			require.NoError(t, b.store.OperationDelete(b.ctx, &lrostore.OperationDeleteParams{ID: op.ID}))
			again := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.RequestID = "r" })[0]
			require.NotEqual(t, op.ID, again.ID)
		})
	})

	t.Run("OperationDeleteDoneBefore", func(t *testing.T) {
		t.Run("OldDoneOnly", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 4)
			for _, op := range ops[:3] {
				_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled, Now: b.now})
				require.NoError(t, err)
			}
			n, err := b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
			require.NoError(t, err)
			require.Equal(t, 2, n)
			n, err = b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			n, err = b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Second), Max: 2})
			require.NoError(t, err)
			require.Equal(t, 0, n)
			require.Equal(t, lrostore.StatePending, b.get(t, ops[3].ID).State)
		})
	})

	t.Run("Guards", func(t *testing.T) {
		t.Run("NonPositiveLimitOrMaxSelectsNothing", func(t *testing.T) {
			b := setup(t, newStore)
			ops := b.insert(t, 3)
			_, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: ops[0].ID, CancelledError: cancelled, Now: b.now})
			require.NoError(t, err)
			claimed := b.claim(t, 1, b.now.Add(-time.Minute)) // its lease has expired
			require.Equal(t, []string{ops[1].ID}, ids(claimed))
			for _, n := range []int{0, -1} {
				listed, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: n})
				require.NoError(t, err)
				require.Empty(t, listed, "list, Limit %d", n)
				got, err := b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{
					Owner: "worker-1", Kinds: []string{"k"}, Max: n, LeaseTTL: time.Second, Now: b.now,
				})
				require.NoError(t, err)
				require.Empty(t, got, "claim, Max %d", n)
				rescued, err := b.store.OperationRescue(b.ctx, &lrostore.OperationRescueParams{
					ExhaustedError: exhausted, CancelledError: cancelled, Max: n, Now: b.now,
				})
				require.NoError(t, err)
				require.Empty(t, rescued.Retried, "rescue, Max %d", n)
				require.Empty(t, rescued.Ended, "rescue, Max %d", n)
				deleted, err := b.store.OperationDeleteDoneBefore(b.ctx, &lrostore.OperationDeleteDoneBeforeParams{Before: b.now.Add(time.Hour), Max: n})
				require.NoError(t, err)
				require.Zero(t, deleted, "delete done before, Max %d", n)
			}
			require.Equal(t, lrostore.StateCancelled, b.get(t, ops[0].ID).State)
			require.Equal(t, lrostore.StateRunning, b.get(t, ops[1].ID).State)
			require.Equal(t, lrostore.StatePending, b.get(t, ops[2].ID).State)
		})
	})

	t.Run("Concurrency", func(t *testing.T) {
		t.Run("ReadsDuringWrites", func(t *testing.T) {
			// Readers and writers at once, on every path that prepares or
			// reuses statements: nothing may wait for ever.
			b := setup(t, newStore)
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			first := b.insert(t, 1)[0]
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := range 50 {
						_, err := b.store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
							{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte(fmt.Sprint(w, i)), MaxAttempts: 1}}})
						if err != nil {
							t.Error(err)
							return
						}
						if _, err := b.store.OperationClaim(ctx, &lrostore.OperationClaimParams{
							Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Minute}); err != nil {
							t.Error(err)
							return
						}
					}
				})
				wg.Go(func() {
					for range 50 {
						if _, err := b.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: first.ID}); err != nil {
							t.Error(err)
							return
						}
						if _, err := b.store.OperationList(ctx, &lrostore.OperationListParams{Limit: 5}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, ctx.Err(), "calls waited for each other until the deadline")
		})
	})

	t.Run("KeyGetOrCreate", func(t *testing.T) {
		t.Run("FirstWins", func(t *testing.T) {
			b := setup(t, newStore)
			k1, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("one")})
			require.NoError(t, err)
			require.Equal(t, []byte("one"), k1)
			k2, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("two")})
			require.NoError(t, err)
			require.Equal(t, []byte("one"), k2)
		})
	})

	t.Run("WriteCheck", func(t *testing.T) {
		t.Run("RewritesOneRow", func(t *testing.T) {
			// Checks write, and leave one row of their own however many run.
			b := setup(t, newStore)
			for range 3 {
				require.NoError(t, b.store.WriteCheck(b.ctx))
			}
			first, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: lrostore.WriteCheckKey, New: []byte("none")})
			require.NoError(t, err)
			require.NotEqual(t, []byte("none"), first, "no check was written")
			require.NoError(t, b.store.WriteCheck(b.ctx))
			second, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: lrostore.WriteCheckKey, New: []byte("none")})
			require.NoError(t, err)
			require.NotEqual(t, first, second, "a check that is not written again checks nothing")
			// The other named values are untouched.
			k, err := b.store.KeyGetOrCreate(b.ctx, &lrostore.KeyGetOrCreateParams{Name: "n", New: []byte("one")})
			require.NoError(t, err)
			require.Equal(t, []byte("one"), k)
		})
		t.Run("AfterCloseFails", func(t *testing.T) {
			b := setup(t, newStore)
			require.NoError(t, b.store.Close())
			require.ErrorIs(t, b.store.WriteCheck(b.ctx), lrostore.ErrClosed)
		})
	})

	t.Run("Close", func(t *testing.T) {
		t.Run("CallsAfterCloseFail", func(t *testing.T) {
			b := setup(t, newStore)
			require.NoError(t, b.store.Close())
			_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
			require.ErrorIs(t, err, lrostore.ErrClosed)
			_, err = b.store.OperationClaim(b.ctx, &lrostore.OperationClaimParams{Owner: "w", Kinds: []string{"k"}, Max: 1, LeaseTTL: time.Second})
			require.ErrorIs(t, err, lrostore.ErrClosed)
		})
	})
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
