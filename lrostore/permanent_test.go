package lrostore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func TestStorableText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain ünïcode", "plain ünïcode"},
		{"a\x00b", "a\uFFFDb"},
		{"a\xffb", "a\uFFFDb"},
		{"\xff\xfe\x00", "\uFFFD\uFFFD"}, // ToValidUTF8 folds a run of invalid bytes into one
		{"\xc3", "\uFFFD"},
	} {
		require.Equal(t, tc.want, lrostore.StorableText(tc.in), "%q", tc.in)
	}
	clean := "nothing to replace"
	require.Zero(t, testing.AllocsPerRun(10, func() { lrostore.StorableText(clean) }))
}

func TestIsPermanent(t *testing.T) {
	driver := errors.New("driver")
	require.True(t, lrostore.IsPermanent(&lrostore.PermanentError{Err: driver}))
	require.True(t, lrostore.IsPermanent(fmt.Errorf("finish: %w", &lrostore.PermanentError{Err: driver})))
	require.ErrorIs(t, &lrostore.PermanentError{Err: driver}, driver)
	require.False(t, lrostore.IsPermanent(driver))
	require.False(t, lrostore.IsPermanent(nil))
}
