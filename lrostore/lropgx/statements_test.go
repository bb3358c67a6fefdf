package lropgx

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/statements.golden")

// The text of the statements is part of the store's performance (their
// plans, prepared or not): it changes only on purpose, and then the golden
// file is rewritten with -update and the change reviewed.
func TestStatementsAreUnchanged(t *testing.T) {
	var b strings.Builder
	for _, q := range []struct{ name, text string }{
		{"columns", columns}, {"brief columns", briefColumns}, {"insert", insertQuery},
		{"get", getQuery}, {"brief get", briefGetQuery}, {"brief get many", briefGetManyQuery},
		{"claim", claimQuery}, {"held leases 1", heldLeases(1)}, {"held leases 2", heldLeases(2)},
		{"heartbeat", heartbeatQuery}, {"set metadata", setMetadataQuery},
		{"finish", finishQuery}, {"release", releaseQuery}, {"rescue", rescueQuery}, {"cancel", cancelQuery},
		{"delete", deleteQuery}, {"name", nameExpr}, {"analyze", analyzeQuery}, {"table rows", tableRowsQuery},
	} {
		b.WriteString("-- " + q.name + "\n" + q.text + "\n\n")
	}
	const golden = "testdata/statements.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
}
