package lropgx

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// analyzeInsertsMin is the fewest operations inserted after which the store
// analyzes lro_operation again: it does once it has inserted twice as many
// as the table held when last analyzed, and at least this many. Plans made
// from the statistics of a table stay good while it grows (PostgreSQL
// scales the row counts of its statistics by the table's current size);
// what goes bad is a generic plan kept from when the table was small, and
// an ANALYZE makes every session plan again. So growth is what counts, and
// a few ANALYZEs over a table's growth are enough: each one reads a sample
// of the table, CPU that the database would rather spend on lro's work.
const analyzeInsertsMin = 10_000

// analyzeQuery analyzes the table, and returns its rows as the new
// statistics count them.
const analyzeQuery = `ANALYZE lro_operation`

// tableRowsQuery returns the rows of lro_operation as its statistics count
// them: -1 if it was never analyzed (nor vacuumed), and whether it holds
// any row.
const tableRowsQuery = `SELECT c.reltuples::bigint, EXISTS (SELECT FROM lro_operation)
	FROM pg_class c WHERE c.oid = 'lro_operation'::regclass`

// analyzeIfNever analyzes lro_operation if it holds operations but was
// never analyzed (a database whose autovacuum is off), and returns its rows
// as its statistics count them.
func analyzeIfNever(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var (
		rows int64
		some bool
	)
	if err := conn.QueryRow(ctx, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some); err != nil {
		return 0, err
	}
	if rows >= 0 || !some {
		return max(rows, 0), nil
	}
	if _, err := conn.Exec(ctx, analyzeQuery, pgx.QueryExecModeSimpleProtocol); err != nil {
		return 0, err
	}
	err := conn.QueryRow(ctx, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some)
	return max(rows, 0), err
}

// inserted counts n operations inserted, and analyzes the table in the
// background once it has inserted twice as many as the table held at its
// last ANALYZE (see analyzeInsertsMin).
func (s *Store) inserted(n int) {
	if s.inserts.Add(int64(n)) < s.analyzeAfter.Load() || !s.analyzing.CompareAndSwap(false, true) {
		return
	}
	s.analyzeMu.Lock()
	defer s.analyzeMu.Unlock()
	if s.closed.Load() {
		return // and Close waits for no ANALYZE
	}
	s.analyzed.Add(1)
	go func() {
		defer s.analyzed.Done()
		defer s.analyzing.Store(false)
		s.inserts.Store(0)
		var rows int64
		err := s.pool.AcquireFunc(s.closing, func(c *pgxpool.Conn) error {
			if _, err := c.Exec(s.closing, analyzeQuery, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			var some bool
			return c.QueryRow(s.closing, tableRowsQuery, pgx.QueryExecModeSimpleProtocol).Scan(&rows, &some)
		})
		if err != nil {
			// Tried again after as many insertions: the store has no log,
			// and a store that fails says so in its other calls.
			return
		}
		s.analyzeAfter.Store(max(analyzeInsertsMin, 2*rows))
	}()
}
