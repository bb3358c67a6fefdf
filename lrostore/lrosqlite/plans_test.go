package lrosqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

// A list filtered on metadata fields, narrowed to a metadata type, walks
// the index (parent, metadata_type, id) newest first: no table scan, no
// sort.
func TestMetadataFilterPlan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "lro.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	kinds := []lrostore.FilterKind{{Name: "demo.sleep", Metadata: (&demopb.SleepMetadata{}).ProtoReflect().Descriptor()}}
	for _, filter := range []string{
		`metadata.progress_percent >= 50 AND done = false`,
		`kind = "demo.sleep" AND metadata.start_time < "2018-03-28T14:50:00Z"`,
	} {
		f, err := lrostore.ParseFilterKinds(filter, kinds)
		require.NoError(t, err)
		where, args := f.SQL(dialect, 2)
		rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM lro_operation WHERE parent = ? AND (`+
			where+`) ORDER BY id DESC LIMIT 51`, append([]any{"projects/p"}, args...)...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		text := strings.Join(plan, "\n")
		require.Contains(t, text, "USING INDEX lro_operation_parent_metadata_type (parent=? AND metadata_type=?)", "%s:\n%s", filter, text)
		require.NotContains(t, text, "TEMP B-TREE", "%s:\n%s", filter, text)
	}
}

// The count of pending operations that metrics sample reads the two
// partial indexes of pending operations, not the whole table.
func TestCountPendingPlan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "lro.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+countPendingQuery)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	text := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", text)
	require.Contains(t, text, "USING INDEX lro_operation_pending")
	require.Contains(t, text, "USING COVERING INDEX lro_operation_waiting")
	require.NotRegexp(t, `SCAN lro_operation\s*(\n|$)`, text, "no scan of the whole table")
}
