//go:build linux

package web_test

// The pieces of the forward-auth tests (forwardauth_browser_test.go): a
// throwaway certificate, the protected app, the configurations of
// docs/proxy with the test's names, ports and paths, a proxy process, a Go
// client that reaches the proxy by name, and the checks every proxy passes.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/internal/testserver"
)

// The names the proxies serve; the browser and the Go clients resolve them
// to 127.0.0.1.
const (
	proxyDomain = "example.test"
	appHost     = "app.example.test"
	authHost    = "auth.example.test"
)

// proxyWait bounds the start of a proxy and its first answer.
const proxyWait = 15 * time.Second

// requireTool returns the path of a program of a Debian package, or skips
// the test without it (fails under CI).
func requireTool(t *testing.T, path, pkg string) string {
	t.Helper()
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: install it with apt-get install -y %s (.ci/run does)", path, pkg)
		}
		t.Skipf("forward-auth test skipped: %s is missing (apt-get install -y %s); under CI this fails", path, pkg)
	}
	return path
}

// ---- a throwaway certificate authority and a certificate for the domain

type testCert struct {
	certFile, keyFile string         // PEM files of the server certificate and its key
	pool              *x509.CertPool // the authority, for the Go clients
	spki              string         // base64 SHA-256 of the certificate's public key, for Chromium
}

// newTestCert makes an authority and a certificate for *.example.test and
// example.test it signed, valid for a day, in dir.
func newTestCert(t *testing.T, dir string) *testCert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mfad test authority"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: proxyDomain},
		DNSNames:     []string{"*." + proxyDomain, proxyDomain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	if err := os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AddCert(ca)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

// ---- the protected app

// upstream is the app behind the proxy: it answers every request with a
// page showing the Remote-* headers it got, and records them by request
// URI.
type upstream struct {
	addr string // 127.0.0.1:port
	mu   sync.Mutex
	seen map[string]http.Header
}

// remoteHeaders are the headers mfad's answer puts on requests to the app.
var remoteHeaders = []string{"Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups"}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{seen: map[string]http.Header{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = l.Addr().String()
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.RequestURI()] = r.Header.Clone()
		u.mu.Unlock()
		var b strings.Builder
		b.WriteString("<!doctype html><html lang=en><meta charset=utf-8><title>The app</title><h1>The app</h1><dl>")
		for _, name := range remoteHeaders {
			fmt.Fprintf(&b, "<dt>%s<dd id=%q>%s", name, strings.ToLower(name), html.EscapeString(strings.Join(r.Header.Values(name), " | ")))
		}
		b.WriteString("</dl>")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, b.String())
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return u
}

// got returns the headers of the request for uri (path and query), if the
// app got one.
func (u *upstream) got(uri string) (http.Header, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	h, ok := u.seen[uri]
	return h, ok
}

// wantRemote checks the Remote-* headers the app got for uri: each exactly
// once with the value of want, or absent or empty where want has "".
func (u *upstream) wantRemote(t *testing.T, uri string, want map[string]string) {
	t.Helper()
	h, ok := u.got(uri)
	if !ok {
		t.Fatalf("the app got no request for %s", uri)
	}
	for _, name := range remoteHeaders {
		vs := h.Values(name)
		switch w := want[name]; {
		case w == "" && (len(vs) == 0 || len(vs) == 1 && vs[0] == ""):
		case w != "" && len(vs) == 1 && vs[0] == w:
		default:
			t.Errorf("the app got %s %q for %s, want %q", name, vs, uri, w)
		}
	}
}

// ---- the configurations of docs/proxy

// subst replaces old with new in a configuration file of the docs, which
// must hold old exactly n times: a test that no longer matches the file
// fails instead of testing something else.
type subst struct {
	old, new string
	n        int
}

// renderDoc reads docs/proxy/<name> and applies the substitutions.
func renderDoc(t *testing.T, name string, subs []subst) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "proxy", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range subs {
		if got := strings.Count(s, r.old); got != r.n {
			t.Fatalf("docs/proxy/%s holds %q %d times, the test expects %d: the file and the test no longer agree", name, r.old, got, r.n)
		}
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- a proxy process

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startProxy starts cmd, waits (bounded) until ready succeeds, and stops it
// with SIGTERM (SIGKILL after 10 s) when the test ends. logs are files the
// program writes, shown with its output when the test fails.
func startProxy(t *testing.T, cmd *exec.Cmd, ready func() error, logs ...string) {
	t.Helper()
	name := filepath.Base(cmd.Path)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary, should it die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	show := func() string {
		s := out.String()
		for _, f := range logs {
			if b, err := os.ReadFile(f); err == nil {
				s += "\n--- " + f + ":\n" + string(b)
			}
		}
		return s
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop in 10 s after SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, show())
		}
	})
	deadline := time.Now().Add(proxyWait)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("%s exited (%v) before it answered:\n%s", name, werr, show())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer in %v: %v\n%s", name, proxyWait, err, show())
		}
	}
}

// proxyClient is an HTTPS client for the proxy on port: every name under
// example.test goes to 127.0.0.1:port, the test authority is trusted, and
// redirects are returned, not followed. jar may be nil.
func proxyClient(c *testCert, port int, jar http.CookieJar) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Jar:     jar,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil || (host != proxyDomain && !strings.HasSuffix(host, "."+proxyDomain)) {
					return nil, fmt.Errorf("the test client dials only names under %s, not %s", proxyDomain, addr)
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			},
			TLSClientConfig:     &tls.Config{RootCAs: c.pool},
			TLSHandshakeTimeout: 5 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// viaProxy sends a request with extra headers (set as written: a lower-case
// name goes out in lower case) and reads the answer.
func viaProxy(t *testing.T, c *http.Client, method, rawURL string, header map[string]string, body string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	return resp{r.StatusCode, r.Header, string(b)}
}

// signInURL is where mfad sends a browser that asked for original.
func signInURL(publicURL, original string) string {
	return publicURL + "/?rd=" + url.QueryEscape(original)
}

// wantSignIn checks that the proxy answered a request for original with a
// redirect to the sign-in page that returns there, and that the app never
// saw the request.
func wantSignIn(t *testing.T, up *upstream, r resp, publicURL, original string) {
	t.Helper()
	if r.status != http.StatusFound {
		t.Fatalf("not signed in: %d %s for %s, want 302 to the sign-in page", r.status, r.body, original)
	}
	if got, want := r.header.Get("Location"), signInURL(publicURL, original); got != want {
		t.Fatalf("not signed in: Location %q, want %q", got, want)
	}
	u, _ := url.Parse(original)
	if _, ok := up.got(u.RequestURI()); ok {
		t.Fatalf("the app got the request for %s without a session", original)
	}
}

// forwardAuthServer starts mfad with forward auth on: its page at
// https://auth.example.test:<port> (behind the proxy), the cookie for
// example.test, 127.0.0.1 a trusted proxy.
func forwardAuthServer(t *testing.T, port int) (srv *testserver.Server, publicURL string) {
	t.Helper()
	publicURL = fmt.Sprintf("https://%s:%d", authHost, port)
	edge, err := httpapi.ParseEdge(publicURL, proxyDomain, "127.0.0.1/32", "")
	if err != nil {
		t.Fatal(err)
	}
	return testserver.Start(t, testserver.Options{PublicURL: publicURL, Edge: edge}), publicURL
}

// cookieThroughProxy logs in through the proxy with the password (a user
// who owes no factor) and has the full session set as the cookie (POST
// /auth/cookie), as the web page does after the last factor. It checks the
// cookie's attributes and returns the session id; the cookie is in c's jar.
func cookieThroughProxy(t *testing.T, c *http.Client, publicURL, email, password string) string {
	t.Helper()
	req, err := http.NewRequest("GET", publicURL+"/api/1.0/session/login", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(email, password)
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		SessionID string `json:"session_id"`
	}
	err = json.NewDecoder(r.Body).Decode(&s)
	r.Body.Close()
	if r.StatusCode != 200 || err != nil || s.SessionID == "" {
		t.Fatalf("login of %s through the proxy: %d, %v", email, r.StatusCode, err)
	}
	got := viaProxy(t, c, "POST", publicURL+"/api/1.0/auth/cookie",
		map[string]string{"X-Auth-Token": s.SessionID, "Content-Type": "application/json"}, "{}")
	if got.status != 200 {
		t.Fatalf("POST /auth/cookie through the proxy: %d %s", got.status, got.body)
	}
	var cookie *http.Cookie
	for _, sc := range got.header.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == httpapi.CookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("POST /auth/cookie set no %s cookie: %q", httpapi.CookieName, got.header.Values("Set-Cookie"))
	}
	if cookie.Value != s.SessionID || cookie.Domain != proxyDomain || cookie.Path != "/" || !cookie.HttpOnly || !cookie.Secure ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 0 || !cookie.Expires.IsZero() {
		t.Fatalf("the cookie %q: want the session id, Domain=%s, Path=/, HttpOnly, Secure, SameSite=Lax, no expiry", cookie.Raw, proxyDomain)
	}
	return s.SessionID
}

// forgedHeaders are what a client claims in the hope that the app believes
// it; the names in several cases.
var forgedHeaders = map[string]string{
	"Remote-User":   "forged-user-id",
	"Remote-Groups": "admins",
	"remote-email":  "forged@evil.example.org",
	"REMOTE-NAME":   "Forged Name",
}

// forwardAuthChecks are the checks both proxies pass, with a Go client: no
// session, a full session in the cookie, forged headers with and without
// it, an admin's group, the cookie after logout, and last, with mfad
// stopped, the proxy's answer downStatus and nothing for the app.
func forwardAuthChecks(t *testing.T, srv *testserver.Server, up *upstream, cert *testCert, port int, publicURL string, downStatus int) {
	appURL := fmt.Sprintf("https://%s:%d", appHost, port)
	userID := createUser(t, srv, "Grace Hopper", "grace@example.com", "grace-password")
	noCookie := proxyClient(cert, port, nil)

	t.Run("NoSessionIsSentToSignIn", func(t *testing.T) {
		orig := appURL + "/reports/q3?year=2026&sort=desc"
		wantSignIn(t, up, viaProxy(t, noCookie, "GET", orig, nil, ""), publicURL, orig)
		// Forged headers change nothing without a session.
		orig = appURL + "/forged/no-session"
		wantSignIn(t, up, viaProxy(t, noCookie, "GET", orig, forgedHeaders, ""), publicURL, orig)
	})

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	grace := proxyClient(cert, port, jar)
	session := cookieThroughProxy(t, grace, publicURL, "grace@example.com", "grace-password")
	want := map[string]string{"Remote-User": userID, "Remote-Email": "grace@example.com", "Remote-Name": "Grace Hopper"}

	t.Run("CookieLetsThrough", func(t *testing.T) {
		r := viaProxy(t, grace, "GET", appURL+"/reports/q3?year=2026", nil, "")
		if r.status != 200 || !strings.Contains(r.body, userID) {
			t.Fatalf("with the cookie: %d %s", r.status, r.body)
		}
		up.wantRemote(t, "/reports/q3?year=2026", want)
	})

	t.Run("ForgedHeadersAreReplaced", func(t *testing.T) {
		r := viaProxy(t, grace, "GET", appURL+"/forged/with-session", forgedHeaders, "")
		if r.status != 200 {
			t.Fatalf("with the cookie and forged headers: %d %s", r.status, r.body)
		}
		up.wantRemote(t, "/forged/with-session", want) // Remote-Groups absent or empty: Grace is no admin
	})

	t.Run("AdminGetsTheGroup", func(t *testing.T) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		admin := proxyClient(cert, port, jar)
		cookieThroughProxy(t, admin, publicURL, testserver.AdminEmail, testserver.AdminPassword)
		if r := viaProxy(t, admin, "GET", appURL+"/admin/page", nil, ""); r.status != 200 {
			t.Fatalf("the admin with the cookie: %d %s", r.status, r.body)
		}
		up.wantRemote(t, "/admin/page", map[string]string{"Remote-User": srv.AdminID, "Remote-Email": testserver.AdminEmail,
			"Remote-Name": "Admin A", "Remote-Groups": httpapi.AdminsGroup})
	})

	t.Run("AfterLogoutSentToSignIn", func(t *testing.T) {
		r := viaProxy(t, grace, "GET", publicURL+"/api/1.0/session/logout", map[string]string{"X-Auth-Token": session}, "")
		if r.status != 200 && r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		orig := appURL + "/after/logout"
		wantSignIn(t, up, viaProxy(t, grace, "GET", orig, nil, ""), publicURL, orig)
	})

	// mfad unreachable: the proxy lets nobody through.
	t.Run("MfadDownLetsNobodyThrough", func(t *testing.T) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := proxyClient(cert, port, jar)
		cookieThroughProxy(t, c, publicURL, "grace@example.com", "grace-password")
		srv.HTTP.Close()
		if r := viaProxy(t, c, "GET", appURL+"/mfad/down", nil, ""); r.status != downStatus {
			t.Errorf("mfad stopped: the proxy answered %d %s, want %d", r.status, r.body, downStatus)
		}
		if _, ok := up.got("/mfad/down"); ok {
			t.Fatal("the app got a request while mfad was down")
		}
	})
}

// getOK is nil when a GET of rawURL answers 200.
func getOK(c *http.Client, rawURL string) error {
	r, err := c.Get(rawURL)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		return errors.New(r.Status)
	}
	return nil
}

// TestForwardAuthDocsShowTheTestedFiles: docs/forward-auth.md shows each
// file of docs/proxy (after its heading comment) as it is, so that the page
// shows what the tests run.
func TestForwardAuthDocsShowTheTestedFiles(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, lang string }{{"nginx.conf", "nginx"}, {"Caddyfile", "caddyfile"}, {"traefik.yml", "yaml"}} {
		b, err := os.ReadFile(filepath.Join("..", "docs", "proxy", f.name))
		if err != nil {
			t.Fatal(err)
		}
		// The file's heading: the comment lines up to the first empty line.
		_, body, ok := strings.Cut(string(b), "\n\n")
		if !ok || strings.TrimSpace(body) == "" {
			t.Fatalf("docs/proxy/%s: no empty line after its heading comment", f.name)
		}
		if !strings.Contains(string(page), "```"+f.lang+"\n"+body+"```\n") {
			t.Errorf("docs/forward-auth.md does not show docs/proxy/%s (after its heading comment) as it is, in a ```%s block", f.name, f.lang)
		}
	}
}
