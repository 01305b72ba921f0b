// Package web is mfad's self-service web front end: sign in with the second
// factor, a security page for one's own factors, and for admins a users page
// and the account-wide 2FA switch.
//
// It is a few static files embedded in the binary (no framework, no build
// step, no CDN). The page runs in the browser and calls only the public API
// under /api/1.0 with the session in the X-Auth-Token header; the session id
// is kept in sessionStorage, never in a URL. httpapi.Server.SetSite serves
// Handler for every path outside the API.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// ContentSecurityPolicy is sent with every response of the site: scripts and
// styles only from the site's own files (no inline script, handler or style
// attribute), images from the site or data: URLs (the QR code), API calls to
// the same origin, and no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// StaticPrefix is the path under which the assets are served.
const StaticPrefix = "/static/"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

type handler struct {
	static   fs.FS
	index    []byte
	notFound []byte
}

// Handler serves the front end: "/" is the single-page app, StaticPrefix
// its assets, anything else a 404 page. Every response carries the security
// headers (Content-Security-Policy, X-Frame-Options, Referrer-Policy,
// X-Content-Type-Options) and Cache-Control: no-store.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	notFound, err := fs.ReadFile(sub, "404.html")
	if err != nil {
		panic(err)
	}
	return &handler{static: sub, index: index, notFound: notFound}
}

// setHeaders sets the headers every response of the site carries.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.page(w, r, http.StatusMethodNotAllowed, []byte(methodPage))
		return
	}
	p := r.URL.Path
	switch {
	case p == "/":
		h.serve(w, r, "index.html", h.index)
		return
	case strings.HasPrefix(p, StaticPrefix):
		name := strings.TrimPrefix(p, StaticPrefix)
		if name != "" && fs.ValidPath(name) {
			if st, err := fs.Stat(h.static, name); err == nil && st.Mode().IsRegular() {
				if b, err := fs.ReadFile(h.static, name); err == nil {
					h.serve(w, r, name, b)
					return
				}
			}
		}
	}
	h.page(w, r, http.StatusNotFound, h.notFound)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (h *handler) page(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

const methodPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Method not allowed - mfad</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main class="notfound"><h1>Method not allowed</h1>
<p>This page only answers GET. <a href="/">Go to the mfad sign-in page</a>.</p></main></body></html>
`
