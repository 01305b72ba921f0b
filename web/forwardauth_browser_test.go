//go:build linux

package web_test

// Forward auth behind real reverse proxies: Debian's nginx and Caddy run
// the configurations of docs/proxy (names, ports and paths substituted) in
// front of mfad and of a small app that shows the headers it gets, with a
// throwaway certificate (the pieces: forwardauth_proxy_test.go). Chromium
// drives the nginx test, resolving the example.test names to 127.0.0.1 and
// trusting that certificate; the Caddy test uses a Go client.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mfad/mfad/internal/testserver"
)

// nginxPath is where Debian's nginx package puts nginx.
const nginxPath = "/usr/sbin/nginx"

// requireNginx returns nginx's path, or skips the test (fails under CI)
// when it is missing or lacks the auth_request module.
func requireNginx(t *testing.T) string {
	t.Helper()
	nginx := requireTool(t, nginxPath, "nginx")
	out, err := exec.Command(nginx, "-V").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--with-http_auth_request_module") {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s has no auth_request module (%v): install Debian's nginx package", nginx, err)
		}
		t.Skipf("forward-auth test skipped: %s has no auth_request module (Debian's nginx package has it); under CI this fails", nginx)
	}
	return nginx
}

// startNginx runs nginx with the documented server blocks, both on port,
// in front of mfad (srv) and the app (up). The main configuration around
// them is the test's: everything in dir, in the foreground, one process
// (no master and workers: nothing to drop privileges to when the tests run
// as root, and nothing left running should the test binary die).
func startNginx(t *testing.T, nginx, dir string, cert *testCert, port int, srv *testserver.Server, up *upstream) {
	t.Helper()
	mfadAddr := strings.TrimPrefix(srv.URL, "http://")
	servers := renderDoc(t, "nginx.conf", []subst{
		{"/etc/ssl/example.com/fullchain.pem", cert.certFile, 2},
		{"/etc/ssl/example.com/privkey.pem", cert.keyFile, 2},
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", port), 2},
		{"server_name app.example.com;", "server_name " + appHost + ";", 1},
		{"server_name auth.example.com;", "server_name " + authHost + ";", 1},
		{"proxy_pass http://127.0.0.1:8080", "proxy_pass http://" + mfadAddr, 2},
		{"proxy_pass http://127.0.0.1:3000;", "proxy_pass http://" + up.addr + ";", 1},
	})
	if err := os.WriteFile(filepath.Join(dir, "mfad.conf"), []byte(servers), 0o644); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[2]s info;
events { worker_connections 128; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/mfad.conf;
}
`, dir, errorLog)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := proxyClient(cert, port, nil)
	start := time.Now()
	startProxy(t, exec.Command(nginx, "-e", errorLog, "-p", dir, "-c", conf),
		func() error { return getOK(probe, fmt.Sprintf("https://%s:%d/api/1.0/openapi.yaml", authHost, port)) },
		errorLog)
	t.Logf("nginx answered in %v", time.Since(start).Round(time.Millisecond))
}

// TestForwardAuthNginx: a browser asks for a protected app, signs in with
// a password and a TOTP code on mfad's page and lands back on the app,
// which gets the user's headers; another tab gets through at once; signing
// out sends the app's visitors to sign in again; a return address off the
// domain is refused. Then the Go client's checks (forwardAuthChecks):
// forged headers never reach the app as sent.
func TestForwardAuthNginx(t *testing.T) {
	nginx := requireNginx(t)
	dir := t.TempDir()
	cert := newTestCert(t, dir)
	browser := startBrowser(t,
		// Only the test's names resolve, and to loopback, without any proxy
		// of the environment in the way.
		chromedp.Flag("host-resolver-rules", "MAP *."+proxyDomain+" 127.0.0.1, MAP "+proxyDomain+" 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("no-proxy-server", true),
		// The throwaway certificate is trusted by its public key.
		chromedp.Flag("ignore-certificate-errors-spki-list", cert.spki),
	)
	up := startUpstream(t)
	port := freePort(t)
	srv, publicURL := forwardAuthServer(t, port)
	startNginx(t, nginx, dir, cert, port, srv, up)
	appURL := fmt.Sprintf("https://%s:%d", appHost, port)

	userID := createUser(t, srv, "Frank Forward", "frank@example.com", "frank-password")
	secret := enrollTOTP(t, srv, "frank@example.com", "frank-password")
	wantFrank := map[string]string{"Remote-User": userID, "Remote-Email": "frank@example.com", "Remote-Name": "Frank Forward"}

	// Not signed in: the app's address leads to mfad's sign-in page, which
	// knows where to return; password, then the TOTP code: back on the
	// app, as Frank.
	if !t.Run("SignInReturnsToTheApp", func(t *testing.T) {
		p := newPage(t, browser, srv)
		orig := appURL + "/some/path?q=1"
		p.visit(orig)
		p.waitView("signin")
		if got, want := p.location(), signInURL(publicURL, orig); got != want {
			t.Fatalf("the app sent the browser to %s, want %s", got, want)
		}
		if _, ok := up.got("/some/path?q=1"); ok {
			t.Fatal("the app got the request before the sign-in")
		}
		p.signIn("frank@example.com", "frank-password")
		p.waitView("totp")
		p.typeInto("totp-code", srv.Code(t, secret, 0))
		p.click("totp-submit")
		p.waitLocation("the app's page", orig)
		if got := eval[string](p, `document.getElementById('remote-user').textContent`); got != userID {
			t.Fatalf("the app's page shows Remote-User %q, want %q", got, userID)
		}
		up.wantRemote(t, "/some/path?q=1", wantFrank)
	}) {
		return // the rest needs the signed-in browser
	}

	// Another tab of the same browser goes straight through.
	t.Run("OtherTabGoesThrough", func(t *testing.T) {
		p := newPage(t, browser, srv)
		p.visit(appURL + "/second/tab")
		if got := p.location(); got != appURL+"/second/tab" {
			t.Fatalf("the second tab is at %s, want the app", got)
		}
		up.wantRemote(t, "/second/tab", wantFrank)
	})

	// mfad's page opened with a return address by a browser signed in
	// already (the cookie): straight back to the app.
	t.Run("SignedInPageReturnsToTheApp", func(t *testing.T) {
		p := newPage(t, browser, srv)
		orig := appURL + "/from/the/page?x=%C3%A9"
		p.visit(publicURL + "/?rd=" + url.QueryEscape(orig))
		p.waitLocation("the app's page", orig)
		up.wantRemote(t, "/from/the/page?x=%C3%A9", wantFrank)
	})

	evil := "https://evil.example.org/"
	// refused checks that the page says it does not send the browser to
	// evil and stays on mfad, without having gone anywhere else.
	refused := func(t *testing.T, p *page) {
		t.Helper()
		p.waitFor("a message naming the refused address",
			`(evil) => { const m = document.getElementById('msg'); return !m.hidden && m.className.includes('error') && m.textContent.includes(evil); }`, evil)
		if got := p.location(); !strings.HasPrefix(got, publicURL+"/") {
			t.Fatalf("the page went to %s", got)
		}
		ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
		defer cancel()
		hist, err := chromedp.Run(ctx, chromedp.NavigationEntries())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range hist.Entries {
			if e.URL != "about:blank" && !strings.HasPrefix(e.URL, publicURL+"/") {
				t.Fatalf("the tab went to %s", e.URL)
			}
		}
	}

	// Signed in already (the cookie), mfad's page opened with a return
	// address off the domain: refused.
	t.Run("ForeignReturnRefusedWhenSignedIn", func(t *testing.T) {
		p := newPage(t, browser, srv)
		p.visit(publicURL + "/?rd=" + url.QueryEscape(evil))
		p.waitView("security")
		refused(t, p)
	})

	// Sign out on mfad's page: the app sends the browser to sign in again.
	t.Run("SignOutSendsBackToSignIn", func(t *testing.T) {
		p := newPage(t, browser, srv)
		p.visit(publicURL + "/")
		p.waitView("security") // the session of the cookie
		p.signOut()
		orig := appURL + "/after/sign-out"
		p.visit(orig)
		p.waitView("signin")
		if got, want := p.location(), signInURL(publicURL, orig); got != want {
			t.Fatalf("after the sign-out the app sent the browser to %s, want %s", got, want)
		}
		if _, ok := up.got("/after/sign-out"); ok {
			t.Fatal("the app got a request after the sign-out")
		}
	})

	// Signing in on a page opened with a return address off the domain:
	// the sign-in works, the page says it does not go there.
	t.Run("ForeignReturnRefusedAtSignIn", func(t *testing.T) {
		srv.Clock.Advance(30 * time.Second) // a fresh TOTP code
		p := newPage(t, browser, srv)
		p.visit(publicURL + "/?rd=" + url.QueryEscape(evil))
		p.signIn("frank@example.com", "frank-password")
		p.waitView("totp")
		p.typeInto("totp-code", srv.Code(t, secret, 0))
		p.click("totp-submit")
		refused(t, p)
	})

	forwardAuthChecks(t, srv, up, cert, port, publicURL, http.StatusInternalServerError)
}

// location is the tab's address.
func (p *page) location() string {
	p.t.Helper()
	return eval[string](p, `location.href`)
}

// waitLocation waits until the tab has loaded want. A poll in the page
// does not outlive a navigation, so each look is a short evaluation of its
// own, and one that fails while the page changes is tried again.
func (p *page) waitLocation(what, want string) {
	p.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[location.href, document.readyState]`))
		cancel()
		if err == nil && len(loc) == 2 {
			last = loc[0]
			if loc[0] == want && loc[1] == "complete" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("wait for %s: the tab is at %q after %v, want %q (message shown: %q)", what, last, stepTimeout, want, p.message())
}

// ---- Caddy

// caddyPath is where Debian's caddy package puts Caddy.
const caddyPath = "/usr/bin/caddy"

// TestForwardAuthCaddy runs Caddy with docs/proxy/Caddyfile in front of
// mfad and the app.
func TestForwardAuthCaddy(t *testing.T) {
	caddy := requireTool(t, caddyPath, "caddy")
	dir := t.TempDir()
	cert := newTestCert(t, dir)
	up := startUpstream(t)
	port := freePort(t)
	srv, publicURL := forwardAuthServer(t, port)
	mfadAddr := strings.TrimPrefix(srv.URL, "http://")

	// The documented Caddyfile with the test's names, ports and
	// certificate; the global options keep Caddy to this directory and
	// this port (no admin endpoint, no redirect listener on port 80).
	site := func(host string) string {
		return fmt.Sprintf("https://%s:%d {\n\ttls %s %s", host, port, cert.certFile, cert.keyFile)
	}
	caddyfile := fmt.Sprintf("{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {\n\t\troot %s\n\t}\n}\n\n",
		filepath.Join(dir, "storage")) +
		renderDoc(t, "Caddyfile", []subst{
			{"auth.example.com {", site(authHost), 1},
			{"app.example.com {", site(appHost), 1},
			{"reverse_proxy 127.0.0.1:8080", "reverse_proxy " + mfadAddr, 1},
			{"forward_auth 127.0.0.1:8080 {", "forward_auth " + mfadAddr + " {", 1},
			{"reverse_proxy 127.0.0.1:3000", "reverse_proxy " + up.addr, 1},
		})
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--adapter", "caddyfile", "--config", conf)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	probe := proxyClient(cert, port, nil)
	start := time.Now()
	startProxy(t, cmd, func() error { return getOK(probe, publicURL+"/api/1.0/openapi.yaml") })
	t.Logf("Caddy answered in %v", time.Since(start).Round(time.Millisecond))

	// A request a redirect cannot repeat is refused, not redirected.
	t.Run("PostWithoutSessionIs401", func(t *testing.T) {
		r := viaProxy(t, probe, "POST", fmt.Sprintf("https://%s:%d/form", appHost, port), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=1")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("POST without a session: %d %s, want 401", r.status, r.body)
		}
		if _, ok := up.got("/form"); ok {
			t.Fatal("the app got the POST without a session")
		}
	})

	forwardAuthChecks(t, srv, up, cert, port, publicURL, http.StatusBadGateway)
}
