package lropgx_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// nodes opens a writer and a listener, two stores on one fresh schema and
// channel, as two nodes sharing a database.
func nodes(t *testing.T) (writer, listener *lropgx.Store, channel string) {
	t.Helper()
	dsn := pgtest.Schema(t)
	channel = pgtest.Name("lro_test_")
	return open(t, dsn, lropgx.WithChannel(channel)), open(t, dsn, lropgx.WithChannel(channel)), channel
}

// listening runs s.Listen until the test ends, and returns once it listens.
type listening struct {
	events chan *lrostore.Event
	pids   <-chan uint32 // the backend PID of each LISTEN
	done   chan error    // what Listen returned
	cancel context.CancelFunc
}

func listen(t *testing.T, s *lropgx.Store) *listening {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	listened, _ := lropgx.ListenSignals(s)
	l := &listening{
		events: make(chan *lrostore.Event, 1000),
		pids:   listened.C(),
		done:   make(chan error, 1),
		cancel: cancel,
	}
	go func() { l.done <- s.Listen(ctx, func(e *lrostore.Event) { l.events <- e }) }()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	select {
	case <-l.pids:
	case err := <-l.done:
		t.Fatalf("Listen returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not listen")
	}
	// Once it listens, Listen says so with a Resync: events before may
	// have been missed.
	require.Equal(t, &lrostore.Event{Resync: true}, l.next(t))
	return l
}

func (l *listening) next(t *testing.T) *lrostore.Event {
	t.Helper()
	select {
	case e := <-l.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

func insertOps(t *testing.T, s lrostore.Store, n int, now time.Time) []*lrostore.Operation {
	t.Helper()
	params := &lrostore.OperationInsertManyParams{Now: now}
	for range n {
		params.Operations = append(params.Operations, &lrostore.OperationInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 3})
	}
	res, err := s.OperationInsertMany(context.Background(), params)
	require.NoError(t, err)
	ops := make([]*lrostore.Operation, n)
	for i, r := range res {
		ops[i] = r.Operation
	}
	return ops
}

func claimOps(t *testing.T, s lrostore.Store, max int, now time.Time) []*lrostore.Operation {
	t.Helper()
	ops, err := s.OperationClaim(context.Background(), &lrostore.OperationClaimParams{
		Owner: "w", Kinds: []string{"k"}, Max: max, LeaseTTL: 10 * time.Second, Now: now})
	require.NoError(t, err)
	return ops
}

func lease(op *lrostore.Operation) lrostore.Lease {
	return lrostore.Lease{ID: op.ID, Token: op.LeaseToken}
}

var cancelled = &lrostore.Failure{Code: 1, Message: "cancelled", Status: []byte("s")}

func TestNotifyEachWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, listener, _ := nodes(t)
	l := listen(t, listener)
	t0 := time.Now().UTC().Truncate(time.Microsecond)

	require.Len(t, insertOps(t, w, 3, t0), 3)
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t), "insert")

	claimed := claimOps(t, w, 3, t0) // claims, metadata and heartbeats notify nothing
	require.Len(t, claimed, 3)
	a, b, c := claimed[0], claimed[1], claimed[2]
	_, err := w.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{
		Updates: []*lrostore.OperationSetMetadataParams{{Lease: lease(a), Metadata: []byte("m"), MetadataType: "t"}}})
	require.NoError(t, err)
	_, err = w.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: []lrostore.Lease{lease(a)}, LeaseTTL: 10 * time.Second, Now: t0})
	require.NoError(t, err)

	released, err := w.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Leases: []lrostore.Lease{lease(a)}})
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, released)
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t), "release")

	res, err := w.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: []*lrostore.OperationFinishParams{
		{Lease: lease(b), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"}}})
	require.NoError(t, err)
	require.True(t, res[0].Finished)
	require.Equal(t, &lrostore.Event{Done: []string{b.ID}}, l.next(t), "finish")

	_, err = w.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: c.ID, CancelledError: cancelled})
	require.NoError(t, err)
	require.Equal(t, &lrostore.Event{CancelRequested: []string{c.ID}}, l.next(t), "cancel of a running operation")

	d := insertOps(t, w, 1, t0)[0]
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t))
	_, err = w.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: d.ID, CancelledError: cancelled})
	require.NoError(t, err)
	require.Equal(t, &lrostore.Event{Done: []string{d.ID}}, l.next(t), "cancel of a pending operation")

	// Cancelling a done operation changes nothing, and says nothing.
	_, err = w.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: d.ID, CancelledError: cancelled})
	require.NoError(t, err)

	a = claimOps(t, w, 1, t0)[0]
	rescue, err := w.OperationRescue(ctx, &lrostore.OperationRescueParams{
		ExhaustedError: cancelled, CancelledError: cancelled, Max: 10, Now: t0.Add(11 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, rescue.Retried)
	require.Equal(t, []string{c.ID}, rescue.Ended)
	// One statement sends both, in either order.
	got := []*lrostore.Event{l.next(t), l.next(t)}
	require.ElementsMatch(t, []*lrostore.Event{{Pending: true}, {Done: []string{c.ID}}}, got, "rescue")

	insertOps(t, w, 1, t0)
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t), "nothing else was sent")
	select {
	case e := <-l.events:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

func TestNotifyNothingForWriteRolledBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, listener, _ := nodes(t)
	l := listen(t, listener)
	x := insertOps(t, w, 1, time.Time{})[0]
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t))

	y := uuid.Must(uuid.NewV7()).String()
	_, err := w.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Operations: []*lrostore.OperationInsertParams{
		{ID: y, Kind: "k", Input: []byte("y"), MaxAttempts: 1},
		{ID: x.ID, Kind: "k", Input: []byte("x again"), MaxAttempts: 1}, // primary key violation: the statement fails
	}})
	require.Error(t, err)
	_, err = w.OperationGet(ctx, &lrostore.OperationGetParams{ID: y})
	require.ErrorIs(t, err, lrostore.ErrNotFound, "the batch rolled back")

	_, err = w.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: x.ID, CancelledError: cancelled})
	require.NoError(t, err)
	require.Equal(t, &lrostore.Event{Done: []string{x.ID}}, l.next(t), "no Pending from the rolled-back insert")
}

func TestNotifySplitsLongIDLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, listener, _ := nodes(t)
	l := listen(t, listener)
	const n = 450
	now := time.Now()
	insertOps(t, w, n, now)
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t), "one Pending for the whole batch")
	claimed := claimOps(t, w, n, now)
	require.Len(t, claimed, n)
	params := &lrostore.OperationFinishManyParams{}
	for _, op := range claimed {
		params.Finishes = append(params.Finishes, &lrostore.OperationFinishParams{
			Lease: lease(op), State: lrostore.StateSucceeded, Response: []byte("r"), ResponseType: "t"})
	}
	_, err := w.OperationFinishMany(ctx, params)
	require.NoError(t, err)

	var done []string
	events := 0
	for len(done) < n {
		e := l.next(t)
		require.NotEmpty(t, e.Done, "%+v", e)
		require.LessOrEqual(t, len(e.Done), 200)
		done = append(done, e.Done...)
		events++
	}
	require.Equal(t, 3, events)
	want := make([]string, n)
	for i, op := range claimed {
		want[i] = op.ID
	}
	slices.Sort(done)
	require.Equal(t, want, done)
}

func TestListenResyncsAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, listener, channel := nodes(t)
	l := listen(t, listener)

	// Find the listener's backend as an operator would, and kill it.
	admin, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var pid uint32
	require.NoError(t, admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE query = $1`,
		`LISTEN `+pgx.Identifier{channel}.Sanitize()).Scan(&pid))
	var killed bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed))
	require.True(t, killed)

	require.Equal(t, &lrostore.Event{Resync: true}, l.next(t))
	select {
	case again := <-l.pids:
		require.NotEqual(t, pid, again, "a new connection")
	default:
		t.Fatal("Resync before listening again")
	}
	insertOps(t, w, 1, time.Time{})
	require.Equal(t, &lrostore.Event{Pending: true}, l.next(t), "events flow again")
}

func TestListenEnds(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	channel := lropgx.WithChannel(pgtest.Name("lro_test_"))

	t.Run("ContextCancelled", func(t *testing.T) {
		s := open(t, dsn, channel)
		l := listen(t, s)
		l.cancel()
		require.ErrorIs(t, <-l.done, context.Canceled)
		l.done <- nil // for the cleanup
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		s := open(t, dsn, channel)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, s.Listen(ctx, func(*lrostore.Event) {}), context.DeadlineExceeded)
	})
	t.Run("StoreClosed", func(t *testing.T) {
		s := open(t, dsn, channel)
		l := listen(t, s)
		require.NoError(t, s.Close())
		err := <-l.done
		require.ErrorIs(t, err, lrostore.ErrClosed)
		require.False(t, errors.Is(err, context.Canceled))
		l.done <- nil
		require.ErrorIs(t, s.Listen(context.Background(), func(*lrostore.Event) {}), lrostore.ErrClosed, "after Close")
	})
	t.Run("RetriesUntilItListens", func(t *testing.T) {
		// The database cannot be reached when Listen starts: it keeps
		// trying, then listens and resyncs, and still ends with its
		// context.
		ctx := context.Background()
		config, err := pgxpool.ParseConfig(dsn)
		require.NoError(t, err)
		var down atomic.Bool
		config.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
			if down.Load() {
				return errors.New("database down")
			}
			return nil
		}
		pool, err := pgxpool.NewWithConfig(ctx, config)
		require.NoError(t, err)
		defer pool.Close()
		s, err := lropgx.New(ctx, pool, channel)
		require.NoError(t, err)
		defer s.Close()
		down.Store(true)
		listened, failed := lropgx.ListenSignals(s)
		events := make(chan *lrostore.Event, 10)
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Listen(ctx, func(e *lrostore.Event) { events <- e }) }()
		for range 3 { // a few attempts fail
			require.ErrorContains(t, failed.Wait(t), "database down")
		}
		require.Empty(t, listened.C())
		down.Store(false)
		select {
		case e := <-events:
			require.Equal(t, &lrostore.Event{Resync: true}, e)
		case <-time.After(5 * time.Second):
			t.Fatal("no Resync")
		}
		require.Len(t, listened.C(), 1)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}

// The default channel follows the schema: stores of one schema hear each
// other, stores of another schema of the same database do not.
func TestDefaultChannelFollowsSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second := pgtest.Schema(t), pgtest.Schema(t)
	a, sameSchema, otherSchema := open(t, first), open(t, first), open(t, second)
	la, lo := listen(t, sameSchema), listen(t, otherSchema)

	cancel := func(s *lropgx.Store) string {
		op := insertOps(t, s, 1, time.Time{})[0]
		_, err := s.OperationCancel(ctx, &lrostore.OperationCancelParams{ID: op.ID, CancelledError: cancelled})
		require.NoError(t, err)
		return op.ID
	}
	inFirst := cancel(a)
	require.Equal(t, &lrostore.Event{Pending: true}, la.next(t))
	require.Equal(t, &lrostore.Event{Done: []string{inFirst}}, la.next(t))
	// Events arrive in commit order: had the other schema's listener heard
	// the first schema, its first events would be those.
	inSecond := cancel(otherSchema)
	require.Equal(t, &lrostore.Event{Pending: true}, lo.next(t))
	require.Equal(t, &lrostore.Event{Done: []string{inSecond}}, lo.next(t))
}
