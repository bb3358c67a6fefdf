package lrogrpc_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/testkinds"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lropb/demopb"
)

const testParent = "projects/p/locations/l"

var opNamePattern = regexp.MustCompile(`^operations/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestOperationsService drives lrogrpc through a real gRPC server with
// Google's Go client for google.longrunning.Operations
// (cloud.google.com/go/longrunning/autogen and its longrunning.Operation
// wrapper), and the generated lro.v1.Lro client for starts.
func TestOperationsService(t *testing.T) {
	t.Parallel()
	t.Run("StartOperation", testStartOperation)
	t.Run("GetOperation", testGetOperation)
	t.Run("GoogleWrapper", testGoogleWrapper)
	t.Run("ListOperations", testListOperations)
	t.Run("CancelOperation", testCancelOperation)
	t.Run("DeleteOperation", testDeleteOperation)
	t.Run("WaitOperation", testWaitOperation)
	t.Run("ListKinds", testListKinds)
}

func structInput(t *testing.T, m map[string]any) *lropb.StartOperationRequest_Input {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return &lropb.StartOperationRequest_Input{Input: structpb.NewStructValue(s)}
}

func typedInput(t *testing.T, m proto.Message) *lropb.StartOperationRequest_TypedInput {
	t.Helper()
	return &lropb.StartOperationRequest_TypedInput{TypedInput: mustAny(t, m)}
}

// requireResponse checks that op succeeded with a response of want's type
// equal to want.
func requireResponse(t *testing.T, op *longrunningpb.Operation, want proto.Message) {
	t.Helper()
	require.True(t, op.GetDone(), "%v", op)
	require.Nil(t, op.GetError(), "%v", op)
	require.NotNil(t, op.GetResponse(), "a done operation without error has a response: %v", op)
	got := want.ProtoReflect().New().Interface()
	require.NoError(t, op.GetResponse().UnmarshalTo(got))
	require.True(t, proto.Equal(want, got), "response %v, want %v", got, want)
}

func requireCancelled(t *testing.T, op *longrunningpb.Operation) {
	t.Helper()
	require.True(t, op.GetDone(), "%v", op)
	require.Nil(t, op.GetResponse(), "%v", op)
	require.NotNil(t, op.GetError(), "%v", op)
	require.Equal(t, int32(codes.Canceled), op.GetError().GetCode(), "%v", op)
	require.NotEmpty(t, op.GetError().GetMessage())
}

// operationID returns the last segment of name.
func operationID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func testStartOperation(t *testing.T) {
	t.Parallel()

	t.Run("NameIsOperationsUUIDAndNotDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindBlock, wrapperspb.String("k"))
		require.Regexp(t, opNamePattern, op.GetName())
		id := operationID(op.GetName())
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, id, u.String())
		require.False(t, op.GetDone())
		require.Nil(t, op.GetResult())
		require.Equal(t, op.GetName(), e.get(t, op.GetName()).GetName())
	})

	t.Run("ParentNamesTheOperation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.startReq(t, &lropb.StartOperationRequest{Parent: testParent, Kind: kindEcho,
			KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: "parented"})})
		id, ok := strings.CutPrefix(op.GetName(), testParent+"/operations/")
		require.True(t, ok, "name %q", op.GetName())
		require.Regexp(t, opNamePattern, "operations/"+id)
		requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String("parented"))
	})

	t.Run("InputTooLarge", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		big := strings.Repeat("x", lro.InputBytesMaxDefault)
		_, err := e.lro.StartOperation(t.Context(), &lropb.StartOperationRequest{Kind: kindEcho,
			KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: big})})
		st := requireErrorInfo(t, err, codes.InvalidArgument)
		requireFieldViolation(t, st, "input")
		require.Equal(t, "INPUT_TOO_LARGE", errorInfo(t, st).GetReason())
		require.Empty(t, e.names(t, "operations", ""), "nothing is stored")

		// Just under the limit is accepted.
		fits := big[:lro.InputBytesMaxDefault-100]
		e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: fits})})
	})

	t.Run("StructInput", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		for _, in := range []map[string]any{
			{"failMessage": "from json", "duration": "0s"}, // lowerCamelCase
			{"fail_message": "from json"},                  // the proto field name
		} {
			op := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, KindInput: structInput(t, in)})
			requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String("from json"))
		}
	})

	t.Run("TypedInput", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: "typed"})})
		requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String("typed"))
	})

	t.Run("NoInputIsAnEmptyRequest", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho})
		requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String(""))
	})

	t.Run("InvalidArgumentStoresNothing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		garbled := &anypb.Any{TypeUrl: "type.googleapis.com/lro.demo.v1.SleepRequest", Value: []byte{0xff, 0xff}}
		for _, tc := range []struct {
			name  string
			req   *lropb.StartOperationRequest
			field string // the BadRequest field violation
		}{
			{"UnknownKind", &lropb.StartOperationRequest{Kind: "no.such.kind"}, "kind"},
			{"NoKind", &lropb.StartOperationRequest{}, "kind"},
			{"UnknownField", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: structInput(t, map[string]any{"noSuchField": 1})}, "input.noSuchField"},
			{"WrongTypeString", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: structInput(t, map[string]any{"failMessage": 5})}, "input.failMessage"},
			{"WrongTypeDuration", &lropb.StartOperationRequest{Kind: demo.KindSleep, KindInput: structInput(t, map[string]any{"duration": true})}, "input"},
			{"BadDuration", &lropb.StartOperationRequest{Kind: demo.KindSleep, KindInput: structInput(t, map[string]any{"duration": "soon"})}, "input"},
			{"InputNotAnObject", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: &lropb.StartOperationRequest_Input{
				Input: structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1)}})}}, "input"},
			{"TypedInputOfAnotherType", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: typedInput(t, wrapperspb.String("x"))}, "input"},
			{"TypedInputGarbled", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: &lropb.StartOperationRequest_TypedInput{TypedInput: garbled}}, "input"},
			{"TypedInputEmptyAny", &lropb.StartOperationRequest{Kind: kindEcho, KindInput: &lropb.StartOperationRequest_TypedInput{TypedInput: &anypb.Any{}}}, "input"},
			{"ValidationNegativeDuration", &lropb.StartOperationRequest{Kind: demo.KindSleep, KindInput: structInput(t, map[string]any{"duration": "-1s"})}, "input"},
			{"ValidationTypedNegativeDuration", &lropb.StartOperationRequest{Kind: demo.KindSleep, KindInput: typedInput(t, &demopb.SleepRequest{Duration: durationpb.New(-time.Second)})}, "input"},
			{"ValidationFailCode", &lropb.StartOperationRequest{Kind: demo.KindSleep, KindInput: structInput(t, map[string]any{"failCode": 99})}, "input"},
			{"ParentOddSegments", &lropb.StartOperationRequest{Kind: kindEcho, Parent: "projects/p/locations"}, "parent"},
			{"ParentOneSegment", &lropb.StartOperationRequest{Kind: kindEcho, Parent: "projects"}, "parent"},
			{"ParentEmptySegment", &lropb.StartOperationRequest{Kind: kindEcho, Parent: "projects//locations/l"}, "parent"},
			{"ParentTrailingSlash", &lropb.StartOperationRequest{Kind: kindEcho, Parent: testParent + "/"}, "parent"},
			{"ParentWithSpace", &lropb.StartOperationRequest{Kind: kindEcho, Parent: "projects/p q/locations/l"}, "parent"},
			{"RequestIDWithSpace", &lropb.StartOperationRequest{Kind: kindEcho, RequestId: "not an id"}, "request_id"},
			{"RequestIDTooLong", &lropb.StartOperationRequest{Kind: kindEcho, RequestId: strings.Repeat("x", 257)}, "request_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				op, err := e.lro.StartOperation(t.Context(), tc.req)
				require.Nil(t, op)
				st := requireErrorInfo(t, err, codes.InvalidArgument)
				requireFieldViolation(t, st, tc.field)
				require.Empty(t, e.names(t, "operations", ""), "a rejected start stores nothing")
				require.Empty(t, e.names(t, testParent+"/operations", ""), "a rejected start stores nothing")
			})
		}
	})

	t.Run("RequestID", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1}) // the operations stay pending
		rid := uuid.NewString()
		first := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, RequestId: rid,
			KindInput: structInput(t, map[string]any{"failMessage": "a"})})

		t.Run("RepeatReturnsTheFirstOperation", func(t *testing.T) {
			again := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, RequestId: rid,
				KindInput: structInput(t, map[string]any{"failMessage": "a"})})
			require.True(t, proto.Equal(first, again), "repeat %v, first %v", again, first)
			// The same request as a typed input is the same request.
			typed := e.startReq(t, &lropb.StartOperationRequest{Kind: kindEcho, RequestId: rid,
				KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: "a"})})
			require.Equal(t, first.GetName(), typed.GetName())
			require.Equal(t, []string{first.GetName()}, e.names(t, "operations", ""))
		})

		t.Run("OtherInputIsAlreadyExists", func(t *testing.T) {
			for _, req := range []*lropb.StartOperationRequest{
				{Kind: kindEcho, RequestId: rid, KindInput: structInput(t, map[string]any{"failMessage": "b"})},
				{Kind: kindEcho, RequestId: rid}, // no input: an empty request, another one
				{Kind: kindBlock, RequestId: rid, KindInput: typedInput(t, wrapperspb.String("a"))},
			} {
				_, err := e.lro.StartOperation(t.Context(), req)
				st := requireErrorInfo(t, err, codes.AlreadyExists)
				require.Contains(t, st.Message(), first.GetName(), "the message names the first operation")
			}
			require.Equal(t, []string{first.GetName()}, e.names(t, "operations", ""))
		})

		t.Run("ScopedByParent", func(t *testing.T) {
			// lro.StartOptions: "a repeat with the same parent and request ID
			// returns the first operation"; the store's unique index is
			// (parent, request_id). Under another parent the ID is free.
			other := e.startReq(t, &lropb.StartOperationRequest{Parent: testParent, Kind: kindEcho, RequestId: rid,
				KindInput: structInput(t, map[string]any{"failMessage": "a"})})
			require.NotEqual(t, first.GetName(), other.GetName())
			require.Equal(t, []string{other.GetName()}, e.names(t, testParent+"/operations", ""))
		})
	})

	t.Run("RequestIDFreeAfterDelete", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		rid := uuid.NewString()
		req := &lropb.StartOperationRequest{Kind: kindEcho, RequestId: rid, KindInput: typedInput(t, &demopb.SleepRequest{FailMessage: "a"})}
		first := e.startReq(t, req)
		e.waitDone(t, first.GetName())
		require.NoError(t, e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: first.GetName()}))
		second := e.startReq(t, req)
		require.NotEqual(t, first.GetName(), second.GetName(), "the request ID holds only while its operation exists")
	})
}

func testGetOperation(t *testing.T) {
	t.Parallel()

	t.Run("RunningThenDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindBlock, "k")
		running := e.get(t, op.GetName())
		require.False(t, running.GetDone())
		require.Nil(t, running.GetResult())
		g.Release()
		e.waitDone(t, op.GetName())
		done := e.get(t, op.GetName())
		require.True(t, done.GetResponse().MessageIs(&wrapperspb.StringValue{}))
		require.Equal(t, testkinds.TypeStringValue, done.GetResponse().GetTypeUrl())
		requireResponse(t, done, wrapperspb.String("released k"))
	})

	t.Run("HeadersTellStateAndLease", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{LeaseTTL: time.Minute})
		headers := func(e *env, name string) metadata.MD {
			t.Helper()
			var md metadata.MD
			_, err := e.raw.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name}, grpc.Header(&md))
			require.NoError(t, err)
			return md
		}
		before := time.Now()
		op, g := e.startHeld(t, kindBlock, "k")
		md := headers(e, op.GetName())
		require.Equal(t, []string{"running"}, md.Get(lrogrpc.StateHeader))
		require.Len(t, md.Get(lrogrpc.LeaseExpireTimeHeader), 1)
		expire, err := time.Parse(time.RFC3339Nano, md.Get(lrogrpc.LeaseExpireTimeHeader)[0])
		require.NoError(t, err)
		require.WithinRange(t, expire, before.Add(time.Minute-time.Second), time.Now().Add(time.Minute+time.Second))
		g.Release()
		e.waitDone(t, op.GetName())
		md = headers(e, op.GetName())
		require.Empty(t, md.Get(lrogrpc.StateHeader), "a done operation gets neither header")
		require.Empty(t, md.Get(lrogrpc.LeaseExpireTimeHeader))

		idle := newEnv(t, lro.Config{Workers: -1})
		pending := idle.start(t, kindEcho, &demopb.SleepRequest{})
		md = headers(idle, pending.GetName())
		require.Equal(t, []string{"pending"}, md.Get(lrogrpc.StateHeader))
		require.Empty(t, md.Get(lrogrpc.LeaseExpireTimeHeader), "no lease while pending")
	})

	t.Run("HeadersTellTheLastFailureWhileTheOperationWaits", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindRetried, wrapperspb.String("down for now"))
		var md metadata.MD
		require.Eventually(t, func() bool {
			got, err := e.raw.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: op.GetName()}, grpc.Header(&md))
			require.NoError(t, err)
			require.False(t, got.GetDone(), "it runs again in an hour")
			require.Nil(t, got.GetResult(), "its error stays empty until it is done")
			return len(md.Get(lrogrpc.LastErrorHeader)) == 1
		}, 10*time.Second, 5*time.Millisecond)
		require.Equal(t, []string{"pending"}, md.Get(lrogrpc.StateHeader))
		require.Equal(t, []string{"1"}, md.Get(lrogrpc.AttemptHeader))
		last := &spb.Status{}
		require.NoError(t, proto.Unmarshal([]byte(md.Get(lrogrpc.LastErrorHeader)[0]), last))
		require.Equal(t, int32(codes.Unavailable), last.GetCode())
		require.Equal(t, "down for now", last.GetMessage())

		cancelled, err := e.raw.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()})
		require.NoError(t, err)
		require.NotNil(t, cancelled)
		got := e.get(t, op.GetName())
		require.True(t, got.GetDone(), "a cancel during the wait ends it at once")
		require.Equal(t, int32(codes.Canceled), got.GetError().GetCode())
	})

	t.Run("FailureKeepsCodeMessageAndDetails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindFail, wrapperspb.String("f1"))
		e.waitDone(t, op.GetName())
		got := e.get(t, op.GetName())
		require.True(t, got.GetDone())
		require.Nil(t, got.GetResponse())
		want := testkinds.FailStatus("f1").Proto()
		require.True(t, proto.Equal(want, got.GetError()), "error %v, want %v", got.GetError(), want)
	})

	t.Run("PlainErrorIsUnknown", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindPlain, wrapperspb.String("p1"))
		e.waitDone(t, op.GetName())
		got := e.get(t, op.GetName())
		require.True(t, got.GetDone())
		require.Nil(t, got.GetResponse())
		require.Equal(t, int32(codes.Unknown), got.GetError().GetCode())
		require.Equal(t, "plain failure: p1", got.GetError().GetMessage())
		require.Equal(t, lro.ErrorDomain, errorInfo(t, status.FromProto(got.GetError())).GetDomain())
	})

	t.Run("NilResponseIsEmpty", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindEmpty, &emptypb.Empty{})
		e.waitDone(t, op.GetName())
		got := e.get(t, op.GetName())
		require.NotNil(t, got.GetResponse(), "a done operation always has a result: %v", got)
		require.Equal(t, testkinds.TypeEmpty, got.GetResponse().GetTypeUrl())
		requireResponse(t, got, &emptypb.Empty{})
	})

	t.Run("MetadataFilter", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindMeta, "mf")
		defer g.Release()
		e.awaitMetadata(t, op.GetName())
		require.Equal(t, []string{op.GetName()},
			e.names(t, "operations", fmt.Sprintf(`metadata.progress_percent >= %d AND done = false`, metaProgress)))
		require.Empty(t, e.names(t, "operations", `metadata.progress_percent >= 50 AND done = false`))
		_, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations",
			Filter: `kind = "test.meta" AND metadata.nope = 1`})
		st := requireErrorInfo(t, err, codes.InvalidArgument)
		requireFieldViolation(t, st, "filter")
		require.Contains(t, st.Message(), "column 24: field metadata.nope")
	})

	t.Run("MetadataWhileRunning", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindMeta, "m")
		running := e.awaitMetadata(t, op.GetName())
		require.False(t, running.GetDone())
		require.Equal(t, testkinds.TypeSleepMetadata, running.GetMetadata().GetTypeUrl())
		md := &demopb.SleepMetadata{}
		require.NoError(t, running.GetMetadata().UnmarshalTo(md))
		require.True(t, proto.Equal(&demopb.SleepMetadata{ProgressPercent: metaProgress, Attempt: 1}, md), "metadata %v", md)

		g.Release()
		done := e.waitDone(t, op.GetName())
		requireResponse(t, done, wrapperspb.String("released m"))
		require.True(t, proto.Equal(running.GetMetadata(), done.GetMetadata()), "the metadata stays once done")
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		for _, name := range []string{"operations/" + uuid.NewString(), testParent + "/operations/" + uuid.NewString()} {
			_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
		}
	})

	t.Run("MalformedName", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		id := uuid.NewString()
		for _, name := range []string{
			"operations/xyz", "foo/bar", "", "operations", "operations/",
			"operations/" + strings.ToUpper(id), "operations/" + id + "/x", "ops/" + id,
			"projects/operations/" + id, "projects/p/locations/operations/" + id, "//operations/" + id, strings.Repeat("a/", 600) + "operations/" + id,
		} {
			_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			st := requireErrorInfo(t, err, codes.InvalidArgument)
			requireFieldViolation(t, st, "name")
		}
	})

	t.Run("LeadingSlashIsInvalid", func(t *testing.T) {
		t.Parallel()
		// A leading slash is no alias of the default collection.
		e := newEnv(t, lro.Config{Workers: -1})
		op := e.start(t, kindEcho, &demopb.SleepRequest{})
		_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: "/" + op.GetName()})
		requireErrorInfo(t, err, codes.InvalidArgument)
		err = e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: "/" + op.GetName()})
		requireErrorInfo(t, err, codes.InvalidArgument)
		_, err = e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "/operations"})
		requireErrorInfo(t, err, codes.InvalidArgument)
		require.False(t, e.get(t, op.GetName()).GetDone())
	})

	t.Run("WrongParentIsNotFound", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		parented := e.startReq(t, &lropb.StartOperationRequest{Parent: testParent, Kind: kindBlock, KindInput: typedInput(t, wrapperspb.String("parented"))})
		await(t, e.gates.Get("parented").Started, "the handler to start")
		plain := e.start(t, kindEcho, &demopb.SleepRequest{})
		e.waitDone(t, plain.GetName())
		before := []*longrunningpb.Operation{e.get(t, parented.GetName()), e.get(t, plain.GetName())}

		wrong := []string{
			"operations/" + operationID(parented.GetName()),
			"projects/p/locations/other/operations/" + operationID(parented.GetName()),
			testParent + "/operations/" + operationID(plain.GetName()),
		}
		for _, name := range wrong {
			_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
			_, err = e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(time.Millisecond)})
			requireErrorInfo(t, err, codes.NotFound)
			err = e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
			err = e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
		}
		// Neither cancelled nor deleted under the wrong names.
		for _, op := range before {
			after := e.get(t, op.GetName())
			require.True(t, proto.Equal(op, after), "before %v, after %v", op, after)
		}
	})
}

func testGoogleWrapper(t *testing.T) {
	t.Parallel()

	t.Run("WaitReturnsTheTypedResponse", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: "wrapped"})
		lop := longrunning.InternalNewOperation(e.ops, op)
		require.Equal(t, op.GetName(), lop.Name())
		var resp wrapperspb.StringValue
		require.NoError(t, lop.Wait(t.Context(), &resp))
		require.True(t, lop.Done())
		require.Equal(t, "wrapped", resp.GetValue())
	})

	t.Run("WaitReturnsTheFailure", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindFail, wrapperspb.String("wf"))
		e.waitDone(t, op.GetName()) // the wrapper's first poll sees it done: no 1s backoff
		lop := longrunning.InternalNewOperation(e.ops, op)
		var resp wrapperspb.StringValue
		err := lop.Wait(t.Context(), &resp)
		require.Error(t, err)
		require.True(t, lop.Done())
		st, ok := status.FromError(err)
		require.True(t, ok, "%T %v", err, err)
		want := testkinds.FailStatus("wf").Proto()
		require.True(t, proto.Equal(want, st.Proto()), "status %v, want %v", st.Proto(), want)
	})

	t.Run("WaitEmptyResponse", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindEmpty, &emptypb.Empty{})
		e.waitDone(t, op.GetName())
		lop := longrunning.InternalNewOperation(e.ops, op)
		require.NoError(t, lop.Wait(t.Context(), &emptypb.Empty{}))
		require.True(t, lop.Done())
	})

	t.Run("PollAndMetadata", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindMeta, "poll")
		lop := longrunning.InternalNewOperation(e.ops, op)
		var resp wrapperspb.StringValue
		require.NoError(t, lop.Poll(t.Context(), &resp))
		require.False(t, lop.Done())
		require.Empty(t, resp.GetValue())

		md := &demopb.SleepMetadata{}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			if assert.NoError(c, lop.Poll(t.Context(), &resp)) {
				assert.NoError(c, lop.Metadata(md))
			}
		}, awaitTimeout, 10*time.Millisecond, "the wrapper sees the metadata")
		require.False(t, lop.Done())
		require.Equal(t, int32(metaProgress), md.GetProgressPercent())

		g.Release()
		e.waitDone(t, op.GetName())
		require.NoError(t, lop.Poll(t.Context(), &resp))
		require.True(t, lop.Done())
		require.Equal(t, "released poll", resp.GetValue())
	})

	t.Run("MetadataFromTheStart", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1}) // no handler runs
		before := time.Now()
		op := e.start(t, demo.KindSleep, &demopb.SleepRequest{Duration: durationpb.New(time.Hour)})
		after := time.Now()
		lop := longrunning.InternalNewOperation(e.ops, op)
		md := &demopb.SleepMetadata{}
		require.NoError(t, lop.Metadata(md), "the wrapper reads the metadata of the start's answer")
		require.Equal(t, int32(0), md.GetProgressPercent())
		require.Equal(t, int32(0), md.GetAttempt(), "no attempt ran")
		start := md.GetStartTime().AsTime()
		require.False(t, start.Before(before.Truncate(time.Microsecond)) || start.After(after), "start_time %v is the start's", start)
		require.True(t, proto.Equal(md.GetStartTime(), md.GetUpdateTime()))

		got := e.get(t, op.GetName())
		require.True(t, proto.Equal(op, got), "the first GetOperation: %v, the start: %v", got, op)
		var resp demopb.SleepResponse
		require.NoError(t, lop.Poll(t.Context(), &resp))
		require.False(t, lop.Done())
		polled := &demopb.SleepMetadata{}
		require.NoError(t, lop.Metadata(polled))
		require.True(t, proto.Equal(md, polled))
	})

	t.Run("PollFailureAndCancel", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindBlock, "c")
		lop := longrunning.InternalNewOperation(e.ops, op)
		require.NoError(t, lop.Cancel(t.Context()))
		require.ErrorIs(t, await(t, g.Cause, "the handler to see the cancellation"), lro.ErrCancelRequested)
		e.waitDone(t, op.GetName())
		err := lop.Poll(t.Context(), nil)
		require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
		require.True(t, lop.Done())
	})
}

// seed starts n operations of kindEcho under parent through the lro client,
// concurrently, and returns their names.
func seed(t *testing.T, e *env, n int, parent string) []string {
	t.Helper()
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			op, err := e.client.StartOperation(t.Context(), kindEcho, &demopb.SleepRequest{}, &lro.StartOptions{Parent: parent})
			errs[i] = err
			if err == nil {
				names[i] = op.GetName()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return names
}

func testListOperations(t *testing.T) {
	t.Parallel()

	t.Run("PageSizeDefaultAndMax", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		seed(t, e, lro.PageSizeMaxDefault+1, "")

		resp, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations"})
		require.NoError(t, err)
		require.Len(t, resp.GetOperations(), lro.PageSizeDefault)
		require.NotEmpty(t, resp.GetNextPageToken())

		resp, err = e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 1 << 30})
		require.NoError(t, err, "a page size above the maximum is reduced, not an error")
		require.Len(t, resp.GetOperations(), lro.PageSizeMaxDefault)
		require.NotEmpty(t, resp.GetNextPageToken())

		last, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 1 << 30, PageToken: resp.GetNextPageToken()})
		require.NoError(t, err)
		require.Len(t, last.GetOperations(), 1)
		require.Empty(t, last.GetNextPageToken())
	})

	t.Run("PagesBoundedBySize", func(t *testing.T) {
		// Ten operations of 900 KiB responses would make a page of 9 MiB,
		// more than a gRPC client accepts (4 MiB by default): pages end
		// early, under lro.PageBytesMax, and reach every operation once.
		t.Parallel()
		e := newEnv(t, lro.Config{})
		const n, size = 10, 900 << 10
		var want []string
		responses := map[string]string{}
		for i := range n {
			msg := fmt.Sprintf("%02d", i) + strings.Repeat("x", size)
			op := e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: msg})
			e.waitDone(t, op.GetName())
			want = append([]string{op.GetName()}, want...) // newest first
			responses[op.GetName()] = msg
		}
		var got []string
		pages := e.pages(t, &longrunningpb.ListOperationsRequest{Name: "operations"}, n+1)
		for i, resp := range pages {
			require.NotEmpty(t, resp.GetOperations())
			require.LessOrEqual(t, proto.Size(resp), lro.PageBytesMax+64<<10, "page %d", i)
			for _, op := range resp.GetOperations() {
				got = append(got, op.GetName())
				requireResponse(t, op, wrapperspb.String(responses[op.GetName()]))
			}
		}
		require.Equal(t, want, got, "every operation once, newest first")
		require.Greater(t, len(pages), n*size/lro.PageBytesMax, "pages end early by size")
	})

	t.Run("OperationsOverThePageBudget", func(t *testing.T) {
		// An operation over lro.PageBytesMax on its own (possible with a
		// higher InputBytesMax and ResponseBytesMax) is a page of its own,
		// and the pages still reach every operation once.
		t.Parallel()
		e := newEnv(t, lro.Config{InputBytesMax: 4 << 20, ResponseBytesMax: 4 << 20})
		var want []string
		for i := range 2 {
			op := e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: fmt.Sprint(i) + strings.Repeat("x", lro.PageBytesMax+1000)})
			e.waitDone(t, op.GetName())
			want = append([]string{op.GetName()}, want...)
		}
		var got []string
		var sizes []int
		for _, resp := range e.pages(t, &longrunningpb.ListOperationsRequest{Name: "operations"}, 10) {
			sizes = append(sizes, len(resp.GetOperations()))
			for _, op := range resp.GetOperations() {
				got = append(got, op.GetName())
			}
		}
		require.Equal(t, want, got)
		require.Equal(t, []int{1, 1, 0}, sizes, "a page each, and an empty last page: the store stops reading after the first")
	})

	t.Run("NegativePageSize", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		_, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: -1})
		st := requireErrorInfo(t, err, codes.InvalidArgument)
		requireFieldViolation(t, st, "page_size")
	})

	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		var created []string
		for i := range 7 {
			created = append(created, e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: fmt.Sprint(i)}).GetName())
		}
		newestFirst := slices.Clone(created)
		slices.Reverse(newestFirst)

		t.Run("ThreeThreeOne", func(t *testing.T) {
			var got []string
			var sizes []int
			for _, resp := range e.pages(t, &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 3}, 10) {
				sizes = append(sizes, len(resp.GetOperations()))
				for _, op := range resp.GetOperations() {
					got = append(got, op.GetName())
				}
			}
			require.Equal(t, []int{3, 3, 1}, sizes)
			require.Equal(t, newestFirst, got, "newest first, no duplicates, no gaps")
		})

		t.Run("PageSizeMayChangeBetweenPages", func(t *testing.T) {
			first, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 2})
			require.NoError(t, err)
			rest, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 10, PageToken: first.GetNextPageToken()})
			require.NoError(t, err)
			require.Len(t, rest.GetOperations(), 5)
			require.Empty(t, rest.GetNextPageToken())
			require.Equal(t, newestFirst[2], rest.GetOperations()[0].GetName())
		})

		t.Run("TokenIsReusable", func(t *testing.T) {
			first, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 3})
			require.NoError(t, err)
			req := &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 3, PageToken: first.GetNextPageToken()}
			a, err := e.listPage(t.Context(), req)
			require.NoError(t, err)
			b, err := e.listPage(t.Context(), req)
			require.NoError(t, err)
			require.True(t, proto.Equal(a, b))
		})

		t.Run("AutogenIterator", func(t *testing.T) {
			it := e.ops.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 3})
			var got []string
			for {
				op, err := it.Next()
				if err == iterator.Done {
					break
				}
				require.NoError(t, err)
				got = append(got, op.GetName())
				require.LessOrEqual(t, len(got), 7)
			}
			require.Equal(t, newestFirst, got)
		})

		t.Run("BadPageTokens", func(t *testing.T) {
			first, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 3})
			require.NoError(t, err)
			token := first.GetNextPageToken()
			require.NotEmpty(t, token)
			garbled := []byte(token)
			garbled[len(garbled)/2] ^= 1
			other := newEnv(t, lro.Config{Workers: -1}) // another store, another key
			seed(t, other, 2, "")
			otherFirst, err := other.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 1})
			require.NoError(t, err)
			for name, req := range map[string]*longrunningpb.ListOperationsRequest{
				"OtherFilter":   {Name: "operations", PageSize: 3, PageToken: token, Filter: "done = false"},
				"OtherName":     {Name: testParent + "/operations", PageSize: 3, PageToken: token},
				"Garbled":       {Name: "operations", PageSize: 3, PageToken: string(garbled)},
				"Truncated":     {Name: "operations", PageSize: 3, PageToken: token[:len(token)-2]},
				"Forged":        {Name: "operations", PageSize: 3, PageToken: "abc"},
				"Base64Offset":  {Name: "operations", PageSize: 3, PageToken: "Mw"},
				"NotBase64":     {Name: "operations", PageSize: 3, PageToken: "!!!!"},
				"OtherServer":   {Name: "operations", PageSize: 3, PageToken: otherFirst.GetNextPageToken()},
				"PaddedBase64":  {Name: "operations", PageSize: 3, PageToken: token + "=="},
				"WhitespaceEnd": {Name: "operations", PageSize: 3, PageToken: token + " "},
			} {
				t.Run(name, func(t *testing.T) {
					_, err := e.listPage(t.Context(), req)
					st := requireErrorInfo(t, err, codes.InvalidArgument)
					requireFieldViolation(t, st, "page_token")
				})
			}
		})
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		echo := e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: "e"}).GetName()
		fail := e.start(t, kindFail, wrapperspb.String("f")).GetName()
		plain := e.start(t, kindPlain, wrapperspb.String("p")).GetName()
		mid := time.Now()
		empty := e.start(t, kindEmpty, &emptypb.Empty{}).GetName()
		meta, _ := e.startHeld(t, kindMeta, "m")
		block, _ := e.startHeld(t, kindBlock, "b")
		for _, name := range []string{echo, fail, plain, empty} {
			e.waitDone(t, name)
		}
		e.awaitMetadata(t, meta.GetName())

		// Filters take timestamps to the microsecond, as they are stored.
		rfc := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }
		all := []string{block.GetName(), meta.GetName(), empty, plain, fail, echo} // newest first
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{"", all},
			{"done = true", []string{empty, plain, fail, echo}},
			{"done = false", []string{block.GetName(), meta.GetName()}},
			{"NOT done = true", []string{block.GetName(), meta.GetName()}},
			{"-done = true", []string{block.GetName(), meta.GetName()}},
			{"NOT (done = true)", []string{block.GetName(), meta.GetName()}},
			{"error.code = 9", []string{fail}},
			{"error.code = FAILED_PRECONDITION", []string{fail}},
			{"error.code = 2", []string{plain}},
			{"error.code != 9", []string{plain}}, // a missing error matches nothing, even under !=
			{"error:*", []string{plain, fail}},
			{`error.message = "boom"`, []string{fail}},
			{`metadata.@type = "` + testkinds.TypeSleepMetadata + `"`, []string{meta.GetName()}},
			{`response.@type = "` + testkinds.TypeStringValue + `"`, []string{echo}},
			{`response.@type = "` + testkinds.TypeEmpty + `"`, []string{empty}},
			{"response:*", []string{empty, echo}},
			{`kind = "test.meta" OR kind = "test.block"`, []string{block.GetName(), meta.GetName()}},
			// OR binds tighter than AND: done AND (code 9 OR meta), not
			// (done AND code 9) OR meta.
			{`done = true AND error.code = 9 OR kind = "test.meta"`, []string{fail}},
			{`kind = "test.meta" OR error.code = 9 AND done = true`, []string{fail}},
			{`(done = true AND error.code = 9) OR kind = "test.meta"`, []string{meta.GetName(), fail}},
			{`create_time > "` + rfc(mid.Add(-time.Hour)) + `"`, all},
			{`create_time > "` + rfc(mid) + `"`, []string{block.GetName(), meta.GetName(), empty}},
			{`createTime <= "` + rfc(mid) + `"`, []string{plain, fail, echo}},
			{`create_time > "` + rfc(time.Now().Add(time.Hour)) + `"`, nil},
			{`name = "` + echo + `"`, []string{echo}},
		} {
			t.Run(tc.filter, func(t *testing.T) {
				require.Equal(t, tc.want, e.names(t, "operations", tc.filter))
			})
		}
	})

	t.Run("InvalidFilter", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		for _, filter := range []string{
			"done = ",
			"(done = true",
			"done = true)",
			`done = "yes"`,
			"no_such_field = 1",
			"metadata.progress = 1",
			"error.code = NOPE",
			`create_time > "yesterday"`,
			"done = true AND",
			"done == true",
			"done", // a bare field is not a restriction
		} {
			t.Run(filter, func(t *testing.T) {
				_, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", Filter: filter})
				st := requireErrorInfo(t, err, codes.InvalidArgument)
				requireFieldViolation(t, st, "filter")
				require.Contains(t, st.Message(), "column", "the message locates the error")
			})
		}
	})

	t.Run("Parents", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		inL := seed(t, e, 3, testParent)
		// seed starts concurrently: order the names as the list does, newest
		// (the greatest UUIDv7) first.
		slices.Sort(inL)
		slices.Reverse(inL)
		inM := seed(t, e, 1, "projects/p/locations/m")
		top := seed(t, e, 1, "")
		for collection, want := range map[string][]string{
			testParent + "/operations":                inL,
			testParent:                                inL,
			"projects/p/locations/m/operations":       inM,
			"operations":                              top,
			"projects/p/locations/nothing/operations": nil,
		} {
			require.Equal(t, want, e.names(t, collection, ""), "collection %q", collection)
		}
		for _, name := range []string{"", "projects/operations", "projects/p/locations/operations", "foo", testParent + "/operations/", "//operations"} {
			_, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: name})
			st := requireErrorInfo(t, err, codes.InvalidArgument)
			requireFieldViolation(t, st, "name")
		}
	})

	t.Run("ReturnPartialSuccessIsUnimplemented", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		_, err := e.listPage(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", ReturnPartialSuccess: true})
		requireErrorInfo(t, err, codes.Unimplemented)
	})
}

func testCancelOperation(t *testing.T) {
	t.Parallel()

	t.Run("PendingEndsAtOnce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		op := e.start(t, kindEcho, &demopb.SleepRequest{})
		waited := make(chan *longrunningpb.Operation, 1)
		go func() {
			op, err := e.ops.WaitOperation(context.WithoutCancel(t.Context()), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(awaitTimeout)})
			if err != nil {
				op = nil
			}
			waited <- op
		}()
		await(t, e.waitCalls, "the wait to reach the server")

		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
		requireCancelled(t, e.get(t, op.GetName()))
		got := await(t, waited, "the wait to end with the cancellation")
		require.NotNil(t, got, "the wait failed")
		requireCancelled(t, got)
	})

	t.Run("RunningHandlerSeesCancelRequested", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindBlock, "c")
		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
		select {
		case cause := <-g.Cause:
			require.ErrorIs(t, cause, lro.ErrCancelRequested)
		case <-time.After(time.Second):
			t.Fatal("the handler's context was not cancelled within 1s")
		}
		requireCancelled(t, e.waitDone(t, op.GetName()))
	})

	t.Run("RunningHandlerMayStillSucceed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindStubborn, "s")
		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
		require.ErrorIs(t, await(t, g.Cause, "the cancellation"), lro.ErrCancelRequested)
		requireResponse(t, e.waitDone(t, op.GetName()), wrapperspb.String("finished anyway s"))
	})

	t.Run("DoneIsUnchanged", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		for _, op := range []*longrunningpb.Operation{
			e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: "x"}),
			e.start(t, kindFail, wrapperspb.String("x")),
		} {
			e.waitDone(t, op.GetName())
			before := e.get(t, op.GetName())
			require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
			after := e.get(t, op.GetName())
			require.True(t, proto.Equal(before, after), "before %v, after %v", before, after)
		}
	})

	t.Run("CancelTwice", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		op := e.start(t, kindEcho, &demopb.SleepRequest{})
		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
		before := e.get(t, op.GetName())
		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: op.GetName()}))
		require.True(t, proto.Equal(before, e.get(t, op.GetName())))
	})

	t.Run("NotFoundAndMalformed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		err := e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: "operations/" + uuid.NewString()})
		requireErrorInfo(t, err, codes.NotFound)
		for _, name := range []string{"", "operations/xyz", "foo/bar"} {
			err := e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.InvalidArgument)
		}
	})
}

func testDeleteOperation(t *testing.T) {
	t.Parallel()

	t.Run("DeletesDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		var names []string
		for _, op := range []*longrunningpb.Operation{
			e.start(t, kindEcho, &demopb.SleepRequest{}),
			e.start(t, kindFail, wrapperspb.String("d")),
		} {
			e.waitDone(t, op.GetName())
			names = append(names, op.GetName())
		}
		cancelled, _ := e.startHeld(t, kindBlock, "d")
		require.NoError(t, e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: cancelled.GetName()}))
		e.waitDone(t, cancelled.GetName())
		names = append(names, cancelled.GetName())

		for _, name := range names {
			require.NoError(t, e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: name}))
			_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
			err = e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.NotFound)
		}
		require.Empty(t, e.names(t, "operations", ""))
	})

	t.Run("NotDoneIsFailedPrecondition", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		running, _ := e.startHeld(t, kindBlock, "r")
		pendingEnv := newEnv(t, lro.Config{Workers: -1})
		pending := pendingEnv.start(t, kindEcho, &demopb.SleepRequest{})
		for _, c := range []struct {
			e    *env
			name string
		}{{e, running.GetName()}, {pendingEnv, pending.GetName()}} {
			before := c.e.get(t, c.name)
			err := c.e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: c.name})
			requireErrorInfo(t, err, codes.FailedPrecondition)
			after := c.e.get(t, c.name)
			require.False(t, after.GetDone(), "a delete does not cancel")
			require.True(t, proto.Equal(before, after), "before %v, after %v", before, after)
		}
	})

	t.Run("NotFoundAndMalformed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		err := e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: "operations/" + uuid.NewString()})
		requireErrorInfo(t, err, codes.NotFound)
		for _, name := range []string{"", "operations/xyz", "foo/bar"} {
			err := e.ops.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.InvalidArgument)
		}
	})
}

func testWaitOperation(t *testing.T) {
	t.Parallel()

	type waitResult struct {
		op  *longrunningpb.Operation
		err error
		at  time.Time
	}

	t.Run("ReturnsWhenDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, g := e.startHeld(t, kindBlock, "w")
		results := make(chan waitResult, 1)
		go func() {
			op, err := e.ops.WaitOperation(context.WithoutCancel(t.Context()), &longrunningpb.WaitOperationRequest{Name: op.GetName()})
			results <- waitResult{op, err, time.Now()}
		}()
		require.Equal(t, op.GetName(), await(t, e.waitCalls, "the wait to reach the server"))
		released := time.Now()
		g.Release()
		r := await(t, results, "the wait")
		require.NoError(t, r.err)
		require.Less(t, r.at.Sub(released), 500*time.Millisecond, "the wait returns as soon as the operation ends")
		requireResponse(t, r.op, wrapperspb.String("released w"))
	})

	t.Run("TimeoutReturnsNotDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, _ := e.startHeld(t, kindBlock, "t")
		start := time.Now()
		got, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(200 * time.Millisecond)})
		elapsed := time.Since(start)
		require.NoError(t, err, "a timeout is not an error")
		require.False(t, got.GetDone())
		require.Nil(t, got.GetResult())
		require.Equal(t, op.GetName(), got.GetName())
		require.GreaterOrEqual(t, elapsed, 190*time.Millisecond)
		require.Less(t, elapsed, 2*time.Second)
	})

	t.Run("CappedByWaitMax", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{WaitMax: 300 * time.Millisecond})
		op, _ := e.startHeld(t, kindBlock, "t")
		for _, timeout := range []*durationpb.Duration{nil, durationpb.New(time.Hour)} {
			start := time.Now()
			got, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: timeout})
			elapsed := time.Since(start)
			require.NoError(t, err)
			require.False(t, got.GetDone())
			require.GreaterOrEqual(t, elapsed, 290*time.Millisecond)
			require.Less(t, elapsed, 3*time.Second)
		}
	})

	t.Run("AlreadyDoneReturnsAtOnce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindEcho, &demopb.SleepRequest{FailMessage: "d"})
		e.waitDone(t, op.GetName())
		start := time.Now()
		got, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(30 * time.Second)})
		require.NoError(t, err)
		require.Less(t, time.Since(start), 500*time.Millisecond)
		requireResponse(t, got, wrapperspb.String("d"))
	})

	t.Run("InvalidTimeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op := e.start(t, kindEcho, &demopb.SleepRequest{})
		for _, timeout := range []*durationpb.Duration{
			durationpb.New(-time.Second),
			{Seconds: 1, Nanos: -1},    // signs differ
			{Nanos: 1_000_000_000},     // nanos out of range
			{Seconds: 315_576_000_001}, // beyond the Duration range
		} {
			_, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: timeout})
			st := requireErrorInfo(t, err, codes.InvalidArgument)
			requireFieldViolation(t, st, "timeout")
		}
	})

	t.Run("DeadlineShorterThanTimeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		op, _ := e.startHeld(t, kindBlock, "d")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		got, err := e.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(30 * time.Second)})
		elapsed := time.Since(start)
		require.NoError(t, err, "the latest state before the deadline, not DEADLINE_EXCEEDED")
		require.False(t, got.GetDone())
		require.Equal(t, op.GetName(), got.GetName())
		require.Less(t, elapsed, time.Second)
		require.GreaterOrEqual(t, elapsed, 500*time.Millisecond)
	})

	t.Run("NotFoundAndMalformed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		_, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: "operations/" + uuid.NewString()})
		requireErrorInfo(t, err, codes.NotFound)
		for _, name := range []string{"", "operations/xyz", "foo/bar"} {
			_, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name})
			requireErrorInfo(t, err, codes.InvalidArgument)
		}
	})
}

func testListKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	resp, err := e.lro.ListKinds(t.Context(), &lropb.ListKindsRequest{})
	require.NoError(t, err)
	byName := map[string]*lropb.Kind{}
	var names []string
	for _, k := range resp.GetKinds() {
		byName[k.GetName()] = k
		names = append(names, k.GetName())
	}
	require.True(t, slices.IsSorted(names), "sorted by name: %v", names)
	require.True(t, proto.Equal(&lropb.Kind{Name: kindMeta, RequestType: "google.protobuf.StringValue",
		MetadataType: "lro.demo.v1.SleepMetadata", ResponseType: "google.protobuf.StringValue", MaxAttempts: lro.MaxAttemptsDefault,
		LeaseTtl: durationpb.New(lro.LeaseTTLDefault), Handled: true},
		byName[kindMeta]), "%v", byName[kindMeta])
	require.Empty(t, byName[kindEmpty].GetMetadataType(), "a kind without metadata")
}
