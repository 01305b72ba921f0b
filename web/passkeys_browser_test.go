package web_test

// Browser scenarios of passkeys: Chromium's own WebAuthn stack answering
// the page's ceremonies with a CDP virtual authenticator (a platform
// authenticator with resident keys and user verification), against a
// server whose public URL is the page's own address, http://localhost:port
// (a secure context; the relying party is localhost).

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/internal/webauthntest"
)

func TestPasskeysInTheBrowser(t *testing.T) {
	browser := startBrowser(t)
	t.Run("RegisterRenameAndSignInWithPasskey", func(t *testing.T) { testPasskeyRegisterAndSignIn(t, browser) })
	t.Run("ClonedCounterRefusedThenRecoveryCode", func(t *testing.T) { testPasskeyClonedCounter(t, browser) })
	t.Run("DeletedPasskeyLeavesPasswordOnly", func(t *testing.T) { testPasskeyDelete(t, browser) })
	t.Run("TOTPUserChoosesPasskey", func(t *testing.T) { testPasskeyInsteadOfTOTP(t, browser) })
	t.Run("AdminSeesAndRemovesPasskeys", func(t *testing.T) { testAdminRemovesPasskeys(t, browser) })
}

// passkeyServer is a test server whose public URL is its own address.
func passkeyServer(t *testing.T) *testserver.Server {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{PublicURLIsServer: true})
	if !strings.HasPrefix(srv.URL, "http://localhost:") {
		t.Fatalf("the server is at %s, want http://localhost:port (the relying party of the page's passkeys)", srv.URL)
	}
	return srv
}

// cdpCall sends one command of the DevTools protocol to the page's tab.
func cdpCall[P, R any](p *page, what string, c cdp.Command[P, R], params P) R {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.Action[R](func(ctx context.Context, t *chromedp.Target) (R, error) {
		return cdp.Call(ctx, t, c, params)
	}))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return r
}

// authenticator is a virtual authenticator of one tab.
type authenticator struct {
	p  *page
	id webauthn.AuthenticatorID
}

// addAuthenticator gives the page's tab a virtual platform authenticator
// that answers at once: user present and verified, resident keys.
func (p *page) addAuthenticator() *authenticator {
	p.t.Helper()
	cdpCall(p, "enable WebAuthn", webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)})
	r := cdpCall(p, "add a virtual authenticator", webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	return &authenticator{p: p, id: r.AuthenticatorID}
}

func (a *authenticator) credentials() []*webauthn.Credential {
	a.p.t.Helper()
	return cdpCall(a.p, "get the credentials", webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id}).Credentials
}

// only returns the authenticator's one credential.
func (a *authenticator) only() *webauthn.Credential {
	a.p.t.Helper()
	creds := a.credentials()
	if len(creds) != 1 {
		a.p.t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	return creds[0]
}

func (a *authenticator) remove(c *webauthn.Credential) {
	a.p.t.Helper()
	cdpCall(a.p, "remove a credential", webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: a.id, CredentialID: c.CredentialID})
}

// addCredentialParams are WebAuthn.addCredential's parameters without the
// fields of the CMTG extension, which webauthn.Credential always sends and
// Chromium refuses from an authenticator without it.
type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
	} `json:"credential"`
}

var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

// add puts a credential in the authenticator, with its signature counter.
func (a *authenticator) add(c *webauthn.Credential) {
	a.p.t.Helper()
	params := addCredentialParams{AuthenticatorID: a.id}
	cp := &params.Credential
	cp.CredentialID, cp.IsResidentCredential, cp.RpID = c.CredentialID, c.IsResidentCredential, c.RpID
	cp.PrivateKey, cp.UserHandle, cp.SignCount = c.PrivateKey, c.UserHandle, c.SignCount
	cdpCall(a.p, "add a credential", addCredential, params)
}

type passkeyJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  int64  `json:"created"`
	LastUsed int64  `json:"last_used"`
}

// listPasskeys lists the passkeys of the holder of token through the API.
func listPasskeys(t *testing.T, srv *testserver.Server, token string) []passkeyJSON {
	t.Helper()
	var v struct {
		Passkeys []passkeyJSON `json:"passkeys"`
	}
	call(t, srv, "GET", "/profile/passkeys", token, nil).decode(t, "list passkeys", 200, &v)
	return v.Passkeys
}

// passkeyRows are the rows of the security page's passkeys: name, added,
// last used.
func (p *page) passkeyRows() [][]string {
	p.t.Helper()
	return eval[[][]string](p, `Array.from(document.querySelectorAll('#sec-pk-list tr')).map((tr) => Array.from(tr.cells).slice(0, 3).map((c) => c.textContent))`)
}

// addPasskey registers a passkey named name on the security page, the
// page's authenticator answering.
func (p *page) addPasskey(name string) {
	p.t.Helper()
	p.waitView("security")
	p.clearMessage()
	p.typeInto("sec-pk-name", name)
	p.click("sec-pk-add")
	p.waitMessage("The passkey \u201c" + name + "\u201d is added")
	p.waitFor("the passkey in the list", `(name) => Array.from(document.querySelectorAll('#sec-pk-list th')).some((th) => th.textContent === name)`, name)
}

// events are the newest entries of the account's activity, newest first.
func events(t *testing.T, srv *testserver.Server) []string {
	t.Helper()
	admin := login(t, srv, testserver.AdminEmail, testserver.AdminPassword)
	var v struct {
		Activity []struct {
			Event string `json:"event"`
		} `json:"activity"`
	}
	call(t, srv, "GET", "/tracking/activity?limit=20", admin, nil).decode(t, "activity", 200, &v)
	var out []string
	for _, e := range v.Activity {
		out = append(out, e.Event)
	}
	return out
}

func testPasskeyRegisterAndSignIn(t *testing.T, browser context.Context) {
	srv := passkeyServer(t)
	createUser(t, srv, "Pia", "pia@example.com", "pia-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("pia@example.com", "pia-password")
	p.waitView("security")
	if got := p.text("sec-pk-state"); got != "Off" {
		t.Fatalf("passkeys %q before any was added", got)
	}
	if !eval[bool](p, `document.getElementById('sec-pk-table').hidden`) {
		t.Fatal("an empty list of passkeys is shown")
	}

	// A browser without WebAuthn: said plainly, nothing sent.
	eval[chromedp.Void](p, `delete window.PublicKeyCredential`)
	p.typeInto("sec-pk-name", "Laptop")
	p.click("sec-pk-add")
	p.waitMessage("This browser cannot use passkeys: it lacks WebAuthn")
	if !eval[bool](p, `document.getElementById('msg').nextElementSibling === document.getElementById('sec-pk-form')`) {
		t.Fatal("the message is not next to the form of new passkeys")
	}
	p.openAt("/") // a new document: WebAuthn is back
	p.waitView("security")

	// A name is needed first.
	p.click("sec-pk-add")
	p.waitMessage("Give the new passkey a name")

	auth := p.addAuthenticator()
	p.addPasskey("Laptop")
	cred := auth.only()
	if cred.RpID != "localhost" || !cred.IsResidentCredential {
		t.Fatalf("the authenticator holds a credential for %q (resident %v), want one for localhost, resident", cred.RpID, cred.IsResidentCredential)
	}
	if got := p.text("sec-pk-state"); got != "On (1 passkey)" {
		t.Fatalf("passkeys %q after adding one", got)
	}
	if rows := p.passkeyRows(); len(rows) != 1 || rows[0][0] != "Laptop" || rows[0][2] != "never" || rows[0][1] == "never" || rows[0][1] == "" {
		t.Fatalf("the list %q", rows)
	}
	tok := p.token()
	if list := listPasskeys(t, srv, tok); len(list) != 1 || list[0].Name != "Laptop" || list[0].LastUsed != 0 {
		t.Fatalf("the server lists %+v", list)
	}

	// The same authenticator again: it holds one of the user's passkeys
	// (excluded by the options), which the page says; nothing is added.
	p.clearMessage()
	p.typeInto("sec-pk-name", "Laptop again")
	p.click("sec-pk-add")
	p.waitMessage("This authenticator holds one of your passkeys already")
	if n := len(listPasskeys(t, srv, tok)); n != 1 {
		t.Fatalf("%d passkeys after registering the same authenticator twice", n)
	}

	// Rename.
	p.clearMessage()
	p.do("click Rename", chromedp.Click(chromedp.CSS(`#sec-pk-list button[data-action="rename"]`)))
	p.do("wait for the rename form", chromedp.WaitVisible(chromedp.ID("sec-pk-rename-form")))
	if got := eval[string](p, `document.getElementById('sec-pk-rename').value`); got != "Laptop" {
		t.Fatalf("the rename field holds %q", got)
	}
	p.typeInto("sec-pk-rename", "Work laptop")
	p.click("sec-pk-rename-submit")
	p.waitMessage("The passkey is renamed \u201cWork laptop\u201d")
	p.waitFor("the new name", `() => { const th = document.querySelector('#sec-pk-list th'); return th && th.textContent === 'Work laptop'; }`)
	shot(t, p, "passkeys.png")
	// On a phone's width the list needs no sideways scrolling.
	p.do("a phone's width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Fatalf("the security page is %d px wide in a %d px window", w[0], w[1])
	}
	shot(t, p, "passkeys-phone.png")
	p.do("the desktop's width", chromedp.EmulateViewport(1000, 800))
	p.signOut()

	// Sign in: the password, then the passkey (Mfa-Code 4).
	p.signIn("pia@example.com", "pia-password")
	p.waitView("passkey")
	if got := eval[[]string](p, `[sessionStorage.getItem('mfad.step'), sessionStorage.getItem('mfad.methods')]`); got[0] != "4" || got[1] != "WEBAUTHN" {
		t.Fatalf("the page keeps step %q, methods %q", got[0], got[1])
	}
	// No recovery codes: none offered, and the page says what then.
	if !eval[bool](p, `document.getElementById('passkey-recovery-line').hidden && !document.getElementById('passkey-no-recovery').hidden`) {
		t.Fatal("a user without recovery codes is offered one")
	}
	if id := eval[string](p, `document.activeElement.id`); id != "passkey-use" {
		t.Fatalf("focus on %q, want the passkey button", id)
	}
	shot(t, p, "passkey-signin.png")
	before := auth.only().SignCount
	p.click("passkey-use")
	p.waitView("security")
	p.waitMessage("You are signed in")
	if after := auth.only().SignCount; after <= before {
		t.Fatalf("the signature counter is %v after the sign-in, %v before", after, before)
	}
	if rows := p.passkeyRows(); len(rows) != 1 || rows[0][2] == "never" {
		t.Fatalf("the list after a sign-in with the passkey %q: want it used", rows)
	}
	if ev := events(t, srv); !slices.Contains(ev, "factor.passkey.used") {
		t.Fatalf("no factor.passkey.used in the activity %q", ev)
	}
	// A reload stays signed in (the session is the tab's).
	p.openAt("/")
	p.waitView("security")
	if p.token() == "" {
		t.Fatal("no session after a reload")
	}
}

// Signed in once with the passkey, the authenticator's credential is put
// back with a lower signature counter (a copy of an older state, as a
// cloned authenticator would have): the next sign-in is refused with the
// message of a refused passkey, and a recovery code still signs in.
func testPasskeyClonedCounter(t *testing.T, browser context.Context) {
	srv := passkeyServer(t)
	createUser(t, srv, "Cleo", "cleo@example.com", "cleo-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("cleo@example.com", "cleo-password")
	p.waitView("security")
	auth := p.addAuthenticator()
	p.addPasskey("Key")
	var rc struct {
		Codes []string `json:"codes"`
	}
	call(t, srv, "POST", "/profile/recovery-codes", p.token(), nil).decode(t, "recovery codes", 200, &rc)
	p.signOut()

	p.signIn("cleo@example.com", "cleo-password")
	p.waitView("passkey")
	if !eval[bool](p, `!document.getElementById('passkey-recovery-line').hidden && document.getElementById('passkey-no-recovery').hidden`) {
		t.Fatal("a user with recovery codes is not offered them")
	}
	p.click("passkey-use")
	p.waitView("security")
	p.signOut()

	cred := auth.only()
	if cred.SignCount < 1 {
		t.Fatalf("the signature counter is %v after a sign-in", cred.SignCount)
	}
	clone := *cred
	clone.SignCount = 0
	auth.remove(cred)
	auth.add(&clone)

	p.signIn("cleo@example.com", "cleo-password")
	p.waitView("passkey")
	p.click("passkey-use")
	p.waitMessage("Your passkey was not accepted")
	p.waitMessage("Try again, or use a recovery code.")
	p.waitView("passkey")
	if p.token() == "" || eval[string](p, `sessionStorage.getItem('mfad.step')`) != "4" {
		t.Fatal("the refused passkey ended the sign-in")
	}
	if !eval[bool](p, `!document.getElementById('passkey-use').disabled`) {
		t.Fatal("the passkey button stays disabled")
	}
	if ev := events(t, srv); !slices.Contains(ev, "factor.passkey.cloned") {
		t.Fatalf("no factor.passkey.cloned in the activity %q", ev)
	}

	// The fallback: a recovery code.
	p.click("passkey-use-recovery")
	p.do("wait for the recovery form", chromedp.WaitVisible(chromedp.ID("recovery-form")))
	if got := p.text("recovery-use-totp"); got != "Use your passkey instead" {
		t.Fatalf("the way back from the recovery form says %q", got)
	}
	p.typeInto("recovery-code", rc.Codes[0])
	p.click("recovery-submit")
	p.waitView("security")
	p.waitMessage("You are signed in")
}

// After the user deletes their passkey (once cancelled, then confirmed),
// signing in asks only for the password. A ceremony that fails on the way
// (the device no longer holds the passkey) leaves the step to try again.
func testPasskeyDelete(t *testing.T, browser context.Context) {
	srv := passkeyServer(t)
	createUser(t, srv, "Dana", "dana@example.com", "dana-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("dana@example.com", "dana-password")
	p.waitView("security")
	auth := p.addAuthenticator()
	p.addPasskey("Phone")
	p.signOut()

	// The device lost its passkey: the ceremony fails, the step stays.
	cred := auth.only()
	auth.remove(cred)
	p.signIn("dana@example.com", "dana-password")
	p.waitView("passkey")
	p.click("passkey-use")
	p.waitMessage("The passkey did not sign you in")
	p.waitView("passkey")
	// It is back: a second try signs in.
	auth.add(cred)
	p.clearMessage()
	p.click("passkey-use")
	p.waitView("security")
	p.waitMessage("You are signed in")

	// Delete: cancelled first, then confirmed.
	p.do("click Delete", chromedp.Click(chromedp.CSS(`#sec-pk-list button[data-action="delete"]`)))
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	if got := p.text("confirm-title"); got != "Delete the passkey \u201cPhone\u201d?" {
		t.Fatalf("the confirmation asks %q", got)
	}
	if got := p.text("confirm-text"); !strings.Contains(got, "your last passkey") {
		t.Fatalf("the confirmation of the last passkey says %q", got)
	}
	p.click("confirm-cancel")
	p.waitFor("the dialog to close", `() => !document.getElementById('confirm').open`)
	if n := len(listPasskeys(t, srv, p.token())); n != 1 {
		t.Fatalf("%d passkeys after a cancelled deletion", n)
	}
	p.do("click Delete", chromedp.Click(chromedp.CSS(`#sec-pk-list button[data-action="delete"]`)))
	p.confirm("")
	p.waitMessage("The passkey \u201cPhone\u201d is deleted.")
	p.waitFor("the empty list", `() => document.getElementById('sec-pk-table').hidden && document.getElementById('sec-pk-state').textContent === 'Off'`)
	if n := len(listPasskeys(t, srv, p.token())); n != 0 {
		t.Fatalf("%d passkeys after deleting the only one", n)
	}
	p.signOut()

	p.signIn("dana@example.com", "dana-password")
	p.waitView("security")
	p.waitMessage("You are signed in")
}

// A user with an authenticator app and a passkey: the TOTP step (Mfa-Code
// 1) offers the passkey; a failed try falls back to the code field, and
// the passkey then signs in.
func testPasskeyInsteadOfTOTP(t *testing.T, browser context.Context) {
	srv := passkeyServer(t)
	createUser(t, srv, "Theo", "theo@example.com", "theo-password")
	secret := enrollTOTP(t, srv, "theo@example.com", "theo-password")
	p := newPage(t, browser, srv)
	p.open()
	p.signIn("theo@example.com", "theo-password")
	p.waitView("totp")
	if !eval[bool](p, `document.getElementById('totp-passkey-line').hidden`) {
		t.Fatal("a user without passkeys is offered one")
	}
	p.typeInto("totp-code", srv.Code(t, secret, 0))
	p.click("totp-submit")
	p.waitView("security")
	auth := p.addAuthenticator()
	p.addPasskey("Security key")
	if got := p.text("sec-2fa-state"); got != "On" {
		t.Fatalf("2FA %q after adding a passkey", got)
	}
	p.signOut()

	p.signIn("theo@example.com", "theo-password")
	p.waitView("totp")
	if got := eval[string](p, `sessionStorage.getItem('mfad.methods')`); got != "2FA, WEBAUTHN" {
		t.Fatalf("Mfa-Methods %q, want 2FA, WEBAUTHN", got)
	}
	p.do("wait for the passkey button", chromedp.WaitVisible(chromedp.ID("totp-use-passkey")))

	// The device does not hold the passkey: the code field is there again.
	cred := auth.only()
	auth.remove(cred)
	p.click("totp-use-passkey")
	p.waitMessage("The passkey did not sign you in")
	p.waitMessage("Enter the code from your authenticator app instead")
	p.waitView("totp")
	p.waitFor("the code field focused", `() => document.activeElement === document.getElementById('totp-code')`)

	auth.add(cred)
	p.clearMessage()
	p.click("totp-use-passkey")
	p.waitView("security")
	p.waitMessage("You are signed in")
	if ev := events(t, srv); !slices.Contains(ev, "factor.passkey.used") {
		t.Fatalf("no factor.passkey.used in the activity %q", ev)
	}
}

// registerPasskeyAPI registers a software authenticator's passkey for the
// holder of token through the API, as the page at srv.URL would.
func registerPasskeyAPI(t *testing.T, srv *testserver.Server, token, name string) {
	t.Helper()
	webauthntest.Register(t, srv.URL+"/api/1.0", srv.URL, "localhost", token, name)
}

// The users page shows each user's passkeys with their other factors; the
// row's "Remove passkeys" asks first, and the user then signs in with the
// password alone.
func testAdminRemovesPasskeys(t *testing.T, browser context.Context) {
	srv := passkeyServer(t)
	createUser(t, srv, "Uma", "uma@example.com", "uma-password")
	createUser(t, srv, "Vic", "vic@example.com", "vic-password")
	wes := createUser(t, srv, "Wes", "wes@example.com", "wes-password")
	registerPasskeyAPI(t, srv, login(t, srv, "uma@example.com", "uma-password"), "Uma's key")
	registerPasskeyAPI(t, srv, login(t, srv, "wes@example.com", "wes-password"), "Wes's key")
	// Wes's 2FA is forced: his passkey satisfies it.
	call(t, srv, "POST", "/user/set-mfa", login(t, srv, testserver.AdminEmail, testserver.AdminPassword), map[string]any{"ids": []string{wes}, "auth_type": "2FA"}).
		decode(t, "force 2FA on Wes", 200, nil)
	p := newPage(t, browser, srv)
	p.open()
	p.signIn(testserver.AdminEmail, testserver.AdminPassword)
	p.waitView("security")
	p.click("nav-users")
	p.waitView("users")
	head := eval[[]string](p, `Array.from(document.querySelectorAll('table.users thead th')).map((th) => th.textContent)`)
	if len(head) < 9 || head[7] != "Passkeys" || head[8] != "Last sign-in" {
		t.Fatalf("the users' columns %q", head)
	}
	if got := p.row("uma@example.com"); len(got) < 8 || got[7] != "Active" || got[5] != "Off" {
		t.Fatalf("Uma's row %q: want passkeys active, 2FA off", got)
	}
	if got := p.row("wes@example.com"); len(got) < 8 || got[7] != "Active" || got[5] != "By passkey, forced" {
		t.Fatalf("Wes's row %q: want passkeys active, 2FA forced and satisfied by the passkey", got)
	}
	if got := p.row("vic@example.com"); len(got) < 8 || got[7] != "Off" || got[5] != "Off" {
		t.Fatalf("Vic's row %q", got)
	}
	if !eval[bool](p, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Fatal("the users page is wider than the window")
	}
	if eval[bool](p, `!!document.querySelector('#users-body tr[data-email="vic@example.com"] button[data-action="remove-passkeys"]')`) {
		t.Fatal("a user without passkeys is offered their removal")
	}
	uma := loginLimited(t, srv, "uma@example.com", "uma-password") // Mfa-Code 4
	p.rowAction("uma@example.com", "remove-passkeys")
	p.do("wait for the confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	if got := p.text("confirm-title"); got != "Remove passkeys for uma@example.com?" {
		t.Fatalf("the confirmation asks %q", got)
	}
	p.click("confirm-ok")
	p.waitMessage("Passkeys are removed for uma@example.com. Their sessions were closed.")
	p.waitFor("Uma's passkeys off", `() => {
		const row = document.querySelector('#users-body tr[data-email="uma@example.com"]');
		return row && row.cells[7].textContent === 'Off';
	}`)
	if r := call(t, srv, "POST", "/session/login/passkey", uma, nil); r.status != 401 {
		t.Fatalf("Uma's limited session after the removal: %d %s, want 401 (closed)", r.status, r.body)
	}
	// Uma signs in with the password alone.
	r := call(t, srv, "GET", "/session/login", "", nil, "uma@example.com", "uma-password")
	if r.status != 200 {
		t.Fatalf("Uma's login after the removal: %d (Mfa-Code %q), want 200", r.status, r.header.Get("Mfa-Code"))
	}
}
