package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/mfad/mfad"
)

// Member names are matched exactly on the second-factor step: a valid code
// under a differently spelled name, or auth_type named twice, never finishes
// the login; each such request counts as a failed attempt, and the same
// limited session still finishes with the exact names.
func TestLoginStepMemberNamesExact(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "names@example.com", "names-password", false)
	secret := e.enroll(e.fullLogin("names@example.com", "names-password"))
	lim := e.limitedLogin("names@example.com", "names-password", mfad.StepTOTP)
	code := e.code(secret, 0)
	for _, c := range []struct {
		body string
		want mfad.Code
	}{
		{`{"AUTH_TYPE":"2FA","code":"` + code + `"}`, mfad.CodeInvalid},
		{`{"Auth_Type":"2FA","code":"` + code + `"}`, mfad.CodeInvalid},
		{`{"auth_type":"2FA","Code":"` + code + `"}`, mfad.CodeInvalid},
		{`{"auth_type":"2FA","auth_type":"2FA","code":"` + code + `"}`, mfad.CodeBadJSON},
	} {
		r := e.post("/session/login", lim, c.body)
		e.wantError(r, 400, c.want)
	}
	// Four failures so far: the limited session (closed at five) still
	// takes the exact names.
	r := e.post("/session/login", lim, `{"auth_type":"2FA","code":"`+code+`"}`)
	e.wantStatus(r, 200)
	e.sessionID(r)
}

// An admin call whose ids are under another name changes nothing.
func TestAdminMemberNamesExact(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "target@example.com", "target-password", false)
	for _, body := range []string{
		`{"IDS":["` + uid + `"],"auth_type":"PIN","code":"2468"}`,
		`{"idſ":["` + uid + `"],"auth_type":"PIN","code":"2468"}`,
		`{"ids":["` + uid + `"],"AUTH_TYPE":"PIN","code":"2468"}`,
	} {
		e.wantError(e.post("/user/set-mfa", e.adminAToken, body), 400, mfad.CodeInvalid)
	}
	if u := e.user(e.adminAToken, uid); len(u.AuthMethods) != 0 || len(u.ForcedAuth) != 0 {
		t.Fatalf("a request under other member names changed the user: %+v", u)
	}
}

// Two Authorization headers never log in, whichever is valid: the answer is
// that of wrong credentials. Two X-Auth-Token headers are an unknown session.
func TestOneCredentialHeader(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "twice@example.com", "twice-password", false)
	basic := func(email, password string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
	}
	good, bad := basic("twice@example.com", "twice-password"), basic("twice@example.com", "wrong-password")
	wrong := e.passwordLogin("twice@example.com", "wrong-password")
	e.wantError(wrong, 401, mfad.CodeBadCredentials)
	for _, pair := range [][2]string{{good, bad}, {bad, good}, {good, good}, {good, ""}, {"", good}} {
		r := e.do(req{Method: "GET", Path: "/session/login", Extra: http.Header{"Authorization": {pair[0], pair[1]}}})
		e.wantError(r, 401, mfad.CodeBadCredentials)
		if string(r.Body) != string(wrong.Body) {
			t.Fatalf("two Authorization headers: body %s, wrong credentials %s", r.Body, wrong.Body)
		}
	}
	tok := e.fullLogin("twice@example.com", "twice-password")
	other := e.fullLogin("twice@example.com", "twice-password")
	for _, path := range []string{"/profile", "/session/login", "/session/keepalive"} {
		for _, pair := range [][2]string{{tok, other}, {tok, tok}, {tok, "garbage"}, {"garbage", tok}} {
			r := e.do(req{Method: "GET", Path: path, Extra: http.Header{"X-Auth-Token": {pair[0], pair[1]}}})
			e.wantError(r, 401, mfad.CodeUnauthenticated)
		}
	}
	// Both sessions are still good one at a time.
	e.wantStatus(e.get("/profile", tok), 200)
	e.wantStatus(e.get("/profile", other), 200)
}

// Emails are identities under one rule for uniqueness, login and lockout: a
// spelling with the Turkish dotted İ or the Kelvin sign is never the ASCII
// email, and a new email may not hold a look-alike of ASCII at all.
func TestEmailIdentity(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "alice@example.com", "alice-password", false)
	e.createUser(e.adminAToken, "kate@example.com", "kate-password", false)
	wrong := e.passwordLogin("alice@example.com", "wrong-password")
	logins := [][2]string{
		{"\u212Aate@example.com", "kate-password"}, {"ｋate@example.com", "kate-password"},
		{"ALİCE@EXAMPLE.COM", "alice-password"}, {"alİce@example.com", "alice-password"},
	}
	for _, l := range logins {
		r := e.passwordLogin(l[0], l[1])
		e.wantError(r, 401, mfad.CodeBadCredentials)
		if string(r.Body) != string(wrong.Body) {
			t.Fatalf("login as %q: %s, want the answer of a wrong password", l[0], r.Body)
		}
	}
	// Two failures of alİce's key so far: three more lock it, and not
	// alice.
	for range 3 {
		e.wantError(e.passwordLogin("ALİCE@EXAMPLE.COM", "guess"), 401, mfad.CodeBadCredentials)
	}
	e.wantError(e.passwordLogin("alİce@EXAMPLE.COM", "alice-password"), 429, mfad.CodeTooManyAttempts)
	e.fullLogin("Alice@Example.com", "alice-password")

	// New emails: look-alikes of ASCII are refused; the composed and the
	// decomposed ü are one email.
	for _, email := range []string{"\u212Aen@example.com", "ｋen@example.com", "ſam@example.com", "ken@example\uFF0Ecom"} {
		r := e.post("/user/create", e.adminAToken, map[string]any{"name": "K", "email": email, "password": "look-alike-password"})
		e.wantError(r, 400, mfad.CodeInvalid)
	}
	e.createUser(e.adminAToken, "ken@example.com", "ken-password", false)
	e.createUser(e.adminAToken, "JÜRGEN@example.com", "jurgen-password", false)
	r := e.post("/user/create", e.adminAToken, map[string]any{"name": "J", "email": "ju\u0308rgen@example.com", "password": "jurgen-password-2"})
	e.wantError(r, 400, mfad.CodeEmailTaken)
	e.fullLogin("ju\u0308rgen@EXAMPLE.com", "jurgen-password")
	e.createUser(e.adminAToken, "ALİCE@example.org", "dotted-password", false) // a real letter, not a look-alike
	e.fullLogin("alİce@example.org", "dotted-password")
	e.wantError(e.passwordLogin("alice@example.org", "dotted-password"), 401, mfad.CodeBadCredentials)
}
