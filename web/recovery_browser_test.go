package web_test

// Browser scenarios of recovery codes, an enrollment that survives a reload
// and a slow phone, the messages of wrong codes, the admin's pages, and the
// layout on a phone's width.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/mfad/mfad/internal/testserver"
)

// mfaScenarios runs the scenarios on the browser of TestBrowser.
func mfaScenarios(t *testing.T, browser context.Context) {
	t.Run("RecoveryCodesMadeAndUsedToSignIn", func(t *testing.T) { testRecoveryCodes(t, browser) })
	t.Run("EnrollmentSurvivesReloadAndSecondSignIn", func(t *testing.T) { testEnrollmentReload(t, browser) })
	t.Run("WrongCodesSayWhatHappened", func(t *testing.T) { testWrongCodeMessages(t, browser) })
	t.Run("AdminRowActionsFilterAndActivity", func(t *testing.T) { testAdminPages(t, browser) })
	t.Run("PhoneWidthNeedsNoSidewaysScrolling", func(t *testing.T) { testPhoneLayout(t, browser) })
}

func testRecoveryCodes(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, "Hana", "hana@example.com", "hana-password")
	secret := enrollTOTP(t, srv, "hana@example.com", "hana-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("hana@example.com", "hana-password")
	p.waitView("totp")
	p.typeInto("totp-code", srv.Code(t, secret, 0))
	p.click("totp-submit")
	p.waitView("security")
	if got := p.text("sec-rc-state"); !strings.Contains(got, "no recovery codes") {
		t.Fatalf("recovery codes state %q before any were made", got)
	}

	// Made without a question (none to void), shown once with download
	// and print.
	p.click("sec-rc-make")
	p.waitMessage("New recovery codes are made")
	codes := eval[[]string](p, `Array.from(document.querySelectorAll('#sec-rc-list li')).map((li) => li.textContent)`)
	if len(codes) != 10 || len(codes[0]) != 19 {
		t.Fatalf("codes shown: %q", codes)
	}
	shot(t, p, "recovery-codes.png")
	p.click("sec-rc-download")
	file := eval[string](p, `(() => {
		const a = document.getElementById('sec-rc-file');
		const prefix = 'data:text/plain;charset=utf-8,';
		if (!a || a.download !== 'mfad-recovery-codes.txt' || !a.href.startsWith(prefix)) return 'no download link';
		return decodeURIComponent(a.href.slice(prefix.length));
	})()`)
	for _, c := range codes {
		if !strings.Contains(file, c) {
			t.Fatalf("the downloaded file lacks %s:\n%s", c, file)
		}
	}
	// Printed, only the codes show.
	p.do("emulate print", media("print"))
	printed := eval[[]bool](p, `['sec-rc-list', 'sec-pin-form', 'sec-rc-make', 'sec-rc-download'].map((id) => document.getElementById(id).offsetParent !== null)`)
	p.do("emulate screen", media(""))
	if !printed[0] || printed[1] || printed[2] || printed[3] {
		t.Fatalf("printed page shows codes %v, PIN form %v, buttons %v %v: want the codes only", printed[0], printed[1], printed[2], printed[3])
	}
	p.click("sec-rc-done")
	if n := eval[int](p, `document.querySelectorAll('#sec-rc-list li').length`); n != 0 || !eval[bool](p, `document.getElementById('sec-rc-new').hidden`) {
		t.Fatal("the codes stay on the page after 'I have saved them'")
	}
	// The count of a fresh render (not the one the page set itself), so
	// that the render's focus does not move the page under the next click.
	eval[chromedp.Void](p, `document.getElementById('sec-rc-state').textContent = ''`)
	p.do("reload the page", chromedp.Click(chromedp.ID("nav-security")))
	p.waitFor("the count", `() => document.getElementById('sec-rc-state').textContent.includes('10 unused recovery codes')`)

	// A new set asks first, and a cancel keeps the old one.
	p.click("sec-rc-make")
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	p.click("confirm-cancel")
	p.waitFor("the dialog to close", `() => !document.getElementById('confirm').open`)
	p.signOut()

	// Sign in with a recovery code typed in lower case without dashes.
	p.signIn("hana@example.com", "hana-password")
	p.waitView("totp")
	p.click("totp-use-recovery")
	p.do("wait for the recovery form", chromedp.WaitVisible(chromedp.ID("recovery-form")))
	p.typeInto("recovery-code", strings.ToLower(strings.ReplaceAll(codes[2], "-", "")))
	p.click("recovery-submit")
	p.waitView("security")
	p.waitFor("9 left", `() => document.getElementById('sec-rc-state').textContent.includes('9 unused recovery codes')`)
	p.signOut()

	// The same code again: refused, with what to do.
	p.signIn("hana@example.com", "hana-password")
	p.waitView("totp")
	p.click("totp-use-recovery")
	p.typeInto("recovery-code", codes[2])
	p.click("recovery-submit")
	p.waitMessage("That recovery code is wrong or was used already")
	if !eval[bool](p, `(() => { const m = document.getElementById('msg'); return m.nextElementSibling === document.getElementById('recovery-form'); })()`) {
		t.Fatal("the error is not shown next to the recovery form")
	}

	// With 2 or fewer left, the page warns.
	for _, c := range codes[3:10] {
		use := loginLimited(t, srv, "hana@example.com", "hana-password")
		call(t, srv, "POST", "/session/login", use, map[string]string{"auth_type": "RECOVERY", "code": c}).decode(t, "use a code", 200, nil)
	}
	p.typeInto("recovery-code", codes[0])
	p.click("recovery-submit")
	p.waitView("security")
	p.waitFor("the warning", `() => !document.getElementById('sec-rc-warning').hidden && document.getElementById('sec-rc-warning').textContent.includes('Only 1 recovery code left')`)
}

// loginLimited logs in with the password where a factor is owed and
// returns the limited session.
func loginLimited(t *testing.T, srv *testserver.Server, email, password string) string {
	t.Helper()
	var s struct {
		SessionID string `json:"session_id"`
	}
	call(t, srv, "GET", "/session/login", "", nil, email, password).decode(t, "login "+email, 207, &s)
	return s.SessionID
}

// login2FA logs in with the password and a TOTP code and returns the full
// session; it moves the clock to the next step.
func login2FA(t *testing.T, srv *testserver.Server, email, password, secret string) string {
	t.Helper()
	lim := loginLimited(t, srv, email, password)
	var s struct {
		SessionID string `json:"session_id"`
	}
	call(t, srv, "POST", "/session/login", lim, map[string]string{"auth_type": "2FA", "code": srv.Code(t, secret, 0)}).decode(t, "2FA step", 200, &s)
	srv.Clock.Advance(30 * time.Second)
	return s.SessionID
}

func testEnrollmentReload(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	id := createUser(t, srv, "Ivo", "ivo@example.com", "ivo-password")
	admin := login(t, srv, testserver.AdminEmail, testserver.AdminPassword)
	call(t, srv, "POST", "/user/set-mfa", admin, map[string]any{"ids": []string{id}, "auth_type": "2FA"}).decode(t, "force 2FA", 200, nil)

	p := newPage(t, browser, srv)
	p.open()
	p.signIn("ivo@example.com", "ivo-password")
	p.waitView("enroll")
	p.waitFor("the secret", `() => (document.getElementById('enroll-secret').dataset.secret || '').length >= 32`)
	secret := eval[string](p, `document.getElementById('enroll-secret').dataset.secret`)
	if got := p.text("enroll-time"); !strings.Contains(got, "Time left to finish signing in: 15:00") && !strings.Contains(got, "14:59") {
		t.Fatalf("time left %q, want about 15 minutes", got)
	}
	// A tappable otpauth link, a copy button, and groups that never break.
	if href := eval[string](p, `document.getElementById('enroll-open').getAttribute('href')`); !strings.HasPrefix(href, "otpauth://totp/") || !strings.Contains(href, secret) {
		t.Fatalf("the app link is %q", href)
	}
	if eval[bool](p, `document.getElementById('enroll-copy').hidden`) {
		t.Fatal("no copy button beside the secret")
	}
	shot(t, p, "enrollment.png")
	// The slow phone: 6 minutes pass, then the page is reloaded.
	srv.Clock.Advance(6 * time.Minute)
	p.do("reload", chromedp.Reload())
	p.waitView("enroll")
	p.waitFor("the secret again", `() => (document.getElementById('enroll-secret').dataset.secret || '').length >= 32`)
	if again := eval[string](p, `document.getElementById('enroll-secret').dataset.secret`); again != secret {
		t.Fatalf("a reload showed another secret: %s, then %s", secret, again)
	}
	if got := p.text("enroll-time"); !strings.Contains(got, "9:0") && !strings.Contains(got, "8:5") {
		t.Fatalf("time left after 6 minutes %q, want about 9:00", got)
	}
	// Signing in again (another tab) shows the same secret too.
	q := newPage(t, browser, srv)
	q.open()
	q.signIn("ivo@example.com", "ivo-password")
	q.waitView("enroll")
	q.waitFor("the secret", `() => (document.getElementById('enroll-secret').dataset.secret || '').length >= 32`)
	if got := eval[string](q, `document.getElementById('enroll-secret').dataset.secret`); got != secret {
		t.Fatalf("a second sign-in showed another secret: %s, then %s", secret, got)
	}
	// The code of the secret scanned first finishes the sign-in.
	p.typeInto("enroll-code", srv.Code(t, secret, 0))
	p.click("enroll-submit")
	p.waitView("security")
	if got := p.text("sec-2fa-state"); got != "On" {
		t.Fatalf("2FA %q after enrolling", got)
	}
}

func testWrongCodeMessages(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, "Jo", "jo@example.com", "jo-password")
	secret := enrollTOTP(t, srv, "jo@example.com", "jo-password")
	login2FA(t, srv, "jo@example.com", "jo-password", secret) // spends this step's code, then the clock moves on
	used := srv.Code(t, secret, -1)                           // still in the window, and spent

	p := newPage(t, browser, srv)
	p.open()
	p.signIn("jo@example.com", "jo-password")
	p.waitView("totp")
	p.typeInto("totp-code", used)
	p.click("totp-submit")
	p.waitMessage("This code was already used. Wait for the next code")

	// Four more wrong codes: the fifth locks the email, and the page says
	// so and for how long.
	wrong := ""
	for i := 0; wrong == ""; i++ {
		c := fmt.Sprintf("%06d", i*111111%1000000)
		if c != srv.Code(t, secret, -1) && c != srv.Code(t, secret, 0) && c != srv.Code(t, secret, 1) {
			wrong = c
		}
	}
	for i := range 4 {
		p.clearMessage()
		p.typeInto("totp-code", wrong)
		p.click("totp-submit")
		if i < 3 {
			p.waitMessage("Wrong code.")
		}
	}
	p.waitView("signin")
	p.waitMessage("signing in with this email is now locked for 15 minutes")
}

func testAdminPages(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	long := strings.Repeat("Bartholomew ", 20) // 240 characters
	createUser(t, srv, long, "long.name@example.com", "long-password")
	kim := createUser(t, srv, "Kim", "kim@example.com", "kim-password")
	createUser(t, srv, "Lee", "lee@example.com", "lee-password")
	admin := login(t, srv, testserver.AdminEmail, testserver.AdminPassword)
	call(t, srv, "POST", "/user/set-mfa", admin, map[string]any{"ids": []string{kim}, "auth_type": "2FA"}).decode(t, "force 2FA", 200, nil)
	// 60 settings changes: more than a page of activity.
	for i := range 60 {
		call(t, srv, "POST", "/settings/set", admin, map[string]any{"auth_methods": map[bool][]string{true: {"2FA"}, false: {}}[i%2 == 0]}).decode(t, "settings", 200, nil)
	}

	p := newPage(t, browser, srv)
	p.open()
	p.signIn(testserver.AdminEmail, testserver.AdminPassword)
	p.waitView("security")
	p.click("nav-users")
	p.waitView("users")

	shot(t, p, "users.png")
	// The true picture: Kim's 2FA is forced but not set up.
	if got := p.row("kim@example.com"); len(got) < 7 || got[5] != "Pending setup, forced" || got[6] != "Off" {
		t.Fatalf("Kim's row %q", got)
	}
	// The long name is cut, whole on hover, and the page is not wider
	// than the window.
	clip := eval[[]string](p, `(() => {
		const s = document.querySelector('#users-body tr[data-email="long.name@example.com"] .clip');
		return [s.title, String(s.scrollWidth > s.clientWidth), String(document.documentElement.scrollWidth <= window.innerWidth)];
	})()`)
	if clip[0] != strings.TrimSpace(long) || clip[1] != "true" || clip[2] != "true" {
		t.Fatalf("the long name: title %d characters, cut %s, page fits %s", len(clip[0]), clip[1], clip[2])
	}
	// Nothing is chosen for the selected users until the admin does.
	if v := eval[string](p, `document.getElementById('users-bulk').value`); v != "" {
		t.Fatalf("the bulk action %q is preselected", v)
	}
	// The filter.
	p.typeInto("users-filter", "kim")
	p.waitFor("one row shown", `() => document.querySelectorAll('#users-body tr:not([hidden])').length === 1`)
	if got := p.text("users-count"); !strings.Contains(got, "1 user of 4 match") {
		t.Fatalf("filter count %q", got)
	}
	eval[chromedp.Void](p, `(() => { const f = document.getElementById('users-filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`)
	p.waitFor("all rows", `() => document.querySelectorAll('#users-body tr:not([hidden])').length === 4`)

	// Per-row: removing a factor asks first.
	p.rowAction("kim@example.com", "remove-2fa")
	p.confirm("")
	p.waitMessage("2FA is removed for kim@example.com.")
	if got := p.row("kim@example.com"); got[5] != "Off" {
		t.Fatalf("Kim's 2FA %q after removing it", got[5])
	}
	// An error of a form shows next to it.
	p.typeInto("create-name", "Dup")
	p.typeInto("create-email", "lee@example.com")
	p.typeInto("create-password", "dup-password")
	p.click("create-submit")
	p.waitMessage("That email is already taken")
	if !eval[bool](p, `document.getElementById('msg').nextElementSibling === document.getElementById('create-form')`) {
		t.Fatal("the create form's error is not next to it")
	}

	// The activity trail, a page at a time.
	p.click("nav-activity")
	p.waitView("activity")
	if n := eval[int](p, `document.querySelectorAll('#activity-body tr').length`); n != 50 {
		t.Fatalf("%d entries on the first page, want 50", n)
	}
	if !eval[bool](p, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Fatal("the activity page is wider than the window")
	}
	shot(t, p, "activity.png")
	if first := eval[string](p, `document.querySelector('#activity-body tr').cells[1].textContent`); first != "admin.remove_mfa" {
		t.Fatalf("the newest entry is %q, want admin.remove_mfa", first)
	}
	p.click("activity-older")
	p.waitFor("the older page", `() => !document.getElementById('activity-newest').hidden`)
	if n := eval[int](p, `document.querySelectorAll('#activity-body tr').length`); n == 0 {
		t.Fatal("the older page is empty")
	}
	p.click("activity-newest")
	p.waitFor("the newest page", `() => document.getElementById('activity-newest').hidden`)
}

func testPhoneLayout(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, strings.Repeat("Maximiliana ", 20), "a.very.long.email.address.for.testing@example.com", "max-password")
	p := newPage(t, browser, srv)
	p.do("a phone's width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.open()
	fits := func(what string) {
		t.Helper()
		w := eval[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`)
		if w[0] > w[1] {
			t.Fatalf("%s: the page is %d px wide in a %d px window", what, w[0], w[1])
		}
	}
	fits("sign-in")
	p.signIn(testserver.AdminEmail, testserver.AdminPassword)
	p.waitView("security")
	fits("security")
	p.click("nav-users")
	p.waitView("users")
	fits("users")
	shot(t, p, "users-phone.png")
	p.rowAction("a.very.long.email.address.for.testing@example.com", "force-pin")
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	fits("users, with a dialog")
	p.click("confirm-cancel")
	p.click("nav-activity")
	p.waitView("activity")
	fits("activity")
	p.click("nav-security")
	p.waitView("security")
	p.click("sec-2fa-enable")
	p.waitView("enroll")
	p.waitFor("the secret", `() => (document.getElementById('enroll-secret').dataset.secret || '').length >= 32`)
	fits("enrollment")
	// Each group of the secret stays on one line.
	if n := eval[int](p, `Array.from(document.querySelectorAll('#enroll-secret .group')).filter((g) => g.getClientRects().length > 1).length`); n != 0 {
		t.Fatalf("%d groups of the secret break across lines", n)
	}
	shot(t, p, "enrollment-phone.png")
}

// shot saves a screenshot of the page for the docs when MFAD_SCREENSHOTS
// names a directory (docs/, to refresh the pictures), else into the
// test's directory, and checks that it is a picture.
func shot(t *testing.T, p *page, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(img) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", name, len(img))
	}
	dir := os.Getenv("MFAD_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// media emulates a CSS media type ("print"; "" for the screen again).
func media(m string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
		return err
	})
}
