package storekit_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore/internal/storekit"
)

func TestStates(t *testing.T) {
	require.Equal(t, "state = 0 OR state = 1 OR state >= 2 OR state IN (3, 4)",
		storekit.States("state = {pending} OR state = {running} OR state >= {succeeded} OR state IN ({failed}, {cancelled})"))
	require.Equal(t, "ARRAY['{}']", storekit.States("ARRAY['{}']"), "other braces stay")
}
