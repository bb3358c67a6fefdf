// Package ui serves lro's dashboard at /ui/: a page of static assets,
// embedded in the binary, that calls the HTTP/JSON API and the few JSON
// routes of its own under /ui/api/ that the API has no place for (counts,
// a kind's statistics, an operation's attempts and timeline, and a stream
// of an operation's changes).
//
// The assets are served to anyone: the page asks for a token when the API
// answers 401. The routes under /ui/api/ authenticate as the API does and
// decide what the caller may see with the server's AuthorizeFunc, as the
// API's methods would: an operation's details need the reader role on its
// parent; counts and kinds' statistics, which cover every parent, need a
// reader grant on every parent ("reader:*").
package ui

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"lro.dev/lro"
	"lro.dev/lro/internal/httperr"
	"lro.dev/lro/lroauth"
)

//go:embed assets
var assets embed.FS

// Config configures the dashboard's handler.
type Config struct {
	// Client reads and streams the operations.
	Client *lro.Client
	// Authenticator, if set, authenticates the calls under /ui/api/, and
	// Authorize decides them; with none, every call may see everything.
	Authenticator lroauth.Authenticator
	Authorize     lroauth.AuthorizeFunc
	// Done, once closed, ends the streams under way: the server closes it
	// when it begins to shut down, so that they do not hold it up.
	Done <-chan struct{}
	// MaxStreams caps the streams open at once; a stream beyond it is
	// RESOURCE_EXHAUSTED (429). Default MaxStreamsDefault.
	MaxStreams int
	// StreamInterval is how often a stream looks for changes of its
	// operation's progress. Its completion is sent as soon as it is
	// stored. Default StreamIntervalDefault.
	StreamInterval time.Duration
	Logger         *slog.Logger
}

// Defaults of Config.
const (
	MaxStreamsDefault     = 256
	StreamIntervalDefault = 250 * time.Millisecond
)

// contentSecurityPolicy lets the page load its own scripts, styles and
// calls only: no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the dashboard: mount it at /ui/ (it serves /ui and
// everything under /ui/).
type Handler struct {
	config  Config
	files   fs.FS
	static  http.Handler
	api     http.Handler
	streams atomic.Int64
}

// New returns the dashboard's handler.
func New(config Config) *Handler {
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	if config.MaxStreams <= 0 {
		config.MaxStreams = MaxStreamsDefault
	}
	if config.StreamInterval <= 0 {
		config.StreamInterval = StreamIntervalDefault
	}
	if config.Authorize == nil {
		config.Authorize = lroauth.Grants
	}
	if config.Done == nil {
		config.Done = make(chan struct{})
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	h := &Handler{config: config, files: sub, static: http.FileServerFS(sub)}
	api := http.NewServeMux()
	api.HandleFunc("GET /ui/api/session", h.session)
	api.HandleFunc("GET /ui/api/counts", h.counts)
	api.HandleFunc("GET /ui/api/kind", h.kind)
	api.HandleFunc("GET /ui/api/operation", h.operation)
	api.HandleFunc("GET /ui/api/operation/events", h.events)
	api.HandleFunc("/ui/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, h.config.Logger, &lro.Error{Code: codes.NotFound, Reason: "NOT_FOUND", Message: "no such route: " + r.Method + " " + r.URL.Path})
	})
	h.api = api
	if a := config.Authenticator; a != nil {
		h.api = lroauth.Middleware(a, api)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/ui/api/"):
		hdr.Set("Cache-Control", "no-store")
		h.api.ServeHTTP(w, r)
	case p == "/ui":
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		hdr.Set("Allow", "GET, HEAD")
		writeError(w, h.config.Logger, &lro.Error{Code: codes.Unimplemented, Reason: "METHOD_NOT_ALLOWED", Message: "method " + r.Method + " is not allowed on " + p}, http.StatusMethodNotAllowed)
	case p == "/ui/" || p == "/ui/index.html":
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		h.static.ServeHTTP(w, r2)
	case strings.HasPrefix(p, "/ui/assets/") && path.Clean(p) == p && h.isFile(strings.TrimPrefix(p, "/ui/assets/")):
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		// Assets change with the binary; the page is revalidated at each
		// load (no-cache), and so are they, cheaply, by their time.
		hdr.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(p, "/ui/assets")
		h.static.ServeHTTP(w, r2)
	default:
		writeError(w, h.config.Logger, &lro.Error{Code: codes.NotFound, Reason: "NOT_FOUND", Message: "no such page: " + p})
	}
}

// isFile reports whether name is a file of the assets.
func (h *Handler) isFile(name string) bool {
	info, err := fs.Stat(h.files, name)
	return err == nil && !info.IsDir()
}

// writeError answers with err in Google's JSON error format, with the HTTP
// status of its code unless status is given. An error without a code is
// INTERNAL, and its text goes to the log, not to the caller.
func writeError(w http.ResponseWriter, logger *slog.Logger, err error, status ...int) {
	st := grpcStatus(err, logger)
	code := httperr.HTTPStatus(st.Code())
	if len(status) > 0 {
		code = status[0]
	}
	httperr.Write(w, code, httperr.EnsureErrorInfo(st.Proto()))
}
