package httpapi_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/internal/webauthntest"
)

// The test server's public URL is https://mfad.example: the relying party
// of passkeys is mfad.example, and the one origin accepted is the URL's.
const pkOrigin, pkRPID = testserver.PublicURL, "mfad.example"

// registerPasskey registers a new software authenticator for the holder of
// token and returns it with the passkey's id.
func (e *env) registerPasskey(token, name string) (*webauthntest.Authenticator, string) {
	e.t.Helper()
	a := webauthntest.New(pkOrigin, pkRPID)
	r := e.post("/profile/passkeys/options", token, nil)
	e.wantStatus(r, 200)
	cred, err := a.Create(r.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r = e.post("/profile/passkeys", token, map[string]any{"name": name, "credential": json.RawMessage(cred)})
	e.wantStatus(r, 200)
	var p struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.ID == "" || p.Name != name {
		e.t.Fatalf("registered %s", r.Body)
	}
	return a, p.ID
}

// passkeyOptions starts the passkey assertion of a limited session.
func (e *env) passkeyOptions(limited string) []byte {
	e.t.Helper()
	r := e.post("/session/login/passkey", limited, nil)
	e.wantStatus(r, 200)
	return r.Body
}

func (e *env) sendAssertion(limited string, assertion []byte) resp {
	e.t.Helper()
	return e.post("/session/login", limited, map[string]any{"auth_type": "WEBAUTHN", "credential": json.RawMessage(assertion)})
}

// passkeyLogin signs in with the password and the passkey.
func (e *env) passkeyLogin(email, password string, a *webauthntest.Authenticator, step mfad.Step) string {
	e.t.Helper()
	lim := e.limitedLogin(email, password, step)
	as, err := a.Get(e.passkeyOptions(lim))
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.sendAssertion(lim, as)
	e.wantStatus(r, 200)
	return e.sessionID(r)
}

func (e *env) lastEvents(n int) []string {
	e.t.Helper()
	r := e.get("/tracking/activity?limit="+strconv.Itoa(n), e.adminAToken)
	e.wantStatus(r, 200)
	var v struct {
		Activity []struct {
			Event string `json:"event"`
		} `json:"activity"`
	}
	json.Unmarshal(r.Body, &v)
	var out []string
	for _, a := range v.Activity {
		out = append(out, a.Event)
	}
	return out
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "pia@example.com", "pia-password-1", false)
	tok := e.fullLogin("pia@example.com", "pia-password-1")
	a, pid := e.registerPasskey(tok, "YubiKey 5")

	// Listed, in the profile's methods, in the admin's picture.
	r := e.get("/profile/passkeys", tok)
	e.wantStatus(r, 200)
	var list struct {
		Passkeys []struct {
			ID         string   `json:"id"`
			Name       string   `json:"name"`
			Created    int64    `json:"created"`
			LastUsed   int64    `json:"last_used"`
			Transports []string `json:"transports"`
		} `json:"passkeys"`
	}
	if json.Unmarshal(r.Body, &list) != nil || len(list.Passkeys) != 1 || list.Passkeys[0].ID != pid || list.Passkeys[0].LastUsed != 0 ||
		strings.Join(list.Passkeys[0].Transports, ",") != "usb" {
		t.Fatalf("list %s", r.Body)
	}
	if p := e.profile(tok); strings.Join(p.AuthMethods, ",") != "WEBAUTHN" {
		t.Fatalf("auth_methods %v", p.AuthMethods)
	}
	var u struct {
		MFAStatus map[string]string `json:"mfa_status"`
	}
	json.Unmarshal(e.get("/user/metadata/"+uid, e.adminAToken).Body, &u)
	if u.MFAStatus["WEBAUTHN"] != "active" || u.MFAStatus["2FA"] != "off" {
		t.Fatalf("mfa_status %v", u.MFAStatus)
	}

	// A user whose only second factor is a passkey: Mfa-Code 4.
	r = e.passwordLogin("pia@example.com", "pia-password-1")
	if r.Status != 207 || r.Header.Get("Mfa-Code") != "4" || r.Header.Get("Mfa-Methods") != "WEBAUTHN" {
		t.Fatalf("%d Mfa-Code %q Mfa-Methods %q", r.Status, r.Header.Get("Mfa-Code"), r.Header.Get("Mfa-Methods"))
	}
	lim := e.sessionID(r)
	// The code of another factor is the wrong auth_type.
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "123456"}), 400, mfad.CodeWrongAuthType)
	as, err := a.Get(e.passkeyOptions(lim))
	if err != nil {
		t.Fatal(err)
	}
	r = e.sendAssertion(lim, as)
	e.wantStatus(r, 200)
	full := e.sessionID(r)
	e.wantStatus(e.get("/profile", full), 200)
	if ev := e.lastEvents(2); len(ev) < 2 || ev[0] != mfad.EventLoginOK || ev[1] != mfad.EventPasskeyUsed {
		t.Fatalf("trail %v", ev)
	}
	json.Unmarshal(e.get("/profile/passkeys", tok).Body, &list)
	if list.Passkeys[0].LastUsed == 0 {
		t.Fatal("last_used not recorded")
	}

	// Rename, then delete: the login no longer owes anything.
	e.wantStatus(e.post("/profile/passkeys/rename", tok, map[string]string{"id": pid, "name": "Keyring"}), 200)
	e.wantError(e.post("/profile/passkeys/rename", tok, map[string]string{"id": pid, "name": " "}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/profile/passkeys/delete", e.adminAToken, map[string]string{"id": pid}), 404, mfad.CodePasskeyNotFound) // another user's
	e.wantStatus(e.post("/profile/passkeys/delete", tok, map[string]string{"id": pid}), 200)
	e.wantError(e.post("/profile/passkeys/delete", tok, map[string]string{"id": pid}), 404, mfad.CodePasskeyNotFound)
	e.fullLogin("pia@example.com", "pia-password-1")
}

// A passkey beside TOTP answers Mfa-Code 1; forcing 2FA is satisfied by a
// passkey; the admin removes passkeys on their own.
func TestPasskeyWithOtherFactors(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "tom@example.com", "tom-password-1", false)
	tok := e.fullLogin("tom@example.com", "tom-password-1")
	a, _ := e.registerPasskey(tok, "Laptop")

	// Forced 2FA, no TOTP secret: the passkey satisfies it (no enrollment).
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	tok = e.passkeyLogin("tom@example.com", "tom-password-1", a, mfad.StepPasskey)

	// With a TOTP secret too: Mfa-Code 1 for Quatrix clients, and the
	// methods say a passkey or a recovery code may answer it.
	secret := e.enroll(tok)
	tok = e.fullLoginWithTOTP("tom@example.com", "tom-password-1", secret)
	e.wantStatus(e.post("/profile/recovery-codes", tok, nil), 200)
	r := e.passwordLogin("tom@example.com", "tom-password-1")
	if r.Header.Get("Mfa-Code") != "1" || r.Header.Get("Mfa-Methods") != "2FA, WEBAUTHN, RECOVERY" {
		t.Fatalf("Mfa-Code %q Mfa-Methods %q", r.Header.Get("Mfa-Code"), r.Header.Get("Mfa-Methods"))
	}
	tok = e.passkeyLogin("tom@example.com", "tom-password-1", a, mfad.StepTOTP)

	// reset-mfa of 2FA leaves passkeys; of WEBAUTHN deletes them (and
	// closes sessions); remove-mfa WEBAUTHN as well.
	e.wantStatus(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	e.passkeyLogin("tom@example.com", "tom-password-1", a, mfad.StepPasskey)
	e.wantStatus(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "WEBAUTHN"}), 200)
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)
	e.limitedLogin("tom@example.com", "tom-password-1", mfad.StepEnroll) // 2FA still forced
	var u struct {
		MFAStatus map[string]string `json:"mfa_status"`
	}
	json.Unmarshal(e.get("/user/metadata/"+uid, e.adminAToken).Body, &u)
	if u.MFAStatus["WEBAUTHN"] != "off" || u.MFAStatus["2FA"] != "pending_enrollment" {
		t.Fatalf("mfa_status %v", u.MFAStatus)
	}
	e.wantError(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{"6f1c9bb4-8d5e-4a4e-9d62-4c4f2f0d8e11"}, "auth_type": "WEBAUTHN"}), 400, mfad.CodeUnknownUsers)
	e.wantError(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "WEBAUTHN"}), 400, mfad.CodeInvalid)
}

// fullLoginWithTOTP logs in a user with TOTP (the clock moves past the
// code's step afterwards).
func (e *env) fullLoginWithTOTP(email, password, secret string) string {
	e.t.Helper()
	lim := e.limitedLogin(email, password, mfad.StepTOTP)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)})
	e.wantStatus(r, 200)
	e.clock.Advance(30 * time.Second)
	return e.sessionID(r)
}

// Hostile assertions: each is refused as a wrong code, counted, and none
// gives a session.
func TestPasskeyHostileAssertions(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) { c.EmailThrottle.Limit = 100 })
	e.createUser(e.adminAToken, "eve@example.com", "eve-password-1", false)
	tok := e.fullLogin("eve@example.com", "eve-password-1")
	a, _ := e.registerPasskey(tok, "Key")
	wrong := func(lim string, assertion []byte, what string) {
		t.Helper()
		r := e.sendAssertion(lim, assertion)
		if r.Status != 401 {
			t.Fatalf("%s: %d %s, want 401 code 13", what, r.Status, r.Body)
		}
		e.wantError(r, 401, mfad.CodeWrongCode)
	}
	newLimited := func() string { return e.limitedLogin("eve@example.com", "eve-password-1", mfad.StepPasskey) }

	// Malformed: not JSON object, junk, a credential of nobody.
	lim := newLimited()
	e.passkeyOptions(lim)
	e.wantError(e.post("/session/login", lim, map[string]any{"auth_type": "WEBAUTHN", "credential": "abc"}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/session/login", lim, map[string]any{"auth_type": "WEBAUTHN"}), 400, mfad.CodeInvalid)
	lim = newLimited()
	e.passkeyOptions(lim)
	wrong(lim, []byte(`{"id":"x","type":"public-key","response":{}}`), "junk")

	// Replayed: the same assertion twice (the challenge is used once).
	lim = newLimited()
	as, _ := a.Get(e.passkeyOptions(lim))
	e.wantStatus(e.sendAssertion(lim, as), 200)
	lim = newLimited()
	e.passkeyOptions(lim)
	wrong(lim, as, "a replayed assertion")

	// A challenge used twice: the second answer to one challenge.
	lim = newLimited()
	ch, _ := webauthntest.Challenge(e.passkeyOptions(lim))
	first, _ := a.GetFor(ch)
	second, _ := a.GetFor(ch)
	e.wantStatus(e.sendAssertion(lim, first), 200)
	lim = newLimited()
	wrong(lim, second, "a second answer to a used challenge")

	// A challenge of another session: B sends the answer to A's.
	limA, limB := newLimited(), newLimited()
	chA, _ := webauthntest.Challenge(e.passkeyOptions(limA))
	e.passkeyOptions(limB)
	other, _ := a.GetFor(chA)
	wrong(limB, other, "an answer to another session's challenge")
	// ... and A's challenge is untouched by B's attempt: A still finishes.
	mine, _ := a.GetFor(chA)
	e.wantStatus(e.sendAssertion(limA, mine), 200)

	// No options asked for: nothing to answer.
	lim = newLimited()
	none, _ := a.GetFor("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	wrong(lim, none, "an answer without a ceremony")

	// Expired: the answer comes after the ceremony's 5 minutes.
	lim = e.limitedLogin("eve@example.com", "eve-password-1", mfad.StepPasskey)
	opts := e.passkeyOptions(lim)
	e.clock.Advance(4*time.Minute + 59*time.Second)
	late, _ := a.Get(opts)
	e.clock.Advance(2 * time.Second)
	r := e.sendAssertion(lim, late)
	if r.Status != 401 {
		t.Fatalf("an expired ceremony: %d %s", r.Status, r.Body)
	}

	// Another origin (a phishing page relaying the challenge).
	lim = newLimited()
	evil := *a
	evil.Origin = "https://mfad.example.evil.org"
	phished, _ := evil.Get(e.passkeyOptions(lim))
	wrong(lim, phished, "an assertion made for another origin")
	a.Counter = evil.Counter

	// A cloned authenticator: its counter does not move forward.
	lim = newLimited()
	clone := *a
	ok, _ := a.Get(e.passkeyOptions(lim))
	e.wantStatus(e.sendAssertion(lim, ok), 200)
	lim = newLimited()
	cloned, _ := clone.Get(e.passkeyOptions(lim)) // the clone's counter: the one just used
	wrong(lim, cloned, "a cloned authenticator's assertion")
	if ev := e.lastEvents(3); !contains(ev, mfad.EventPasskeyCloned) {
		t.Fatalf("trail %v: no %s", ev, mfad.EventPasskeyCloned)
	}
	// The cloned passkey is removed: neither copy signs in any more.
	if r := e.get("/profile/passkeys", tok); !strings.Contains(string(r.Body), `"passkeys":[]`) {
		t.Fatalf("after the clone: %s", r.Body)
	}
	e.fullLogin("eve@example.com", "eve-password-1") // no factor left
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Failed assertions count towards the email's lockout like wrong codes.
func TestPasskeyFailuresLockOut(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "lou@example.com", "lou-password-1", false)
	tok := e.fullLogin("lou@example.com", "lou-password-1")
	e.registerPasskey(tok, "Key") // the login owes the passkey step
	for i := range 5 {
		lim := e.limitedLogin("lou@example.com", "lou-password-1", mfad.StepPasskey)
		e.passkeyOptions(lim)
		r := e.sendAssertion(lim, []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA"}}`))
		if r.Status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// Locked: the password is refused.
	e.wantError(e.passwordLogin("lou@example.com", "lou-password-1"), 429, mfad.CodeTooManyAttempts)
}

// Without a public URL there is no relying party: passkeys are off.
func TestPasskeysOff(t *testing.T) {
	e := newEnvWith(t, testserver.Options{NoPublicURL: true})
	e.wantError(e.post("/profile/passkeys/options", e.adminAToken, nil), 503, mfad.CodePasskeysOff)
	e.wantError(e.post("/profile/passkeys", e.adminAToken, map[string]any{"name": "Key", "credential": map[string]any{}}), 503, mfad.CodePasskeysOff)
	r := e.get("/profile/passkeys", e.adminAToken)
	e.wantStatus(r, 200)
	if strings.TrimSpace(string(r.Body)) != `{"passkeys":[]}` {
		t.Fatalf("list %s", r.Body)
	}
}
