package lro_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// downStore fails every call while down is set, as a database that cannot
// be reached does, and counts the calls it failed.
type downStore struct {
	lrostore.Store
	down   atomic.Bool
	failed atomic.Int64
}

func (s *downStore) fail() error {
	if s.down.Load() {
		s.failed.Add(1)
		return errUnreachable
	}
	return nil
}

func (s *downStore) OperationInsertMany(ctx context.Context, p *lrostore.OperationInsertManyParams) ([]*lrostore.OperationInsertResult, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationInsertMany(ctx, p)
}

func (s *downStore) OperationGet(ctx context.Context, p *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationGet(ctx, p)
}

func (s *downStore) OperationList(ctx context.Context, p *lrostore.OperationListParams) ([]*lrostore.Operation, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationList(ctx, p)
}

func (s *downStore) OperationClaim(ctx context.Context, p *lrostore.OperationClaimParams) ([]*lrostore.Operation, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationClaim(ctx, p)
}

func (s *downStore) OperationHeartbeat(ctx context.Context, p *lrostore.OperationHeartbeatParams) ([]*lrostore.OperationHeartbeatResult, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationHeartbeat(ctx, p)
}

func (s *downStore) OperationSetMetadataMany(ctx context.Context, p *lrostore.OperationSetMetadataManyParams) ([]bool, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationSetMetadataMany(ctx, p)
}

func (s *downStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationFinishMany(ctx, p)
}

func (s *downStore) OperationReleaseMany(ctx context.Context, p *lrostore.OperationReleaseManyParams) ([]string, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationReleaseMany(ctx, p)
}

func (s *downStore) OperationRescue(ctx context.Context, p *lrostore.OperationRescueParams) (*lrostore.OperationRescueResult, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationRescue(ctx, p)
}

func (s *downStore) OperationCancel(ctx context.Context, p *lrostore.OperationCancelParams) (*lrostore.OperationCancelResult, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.OperationCancel(ctx, p)
}

func (s *downStore) OperationDelete(ctx context.Context, p *lrostore.OperationDeleteParams) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.OperationDelete(ctx, p)
}

func (s *downStore) OperationDeleteDoneBefore(ctx context.Context, p *lrostore.OperationDeleteDoneBeforeParams) (int, error) {
	if err := s.fail(); err != nil {
		return 0, err
	}
	return s.Store.OperationDeleteDoneBefore(ctx, p)
}

func (s *downStore) KeyGetOrCreate(ctx context.Context, p *lrostore.KeyGetOrCreateParams) ([]byte, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.KeyGetOrCreate(ctx, p)
}

// recordingHandler keeps the messages logged at Warn and above, with what
// failed ("during").
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler                { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "during" {
			msg += " during " + a.Value.String()
		}
		return true
	})
	h.msgs = append(h.msgs, msg)
	return nil
}

func (h *recordingHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

func TestOutageLogsBoundedLines(t *testing.T) {
	// While the store is down, every call and every background task fails,
	// again and again: each kind of failure is logged once per 10s, with a
	// count of the rest, not once per call.
	t.Parallel()
	logs := &recordingHandler{}
	store := &downStore{Store: openStore(t)}
	p := newProbe()
	c, err := lro.NewClient(store, &lro.Config{Logger: slog.New(logs), LeaseTTL: 300 * time.Millisecond,
		HeartbeatInterval: 20 * time.Millisecond, RescueInterval: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		MetadataInterval: 5 * time.Millisecond, ShutdownGrace: 50 * time.Millisecond, Retention: time.Hour})
	require.NoError(t, err)
	lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	require.NoError(t, c.Start(context.Background()))
	const running = 20
	names := make([]string, running)
	runs := make([]*run, running)
	for i := range names {
		names[i] = start(t, c, "k", "").GetName()
		runs[i] = p.next(t)
	}

	store.down.Store(true)
	ctx := context.Background()
	var calls sync.WaitGroup
	for i := range 8 {
		calls.Go(func() {
			for j := range 50 {
				name := names[(i+j)%running]
				_, err := c.GetOperation(ctx, name)
				require.Error(t, err)
				_, err = c.StartOperation(ctx, "k", wrapperspb.String("x"), nil)
				require.Error(t, err)
				_, err = c.CancelOperation(ctx, name)
				require.Error(t, err)
			}
		})
	}
	for i, r := range runs { // their results cannot be written, nor their leases kept
		r.job.SetMetadata(wrapperspb.String("progress"))
		r.release <- result{resp: wrapperspb.String(names[i])}
	}
	calls.Wait()
	for _, r := range runs { // their leases ran out: the writes of their results stopped
		<-r.ctx.Done()
	}
	require.NoError(t, c.Stop(context.Background()))

	got := logs.lines()
	kinds := map[string]int{}
	for _, msg := range got {
		msg, during, _ := strings.Cut(msg, " during ")
		kind, _, _ := strings.Cut(msg, " (")
		kinds[kind+" "+during]++
	}
	t.Logf("%d failed store calls logged %d lines: %v", store.failed.Load(), len(got), kinds)
	for kind, n := range kinds {
		// The first at once, then, at most, the count held back until Stop.
		require.LessOrEqual(t, n, 2, "%q logged %d times", kind, n)
	}
	require.Greater(t, store.failed.Load(), int64(800), "the gets and cancels alone")
	require.Less(t, len(got), 25)
}
