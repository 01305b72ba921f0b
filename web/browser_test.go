package web_test

// End-to-end tests of the web front end: Debian's Chromium, headless, driven
// with chromedp against the real server (testserver) and its fake clock.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mfad/mfad/internal/testserver"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds every browser action and wait.
const stepTimeout = 10 * time.Second

// startBrowser starts one headless Chromium for the subtests of t; each
// subtest opens its own tab (its own sessionStorage). extra adds flags.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if st, err := os.Stat(chromiumPath); err != nil || st.Mode()&0o111 == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: install it with apt-get install -y chromium (.ci/run does)", chromiumPath)
		}
		t.Skipf("browser tests skipped: %s is missing (apt-get install -y chromium); under CI this fails", chromiumPath)
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		chromedp.Cancel(browserCtx)
		cancelBrowser()
		cancelAlloc() // waits for the browser to exit, before its data dir is removed
	})
	firstDo(t, "start "+chromiumPath, browserCtx, cancelAlloc)
	return browserCtx
}

// page is one browser tab on one test server.
type page struct {
	t   *testing.T
	ctx context.Context
	srv *testserver.Server
}

func newPage(t *testing.T, browserCtx context.Context, srv *testserver.Server) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, srv: srv}
	firstDo(t, "open a tab", ctx, cancel)
	p.do("set the viewport", chromedp.EmulateViewport(1000, 800))
	t.Cleanup(p.afterTest)
	return p
}

// firstDo runs the first Do on a chromedp context, which opens the browser
// or the tab and binds it to ctx: ctx cannot be a timeout context, so the
// wait is bounded from the side, and cancel ends it.
func firstDo(t *testing.T, what string, ctx context.Context, cancel func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("%s: no answer in 30 s", what)
	}
}

// afterTest saves a screenshot when the test failed, and otherwise checks
// that the page threw no error and the CSP blocked nothing.
func (p *page) afterTest() {
	t := p.t
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if t.Failed() {
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		// A directory that outlives the test, so the picture can be looked at.
		dir, err := os.MkdirTemp("", "mfad-web-failure-")
		if err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
		if err := os.WriteFile(name, img, 0o644); err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		t.Logf("screenshot of the page at the failure: %s", name)
		return
	}
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(window.__problems || [])`))
	if err != nil {
		t.Errorf("read the page's errors: %v", err)
	} else if len(problems) > 0 {
		t.Errorf("the page reported: %q", problems)
	}
}

// do runs actions with a timeout.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v (message shown: %q)", what, err, p.message())
	}
}

// eval evaluates a JavaScript expression with a timeout.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript function fn, called with args, is truthy.
func (p *page) waitFor(what, fn string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[chromedp.Void](fn,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(stepTimeout),
		chromedp.WithPollingArgs(args...)))
	if err != nil {
		p.t.Fatalf("wait for %s: %v (message shown: %q)", what, err, p.message())
	}
}

// message is the text of the page's message box ("" when hidden).
func (p *page) message() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const m = document.getElementById('msg'); return m && !m.hidden ? m.textContent : ''; })()`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

func (p *page) open() {
	p.t.Helper()
	p.openAt("/")
	p.waitView("signin")
}

// openAt loads the page at path (which may carry a hash) and starts
// recording its errors.
func (p *page) openAt(path string) {
	p.t.Helper()
	p.visit(p.srv.URL + path)
}

// visit loads an address (mfad's page, or an app through a proxy) and
// records the page's uncaught errors and CSP violations from there on.
func (p *page) visit(rawURL string) {
	p.t.Helper()
	p.do("open "+rawURL, chromedp.Navigate(rawURL))
	eval[chromedp.Void](p, `(() => {
		window.__problems = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP blocked ' + e.blockedURI + ' (' + e.violatedDirective + ')'));
		window.addEventListener('error', (e) => window.__problems.push('error: ' + e.message));
		window.addEventListener('unhandledrejection', (e) => window.__problems.push('rejection: ' + e.reason));
	})()`)
}

func (p *page) waitView(name string) {
	p.t.Helper()
	p.do("wait for the "+name+" view", chromedp.WaitVisible(chromedp.ID("view-"+name)))
}

// waitMessage waits until the message box shows text containing want.
func (p *page) waitMessage(want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("the message %q", want),
		`(want) => { const m = document.getElementById('msg'); return !m.hidden && m.textContent.includes(want); }`, want)
}

func (p *page) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

func (p *page) typeInto(id, text string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`document.getElementById(%q).value = ''`, id))
	p.do("type into #"+id, chromedp.SendKeys(chromedp.ID(id), text))
}

func (p *page) click(id string) {
	p.t.Helper()
	p.do("click #"+id, chromedp.Click(chromedp.ID(id)))
}

// signIn fills the sign-in form; the caller waits for the step that follows.
func (p *page) signIn(email, password string) {
	p.t.Helper()
	p.waitView("signin")
	p.typeInto("signin-email", email)
	p.typeInto("signin-password", password)
	p.click("signin-submit")
}

// token is the session id the page holds; it must be in sessionStorage and
// nowhere in the URL.
func (p *page) token() string {
	p.t.Helper()
	tok := eval[string](p, `sessionStorage.getItem('mfad.token') || ''`)
	if loc := eval[string](p, `location.href`); tok != "" && strings.Contains(loc, tok) {
		p.t.Fatalf("the session id is in the URL %s", loc)
	}
	if n := eval[int](p, `localStorage.length`); n != 0 {
		p.t.Fatalf("localStorage holds %d items", n)
	}
	return tok
}

func (p *page) signOut() {
	p.t.Helper()
	p.click("signout")
	p.waitView("signin")
	p.waitMessage("signed out")
	if tok := p.token(); tok != "" {
		p.t.Fatalf("token %q still stored after sign-out", tok)
	}
}

// ---- the API, for setting up users

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, srv *testserver.Server, method, path, token string, body any, basic ...string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL+"/api/1.0"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if len(basic) == 2 {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic[0]+":"+basic[1])))
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return apiResp{r.StatusCode, r.Header, b}
}

func (r apiResp) decode(t *testing.T, what string, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, status)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func login(t *testing.T, srv *testserver.Server, email, password string) string {
	t.Helper()
	var s struct {
		SessionID string `json:"session_id"`
	}
	call(t, srv, "GET", "/session/login", "", nil, email, password).decode(t, "login "+email, 200, &s)
	return s.SessionID
}

func createUser(t *testing.T, srv *testserver.Server, name, email, password string) string {
	t.Helper()
	admin := login(t, srv, testserver.AdminEmail, testserver.AdminPassword)
	var u struct {
		ID string `json:"id"`
	}
	call(t, srv, "POST", "/user/create", admin, map[string]string{"name": name, "email": email, "password": password}).
		decode(t, "create "+email, 200, &u)
	return u.ID
}

// enrollTOTP turns on 2FA for a user through the API and returns the secret;
// it moves the clock to the next step so that the next code is fresh.
func enrollTOTP(t *testing.T, srv *testserver.Server, email, password string) string {
	t.Helper()
	tok := login(t, srv, email, password)
	var g struct {
		Secret string `json:"secret"`
	}
	call(t, srv, "GET", "/profile/2fa/generate", tok, nil).decode(t, "generate", 200, &g)
	call(t, srv, "POST", "/profile/set-mfa", tok, map[string]string{"auth_type": "2FA", "code": srv.Code(t, g.Secret, 0)}).
		decode(t, "set-mfa 2FA", 200, nil)
	srv.Clock.Advance(30 * time.Second)
	return g.Secret
}

// ---- the scenarios

func TestBrowser(t *testing.T) {
	start := time.Now()
	browser := startBrowser(t)
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))

	// A user enrolls 2FA by reading the secret from the page and computing
	// the code, signs out, and signs in through the TOTP step.
	t.Run("EnrollSignOutSignInWithTOTP", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		createUser(t, srv, "Alice", "alice@example.com", "alice-password")
		p := newPage(t, browser, srv)
		p.open()
		p.signIn("alice@example.com", "alice-password")
		p.waitView("security")
		p.waitMessage("You are signed in")
		if got := p.text("sec-2fa-state"); got != "Off" {
			t.Fatalf("2FA status %q before enrolling", got)
		}

		p.click("sec-2fa-enable")
		p.waitView("enroll")
		p.waitFor("the secret and the QR code", `() => {
			const img = document.getElementById('enroll-qr');
			return document.getElementById('enroll-secret').textContent.length >= 32 &&
				!img.hidden && img.src.startsWith('data:image/png;base64,') && img.complete && img.naturalWidth > 0;
		}`)
		secret := strings.ReplaceAll(p.text("enroll-secret"), " ", "")
		p.typeInto("enroll-code", p.srv.Code(t, secret, 0))
		p.click("enroll-submit")
		p.waitView("security")
		p.waitMessage("Two-factor authentication is on")
		if got := p.text("sec-2fa-state"); got != "On" {
			t.Fatalf("2FA status %q after enrolling", got)
		}
		if p.token() == "" {
			t.Fatal("no session stored after enrolling")
		}
		p.signOut()

		srv.Clock.Advance(30 * time.Second) // codes are single-use
		p.signIn("alice@example.com", "alice-password")
		p.waitView("totp")
		if ac := eval[string](p, `document.getElementById('totp-code').autocomplete`); ac != "one-time-code" {
			t.Errorf("the code field's autocomplete is %q", ac)
		}
		p.typeInto("totp-code", srv.Code(t, secret, 0))
		p.click("totp-submit")
		p.waitView("security")
		p.waitMessage("You are signed in")
		if got := p.text("sec-2fa-state"); got != "On" {
			t.Fatalf("2FA status %q after signing in", got)
		}
		p.token()
	})

	// An admin creates a user and forces PIN on them on the users page; the
	// user signs in through the PIN step and cannot remove the PIN.
	t.Run("AdminForcesPINThenUserSignsInWithPIN", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		p := newPage(t, browser, srv)
		p.open()
		p.signIn(testserver.AdminEmail, testserver.AdminPassword)
		p.waitView("security")
		p.click("nav-users")
		p.waitView("users")

		p.typeInto("create-name", "Pat")
		p.typeInto("create-email", "pat@example.com")
		p.typeInto("create-password", "pat-password")
		p.click("create-submit")
		p.waitMessage("pat@example.com is created")
		p.rowAction("pat@example.com", "force-pin")
		p.confirm("4321")
		p.waitMessage("PIN is forced on pat@example.com")
		if got := p.row("pat@example.com"); len(got) < 7 || got[6] != "Active, forced" || got[5] != "Off" {
			t.Fatalf("Pat's row %q, want PIN active and forced, 2FA off", got)
		}
		p.signOut()

		p.signIn("pat@example.com", "pat-password")
		p.waitView("pin")
		p.typeInto("pin-code", "4321")
		p.click("pin-submit")
		p.waitView("security")
		if got, forced := p.text("sec-pin-state"), p.text("sec-pin-forced"); got != "On" || !strings.Contains(forced, "Forced") {
			t.Fatalf("PIN status %q, forced %q", got, forced)
		}
		if !eval[bool](p, `document.getElementById('sec-pin-remove').hidden`) {
			t.Fatal("a forced PIN offers a Remove button")
		}
		if eval[bool](p, `!document.getElementById('nav-users-item').hidden || !document.getElementById('nav-activity-item').hidden`) {
			t.Fatal("a user who is not an admin sees the Users or Activity link")
		}
		// No gap where the hidden links are: Security and Sign out sit
		// one gap apart.
		gap := eval[float64](p, `(() => {
			const a = document.getElementById('nav-security').getBoundingClientRect();
			const b = document.getElementById('signout').getBoundingClientRect();
			return b.left - a.right;
		})()`)
		if gap > 30 {
			t.Fatalf("%.0f px between Security and Sign out: a hidden link leaves a gap", gap)
		}
	})

	// A wrong code shows its message; the right one then signs in.
	t.Run("WrongCodeShowsItsMessage", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		createUser(t, srv, "Bob", "bob@example.com", "bob-password")
		secret := enrollTOTP(t, srv, "bob@example.com", "bob-password")
		p := newPage(t, browser, srv)
		p.open()
		p.signIn("bob@example.com", "bob-password")
		p.waitView("totp")
		wrong := "000000"
		for i := 0; ; i++ {
			c := fmt.Sprintf("%06d", i*111111%1000000)
			if c != srv.Code(t, secret, -1) && c != srv.Code(t, secret, 0) && c != srv.Code(t, secret, 1) {
				wrong = c
				break
			}
		}
		p.typeInto("totp-code", wrong)
		p.click("totp-submit")
		p.waitMessage("Wrong code")
		// An error says so to screen readers in words and on screen with an
		// icon, not only in colour, and shows no "Error:" prefix.
		kind := eval[[]string](p, `(() => {
			const m = document.getElementById('msg');
			return [m.className, m.querySelector('.vh').textContent, m.querySelector('.msg-text').textContent,
				getComputedStyle(m, '::before').content];
		})()`)
		if kind[0] != "msg error" || kind[1] != "Error: " || strings.HasPrefix(kind[2], "Error") || kind[3] != `"!"` {
			t.Fatalf("the error message: class %q, spoken %q, shown %q, icon %s", kind[0], kind[1], kind[2], kind[3])
		}
		p.waitView("totp")
		p.typeInto("totp-code", srv.Code(t, secret, 0))
		p.click("totp-submit")
		p.waitView("security")
	})

	// Five wrong passwords lock the email: the message gives the minutes left.
	t.Run("LockedOutShowsMinutes", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		createUser(t, srv, "Carol", "carol@example.com", "carol-password")
		p := newPage(t, browser, srv)
		p.open()
		hideMessage := func() { eval[chromedp.Void](p, `document.getElementById('msg').hidden = true`) }
		for i := 1; i <= 6; i++ {
			hideMessage() // so that the wait below sees this attempt's answer
			p.signIn("carol@example.com", fmt.Sprintf("wrong-password-%d", i))
			p.waitFor("the answer to attempt "+fmt.Sprint(i), `() => !document.getElementById('signin-submit').disabled && !document.getElementById('msg').hidden`)
			if i < 6 {
				p.waitMessage("Wrong email or password")
			}
		}
		p.waitMessage("Try again in 15 minutes")
		// The right password is refused too while the lock lasts.
		hideMessage()
		p.signIn("carol@example.com", "carol-password")
		p.waitFor("the answer", `() => !document.getElementById('signin-submit').disabled && !document.getElementById('msg').hidden`)
		p.waitMessage("locked")
		p.waitView("signin")
	})

	// A session that idles past the timeout sends the page back to sign-in.
	t.Run("ExpiredSessionGoesBackToSignIn", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		p := newPage(t, browser, srv)
		p.open()
		p.signIn(testserver.AdminEmail, testserver.AdminPassword)
		p.waitView("security")
		srv.Clock.Advance(16 * time.Minute)
		p.click("nav-users")
		p.waitView("signin")
		p.waitMessage("session has expired")
		if tok := p.token(); tok != "" {
			t.Fatalf("token %q kept after the session expired", tok)
		}
	})

	lifecycleScenarios(t, browser)
	mfaScenarios(t, browser)

	// Sign in with the keyboard only: type, Tab, type, Enter.
	t.Run("KeyboardOnlySignIn", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		p := newPage(t, browser, srv)
		p.open()
		p.do("focus the email field", chromedp.Focus(chromedp.ID("signin-email")))
		p.do("type the email", chromedp.KeyEvent(testserver.AdminEmail), chromedp.KeyEvent(kb.Tab))
		if id := eval[string](p, `document.activeElement.id`); id != "signin-password" {
			t.Fatalf("Tab from the email field went to %q, want the password field", id)
		}
		p.do("type the password and press Enter", chromedp.KeyEvent(testserver.AdminPassword), chromedp.KeyEvent(kb.Enter))
		p.waitView("security")
		p.waitMessage("You are signed in")
		if got := p.text("sec-who"); !strings.Contains(got, testserver.AdminEmail) {
			t.Fatalf("security page says %q", got)
		}
	})

	// The account-wide switch: every user must enroll at their next sign-in
	// (Mfa-Code 3), on the page, with the QR code and the secret.
	t.Run("AccountForces2FAUserEnrollsAtSignIn", func(t *testing.T) {
		srv := testserver.Start(t, testserver.Options{})
		createUser(t, srv, "Dave", "dave@example.com", "dave-password")
		p := newPage(t, browser, srv)
		p.open()
		p.signIn(testserver.AdminEmail, testserver.AdminPassword)
		p.waitView("security")
		p.click("nav-users")
		p.waitView("users")
		p.click("acct-force2fa")
		p.click("acct-submit")
		p.waitMessage("now required for every user")
		p.signOut()

		p.signIn("dave@example.com", "dave-password")
		p.waitView("enroll")
		p.waitFor("the secret", `() => document.getElementById('enroll-secret').textContent.length >= 32`)
		secret := strings.ReplaceAll(p.text("enroll-secret"), " ", "")
		p.typeInto("enroll-code", srv.Code(t, secret, 0))
		p.click("enroll-submit")
		p.waitView("security")
		if got, forced := p.text("sec-2fa-state"), p.text("sec-2fa-forced"); got != "On" || !strings.Contains(forced, "Forced") {
			t.Fatalf("2FA status %q, forced %q", got, forced)
		}
	})
}
