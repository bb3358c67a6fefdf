// Package lrohttp serves the HTTP/JSON mapping of lro's gRPC services
// (google.longrunning.Operations, lro.v1.Lro and lro.v1.Workers),
// transcoded by vanguard from the services' google.api.http annotations,
// so that curl, browsers, scripts and Google's REST clients can start and
// follow operations, and workers that have only an HTTP client can run
// them.
//
// The routes, for the default collection:
//
//	POST   /v1/operations:start           Lro.StartOperation (body: the request)
//	GET    /v1/kinds                      Lro.ListKinds
//	GET    /v1/operations                 Operations.ListOperations (?filter=&pageSize=&pageToken=)
//	GET    /v1/operations/{id}            Operations.GetOperation
//	POST   /v1/operations/{id}:cancel     Operations.CancelOperation
//	POST   /v1/operations/{id}:wait       Operations.WaitOperation (body: {"timeout": "10s"})
//	DELETE /v1/operations/{id}            Operations.DeleteOperation
//	POST   /v1/workers:claim              Workers.ClaimOperations (body: the request)
//	POST   /v1/workers:renew              Workers.RenewLeases (body: the request)
//	POST   /v1/workers:finish             Workers.FinishOperations (body: the request)
//	POST   /v1/workers:release            Workers.ReleaseOperations (body: the request)
//
// and for each parent pattern in Config.Parents, such as
// "projects/*/locations/*", the same under /v1/projects/{p}/locations/{l}/
// (with GET /v1/{parent}/operations listing the parent's operations).
//
// Bodies and responses use the protobuf JSON mapping (lowerCamelCase fields;
// Any as an object with "@type"). Only lists take query parameters (filter,
// pageSize, pageToken): elsewhere a query parameter could override a field
// that the path binds, so any is INVALID_ARGUMENT, as are unknown body
// fields; Google's system parameters, whose names start with "$" (Google's
// REST clients send "$alt"), are ignored. A body over the limit, or not
// valid UTF-8, is INVALID_ARGUMENT. A body must be sent with Content-Type
// application/json (charset utf-8, or none) and no Content-Encoding; any
// other type, above all the form and text types that any web page can make
// a browser send, is refused with HTTP 415 (code INVALID_ARGUMENT, reason
// UNSUPPORTED_MEDIA_TYPE). A POST without a body is the empty request, {}.
// Errors use Google's JSON error format,
//
//	{"error": {"code": 404, "message": "…", "status": "NOT_FOUND", "details": [{"@type": …}]}}
//
// with the HTTP status of the google.rpc.Code (AIP-193), and always carry a
// google.rpc.ErrorInfo.
//
// Methods follow RFC 9110. The routes take GET, POST and DELETE; HEAD of a
// GET route is the GET without its body, and OPTIONS on any route answers
// 204 No Content with its Allow header (and no CORS headers). A known path
// with another of these methods is 405 Method Not Allowed, with Allow and
// code UNIMPLEMENTED (reason METHOD_NOT_ALLOWED), as grpc-gateway answers;
// any other method (PUT, PATCH, an unknown one), implemented for no
// resource, is 501 Not Implemented on every path (UNIMPLEMENTED, reason
// METHOD_NOT_IMPLEMENTED).
//
// [CheckHost] wraps a handler to refuse requests whose Host is not one of
// the server's, against DNS rebinding. [AllowMethods] wraps a path of the
// server's own, such as a health check, to answer methods as the routes
// do.
package lrohttp

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/vanguard"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro"
	"lro.dev/lro/internal/httperr"
)

// MaxBodyBytesDefault is the default cap of a request body.
const MaxBodyBytesDefault = 1 << 20

// Config configures the handler. The zero value serves the default
// collection with a 1 MiB body limit.
type Config struct {
	// Parents are the parent patterns under which operations are named
	// besides the default collection, such as "projects/*/locations/*":
	// an even number of segments, each a literal or "*".
	Parents []string

	// MaxBodyBytes caps request bodies. Default MaxBodyBytesDefault (1 MiB).
	MaxBodyBytes int64
}

const (
	operationsService = "google.longrunning.Operations"
	lroService        = "lro.v1.Lro"
	workersService    = "lro.v1.Workers"
)

// NewHandler returns the HTTP/JSON handler of the Operations, Lro and
// Workers services registered on s (see lrogrpc.Register). Calls are
// handed to s in-process.
func NewHandler(s *grpc.Server, config *Config) (http.Handler, error) {
	if config == nil {
		config = &Config{}
	}
	rules := []*annotations.HttpRule{
		// WaitOperation has no binding in the proto; this one is lro's.
		post(operationsService+".WaitOperation", "/v1/{name=operations/**}:wait"),
	}
	for _, parent := range config.Parents {
		if err := validatePattern(parent); err != nil {
			return nil, err
		}
		rules = append(rules,
			get(operationsService+".GetOperation", "/v1/{name="+parent+"/operations/*}"),
			get(operationsService+".ListOperations", "/v1/{name="+parent+"}/operations"),
			post(operationsService+".CancelOperation", "/v1/{name="+parent+"/operations/*}:cancel"),
			post(operationsService+".WaitOperation", "/v1/{name="+parent+"/operations/*}:wait"),
			del(operationsService+".DeleteOperation", "/v1/{name="+parent+"/operations/*}"),
			post(lroService+".StartOperation", "/v1/{parent="+parent+"}/operations:start"),
		)
	}
	codec := func(res vanguard.TypeResolver) vanguard.Codec {
		return &vanguard.JSONCodec{
			MarshalOptions:   protojson.MarshalOptions{Resolver: res},
			UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res},
		}
	}
	var services []*vanguard.Service
	for _, name := range []string{operationsService, lroService, workersService} {
		if _, ok := s.GetServiceInfo()[name]; !ok {
			return nil, fmt.Errorf("lrohttp: %s is not registered on the gRPC server (call lrogrpc.Register first)", name)
		}
		services = append(services, vanguard.NewService(name, s,
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
		))
	}
	transcoder, err := vanguard.NewTranscoder(services,
		vanguard.WithRules(rules...),
		vanguard.WithCodec(codec),
		vanguard.WithUnknownHandler(http.HandlerFunc(notFound)),
	)
	if err != nil {
		return nil, fmt.Errorf("lrohttp: %w", err)
	}
	return &handler{next: transcoder, maxBody: cmp.Or(config.MaxBodyBytes, MaxBodyBytesDefault)}, nil
}

func get(selector, path string) *annotations.HttpRule {
	return &annotations.HttpRule{Selector: selector, Pattern: &annotations.HttpRule_Get{Get: path}}
}

func post(selector, path string) *annotations.HttpRule {
	return &annotations.HttpRule{Selector: selector, Pattern: &annotations.HttpRule_Post{Post: path}, Body: "*"}
}

func del(selector, path string) *annotations.HttpRule {
	return &annotations.HttpRule{Selector: selector, Pattern: &annotations.HttpRule_Delete{Delete: path}}
}

func validatePattern(parent string) error {
	segments := strings.Split(parent, "/")
	if parent == "" || len(segments)%2 != 0 {
		return fmt.Errorf("lrohttp: parent pattern %q must have an even number of segments, such as projects/*/locations/*", parent)
	}
	for _, s := range segments {
		if s == "" || s == "**" || strings.ContainsAny(s, "{}=:? ") {
			return fmt.Errorf("lrohttp: parent pattern %q: each segment is a literal or *", parent)
		}
	}
	return nil
}

// handler checks and cleans requests before vanguard, and rewrites its error
// responses into Google's JSON error format.
type handler struct {
	next    http.Handler
	maxBody int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions:
	case http.MethodHead:
		// A GET whose body net/http does not send (RFC 9110 §9.3.2). On a
		// copy: the server reads the request it was given to know that
		// the response has no body, and with the method changed in place
		// it sent the GET's body after a HEAD's headers, where the
		// connection's next response belongs.
		r = r.WithContext(r.Context())
		r.Method = http.MethodGet
	default:
		notImplemented(w, method)
		return
	}
	if r.ContentLength > h.maxBody {
		writeError(w, http.StatusBadRequest, tooLarge(h.maxBody))
		return
	}
	if st := checkMediaType(r.Header); st != nil {
		writeError(w, http.StatusUnsupportedMediaType, st)
		return
	}
	if r.URL.RawQuery != "" && strings.HasPrefix(r.URL.Path, "/v1/") {
		if st := cleanQuery(r); st != nil {
			writeError(w, http.StatusBadRequest, st)
			return
		}
	}
	if status, st := h.readBody(w, r); st != nil {
		writeError(w, status, st)
		return
	}
	rw := &errorRewriter{w: w, r: r, method: method}
	h.next.ServeHTTP(rw, r)
	rw.finish()
}

// emptyRequest is the body of a POST sent without one: the request with
// every field unset, as on the routes whose path binds a field (a cancel
// or wait without a body), so that a start without a body is refused by
// the start's own checks (kind is required) like one with "{}".
var emptyRequest = []byte("{}")

// readBody reads the request body in full (it is small: at most maxBody)
// and hands it on as JSON, or returns the HTTP status and error that
// refuse it: too large, not valid UTF-8 (JSON is UTF-8, and a message that
// quotes invalid bytes cannot be sent back), or without a Content-Type
// that says JSON.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) (int, *spb.Status) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
			var tooLargeErr *http.MaxBytesError
			var netErr net.Error
			switch {
			case errors.As(err, &tooLargeErr):
				return http.StatusBadRequest, tooLarge(h.maxBody)
			case errors.As(err, &netErr) && netErr.Timeout():
				return http.StatusBadRequest, errorStatus(codes.InvalidArgument, "BODY_TIMEOUT", "the request body was not received in time")
			}
			return http.StatusBadRequest, errorStatus(codes.InvalidArgument, "BODY_UNREADABLE", "the request body could not be read")
		}
		body = buf.Bytes()
	}
	if len(body) == 0 {
		if r.Method != http.MethodPost {
			return 0, nil
		}
		body = emptyRequest
	} else {
		if r.Header.Get("Content-Type") == "" {
			return http.StatusUnsupportedMediaType, unsupportedMediaType("a request body must be JSON, sent with Content-Type: application/json")
		}
		if !utf8.Valid(body) {
			return http.StatusBadRequest, errorStatus(codes.InvalidArgument, "INVALID_UTF8",
				fmt.Sprintf("the request body is not valid UTF-8 (byte %d): JSON is UTF-8", invalidUTF8At(body)))
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Type", "application/json") // without parameters, for vanguard
	return 0, nil
}

// invalidUTF8At is the offset of the first byte of b that is not valid
// UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// checkMediaType refuses a request whose body, if it has one, would not be
// plain JSON: a Content-Type other than application/json (with charset
// utf-8, or none), or a Content-Encoding. Form and text types are refused
// above all because a web page can send them to any address without the
// browser asking the server first (a CORS "simple" request): read as JSON,
// they would let any page a local user visits start and cancel operations.
func checkMediaType(h http.Header) *spb.Status {
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return unsupportedMediaType(fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed", enc))
	}
	ct := h.Get("Content-Type")
	if ct == "" || ct == "application/json" {
		return nil
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/json" {
		hint := ""
		if mediaType == "application/x-www-form-urlencoded" {
			hint = " (curl -d sends this type: add -H 'Content-Type: application/json')"
		}
		return unsupportedMediaType(fmt.Sprintf("Content-Type %q is not supported: a request body must be JSON, sent with Content-Type: application/json%s", ct, hint))
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return unsupportedMediaType(fmt.Sprintf("Content-Type %q is not supported: JSON is UTF-8; the only parameter accepted is charset=utf-8", ct))
		}
	}
	return nil
}

// unsupportedMediaType is the error of a request refused for its
// Content-Type or Content-Encoding: INVALID_ARGUMENT (google.rpc.Code has
// no code of its own for it), sent with HTTP status 415.
func unsupportedMediaType(message string) *spb.Status {
	return errorStatus(codes.InvalidArgument, "UNSUPPORTED_MEDIA_TYPE", message)
}

// listParameters are the query parameters of ListOperations, the only
// route that takes any: on every other route the path and the body carry
// the request, and a query parameter could override a field the path
// binds (such as the name, and so the parent).
// Each maps to its field's JSON name.
var listParameters = map[string]string{
	"filter": "filter", "page_size": "pageSize", "pageSize": "pageSize", "page_token": "pageToken", "pageToken": "pageToken",
	"return_partial_success": "returnPartialSuccess", "returnPartialSuccess": "returnPartialSuccess",
}

// cleanQuery drops Google's system parameters, whose names start with "$"
// ($alt, sent by Google's REST clients, also percent-encoded), and returns
// an error for any parameter the route does not take, any given twice, and
// any whose value is not of its type.
func cleanQuery(r *http.Request) *spb.Status {
	isList := r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/operations")
	var kept []string
	var seen map[string]string // the fields given, by the name that gave them
	for _, pair := range strings.Split(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return invalidQuery(fmt.Sprintf("query parameter %q does not decode: %v", rawName, err))
		}
		switch {
		case strings.HasPrefix(name, "$"):
			// A system parameter: dropped, value and all (Google's clients
			// send $alt=json;enum-encoding=int, with a raw ";").
			continue
		case !isList || listParameters[name] == "":
			return errorStatus(codes.InvalidArgument, "UNKNOWN_QUERY_PARAMETER",
				fmt.Sprintf("query parameter %q is not accepted here: only a list (GET …/operations) takes query parameters, namely filter, pageSize and pageToken", name))
		}
		field := listParameters[name]
		if first, ok := seen[field]; ok {
			return invalidQuery(fmt.Sprintf("query parameter %q is given twice (as %q and %q)", field, first, name))
		}
		if seen == nil {
			seen = map[string]string{}
		}
		seen[field] = name
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return invalidQuery(fmt.Sprintf("the value of query parameter %q does not decode: %v", name, err))
		}
		if st := checkQueryValue(name, field, value); st != nil {
			return st
		}
		kept = append(kept, pair)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	return nil
}

// checkQueryValue checks the value of a list's query parameter against its
// field's type, so that the error names the parameter as the client wrote
// it and says what it must be.
func checkQueryValue(name, field, value string) *spb.Status {
	switch field {
	case "pageSize":
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return invalidQuery(fmt.Sprintf("query parameter %q must be an integer from -2147483648 to 2147483647, got %q", name, value))
			}
			return invalidQuery(fmt.Sprintf("query parameter %q must be an integer, got %q", name, value))
		}
	case "returnPartialSuccess":
		if value != "true" && value != "false" {
			return invalidQuery(fmt.Sprintf("query parameter %q must be true or false, got %q", name, value))
		}
	}
	if !utf8.ValidString(value) {
		return invalidQuery(fmt.Sprintf("the value of query parameter %q is not valid UTF-8", name))
	}
	return nil
}

func invalidQuery(message string) *spb.Status {
	return errorStatus(codes.InvalidArgument, "INVALID_QUERY", message)
}

func tooLarge(limit int64) *spb.Status {
	return errorStatus(codes.InvalidArgument, "REQUEST_TOO_LARGE", fmt.Sprintf("request body is larger than %d bytes", limit))
}

// notFound answers a request that no route matches.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, errorStatus(codes.NotFound, "ROUTE_NOT_FOUND",
		fmt.Sprintf("no route for %s %s; the routes are under /v1/operations and /v1/kinds", r.Method, r.URL.Path)))
}

// errorStatus builds a google.rpc.Status with an ErrorInfo.
func errorStatus(code codes.Code, reason, message string) *spb.Status {
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: reason, Domain: lro.ErrorDomain})
	return &spb.Status{Code: int32(code), Message: message, Details: []*anypb.Any{info}}
}

// errorRewriter passes successful responses through and holds back error
// responses, which finish rewrites.
type errorRewriter struct {
	w      http.ResponseWriter
	r      *http.Request
	method string // as the client sent it (r.Method of a HEAD is GET)
	status int
	body   bytes.Buffer
}

func (e *errorRewriter) Header() http.Header { return e.w.Header() }

func (e *errorRewriter) WriteHeader(status int) {
	if e.status != 0 {
		return
	}
	e.status = status
	if status < 400 {
		e.w.WriteHeader(status)
	}
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.status >= 400 {
		return e.body.Write(b)
	}
	return e.w.Write(b)
}

func (e *errorRewriter) Flush() {
	if e.status != 0 && e.status < 400 {
		if f, ok := e.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// finish writes a held-back error in Google's format: vanguard writes a
// google.rpc.Status (or, for its own HTTP errors, something else).
func (e *errorRewriter) finish() {
	if e.status < 400 {
		return
	}
	var google struct {
		Error *json.RawMessage `json:"error"`
	}
	if json.Unmarshal(e.body.Bytes(), &google) == nil && google.Error != nil {
		// Already in Google's format (written by this package).
		e.w.WriteHeader(e.status)
		e.w.Write(e.body.Bytes())
		return
	}
	if e.status == http.StatusMethodNotAllowed {
		e.methodNotAllowed()
		return
	}
	st := &spb.Status{}
	if err := protojson.Unmarshal(e.body.Bytes(), st); err != nil || st.GetCode() == 0 {
		st = errorStatus(codeForHTTP(e.status), strings.ToUpper(strings.ReplaceAll(http.StatusText(e.status), " ", "_")),
			strings.TrimSpace(cmp.Or(e.body.String(), http.StatusText(e.status))))
	}
	if !hasErrorInfo(st) && st.GetCode() == int32(codes.Unknown) {
		// Every error of the services carries an ErrorInfo: this one is
		// vanguard's, about a request it could not turn into a call (an
		// unknown query parameter, a body that does not parse).
		st.Code = int32(codes.InvalidArgument)
	}
	writeError(e.w, httperr.HTTPStatus(codes.Code(st.GetCode())), httperr.EnsureErrorInfo(st))
}

// methodNotAllowed answers a known path that vanguard found without a
// route for the request's method, from vanguard's Allow header (built
// from a map, in any order).
func (e *errorRewriter) methodNotAllowed() {
	var methods []string
	for _, value := range e.w.Header().Values("Allow") {
		for m := range strings.SplitSeq(value, ",") {
			methods = append(methods, strings.TrimSpace(m))
		}
	}
	answerOtherMethod(e.w, e.method, e.r.URL.Path, methods)
}

func hasErrorInfo(st *spb.Status) bool {
	for _, d := range st.GetDetails() {
		if d.MessageIs(&errdetails.ErrorInfo{}) {
			return true
		}
	}
	return false
}

// writeError writes st in Google's JSON error format, without the
// headers that a transcoded call may have left.
func writeError(w http.ResponseWriter, status int, st *spb.Status) {
	h := w.Header()
	for name := range h {
		if strings.HasPrefix(name, "Grpc-") {
			delete(h, name) // the call's gRPC trailers, which vanguard may leave
		}
	}
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	httperr.Write(w, status, st)
}

// codeForHTTP is the code of an HTTP error that vanguard answered itself
// (but 405, which methodNotAllowed answers).
func codeForHTTP(status int) codes.Code {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}
