package lro_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// newLimitedClient starts a client over store with the tests' timings and
// the given limits on handler output.
func newLimitedClient(t *testing.T, store lrostore.Store, limits lro.Config, run func(context.Context, *job) (str, error)) *lro.Client {
	t.Helper()
	limits.Logger = testLogger(t)
	limits.LeaseTTL, limits.RescueInterval, limits.PollInterval = time.Second, 50*time.Millisecond, 50*time.Millisecond
	limits.MetadataInterval, limits.ShutdownGrace = 10*time.Millisecond, 200*time.Millisecond
	c, err := lro.NewClient(store, &limits)
	require.NoError(t, err)
	lro.MustRegister(c, kind{Name: "k", Run: run})
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", st)
	return nil
}

func TestHandlerErrorText(t *testing.T) {
	// Whatever text a handler's error holds, the operation ends: a NUL byte
	// is kept exactly, and invalid UTF-8, which protobuf cannot encode,
	// becomes U+FFFD; the details stay.
	t.Parallel()
	messages := map[string]string{"nul": "a\x00b", "invalid": "a\xffb\xc3"}
	store := openStore(t)
	c := newClient(t, store, nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: func(ctx context.Context, j *job) (str, error) {
			st, err := status.New(codes.InvalidArgument, messages[j.Request.GetValue()]).WithDetails(&errdetails.ErrorInfo{Reason: "R", Domain: "d"})
			require.NoError(t, err)
			return nil, st.Err()
		}})
	})
	for _, tc := range []struct{ message, want string }{
		{"nul", "a\x00b"},
		{"invalid", "a\uFFFDb\uFFFD"},
	} {
		op, err := c.StartOperation(context.Background(), "k", wrapperspb.String(tc.message), nil)
		require.NoError(t, err)
		op = waitDone(t, c, op.GetName())
		require.Equal(t, int32(codes.InvalidArgument), op.GetError().GetCode(), "%q", tc.message)
		require.Equal(t, tc.want, op.GetError().GetMessage())
		require.Equal(t, "R", errorInfo(t, status.FromProto(op.GetError())).GetReason())
		require.Equal(t, strings.ReplaceAll(tc.want, "\x00", "\uFFFD"), storedOp(t, store, op.GetName()).Error.Message,
			"the copy that filters read")
	}
}

// poisonStore refuses for good every batch of results that holds a
// response with "poison" in it, as PostgreSQL refuses a value it cannot
// hold. It holds the first write until release is closed, so that the
// results that come meanwhile are written together.
type poisonStore struct {
	lrostore.Store
	held    chan struct{}
	release chan struct{}
	once    sync.Once

	mu      sync.Mutex
	batches []int // the size of each batch refused
}

func (s *poisonStore) OperationFinishMany(ctx context.Context, p *lrostore.OperationFinishManyParams) ([]*lrostore.OperationFinishResult, error) {
	s.once.Do(func() {
		close(s.held)
		<-s.release
	})
	for _, f := range p.Finishes {
		if bytes.Contains(f.Response, []byte("poison")) {
			s.mu.Lock()
			s.batches = append(s.batches, len(p.Finishes))
			s.mu.Unlock()
			return nil, &lrostore.PermanentError{Err: errors.New("invalid byte sequence for encoding \"UTF8\": 0x00 (SQLSTATE 22021)")}
		}
	}
	return s.Store.OperationFinishMany(ctx, p)
}

func TestPermanentResultWriteEndsTheOperation(t *testing.T) {
	// A result that the store refuses for good ends its operation with
	// INTERNAL rather than being retried for ever; the other results of
	// its batch are stored.
	t.Parallel()
	store := &poisonStore{Store: openStore(t), held: make(chan struct{}), release: make(chan struct{})}
	p := newProbe()
	c := newClient(t, store, nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: p.blocking})
	})
	first := start(t, c, "k", "first")
	p.next(t).release <- result{resp: wrapperspb.String("first")}
	<-store.held
	values := []string{"a", "poison", "b", "c"}
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = start(t, c, "k", v).GetName()
	}
	for range values {
		r := p.next(t)
		r.release <- result{resp: wrapperspb.String(r.job.Request.GetValue())}
	}
	close(store.release)
	require.Equal(t, "first", responseValue(t, waitDone(t, c, first.GetName())))
	for i, v := range values {
		op := waitDone(t, c, names[i])
		if v != "poison" {
			require.Equal(t, v, responseValue(t, op))
			continue
		}
		st := status.FromProto(op.GetError())
		require.Equal(t, codes.Internal, st.Code(), "%v", st)
		require.Contains(t, st.Message(), "result could not be stored")
		require.Equal(t, "RESULT_NOT_STORED", errorInfo(t, st).GetReason())
		require.Equal(t, int32(1), storedOp(t, store, op.GetName()).Attempt)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	t.Logf("batches refused: %v", store.batches) // [4 1] when the four results were written together
	require.Equal(t, 1, store.batches[len(store.batches)-1], "the poisoned result was refused alone in the end")
}

func TestHandlerOutputLimits(t *testing.T) {
	t.Parallel()
	limits := lro.Config{MetadataBytesMax: 100, ResponseBytesMax: 200, ErrorBytesMax: 300}
	long := func(n int) string { return strings.Repeat("é", n/2) }

	t.Run("Metadata", func(t *testing.T) {
		// Metadata over the limit is not stored; the operation goes on.
		t.Parallel()
		setErr := make(chan error, 1)
		c := newLimitedClient(t, openStore(t), limits, func(ctx context.Context, j *job) (str, error) {
			require.NoError(t, j.SetMetadata(wrapperspb.String("small")))
			setErr <- j.SetMetadata(wrapperspb.String(long(100)))
			return wrapperspb.String("done"), nil
		})
		op := waitDone(t, c, start(t, c, "k", "").GetName())
		require.ErrorIs(t, <-setErr, lro.ErrMetadataTooLarge)
		require.Equal(t, "done", responseValue(t, op))
		md := &wrapperspb.StringValue{}
		require.NoError(t, op.GetMetadata().UnmarshalTo(md))
		require.Equal(t, "small", md.GetValue(), "the last metadata within the limit")
	})
	t.Run("Response", func(t *testing.T) {
		t.Parallel()
		c := newLimitedClient(t, openStore(t), limits, func(ctx context.Context, j *job) (str, error) {
			return wrapperspb.String(j.Request.GetValue()), nil
		})
		op := waitDone(t, c, start(t, c, "k", long(100)).GetName())
		require.Equal(t, long(100), responseValue(t, op), "within the limit")
		op = waitDone(t, c, start(t, c, "k", long(200)).GetName())
		st := status.FromProto(op.GetError())
		require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", st)
		require.Equal(t, "RESPONSE_TOO_LARGE", errorInfo(t, st).GetReason())
		require.Contains(t, st.Message(), "over the limit of 200 bytes")
	})
	t.Run("Error", func(t *testing.T) {
		t.Parallel()
		c := newLimitedClient(t, openStore(t), limits, func(ctx context.Context, j *job) (str, error) {
			return nil, status.Error(codes.NotFound, j.Request.GetValue())
		})
		op := waitDone(t, c, start(t, c, "k", long(250)).GetName())
		require.Equal(t, long(250), op.GetError().GetMessage(), "within the limit")
		op = waitDone(t, c, start(t, c, "k", long(3000)).GetName())
		st := status.FromProto(op.GetError())
		require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", st)
		info := errorInfo(t, st)
		require.Equal(t, "ERROR_TOO_LARGE", info.GetReason())
		require.Equal(t, "NOT_FOUND", info.GetMetadata()["code"])
		require.Contains(t, st.Message(), "failed with NOT_FOUND")
		require.Contains(t, st.Message(), "its message begins: "+long(1000))
		require.Less(t, len(st.Message()), 1200)
	})
	t.Run("PlainError", func(t *testing.T) {
		t.Parallel()
		c := newLimitedClient(t, openStore(t), limits, func(ctx context.Context, j *job) (str, error) {
			return nil, errors.New(j.Request.GetValue())
		})
		op := waitDone(t, c, start(t, c, "k", long(3000)).GetName())
		st := status.FromProto(op.GetError())
		require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", st)
		require.Equal(t, "UNKNOWN", errorInfo(t, st).GetMetadata()["code"])
	})
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		c := newLimitedClient(t, openStore(t), lro.Config{}, func(ctx context.Context, j *job) (str, error) {
			return wrapperspb.String(strings.Repeat("x", lro.ResponseBytesMaxDefault)), nil
		})
		op := waitDone(t, c, start(t, c, "k", "").GetName())
		require.Equal(t, codes.ResourceExhausted, codes.Code(op.GetError().GetCode()), "%v", op.GetError())
	})
}

func TestRequestIDMustBeUTF8(t *testing.T) {
	// PostgreSQL's text cannot hold invalid UTF-8: such a request ID is the
	// caller's error, not a store failure of every start sharing its commit.
	t.Parallel()
	c := newClient(t, openStore(t), nil, func(c *lro.Client) {
		lro.MustRegister(c, kind{Name: "k", Run: func(context.Context, *job) (str, error) { return nil, nil }})
	})
	_, err := c.StartOperation(context.Background(), "k", nil, &lro.StartOptions{RequestID: "r\xff"})
	require.ErrorIs(t, err, lro.ErrInvalidArgument)
	var e *lro.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "request_id", e.Field)
}
