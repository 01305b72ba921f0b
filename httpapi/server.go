// Package httpapi turns the auth service into the HTTP API (docs/api.md):
// routing, the order of checks (route, then token, then body), JSON decoding
// and validation at the edge, and the mapping of application error codes to
// statuses.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// BasePath is the prefix of every API path.
const BasePath = "/api/1.0"

// verifyPath is the route of forward auth's check.
const verifyPath = BasePath + "/auth/verify"

// Server is the HTTP API.
type Server struct {
	svc    *auth.Service
	store  mfad.Store
	log    *slog.Logger
	mux    *http.ServeMux
	routes []Route
	site   http.Handler // the web pages outside the API, if any
	edge   Edge

	observe func(route, method string, status int, d time.Duration)
}

// SetObserver makes f see every request (for metrics); call it before
// serving.
func (s *Server) SetObserver(f func(route, method string, status int, d time.Duration)) {
	s.observe = f
}

// SetSite serves h for every path outside the API and /healthz (the web
// front end). Without it those paths answer 404.
func (s *Server) SetSite(h http.Handler) { s.site = h }

// SetEdge sets the public URL, the cookie domain, the trusted proxies and
// the CORS origins (ParseEdge); call it before serving.
func (s *Server) SetEdge(e Edge) { s.edge = e }

// Route is one registered method and path.
type Route struct {
	Method, Path string
	handler      http.Handler
}

// NewServer builds the handler of the whole API. A nil log means
// slog.Default().
func NewServer(svc *auth.Service, store mfad.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{svc: svc, store: store, log: log, mux: http.NewServeMux()}
	s.routes = s.routeTable()
	byPath := map[string]methods{}
	var paths []string
	for _, rt := range s.routes {
		if byPath[rt.Path] == nil {
			byPath[rt.Path] = methods{}
			paths = append(paths, rt.Path)
		}
		byPath[rt.Path][rt.Method] = rt.handler
	}
	for _, p := range paths {
		s.mux.Handle(p, byPath[p])
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, mfad.Errorf(mfad.CodeNotFound, "no such path"))
	})
	s.mux.Handle(BasePath+"/", notFound)
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.site != nil {
			s.site.ServeHTTP(w, r)
			return
		}
		notFound(w, r)
	}))
	return s
}

// Routes returns the registered method and path pairs.
func (s *Server) Routes() []Route { return s.routes }

// methods dispatches on the request method and answers 405 with an Allow
// header for the others, so the route decides 404/405 before any token check.
type methods map[string]http.Handler

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h.ServeHTTP(w, r)
		return
	}
	allow := m.allowed()
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, r, mfad.Errorf(mfad.CodeMethod, "method %s not allowed; allowed: %s", r.Method, strings.Join(allow, ", ")))
}

// allowed returns the methods, sorted.
func (m methods) allowed() []string {
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	sort.Strings(allow)
	return allow
}

// statusRecorder captures the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP adds the request id, the access log, the no-store header and
// panic recovery around the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	addr := s.edge.clientAddr(r)
	ctx, l := auth.WithRequestLogger(r.Context(), s.log, id)
	ctx = auth.WithClientAddr(ctx, addr)
	r = r.WithContext(ctx)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			l.Logger().Error("panic in handler", "panic", p)
			if rec.status == 0 {
				writeError(rec, r, mfad.Errorf(mfad.CodeInternal, "internal error"))
			}
		}
		route := r.Pattern // set by the mux; not for a CORS preflight or a panic before it
		if route == "" {
			_, route = s.mux.Handler(r)
		}
		d := time.Since(start)
		// A proxy asks /auth/verify before every request to the apps it
		// guards: the checks that let a request through are logged at
		// debug level (they are counted in the metrics all the same); a
		// refusal is logged like any request.
		level := slog.LevelInfo
		if rec.status == http.StatusOK && route == verifyPath {
			level = slog.LevelDebug
		}
		if l.Enabled(ctx, level) {
			l.Logger().Log(ctx, level, "request", "method", r.Method, "route", route, "status", rec.status,
				"duration_ms", float64(d.Microseconds())/1000, "addr", addr)
		}
		if s.observe != nil {
			s.observe(route, r.Method, rec.status, d)
		}
	}()
	if s.cors(rec, r) {
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// clientAddr is the address the request came from, as ServeHTTP worked it
// out (Edge.clientAddr).
func clientAddr(r *http.Request) string { return auth.ClientAddr(r.Context()) }

// Timeouts of the HTTP server: slow clients (slowloris, slow bodies) are cut
// off instead of holding connections open (Go's default is no timeout).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// NewHTTPServer returns an http.Server for h with mfad's timeouts and limits.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
