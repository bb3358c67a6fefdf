package lrohttp_test

// Golden tests of the raw HTTP/JSON exchanges: each case sends one request
// with the standard library's client and compares the status, the
// Content-Type (and Allow) headers and the body, with the volatile parts
// normalised, to testdata/<case>.golden. Run with -update to rewrite them.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/googleapis/gax-go/v2/apierror"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/internal/demo"
	"lro.dev/lro/internal/testkinds"
	"lro.dev/lro/lrohttp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCase is one request of TestGolden. Its path and body may hold
// {placeholders}, replaced by the values in vars (fixture names, captured
// values).
type goldenCase struct {
	name   string // testdata/<name>.golden
	method string
	path   string
	body   string
	// makeBody, if set, makes the request body instead of body: for bodies
	// too large to show, or streamed without a Content-Length.
	makeBody func() (r io.Reader, length int64, desc string)
	// contentType of the request; "application/json" when there is a body
	// and this is empty; "none" sends no Content-Type.
	contentType string
	// header holds further request headers.
	header map[string]string
	status int
	// errStatus is the google.rpc.Code name of an error response, which is
	// checked to be in Google's JSON error format; every error must leave
	// the store as it was.
	errStatus string
	// check runs extra checks on the response and may capture values into
	// vars for the next cases.
	check func(t *testing.T, r *response, vars map[string]string)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lro.Config{})
	const listParent = "projects/p/locations/list"
	collections := []string{"operations", testParent + "/operations", listParent + "/operations"}

	// The fixtures: operations in each state.
	vars := map[string]string{}
	vars["running"], _ = e.startHeld(t, "", kindBlock, "running")
	vars["meta"], _ = e.startHeld(t, "", kindMeta, "meta")
	e.awaitMetadata(t, vars["meta"])
	vars["cancelme"], _ = e.startHeld(t, "", kindBlock, "cancelme")
	vars["succeeded"] = e.start(t, "", kindEcho, `{"failMessage":"hello"}`)
	vars["empty"] = e.start(t, "", kindEmpty, "")
	vars["failed"] = e.start(t, "", kindFail, `"f"`)
	vars["slept"] = e.start(t, "", demo.KindSleep, `{"duration":"0.01s"}`)
	cancelled, cancelledGate := e.startHeld(t, "", kindBlock, "cancelled")
	vars["cancelled"] = cancelled
	require.Equal(t, "{}", string(compactJSON(t, e.do(t, http.MethodPost, "/v1/"+cancelled+":cancel", "").body)))
	await(t, cancelledGate.Cause, "the cancellation to reach the handler")
	// The list collection, oldest first: three successes and a failure.
	for _, in := range []string{`{"failMessage":"a"}`, `{"failMessage":"b"}`, `{"failMessage":"c"}`} {
		vars["list"+in[len(in)-3:len(in)-2]] = e.start(t, listParent, kindEcho, in)
	}
	vars["listf"] = e.start(t, listParent, kindFail, `"lf"`)
	for _, key := range []string{"succeeded", "empty", "failed", "slept", "cancelled", "lista", "listb", "listc", "listf"} {
		e.waitDone(t, vars[key])
	}
	vars["unknown"] = "operations/" + uuid.NewString()
	vars["parented"] = e.start(t, testParent, kindEcho, "")
	e.waitDone(t, vars["parented"])

	// keys checks the top-level keys of an operation.
	keys := func(want ...string) func(t *testing.T, r *response, _ map[string]string) {
		return func(t *testing.T, r *response, _ map[string]string) {
			var got []string
			for k := range r.object(t) {
				got = append(got, k)
			}
			require.ElementsMatch(t, want, got, "the keys of %s", r.body)
		}
	}
	const tooLarge = lrohttp.MaxBodyBytesDefault + 1
	bigBody := `{"kind":"test.echo","input":{"failMessage":"` + strings.Repeat("x", tooLarge) + `"}}`

	cases := []goldenCase{
		// Starts.
		// The started operation blocks, so that the repeats find it in the
		// same state.
		{name: "start_default", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"test.block","input":"idem","requestId":"req-0001"}`,
			status: 200, check: func(t *testing.T, r *response, vars map[string]string) {
				op := r.object(t)
				require.Regexp(t, `^operations/[0-9a-f-]{36}$`, op["name"])
				vars["started"] = op["name"].(string)
			}},
		{name: "start_repeat", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"test.block","input":"idem","requestId":"req-0001"}`,
			status: 200, check: func(t *testing.T, r *response, vars map[string]string) {
				require.Equal(t, vars["started"], r.object(t)["name"], "a repeat of a request_id returns the first operation")
			}},
		{name: "start_snake_case", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"test.block","typed_input":{"@type":"` + testkinds.TypeStringValue + `","value":"idem"},"request_id":"req-0001"}`,
			status: 200, check: func(t *testing.T, r *response, vars map[string]string) {
				require.Equal(t, vars["started"], r.object(t)["name"], "proto field names, and the same input typed, are the same request")
			}},
		{name: "start_parent", method: "POST", path: "/v1/projects/p/locations/l/operations:start",
			body:   `{"kind":"test.echo","requestId":"req-0001"}`,
			status: 200, check: func(t *testing.T, r *response, _ map[string]string) {
				require.Regexp(t, `^projects/p/locations/l/operations/[0-9a-f-]{36}$`, r.object(t)["name"], "request IDs are scoped by parent")
			}},
		{name: "start_charset_utf8", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "application/json; charset=UTF-8", status: 200},
		{name: "start_typed_input", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"test.echo","typedInput":{"@type":"type.googleapis.com/lro.demo.v1.SleepRequest","failMessage":"typed"}}`,
			status: 200},
		{name: "start_demo_sleep", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"demo.sleep","input":{"duration":"0.01s"}}`,
			status: 200, check: func(t *testing.T, r *response, _ map[string]string) {
				meta, _ := r.object(t)["metadata"].(map[string]any)
				require.Equal(t, testkinds.TypeSleepMetadata, meta["@type"], "the start's answer carries the kind's initial metadata")
				require.Contains(t, meta, "startTime")
			}},
		{name: "start_mismatched_request_id", method: "POST", path: "/v1/operations:start",
			body:   `{"kind":"test.block","input":"other","requestId":"req-0001"}`,
			status: 409, errStatus: "ALREADY_EXISTS"},

		// Gets.
		{name: "get_running", method: "GET", path: "/v1/{running}", status: 200, check: keys("name")},
		{name: "get_running_metadata", method: "GET", path: "/v1/{meta}", status: 200, check: keys("name", "metadata")},
		{name: "get_succeeded", method: "GET", path: "/v1/{succeeded}", status: 200, check: keys("name", "done", "response")},
		{name: "get_succeeded_empty_response", method: "GET", path: "/v1/{empty}", status: 200, check: keys("name", "done", "response")},
		{name: "get_failed", method: "GET", path: "/v1/{failed}", status: 200, check: keys("name", "done", "error")},
		{name: "get_cancelled", method: "GET", path: "/v1/{cancelled}", status: 200, check: keys("name", "done", "error")},
		{name: "get_demo_sleep", method: "GET", path: "/v1/{slept}", status: 200, check: keys("name", "done", "metadata", "response")},
		{name: "get_parented", method: "GET", path: "/v1/{parented}", status: 200},
		{name: "get_system_parameters_ignored", method: "GET", path: "/v1/{succeeded}?$alt=json;enum-encoding=int&$prettyPrint=false", status: 200},

		// Lists.
		{name: "list_page_1", method: "GET", path: "/v1/" + listParent + "/operations?pageSize=2", status: 200,
			check: func(t *testing.T, r *response, vars map[string]string) {
				var page struct {
					Operations    []map[string]any
					NextPageToken string
				}
				require.NoError(t, json.Unmarshal(r.body, &page))
				require.Len(t, page.Operations, 2)
				require.Equal(t, vars["listf"], page.Operations[0]["name"], "newest first")
				require.NotEmpty(t, page.NextPageToken)
				vars["token"] = page.NextPageToken
			}},
		{name: "list_page_2", method: "GET", path: "/v1/" + listParent + "/operations?pageSize=2&pageToken={token}", status: 200,
			check: func(t *testing.T, r *response, vars map[string]string) {
				op := r.object(t)
				require.NotContains(t, op, "nextPageToken", "the last page has no token")
				require.Len(t, op["operations"], 2)
			}},
		{name: "list_snake_case_parameters", method: "GET", path: "/v1/" + listParent + "/operations?page_size=1&page_token={token}", status: 200},
		{name: "list_filter", method: "GET", path: "/v1/" + listParent + "/operations?filter=error.code%20%3D%209", status: 200,
			check: func(t *testing.T, r *response, vars map[string]string) {
				require.Len(t, r.object(t)["operations"], 1)
			}},
		{name: "list_filter_response_type", method: "GET",
			path:   "/v1/" + listParent + "/operations?filter=" + queryEscape(`done = true AND response.@type = "`+testkinds.TypeStringValue+`"`),
			status: 200, check: func(t *testing.T, r *response, vars map[string]string) {
				require.Len(t, r.object(t)["operations"], 3)
			}},
		{name: "list_parent_as_name", method: "GET", path: "/v1/" + testParent + "/operations?filter=" + queryEscape(`kind = "test.echo"`), status: 200},
		{name: "list_empty", method: "GET", path: "/v1/projects/p/locations/empty/operations", status: 200},

		// Waits.
		{name: "wait_running_timeout", method: "POST", path: "/v1/{running}:wait", body: `{"timeout":"0.2s"}`, status: 200, check: keys("name")},
		{name: "wait_done", method: "POST", path: "/v1/{succeeded}:wait", body: `{"timeout":"0.2s"}`, status: 200, check: keys("name", "done", "response")},
		{name: "wait_done_no_body", method: "POST", path: "/v1/{succeeded}:wait", status: 200, check: keys("name", "done", "response")},

		// Cancel and delete.
		{name: "cancel", method: "POST", path: "/v1/{cancelme}:cancel", body: `{}`, status: 200,
			check: func(t *testing.T, r *response, vars map[string]string) {
				op := e.waitDone(t, vars["cancelme"])
				require.Equal(t, float64(1), op["error"].(map[string]any)["code"], "a cancelled operation ends with CANCELLED: %v", op)
			}},
		{name: "cancel_done_no_body", method: "POST", path: "/v1/{succeeded}:cancel", status: 200},
		{name: "delete", method: "DELETE", path: "/v1/{empty}", status: 200,
			check: func(t *testing.T, r *response, vars map[string]string) {
				require.Equal(t, http.StatusNotFound, e.do(t, "GET", "/v1/"+vars["empty"], "").status, "deleted")
			}},

		// Kinds.
		{name: "kinds", method: "GET", path: "/v1/kinds", status: 200},

		// Errors.
		{name: "err_unknown_route", method: "GET", path: "/v1/nothing/here", status: 404, errStatus: "NOT_FOUND"},
		{name: "err_unknown_route_root", method: "GET", path: "/", status: 404, errStatus: "NOT_FOUND"},
		{name: "err_unknown_version", method: "GET", path: "/v2/operations", status: 404, errStatus: "NOT_FOUND"},
		// A method of other routes on a known path: 405 with the path's
		// methods in Allow (RFC 9110 §15.5.6), code UNIMPLEMENTED.
		{name: "err_wrong_verb", method: "POST", path: "/v1/{succeeded}", body: `{}`, status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("DELETE", "GET", "HEAD", "OPTIONS")},
		{name: "err_wrong_verb_collection", method: "POST", path: "/v1/operations", body: `{}`, status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("GET", "HEAD", "OPTIONS")},
		{name: "err_wrong_verb_start", method: "GET", path: "/v1/operations:start", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("OPTIONS", "POST")},
		{name: "err_wrong_verb_wait", method: "GET", path: "/v1/{running}:wait", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("OPTIONS", "POST")},
		{name: "err_wrong_verb_workers", method: "GET", path: "/v1/workers:claim", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("OPTIONS", "POST")},
		{name: "err_wrong_verb_workers_delete", method: "DELETE", path: "/v1/workers:finish", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("OPTIONS", "POST")},
		{name: "err_wrong_verb_parent", method: "DELETE", path: "/v1/" + testParent + "/operations", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("GET", "HEAD", "OPTIONS")},
		{name: "err_wrong_verb_parent_operation", method: "POST", path: "/v1/{parented}", body: `{}`, status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("DELETE", "GET", "HEAD", "OPTIONS")},
		{name: "err_wrong_verb_parent_start", method: "DELETE", path: "/v1/" + testParent + "/operations:start", status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("OPTIONS", "POST")},
		{name: "err_wrong_verb_kinds", method: "POST", path: "/v1/kinds", body: `{}`, status: 405, errStatus: "UNIMPLEMENTED",
			check: allows("GET", "HEAD", "OPTIONS")},
		// A method that no route takes is implemented for no resource:
		// 501 on any path (RFC 9110 §9.1, §15.6.2), before the body is read.
		{name: "err_method_not_implemented", method: "BREW", path: "/v1/{succeeded}", status: 501, errStatus: "UNIMPLEMENTED",
			check: allows()},
		{name: "err_method_not_implemented_put", method: "PUT", path: "/v1/{succeeded}", body: `{}`, status: 501, errStatus: "UNIMPLEMENTED",
			check: allows()},
		{name: "err_method_not_implemented_patch_form", method: "PATCH", path: "/v1/operations:start", body: `kind=x`,
			contentType: "application/x-www-form-urlencoded", status: 501, errStatus: "UNIMPLEMENTED", check: allows()},
		{name: "err_method_not_implemented_unknown_path", method: "BREW", path: "/v1/nothing/here", status: 501, errStatus: "UNIMPLEMENTED",
			check: allows()},
		{name: "err_malformed_json", method: "POST", path: "/v1/operations:start", body: `{"kind":`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_unknown_body_field", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo","bogus":1}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_unknown_query_parameter", method: "GET", path: "/v1/operations?bogus=1", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_unknown_query_parameter_of_post", method: "POST", path: "/v1/operations:start?bogus=1", body: `{"kind":"test.echo"}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_both_inputs", method: "POST", path: "/v1/operations:start",
			body: `{"kind":"test.echo","input":{},"typedInput":{"@type":"type.googleapis.com/lro.demo.v1.SleepRequest"}}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_duplicate_field", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo","kind":"test.empty"}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_body_not_an_object", method: "POST", path: "/v1/operations:start", body: `[]`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_wrong_json_type", method: "POST", path: "/v1/operations:start", body: `{"kind":5}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_wrong_query_type", method: "GET", path: "/v1/operations?pageSize=many", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type", method: "POST", path: "/v1/operations:start", body: `kind=test.echo`, contentType: "text/plain", status: 415, errStatus: "INVALID_ARGUMENT"},
		// Form and text types are what a web page can send anywhere
		// without a CORS preflight: refused, JSON inside or not.
		{name: "err_content_type_form", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "application/x-www-form-urlencoded", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type_multipart", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "multipart/form-data; boundary=x", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type_text_json", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "text/plain;charset=UTF-8", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type_form_cancel_no_body", method: "POST", path: "/v1/{running}:cancel",
			contentType: "application/x-www-form-urlencoded", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type_charset", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "application/json; charset=latin1", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_type_missing", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			contentType: "none", status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_content_encoding", method: "POST", path: "/v1/operations:start", body: `{"kind":"test.echo"}`,
			header: map[string]string{"Content-Encoding": "gzip"}, status: 415, errStatus: "INVALID_ARGUMENT"},
		{name: "err_start_no_body", method: "POST", path: "/v1/operations:start", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_start_no_body_chunked", method: "POST", path: "/v1/operations:start",
			makeBody: func() (io.Reader, int64, string) {
				return io.MultiReader(), -1, "<no bytes, chunked>"
			},
			status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_start_not_utf8", method: "POST", path: "/v1/operations:start", body: "{\"kind\":\"\xff\xfe\"}", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_wait_not_utf8", method: "POST", path: "/v1/{running}:wait", body: "\xff", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_cancel_not_utf8", method: "POST", path: "/v1/{running}:cancel", body: "{\"x\xc3\":1}", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_page_size_out_of_range", method: "GET", path: "/v1/operations?page_size=99999999999", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_page_size_twice", method: "GET", path: "/v1/operations?pageSize=1&page_size=2", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_partial_success_not_bool", method: "GET", path: "/v1/operations?returnPartialSuccess=maybe", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_filter_not_utf8", method: "GET", path: "/v1/operations?filter=%ff", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_too_large", method: "POST", path: "/v1/operations:start",
			makeBody: func() (io.Reader, int64, string) {
				return strings.NewReader(bigBody), int64(len(bigBody)), fmt.Sprintf("<%d bytes, with Content-Length>", len(bigBody))
			},
			status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_too_large_chunked", method: "POST", path: "/v1/operations:start",
			makeBody: func() (io.Reader, int64, string) {
				// A reader of unknown length: the client sends it chunked.
				return io.MultiReader(strings.NewReader(bigBody)), -1, fmt.Sprintf("<%d bytes, chunked>", len(bigBody))
			},
			status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_unknown_kind", method: "POST", path: "/v1/operations:start", body: `{"kind":"no.such.kind"}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_bad_input", method: "POST", path: "/v1/operations:start", body: `{"kind":"demo.sleep","input":{"duration":"soon"}}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_bad_filter", method: "GET", path: "/v1/operations?filter=" + queryEscape("done == true"), status: 400, errStatus: "INVALID_ARGUMENT",
			check: func(t *testing.T, r *response, _ map[string]string) {
				require.Contains(t, googleError(t, r).Message, "column", "the message locates the error")
			}},
		{name: "err_forged_page_token", method: "GET", path: "/v1/operations?pageToken=Zm9yZ2Vk", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_page_token_of_other_list", method: "GET", path: "/v1/operations?pageSize=2&pageToken={token}", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_negative_page_size", method: "GET", path: "/v1/operations?pageSize=-1", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_partial_success", method: "GET", path: "/v1/operations?returnPartialSuccess=true", status: 501, errStatus: "UNIMPLEMENTED"},
		{name: "err_malformed_name", method: "GET", path: "/v1/operations/xyz", status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_unknown_name", method: "GET", path: "/v1/{unknown}", status: 404, errStatus: "NOT_FOUND"},
		{name: "err_cancel_unknown_name", method: "POST", path: "/v1/{unknown}:cancel", status: 404, errStatus: "NOT_FOUND"},
		{name: "err_delete_running", method: "DELETE", path: "/v1/{running}", status: 400, errStatus: "FAILED_PRECONDITION"},
		{name: "err_wait_negative_timeout", method: "POST", path: "/v1/{running}:wait", body: `{"timeout":"-1s"}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_wait_malformed_timeout", method: "POST", path: "/v1/{running}:wait", body: `{"timeout":"soon"}`, status: 400, errStatus: "INVALID_ARGUMENT"},
		{name: "err_start_parent_not_routed", method: "POST", path: "/v1/projects/p/operations:start", body: `{"kind":"test.echo"}`, status: 404, errStatus: "NOT_FOUND"},
	}

	names := map[string]bool{}
	for _, tc := range cases {
		require.False(t, names[tc.name], "duplicate case %s", tc.name)
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			before := e.count(t, collections...)
			path := expand(tc.path, vars)
			body := expand(tc.body, vars)
			var (
				reader   io.Reader
				length   int64
				bodyDesc = body
			)
			switch {
			case tc.makeBody != nil:
				reader, length, bodyDesc = tc.makeBody()
			case body != "":
				reader, length = strings.NewReader(body), int64(len(body))
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, e.base+path, reader)
			require.NoError(t, err)
			req.ContentLength = length
			contentType := tc.contentType
			if contentType == "" && reader != nil {
				contentType = "application/json"
			}
			if contentType == "none" {
				contentType = ""
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			started := time.Now()
			r := e.send(t, req)
			elapsed := time.Since(started)

			require.Equal(t, tc.status, r.status, "%s %s: %s", tc.method, path, r.body)
			if tc.errStatus != "" {
				requireGoogleError(t, r, tc.status, tc.errStatus)
				require.Equal(t, before, e.count(t, collections...), "a rejected request changes nothing")
			} else {
				require.Equal(t, "application/json", r.header.Get("Content-Type"))
			}
			if tc.name == "wait_running_timeout" {
				require.GreaterOrEqual(t, elapsed, 190*time.Millisecond, "the wait lasts its timeout")
			}
			if tc.check != nil {
				tc.check(t, r, vars)
			}
			exchange := formatExchange(t, tc.method, path, contentType, tc.header, bodyDesc, r)
			if tc.errStatus != "" {
				exchange += clientView(t, r)
			}
			compareGolden(t, tc.name, exchange)
		})
	}

	t.Run("NoStrayGoldens", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
		require.NoError(t, err)
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".golden")
			if !names[name] {
				if *update {
					require.NoError(t, os.Remove(f))
					continue
				}
				t.Errorf("%s belongs to no case (run with -update to remove it)", f)
			}
		}
	})
}

// allows checks the Allow header of a response as a set of methods (none:
// no Allow header).
func allows(want ...string) func(t *testing.T, r *response, _ map[string]string) {
	return func(t *testing.T, r *response, _ map[string]string) {
		t.Helper()
		if len(want) == 0 {
			require.Empty(t, r.header.Values("Allow"))
			return
		}
		require.ElementsMatch(t, want, allowSet(t, r.header), "Allow: %q", r.header.Values("Allow"))
	}
}

// allowSet is the set of methods in the Allow header of h, each once.
func allowSet(t *testing.T, h http.Header) []string {
	t.Helper()
	var methods []string
	for _, v := range h.Values("Allow") {
		for m := range strings.SplitSeq(v, ",") {
			m = strings.TrimSpace(m)
			require.NotContains(t, methods, m, "Allow: %q", h.Values("Allow"))
			methods = append(methods, m)
		}
	}
	return methods
}

func queryEscape(s string) string { return url.QueryEscape(s) }

// expand replaces the {placeholders} of s.
func expand(s string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// The volatile parts of an exchange.
var (
	uuidPattern      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern      = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`)
	durationPattern  = regexp.MustCompile(`("slept": )"[0-9.]+s"`)
	tokenPattern     = regexp.MustCompile(`("nextPageToken": )"[^"]+"`)
	tokenParamPattrn = regexp.MustCompile(`([pP]age_?[tT]oken=)[^&\s]+`)
	leaseTokenPattrn = regexp.MustCompile(`("leaseToken":\s*)"([^"]+)"`)
)

func normalize(s string) string {
	s = uuidPattern.ReplaceAllString(s, "{id}")
	s = timePattern.ReplaceAllString(s, `"{time}"`)
	s = durationPattern.ReplaceAllString(s, `$1"{duration}"`)
	s = tokenPattern.ReplaceAllString(s, `$1"{token}"`)
	s = tokenParamPattrn.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasSuffix(m, "=Zm9yZ2Vk") { // the forged one stays
			return m
		}
		return m[:strings.Index(m, "=")+1] + "{token}"
	})
	s = leaseTokenPattrn.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasSuffix(m, `"Zm9yZ2Vk"`) { // the forged one stays
			return m
		}
		return m[:strings.Index(m, ":")+1] + ` "{token}"`
	})
	// protobuf-go's error messages start with "proto:" and a space or a
	// non-breaking space, chosen per binary.
	s = strings.ReplaceAll(s, "proto:\u00a0", "proto: ")
	return s
}

// formatExchange renders a request and its response for a golden file.
func formatExchange(t *testing.T, method, path, contentType string, header map[string]string, body string, r *response) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", method, path)
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\n", contentType)
	}
	for _, k := range slices.Sorted(maps.Keys(header)) {
		fmt.Fprintf(&b, "%s: %s\n", k, header[k])
	}
	if !utf8.ValidString(body) {
		body = "<not UTF-8> " + strconv.Quote(body)
	}
	if body != "" {
		fmt.Fprintf(&b, "\n%s\n", body)
	}
	fmt.Fprintf(&b, "\n--- response\n\nHTTP %d %s\n", r.status, http.StatusText(r.status))
	// Every header but the volatile ones, sorted.
	var headers []string
	for k := range r.header {
		if k != "Date" && k != "Content-Length" {
			headers = append(headers, k)
		}
	}
	slices.Sort(headers)
	for _, k := range headers {
		vals := r.header.Values(k)
		if k == "Lro-Lease-Expire-Time" {
			vals = []string{"{time}"}
		}
		if k == "Allow" {
			// vanguard builds Allow from a map: its order varies.
			var methods []string
			for _, a := range vals {
				for m := range strings.SplitSeq(a, ",") {
					methods = append(methods, strings.TrimSpace(m))
				}
			}
			slices.Sort(methods)
			vals = []string{strings.Join(methods, ",")}
		}
		for _, v := range vals {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	var indented bytes.Buffer
	if err := json.Indent(&indented, compactJSON(t, r.body), "", "  "); err != nil {
		t.Fatalf("body does not indent: %v", err)
	}
	b.Write(indented.Bytes())
	b.WriteString("\n")
	return normalize(b.String())
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), got, "the exchange differs from %s (run with -update to accept it)", path)
}

// clientView renders what Google's Go clients make of an error response:
// googleapi.CheckResponse, then apierror (as gax.Invoke does). The code
// they expose comes from the HTTP status alone, not from "status".
func clientView(t *testing.T, r *response) string {
	t.Helper()
	resp := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body))}
	err := googleapi.CheckResponseWithBody(resp, r.body)
	require.Error(t, err)
	ae, ok := apierror.FromError(err)
	require.True(t, ok, "%T %v", err, err)
	d := ae.Details()
	require.NotNil(t, d.ErrorInfo, "Google's client finds the ErrorInfo (the body parses as its error schema): %s", r.body)
	require.Empty(t, d.Unknown, "Google's client knows every detail")
	var details []string
	for name, present := range map[string]bool{
		"ErrorInfo": d.ErrorInfo != nil, "BadRequest": d.BadRequest != nil, "PreconditionFailure": d.PreconditionFailure != nil,
		"ResourceInfo": d.ResourceInfo != nil, "LocalizedMessage": d.LocalizedMessage != nil,
	} {
		if present {
			details = append(details, name)
		}
	}
	slices.Sort(details)
	return fmt.Sprintf("\n--- Google's Go client (googleapi, apierror)\n\nstatus.Code: %s\nHTTPCode: %d\nReason: %s\nDomain: %s\nDetails: %s\n",
		codeName(status.Code(ae)), ae.HTTPCode(), ae.Reason(), ae.Domain(), strings.Join(details, ", "))
}

func codeName(c codes.Code) string { return code.Code(c).String() }

// googleJSONError is Google's JSON error format.
type googleJSONError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details"`
}

func googleError(t *testing.T, r *response) *googleJSONError {
	t.Helper()
	var body struct {
		Error *googleJSONError `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), "body %s", r.body)
	require.NotNil(t, body.Error, "body %s", r.body)
	return body.Error
}

// aip193Status is the HTTP status of each google.rpc.Code, by AIP-193.
var aip193Status = map[string]int{
	"CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
	"NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
	"FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
	"INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}

var reasonPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// requireGoogleError checks that r is an error in Google's JSON format:
// {"error": {"code": <the HTTP status>, "message", "status": <name>,
// "details": [... one ErrorInfo of domain lro.dev ...]}}. It returns the
// ErrorInfo's reason.
func requireGoogleError(t *testing.T, r *response, httpStatus int, codeName string) string {
	t.Helper()
	require.Equal(t, httpStatus, r.status, "body %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	ge := googleError(t, r)
	require.Equal(t, httpStatus, ge.Code, "error.code is the HTTP status: %s", r.body)
	require.Equal(t, codeName, ge.Status, "body %s", r.body)
	require.NotEmpty(t, ge.Message)
	switch httpStatus {
	case http.StatusUnsupportedMediaType:
		// AIP-193 has no code for it: lrohttp says INVALID_ARGUMENT.
		require.Equal(t, "INVALID_ARGUMENT", codeName)
	case http.StatusMethodNotAllowed:
		// Nor for this one: UNIMPLEMENTED, as grpc-gateway says.
		require.Equal(t, "UNIMPLEMENTED", codeName)
	default:
		require.Equal(t, aip193Status[codeName], httpStatus, "the HTTP status of %s (AIP-193)", codeName)
	}
	var reasons []string
	for _, d := range ge.Details {
		require.Contains(t, d, "@type", "detail %v", d)
		if d["@type"] == typeErrorInfo {
			require.Equal(t, lro.ErrorDomain, d["domain"])
			reasons = append(reasons, d["reason"].(string))
		}
	}
	require.Len(t, reasons, 1, "one ErrorInfo in %s", r.body)
	require.Regexp(t, reasonPattern, reasons[0])
	require.LessOrEqual(t, len(reasons[0]), 63)
	return reasons[0]
}
