package httpapi_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

var recoveryShape = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// recoveryCodes makes a new set for the holder of token.
func (e *env) recoveryCodes(token string) []string {
	e.t.Helper()
	r := e.post("/profile/recovery-codes", token, nil)
	e.wantStatus(r, 200)
	var out struct {
		Codes []string `json:"codes"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Codes
}

func (e *env) recoveryLeft(token string) int {
	e.t.Helper()
	r := e.get("/profile", token)
	e.wantStatus(r, 200)
	var p struct {
		Left *int `json:"recovery_codes_left"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Left == nil {
		e.t.Fatalf("profile without recovery_codes_left: %s", r.Body)
	}
	return *p.Left
}

// Recovery codes over HTTP: ten of the documented shape, shown once; each
// stands in for a TOTP code once, in any case and without dashes; not for
// the PIN step; a new set voids the old; removing 2FA drops them.
func TestRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "lost-phone@example.com", "lost phone phrase", false)
	tok := e.fullLogin("lost-phone@example.com", "lost phone phrase")
	secret := e.enroll(tok)
	if n := e.recoveryLeft(tok); n != 0 {
		t.Fatalf("%d codes before any were made", n)
	}
	old := e.recoveryCodes(tok)
	codes := e.recoveryCodes(tok)
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryShape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: not the shape XXXX-XXXX-XXXX-XXXX of Crockford base32, or repeated (%q)", c, codes)
		}
		seen[c] = true
	}
	if len(codes) != 10 || e.recoveryLeft(tok) != 10 {
		t.Fatalf("%d codes, %d left; want 10", len(codes), e.recoveryLeft(tok))
	}
	if strings.Contains(e.logs.String(), codes[0]) || strings.Contains(e.logs.String(), strings.ReplaceAll(codes[0], "-", "")) {
		t.Fatal("a recovery code is in the server's log")
	}

	// A code of the replaced set is a wrong code.
	lim := e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepTOTP)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": old[0]}), 401, mfad.CodeWrongCode)
	// In lower case, without dashes, with O for 0 and l for 1: accepted.
	typed := strings.ToLower(strings.ReplaceAll(codes[0], "-", ""))
	typed = strings.NewReplacer("0", "o", "1", "l").Replace(typed)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": typed})
	e.wantStatus(r, 200)
	full := e.sessionID(r)
	if e.recoveryLeft(full) != 9 {
		t.Fatalf("%d left after one was used, want 9", e.recoveryLeft(full))
	}
	// Used once.
	lim = e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepTOTP)
	used := e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": codes[0]})
	e.wantError(used, 401, mfad.CodeWrongCode)
	if !strings.Contains(e.logs.String(), "event=factor.recovery.used") {
		t.Fatal("the use of a recovery code is not in the log")
	}
	// A malformed one is a wrong code too (counted), never a 400.
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": "1234"}), 401, mfad.CodeWrongCode)
	// The TOTP code still works beside them.
	e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)}), 200)

	// Not for the PIN step, nor for enrollment.
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "2468"}), 200)
	e.clock.Advance(30 * time.Second)
	r = e.post("/session/login", e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepTOTP),
		map[string]string{"auth_type": "RECOVERY", "code": codes[1]})
	e.wantStatus(r, 207)
	if r.Header.Get("Mfa-Code") != "2" {
		t.Fatalf("after a recovery code, Mfa-Code %q, want 2 (the PIN still owed)", r.Header.Get("Mfa-Code"))
	}
	e.wantError(e.post("/session/login", e.sessionID(r), map[string]string{"auth_type": "RECOVERY", "code": codes[2]}), 400, mfad.CodeWrongAuthType)
	e.wantStatus(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	enr := e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepEnroll)
	e.wantError(e.post("/session/login", enr, map[string]string{"auth_type": "RECOVERY", "code": codes[3]}), 400, mfad.CodeWrongAuthType)

	// Removing 2FA drops the codes.
	e.wantStatus(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	tok = e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepPIN)
	r = e.post("/session/login", tok, map[string]string{"auth_type": "PIN", "code": "2468"})
	e.wantStatus(r, 200)
	if n := e.recoveryLeft(e.sessionID(r)); n != 0 {
		t.Fatalf("%d codes left after 2FA was removed", n)
	}
	// Only a full session makes codes.
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	enr = e.limitedLogin("lost-phone@example.com", "lost phone phrase", mfad.StepEnroll)
	e.wantError(e.post("/profile/recovery-codes", enr, nil), 401, mfad.CodeFactorRequired)
}

// Wrong recovery codes count towards the lockout like wrong TOTP codes:
// the fifth locks the email, and its answer says for how long.
func TestRecoveryCodeGuessesLockOut(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "guessed@example.com", "guessed phrase", false)
	tok := e.fullLogin("guessed@example.com", "guessed phrase")
	e.enroll(tok)
	codes := e.recoveryCodes(tok)
	lim := e.limitedLogin("guessed@example.com", "guessed phrase", mfad.StepTOTP)
	lim2 := e.limitedLogin("guessed@example.com", "guessed phrase", mfad.StepTOTP) // for after the lock
	var last resp
	for i := range 5 {
		last = e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": "ZZZZ-ZZZZ-ZZZZ-ZZZ" + string(rune('0'+i))})
		e.wantError(last, 401, mfad.CodeWrongCode)
	}
	var body struct {
		Msg     string         `json:"msg"`
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal(last.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Details["session_closed"] != true || body.Details["locked_seconds"] != float64(15*60) || !strings.Contains(body.Msg, "locked for 15 minutes") {
		t.Fatalf("the fifth wrong code: %s; want session_closed, locked_seconds 900 and a msg saying so", last.Body)
	}
	// Locked: the password and a right recovery code are refused, and the
	// code stays unused.
	e.wantError(e.passwordLogin("guessed@example.com", "guessed phrase"), 429, mfad.CodeTooManyAttempts)
	e.wantError(e.post("/session/login", lim2, map[string]string{"auth_type": "RECOVERY", "code": codes[0]}), 429, mfad.CodeTooManyAttempts)
	if n := e.recoveryLeft(tok); n != 10 {
		t.Fatalf("%d codes left after the guesses, want 10", n)
	}
}

// The pending secret is the same on every call while it is pending, also
// from a second login; ?new=1 replaces it; expires_in counts down to the
// earlier of the secret's end and the enrollment session's.
func TestGenerateKeepsThePendingSecret(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "slow-phone@example.com", "slow phone phrase", false)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	enr := e.limitedLogin("slow-phone@example.com", "slow phone phrase", mfad.StepEnroll)
	type gen struct {
		Secret    string `json:"secret"`
		URI       string `json:"uri"`
		ExpiresIn *int64 `json:"expires_in"`
	}
	get := func(token, query string) gen {
		t.Helper()
		r := e.get("/profile/2fa/generate"+query, token)
		e.wantStatus(r, 200)
		var g gen
		if err := json.Unmarshal(r.Body, &g); err != nil || g.ExpiresIn == nil {
			t.Fatalf("generate: %s", r.Body)
		}
		return g
	}
	first := get(enr, "")
	if *first.ExpiresIn != 15*60 {
		t.Fatalf("expires_in %d, want 900", *first.ExpiresIn)
	}
	e.clock.Advance(4 * time.Minute)
	again := get(enr, "")
	if again.Secret != first.Secret || again.URI != first.URI || *again.ExpiresIn != 11*60 {
		t.Fatalf("a reload 4 minutes later: %+v, want the same secret with 660 s left (first %+v)", again, first)
	}
	// A second login sees the same secret; its own session ends later,
	// so the secret's end counts.
	enr2 := e.limitedLogin("slow-phone@example.com", "slow phone phrase", mfad.StepEnroll)
	if g := get(enr2, ""); g.Secret != first.Secret || *g.ExpiresIn != 11*60 {
		t.Fatalf("a second login: %+v, want the same secret with 660 s left", g)
	}
	fresh := get(enr2, "?new=1")
	if fresh.Secret == first.Secret || *fresh.ExpiresIn != 15*60 {
		t.Fatalf("?new=1: %+v, want a new secret with 900 s left", fresh)
	}
	// The first session ends first now: 11 minutes left on it.
	if g := get(enr, ""); g.Secret != fresh.Secret || *g.ExpiresIn != 11*60 {
		t.Fatalf("the first session after ?new=1: %+v, want the new secret with 660 s left", g)
	}
	e.wantError(e.get("/profile/2fa/generate?new=yes", enr), 400, mfad.CodeInvalid)
	// The old secret no longer enrolls; the new one does.
	e.wantError(e.post("/session/login", enr, map[string]string{"auth_type": "2FA", "code": e.code(first.Secret, 0)}), 401, mfad.CodeWrongCode)
	e.wantStatus(e.post("/session/login", enr2, map[string]string{"auth_type": "2FA", "code": e.code(fresh.Secret, 0)}), 200)
}

// mfa_status tells an admin which factors are set up: forced 2FA on a user
// who never enrolled is pending; the account-wide switch makes everyone's
// 2FA pending or active.
func TestMFAStatus(t *testing.T) {
	e := newEnv(t)
	forced := e.createUser(e.adminAToken, "forced@example.com", "forced phrase", false)
	enrolled := e.createUser(e.adminAToken, "enrolled@example.com", "enrolled phrase", false)
	e.enroll(e.fullLogin("enrolled@example.com", "enrolled phrase"))
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{forced}, "auth_type": "2FA"}), 200)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{enrolled}, "auth_type": "PIN", "code": "1357"}), 200)
	status := func(id string) map[string]string {
		t.Helper()
		r := e.get("/user/metadata/"+id, e.adminAToken)
		e.wantStatus(r, 200)
		var u struct {
			MFAStatus map[string]string `json:"mfa_status"`
		}
		if err := json.Unmarshal(r.Body, &u); err != nil {
			t.Fatal(err)
		}
		return u.MFAStatus
	}
	want := func(id string, twoFA, pin string) {
		t.Helper()
		if got := status(id); got["2FA"] != twoFA || got["PIN"] != pin || got["WEBAUTHN"] != auth.FactorOff || len(got) != 3 {
			t.Fatalf("mfa_status %v, want 2FA %s, PIN %s, WEBAUTHN off", got, twoFA, pin)
		}
	}
	want(forced, auth.FactorPending, auth.FactorOff)
	want(enrolled, auth.FactorActive, auth.FactorActive)
	want(e.adminA, auth.FactorOff, auth.FactorOff)
	e.wantStatus(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{"2FA"}}), 200)
	want(e.adminA, auth.FactorPending, auth.FactorOff)
	// GET /user carries it too.
	r := e.get("/user", e.adminAToken)
	e.wantStatus(r, 200)
	if !strings.Contains(string(r.Body), `"mfa_status":{"2FA":"active","PIN":"active","WEBAUTHN":"off"}`) {
		t.Fatalf("GET /user without the enrolled user's mfa_status: %s", r.Body)
	}
}

// A login with a recovery code mails its user a notice, which carries no
// code; so does a new set.
func TestRecoveryCodeNotice(t *testing.T) {
	e, smtp := newMailEnv(t)
	e.createUser(e.adminAToken, "noticed@example.com", "noticed phrase", false)
	tok := e.fullLogin("noticed@example.com", "noticed phrase")
	e.enroll(tok)
	codes := e.recoveryCodes(tok)
	lim := e.limitedLogin("noticed@example.com", "noticed phrase", mfad.StepTOTP)
	e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "RECOVERY", "code": codes[4]}), 200)
	msgs := smtp.Wait(t, 3, 10*time.Second) // 2FA on, new codes, a code used
	var generated, used bool
	for _, m := range msgs {
		for _, c := range codes {
			if strings.Contains(m.Body(), c) || strings.Contains(m.Body(), strings.ReplaceAll(c, "-", "")) {
				t.Fatalf("a recovery code is in a mail: %q", m.Body())
			}
		}
		generated = generated || strings.Contains(m.Body(), "New recovery codes were made")
		used = used || strings.Contains(m.Body(), "A recovery code was used")
	}
	if !generated || !used {
		t.Fatalf("notices of new codes %v, of a code used %v; want both", generated, used)
	}
}
