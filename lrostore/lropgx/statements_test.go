package lropgx

import (
	"testing"

	"lro.dev/lro/lrostore/internal/statementstest"
)

// The text of the statements is part of the store's performance (their
// plans, prepared or not).
func TestStatementsAreUnchanged(t *testing.T) {
	statementstest.Check(t, map[string]string{
		"columns": columns, "brief columns": briefColumns, "insert": insertQuery,
		"get": getQuery, "brief get": briefGetQuery, "brief get many": briefGetManyQuery,
		"claim": claimQuery, "held leases 1": heldLeases(1), "held leases 2": heldLeases(2),
		"heartbeat": heartbeatQuery, "set metadata": setMetadataQuery,
		"finish": finishQuery, "release": releaseQuery, "rescue": rescueQuery, "cancel": cancelQuery,
		"retry": retryQuery, "expire": expireQuery,
		"delete": deleteQuery, "name": nameExpr, "analyze": analyzeQuery, "table rows": tableRowsQuery,
	})
}
