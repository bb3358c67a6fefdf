package lropgx

import (
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    *lrostore.Event
	}{
		{"P", &lrostore.Event{Pending: true}},
		{"Da", &lrostore.Event{Done: []string{"a"}}},
		{"Da,b,c", &lrostore.Event{Done: []string{"a", "b", "c"}}},
		{"Ca", &lrostore.Event{CancelRequested: []string{"a"}}},
		{"D", nil},
		{"C", nil},
		{"", nil},
		{"Xa", nil},
	} {
		require.Equal(t, tc.want, decodeEvent(tc.payload), tc.payload)
	}
}
