package main

// Recovery codes (mfactl recovery-codes, the count in status), each
// factor's state in user list, the pending secret that 2fa enroll and
// login show until it expires (with the time left; --new), and what mfactl
// does with a wrong code that locks the email or a code already used.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
)

func TestTimeLeftAndLockedFor(t *testing.T) {
	for secs, want := range map[int64]string{
		900: "15 minutes", 899: "14 minutes", 120: "2 minutes", 119: "1 minute", 60: "1 minute",
		59: "59 seconds", 1: "1 second", 0: "0 seconds", -3: "0 seconds",
	} {
		if got := timeLeft(secs); got != want {
			t.Errorf("timeLeft(%d) = %q, want %q", secs, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15 minutes", 61 * time.Second: "2 minutes", time.Minute: "1 minute", time.Second: "1 minute",
	} {
		if got := lockedFor(d); got != want {
			t.Errorf("lockedFor(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFactorState(t *testing.T) {
	for _, tc := range []struct {
		u        client.UserResp
		twoFA, p string
	}{
		{client.UserResp{MFAStatus: map[string]string{"2FA": "active", "PIN": "off"}}, "active", "off"},
		{client.UserResp{MFAStatus: map[string]string{"2FA": "pending_enrollment", "PIN": "active"}}, "pending enrollment", "active"},
		{client.UserResp{MFAStatus: map[string]string{"2FA": "some_new_state"}}, "some new state", "-"},
		// A server without mfa_status: from auth_methods.
		{client.UserResp{AuthMethods: []client.AuthType{client.TwoFA}}, "on", "off"},
	} {
		if got := factorState(tc.u, client.TwoFA); got != tc.twoFA {
			t.Errorf("factorState(%v, 2FA) = %q, want %q", tc.u.MFAStatus, got, tc.twoFA)
		}
		if got := factorState(tc.u, client.PIN); got != tc.p {
			t.Errorf("factorState(%v, PIN) = %q, want %q", tc.u.MFAStatus, got, tc.p)
		}
	}
}

// serverCodeRE is a recovery code as the server prints it.
var serverCodeRE = regexp.MustCompile(`(?m)^  ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$`)

// printedCodes are the recovery codes "mfactl recovery-codes" printed.
func printedCodes(t *testing.T, r result) []string {
	t.Helper()
	var codes []string
	for _, m := range serverCodeRE.FindAllStringSubmatch(r.stdout, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes printed, want 10:\n%s", len(codes), r)
	}
	return codes
}

func TestRecoveryCodesCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	const question = "You have 10 recovery codes left; new codes replace them, and they stop working. Make new codes? [y/N] "

	// Without 2FA: no warning in status; the codes come with a note.
	r := admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+0 left$`, r.stdout, r)
	if strings.Contains(r.stderr, "Warning") {
		t.Errorf("a warning about recovery codes with 2FA off:\n%s", r)
	}
	r = admin.ok(t, "", "recovery-codes")
	printedCodes(t, r)
	mustContain(t, r.stderr, "Note: 2FA is off", r)
	admin.ok(t, "", "mfa", "remove", "2FA") // deletes them

	// With 2FA and no codes: status warns; no question before the first set.
	secret := enroll(t, srv, admin)
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+0 left$`, r.stdout, r)
	mustContain(t, r.stderr, `Warning: no recovery codes left: without your authenticator app you could not log in; run "mfactl recovery-codes" for a new set.`, r)
	r = admin.ok(t, "", "recovery-codes")
	if strings.Contains(r.stderr, "[y/N]") || strings.Contains(r.stderr, "Note:") {
		t.Errorf("asked or noted with no codes left and 2FA on:\n%s", r)
	}
	mustMatch(t, `^Your new recovery codes, shown this once; each works once, at login, in place of a code from your authenticator app:\n(  \S+\n){10}Keep them somewhere safe`, r.stdout, r)
	codes := printedCodes(t, r)
	for _, code := range codes {
		if !isRecoveryCode(code) {
			t.Errorf("printed %q, which mfactl login does not take for a recovery code", code)
		}
	}
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+10 left$`, r.stdout, r)
	if strings.Contains(r.stderr, "Warning") {
		t.Errorf("a warning with 10 codes left:\n%s", r)
	}
	if p := decode[map[string]any](t, admin.ok(t, "", "status", "--json")); p["profile"].(map[string]any)["recovery_codes_left"] != float64(10) {
		t.Errorf("status --json: %v, want recovery_codes_left 10", p)
	}

	// Codes are left: asked first; anything but y keeps them.
	for _, answer := range []string{"n\n", "\n", "maybe\n"} {
		r = admin.expect(t, 1, answer, "recovery-codes")
		mustContain(t, r.stderr, question, r)
		if msg := errLine(t, r); msg != "not confirmed: nothing was changed; your 10 recovery codes still work" {
			t.Errorf("message %q", msg)
		}
		if r.stdout != "" {
			t.Errorf("printed on stdout though not confirmed:\n%s", r)
		}
	}
	// No answer at all (a script): a usage error that names --yes.
	r = admin.expect(t, 2, "", "recovery-codes", "--json")
	mustContain(t, errLine(t, r), "give --yes; nothing was changed", r)
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+10 left$`, r.stdout, r)

	// A code logs in; 9 left.
	r = admin.ok(t, testserver.AdminPassword+"\n"+codes[0]+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Recovery code accepted", r)
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+9 left$`, r.stdout, r)

	// y replaces them: the old codes no longer log in.
	r = admin.ok(t, "Y\n", "recovery-codes")
	mustContain(t, r.stderr, "You have 9 recovery codes left", r)
	fresh := printedCodes(t, r)
	srv.Clock.Advance(30 * time.Second)
	r = admin.ok(t, testserver.AdminPassword+"\n"+codes[1]+"\n"+srv.Code(t, secret, 0)+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Wrong recovery code, or one already used", r)

	// --yes --json: no question, {"codes":[...]}.
	r = admin.ok(t, "", "recovery-codes", "--yes", "--json")
	if strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("asked despite --yes:\n%s", r)
	}
	var out struct {
		Codes []string `json:"codes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Codes) != 10 {
		t.Fatalf("recovery-codes --json: %v\n%s", err, r)
	}
	var keys map[string]any
	json.Unmarshal([]byte(r.stdout), &keys)
	if len(keys) != 1 {
		t.Errorf("recovery-codes --json: %v, want only codes", keys)
	}
	for _, code := range out.Codes {
		if !serverCodeRE.MatchString("  " + code) {
			t.Errorf("--json code %q", code)
		}
	}
	r = admin.ok(t, testserver.AdminPassword+"\n"+fresh[0]+"\n"+srv.Code(t, secret, 1)+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Wrong recovery code, or one already used", r) // voided by --yes

	// Down to 2: status warns.
	for _, code := range out.Codes[:8] {
		admin.ok(t, testserver.AdminPassword+"\n"+code+"\n", "login", "--email", testserver.AdminEmail)
	}
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Recovery codes:\s+2 left$`, r.stdout, r)
	mustContain(t, r.stderr, "Warning: only 2 recovery codes left", r)
	admin.ok(t, "", "recovery-codes", "--yes")
	r = admin.ok(t, "", "status")
	if strings.Contains(r.stderr, "Warning") {
		t.Errorf("a warning with 10 codes left:\n%s", r)
	}

	// Not logged in; bad arguments.
	other := newCLI(t, srv.URL)
	r = other.expect(t, 3, "", "recovery-codes")
	mustContain(t, r.stderr, "mfactl login", r)
	admin.expect(t, 2, "", "recovery-codes", "extra")
	admin.expect(t, 2, "", "recovery-codes", "--force")
	r = admin.ok(t, "", "recovery-codes", "--help")
	mustContain(t, r.stderr, "-yes", r)
	r = admin.ok(t, "", "help")
	mustContain(t, r.stdout, "recovery-codes [--yes]", r)
	mustContain(t, r.stdout, "2fa enroll [--new]", r)
}

func TestUserListFactorStates(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	row := func(state2FA, statePIN, forced string) {
		t.Helper()
		r := admin.ok(t, "", "user", "list")
		mustMatch(t, `^ID\s+EMAIL\s+NAME\s+ADMIN\s+STATUS\s+2FA\s+PIN\s+PASSKEYS\s+FORCED\s+LAST LOGIN\n`, r.stdout, r)
		mustMatch(t, `(?m)^`+bobID+`\s+bob@example\.com\s+Bob\s+no\s+active\s+`+state2FA+`\s+`+statePIN+`\s+off\s+`+forced+`\s+(never|20\S+ \S+ UTC)$`, r.stdout, r)
		r = admin.ok(t, "", "user", "show", bobID)
		mustMatch(t, `(?m)^`+bobID+`\s+bob@example\.com\s+Bob\s+no\s+active\s+`+state2FA+`\s+`+statePIN+`\s+off\s+`+forced+`\s`, r.stdout, r)
	}
	row("off", "off", "-")

	// Forced: 2FA owes enrollment until bob logs in.
	admin.ok(t, "", "user", "set-mfa", "--type", "2FA", "--ids", bobID)
	row("pending enrollment", "off", "2FA")
	// --json mirrors the server's mfa_status.
	var users []struct {
		ID        string            `json:"id"`
		MFAStatus map[string]string `json:"mfa_status"`
	}
	r := admin.ok(t, "", "user", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.ID == bobID && (u.MFAStatus["2FA"] != "pending_enrollment" || u.MFAStatus["PIN"] != "off") {
			t.Errorf("user list --json: bob's mfa_status %v", u.MFAStatus)
		}
	}

	bob := newCLI(t, srv.URL)
	p := bob.start(t, "login", "--email", "bob@example.com")
	p.write(t, "bob-password\n")
	secret := p.waitSecret(t)
	p.write(t, srv.Code(t, secret, 0)+"\n")
	if r = p.finish(t); r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	row("active", "off", "2FA")
	bob.ok(t, "1470\n1470\n", "pin", "set")
	row("active", "active", "2FA")
	admin.ok(t, "", "user", "reset-mfa", "--ids", bobID)
	row("pending enrollment", "active", "2FA")
}

var timeLeftRE = regexp.MustCompile(`Time left to confirm this secret with a code: ([0-9]+ (?:minutes?|seconds?))`)

func TestEnrollPendingSecret(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	shown := func(r result) (secret, left string) {
		t.Helper()
		s, l := secretRE.FindStringSubmatch(r.stderr), timeLeftRE.FindStringSubmatch(r.stderr)
		if s == nil || l == nil {
			t.Fatalf("no secret or no time left shown:\n%s", r)
		}
		return s[1], l[1]
	}

	// Given up before a code: the secret stays pending.
	r := admin.expect(t, 1, "", "2fa", "enroll")
	first, left := shown(r)
	if left != "15 minutes" {
		t.Errorf("time left %q, want 15 minutes", left)
	}
	mustContain(t, r.stderr, `"mfactl 2fa enroll" shows this same secret until then; --new makes a new one`, r)
	srv.Clock.Advance(5*time.Minute + 10*time.Second)
	r = admin.expect(t, 1, "", "2fa", "enroll")
	if s, left := shown(r); s != first || left != "9 minutes" {
		t.Errorf("second run: secret %q, %s left; want %q, 9 minutes", s, left, first)
	}

	// --new: another secret, 15 minutes.
	r = admin.expect(t, 1, "", "2fa", "enroll", "--new")
	second, left := shown(r)
	if second == first || left != "15 minutes" {
		t.Errorf("--new: secret %q (first %q), %s left", second, first, left)
	}
	// A wrong code: the message says the same secret is shown again.
	r = admin.expect(t, 1, wrongCode(t, srv, second)+"\n", "2fa", "enroll")
	if msg := errLine(t, r); msg != `wrong code for the pending 2FA secret; run "mfactl 2fa enroll" again to give another code (the same secret, while it is pending)` {
		t.Errorf("message %q", msg)
	}
	// The secret known from before is confirmed without looking at the
	// screen: a code computed ahead works.
	r = admin.ok(t, srv.Code(t, second, 0)+"\n", "2fa", "enroll")
	mustContain(t, r.stdout, "2FA is on", r)
	if s, _ := shown(r); s != second {
		t.Errorf("enroll showed %q, want the pending %q", s, second)
	}
	r = admin.ok(t, "", "status")
	mustMatch(t, `(?m)^Factors:\s+2FA$`, r.stdout, r)
	admin.expect(t, 2, "", "2fa", "enroll", "--new=maybe")
	r = admin.ok(t, "", "2fa", "enroll", "--help")
	mustContain(t, r.stderr, "-new", r)
}

// At login, enrollment (Mfa-Code 3) shows the time left, and a login given
// up and started again shows the same secret.
func TestLoginEnrollmentTimeLeft(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	admin.ok(t, "", "user", "set-mfa", "--type", "2FA", "--ids", bobID)

	bob := newCLI(t, srv.URL)
	r := bob.expect(t, 1, "bob-password\n", "login", "--email", "bob@example.com")
	mustContain(t, r.stderr, "Your account requires 2FA", r)
	mustContain(t, r.stderr, "Time left to confirm this secret with a code: 15 minutes (logging in again shows this same secret until then).", r)
	secret := secretRE.FindStringSubmatch(r.stderr)[1]

	srv.Clock.Advance(3 * time.Minute)
	r = bob.ok(t, "bob-password\n"+srv.Code(t, secret, 0)+"\n", "login", "--email", "bob@example.com")
	mustContain(t, r.stderr, "Time left to confirm this secret with a code: 12 minutes", r)
	mustContain(t, r.stderr, "Or add this secret by hand: "+secret, r)
	mustContain(t, r.stdout, "Logged in", r)
}

// A TOTP code already used is refused with the server's reason, and asked
// again: the next code logs in.
func TestLoginCodeAlreadyUsed(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	secret := enroll(t, srv, admin)
	srv.Clock.Advance(30 * time.Second)
	code := srv.Code(t, secret, 0)
	admin.ok(t, testserver.AdminPassword+"\n"+code+"\n", "login", "--email", testserver.AdminEmail)

	r := admin.ok(t, testserver.AdminPassword+"\n"+code+"\n"+srv.Code(t, secret, 1)+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stdout, "Logged in", r)
	if n := strings.Count(r.stderr, "This code was already used: wait for the next one from your authenticator app"); n != 1 {
		t.Errorf("%d lines say the code was already used, want 1:\n%s", n, r)
	}
	if n := strings.Count(r.stderr, "Authentication code (6 digits) or a recovery code: "); n != 2 {
		t.Errorf("asked %d times, want 2:\n%s", n, r)
	}
	if strings.Contains(r.stderr, "Wrong code") {
		t.Errorf("a code already used reported as a wrong code:\n%s", r)
	}
}

// The wrong code that locks the email: said in words, exit status 5.
func TestLoginWrongCodeLocks(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	admin.ok(t, "2468\n2468\n", "user", "set-mfa", "--type", "PIN", "--ids", bobID)

	// Four wrong passwords, then the right one and a wrong PIN: the fifth
	// failure locks the email though the login is still open. mfactl does
	// not ask again.
	bob := newCLI(t, srv.URL)
	for i := 0; i < 4; i++ {
		bob.expect(t, 3, "wrong-password\n", "login", "--email", "bob@example.com")
	}
	r := bob.expect(t, 5, "bob-password\n1111\n2468\n", "login", "--email", "bob@example.com")
	if msg := errLine(t, r); msg != "too many wrong codes: this email is locked for 15 minutes; log in again after that" {
		t.Errorf("message %q", msg)
	}
	if n := strings.Count(r.stderr, "PIN: "); n != 1 {
		t.Errorf("asked for the PIN %d times, want 1:\n%s", n, r)
	}
	if _, err := os.Stat(bob.sessionFile()); err == nil {
		t.Errorf("a session saved after the lock")
	}
	r = bob.expect(t, 5, "bob-password\n", "login", "--email", "bob@example.com")
	mustContain(t, r.stderr, "retry after", r)
	srv.Clock.Advance(15*time.Minute + time.Second)
	bob.ok(t, "bob-password\n2468\n", "login", "--email", "bob@example.com")
}

// 2fa enroll asks again after a code the server says was already used
// (400 code 21), on a server that answers so.
func TestEnrollCodeAlreadyUsed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var posts []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/1.0/profile/2fa/generate" && r.Method == "GET" && r.URL.RawQuery == "":
			io.WriteString(w, `{"qr":"","secret":"JBSWY3DPEHPK3PXP","uri":"otpauth://totp/mfad:a@example.com?secret=JBSWY3DPEHPK3PXP","expires_in":59}`)
		case r.URL.Path == "/api/1.0/profile/set-mfa" && r.Method == "POST":
			var b struct {
				Code string `json:"code"`
			}
			json.NewDecoder(r.Body).Decode(&b)
			mu.Lock()
			posts = append(posts, b.Code)
			n := len(posts)
			mu.Unlock()
			if n == 1 {
				w.WriteHeader(400)
				io.WriteString(w, `{"msg":"that code was already used; wait for the next one","code":21}`)
				return
			}
			io.WriteString(w, `{"session_ids":"tok"}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"msg":"no such path","code":5}`)
		}
	}))
	t.Cleanup(hs.Close)
	c := newCLI(t, hs.URL)
	if err := os.WriteFile(c.sessionFile(), []byte(`{"server":"`+hs.URL+`","session_id":"tok"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.ok(t, "123456\n234567\n", "2fa", "enroll")
	mustContain(t, r.stderr, "Time left to confirm this secret with a code: 59 seconds", r)
	mustContain(t, r.stderr, alreadyUsed, r)
	mustContain(t, r.stdout, "2FA is on", r)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(posts, ",") != "123456,234567" {
		t.Errorf("sent %q, want both codes", posts)
	}
}
