package lropgx_test

import (
	"context"
	"testing"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore/lropgx"
	"lro.dev/lro/lrostore/lrostoretest"
)

// An attempts column that does not hold an array of records (a database
// edited by hand) reads as no closed records, next to the current claim read
// from its columns; the retry that ends the claim appends its record,
// readable, rather than failing.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.Schema(t))
	pool := lropgx.Pool(s)
	lrostoretest.RunAttemptsThatDoNotDecode(t, s, func(ctx context.Context, id, value string) error {
		_, err := pool.Exec(ctx, `UPDATE lro_operation SET attempts = $1::jsonb WHERE id = $2`, value, id)
		return err
	}, []string{`[1, "a"]`, `{"n": 1}`, `"text"`})
}
