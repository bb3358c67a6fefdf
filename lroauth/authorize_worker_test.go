package lroauth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"lro.dev/lro/lroauth"
)

// A renew, finish or release whose items name no kind (no token decoded)
// still needs a worker grant: a reader may not use the Workers service.
func TestGrantsWorkerCallWithoutKinds(t *testing.T) {
	t.Parallel()
	reader := &lroauth.Principal{Name: "r", Grants: []lroauth.Grant{{Role: lroauth.RoleReader, Pattern: "*"}}}
	worker := &lroauth.Principal{Name: "w", Grants: []lroauth.Grant{{Role: lroauth.RoleWorker, Pattern: "images.*"}}}
	for _, method := range []string{lroauth.MethodRenewLeases, lroauth.MethodFinishOperations, lroauth.MethodReleaseOperations} {
		err := lroauth.Grants(context.Background(), reader, &lroauth.Call{Method: method})
		require.Equal(t, codes.PermissionDenied, status.Code(err), method)
		require.NoError(t, lroauth.Grants(context.Background(), worker, &lroauth.Call{Method: method}), method)
	}
}
