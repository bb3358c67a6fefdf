package lrohttp_test

// Google's Go REST client for google.longrunning.Operations
// (cloud.google.com/go/longrunning/autogen.NewOperationsRESTClient) and its
// longrunning.Operation wrapper, unchanged, against the HTTP/JSON mapping.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"cloud.google.com/go/longrunning"
	autogen "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"lro.dev/lro"
	"lro.dev/lro/internal/testkinds"
	"lro.dev/lro/lropb/demopb"
)

// restClient returns Google's REST client for the server of e.
func restClient(t *testing.T, e *env) *autogen.OperationsClient {
	t.Helper()
	c, err := autogen.NewOperationsRESTClient(t.Context(), option.WithEndpoint(e.base), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// requireAPIError checks the error of Google's REST client: its code (which
// the client derives from the HTTP status alone), the ErrorInfo it parsed
// from Google's JSON error, and the "status" of the body, which keeps the
// exact google.rpc.Code. It returns the APIError.
func requireAPIError(t *testing.T, err error, clientCode codes.Code, bodyStatus, reason string) *apierror.APIError {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, clientCode, status.Code(err), "%v", err)
	var ae *apierror.APIError
	require.True(t, errors.As(err, &ae), "%T %v", err, err)
	require.Equal(t, reason, ae.Reason(), "%v", err)
	require.Equal(t, lro.ErrorDomain, ae.Domain())
	var gerr *googleapi.Error
	require.True(t, errors.As(err, &gerr), "%T %v", err, err)
	require.Equal(t, aip193Status[bodyStatus], gerr.Code)
	require.Contains(t, gerr.Body, `"status":"`+bodyStatus+`"`)
	return ae
}

func TestRESTClient(t *testing.T) {
	t.Parallel()

	t.Run("GetOperation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)

		running, g := e.startHeld(t, "", kindMeta, "m")
		e.awaitMetadata(t, running)
		op, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: running})
		require.NoError(t, err)
		require.Equal(t, running, op.GetName())
		require.False(t, op.GetDone())
		require.Nil(t, op.GetResult())
		md := &demopb.SleepMetadata{}
		require.NoError(t, op.GetMetadata().UnmarshalTo(md))
		require.True(t, proto.Equal(&demopb.SleepMetadata{ProgressPercent: metaProgress, Attempt: 1}, md), "metadata %v", md)

		g.Release()
		e.waitDone(t, running)
		op, err = c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: running})
		require.NoError(t, err)
		require.True(t, op.GetDone())
		require.Nil(t, op.GetError())
		require.Equal(t, testkinds.TypeStringValue, op.GetResponse().GetTypeUrl())
		resp := &wrapperspb.StringValue{}
		require.NoError(t, op.GetResponse().UnmarshalTo(resp))
		require.Equal(t, "released m", resp.GetValue())

		failed := e.start(t, testParent, kindFail, `"x"`)
		e.waitDone(t, failed)
		op, err = c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: failed})
		require.NoError(t, err)
		require.True(t, op.GetDone())
		require.Nil(t, op.GetResponse())
		want := testkinds.FailStatus("x").Proto()
		require.True(t, proto.Equal(want, op.GetError()), "error %v, want %v: code, message and details reach the client exactly", op.GetError(), want)

		empty := e.start(t, "", kindEmpty, "")
		e.waitDone(t, empty)
		op, err = c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: empty})
		require.NoError(t, err)
		require.Equal(t, testkinds.TypeEmpty, op.GetResponse().GetTypeUrl())
		require.NoError(t, op.GetResponse().UnmarshalTo(&emptypb.Empty{}))
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		c := restClient(t, e)

		for _, name := range []string{"operations/" + uuid.NewString(), testParent + "/operations/" + uuid.NewString()} {
			_, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
			ae := requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "OPERATION_NOT_FOUND")
			require.Equal(t, name, ae.Details().ResourceInfo.GetResourceName())
			err = c.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name})
			requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "OPERATION_NOT_FOUND")
			err = c.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: name})
			requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "OPERATION_NOT_FOUND")
		}

		_, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: "operations/xyz"})
		ae := requireAPIError(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "INVALID_NAME")
		require.Equal(t, "name", ae.Details().BadRequest.GetFieldViolations()[0].GetField())

		it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done == true"})
		_, err = it.Next()
		ae = requireAPIError(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "INVALID_FILTER")
		require.Contains(t, ae.Message(), "column")
		require.Equal(t, "filter", ae.Details().BadRequest.GetFieldViolations()[0].GetField())

		it = c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", PageToken: "Zm9yZ2Vk"})
		_, err = it.Next()
		requireAPIError(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "INVALID_PAGE_TOKEN")

		it = c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", ReturnPartialSuccess: true})
		_, err = it.Next()
		requireAPIError(t, err, codes.Unimplemented, "UNIMPLEMENTED", "PARTIAL_SUCCESS_UNSUPPORTED")
	})

	t.Run("ListOperations", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1}) // the operations stay pending
		const parent = "projects/p/locations/rest"
		var created []string
		for i := range 7 {
			op, err := e.srv.Client().StartOperation(t.Context(), kindEcho, &demopb.SleepRequest{FailMessage: fmt.Sprint(i)}, &lro.StartOptions{Parent: parent})
			require.NoError(t, err)
			created = append(created, op.GetName())
		}
		newestFirst := slices.Clone(created)
		slices.Reverse(newestFirst)
		c := restClient(t, e)

		t.Run("Iterator", func(t *testing.T) {
			it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: parent + "/operations", PageSize: 3})
			var got []string
			for {
				op, err := it.Next()
				if errors.Is(err, iterator.Done) {
					break
				}
				require.NoError(t, err)
				got = append(got, op.GetName())
			}
			require.Equal(t, newestFirst, got)
		})

		t.Run("ParentAsNameIsNoRoute", func(t *testing.T) {
			// gRPC takes the parent itself as the name of a list; over
			// HTTP, GET /v1/{parent} is no route: the collection is
			// {parent}/operations.
			it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: parent})
			_, err := it.Next()
			requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "ROUTE_NOT_FOUND")
		})

		t.Run("Pager", func(t *testing.T) {
			pager := iterator.NewPager(c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: parent + "/operations"}), 3, "")
			var sizes []int
			var got []string
			for {
				var page []*longrunningpb.Operation
				token, err := pager.NextPage(&page)
				require.NoError(t, err)
				sizes = append(sizes, len(page))
				for _, op := range page {
					got = append(got, op.GetName())
				}
				if token == "" {
					break
				}
				require.Less(t, len(sizes), 10, "the pages do not end")
			}
			require.Equal(t, []int{3, 3, 1}, sizes)
			require.Equal(t, newestFirst, got)
		})

		t.Run("ExplicitPageTokens", func(t *testing.T) {
			// Each page by its own call, as a stateless client pages.
			req := &longrunningpb.ListOperationsRequest{Name: parent + "/operations", PageSize: 2}
			var got []string
			for range 10 {
				it := c.ListOperations(t.Context(), req)
				page, token, err := it.InternalFetch(int(req.GetPageSize()), req.GetPageToken())
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), 2)
				for _, op := range page {
					got = append(got, op.GetName())
				}
				require.Equal(t, token, it.Response.(*longrunningpb.ListOperationsResponse).GetNextPageToken())
				if token == "" {
					break
				}
				req = &longrunningpb.ListOperationsRequest{Name: parent + "/operations", PageSize: 2, PageToken: token}
			}
			require.Equal(t, newestFirst, got)
		})

		t.Run("Filter", func(t *testing.T) {
			it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: parent + "/operations",
				Filter: fmt.Sprintf(`name = "%s" OR name = "%s"`, created[1], created[5])})
			var got []string
			for op, err := range it.All() {
				require.NoError(t, err)
				got = append(got, op.GetName())
			}
			require.Equal(t, []string{created[5], created[1]}, got)

			it = c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: parent + "/operations", Filter: "done = true"})
			_, err := it.Next()
			require.ErrorIs(t, err, iterator.Done, "none is done")
		})

		t.Run("Empty", func(t *testing.T) {
			it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "projects/p/locations/none/operations"})
			_, err := it.Next()
			require.ErrorIs(t, err, iterator.Done)
		})
	})

	t.Run("CancelPending", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{Workers: -1})
		c := restClient(t, e)
		name := e.start(t, "", kindEcho, "")
		require.NoError(t, c.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name}))
		op, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		require.True(t, op.GetDone(), "a pending operation ends at once")
		require.Equal(t, int32(codes.Canceled), op.GetError().GetCode())
	})

	t.Run("CancelRunning", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name, g := e.startHeld(t, testParent, kindBlock, "c")
		require.NoError(t, c.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name}))
		require.ErrorIs(t, await(t, g.Cause, "the handler to see the cancellation"), lro.ErrCancelRequested)
		e.waitDone(t, name)
		op, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		require.True(t, op.GetDone())
		require.Nil(t, op.GetResponse())
		require.Equal(t, int32(codes.Canceled), op.GetError().GetCode())
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		done := e.start(t, "", kindEcho, "")
		e.waitDone(t, done)
		require.NoError(t, c.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: done}))
		_, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: done})
		requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "OPERATION_NOT_FOUND")

		running, _ := e.startHeld(t, "", kindBlock, "r")
		err = c.DeleteOperation(t.Context(), &longrunningpb.DeleteOperationRequest{Name: running})
		// FAILED_PRECONDITION is HTTP 400, which Google's REST client reads
		// as INVALID_ARGUMENT; the body's "status" and the
		// PreconditionFailure keep the exact cause.
		ae := requireAPIError(t, err, codes.InvalidArgument, "FAILED_PRECONDITION", "OPERATION_NOT_DONE")
		require.Equal(t, running, ae.Details().PreconditionFailure.GetViolations()[0].GetSubject())
		op, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: running})
		require.NoError(t, err)
		require.False(t, op.GetDone(), "a refused delete neither deletes nor cancels")
	})

	t.Run("WaitOperationHasNoRESTBinding", func(t *testing.T) {
		t.Parallel()
		// google.longrunning.Operations.WaitOperation has no HTTP binding:
		// Google's REST client sends GET /?name=…&timeout=…, which no
		// route serves (lro's own route is POST /v1/{name}:wait).
		e := newEnv(t, lro.Config{Workers: -1})
		c := restClient(t, e)
		name := e.start(t, "", kindEcho, "")
		_, err := c.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name})
		requireAPIError(t, err, codes.NotFound, "NOT_FOUND", "ROUTE_NOT_FOUND")
	})
}

// TestRESTWrapper drives Google's longrunning.Operation wrapper over the
// REST client.
func TestRESTWrapper(t *testing.T) {
	t.Parallel()

	get := func(t *testing.T, c *autogen.OperationsClient, name string) *longrunning.Operation {
		t.Helper()
		op, err := c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		require.NoError(t, err)
		return longrunning.InternalNewOperation(c, op)
	}

	t.Run("WaitReturnsTheTypedResponse", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name := e.start(t, "", kindEcho, `{"failMessage":"wrapped"}`)
		lop := get(t, c, name)
		require.Equal(t, name, lop.Name())
		var resp wrapperspb.StringValue
		require.NoError(t, lop.Wait(t.Context(), &resp))
		require.True(t, lop.Done())
		require.Equal(t, "wrapped", resp.GetValue())
	})

	t.Run("WaitPollsUntilDone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name, g := e.startHeld(t, testParent, kindBlock, "w")
		lop := get(t, c, name)
		require.False(t, lop.Done())
		waited := make(chan error, 1)
		var resp wrapperspb.StringValue
		go func() { waited <- lop.Wait(t.Context(), &resp) }()
		g.Release()
		// The wrapper polls again after its backoff (up to 1s).
		require.NoError(t, await(t, waited, "the wrapper's Wait"))
		require.True(t, lop.Done())
		require.Equal(t, "released w", resp.GetValue())
	})

	t.Run("WaitReturnsTheFailure", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name := e.start(t, "", kindFail, `"wf"`)
		e.waitDone(t, name) // the wrapper's first poll sees it done: no 1s backoff
		lop := longrunning.InternalNewOperation(c, &longrunningpb.Operation{Name: name})
		err := lop.Wait(t.Context(), &wrapperspb.StringValue{})
		require.Error(t, err)
		require.True(t, lop.Done())
		st, ok := status.FromError(err)
		require.True(t, ok, "%T %v", err, err)
		want := testkinds.FailStatus("wf").Proto()
		require.True(t, proto.Equal(want, st.Proto()), "status %v, want %v", st.Proto(), want)
	})

	t.Run("MetadataFilter", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name, g := e.startHeld(t, "", kindMeta, "mf")
		defer g.Release()
		e.awaitMetadata(t, name)
		list := func(filter string) []string {
			t.Helper()
			var names []string
			it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations", Filter: filter})
			for op, err := range it.All() {
				require.NoError(t, err, filter)
				names = append(names, op.GetName())
			}
			return names
		}
		require.Equal(t, []string{name}, list(fmt.Sprintf(`metadata.progress_percent >= %d AND done = false`, metaProgress)))
		require.Empty(t, list(`metadata.progress_percent >= 50 AND done = false`))

		it := c.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{Name: "operations",
			Filter: `kind = "test.meta" AND metadata.nope = 1`})
		_, err := it.Next()
		ae := requireAPIError(t, err, codes.InvalidArgument, "INVALID_ARGUMENT", "INVALID_FILTER")
		require.Contains(t, ae.Message(), "column 24: field metadata.nope")
		require.Equal(t, http.StatusBadRequest, ae.HTTPCode())
	})

	t.Run("PollMetadataAndCancel", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, lro.Config{})
		c := restClient(t, e)
		name, g := e.startHeld(t, "", kindMeta, "pm")
		e.awaitMetadata(t, name)
		lop := get(t, c, name)
		require.NoError(t, lop.Poll(t.Context(), &wrapperspb.StringValue{}))
		require.False(t, lop.Done())
		md := &demopb.SleepMetadata{}
		require.NoError(t, lop.Metadata(md))
		require.Equal(t, int32(metaProgress), md.GetProgressPercent())

		require.NoError(t, lop.Cancel(t.Context()))
		require.ErrorIs(t, await(t, g.Cause, "the cancellation"), lro.ErrCancelRequested)
		e.waitDone(t, name)
		err := lop.Poll(t.Context(), nil)
		require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
		require.True(t, lop.Done())
		require.NoError(t, lop.Delete(t.Context()))
		_, err = c.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
		require.Equal(t, codes.NotFound, status.Code(err))
	})
}
