package lro_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/lrostore"
)

// errInitial is what the test kind's InitialMetadata fails with for the
// request "error".
var errInitial = errors.New("no metadata for you")

// initialMetadata is the test kind's InitialMetadata: "initial VALUE #N",
// N counting its calls, or a failure that the request names.
func initialMetadata(calls *atomic.Int32) func(r str) (str, error) {
	return func(r str) (str, error) {
		n := calls.Add(1)
		switch v := r.GetValue(); v {
		case "error":
			return nil, errInitial
		case "status":
			return nil, status.Error(codes.FailedPrecondition, "not now")
		case "panic":
			panic("boom")
		case "big":
			return wrapperspb.String(strings.Repeat("m", 200)), nil
		case "none":
			return nil, nil
		default:
			return wrapperspb.String(fmt.Sprintf("initial %s #%d", v, n)), nil
		}
	}
}

// metaValue is an operation's metadata, a StringValue; "" when it has none.
func metaValue(t *testing.T, op *longrunningpb.Operation) string {
	t.Helper()
	if op.GetMetadata() == nil {
		return ""
	}
	v := &wrapperspb.StringValue{}
	require.NoError(t, op.GetMetadata().UnmarshalTo(v))
	return v.GetValue()
}

func TestInitialMetadata(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		ctx := context.Background()
		var calls atomic.Int32
		p := newProbe()
		// One worker slot: the first start is stored claimed by this client
		// (an eager start) and holds the slot; the others are stored pending.
		c := newClient(t, store, &lro.Config{Workers: 1, MetadataBytesMax: 100}, func(c *lro.Client) {
			lro.MustRegister(c, kind{Name: "k", Run: p.blocking, InitialMetadata: initialMetadata(&calls)})
			lro.ClaimedSignal(c).Init()
		})
		lro.ClaimedSignal(c).Wait(t)
		get := func(name string) *longrunningpb.Operation {
			t.Helper()
			op, err := c.GetOperation(ctx, name)
			require.NoError(t, err)
			return op
		}
		count := func() int {
			resp, err := c.ListOperations(ctx, "operations", &lro.ListOptions{PageSize: 1000})
			require.NoError(t, err)
			return len(resp.GetOperations())
		}

		eager := start(t, c, "k", "eager")
		require.Equal(t, "initial eager #1", metaValue(t, eager), "the started operation carries its metadata")
		require.Equal(t, lrostore.StateRunning, storedOp(t, store, eager.GetName()).State, "an eager start")
		first := p.next(t) // the handler runs, and has set nothing yet
		require.Equal(t, "initial eager #1", metaValue(t, get(eager.GetName())))

		pending := start(t, c, "k", "pending")
		require.Equal(t, "initial pending #2", metaValue(t, pending))
		require.Equal(t, lrostore.StatePending, storedOp(t, store, pending.GetName()).State, "a start stored pending")
		require.True(t, proto.Equal(pending, get(pending.GetName())), "GetOperation returns what the start did")
		stored := storedOp(t, store, pending.GetName())
		require.Equal(t, "type.googleapis.com/google.protobuf.StringValue", stored.MetadataType, "the type that metadata filters read")

		t.Run("RequestIDRepeatReturnsTheFirstMetadata", func(t *testing.T) {
			opts := &lro.StartOptions{RequestID: "meta-1"}
			op, err := c.StartOperation(ctx, "k", wrapperspb.String("repeat"), opts)
			require.NoError(t, err)
			again, err := c.StartOperation(ctx, "k", wrapperspb.String("repeat"), opts)
			require.NoError(t, err)
			require.Equal(t, op.GetName(), again.GetName())
			require.Regexp(t, `^initial repeat #\d+$`, metaValue(t, op))
			require.Equal(t, metaValue(t, op), metaValue(t, again), "the first start's metadata, not the repeat's")
		})
		t.Run("StartOperations", func(t *testing.T) {
			ops, err := c.StartOperations(ctx, []lro.StartRequest{
				{Kind: "k", Request: wrapperspb.String("a")},
				{Kind: "k", Request: wrapperspb.String("b")},
				{Kind: "k", Request: wrapperspb.String("none")},
			})
			require.NoError(t, err)
			require.Regexp(t, `^initial a #\d+$`, metaValue(t, ops[0]))
			require.Regexp(t, `^initial b #\d+$`, metaValue(t, ops[1]))
			for _, op := range ops {
				require.True(t, proto.Equal(op, get(op.GetName())))
			}
			require.Nil(t, ops[2].GetMetadata(), "a nil Meta is no metadata")
		})
		t.Run("FailuresRejectTheStart", func(t *testing.T) {
			before := count()
			_, err := c.StartOperation(ctx, "k", wrapperspb.String("error"), nil)
			require.Equal(t, codes.Internal, status.Code(err), "the request passed Validate: the failure is the kind's")
			require.ErrorIs(t, err, errInitial)
			require.ErrorContains(t, err, `kind "k": initial metadata: no metadata for you`)
			requireReason(t, err, "INITIAL_METADATA_FAILED")

			_, err = c.StartOperation(ctx, "k", wrapperspb.String("status"), nil)
			require.Equal(t, codes.FailedPrecondition, status.Code(err), "an error with a status keeps it")
			require.Equal(t, "not now", status.Convert(err).Message())

			_, err = c.StartOperation(ctx, "k", wrapperspb.String("panic"), nil)
			require.Equal(t, codes.Internal, status.Code(err))
			require.ErrorContains(t, err, "panic: boom")

			_, err = c.StartOperation(ctx, "k", wrapperspb.String("big"), nil)
			require.Equal(t, codes.Internal, status.Code(err))
			require.ErrorIs(t, err, lro.ErrMetadataTooLarge)
			require.ErrorContains(t, err, "over the limit of 100 bytes")
			requireReason(t, err, "METADATA_TOO_LARGE")

			_, err = c.StartOperations(ctx, []lro.StartRequest{
				{Kind: "k", Request: wrapperspb.String("fine")},
				{Kind: "k", Request: wrapperspb.String("big")},
			})
			require.Equal(t, codes.Internal, status.Code(err))
			require.ErrorContains(t, err, "requests[1]: ")
			_, err = c.StartOperations(ctx, []lro.StartRequest{
				{Kind: "k", Request: wrapperspb.String("fine")},
				{Kind: "k", Request: wrapperspb.String("status")},
			})
			require.Equal(t, codes.FailedPrecondition, status.Code(err))
			require.ErrorContains(t, err, "requests[1]: ")
			require.Equal(t, before, count(), "nothing was stored")
		})

		// The handlers see nothing different; what they set replaces the
		// initial metadata, and what they do not set keeps it.
		require.NoError(t, first.job.SetMetadata(wrapperspb.String("from the handler")))
		first.release <- result{resp: wrapperspb.String("done")}
		require.Equal(t, "from the handler", metaValue(t, waitDone(t, c, eager.GetName())))
		for {
			r := p.next(t)
			r.release <- result{resp: wrapperspb.String("done")}
			if r.job.Name == pending.GetName() {
				break
			}
		}
		require.Equal(t, "initial pending #2", metaValue(t, waitDone(t, c, pending.GetName())))
	})
}

// requireReason checks the ErrorInfo reason of an lro error.
func requireReason(t *testing.T, err error, reason string) {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			require.Equal(t, reason, info.GetReason())
			return
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
}

func TestInitialMetadataDeclared(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), nil, func(c *lro.Client) {
		require.NoError(t, lro.Declare(c, lro.DeclaredKind{
			Name:     "declared",
			Request:  (&wrapperspb.StringValue{}).ProtoReflect().Type(),
			Metadata: (&wrapperspb.StringValue{}).ProtoReflect().Type(),
			InitialMetadata: func(req proto.Message) (proto.Message, error) {
				if req.(str).GetValue() == "wrong" {
					return &emptypb.Empty{}, nil
				}
				return wrapperspb.String("declared " + req.(str).GetValue()), nil
			},
		}))
	})
	op := start(t, c, "declared", "x")
	require.Equal(t, "declared x", metaValue(t, op))
	_, err := c.StartOperation(context.Background(), "declared", wrapperspb.String("wrong"), nil)
	require.Equal(t, codes.Internal, status.Code(err))
	require.ErrorContains(t, err, "a google.protobuf.Empty, not the kind's google.protobuf.StringValue")
}
