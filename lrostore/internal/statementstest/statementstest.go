// Package statementstest pins the text of a store's SQL statements in a
// golden file, testdata/statements.golden, so that a change of text (which
// can change how the database prepares and plans a statement) is made on
// purpose: rewritten with go test -update, and seen in review.
package statementstest

import (
	"flag"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/statements.golden")

// Check fails t unless statements, texts by name, are those of
// testdata/statements.golden, which -update rewrites.
func Check(t *testing.T, statements map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(statements)) {
		b.WriteString("-- " + name + "\n" + statements[name] + "\n\n")
	}
	const golden = "testdata/statements.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
}
