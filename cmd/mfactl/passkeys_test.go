package main

// Passkeys in mfactl: the list (table and --json), rename, delete with its
// question, "passkeys add" sending people to the web page, the PASSKEYS
// column of user list, an admin removing a user's passkeys, and login at
// the passkey step (Mfa-Code 4), where a recovery code stands in. The
// passkeys are registered over HTTP by a software authenticator
// (internal/webauthntest), as the web page would with a browser's.

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/internal/webauthntest"
)

// savedSession is the session id c saved.
func (c *cli) savedSession(t *testing.T) string {
	t.Helper()
	var saved struct {
		SessionID string `json:"session_id"`
	}
	data, err := os.ReadFile(c.sessionFile())
	if err != nil || json.Unmarshal(data, &saved) != nil || saved.SessionID == "" {
		t.Fatalf("session.json: %s (%v)", data, err)
	}
	return saved.SessionID
}

// addPasskey registers a software authenticator's passkey named name for
// the user logged in with c, as the web page would.
func addPasskey(t *testing.T, server string, c *cli, name string) {
	t.Helper()
	webauthntest.Register(t, server+client.BasePath, testserver.PublicURL, "mfad.example", c.savedSession(t), name)
}

type passkeyJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Created    int64    `json:"created"`
	LastUsed   int64    `json:"last_used"`
	Transports []string `json:"transports"`
}

func TestPasskeysCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	createUser(t, admin, "Pia", "pia@example.com", "pia-password")
	pia := newCLI(t, srv.URL)
	pia.login(t, "pia@example.com", "pia-password")

	r := pia.ok(t, "", "passkeys")
	mustContain(t, r.stdout, "You have no passkeys. Add one on mfad's web page: "+srv.URL+"/#/security", r)
	if keys := decode[[]passkeyJSON](t, pia.ok(t, "", "passkeys", "--json")); keys == nil || len(keys) != 0 {
		t.Fatalf("passkeys --json: %v, want []", keys)
	}

	r = pia.expect(t, 2, "", "passkeys", "frob")
	mustContain(t, r.stderr, `unknown passkeys command "frob"`, r)
	pia.expect(t, 2, "", "passkeys", "delete")
	r = pia.ok(t, "", "passkeys", "delete", "--help")
	mustContain(t, r.stderr, "-yes", r)
	mustContain(t, pia.ok(t, "", "help").stdout, "passkeys delete ID [--yes]", r)

	// Adding one needs a browser: a usage error that names the page.
	r = pia.expect(t, 2, "", "passkeys", "add")
	mustContain(t, r.stderr, "adding a passkey needs a web browser", r)
	mustContain(t, r.stderr, srv.URL+"/#/security", r)
	if r.stdout != "" {
		t.Errorf("passkeys add printed on stdout:\n%s", r)
	}

	addPasskey(t, srv.URL, pia, "YubiKey")
	srv.Clock.Advance(time.Second) // the list is the oldest first
	addPasskey(t, srv.URL, pia, "Work laptop")
	keys := decode[[]passkeyJSON](t, pia.ok(t, "", "passkeys", "--json"))
	if len(keys) != 2 || keys[0].Name != "YubiKey" || keys[1].Name != "Work laptop" || keys[0].LastUsed != 0 || keys[0].Created == 0 ||
		strings.Join(keys[0].Transports, ",") != "usb" {
		t.Fatalf("passkeys --json: %+v", keys)
	}
	r = pia.ok(t, "", "passkeys", "list")
	mustMatch(t, `^ID\s+NAME\s+ADDED\s+LAST USED\s+TRANSPORTS\n`, r.stdout, r)
	mustMatch(t, `(?m)^`+keys[0].ID+`\s+YubiKey\s+20\d\d-\d\d-\d\d \d\d:\d\d UTC\s+never\s+usb$`, r.stdout, r)
	mustMatch(t, `(?m)^`+keys[1].ID+`\s+Work laptop\s+20\d\d-\d\d-\d\d \d\d:\d\d UTC\s+never\s+usb$`, r.stdout, r)

	// status lists the factor; the user list shows it, by user.
	mustMatch(t, `(?m)^Factors:\s+WEBAUTHN$`, pia.ok(t, "", "status").stdout, r)
	r = admin.ok(t, "", "user", "list")
	mustMatch(t, `(?m)^\S+\s+pia@example\.com\s+Pia\s+no\s+active\s+off\s+off\s+active\s+-\s`, r.stdout, r)
	mustMatch(t, `(?m)^\S+\s+`+regexp.QuoteMeta(testserver.AdminEmail)+`\s+.*\s+off\s+off\s+off\s+-\s`, r.stdout, r)

	// Rename: the name, with spaces; refused names in words.
	r = pia.ok(t, "", "passkeys", "rename", keys[1].ID, "Home laptop")
	mustContain(t, r.stdout, `Renamed the passkey `+keys[1].ID+` to "Home laptop".`, r)
	r = pia.expect(t, 1, "", "passkeys", "rename", keys[1].ID, strings.Repeat("x", 65))
	mustContain(t, r.stderr, "Passkey name refused: 1 to 64 characters", r)
	checkInWords(t, r)
	r = pia.expect(t, 1, "", "passkeys", "rename", "not-an-id", "x")
	mustContain(t, r.stderr, "Passkey id refused", r)
	checkInWords(t, r)
	r = pia.expect(t, 1, "", "passkeys", "rename", "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f", "x")
	mustContain(t, r.stderr, `you have no passkey with the id "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f"`, r)
	pia.expect(t, 2, "", "passkeys", "rename", keys[1].ID)
	keys = decode[[]passkeyJSON](t, pia.ok(t, "", "passkeys", "--json"))
	if len(keys) != 2 || keys[1].Name != "Home laptop" {
		t.Fatalf("after the rename: %+v", keys)
	}

	// Delete asks first: no answer is a usage error, "n" keeps it.
	r = pia.expect(t, 2, "", "passkeys", "delete", keys[0].ID)
	mustContain(t, r.stderr, `Delete the passkey "YubiKey" (`+keys[0].ID+`)? You can no longer log in with it. [y/N] `, r)
	mustContain(t, r.stderr, "answer y on a terminal, or give --yes; nothing was deleted", r)
	r = pia.expect(t, 1, "n\n", "passkeys", "delete", keys[0].ID)
	mustContain(t, r.stderr, `not confirmed: nothing was deleted; the passkey "YubiKey" still works`, r)
	if n := len(decode[[]passkeyJSON](t, pia.ok(t, "", "passkeys", "--json"))); n != 2 {
		t.Fatalf("%d passkeys after a delete not confirmed", n)
	}
	r = pia.ok(t, "y\n", "passkeys", "delete", keys[0].ID)
	mustContain(t, r.stdout, `Deleted the passkey "YubiKey".`, r)
	r = pia.expect(t, 1, "", "passkeys", "delete", keys[0].ID)
	mustContain(t, r.stderr, `you have no passkey with the id "`+keys[0].ID+`"`, r)
	// The last one: the question says so; --yes asks nothing.
	r = pia.expect(t, 1, "no\n", "passkeys", "delete", keys[1].ID)
	mustContain(t, r.stderr, `Delete the passkey "Home laptop" (`+keys[1].ID+`), your last one? Logins will no longer ask for a passkey. [y/N] `, r)
	r = pia.ok(t, "", "passkeys", "delete", "--yes", keys[1].ID, "--json")
	if strings.Contains(r.stderr, "[y/N]") || strings.TrimSpace(r.stdout) != `{
  "status": "success"
}` {
		t.Fatalf("passkeys delete --yes --json:\n%s", r)
	}
	if n := len(decode[[]passkeyJSON](t, pia.ok(t, "", "passkeys", "--json"))); n != 0 {
		t.Fatalf("%d passkeys after deleting both", n)
	}
	// Without a passkey the login owes nothing again.
	pia.login(t, "pia@example.com", "pia-password")
}

// The admin removes a user's passkeys with remove-mfa --type WEBAUTHN (or
// "passkeys"): their logins owe nothing more.
func TestUserRemovePasskeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	id := createUser(t, admin, "Uma", "uma@example.com", "uma-password")
	uma := newCLI(t, srv.URL)
	uma.login(t, "uma@example.com", "uma-password")
	addPasskey(t, srv.URL, uma, "Key")
	u := decode[userJSON](t, admin.ok(t, "", "--json", "user", "show", id))
	if strings.Join(u.AuthMethods, ",") != "WEBAUTHN" {
		t.Fatalf("user show --json: %+v", u)
	}
	admin.expect(t, 2, "", "user", "remove-mfa", "--type", "fido", "--ids", id)
	admin.expect(t, 2, "", "user", "set-mfa", "--type", "WEBAUTHN", "--ids", id)
	r := admin.ok(t, "", "user", "remove-mfa", "--type", "passkeys", "--ids", id)
	mustContain(t, r.stdout, "Done for 1 user(s).", r)
	r = admin.ok(t, "", "user", "show", id)
	mustMatch(t, `(?m)^`+id+`\s+uma@example\.com\s+Uma\s+no\s+active\s+off\s+off\s+off\s+-\s`, r.stdout, r)
	// Her session was closed; she logs in with the password alone.
	uma.expect(t, 3, "", "passkeys")
	uma.login(t, "uma@example.com", "uma-password")

	addPasskey(t, srv.URL, uma, "Key 2")
	admin.ok(t, "", "user", "remove-mfa", "--type", "webauthn", "--ids", id)
	uma.login(t, "uma@example.com", "uma-password")
}

// login at the passkey step (Mfa-Code 4): without recovery codes it ends
// at once, saying where to log in; with some, a recovery code stands in,
// 6 digits are refused before they are sent, and an empty line stops.
func TestLoginAtThePasskeyStep(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	px := newCountingProxy(t, srv.URL)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	createUser(t, admin, "Pia", "pia@example.com", "pia-password")
	pia := newCLI(t, px.URL)
	pia.login(t, "pia@example.com", "pia-password")
	addPasskey(t, px.URL, pia, "Key")
	const page = "log in on mfad's web page ("

	// No recovery codes: nothing asked after the password, exit 3.
	before := px.count(postLogin)
	r := pia.expect(t, 3, "pia-password\n", "login", "--email", "pia@example.com")
	mustContain(t, r.stderr, "mfactl: your account logs in with a passkey, which needs a web browser: "+page+px.URL+"/); you have no recovery codes to use here instead", r)
	if strings.Contains(r.stderr, "Recovery code") {
		t.Errorf("asked for a recovery code the user does not have:\n%s", r)
	}
	if n := px.count(postLogin) - before; n != 0 {
		t.Errorf("%d login steps sent, want none", n)
	}
	if _, err := os.Stat(pia.sessionFile()); err != nil {
		t.Fatalf("the earlier session was not kept: %v", err)
	}

	// With recovery codes.
	codes := recoveryCodes(t, px.URL, pia)
	before = px.count(postLogin)
	r = pia.ok(t, "pia-password\n123456\nAAAA-BBBB-CCCC-DDDD\n"+codes[0]+"\n", "login", "--email", "pia@example.com")
	mustContain(t, r.stderr, "Your account logs in with a passkey, which mfactl cannot use (it needs a web browser: mfad's web page, "+px.URL+"/). One of your recovery codes works instead.", r)
	mustContain(t, r.stderr, "Recovery code (an empty line to stop): ", r)
	mustContain(t, r.stderr, "Not sent: "+notTOTPHere+". Try again.", r)
	mustContain(t, r.stderr, "Wrong recovery code, or one already used", r)
	mustContain(t, r.stderr, "Recovery code accepted; it cannot be used again.", r)
	mustContain(t, r.stdout, "Logged in", r)
	if n := strings.Count(r.stderr, "Your account logs in with a passkey"); n != 1 {
		t.Errorf("the note about passkeys shown %d times, want once:\n%s", n, r)
	}
	if n := px.count(postLogin) - before; n != 2 {
		t.Errorf("%d login steps sent, want 2 (the 6 digits are not sent)", n)
	}
	mustMatch(t, `(?m)^Recovery codes:\s+9 left$`, pia.ok(t, "", "status").stdout, r)

	// An empty line stops, as does the end of the input: exit 3.
	for _, stdin := range []string{"pia-password\n\n", "pia-password\n"} {
		r = pia.expect(t, 3, stdin, "login", "--email", "pia@example.com")
		mustContain(t, r.stderr, "mfactl: your account logs in with a passkey, which needs a web browser: "+page+px.URL+`/); or run "mfactl login" again and give one of your recovery codes`, r)
	}
	// A malformed code, then the end of the input: a usage error.
	r = pia.expect(t, 2, "pia-password\nnot a code\n", "login", "--email", "pia@example.com")
	mustContain(t, r.stderr, shapeRC, r)

	// The status warning: without the passkey only recovery codes log in
	// here.
	for range 7 {
		codes = codes[1:]
		pia.ok(t, "pia-password\n"+codes[0]+"\n", "login", "--email", "pia@example.com")
	}
	r = pia.ok(t, "", "status")
	mustContain(t, r.stderr, `Warning: only 2 recovery codes left: without your passkey you could not log in, and mfactl logs in only with a recovery code in its place; run "mfactl recovery-codes" for a new set.`, r)
	r = pia.ok(t, "", "recovery-codes", "--yes")
	mustContain(t, r.stdout, "each works once, at login, in place of your passkey:", r)
	if strings.Contains(r.stderr, "Note: 2FA is off") {
		t.Errorf("a note that recovery codes need 2FA, for a user with a passkey:\n%s", r)
	}
}

func TestRecoveryOnly(t *testing.T) {
	for in, want := range map[string]string{
		"7KQ4-M2XD-9TFA-H3PQ": "7KQ4-M2XD-9TFA-H3PQ", " 7kq4 m2xd 9tfa h3pq ": "7kq4 m2xd 9tfa h3pq",
	} {
		if f, err := recoveryOnly(in); err != nil || f != (factor{client.Recovery, want}) {
			t.Errorf("recoveryOnly(%q) = %+v, %v; want %q as RECOVERY", in, f, err, want)
		}
	}
	for in, want := range map[string]string{"123456": notTOTPHere, "123 456": notTOTPHere, "7KQ4-M2XD": shapeRC, "1234": shapeRC} {
		if _, err := recoveryOnly(in); err == nil || err.Error() != want || exitCode(err) != exitUsage {
			t.Errorf("recoveryOnly(%q) = %v; want the usage error %q", in, err, want)
		}
	}
	for _, in := range []string{"", "  "} {
		if _, err := recoveryOnly(in); err != errGiveUp {
			t.Errorf("recoveryOnly(%q) = %v; want errGiveUp", in, err)
		}
	}
}

func TestParseRemovable(t *testing.T) {
	for in, want := range map[string]client.AuthType{
		"2fa": client.TwoFA, "PIN": client.PIN, "WEBAUTHN": client.WebAuthn, "webauthn": client.WebAuthn,
		"passkeys": client.WebAuthn, "Passkey": client.WebAuthn,
	} {
		if got, err := parseRemovable(in); err != nil || got != want {
			t.Errorf("parseRemovable(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "TOTP", "RECOVERY", "fido"} {
		if got, err := parseRemovable(in); err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "WEBAUTHN") {
			t.Errorf("parseRemovable(%q) = %q, %v; want a usage error naming WEBAUTHN", in, got, err)
		}
	}
	// Only removal takes passkeys.
	if _, err := parseAuthType("WEBAUTHN"); err == nil {
		t.Error("parseAuthType takes WEBAUTHN")
	}
}

func TestPasskeyAnswersInWords(t *testing.T) {
	a := &app{server: "http://127.0.0.1:8080", timeout: 1}
	for _, tc := range []struct {
		err  error
		want string
		code int
	}{
		{&client.APIError{Status: 503, Code: client.CodePasskeysOff, Msg: "passkeys are off: the server has no --public-url (the relying party of passkeys)"},
			"passkeys are off on this server: it has no public URL (mfad serve --public-url)", exitError},
		{&client.APIError{Status: 404, Code: client.CodePasskeyNotFound, Msg: "no such passkey"},
			`you have no passkey with that id; "mfactl passkeys" lists yours`, exitError},
		{&client.APIError{Status: 400, Code: client.CodeWrongAuthType, Msg: `this login step owes auth_type "WEBAUTHN" or "RECOVERY" (Mfa-Code 4)`},
			`this login step wants a passkey (on mfad's web page) or a recovery code; run "mfactl login" again`, exitError},
		{fieldsError{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "name: 1 to 64 characters"}, passkeyFields},
			"Passkey name refused: 1 to 64 characters", exitError},
		{said{"a passkey needs the web page", client.ErrPasskeyRequired}, "a passkey needs the web page", exitAuth},
	} {
		err := a.worded(tc.err)
		if got := message(err); got != tc.want {
			t.Errorf("message(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if apiFields.MatchString(message(err)) {
			t.Errorf("message(%v) = %q names an API field", tc.err, message(err))
		}
		if c := exitCode(err); c != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, c, tc.code)
		}
	}
}
