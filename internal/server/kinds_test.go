package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/kindfile/kindfiletest"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
)

// kindsFile declares a JSON kind with a schema and a typed kind whose types
// come from kindfiletest's descriptor set.
const kindsFile = `
kinds:
  - name: report.build
    input_schema:
      type: object
      required: [title]
      properties:
        title: {type: string, minLength: 1}
        pages: {type: integer, minimum: 1}
  - name: media.resize
    request_type: kindfiletest.v1.ResizeRequest
    metadata_type: kindfiletest.v1.ResizeProgress
    response_type: kindfiletest.v1.ResizeResult
    max_attempts: 4
    lease_ttl: 45s
    input_schema:
      properties:
        size: {minimum: 1}
`

// startWithKinds runs lro serve with kindsFile and the descriptor set.
func startWithKinds(t *testing.T) *serverProc {
	t.Helper()
	dir := t.TempDir()
	kinds, set := filepath.Join(dir, "kinds.yaml"), filepath.Join(dir, "resize.pb")
	require.NoError(t, os.WriteFile(kinds, []byte(kindsFile), 0o600))
	require.NoError(t, os.WriteFile(set, kindfiletest.Bytes(), 0o600))
	return startServer(t, "kinds", filepath.Join(dir, "lro.db"), "--kinds", kinds, "--descriptor-set", set)
}

// TestKindsFile: the kinds of lro serve --kinds are listed beside the Go
// ones; a start that fails a kind's schema, or does not parse as its typed
// request, is INVALID_ARGUMENT with the path of the problem over gRPC and
// HTTP and stores nothing; a valid one is accepted and waits, pending, for a
// worker.
func TestKindsFile(t *testing.T) {
	t.Parallel()
	p := startWithKinds(t)
	ctx := testContext(t)
	conn := p.dial()
	c := lropb.NewLroClient(conn)

	kinds, err := c.ListKinds(ctx, &lropb.ListKindsRequest{})
	require.NoError(t, err)
	byName := map[string]*lropb.Kind{}
	for _, k := range kinds.GetKinds() {
		byName[k.GetName()] = k
	}
	require.True(t, byName["demo.sleep"].GetHandled(), "the demo kind stays, run by the server")
	report := byName["report.build"]
	require.NotNil(t, report)
	require.False(t, report.GetHandled())
	require.Equal(t, "google.protobuf.Struct", report.GetRequestType())
	require.Equal(t, "google.protobuf.Struct", report.GetResponseType())
	require.Equal(t, leaseTTL, report.GetLeaseTtl().AsDuration(), "the server's --lease-ttl")
	require.Equal(t, []any{"title"}, report.GetInputSchema().AsMap()["required"])
	resize := byName["media.resize"]
	require.NotNil(t, resize)
	require.False(t, resize.GetHandled())
	require.Equal(t, kindfiletest.Package+".ResizeRequest", resize.GetRequestType())
	require.Equal(t, kindfiletest.Package+".ResizeProgress", resize.GetMetadataType())
	require.Equal(t, kindfiletest.Package+".ResizeResult", resize.GetResponseType())
	require.Equal(t, 45*time.Second, resize.GetLeaseTtl().AsDuration())
	require.EqualValues(t, 4, resize.GetMaxAttempts())

	// Server reflection describes the dynamic types (grpcurl describe).
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: kindfiletest.Package + ".ResizeRequest"},
	}))
	refl, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	require.NotEmpty(t, refl.GetFileDescriptorResponse().GetFileDescriptorProto(), "reflection: %v", refl)

	jsonInput := func(js string) *lropb.StartOperationRequest_Input {
		var v structpb.Value
		require.NoError(t, protojson.Unmarshal([]byte(js), &v))
		return &lropb.StartOperationRequest_Input{Input: &v}
	}
	for _, tc := range []struct {
		name, kind, input, field, message string
	}{
		{"schema", "report.build", `{"title": "Q3", "pages": 0}`, "input.pages", "input.pages: minimum: got 0, want 1"},
		{"schema required", "report.build", `{"pages": 2}`, "input", "missing property 'title'"},
		{"schema typed", "media.resize", `{"source": "a.png", "size": -2}`, "input.size", "input.size: minimum: got -2, want 1"},
		{"unknown field", "media.resize", `{"source": "a.png", "box": {"widht": 3}}`, "input.box.widht", `unknown field "widht"`},
		{"wrong type", "media.resize", `{"boxes": [{"width": 1}, {"width": "wide"}]}`, "input.boxes[1].width", "invalid value for int32"},
	} {
		t.Run("grpc "+tc.name, func(t *testing.T) {
			_, err := c.StartOperation(ctx, &lropb.StartOperationRequest{Kind: tc.kind, KindInput: jsonInput(tc.input)})
			st := grpcstatus.Convert(err)
			require.Equal(t, codes.InvalidArgument, st.Code(), "%v", err)
			require.Contains(t, st.Message(), tc.message)
			require.Contains(t, violations(st.Details()), tc.field)
		})
		t.Run("http "+tc.name, func(t *testing.T) {
			status, body := httpPost(t, "http://"+p.addr+"/v1/operations:start", `{"kind":"`+tc.kind+`","input":`+tc.input+`}`)
			require.Equal(t, http.StatusBadRequest, status, body)
			var res struct {
				Error struct {
					Status  string
					Message string
					Details []struct {
						Type            string `json:"@type"`
						FieldViolations []struct{ Field string }
					}
				}
			}
			require.NoError(t, json.Unmarshal([]byte(body), &res), body)
			st := res.Error
			require.Equal(t, "INVALID_ARGUMENT", st.Status)
			require.Contains(t, st.Message, tc.message)
			var fields []string
			for _, d := range st.Details {
				for _, v := range d.FieldViolations {
					fields = append(fields, v.Field)
				}
			}
			require.Contains(t, fields, tc.field, body)
		})
	}
	ops := longrunningpb.NewOperationsClient(conn)
	list, err := ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations"})
	require.NoError(t, err)
	require.Empty(t, list.GetOperations(), "a refused start stores nothing")

	// Valid starts: JSON, typed JSON, and typed_input as the dynamic type.
	files, err := protodesc.NewFiles(kindfiletest.FileSet())
	require.NoError(t, err)
	d, err := files.FindDescriptorByName(kindfiletest.Package + ".ResizeRequest")
	require.NoError(t, err)
	req := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	require.NoError(t, protojson.Unmarshal([]byte(`{"source": "b.png", "size": 7, "mode": "MODE_FAST"}`), req))
	typed, err := anypb.New(req)
	require.NoError(t, err)
	var names []string
	for _, start := range []*lropb.StartOperationRequest{
		{Kind: "report.build", KindInput: jsonInput(`{"title": "Q3", "pages": 12}`)},
		{Kind: "media.resize", KindInput: jsonInput(`{"source": "a.png", "size": 3, "box": {"width": 2}}`)},
		{Kind: "media.resize", KindInput: &lropb.StartOperationRequest_TypedInput{TypedInput: typed}},
	} {
		op, err := c.StartOperation(ctx, start)
		require.NoError(t, err, "start %v", start)
		require.False(t, op.GetDone())
		names = append(names, op.GetName())
	}
	// typed_input over HTTP: the transcoder resolves the dynamic type.
	status, body := httpPost(t, "http://"+p.addr+"/v1/operations:start",
		`{"kind":"media.resize","typedInput":{"@type":"type.googleapis.com/kindfiletest.v1.ResizeRequest","source":"c.png","size":2}}`)
	require.Equal(t, http.StatusOK, status, body)
	var started longrunningpb.Operation
	require.NoError(t, protojson.Unmarshal([]byte(body), &started), body)
	names = append(names, started.GetName())
	status, body = httpPost(t, "http://"+p.addr+"/v1/operations:start",
		`{"kind":"media.resize","typedInput":{"@type":"type.googleapis.com/kindfiletest.v1.ResizeRequest","sise":2}}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "sise")

	for _, name := range names {
		var header metadata.MD
		op, err := ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name}, grpc.Header(&header))
		require.NoError(t, err)
		require.False(t, op.GetDone())
		require.Equal(t, []string{"pending"}, header.Get(lrogrpc.StateHeader), "%s waits for a worker", name)
	}
	// An operation of a dynamic kind renders over HTTP too.
	status, body = httpGet(ctx, t, p.addr, "", "/v1/"+names[2])
	require.Equal(t, http.StatusOK, status, body)
	list, err = ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations"})
	require.NoError(t, err)
	require.Len(t, list.GetOperations(), len(names))
}

// violations are the fields of the BadRequest details.
func violations(details []any) []string {
	var fields []string
	for _, d := range details {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}
