package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// notifyingStore is a store with the Notifier capability whose events the
// test sends by hand, as another node's writes would.
type notifyingStore struct {
	lrostore.Store
	events    chan *lrostore.Event
	listening chan struct{}
	reads     chan string // IDs read with OperationGet
}

func newNotifyingStore(s lrostore.Store) *notifyingStore {
	return &notifyingStore{Store: s, events: make(chan *lrostore.Event), listening: make(chan struct{}, 1),
		reads: make(chan string, 100)}
}

func (s *notifyingStore) OperationGet(ctx context.Context, p *lrostore.OperationGetParams) (*lrostore.Operation, error) {
	op, err := s.Store.OperationGet(ctx, p)
	select {
	case s.reads <- p.ID:
	default:
	}
	return op, err
}

// read waits until the operation id is read through the store.
func (s *notifyingStore) read(t *testing.T, id string) {
	t.Helper()
	for {
		select {
		case got := <-s.reads:
			if got == id {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no read of", id)
		}
	}
}

func (s *notifyingStore) Listen(ctx context.Context, fn func(*lrostore.Event)) error {
	s.listening <- struct{}{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-s.events:
			fn(e)
		}
	}
}

func (s *notifyingStore) send(t *testing.T, e *lrostore.Event) {
	t.Helper()
	select {
	case s.events <- e:
	case <-time.After(5 * time.Second):
		t.Fatal("the client does not listen")
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	// Two clients on one store, as two nodes: a runs the handlers; b only
	// follows, and hears of a's writes through its store's events.
	store := openStore(t)
	p := newProbe()
	a := newClient(t, store, nil, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
	nb := newNotifyingStore(store)
	b := newClient(t, nb, &lro.Config{Workers: -1, WaitMax: time.Minute}, nil)
	<-nb.listening
	id := func(name string) string { return name[len(name)-36:] }

	t.Run("DoneWakesWaiter", func(t *testing.T) {
		op := start(t, a, "k", "")
		r := p.next(t)
		waited := make(chan *time.Time, 1)
		go func() {
			got, err := b.WaitOperation(context.Background(), op.GetName(), time.Minute)
			if err != nil || !got.GetDone() {
				t.Errorf("wait: %v, %v", got, err)
			}
			now := time.Now()
			waited <- &now
		}()
		nb.read(t, id(op.GetName())) // b's wait subscribed, read, and waits
		r.release <- result{resp: wrapperspb.String("v")}
		waitDone(t, a, op.GetName())
		select {
		case <-waited:
			t.Fatal("b's wait returned without hearing of the end")
		case <-time.After(100 * time.Millisecond):
		}
		sent := time.Now()
		nb.send(t, &lrostore.Event{Done: []string{id(op.GetName())}})
		require.Less(t, (*<-waited).Sub(sent), 100*time.Millisecond)
	})
	t.Run("ResyncRereadsAndWaitsOn", func(t *testing.T) {
		op := start(t, a, "k", "")
		r := p.next(t)
		waited := make(chan bool, 1)
		go func() {
			got, err := b.WaitOperation(context.Background(), op.GetName(), time.Minute)
			if err != nil {
				t.Error(err)
			}
			waited <- got.GetDone()
		}()
		nb.read(t, id(op.GetName()))
		nb.send(t, &lrostore.Event{Resync: true})
		select {
		case <-waited:
			t.Fatal("a resync ended a wait on an operation that is not done")
		case <-time.After(100 * time.Millisecond):
		}
		r.release <- result{resp: wrapperspb.String("v")}
		waitDone(t, a, op.GetName())
		nb.send(t, &lrostore.Event{Resync: true})
		require.True(t, <-waited, "after a resync the waiter reads the end")
	})
	t.Run("CancelRequestedCancelsLocalHandler", func(t *testing.T) {
		// Here the runner is the one that listens.
		store := openStore(t)
		ns := newNotifyingStore(store)
		p := newProbe()
		c := newClient(t, ns, &lro.Config{LeaseTTL: time.Minute}, func(c *lro.Client) { lro.MustRegister(c, kind{Name: "k", Run: p.blocking}) })
		<-ns.listening
		other := newClient(t, store, &lro.Config{Workers: -1}, nil)
		op := start(t, c, "k", "")
		r := p.next(t)
		_, err := other.CancelOperation(context.Background(), op.GetName()) // recorded; c's heartbeat is a minute away
		require.NoError(t, err)
		ns.send(t, &lrostore.Event{CancelRequested: []string{id(op.GetName())}})
		<-r.ctx.Done()
		require.ErrorIs(t, context.Cause(r.ctx), lro.ErrCancelRequested)
		require.Equal(t, int32(codes.Canceled), waitDone(t, c, op.GetName()).GetError().GetCode())
	})
}
