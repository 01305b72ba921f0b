package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/internal/testserver"
)

// The forward-auth deployment of these tests: mfad's page at
// https://auth.example.test, apps under example.test.
const (
	fwdPublicURL = "https://auth.example.test"
	fwdDomain    = "example.test"
	fwdApp       = "https://app.example.test/reports?year=2026"
)

func newForwardEnv(t *testing.T, trusted, cors string) *env {
	t.Helper()
	edge, err := httpapi.ParseEdge(fwdPublicURL, fwdDomain, trusted, cors)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, testserver.Options{PublicURL: fwdPublicURL, Edge: edge})
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

// setCookie has the holder of token set the session cookie and returns it.
func (e *env) setCookie(token string, body any) *http.Cookie {
	e.t.Helper()
	r := e.post("/auth/cookie", token, body)
	e.wantStatus(r, 200)
	cs := (&http.Response{Header: r.Header}).Cookies()
	if len(cs) != 1 || cs[0].Name != httpapi.CookieName {
		e.t.Fatalf("Set-Cookie %q, want one %s", r.Header.Values("Set-Cookie"), httpapi.CookieName)
	}
	return cs[0]
}

func cookieHeader(values ...string) map[string]string {
	var parts []string
	for _, v := range values {
		parts = append(parts, httpapi.CookieName+"="+v)
	}
	return map[string]string{"Cookie": strings.Join(parts, "; ")}
}

func (e *env) verify(header map[string]string, query string) resp {
	e.t.Helper()
	return e.do(req{Method: "GET", Path: "/auth/verify" + query, Header: header})
}

func TestVerifyWithCookie(t *testing.T) {
	e := newForwardEnv(t, "", "")
	uid := e.createUser(e.adminAToken, "kim@example.com", "kim-password-1", false)
	tok := e.fullLogin("kim@example.com", "kim-password-1")

	c := e.setCookie(tok, map[string]any{})
	if c.Value != tok || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Domain != fwdDomain || c.Path != "/" {
		t.Fatalf("cookie %+v: want the session id, HttpOnly, Secure, SameSite=Lax, Domain=%s, Path=/", c, fwdDomain)
	}
	if c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Fatalf("cookie %+v: want a browser-session cookie (no Max-Age, no Expires)", c)
	}

	r := e.verify(cookieHeader(tok), "")
	e.wantStatus(r, 200)
	if len(r.Body) != 0 {
		t.Fatalf("body %q, want none", r.Body)
	}
	for h, want := range map[string]string{"Remote-User": uid, "Remote-Email": "kim@example.com", "Remote-Name": "kim@example.com", "Remote-Groups": ""} {
		if got := r.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// The admin is in the admins group; the header works as well.
	r = e.verify(map[string]string{"X-Auth-Token": e.adminAToken}, "")
	e.wantStatus(r, 200)
	if g := r.Header.Get("Remote-Groups"); g != "admins" {
		t.Fatalf("admin's Remote-Groups %q", g)
	}

	// A check counts as a request for the idle timeout (15 minutes).
	for range 3 {
		e.clock.Advance(10 * time.Minute)
		e.wantStatus(e.verify(cookieHeader(tok), ""), 200)
	}

	// No credentials, a malformed or unknown cookie, two cookies (one
	// planted by a sibling domain): 401.
	e.wantError(e.verify(nil, ""), 401, mfad.CodeUnauthenticated)
	e.wantError(e.verify(cookieHeader("nonsense"), ""), 401, mfad.CodeUnauthenticated)
	e.wantError(e.verify(cookieHeader("6f1c9bb4-8d5e-4a4e-9d62-4c4f2f0d8e11"), ""), 401, mfad.CodeUnauthenticated)
	e.wantError(e.verify(cookieHeader(tok, tok), ""), 401, mfad.CodeUnauthenticated)
	// X-Auth-Token, when sent, is the credential: a bad one is not saved
	// by a good cookie.
	h := cookieHeader(tok)
	h["X-Auth-Token"] = "6f1c9bb4-8d5e-4a4e-9d62-4c4f2f0d8e11"
	e.wantError(e.verify(h, ""), 401, mfad.CodeUnauthenticated)

	// Logged out: refused on the very next check.
	e.wantStatus(e.get("/session/logout", tok), 200)
	e.wantError(e.verify(cookieHeader(tok), ""), 401, mfad.CodeUnauthenticated)
}

func TestVerifyRefusesWhatIsOwed(t *testing.T) {
	e := newForwardEnv(t, "", "")
	uid := e.createUser(e.adminAToken, "lee@example.com", "lee-password-1", false)
	tok := e.fullLogin("lee@example.com", "lee-password-1")
	e.wantStatus(e.verify(cookieHeader(tok), ""), 200)

	// 2FA forced on the account, on a user who never enrolled: owed from
	// now on.
	e.wantStatus(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{"2FA"}}), 200)
	e.wantError(e.verify(cookieHeader(tok), ""), 401, mfad.CodeFactorRequired)
	e.wantStatus(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{}}), 200)
	e.wantStatus(e.verify(cookieHeader(tok), ""), 200)
	// Forced on the user: the user's sessions are closed.
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	e.wantError(e.verify(cookieHeader(tok), ""), 401, mfad.CodeUnauthenticated)

	// A limited session (password given, enrollment owed) is not signed in.
	lim := e.limitedLogin("lee@example.com", "lee-password-1", mfad.StepEnroll)
	e.wantError(e.verify(cookieHeader(lim), ""), 401, mfad.CodeFactorRequired)
	e.wantError(e.verify(map[string]string{"X-Auth-Token": lim}, ""), 401, mfad.CodeFactorRequired)

	// A disabled user: refused on the very next check, admin included.
	other := e.createUser(e.adminAToken, "dee@example.com", "dee-password-1", true)
	otok := e.fullLogin("dee@example.com", "dee-password-1")
	e.wantStatus(e.verify(cookieHeader(otok), ""), 200)
	e.wantStatus(e.post("/user/edit", e.adminAToken, map[string]any{"ids": []string{other}, "status": "D"}), 200)
	e.wantError(e.verify(cookieHeader(otok), ""), 401, mfad.CodeUnauthenticated)
}

func TestVerifySendsToSignIn(t *testing.T) {
	e := newForwardEnv(t, "", "")
	signIn := fwdPublicURL + "/?rd=" + url.QueryEscape(fwdApp)

	// nginx: X-Original-URL; the 401 says where to sign in.
	r := e.verify(map[string]string{"X-Original-URL": fwdApp}, "")
	e.wantError(r, 401, mfad.CodeUnauthenticated)
	if loc := r.Header.Get("Location"); loc != signIn {
		t.Fatalf("Location %q, want %q", loc, signIn)
	}
	// Traefik, Caddy: X-Forwarded-*, and ?redirect=1 asks for the 302.
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/reports?year=2026", "X-Forwarded-Method": "GET"}
	r = e.verify(fwd, "?redirect=1")
	if r.Status != 302 || r.Header.Get("Location") != signIn {
		t.Fatalf("%d Location %q, want 302 to %q", r.Status, r.Header.Get("Location"), signIn)
	}
	// A POST cannot be repeated by a redirect: 401, with the way to sign in.
	fwd["X-Forwarded-Method"] = "POST"
	r = e.verify(fwd, "?redirect=1")
	e.wantError(r, 401, mfad.CodeUnauthenticated)
	if r.Header.Get("Location") != signIn {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	// Without the original URL, or with one off the domain: no place to go.
	for _, h := range []map[string]string{
		nil,
		{"X-Original-URL": "https://app.example.test.evil.org/"},
		{"X-Original-URL": "https://evil.org/?x=app.example.test"},
		{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.org", "X-Forwarded-Uri": "/"},
		{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test@evil.org", "X-Forwarded-Uri": "/"},
		{"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/"},
		{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "x"},
	} {
		r := e.verify(h, "?redirect=1")
		e.wantError(r, 401, mfad.CodeUnauthenticated)
		if loc := r.Header.Get("Location"); loc != "" {
			t.Errorf("%v: Location %q, want none", h, loc)
		}
	}
	// A signed-in browser is let through whatever the URL.
	tok := e.fullLogin(adminAEmail, adminAPassword)
	h := cookieHeader(tok)
	h["X-Original-URL"] = fwdApp
	e.wantStatus(e.verify(h, "?redirect=1"), 200)
}

// Open redirects: only URLs on the cookie domain are returned to, in the
// form mfad checked.
func TestReturnURL(t *testing.T) {
	edge, err := httpapi.ParseEdge(fwdPublicURL, fwdDomain, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"https://app.example.test/reports?year=2026": "https://app.example.test/reports?year=2026",
		"https://APP.Example.TEST:8443/x#frag":       "https://APP.Example.TEST:8443/x#frag",
		"https://example.test/":                      "https://example.test/",
		"https://a.b.example.test/%2F%2Fevil.org":    "https://a.b.example.test/%2F%2Fevil.org",
	} {
		got, err := edge.ReturnURL(raw)
		if err != nil || got != want {
			t.Errorf("ReturnURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"", "//evil.org", "///evil.org", "/relative", "evil.org", "https://evil.org", "https://evil.org/app.example.test",
		"https://app.example.test.evil.org/", "https://app.example.test.", "https://notexample.test/",
		"https:\\evil.org", "https://app.example.test\\@evil.org/", "https://app.example.test\\.evil.org/", "/\\evil.org",
		"https:/evil.org", "https:evil.org", "https://evil.org%2f.example.test/", "https://evil%2eorg/", "%2F%2Fevil.org",
		"https%3A%2F%2Fevil.org", "https://user@app.example.test/", "https://app.example.test:443@evil.org/",
		"https://app.example.test@evil.org", "javascript:alert(1)", "data:text/html,hi", "http://app.example.test/",
		"https://app.example.test/\tx", "https://app\t.example.test/", " https://app.example.test/", "https://app.example.test/\n",
		"https://127.0.0.1/", "https://[::1]/", "https://app.example.test:80x/", "https://xn--80ak6aa92e.com/",
		"https://app.example.test/" + strings.Repeat("a", 2100), "https://app.example.test/\xff",
	} {
		if got, err := edge.ReturnURL(raw); err == nil {
			t.Errorf("ReturnURL(%q) = %q, want refused", raw, got)
		}
	}

	// Through the API: a refused return_to sets no cookie and says why.
	e := newForwardEnv(t, "", "")
	r := e.post("/auth/cookie", e.adminAToken, map[string]string{"return_to": "https://app.example.test.evil.org/"})
	e.wantError(r, 400, mfad.CodeInvalid)
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("Set-Cookie %q on a refused return_to", sc)
	}
	r = e.post("/auth/cookie", e.adminAToken, map[string]string{"return_to": fwdApp})
	e.wantStatus(r, 200)
	var got struct {
		ReturnTo string `json:"return_to"`
	}
	if json.Unmarshal(r.Body, &got) != nil || got.ReturnTo != fwdApp {
		t.Fatalf("answer %s", r.Body)
	}
	// Only a full session may set the cookie.
	uid := e.createUser(e.adminAToken, "pat@example.com", "pat-password-1", false)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	lim := e.limitedLogin("pat@example.com", "pat-password-1", mfad.StepEnroll)
	e.wantError(e.post("/auth/cookie", lim, map[string]any{}), 401, mfad.CodeFactorRequired)
}

// The cookie is honoured by /auth/verify and the page's resume only: on
// every other route a request with the cookie alone is answered as one
// with no credentials at all.
func TestCookieRefusedElsewhere(t *testing.T) {
	e := newForwardEnv(t, "", "")
	tok := e.fullLogin(adminAEmail, adminAPassword)
	checked := 0
	for _, rt := range httpapi.NewServer(e.svc, e.store, nil).Routes() {
		if rt.Path == httpapi.BasePath+"/auth/verify" || (rt.Method == "GET" && rt.Path == httpapi.BasePath+"/auth/cookie") {
			continue
		}
		path := strings.ReplaceAll(rt.Path, "{id}", "6f1c9bb4-8d5e-4a4e-9d62-4c4f2f0d8e11")
		var body any
		if rt.Method == "POST" {
			body = map[string]any{}
		}
		bare := e.do(req{Method: rt.Method, Path: path, Body: body})
		withCookie := e.do(req{Method: rt.Method, Path: path, Body: body, Header: cookieHeader(tok)})
		if bare.Status != withCookie.Status {
			t.Errorf("%s %s: %d with the cookie, %d without: the cookie changed the answer", rt.Method, rt.Path, withCookie.Status, bare.Status)
		}
		checked++
	}
	if checked < 25 {
		t.Fatalf("checked %d routes", checked)
	}
	// And the token the cookie holds does work with X-Auth-Token (the
	// refusals above are the cookie's, not the session's).
	e.wantStatus(e.get("/profile", tok), 200)
}

func TestResume(t *testing.T) {
	e := newForwardEnv(t, "", "")
	tok := e.fullLogin(adminAEmail, adminAPassword)
	page := cookieHeader(tok)
	page[httpapi.PageHeader] = "1"
	r := e.do(req{Method: "GET", Path: "/auth/cookie", Header: page})
	e.wantStatus(r, 200)
	if got := e.sessionID(r); got != tok {
		t.Fatalf("resumed %q, want the cookie's session", got)
	}
	// Without the page's header (a link or a form from anywhere): refused.
	e.wantError(e.do(req{Method: "GET", Path: "/auth/cookie", Header: cookieHeader(tok)}), 400, mfad.CodeInvalid)
	// Without a cookie, or with two: 401.
	e.wantError(e.do(req{Method: "GET", Path: "/auth/cookie", Header: map[string]string{httpapi.PageHeader: "1"}}), 401, mfad.CodeUnauthenticated)
	two := cookieHeader(tok, tok)
	two[httpapi.PageHeader] = "1"
	e.wantError(e.do(req{Method: "GET", Path: "/auth/cookie", Header: two}), 401, mfad.CodeUnauthenticated)

	// Sign-out: the page logs out and expires the cookie.
	e.wantStatus(e.get("/session/logout", tok), 200)
	e.wantError(e.do(req{Method: "GET", Path: "/auth/cookie", Header: page}), 401, mfad.CodeUnauthenticated)
	r = e.do(req{Method: "DELETE", Path: "/auth/cookie"})
	e.wantStatus(r, 200)
	cs := (&http.Response{Header: r.Header}).Cookies()
	if len(cs) != 1 || cs[0].Name != httpapi.CookieName || cs[0].MaxAge >= 0 || cs[0].Domain != fwdDomain {
		t.Fatalf("Set-Cookie %q: want %s expired on %s", r.Header.Values("Set-Cookie"), httpapi.CookieName, fwdDomain)
	}
}

// The client address of the audit trail and the per-address limit.
func TestTrustedProxies(t *testing.T) {
	lastAddr := func(e *env) string {
		t.Helper()
		r := e.get("/tracking/activity?limit=1", e.adminAToken)
		e.wantStatus(r, 200)
		var v struct {
			Items []struct {
				Addr string `json:"addr"`
			} `json:"activity"`
		}
		if json.Unmarshal(r.Body, &v) != nil || len(v.Items) == 0 {
			t.Fatalf("activity %s", r.Body)
		}
		return v.Items[0].Addr
	}
	login := func(e *env, xff ...string) {
		t.Helper()
		r := e.do(req{Method: "GET", Path: "/session/login", Basic: &[2]string{adminAEmail, adminAPassword}, Extra: http.Header{"X-Forwarded-For": xff}})
		e.wantStatus(r, 200)
	}

	// Untrusted peer: X-Forwarded-For is ignored.
	e := newForwardEnv(t, "", "")
	login(e, "203.0.113.9")
	if a := lastAddr(e); a != "127.0.0.1" {
		t.Fatalf("addr %q with no trusted proxy, want the peer 127.0.0.1", a)
	}

	// Trusted peer: the right-most hop that is not a trusted proxy.
	e = newForwardEnv(t, "127.0.0.1/32, 10.0.0.0/8", "")
	for xff, want := range map[string][]string{
		"203.0.113.9":                         {"203.0.113.9"},
		"198.51.100.1, 203.0.113.9, 10.1.2.3": {"203.0.113.9"}, // the left-most is the client's word only
		"10.0.0.1, 10.0.0.2":                  {"10.0.0.1"},
		"garbage, 203.0.113.9":                {"203.0.113.9"},
		"203.0.113.9, garbage":                {"127.0.0.1"}, // a trusted hop passed nonsense: stop there
		"::ffff:203.0.113.7":                  {"203.0.113.7"},
	} {
		login(e, xff)
		if a := lastAddr(e); a != want[0] {
			t.Errorf("X-Forwarded-For %q: addr %q, want %q", xff, a, want[0])
		}
	}
	login(e, "198.51.100.2", "203.0.113.8") // two headers: one list
	if a := lastAddr(e); a != "203.0.113.8" {
		t.Errorf("two X-Forwarded-For headers: addr %q", a)
	}
}

func TestCORS(t *testing.T) {
	const origin = "https://files.example.test"
	e := newForwardEnv(t, "", origin+", https://other.example.test:8443")
	preflight := func(path, from, method string) resp {
		t.Helper()
		return e.do(req{Method: "OPTIONS", Path: path, Header: map[string]string{"Origin": from, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "x-auth-token"}})
	}
	r := preflight("/profile", origin, "GET")
	e.wantStatus(r, 204)
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":  origin,
		"Access-Control-Allow-Methods": "GET",
		"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Auth-Token",
		"Access-Control-Max-Age":       "600",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("preflight %s = %q, want %q", h, got, want)
		}
	}
	if v := r.Header.Get("Access-Control-Allow-Credentials"); v != "" {
		t.Errorf("Allow-Credentials %q: the API never takes cookies", v)
	}
	e.wantStatus(preflight("/user/metadata/6f1c9bb4-8d5e-4a4e-9d62-4c4f2f0d8e11", origin, "GET"), 204)

	// Not in the list (also near misses), the cookie endpoints, unknown
	// paths: no CORS headers, the usual answer.
	for _, c := range []struct{ path, origin string }{
		{"/profile", "https://evil.example.org"},
		{"/profile", "https://files.example.test.evil.org"},
		{"/profile", "http://files.example.test"},
		{"/profile", "https://FILES.example.test"},
		{"/profile", "null"},
		{"/auth/verify", origin},
		{"/auth/cookie", origin},
		{"/no/such/path", origin},
	} {
		r := preflight(c.path, c.origin, "GET")
		if r.Status == 204 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight of %s from %s: %d, Allow-Origin %q", c.path, c.origin, r.Status, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}

	// The real request from the origin: readable, with the headers a
	// Quatrix client needs.
	r = e.do(req{Method: "GET", Path: "/profile", Token: e.adminAToken, Header: map[string]string{"Origin": origin}})
	e.wantStatus(r, 200)
	if r.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Mfa-Code") {
		t.Fatalf("headers %v", r.Header)
	}
	if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("Vary %q", r.Header.Values("Vary"))
	}
	r = e.do(req{Method: "GET", Path: "/profile", Token: e.adminAToken, Header: map[string]string{"Origin": "https://evil.example.org"}})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for an origin not in the list")
	}
}

func TestParseEdge(t *testing.T) {
	for _, c := range []struct{ pub, domain, proxies, cors, want string }{
		{"", "example.com", "", "", "needs --public-url"},
		{"https://auth.example.com", "com", "", "", "public suffix"},
		{"https://auth.example.co.uk", "co.uk", "", "", "public suffix"},
		{"https://auth.other.com", "example.com", "", "", "does not cover"},
		{"https://auth.example.com", "https://example.com", "", "", "a domain name"},
		{"https://auth.example.com", "example.com:443", "", "", "a domain name"},
		{"https://10.0.0.1", "10.0.0.1", "", "", "a domain name"},
		{"ftp://auth.example.com", "", "", "", "--public-url"},
		{"https://auth.example.com/?x=1", "", "", "", "--public-url"},
		{"", "", "10.0.0.0/33", "", "--trusted-proxies"},
		{"", "", "proxy.example.com", "", "--trusted-proxies"},
		{"", "", "", "*", "--cors-origins"},
		{"", "", "", "https://app.example.com/", "--cors-origins"},
		{"", "", "", "app.example.com", "--cors-origins"},
	} {
		_, err := httpapi.ParseEdge(c.pub, c.domain, c.proxies, c.cors)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseEdge(%q, %q, %q, %q) = %v, want an error with %q", c.pub, c.domain, c.proxies, c.cors, err, c.want)
		}
	}
	e, err := httpapi.ParseEdge("https://auth.example.com/", ".Example.COM", "10.0.0.0/8 192.168.1.1,::1", "https://App.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if e.CookieDomain != "example.com" || len(e.TrustedProxies) != 3 || e.CORSOrigins[0] != "https://app.example.com" || e.PublicURL.String() != "https://auth.example.com" {
		t.Fatalf("%+v", e)
	}
}
