package lrohttp

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
)

// servedMethods are the methods of the routes, with HEAD (of a GET route,
// answered as the GET without its body) and OPTIONS (answered on every
// route with its Allow header). RFC 9110 §9.1 and §15.6.2: a method that
// is none of these, implemented for no resource, is 501 Not Implemented on
// any path; one of these on a path that does not take it is 405 Method
// Not Allowed (§15.5.6), with the path's methods in Allow.
var servedMethods = []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost}

// AllowMethods wraps a handler that a server mounts beside NewHandler's,
// such as a health check, so that its path answers methods as the routes
// do: next serves methods, and HEAD if GET is one of them (net/http drops
// the body); OPTIONS answers 204 No Content with Allow; any other method
// of the routes is 405 Method Not Allowed with Allow, and a method that no
// route takes is 501 Not Implemented, both in Google's JSON error format
// with code UNIMPLEMENTED. lro serve wraps its /healthz with it.
func AllowMethods(next http.Handler, methods ...string) http.Handler {
	served := slices.Clone(methods)
	if slices.Contains(served, http.MethodGet) {
		served = append(served, http.MethodHead)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !slices.Contains(servedMethods, r.Method):
			notImplemented(w, r.Method)
		case slices.Contains(served, r.Method):
			next.ServeHTTP(w, r)
		default:
			answerOtherMethod(w, r.Method, r.URL.Path, methods)
		}
	})
}

// notImplemented answers a method that no route takes.
func notImplemented(w http.ResponseWriter, method string) {
	writeError(w, http.StatusNotImplemented, errorStatus(codes.Unimplemented, "METHOD_NOT_IMPLEMENTED",
		fmt.Sprintf("method %q is not implemented: the routes take %s", method, strings.Join(servedMethods, ", "))))
}

// answerOtherMethod answers a method of the routes on a path that takes
// only methods: OPTIONS with 204 No Content, any other with 405 Method Not
// Allowed and code UNIMPLEMENTED, as grpc-gateway answers. Both carry
// Allow: methods, with HEAD where GET is and OPTIONS, sorted.
func answerOtherMethod(w http.ResponseWriter, method, path string, methods []string) {
	allowed := append([]string{http.MethodOptions}, methods...)
	if slices.Contains(methods, http.MethodGet) {
		allowed = append(allowed, http.MethodHead)
	}
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)
	h := w.Header()
	h.Set("Allow", strings.Join(allowed, ", "))
	if method == http.MethodOptions {
		h.Del("Content-Type")
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeError(w, http.StatusMethodNotAllowed, errorStatus(codes.Unimplemented, "METHOD_NOT_ALLOWED",
		fmt.Sprintf("%s is not a method of %s; it takes %s", method, path, strings.Join(allowed, ", "))))
}
