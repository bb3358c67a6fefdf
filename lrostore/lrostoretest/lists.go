package lrostoretest

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

func runOperationList(t *testing.T, newStore NewStore) {
	t.Run("NewestFirstByParentWithPages", func(t *testing.T) {
		t.Parallel()
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
		t.Parallel()
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
			expr, err := lrostore.ParseFilter(tc.filter)
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
	t.Run("MetadataFields", func(t *testing.T) {
		// Filters on metadata and response fields read the JSON copies
		// that each write stores: the insert's, SetMetadata's and the
		// finish's.
		t.Parallel()
		b := setup(t, newStore)
		const (
			metaType = "type.googleapis.com/lro.demo.v1.SleepMetadata"
			respType = "type.googleapis.com/lro.demo.v1.SleepResponse"
		)
		ops := b.insert(t, 4, func(p *lrostore.OperationInsertParams) {
			p.Metadata, p.MetadataType, p.MetadataJSON = []byte{}, metaType, []byte(`{"progress_percent":10}`)
		})
		old := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { // written before the JSON copies
			p.Metadata, p.MetadataType = []byte{}, metaType
		})[0]
		claimed := b.claim(t, 3, b.now)
		require.Equal(t, ids(ops[:3]), ids(claimed))
		written, err := b.store.OperationSetMetadataMany(b.ctx, &lrostore.OperationSetMetadataManyParams{
			Updates: []*lrostore.OperationSetMetadataParams{
				{Lease: lease(claimed[1]), Metadata: []byte{}, MetadataType: metaType, MetadataJSON: []byte(`{"progress_percent":60}`)},
			}})
		require.NoError(t, err)
		require.Equal(t, []bool{true}, written)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[0]), State: lrostore.StateSucceeded,
			Metadata: []byte{}, MetadataType: metaType, MetadataJSON: []byte(`{"progress_percent":100}`),
			Response: []byte{}, ResponseType: respType, ResponseJSON: []byte(`{"slept":"2.500s"}`)}).Finished)
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(claimed[2]), State: lrostore.StateSucceeded,
			Response: []byte{}, ResponseType: respType, ResponseJSON: []byte(`{}`)}).Finished)
		kinds := []lrostore.FilterKind{{Name: "k",
			Metadata: (&demopb.SleepMetadata{}).ProtoReflect().Descriptor(),
			Response: (&demopb.SleepResponse{}).ProtoReflect().Descriptor()}}
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`metadata.progress_percent >= 50 AND done = false`, []string{ops[1].ID}},
			{`metadata.progress_percent >= 50`, []string{ops[1].ID, ops[0].ID}},
			{`metadata.progress_percent = 10`, []string{ops[3].ID, ops[2].ID}}, // the finish without metadata kept it
			{`response.slept > 2s`, []string{ops[0].ID}},
			{`response.slept:*`, []string{ops[0].ID}},
			{`NOT response.slept:* AND response:*`, []string{ops[2].ID}},
			{`metadata.progress_percent < 1000 AND kind = "k"`, []string{ops[3].ID, ops[2].ID, ops[1].ID, ops[0].ID}}, // not old
			{`NOT metadata.progress_percent < 1000`, []string{old.ID}},
		} {
			expr, err := lrostore.ParseFilterKinds(tc.filter, kinds)
			require.NoError(t, err, tc.filter)
			page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr})
			require.NoError(t, err, tc.filter)
			require.Equal(t, tc.want, nilIfEmpty(ids(page)), tc.filter)
		}

		// A retry writes the attempt's metadata and its copy too.
		retried := b.claim(t, 1, b.now)[0] // ops[3]
		require.True(t, b.finish(t, &lrostore.OperationFinishParams{Lease: lease(retried), State: lrostore.StatePending,
			NotBefore: b.now.Add(time.Hour), Error: failureOf(t, 14, "down"),
			Metadata: []byte{}, MetadataType: metaType, MetadataJSON: []byte(`{"progress_percent":77}`)}).Finished)
		expr, err := lrostore.ParseFilterKinds(`metadata.progress_percent = 77`, kinds)
		require.NoError(t, err)
		page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr})
		require.NoError(t, err)
		require.Equal(t, []string{retried.ID}, ids(page))
	})
	t.Run("Brief", func(t *testing.T) {
		t.Parallel()
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
		t.Parallel()
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
		// Not parallel: it measures what the process allocates.
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
		t.Parallel()
		// Upper case sorts before lower case, as in byte order (and
		// not in most languages' collations).
		b := setup(t, newStore)
		upper := b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "B" })[0]
		b.insert(t, 1, func(p *lrostore.OperationInsertParams) { p.Kind = "a" })
		expr, err := lrostore.ParseFilter(`kind < "a"`)
		require.NoError(t, err)
		page, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Limit: 10, Filter: expr})
		require.NoError(t, err)
		require.Equal(t, []string{upper.ID}, ids(page))
	})
}

func runGuards(t *testing.T, newStore NewStore) {
	t.Run("NonPositiveLimitOrMaxSelectsNothing", func(t *testing.T) {
		t.Parallel()
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
}
