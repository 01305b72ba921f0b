package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Edge is how mfad meets the network in front of it (docs/forward-auth.md):
// the address users reach the web page at, the domain of the session
// cookie, the proxies whose X-Forwarded-For is believed, and the origins a
// browser may call the API from. The zero Edge trusts no proxy, allows no
// other origin and sets a host-only cookie.
type Edge struct {
	// PublicURL is the web page's address (scheme, host, optional path);
	// nil when unknown: forward auth then answers 401 without a place to
	// sign in.
	PublicURL *url.URL
	// CookieDomain is the domain the session cookie is set for (lower
	// case, no leading dot); empty: the cookie is host-only, and return
	// URLs must be on the public URL's host.
	CookieDomain string
	// TrustedProxies are the TCP peers whose X-Forwarded-For names the
	// client.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the exact origins ("https://app.example.com") that
	// get CORS headers on the API.
	CORSOrigins []string
}

// ParseEdge checks the four settings of the same names in "mfad serve"
// (--public-url, --cookie-domain, --trusted-proxies, --cors-origins) and
// returns the Edge they describe. Lists are separated by commas or spaces.
// Each error names the setting and the value at fault.
func ParseEdge(publicURL, cookieDomain, trustedProxies, corsOrigins string) (Edge, error) {
	var e Edge
	if publicURL = strings.TrimSpace(publicURL); publicURL != "" {
		u, err := ParsePublicURL(publicURL)
		if err != nil {
			return Edge{}, err
		}
		e.PublicURL = u
	}
	if d := strings.TrimSpace(cookieDomain); d != "" {
		d = strings.ToLower(strings.TrimPrefix(d, "."))
		if !validDomain(d) {
			return Edge{}, fmt.Errorf("--cookie-domain %q: a domain name such as example.com (no scheme, port or path)", cookieDomain)
		}
		if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
			return Edge{}, fmt.Errorf("--cookie-domain %q: a public suffix, which browsers refuse cookies for; use your own domain, e.g. example.com", cookieDomain)
		}
		if e.PublicURL == nil {
			return Edge{}, errors.New("--cookie-domain needs --public-url (where the sign-in page is)")
		}
		if h := strings.ToLower(e.PublicURL.Hostname()); !onDomain(h, d) {
			return Edge{}, fmt.Errorf("--cookie-domain %q does not cover the host of --public-url (%s): a browser would refuse the cookie", cookieDomain, h)
		}
		e.CookieDomain = d
	}
	for _, p := range fields(trustedProxies) {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil || a.Zone() != "" {
				return Edge{}, fmt.Errorf("--trusted-proxies %q: an IP address or a CIDR such as 10.0.0.0/8", p)
			}
			pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		e.TrustedProxies = append(e.TrustedProxies, pre.Masked())
	}
	for _, o := range fields(corsOrigins) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
			return Edge{}, fmt.Errorf("--cors-origins %q: an exact origin such as https://app.example.com (scheme and host, no path; * is not allowed)", o)
		}
		e.CORSOrigins = append(e.CORSOrigins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return e, nil
}

// ParsePublicURL checks a --public-url value: http or https, a host, no
// user, query or fragment. A trailing slash is dropped.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("--public-url %q: an http:// or https:// URL, e.g. https://mfad.example.com", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// validDomain reports whether d is a DNS name of ASCII letters, digits and
// hyphens (an internationalised name in its xn-- form), not an address.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || net.ParseIP(d) != nil {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// onDomain reports whether host is domain or under it.
func onDomain(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// clientAddr is the address the request came from: the TCP peer, or, when
// the peer is a trusted proxy, the right-most address of X-Forwarded-For
// that is not a trusted proxy (the left-most when all are). A malformed
// entry stops the walk at the trusted hop that passed it on.
func (e *Edge) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(e.TrustedProxies) == 0 {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !e.trusted(peer) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil || a.Zone() != "" {
				return addr.String()
			}
			addr = a.Unmap()
			if !e.trusted(addr) {
				return addr.String()
			}
		}
	}
	return addr.String()
}

func (e *Edge) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range e.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ---- CORS

// corsHeaders are the request headers a cross-origin caller may send, and
// exposed the response headers it may read.
const (
	corsAllowHeaders  = "Authorization, Content-Type, X-Auth-Token"
	corsExposeHeaders = "Mfa-Code, Retry-After, X-Request-Id"
	corsMaxAge        = "600"
)

// allowedOrigin returns the request's Origin when it is one of
// CORSOrigins.
func (e *Edge) allowedOrigin(r *http.Request) (string, bool) {
	if len(e.CORSOrigins) == 0 {
		return "", false
	}
	o := r.Header.Values("Origin")
	if len(o) != 1 {
		return "", false
	}
	for _, a := range e.CORSOrigins {
		if o[0] == a {
			return a, true
		}
	}
	return "", false
}

// cors adds the CORS headers for an allowed origin to a response of the API
// and answers a preflight itself; it reports whether it did. The cookie
// endpoints never get CORS headers (a browser on another origin has no
// business there), and credentials are never allowed: the API takes the
// session in X-Auth-Token, not from cookies.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (answered bool) {
	if len(s.edge.CORSOrigins) == 0 {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !strings.HasPrefix(r.URL.Path, BasePath+"/") || strings.HasPrefix(r.URL.Path, BasePath+"/auth/") {
		return false
	}
	origin, ok := s.edge.allowedOrigin(r)
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	}
	// A preflight: answered for the methods of a route that exists;
	// otherwise the usual 404 or 405 follows, with no permission.
	hd, _ := s.mux.Handler(r)
	m, ok := hd.(methods)
	if !ok {
		h.Del("Access-Control-Allow-Origin")
		return false
	}
	allow := m.allowed()
	h.Set("Access-Control-Allow-Methods", strings.Join(allow, ", "))
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}
