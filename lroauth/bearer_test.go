package lroauth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
)

// requireReason asserts that err is an UNAUTHENTICATED *lro.Error with
// reason.
func requireReason(t *testing.T, err error, reason string) *lro.Error {
	t.Helper()
	var e *lro.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, codes.Unauthenticated, e.Code, "%v", err)
	require.Equal(t, reason, e.Reason, "%v", err)
	return e
}

func TestParseBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want, reason string
	}{
		{header: "Bearer abc", want: "abc"},
		{header: "bearer abc", want: "abc"},
		{header: "BEARER   abc", want: "abc"},
		{header: "Bearer a-b.c_d~e+f/g==", want: "a-b.c_d~e+f/g=="},
		{header: "Bearer eyJh.eyJz.c2ln", want: "eyJh.eyJz.c2ln"},
		{header: "", reason: "CREDENTIALS_MISSING"},
		{header: "Basic dXNlcjpwYXNz", reason: "UNSUPPORTED_SCHEME"},
		{header: "Bearerabc", reason: "UNSUPPORTED_SCHEME"},
		{header: "Token abc", reason: "UNSUPPORTED_SCHEME"},
		{header: "Bearer", reason: "MALFORMED_TOKEN"},
		{header: "Bearer ", reason: "MALFORMED_TOKEN"},
		{header: "Bearer ====", reason: "MALFORMED_TOKEN"},
		{header: "Bearer a=b", reason: "MALFORMED_TOKEN"},
		{header: "Bearer abc def", reason: "MALFORMED_TOKEN"},
		{header: "Bearer abc\t", reason: "MALFORMED_TOKEN"},
		{header: "Bearer ab\x00c", reason: "MALFORMED_TOKEN"},
		{header: "Bearer \u00e9t\u00e9", reason: "MALFORMED_TOKEN"},
		{header: "Bearer " + strings.Repeat("a", lroauth.MaxAuthorizationBytes), reason: "MALFORMED_TOKEN"},
	}
	for _, tt := range tests {
		token, err := lroauth.ParseBearer(tt.header)
		if tt.reason != "" {
			e := requireReason(t, err, tt.reason)
			require.Empty(t, token)
			if len(tt.header) > len("Bearer ") {
				require.NotContains(t, e.Message, tt.header[len("Bearer "):], "the message echoes the token")
			}
			continue
		}
		require.NoError(t, err, "%q", tt.header)
		require.Equal(t, tt.want, token)
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer  a.b.c", "Basic x", "Bearer ==", "Bearer a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := lroauth.ParseBearer(header)
		if err != nil {
			var e *lro.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, codes.Unauthenticated, e.Code)
			require.Empty(t, token)
			return
		}
		require.NotEmpty(t, token)
		require.True(t, strings.HasSuffix(header, token))
		require.LessOrEqual(t, len(header), lroauth.MaxAuthorizationBytes)
		require.NotContains(t, token, " ")
	})
}
