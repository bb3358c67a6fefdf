package lro

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

func TestValidateParent(t *testing.T) {
	tests := []struct {
		parent  string
		wantErr string // a part of the message; "" for a valid parent
	}{
		{"", ""},
		{"projects/p", ""},
		{"projects/p/locations/l", ""},
		{"projects/my-project_1/locations/us-east1.b~2", ""},
		{"projects/P", ""},
		{"billingAccounts/0A1B", ""},
		{"projects", "even number of segments"},
		{"projects/p/locations", "even number of segments"},
		{"a/b/c", "even number of segments"},
		{"projects//x/y", "empty segment"},
		{"/projects/p", "empty segment"},
		{"projects/p/", "empty segment"},
		{"../..", `".." is not a collection ID`},
		{"projects/..", `".." is not a resource ID`},
		{"projects/.", `"." is not a resource ID`},
		{"projects/p/locations/*", `"*" is not a resource ID`},
		{"x?y/z#w", `"x?y" is not a collection ID`},
		{"projects/p q", `"p q" is not a resource ID`},
		{"projects/p%2Fq", `"p%2Fq" is not a resource ID`},
		{"Projects/p", `"Projects" is not a collection ID`},
		{"1projects/p", `"1projects" is not a collection ID`},
		{"my-projects/p", `"my-projects" is not a collection ID`},
		{"projects/é", `"é" is not a resource ID`},
		{"projects/\xff", `"\xff" is not a resource ID`},
	}
	for _, tt := range tests {
		t.Run(tt.parent, func(t *testing.T) {
			err := validateParent(tt.parent)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.ErrorContains(t, err, tt.wantErr)
			var lerr *Error
			require.True(t, errors.As(err, &lerr))
			st := lerr.GRPCStatus()
			require.Equal(t, codes.InvalidArgument, st.Code())
			var br *errdetails.BadRequest
			for _, d := range st.Details() {
				if b, ok := d.(*errdetails.BadRequest); ok {
					br = b
				}
			}
			require.NotNil(t, br, "a BadRequest detail: %v", st.Details())
			require.Equal(t, "parent", br.GetFieldViolations()[0].GetField())
		})
	}
}
