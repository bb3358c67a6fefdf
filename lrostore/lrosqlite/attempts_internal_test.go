package lrosqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore/lrostoretest"
)

// An attempts column that does not hold a JSON array (a database edited by
// hand) reads as no closed records, next to the current claim read from its
// columns; the retry that ends the claim appends its record, readable,
// rather than failing.
func TestAttemptsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "lro.db"))
	require.NoError(t, err)
	defer s.Close()
	lrostoretest.RunAttemptsThatDoNotDecode(t, s, func(ctx context.Context, id, value string) error {
		_, err := s.write.ExecContext(ctx, `UPDATE lro_operation SET attempts = ? WHERE id = ?`, value, id)
		return err
	}, []string{`[{"n": 1,`, `not json`, `{"n": 1}`})
}
