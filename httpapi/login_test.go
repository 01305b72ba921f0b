package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
)

func TestPasswordLoginWithoutFactor(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "plain@example.com", "plain-password", false)
	r := e.passwordLogin("Plain@Example.com", "plain-password") // emails are case-insensitive
	e.wantStatus(r, 200)
	tok := e.sessionID(r)
	if u, err := uuid.Parse(tok); err != nil || u.Version() != 4 || tok != strings.ToLower(tok) {
		t.Fatalf("session id %q is not a canonical v4 UUID", tok)
	}
	p := e.profile(tok)
	if p.Email != "plain@example.com" || p.SuperAdmin != "N" || p.Status != "A" || p.AccountID != e.accountA ||
		p.AuthMethods == nil || len(p.AuthMethods) != 0 || p.ForcedAuth == nil || len(p.ForcedAuth) != 0 {
		t.Fatalf("profile %+v", p)
	}

	// A full token on GET /session/login answers with that session.
	r = e.get("/session/login", tok)
	e.wantStatus(r, 200)
	if e.sessionID(r) != tok {
		t.Fatal("GET /session/login with a token returned another session")
	}

	r = e.get("/session/keepalive", tok)
	e.wantStatus(r, 200)
	if len(r.Body) != 0 {
		t.Fatalf("keepalive body %q, want empty", r.Body)
	}
	r = e.get("/session/logout", tok)
	e.wantStatus(r, 200)
	if len(r.Body) != 0 {
		t.Fatalf("logout body %q, want empty", r.Body)
	}
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)
	e.wantError(e.get("/session/logout", tok), 401, mfad.CodeUnauthenticated)
}

func TestUnknownEmailAndWrongPasswordAnswerAlike(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "known@example.com", "known-password", false)
	wrong := e.passwordLogin("known@example.com", "not-the-password")
	unknown := e.passwordLogin("nobody@example.com", "not-the-password")
	e.wantError(wrong, 401, mfad.CodeBadCredentials)
	e.wantError(unknown, 401, mfad.CodeBadCredentials)
	if string(wrong.Body) != string(unknown.Body) {
		t.Fatalf("bodies differ: %s vs %s", wrong.Body, unknown.Body)
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Retry-After", "Mfa-Code"} {
		if wrong.Header.Get(h) != unknown.Header.Get(h) {
			t.Fatalf("header %s differs: %q vs %q", h, wrong.Header.Get(h), unknown.Header.Get(h))
		}
	}
	// No credentials, malformed Basic, and a limited token are refused.
	e.wantError(e.get("/session/login", ""), 401, mfad.CodeUnauthenticated)
	e.wantError(e.do(req{Method: "GET", Path: "/session/login", Header: map[string]string{"Authorization": "Basic !!!"}}), 401, mfad.CodeBadCredentials)
	e.wantError(e.do(req{Method: "GET", Path: "/session/login", Header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("no-colon"))}}), 401, mfad.CodeBadCredentials)
	e.wantError(e.passwordLogin("known@example.com", strings.Repeat("x", 5000)), 401, mfad.CodeBadCredentials)
}

func TestTOTPEnrollmentAndLogin(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "totp@example.com", "totp-password", false)
	tok := e.fullLogin("totp@example.com", "totp-password")
	other := e.fullLogin("totp@example.com", "totp-password")

	// No pending secret yet.
	e.wantError(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "2FA", "code": "123456"}), 400, mfad.CodeEnrollment)

	g := e.generate(tok)
	png, err := base64.StdEncoding.DecodeString(g.QR)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("qr is not a base64 PNG")
	}
	if !strings.HasPrefix(g.URI, "otpauth://totp/") || !strings.Contains(g.URI, "secret="+g.Secret) {
		t.Fatalf("uri %q", g.URI)
	}
	if raw, err := base32NoPad(g.Secret); err != nil || len(raw) != 20 {
		t.Fatalf("secret %q is not 20 bytes of base32", g.Secret)
	}
	// A wrong code is refused and changes nothing.
	e.wantError(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "2FA", "code": wrongCode(e.code(g.Secret, 0))}), 400, mfad.CodeEnrollment)

	code := e.code(g.Secret, 0)
	r := e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "2FA", "code": code})
	e.wantStatus(r, 200)
	var set struct {
		SessionIDs string `json:"session_ids"`
	}
	json.Unmarshal(r.Body, &set)
	if set.SessionIDs != tok {
		t.Fatalf("session_ids %q, want the caller's session", set.SessionIDs)
	}
	// The caller's session stays; every other one is closed.
	e.profile(tok)
	e.wantError(e.get("/profile", other), 401, mfad.CodeUnauthenticated)
	if p := e.profile(tok); !slices.Equal(p.AuthMethods, []string{"2FA"}) || len(p.ForcedAuth) != 0 {
		t.Fatalf("profile after enrollment %+v", p)
	}

	// The step that confirmed the secret cannot also be the first login code.
	lim := e.limitedLogin("totp@example.com", "totp-password", mfad.StepTOTP)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": code}), 401, mfad.CodeWrongCode)

	// A limited session reaches nothing but the login endpoints.
	e.wantError(e.get("/profile", lim), 401, mfad.CodeFactorRequired)
	e.wantError(e.get("/profile/2fa/generate", lim), 401, mfad.CodeFactorRequired)
	e.wantError(e.get("/session/login", lim), 401, mfad.CodeFactorRequired)

	e.clock.Advance(30 * time.Second)
	next := e.code(g.Secret, 0)
	r = e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": next})
	e.wantStatus(r, 200)
	full := e.sessionID(r)
	if full == lim {
		t.Fatal("the full session reuses the limited id")
	}
	e.profile(full)
	// The limited session died with the step.
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": next}), 401, mfad.CodeUnauthenticated)

	// The same code on a fresh limited session is a replay: refused as a
	// wrong code, with a msg saying it was already used.
	lim2 := e.limitedLogin("totp@example.com", "totp-password", mfad.StepTOTP)
	replay := e.post("/session/login", lim2, map[string]string{"auth_type": "2FA", "code": next})
	wrong := e.post("/session/login", lim2, map[string]string{"auth_type": "2FA", "code": wrongCode(next)})
	e.wantError(replay, 401, mfad.CodeWrongCode)
	e.wantError(wrong, 401, mfad.CodeWrongCode)
	if !strings.Contains(string(replay.Body), "already used: wait for the next one") || !strings.Contains(string(replay.Body), `"code_used":true`) ||
		strings.Contains(string(wrong.Body), "already used") || strings.Contains(string(wrong.Body), "code_used") {
		t.Fatalf("replay %s, wrong code %s: only the replay says it was already used", replay.Body, wrong.Body)
	}
	// The previous step is not accepted any more either (steps move forward).
	e.wantError(e.post("/session/login", lim2, map[string]string{"auth_type": "2FA", "code": e.code(g.Secret, -1)}), 401, mfad.CodeWrongCode)
	if !strings.Contains(e.logs.String(), "event=totp.replay") {
		t.Fatal("the replayed code was not logged")
	}
	// Wrong auth_type for the owed step.
	e.wantError(e.post("/session/login", lim2, map[string]string{"auth_type": "PIN", "code": "1234"}), 400, mfad.CodeWrongAuthType)
}

func TestTOTPWindow(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.EmailThrottle.Limit = 100 })
	e.createUser(e.adminAToken, "w@example.com", "window-password", false)
	secret := e.enroll(e.fullLogin("w@example.com", "window-password"))
	e.clock.Advance(10 * time.Minute)
	try := func(offset int64) int {
		lim := e.limitedLogin("w@example.com", "window-password", mfad.StepTOTP)
		return e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, offset)}).Status
	}
	if s := try(-2); s != 401 {
		t.Fatalf("step-2: %d", s)
	}
	if s := try(2); s != 401 {
		t.Fatalf("step+2: %d", s)
	}
	if s := try(-1); s != 200 {
		t.Fatalf("step-1: %d", s)
	}
	if s := try(0); s != 200 {
		t.Fatalf("step: %d", s)
	}
	if s := try(1); s != 200 {
		t.Fatalf("step+1: %d", s)
	}
	// Everything up to step+1 is spent now.
	if s := try(1); s != 401 {
		t.Fatalf("step+1 again: %d", s)
	}
}

func TestTwoFactorsThenPIN(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "both@example.com", "both-password", false)
	tok := e.fullLogin("both@example.com", "both-password")
	secret := e.enroll(tok)
	e.wantError(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "12ab"}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "123"}), 400, mfad.CodeInvalid)
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "0042"}), 200)
	if p := e.profile(tok); !slices.Equal(p.AuthMethods, []string{"2FA", "PIN"}) {
		t.Fatalf("auth_methods %v", p.AuthMethods)
	}

	lim := e.limitedLogin("both@example.com", "both-password", mfad.StepTOTP)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)})
	e.wantStatus(r, 207)
	if r.Header.Get("Mfa-Code") != "2" {
		t.Fatalf("Mfa-Code %q after 2FA, want 2", r.Header.Get("Mfa-Code"))
	}
	pinSession := e.sessionID(r)
	// The 207 body carries no usable full token.
	e.wantError(e.get("/profile", pinSession), 401, mfad.CodeFactorRequired)
	e.wantError(e.post("/session/login", pinSession, map[string]string{"auth_type": "PIN", "code": "42"}), 401, mfad.CodeWrongCode)
	e.wantError(e.post("/session/login", pinSession, map[string]string{"auth_type": "PIN", "code": "0043"}), 401, mfad.CodeWrongCode)
	r = e.post("/session/login", pinSession, map[string]string{"auth_type": "PIN", "code": "0042"})
	e.wantStatus(r, 200)
	e.profile(e.sessionID(r))

	// Turning both off.
	e.wantStatus(e.post("/profile/remove-mfa", tok, map[string]string{"auth_type": "PIN"}), 200)
	e.wantStatus(e.post("/profile/remove-mfa", tok, map[string]string{"auth_type": "PIN"}), 200) // idempotent
	e.wantStatus(e.post("/profile/remove-mfa", tok, map[string]string{"auth_type": "2FA"}), 200)
	if p := e.profile(tok); len(p.AuthMethods) != 0 {
		t.Fatalf("auth_methods after removal %v", p.AuthMethods)
	}
	e.fullLogin("both@example.com", "both-password")
}

func TestPINOnlyLogin(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "pin@example.com", "pin-password", false)
	tok := e.fullLogin("pin@example.com", "pin-password")
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "987654321012"}), 200)
	lim := e.limitedLogin("pin@example.com", "pin-password", mfad.StepPIN)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "123456"}), 400, mfad.CodeWrongAuthType)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "PIN", "code": "987654321012"})
	e.wantStatus(r, 200)
}

func TestLimitedSessionRules(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.EmailThrottle.Limit = 100 })
	e.createUser(e.adminAToken, "lim@example.com", "lim-password", false)
	tok := e.fullLogin("lim@example.com", "lim-password")
	e.enroll(tok)

	// Five wrong codes close the limited session.
	lim := e.limitedLogin("lim@example.com", "lim-password", mfad.StepTOTP)
	for i := 0; i < 4; i++ {
		e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeWrongCode)
	}
	r := e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"})
	e.wantError(r, 401, mfad.CodeWrongCode)
	if !strings.Contains(string(r.Body), "start again") {
		t.Fatalf("the closing answer does not say so: %s", r.Body)
	}
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeUnauthenticated)

	// Bad bodies count too.
	lim = e.limitedLogin("lim@example.com", "lim-password", mfad.StepTOTP)
	for i := 0; i < 5; i++ {
		e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "2FA"}), 400)
	}
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeUnauthenticated)

	// Limited sessions live five minutes.
	lim = e.limitedLogin("lim@example.com", "lim-password", mfad.StepTOTP)
	e.clock.Advance(5*time.Minute + time.Second)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeUnauthenticated)

	// A limited token is refused everywhere but the allowed endpoints.
	lim = e.limitedLogin("lim@example.com", "lim-password", mfad.StepTOTP)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/session/keepalive"}, {"GET", "/profile"}, {"GET", "/profile/2fa/generate"},
		{"POST", "/profile/set-mfa"}, {"POST", "/profile/remove-mfa"}, {"POST", "/user/set-mfa"},
		{"POST", "/user/remove-mfa"}, {"POST", "/user/reset-mfa"}, {"POST", "/user/create"},
		{"GET", "/user"}, {"GET", "/user/metadata/" + e.adminA}, {"POST", "/user/delete"},
		{"GET", "/settings"}, {"POST", "/settings/set"},
	} {
		r := e.do(req{Method: rt.method, Path: rt.path, Token: lim, Body: map[string]any{"auth_type": "PIN", "code": "1234", "ids": []string{e.adminA}, "auth_methods": []string{}}})
		if r.Status != 401 {
			t.Fatalf("limited token on %s %s: %d %s", rt.method, rt.path, r.Status, r.Body)
		}
		e.wantError(r, 401, mfad.CodeFactorRequired)
	}
	// Logout works with a limited session.
	e.wantStatus(e.get("/session/logout", lim), 200)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeUnauthenticated)

	// The second-factor POST takes no full token, no token, or garbage.
	full := e.fullLogin(adminAEmail, adminAPassword)
	for _, tk := range []string{full, "", "garbage", uuid.NewString(), strings.ToUpper(uuid.NewString())} {
		e.wantError(e.post("/session/login", tk, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeUnauthenticated)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	tok := e.fullLogin(adminAEmail, adminAPassword)
	// Requests push the idle timeout forward.
	for i := 0; i < 4; i++ {
		e.clock.Advance(14 * time.Minute)
		e.wantStatus(e.get("/session/keepalive", tok), 200)
	}
	e.clock.Advance(14 * time.Minute)
	e.profile(tok)
	e.clock.Advance(15 * time.Minute)
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)

	// The absolute lifetime ends a busy session too.
	tok = e.fullLogin(adminAEmail, adminAPassword)
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-10*time.Minute; elapsed += 10 * time.Minute {
		e.clock.Advance(10 * time.Minute)
		e.wantStatus(e.get("/session/keepalive", tok), 200)
	}
	e.clock.Advance(10 * time.Minute)
	e.wantError(e.get("/session/keepalive", tok), 401, mfad.CodeUnauthenticated)
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "lock@example.com", "lock-password", false)
	for i := 0; i < 5; i++ {
		e.wantError(e.passwordLogin("lock@example.com", fmt.Sprintf("wrong-%d", i)), 401, mfad.CodeBadCredentials)
	}
	r := e.passwordLogin("lock@example.com", "lock-password")
	e.wantError(r, 429, mfad.CodeTooManyAttempts)
	if r.Header.Get("Retry-After") != "900" {
		t.Fatalf("Retry-After %q, want 900", r.Header.Get("Retry-After"))
	}
	e.clock.Advance(10 * time.Minute)
	r = e.passwordLogin("LOCK@example.com", "lock-password")
	e.wantError(r, 429, mfad.CodeTooManyAttempts)
	if r.Header.Get("Retry-After") != "300" {
		t.Fatalf("Retry-After %q, want 300", r.Header.Get("Retry-After"))
	}
	e.clock.Advance(5 * time.Minute)
	e.fullLogin("lock@example.com", "lock-password")

	// A success resets the count.
	for i := 0; i < 4; i++ {
		e.wantStatus(e.passwordLogin("lock@example.com", "wrong"), 401)
	}
	e.fullLogin("lock@example.com", "lock-password")
	for i := 0; i < 4; i++ {
		e.wantStatus(e.passwordLogin("lock@example.com", "wrong"), 401)
	}
	e.fullLogin("lock@example.com", "lock-password")

	// Emails that do not exist lock the same way.
	for i := 0; i < 5; i++ {
		e.wantError(e.passwordLogin("ghost@example.com", "whatever-1"), 401, mfad.CodeBadCredentials)
	}
	e.wantError(e.passwordLogin("ghost@example.com", "whatever-1"), 429, mfad.CodeTooManyAttempts)
}

func TestCodeGuessesShareOneCount(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "guess@example.com", "guess-password", false)
	secret := e.enroll(e.fullLogin("guess@example.com", "guess-password"))
	// Wrong codes spread over fresh limited sessions: one count per email.
	// A right password with a factor owed neither counts nor resets.
	for i := 0; i < 5; i++ {
		lim := e.limitedLogin("guess@example.com", "guess-password", mfad.StepTOTP)
		e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401, mfad.CodeWrongCode)
	}
	e.wantError(e.passwordLogin("guess@example.com", "guess-password"), 429, mfad.CodeTooManyAttempts)
	e.clock.Advance(15 * time.Minute)
	lim := e.limitedLogin("guess@example.com", "guess-password", mfad.StepTOTP)
	e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)}), 200)
}

func TestAddressLimit(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.AddrThrottle.Limit = 6 })
	for i := 0; i < 6; i++ {
		e.wantError(e.passwordLogin(fmt.Sprintf("spray-%d@example.com", i), "password"), 401, mfad.CodeBadCredentials)
	}
	r := e.passwordLogin(adminAEmail, adminAPassword)
	e.wantError(r, 429, mfad.CodeTooManyAttempts)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	e.clock.Advance(time.Minute)
	e.fullLogin(adminAEmail, adminAPassword)
}

// One valid code sent on many limited sessions at once: exactly one wins.
func TestConcurrentCodeHasOneWinner(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.EmailThrottle.Limit = 1000 })
	e.createUser(e.adminAToken, "race@example.com", "race-password", false)
	secret := e.enroll(e.fullLogin("race@example.com", "race-password"))
	const n = 20
	lims := make([]string, n)
	for i := range lims {
		lims[i] = e.limitedLogin("race@example.com", "race-password", mfad.StepTOTP)
	}
	code := e.code(secret, 0)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range lims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.post("/session/login", lims[i], map[string]string{"auth_type": "2FA", "code": code}).Status
		}()
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		switch s {
		case 200:
			wins++
		case 401:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	if wins != 1 {
		t.Fatalf("%d successes for one code, want exactly 1 (%v)", wins, statuses)
	}

	// One code many times on one limited session: at most one full session.
	e.clock.Advance(30 * time.Second)
	lim := e.limitedLogin("race@example.com", "race-password", mfad.StepTOTP)
	code = e.code(secret, 0)
	wins = 0
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": code}).Status == 200 {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d full sessions from one limited session, want 1", wins)
	}
}

// Concurrent wrong attempts: no more are evaluated than the limit allows,
// because each is counted in the database before it is evaluated.
func TestConcurrentGuessesStayUnderTheLimit(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.AddrThrottle.Limit = 10000 })
	e.createUser(e.adminAToken, "flood@example.com", "flood-password", false)
	const n = 300
	count := func(f func(i int) int) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f(i)
				mu.Lock()
				got[s]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	got := count(func(i int) int { return e.passwordLogin("flood@example.com", fmt.Sprintf("guess-%d", i)).Status })
	if got[401] > 5 || got[401]+got[429] != n {
		t.Fatalf("password flood: %v; want at most 5 evaluated (401), the rest 429", got)
	}

	// The same for codes, over many limited sessions of one user.
	e.clock.Advance(15 * time.Minute)
	secret := e.enroll(e.fullLogin("flood@example.com", "flood-password"))
	lims := make([]string, 30)
	for i := range lims {
		lims[i] = e.limitedLogin("flood@example.com", "flood-password", mfad.StepTOTP)
	}
	bad := wrongCode(e.code(secret, 0))
	got = count(func(i int) int {
		return e.post("/session/login", lims[i%len(lims)], map[string]string{"auth_type": "2FA", "code": bad}).Status
	})
	// 401s are evaluated wrong codes, or sessions already closed (which are
	// not evaluated); the lock must hold whatever the split.
	if got[401]+got[429] != n || got[429] == 0 {
		t.Fatalf("code flood: %v", got)
	}
	if !strings.Contains(e.logs.String(), "event=login.locked") {
		t.Fatal("the lockout was not logged")
	}
	evaluated := strings.Count(e.logs.String(), "event=login.factor.fail")
	if evaluated > 5 {
		t.Fatalf("%d wrong codes evaluated, want at most 5", evaluated)
	}
}

// A completed second-factor login does not take back address failures it
// did not make.
func TestSecondFactorDoesNotReleaseAddressFailures(t *testing.T) {
	e := newEnv(t, func(c *mfadConfig) { c.AddrThrottle.Limit = 6 })
	e.createUser(e.adminAToken, "pin-user@example.com", "pin-password", false)
	tok := e.fullLogin("pin-user@example.com", "pin-password")
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "1357"}), 200)
	for i := 0; i < 5; i++ {
		e.wantError(e.passwordLogin(fmt.Sprintf("spray-%d@example.com", i), "password"), 401, mfad.CodeBadCredentials)
	}
	for i := 0; i < 3; i++ {
		lim := e.limitedLogin("pin-user@example.com", "pin-password", mfad.StepPIN)
		e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "PIN", "code": "1357"}), 200)
	}
	// The sixth failure from the address still locks it.
	e.wantError(e.passwordLogin("spray-5@example.com", "password"), 401, mfad.CodeBadCredentials)
	e.wantError(e.passwordLogin("spray-6@example.com", "password"), 429, mfad.CodeTooManyAttempts)
}
