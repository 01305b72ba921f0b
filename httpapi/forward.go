package httpapi

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// Forward auth (docs/forward-auth.md): a reverse proxy asks GET /auth/verify
// whether the browser in front of it is signed in, and the web page keeps
// the browser's session in a cookie for it.
//
// The cookie is read in two places only: /auth/verify and the web page's
// resume (GET /auth/cookie). Every other endpoint takes X-Auth-Token alone,
// so a page on another site can neither act nor read with the cookie.

// CookieName is the name of the session cookie.
const CookieName = "mfad_session"

// PageHeader must be on the web page's resume request (GET /auth/cookie),
// which a cross-site form or link cannot send.
const PageHeader = "X-Mfad-Page"

// The headers /auth/verify answers with, for the proxy to pass on.
const (
	RemoteUser   = "Remote-User"
	RemoteEmail  = "Remote-Email"
	RemoteName   = "Remote-Name"
	RemoteGroups = "Remote-Groups"
)

// AdminsGroup is Remote-Groups for an admin.
const AdminsGroup = "admins"

// maxReturnURL bounds a return URL.
const maxReturnURL = 2048

// cookieSession resolves the session cookie: none, or two of them (one may
// have been planted by a sibling domain), is an unknown session.
func (s *Server) cookieSession(r *http.Request) (*auth.Identity, error) {
	cs := r.CookiesNamed(CookieName)
	if len(cs) != 1 {
		return nil, mfad.Errorf(mfad.CodeUnauthenticated, "missing, unknown, closed or expired session")
	}
	return s.svc.Authenticate(r.Context(), cs[0].Value)
}

// handleVerify is GET /auth/verify. A full session (X-Auth-Token, else the
// cookie) of a user who owes no factor gets 200 and the Remote-* headers;
// anything else 401, with the way to the sign-in page in Location when the
// original URL is known and on the cookie domain, or 302 there when the
// proxy asks for it (?redirect=1) and the original request was a GET or a
// HEAD.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	var id *auth.Identity
	var err error
	if len(r.Header.Values("X-Auth-Token")) > 0 {
		id, err = s.identify(r)
	} else {
		id, err = s.cookieSession(r)
	}
	if err == nil {
		err = auth.RequireSignedIn(id)
	}
	if err != nil {
		if loc := s.signInURL(r); loc != "" {
			w.Header().Set("Location", loc)
			if wantsRedirect(r) {
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusFound)
				return
			}
		}
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set(RemoteUser, id.User.ID)
	h.Set(RemoteEmail, headerText(id.User.Email))
	h.Set(RemoteName, headerText(id.User.Name))
	groups := ""
	if id.User.SuperAdmin {
		groups = AdminsGroup
	}
	h.Set(RemoteGroups, groups)
	writeEmpty(w)
}

// wantsRedirect reports whether the proxy asked for a 302 (?redirect=1 or
// true) for a request a redirect can repeat.
func wantsRedirect(r *http.Request) bool {
	switch r.URL.Query().Get("redirect") {
	case "1", "true":
	default:
		return false
	}
	m := r.Header.Values("X-Forwarded-Method")
	return len(m) == 0 || (len(m) == 1 && (m[0] == http.MethodGet || m[0] == http.MethodHead))
}

// headerText makes a stored value safe in a header: control characters
// become spaces.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// originalURL is the URL the proxy was asked for: X-Original-URL (nginx), or
// X-Forwarded-Proto, -Host and -Uri (Traefik, Caddy); "" when the headers
// are missing or given twice.
func originalURL(r *http.Request) string {
	one := func(name string) string {
		v := r.Header.Values(name)
		if len(v) != 1 {
			return ""
		}
		return v[0]
	}
	if len(r.Header.Values("X-Original-URL")) > 0 {
		return one("X-Original-URL")
	}
	proto, host, uri := one("X-Forwarded-Proto"), one("X-Forwarded-Host"), one("X-Forwarded-Uri")
	if proto == "" || host == "" {
		return ""
	}
	if uri == "" {
		uri = "/"
	}
	if !strings.HasPrefix(uri, "/") {
		return ""
	}
	return proto + "://" + host + uri
}

// signInURL is the web page's sign-in with the original URL to return to,
// or "" when there is no public URL or no acceptable original URL.
func (s *Server) signInURL(r *http.Request) string {
	if s.edge.PublicURL == nil {
		return ""
	}
	orig := originalURL(r)
	if orig == "" {
		return ""
	}
	ret, err := s.edge.ReturnURL(orig)
	if err != nil {
		auth.Logger(r.Context()).Info("forward auth: the original URL is not on the cookie domain; no redirect", "reason", err.Error())
		return ""
	}
	u := *s.edge.PublicURL
	u.Path += "/"
	u.RawQuery = "rd=" + url.QueryEscape(ret)
	return u.String()
}

// ReturnURL checks a URL to send a browser back to after sign-in and returns
// it as it will be used: an absolute http(s) URL, on the cookie domain (or
// the public URL's host when there is no cookie domain), without user
// information, escapes in the host, backslashes, spaces or control
// characters (which browsers and servers read differently), plain http only
// when the public URL is plain http. Anything else is an error, so mfad
// never redirects off the domains it guards.
func (e *Edge) ReturnURL(raw string) (string, error) {
	domain := e.CookieDomain
	if domain == "" && e.PublicURL != nil {
		domain = strings.ToLower(e.PublicURL.Hostname())
	}
	switch {
	case domain == "":
		return "", errors.New("no public URL is set")
	case len(raw) > maxReturnURL:
		return "", errors.New("too long")
	case !utf8.ValidString(raw):
		return "", errors.New("not UTF-8")
	case strings.ContainsAny(raw, "\\"):
		return "", errors.New("a backslash")
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f || (c >= 0x80 && c <= 0x9f) {
			return "", errors.New("a space or a control character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && e.PublicURL != nil && e.PublicURL.Scheme == "http") {
		return "", errors.New("not an https URL")
	}
	// The authority as written must be the host the parser found: no
	// percent escapes, no user information, nothing a browser would read
	// differently.
	rest := raw[len(u.Scheme):]
	if !strings.HasPrefix(rest, "://") {
		return "", errors.New("not an absolute URL")
	}
	authority := rest[3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if u.User != nil || u.Opaque != "" || authority == "" || !strings.EqualFold(authority, u.Host) || strings.Contains(authority, "%") {
		return "", errors.New("not a plain host")
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil || !validDomain(host) {
		return "", errors.New("not a domain name")
	}
	if p := u.Port(); p != "" {
		for _, c := range p {
			if c < '0' || c > '9' {
				return "", errors.New("not a port")
			}
		}
	}
	if !onDomain(host, domain) {
		return "", errors.New("not on " + domain)
	}
	return u.String(), nil
}

// secureCookie reports whether the cookie gets Secure: always, but for a
// public URL of plain http on a loopback host (or, without a public URL, a
// plain http request to one).
func (s *Server) secureCookie(r *http.Request) bool {
	if u := s.edge.PublicURL; u != nil {
		return !(u.Scheme == "http" && loopbackHost(u.Hostname()))
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return !(r.TLS == nil && loopbackHost(host))
}

func loopbackHost(h string) bool {
	h = strings.ToLower(strings.Trim(h, "[]"))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// cookie is the session cookie holding token; an empty token expires it.
// A browser-session cookie: it goes when the browser closes, and it is
// worth nothing once the session ends.
func (s *Server) cookie(r *http.Request, token string) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: token, Path: "/", Domain: s.edge.CookieDomain,
		HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteLaxMode}
	if token == "" {
		c.MaxAge = -1
	}
	return c
}

type cookieReq struct {
	ReturnTo *string `json:"return_to"`
}

type cookieResp struct {
	ReturnTo string `json:"return_to"`
}

// handleSetCookie is POST /auth/cookie: the web page, holding a full
// session, has it set as the cookie, and has the place to return to
// checked.
func (s *Server) handleSetCookie(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req cookieReq
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	ret := ""
	if req.ReturnTo != nil && *req.ReturnTo != "" {
		var err error
		if ret, err = s.edge.ReturnURL(*req.ReturnTo); err != nil {
			writeError(w, r, invalid("return_to: not an address mfad sends you back to (%s)", err))
			return
		}
	}
	http.SetCookie(w, s.cookie(r, id.Token))
	writeJSON(w, http.StatusOK, cookieResp{ReturnTo: ret})
}

// handleResume is GET /auth/cookie: the web page, opened in a new tab, takes
// over the session of the cookie.
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Values(PageHeader); len(v) != 1 || v[0] != "1" {
		writeError(w, r, invalid(PageHeader+": required (this is the web page's own request)"))
		return
	}
	id, err := s.cookieSession(r)
	if err == nil {
		err = auth.RequireFull(id)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionResp{SessionID: id.Token})
}

// handleClearCookie is DELETE /auth/cookie: the cookie is expired (the web
// page calls it after logging the session out). It reads nothing.
func (s *Server) handleClearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.cookie(r, ""))
	writeEmpty(w)
}
