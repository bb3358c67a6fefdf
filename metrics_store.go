package lro

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lro.dev/lro/lrostore"
)

// timedStore is a Store that times each call in
// lro_store_statement_duration_seconds, by the name of its method: a fixed
// set of statement names, resolved once.
type timedStore struct {
	lrostore.Store

	insertMany, get, list, claim, heartbeat, setMetadataMany, finishMany, releaseMany, rescue, expire,
	cancel, delete, deleteDoneBefore, keyGetOrCreate, writeCheck, countPending, schemaVersion,
	countByState, kindStats prometheus.Observer
}

var _ lrostore.Store = (*timedStore)(nil)

func newTimedStore(s lrostore.Store, h *prometheus.HistogramVec) *timedStore {
	o := func(name string) prometheus.Observer { return h.WithLabelValues(name) }
	return &timedStore{Store: s,
		insertMany: o("OperationInsertMany"), get: o("OperationGet"), list: o("OperationList"), claim: o("OperationClaim"),
		heartbeat: o("OperationHeartbeat"), setMetadataMany: o("OperationSetMetadataMany"), finishMany: o("OperationFinishMany"),
		releaseMany: o("OperationReleaseMany"), rescue: o("OperationRescue"), expire: o("OperationExpire"),
		cancel: o("OperationCancel"), delete: o("OperationDelete"), deleteDoneBefore: o("OperationDeleteDoneBefore"),
		keyGetOrCreate: o("KeyGetOrCreate"), writeCheck: o("WriteCheck"), countPending: o("OperationCountPending"),
		schemaVersion: o("SchemaVersion"), countByState: o("OperationCountByState"), kindStats: o("KindStats")}
}

// since observes the time since start on o.
func since(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

func (s *timedStore) OperationInsertMany(ctx context.Context, p *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	defer since(s.insertMany, time.Now())
	return s.Store.OperationInsertMany(ctx, p)
}

func (s *timedStore) OperationGet(ctx context.Context, p *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	defer since(s.get, time.Now())
	return s.Store.OperationGet(ctx, p)
}

func (s *timedStore) OperationList(ctx context.Context, p *lrostore.OperationListParams) ([]*lrostore.Operation, error) {
	defer since(s.list, time.Now())
	return s.Store.OperationList(ctx, p)
}

func (s *timedStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	defer since(s.claim, time.Now())
	return s.Store.OperationClaim(ctx, p)
}

func (s *timedStore) OperationHeartbeat(ctx context.Context, p *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	defer since(s.heartbeat, time.Now())
	return s.Store.OperationHeartbeat(ctx, p)
}

func (s *timedStore) OperationSetMetadataMany(ctx context.Context, p *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	defer since(s.setMetadataMany, time.Now())
	return s.Store.OperationSetMetadataMany(ctx, p)
}

func (s *timedStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	defer since(s.finishMany, time.Now())
	return s.Store.OperationFinishMany(ctx, p)
}

func (s *timedStore) OperationReleaseMany(ctx context.Context, p *lrostore.OperationReleaseManyParams) ([]string, error) {
	defer since(s.releaseMany, time.Now())
	return s.Store.OperationReleaseMany(ctx, p)
}

func (s *timedStore) OperationRescue(ctx context.Context, p *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	defer since(s.rescue, time.Now())
	return s.Store.OperationRescue(ctx, p)
}

func (s *timedStore) OperationExpire(ctx context.Context, p *lrostore.OperationExpireParams) ([]string, error) {
	defer since(s.expire, time.Now())
	return s.Store.OperationExpire(ctx, p)
}

func (s *timedStore) OperationCancel(ctx context.Context, p *lrostore.OperationCancelParams) (*lrostore.OperationCancelResult, error) {
	defer since(s.cancel, time.Now())
	return s.Store.OperationCancel(ctx, p)
}

func (s *timedStore) OperationDelete(ctx context.Context, p *lrostore.OperationDeleteParams) error {
	defer since(s.delete, time.Now())
	return s.Store.OperationDelete(ctx, p)
}

func (s *timedStore) OperationDeleteDoneBefore(ctx context.Context, p *lrostore.OperationDeleteDoneBeforeParams) (int, error) {
	defer since(s.deleteDoneBefore, time.Now())
	return s.Store.OperationDeleteDoneBefore(ctx, p)
}

func (s *timedStore) KeyGetOrCreate(ctx context.Context, p *lrostore.KeyGetOrCreateParams) ([]byte, error) {
	defer since(s.keyGetOrCreate, time.Now())
	return s.Store.KeyGetOrCreate(ctx, p)
}

func (s *timedStore) WriteCheck(ctx context.Context) error {
	defer since(s.writeCheck, time.Now())
	return s.Store.WriteCheck(ctx)
}

func (s *timedStore) OperationCountPending(ctx context.Context) (map[string]int64, error) {
	defer since(s.countPending, time.Now())
	return s.Store.OperationCountPending(ctx)
}

func (s *timedStore) SchemaVersion(ctx context.Context) (have, want int, err error) {
	defer since(s.schemaVersion, time.Now())
	return s.Store.SchemaVersion(ctx)
}

func (s *timedStore) OperationCountByState(ctx context.Context) (map[string]map[lrostore.State]int64, error) {
	defer since(s.countByState, time.Now())
	return s.Store.OperationCountByState(ctx)
}

func (s *timedStore) KindStats(ctx context.Context, p *lrostore.KindStatsParams) (*lrostore.KindStats, error) {
	defer since(s.kindStats, time.Now())
	return s.Store.KindStats(ctx, p)
}
