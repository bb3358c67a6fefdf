package lro

import (
	"context"

	"lro.dev/lro/lrostore"
)

// workStore is what the producer, the handler executor and the lease
// keeper need of a store: claims, heartbeats, metadata and result writes,
// and releases, all under leases. lrostore.Store provides it for a local
// client; remoteWorkStore provides it over the Workers service for a
// remote client (see NewRemoteClient), so that handlers run the same way
// on both.
type workStore interface {
	OperationClaim(ctx context.Context, params *lrostore.OperationClaimParams) ([]*lrostore.Operation, error)
	OperationHeartbeat(ctx context.Context, params *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error)
	OperationSetMetadataMany(ctx context.Context, params *lrostore.OperationSetMetadataManyParams) ([]bool, error)
	OperationFinishMany(ctx context.Context, params *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error)
	OperationReleaseMany(ctx context.Context, params *lrostore.OperationReleaseManyParams) ([]string, error)
	// OperationGet tells a result write that was retried whether an
	// earlier try landed (see handlerExecutor.storedDone).
	OperationGet(ctx context.Context, params *lrostore.OperationGetParams) (*lrostore.Operation, error)
}

var _ workStore = lrostore.Store(nil)
