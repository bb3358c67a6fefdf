package lrosqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A claim reads the operations that run at once through the pending index,
// and of those that wait only the due ones, through their own index by
// time: however many wait, it reads none that is not due.
func TestClaimPlan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer s.Close()
	rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+claimQuery, "w", 1, 1, `["k"]`, 10)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	text := strings.Join(plan, "\n")
	require.Contains(t, text, "USING INDEX lro_operation_pending", text)
	require.Contains(t, text, "USING INDEX lro_operation_waiting (not_before>? AND not_before<?)", text)
	require.NotContains(t, text, "SCAN lro_operation\n", text)
}
