package lrosqlite

import (
	"testing"

	"lro.dev/lro/lrostore/internal/statementstest"
)

// The text of the statements is part of the store's performance (parsed
// and prepared once, planned by SQLite).
func TestStatementsAreUnchanged(t *testing.T) {
	statementstest.Check(t, map[string]string{
		"columns": columns, "brief columns": briefColumns, "insert": insertQuery, "heartbeat": heartbeatQuery,
		"set metadata": setMetadataQuery, "finish": finishQuery, "finish returning": finishReturningQuery,
		"release": releaseQuery, "claim": claimQuery, "rescue": rescueQuery, "cancel": cancelQuery,
		"retry": retryQuery, "expire": expireQuery,
		"name": nameExpr,
	})
}
