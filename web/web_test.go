package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/web"
)

const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

type resp struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, h http.Handler, method, path string) resp {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return resp{w.Code, w.Result().Header, w.Body.String()}
}

func fetch(t *testing.T, url string) resp {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{r.StatusCode, r.Header, string(b)}
}

func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": wantCSP,
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestIndexAndSecurityHeaders(t *testing.T) {
	h := web.Handler()
	r := get(t, h, "GET", "/")
	if r.status != 200 {
		t.Fatalf("GET /: %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET /: Content-Type %q", ct)
	}
	if !strings.Contains(r.body, `<script src="/static/app.js"`) || !strings.Contains(r.body, "<h1") {
		t.Fatalf("GET / is not the app's index.html:\n%s", r.body)
	}
	wantSecurityHeaders(t, "GET /", r.header)
	if web.ContentSecurityPolicy != wantCSP {
		t.Fatalf("ContentSecurityPolicy = %q", web.ContentSecurityPolicy)
	}

	// Every other response of the site carries them too.
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/static/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/static/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/static/favicon.svg", 200, "image/svg+xml"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/nope", 404, "text/html; charset=utf-8"},
		{"GET", "/index.html", 404, "text/html; charset=utf-8"},
		{"GET", "/static/", 404, "text/html; charset=utf-8"}, // no directory listing
		{"GET", "/static/nope.js", 404, "text/html; charset=utf-8"},
		{"GET", "/static/../web.go", 404, "text/html; charset=utf-8"},
		{"GET", "/static//app.js", 404, "text/html; charset=utf-8"},
		{"POST", "/", 405, "text/html; charset=utf-8"},
	} {
		r := get(t, h, c.method, c.path)
		what := c.method + " " + c.path
		if r.status != c.status || r.header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: %d %q, want %d %q", what, r.status, r.header.Get("Content-Type"), c.status, c.ctype)
		}
		wantSecurityHeaders(t, what, r.header)
	}
	if r := get(t, h, "POST", "/"); r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: Allow %q", r.header.Get("Allow"))
	}
}

var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	scriptOpen = regexp.MustCompile(`(?i)<script\b`)
	handlerAtt = regexp.MustCompile(`(?i)[\s"'/]on[a-z]+\s*=`)
	styleAtt   = regexp.MustCompile(`(?i)[\s"'/]style\s*=`)
	styleTag   = regexp.MustCompile(`(?i)<style\b`)
	jsURL      = regexp.MustCompile(`(?i)javascript:`)
)

// checkHTML fails on anything the CSP would block or that smuggles script:
// inline <script> content, on...= handler attributes, style= attributes,
// <style> elements, javascript: URLs.
func checkHTML(t *testing.T, what, body string) {
	t.Helper()
	tags := scriptTag.FindAllStringSubmatch(body, -1)
	if len(tags) != len(scriptOpen.FindAllString(body, -1)) {
		t.Errorf("%s: a <script> tag without its </script>", what)
	}
	for _, m := range tags {
		if strings.TrimSpace(m[2]) != "" {
			t.Errorf("%s: inline script %q", what, m[0])
		}
		if !strings.Contains(m[1], "src=") {
			t.Errorf("%s: script without src: %q", what, m[0])
		}
	}
	for _, re := range []*regexp.Regexp{handlerAtt, styleAtt, styleTag, jsURL} {
		if m := re.FindString(body); m != "" {
			t.Errorf("%s: contains %q", what, m)
		}
	}
}

func TestNoInlineScriptStyleOrHandlers(t *testing.T) {
	h := web.Handler()
	// Every page the handler serves ...
	for _, c := range [][2]string{{"GET", "/"}, {"GET", "/nope"}, {"POST", "/"}} {
		r := get(t, h, c[0], c[1])
		checkHTML(t, c[0]+" "+c[1], r.body)
	}
	// ... and every HTML file embedded, as served.
	ents, err := os.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		disk, err := os.ReadFile(filepath.Join("static", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r := get(t, h, "GET", "/static/"+e.Name())
		if r.status != 200 || r.body != string(disk) {
			t.Errorf("/static/%s: %d, or not the file on disk", e.Name(), r.status)
		}
		if strings.HasSuffix(e.Name(), ".html") {
			checkHTML(t, e.Name(), r.body)
		}
	}
	// The script builds the DOM with textContent only and keeps the token
	// in sessionStorage.
	js := get(t, h, "GET", "/static/app.js").body
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "setAttribute('style'", "setAttribute(\"style\"", "javascript:"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %q", bad)
		}
	}
	if !strings.Contains(js, "sessionStorage") || !strings.Contains(js, "X-Auth-Token") {
		t.Error("app.js does not keep the token in sessionStorage or send it in X-Auth-Token")
	}
}

var (
	refAttr = regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`)
	inputEl = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	idAttr  = regexp.MustCompile(`\sid="([^"]+)"`)
)

func TestAssetsReferencedByIndexExist(t *testing.T) {
	h := web.Handler()
	index := get(t, h, "GET", "/").body
	refs := refAttr.FindAllStringSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references %d assets; want the script, the stylesheet and the icon", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue // a page of the app
		}
		if !strings.HasPrefix(ref, web.StaticPrefix) {
			t.Errorf("index.html references %q, outside %s (no CDN, no other host)", ref, web.StaticPrefix)
			continue
		}
		if r := get(t, h, "GET", ref); r.status != 200 || r.body == "" {
			t.Errorf("%s: %d", ref, r.status)
		}
	}
}

// TestFormsAreLabelled checks the basics of accessibility the markup can
// show: every input has a <label for>, and code fields ask for one-time codes.
func TestFormsAreLabelled(t *testing.T) {
	index := get(t, web.Handler(), "GET", "/").body
	for _, in := range inputEl.FindAllString(index, -1) {
		m := idAttr.FindStringSubmatch(in)
		if m == nil {
			t.Errorf("input without id: %s", in)
			continue
		}
		if !strings.Contains(index, `<label for="`+m[1]+`"`) {
			t.Errorf("input %s has no <label for>", m[1])
		}
		if strings.Contains(in, `inputmode="numeric"`) && !strings.Contains(in, `autocomplete="one-time-code"`) {
			t.Errorf("code field %s lacks autocomplete=\"one-time-code\"", m[1])
		}
	}
	for _, id := range []string{"totp-code", "enroll-code", "pin-code"} {
		if !regexp.MustCompile(`<input id="` + id + `"[^>]*autocomplete="one-time-code"`).MatchString(index) {
			t.Errorf("%s lacks autocomplete=\"one-time-code\"", id)
		}
	}
}

// TestSiteOnTheRealServer: mfad serves the page at / and keeps the API and
// /healthz to itself.
func TestSiteOnTheRealServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})

	r := fetch(t, srv.URL+"/")
	if r.status != 200 || !strings.Contains(r.body, "/static/app.js") {
		t.Fatalf("GET /: %d\n%s", r.status, r.body)
	}
	wantSecurityHeaders(t, "GET / on the server", r.header)

	for _, p := range []string{"/api/1.0/nope", "/api/1.0/", "/api/1.0/static/app.js"} {
		r := fetch(t, srv.URL+p)
		var e struct {
			Msg  string `json:"msg"`
			Code int    `json:"code"`
		}
		if r.status != 404 || r.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.body), &e) != nil || e.Code != 5 {
			t.Errorf("GET %s: %d %q %s; want the API's JSON 404 code 5", p, r.status, r.header.Get("Content-Type"), r.body)
		}
		if r.header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s went through the site", p)
		}
	}
	if r := fetch(t, srv.URL+"/healthz"); r.status != 200 || !strings.Contains(r.body, `"ok"`) {
		t.Errorf("GET /healthz: %d %s", r.status, r.body)
	}
	if r := fetch(t, srv.URL+"/nope"); r.status != 404 || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /nope: %d %q", r.status, r.header.Get("Content-Type"))
	}
}
