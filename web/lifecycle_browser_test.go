package web_test

// Browser scenarios of users over their life: a user changes their
// password, resets a forgotten one through a real mail, and an admin edits,
// disables, unlocks and deletes users on the users page.

import (
	"context"
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
)

// lifecycleScenarios runs the scenarios on the browser of TestBrowser.
func lifecycleScenarios(t *testing.T, browser context.Context) {
	t.Run("ChangePassword", func(t *testing.T) { testChangePassword(t, browser) })
	t.Run("ForgotPasswordResetByMail", func(t *testing.T) { testResetByMail(t, browser) })
	t.Run("ForgotPasswordWithoutMail", func(t *testing.T) { testResetWithoutMail(t, browser) })
	t.Run("AdminEditsDisablesUnlocksDeletes", func(t *testing.T) { testAdminLifecycle(t, browser) })
}

// clearMessage hides the message box, so that a wait sees the next answer.
func (p *page) clearMessage() {
	p.t.Helper()
	eval[chromedp.Void](p, `document.getElementById('msg').hidden = true`)
}

func testChangePassword(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, "Erin", "erin@example.com", "erin-password")
	other := login(t, srv, "erin@example.com", "erin-password") // another session of Erin's
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("erin@example.com", "erin-password")
	p.waitView("security")
	if got := eval[string](p, `document.getElementById('sec-pw-user').value`); got != "erin@example.com" {
		t.Fatalf("the form's username field holds %q", got)
	}

	change := func(current, next, again string) {
		p.clearMessage()
		p.typeInto("sec-pw-current", current)
		p.typeInto("sec-pw-new", next)
		p.typeInto("sec-pw-new2", again)
		p.click("sec-pw-submit")
	}
	// Checked on the page: the two new passwords differ.
	change("erin-password", "a new phrase", "a new phrasE")
	p.waitMessage("The two new passwords differ")
	// Refused by the server's policy, named in words.
	change("erin-password", "password1", "password1")
	p.waitMessage("The password is refused: one of the 30,000 most common passwords")
	// A wrong current password says so and counts as a failed attempt.
	change("not-erins-password", "a new phrase", "a new phrase")
	p.waitMessage("Your current password is wrong")
	if v := eval[string](p, `document.getElementById('sec-pw-current').value`); v != "" {
		t.Fatal("the wrong current password is left in its field")
	}
	change("erin-password", "a new phrase", "a new phrase")
	p.waitView("security")
	p.waitMessage("Your password is changed")
	for _, id := range []string{"sec-pw-current", "sec-pw-new", "sec-pw-new2"} {
		if v := eval[string](p, fmt.Sprintf(`document.getElementById(%q).value`, id)); v != "" {
			t.Fatalf("#%s still holds a password after the change", id)
		}
	}
	// This tab's session lives on; the other one is closed.
	if p.token() == "" {
		t.Fatal("the page lost its session")
	}
	if r := call(t, srv, "GET", "/profile", other, nil); r.status != 401 {
		t.Fatalf("the other session answers %d after the change", r.status)
	}
	p.signOut()
	p.signIn("erin@example.com", "erin-password")
	p.waitMessage("Wrong email or password")
	p.signIn("erin@example.com", "a new phrase")
	p.waitView("security")
}

// resetLink finds the link of a reset mail.
var resetLink = regexp.MustCompile(regexp.QuoteMeta(testserver.PublicURL) + `(/#reset=[0-9a-f-]{36})`)

func testResetByMail(t *testing.T, browser context.Context) {
	smtp := smtptest.Start(t, smtptest.StartTLS)
	srv := testserver.Start(t, testserver.Options{
		Mail: &mailer.Config{URL: "smtp://" + smtptest.User + ":" + smtptest.Password + "@" + smtp.Addr, From: "mfad@mfad.example",
			TLS: &tls.Config{RootCAs: smtp.Roots}, Backoff: 10 * time.Millisecond},
	})
	createUser(t, srv, "Frank", "frank@example.com", "frank-password")
	p := newPage(t, browser, srv)
	p.open()
	p.click("signin-forgot")
	p.waitView("forgot")
	p.typeInto("forgot-email", "Frank@Example.com")
	p.click("forgot-submit")
	p.waitView("signin")
	p.waitMessage("a link to set a new password is on its way")

	msgs := smtp.Wait(t, 1, 10*time.Second)
	m := resetLink.FindStringSubmatch(msgs[0].Body())
	if m == nil || msgs[0].To[0] != "frank@example.com" {
		t.Fatalf("mail to %q without a reset link: %q", msgs[0].To, msgs[0].Body())
	}
	link := m[1]
	id := strings.TrimPrefix(link, "/#reset=")

	// The link opens the reset page; the id leaves the address at once.
	q := newPage(t, browser, srv)
	q.openAt(link)
	q.waitView("reset")
	if loc := eval[string](q, `location.href`); strings.Contains(loc, id) || !strings.HasSuffix(loc, "#/reset") {
		t.Fatalf("the address is %s after opening the link", loc)
	}
	q.typeInto("reset-password", "frank-password")
	q.typeInto("reset-password2", "frank-passwordd")
	q.click("reset-submit")
	q.waitMessage("The two new passwords differ")
	q.clearMessage()
	q.typeInto("reset-password", "frank@example.com")
	q.typeInto("reset-password2", "frank@example.com")
	q.click("reset-submit")
	q.waitMessage("The password is refused: must not be the email")
	q.typeInto("reset-password", "a remembered phrase")
	q.typeInto("reset-password2", "a remembered phrase")
	q.click("reset-submit")
	q.waitView("signin")
	q.waitMessage("Your new password is set")
	q.signIn("frank@example.com", "a remembered phrase")
	q.waitView("security")

	// The link works once.
	r := newPage(t, browser, srv)
	r.openAt(link)
	r.waitView("forgot")
	r.waitMessage("This reset link is unknown, used, replaced by a newer one or expired")
	// A damaged link says what to do.
	r2 := newPage(t, browser, srv)
	r2.openAt("/#reset=not-an-id")
	r2.waitView("forgot")
	r2.waitMessage("needs the link from your reset mail")
}

func testResetWithoutMail(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	p := newPage(t, browser, srv)
	p.open()
	p.click("signin-forgot")
	p.waitView("forgot")
	p.typeInto("forgot-email", "someone@example.com")
	p.click("forgot-submit")
	p.waitMessage("Password reset by mail is not set up on this server")
	p.waitView("forgot")
}

// row is the text of the cells of the users page's row of email.
func (p *page) row(email string) []string {
	p.t.Helper()
	return eval[[]string](p, fmt.Sprintf(`(() => {
		const row = document.querySelector('#users-body tr[data-email=%q]');
		return row ? Array.from(row.cells).map((c) => c.textContent) : [];
	})()`, email))
}

// apply selects the users of emails and applies the bulk action act.
func (p *page) apply(act string, emails ...string) {
	p.t.Helper()
	p.clearMessage()
	for _, e := range emails {
		p.do("select "+e, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#users-body input[data-email=%q]`, e))))
	}
	p.do("choose "+act, chromedp.SetValue(chromedp.ID("users-bulk"), act))
	p.click("users-apply")
}

// reloadUsers loads the users page again and waits until its rows are
// the new ones (a click on a row being replaced would miss it).
func (p *page) reloadUsers() {
	p.t.Helper()
	eval[chromedp.Void](p, `document.querySelectorAll('#users-body tr').forEach((tr) => { tr.dataset.stale = '1'; })`)
	p.click("nav-users")
	p.waitFor("the new rows", `() => document.querySelectorAll('#users-body tr').length > 0 && !document.querySelector('#users-body tr[data-stale]')`)
}

// rowAction opens the actions menu of email's row and picks action.
func (p *page) rowAction(email, action string) {
	p.t.Helper()
	p.clearMessage()
	row := fmt.Sprintf(`#users-body tr[data-email=%q]`, email)
	p.do("open the actions of "+email, chromedp.Click(chromedp.CSS(row+` details.menu summary`)))
	p.do("pick "+action+" for "+email, chromedp.Click(chromedp.CSS(row+fmt.Sprintf(` details.menu button[data-action=%q]`, action))))
}

// confirm answers the confirmation dialog: with the PIN it asks for, or
// "" for a plain yes.
func (p *page) confirm(pin string) {
	p.t.Helper()
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	if pin != "" {
		p.typeInto("confirm-pin", pin)
	}
	p.click("confirm-ok")
	p.waitFor("the dialog to close", `() => !document.getElementById('confirm').open`)
}

func testAdminLifecycle(t *testing.T, browser context.Context) {
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, "Gil", "gil@example.com", "gil-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn(testserver.AdminEmail, testserver.AdminPassword)
	p.waitView("security")
	p.click("nav-users")
	p.waitView("users")
	if got := p.row("gil@example.com"); len(got) < 5 || got[4] != "Active" {
		t.Fatalf("Gil's row %q", got)
	}

	// Edit: a new name and email; the old email no longer signs in.
	p.rowAction("gil@example.com", "edit")
	p.do("wait for the edit form", chromedp.WaitVisible(chromedp.ID("edit-user")))
	if got := p.text("edit-title"); got != "Edit gil@example.com" {
		t.Fatalf("edit form title %q", got)
	}
	p.typeInto("edit-name", "Gilbert")
	p.typeInto("edit-email", "gilbert@example.com")
	p.click("edit-submit")
	p.waitMessage("User gilbert@example.com is saved")
	if got := p.row("gilbert@example.com"); len(got) < 3 || got[1] != "Gilbert" {
		t.Fatalf("Gilbert's row %q", got)
	}
	if r := call(t, srv, "GET", "/session/login", "", nil, "gil@example.com", "gil-password"); r.status != 401 {
		t.Fatalf("the old email logs in: %d", r.status)
	}
	gil := login(t, srv, "gilbert@example.com", "gil-password")

	// The admin's own row cannot demote or disable itself.
	p.rowAction(testserver.AdminEmail, "edit")
	if !eval[bool](p, `document.getElementById('edit-admin').disabled && document.getElementById('edit-disabled').disabled && !document.getElementById('edit-self').hidden`) {
		t.Fatal("the own user's edit form offers to demote or disable it")
	}
	p.click("edit-cancel")

	// Disable: sessions closed, no sign-in; enable again.
	p.apply("disable", "gilbert@example.com")
	p.waitMessage("Sign-in is disabled for gilbert@example.com. Their sessions were closed.")
	if got := p.row("gilbert@example.com"); got[4] != "Disabled" {
		t.Fatalf("status %q after disabling", got[4])
	}
	if r := call(t, srv, "GET", "/profile", gil, nil); r.status != 401 {
		t.Fatalf("a disabled user's session answers %d", r.status)
	}
	if r := call(t, srv, "GET", "/session/login", "", nil, "gilbert@example.com", "gil-password"); r.status != 401 {
		t.Fatalf("a disabled user logs in: %d", r.status)
	}
	p.apply("enable", "gilbert@example.com")
	p.waitMessage("Sign-in is enabled for gilbert@example.com.")
	if got := p.row("gilbert@example.com"); got[4] != "Active" {
		t.Fatalf("status %q after enabling", got[4])
	}

	// Unlock: five wrong passwords lock the email; unlocking ends it.
	for i := 0; i < 5; i++ {
		call(t, srv, "GET", "/session/login", "", nil, "gilbert@example.com", "wrong-password")
	}
	if r := call(t, srv, "GET", "/session/login", "", nil, "gilbert@example.com", "gil-password"); r.status != 429 {
		t.Fatalf("after five failures the right password answers %d, want 429", r.status)
	}
	p.apply("unlock", "gilbert@example.com")
	p.waitMessage("Failed sign-in attempts are cleared for gilbert@example.com.")
	login(t, srv, "gilbert@example.com", "gil-password")

	// The admin cannot disable their own user: the page says so.
	p.apply("disable", testserver.AdminEmail)
	p.waitMessage("You cannot delete, disable or take administrator rights from your own user")

	// Delete asks for a confirmation first; cancelled, nothing happens.
	p.reloadUsers()
	p.rowAction("gilbert@example.com", "delete")
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	if got := p.text("confirm-title"); got != "Delete for gilbert@example.com?" {
		t.Fatalf("confirmation %q", got)
	}
	p.click("confirm-cancel")
	p.waitFor("the dialog to close", `() => !document.getElementById('confirm').open`)
	if r := call(t, srv, "GET", "/session/login", "", nil, "gilbert@example.com", "gil-password"); r.status != 200 {
		t.Fatalf("a cancelled delete deleted the user: login %d", r.status)
	}
	p.rowAction("gilbert@example.com", "delete")
	p.confirm("")
	p.waitMessage("Deleted gilbert@example.com.")
	p.waitFor("Gilbert's row to go", `() => !document.querySelector('#users-body tr[data-email="gilbert@example.com"]')`)
}
