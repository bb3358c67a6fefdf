package lropgx

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"lro.dev/lro/internal/testsignal"
	"lro.dev/lro/lrostore"
)

// ListenSignals are the signals of s's Listen, turned on: the backend PID
// of each LISTEN, and the error of each attempt to listen that failed.
// Call it before Listen.
func ListenSignals(s *Store) (listened *testsignal.Signal[uint32], failed *testsignal.Signal[error]) {
	s.testSignals.listened.Init()
	s.testSignals.listenFailed.Init()
	return &s.testSignals.listened, &s.testSignals.listenFailed
}

// Pool returns the store's pool.
func Pool(s *Store) *pgxpool.Pool { return s.pool }

// ClaimQuery is the statement OperationClaim runs.
var ClaimQuery = claimQuery

// BriefGetMany runs the statement that brief reads share, for ids.
func BriefGetMany(s *Store, ctx context.Context, ids []string) ([]*lrostore.Operation, error) {
	args := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		args[i], _ = parseID(id)
	}
	return s.briefGetMany(ctx, args)
}

// PreparedQueries are the statements the store prepares, whose generic
// plans PostgreSQL keeps, by name.
var PreparedQueries = map[string]string{
	"get": getQuery, "brief get": briefGetQuery, "brief get many": briefGetManyQuery, "cancel": cancelQuery,
	"delete": deleteQuery,
}

// PlannedQueries are statements the store has planned at each execution.
var PlannedQueries = map[string]string{
	"claim": claimQuery, "heartbeat": `WITH ` + heldLeases(1) + ` SELECT * FROM held`, "finish": finishQuery, "rescue": rescueQuery,
}

// WaitAnalyzed waits until the ANALYZE under way, if any, has ended.
func WaitAnalyzed(s *Store) { s.analyzed.Wait() }

// Dialect is how the store compiles filters.
var Dialect = dialect

// CountPendingQuery is the statement OperationCountPending runs.
var CountPendingQuery = countPendingQuery
