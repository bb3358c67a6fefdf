package lrostore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func TestParseFilter(t *testing.T) {
	f, err := lrostore.ParseFilter("  ")
	require.NoError(t, err)
	require.Nil(t, f, "an empty filter is nil, which matches all")
	where, args := f.SQL(&lrostore.FilterDialect{Placeholder: func(int) string { return "?" }, NameExpr: "name"}, 1)
	require.Equal(t, "1=1", where)
	require.Empty(t, args)

	f, err = lrostore.ParseFilter(`kind = "k"`)
	require.NoError(t, err)
	require.Equal(t, `kind = "k"`, f.String())
	where, args = f.SQL(&lrostore.FilterDialect{Placeholder: func(n int) string { return "$" + string(rune('0'+n)) }, NameExpr: "name"}, 3)
	require.Contains(t, where, "$3")
	require.Equal(t, []any{"k"}, args)

	_, err = lrostore.ParseFilter(`nope = 1`)
	require.ErrorContains(t, err, "filter: column 1: unknown field")
}
