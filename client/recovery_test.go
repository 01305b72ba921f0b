package client_test

// Recovery codes, the pending secret that stays the same while it is
// pending (expires_in, ?new=1), mfa_status, and what the answer to a wrong
// code says (session closed, email locked, code already used): against a
// real server, and on the wire against fakes.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
)

// recoveryCodeRE is a code as the server makes them: four groups of four
// characters of Crockford's base32.
var recoveryCodeRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

func TestRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	secret := e.enroll(c)
	if left := e.profile(c).RecoveryCodesLeft; left != 0 {
		t.Fatalf("RecoveryCodesLeft = %d before any codes, want 0", left)
	}

	codes, err := c.RecoveryCodes(e.ctx)
	if err != nil {
		t.Fatalf("RecoveryCodes: %v", err)
	}
	if len(codes) != 10 {
		t.Fatalf("RecoveryCodes = %d codes, want 10: %q", len(codes), codes)
	}
	for _, code := range codes {
		if !recoveryCodeRE.MatchString(code) {
			t.Errorf("code %q is not four groups of four base32 characters", code)
		}
	}
	if n := len(slices.Compact(slices.Sorted(slices.Values(codes)))); n != 10 {
		t.Errorf("%d distinct codes, want 10: %q", n, codes)
	}
	if left := e.profile(c).RecoveryCodesLeft; left != 10 {
		t.Fatalf("RecoveryCodesLeft = %d, want 10", left)
	}

	// Login sends an answer that is not 6 digits as a recovery code.
	lc := e.newClient()
	var r recorder
	resp, err := lc.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return codes[0], nil }))
	e.checkLoggedIn(lc, resp, err)
	wantSteps(t, &r, "TOTP code")
	if left := e.profile(c).RecoveryCodesLeft; left != 9 {
		t.Fatalf("RecoveryCodesLeft = %d after one was used, want 9", left)
	}
	// Once: again it is a wrong code, and the TOTP code still logs in.
	lc = e.newClient()
	r = recorder{}
	resp, err = lc.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
		if pc.Retry == 0 {
			return codes[0], nil
		}
		return e.code(secret), nil
	}))
	e.checkLoggedIn(lc, resp, err)
	wantSteps(t, &r, "TOTP code", "TOTP code retry 1")
	// With SecondFactor, as typed (lower case, spaces for dashes).
	lc = e.newClient()
	if step, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin = %+v, %v", step, err)
	}
	typed := []byte(codes[1])
	for i, b := range typed {
		switch {
		case b == '-':
			typed[i] = ' '
		case 'A' <= b && b <= 'Z':
			typed[i] = b + 'a' - 'A'
		}
	}
	if step, err := lc.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.Recovery, Code: string(typed)}); err != nil || step.MfaCode != client.MfaNone {
		t.Fatalf("SecondFactor(RECOVERY %q) = %+v, %v", typed, step, err)
	}

	// A new set voids the old one.
	again, err := c.RecoveryCodes(e.ctx)
	if err != nil {
		t.Fatalf("RecoveryCodes again: %v", err)
	}
	if slices.Contains(again, codes[2]) {
		t.Fatalf("the new set holds a code of the old one")
	}
	if left := e.profile(c).RecoveryCodesLeft; left != 10 {
		t.Fatalf("RecoveryCodesLeft = %d after a new set, want 10", left)
	}
	lc = e.newClient()
	if _, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	_, err = lc.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.Recovery, Code: codes[2]})
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeWrongCode)
	if client.CodeAlreadyUsed(err) {
		t.Errorf("CodeAlreadyUsed(%v) = true for a voided recovery code", err)
	}

	// A limited session cannot make codes.
	_, err = lc.RecoveryCodes(e.ctx)
	wantIs(t, err, client.ErrMFARequired)
	// Removing 2FA deletes them.
	if _, err := c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.TwoFA}); err != nil {
		t.Fatal(err)
	}
	if left := e.profile(c).RecoveryCodesLeft; left != 0 {
		t.Fatalf("RecoveryCodesLeft = %d after 2FA was removed, want 0", left)
	}
}

// Profile2FAGenerate answers with the pending secret while it is pending,
// with the time left; Profile2FAGenerateNew replaces it.
func TestProfile2FAGeneratePending(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	other := e.login(u) // another session of the same user

	first, err := c.Profile2FAGenerate(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerate: %v", err)
	}
	if first.ExpiresIn != 900 {
		t.Fatalf("ExpiresIn = %d for a new secret, want 900 (15 minutes)", first.ExpiresIn)
	}
	e.srv.Clock.Advance(5 * time.Minute)
	same, err := other.Profile2FAGenerate(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerate again: %v", err)
	}
	if same.Secret != first.Secret || same.URI != first.URI {
		t.Fatalf("a second call made a new secret: %q, then %q", first.Secret, same.Secret)
	}
	if same.ExpiresIn != 600 {
		t.Fatalf("ExpiresIn = %d five minutes later, want 600", same.ExpiresIn)
	}

	fresh, err := c.Profile2FAGenerateNew(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerateNew: %v", err)
	}
	if fresh.Secret == first.Secret || fresh.ExpiresIn != 900 {
		t.Fatalf("Profile2FAGenerateNew = %q (%d s), want a new secret for 900 s", fresh.Secret, fresh.ExpiresIn)
	}
	if got, err := c.Profile2FAGenerate(e.ctx); err != nil || got.Secret != fresh.Secret {
		t.Fatalf("Profile2FAGenerate after New = %v, %v; want the new secret", got, err)
	}
	// The old secret is void: a code of it is refused.
	_, err = c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.TwoFA, Code: e.srv.Code(t, first.Secret, 0)})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEnrollment)

	// Expired: a new one (the session kept alive meanwhile).
	e.srv.Clock.Advance(10 * time.Minute)
	if err := c.SessionKeepalive(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.Clock.Advance(5*time.Minute + time.Second)
	later, err := c.Profile2FAGenerate(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerate after 15 minutes: %v", err)
	}
	if later.Secret == fresh.Secret || later.ExpiresIn != 900 {
		t.Fatalf("after expiry: %q (%d s), want a new secret for 900 s", later.Secret, later.ExpiresIn)
	}

	// Enroll confirms the pending secret, which a wrong code left pending.
	err = c.Enroll(e.ctx, func(_ context.Context, s *client.TwoFAGenerateResp) (string, error) {
		if s.Secret != later.Secret {
			t.Errorf("Enroll handed %q, want the pending %q", s.Secret, later.Secret)
		}
		return e.wrongCode(s.Secret), nil
	})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEnrollment)
	err = c.Enroll(e.ctx, func(_ context.Context, s *client.TwoFAGenerateResp) (string, error) {
		if s.Secret != later.Secret {
			t.Errorf("Enroll after a wrong code handed %q, want the same pending %q", s.Secret, later.Secret)
		}
		return e.code(s.Secret), nil
	})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
}

// During a login that owes enrollment, expires_in is bounded by the
// limited session, and Login hands it to the prompt, counted down.
func TestLoginEnrollmentExpiresIn(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatal(err)
	}
	// A secret made by an earlier login, which was given up.
	lc := e.newClient()
	if step, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaEnroll {
		t.Fatalf("PasswordLogin = %+v, %v", step, err)
	}
	earlier, err := lc.Profile2FAGenerate(e.ctx)
	if err != nil || earlier.ExpiresIn != 900 {
		t.Fatalf("Profile2FAGenerate = %+v, %v; want 900 s left", earlier, err)
	}
	e.srv.Clock.Advance(10 * time.Minute)

	// The next login shows the same secret: 5 minutes are left of it,
	// though its limited session has 15.
	c := e.newClient()
	var r recorder
	resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
		if pc.Enrollment == nil {
			return "", errors.New("no enrollment")
		}
		if pc.Retry == 0 {
			return e.wrongCode(pc.Enrollment.Secret), nil
		}
		return e.srv.Code(t, pc.Enrollment.Secret, 0), nil
	}))
	e.checkLoggedIn(c, resp, err)
	wantSteps(t, &r, "2FA enrollment", "2FA enrollment retry 1")
	a, b := r.calls[0].Enrollment, r.calls[1].Enrollment
	if a.Secret != earlier.Secret {
		t.Fatalf("Login handed %q, want the pending secret %q", a.Secret, earlier.Secret)
	}
	if a.ExpiresIn != 300 {
		t.Errorf("ExpiresIn = %d, want 300 (the secret's end)", a.ExpiresIn)
	}
	if b.ExpiresIn > a.ExpiresIn || b.ExpiresIn < a.ExpiresIn-5 {
		t.Errorf("ExpiresIn at the retry = %d, want at most %d (counted down)", b.ExpiresIn, a.ExpiresIn)
	}

	// A new secret during a login: the limited session ends first.
	u2 := e.newUser()
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u2.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatal(err)
	}
	lc = e.newClient()
	if _, err := lc.PasswordLogin(e.ctx, u2.Email, u2.Password); err != nil {
		t.Fatal(err)
	}
	e.srv.Clock.Advance(4 * time.Minute)
	fresh, err := lc.Profile2FAGenerateNew(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerateNew with a limited session: %v", err)
	}
	if fresh.ExpiresIn != 660 {
		t.Errorf("ExpiresIn = %d, want 660 (the limited session's end)", fresh.ExpiresIn)
	}
}

func TestMFAStatus(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	status := func(want2FA, wantPIN string) {
		t.Helper()
		got, err := e.admin.UserMetadata(e.ctx, u.ID)
		if err != nil {
			t.Fatalf("UserMetadata: %v", err)
		}
		users, err := e.admin.Users(e.ctx)
		if err != nil {
			t.Fatalf("Users: %v", err)
		}
		i := slices.IndexFunc(users, func(x client.UserResp) bool { return x.ID == u.ID })
		if i < 0 {
			t.Fatalf("user %s not in Users", u.ID)
		}
		for _, m := range []map[string]string{got.MFAStatus, users[i].MFAStatus} {
			if m[string(client.TwoFA)] != want2FA || m[string(client.PIN)] != wantPIN || m[string(client.WebAuthn)] != client.FactorOff || len(m) != 3 {
				t.Errorf("MFAStatus = %v, want 2FA %q, PIN %q, WEBAUTHN off", m, want2FA, wantPIN)
			}
		}
	}
	status(client.FactorOff, client.FactorOff)
	// Forced by an admin: 2FA is in auth_methods, but not set up.
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatal(err)
	}
	status(client.FactorPendingEnrollment, client.FactorOff)
	c := e.newClient()
	if _, err := c.Login(e.ctx, u.Email, u.Password, func(_ context.Context, _ client.MfaCode, en *client.TwoFAGenerateResp, _ int) (string, error) {
		if en == nil {
			return "", errors.New("no enrollment")
		}
		return e.srv.Code(t, en.Secret, 0), nil
	}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	status(client.FactorActive, client.FactorOff)
	if _, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "8642"}); err != nil {
		t.Fatal(err)
	}
	status(client.FactorActive, client.FactorActive)
	// Reset: 2FA owes enrollment again.
	if _, err := e.admin.UserResetMfaPost(e.ctx, client.UserResetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatal(err)
	}
	status(client.FactorPendingEnrollment, client.FactorActive)
}

// What the answer to a wrong code says, read with SessionClosed, LockedFor
// and CodeAlreadyUsed.
func TestWrongCodeDetails(t *testing.T) {
	t.Run("already used", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		secret := e.enroll(e.login(u))
		code := e.code(secret)
		if _, err := e.newClient().Login(e.ctx, u.Email, u.Password, func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
			return code, nil
		}); err != nil {
			t.Fatalf("Login: %v", err)
		}
		c := e.newClient()
		if _, err := c.PasswordLogin(e.ctx, u.Email, u.Password); err != nil {
			t.Fatal(err)
		}
		_, err := c.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: code})
		wantAPIError(t, err, http.StatusUnauthorized, client.CodeWrongCode)
		wantIs(t, err, client.ErrWrongCode)
		if !client.CodeAlreadyUsed(err) || client.SessionClosed(err) || client.LockedFor(err) != 0 {
			t.Errorf("CodeAlreadyUsed %v, SessionClosed %v, LockedFor %v; want true, false, 0 (%v)",
				client.CodeAlreadyUsed(err), client.SessionClosed(err), client.LockedFor(err), err)
		}
		// The next code logs in with the same limited session.
		if _, err := c.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.srv.Code(t, secret, 1)}); err != nil {
			t.Fatalf("SecondFactor with the next code: %v", err)
		}
		// A plain wrong code is not "already used".
		c = e.newClient()
		if _, err := c.PasswordLogin(e.ctx, u.Email, u.Password); err != nil {
			t.Fatal(err)
		}
		_, err = c.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.wrongCode(secret)})
		wantIs(t, err, client.ErrWrongCode)
		if client.CodeAlreadyUsed(err) {
			t.Errorf("CodeAlreadyUsed(%v) = true for a wrong code", err)
		}
	})

	t.Run("five wrong codes close the login and lock the email", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		secret := e.enroll(e.login(u))
		c := e.newClient()
		var r recorder
		_, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return e.wrongCode(secret), nil }))
		wantIs(t, err, client.ErrWrongCode)
		wantNotIs(t, err, client.ErrLockedOut)
		if !client.SessionClosed(err) || client.LockedFor(err) != 15*time.Minute {
			t.Fatalf("SessionClosed %v, LockedFor %v; want true, 15m (%v)", client.SessionClosed(err), client.LockedFor(err), err)
		}
		wantSteps(t, &r, "TOTP code", "TOTP code retry 1", "TOTP code retry 2", "TOTP code retry 3", "TOTP code retry 4")
	})

	t.Run("a wrong code locks the email, the login still open", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		secret := e.enroll(e.login(u))
		for i := 0; i < 4; i++ {
			_, err := e.newClient().PasswordLogin(e.ctx, u.Email, "wrong-password")
			wantIs(t, err, client.ErrBadCredentials)
		}
		c := e.newClient()
		var r recorder
		_, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return e.wrongCode(secret), nil }))
		wantIs(t, err, client.ErrWrongCode)
		if client.SessionClosed(err) || client.LockedFor(err) != 15*time.Minute {
			t.Fatalf("SessionClosed %v, LockedFor %v; want false, 15m (%v)", client.SessionClosed(err), client.LockedFor(err), err)
		}
		// Login stops there: another code would only be refused as locked.
		wantSteps(t, &r, "TOTP code")
		_, err = e.newClient().PasswordLogin(e.ctx, u.Email, u.Password)
		wantIs(t, err, client.ErrLockedOut)
	})
}

func TestWrongCodeHelpers(t *testing.T) {
	wrong := func(msg string, details map[string]any) error {
		return &client.APIError{Status: 401, Code: client.CodeWrongCode, Msg: msg, Details: details}
	}
	for _, tc := range []struct {
		name   string
		err    error
		closed bool
		locked time.Duration
		used   bool
	}{
		{"nil", nil, false, 0, false},
		{"not an APIError", errors.New("locked_seconds"), false, 0, false},
		{"plain wrong code", wrong("wrong code", nil), false, 0, false},
		{"closed", wrong("wrong code; too many wrong codes, the login must start again", map[string]any{"session_closed": true}), true, 0, false},
		{"closed and locked", wrong("x", map[string]any{"session_closed": true, "locked_seconds": float64(900)}), true, 15 * time.Minute, false},
		{"locked, wrapped", &client.StepError{Step: client.MfaTOTP, Err: wrong("x", map[string]any{"locked_seconds": float64(61)})}, false, 61 * time.Second, false},
		{"wrapped with %w", fmt.Errorf("login: %w", wrong("x", map[string]any{"locked_seconds": float64(900)})), false, 15 * time.Minute, false},
		{"not a number", wrong("x", map[string]any{"locked_seconds": "900", "session_closed": "yes"}), false, 0, false},
		{"negative", wrong("x", map[string]any{"locked_seconds": float64(-5)}), false, 0, false},
		{"huge", wrong("x", map[string]any{"locked_seconds": 1e300}), false, 0, false},
		{"already used", wrong("this code was already used: wait for the next one from your authenticator app (a new one every 30 seconds)", nil), false, 0, true},
		{"already used, enrollment", &client.APIError{Status: 400, Code: client.CodeEnrollment, Msg: "that code was already used; wait for the next one"}, false, 0, true},
		{"another code", &client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "this code was already used"}, false, 0, false},
	} {
		if got := client.SessionClosed(tc.err); got != tc.closed {
			t.Errorf("%s: SessionClosed = %v, want %v", tc.name, got, tc.closed)
		}
		if got := client.LockedFor(tc.err); got != tc.locked {
			t.Errorf("%s: LockedFor = %v, want %v", tc.name, got, tc.locked)
		}
		if got := client.CodeAlreadyUsed(tc.err); got != tc.used {
			t.Errorf("%s: CodeAlreadyUsed = %v, want %v", tc.name, got, tc.used)
		}
	}
}

// On the wire: RecoveryCodes is a POST without a body, sent once;
// Profile2FAGenerateNew asks with new=1, Profile2FAGenerate without; the
// new members decode.
func TestRecoveryAndPendingWire(t *testing.T) {
	ctx := t.Context()
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
	c, _ := client.New(f.URL, client.WithRetries(3, time.Millisecond), client.WithSession("tok"))
	for _, tc := range []struct {
		name, method, path, query string
		call                      func() error
	}{
		{"RecoveryCodes", "POST", "/api/1.0/profile/recovery-codes", "", func() error {
			_, err := c.RecoveryCodes(ctx)
			return err
		}},
		{"Profile2FAGenerateNew", "GET", "/api/1.0/profile/2fa/generate", "new=1", func() error {
			_, err := c.Profile2FAGenerateNew(ctx)
			return err
		}},
		{"Profile2FAGenerate", "GET", "/api/1.0/profile/2fa/generate", "", func() error {
			_, err := c.Profile2FAGenerate(ctx)
			return err
		}},
	} {
		before := int(f.n.Load())
		if err := tc.call(); !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", tc.name, err)
		}
		if n := int(f.n.Load()) - before; n != 1 {
			t.Errorf("%s: sent %d times on 503, want once", tc.name, n)
			continue
		}
		f.mu.Lock()
		r, body := f.reqs[before], f.body[before]
		f.mu.Unlock()
		if r.Method != tc.method || r.URL.Path != tc.path || r.URL.RawQuery != tc.query {
			t.Errorf("%s: %s %s?%s, want %s %s?%s", tc.name, r.Method, r.URL.Path, r.URL.RawQuery, tc.method, tc.path, tc.query)
		}
		if tok := r.Header.Get("X-Auth-Token"); tok != "tok" {
			t.Errorf("%s: X-Auth-Token %q", tc.name, tok)
		}
		if body != "" || r.Header.Get("Content-Type") != "" {
			t.Errorf("%s: body %q (Content-Type %q), want none", tc.name, body, r.Header.Get("Content-Type"))
		}
	}

	answers := map[string]string{
		"/api/1.0/profile/recovery-codes": `{"codes":["7KQ4-M2XD-9TFA-H3PQ","0000-1111-2222-3333"]}`,
		"/api/1.0/profile/2fa/generate":   `{"qr":"cXI=","secret":"ABC","uri":"otpauth://totp/x","expires_in":542}`,
		"/api/1.0/profile":                `{"id":"u1","auth_methods":["2FA"],"forced_auth":[],"recovery_codes_left":2}`,
		"/api/1.0/user/metadata/u1":       `{"id":"u1","auth_methods":["2FA"],"forced_auth":["2FA"],"mfa_status":{"2FA":"pending_enrollment","PIN":"off"}}`,
	}
	ok := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answers[r.URL.Path]))
	})
	c, _ = client.New(ok.URL, client.WithSession("tok"))
	codes, err := c.RecoveryCodes(ctx)
	if err != nil || !slices.Equal(codes, []string{"7KQ4-M2XD-9TFA-H3PQ", "0000-1111-2222-3333"}) {
		t.Errorf("RecoveryCodes = %q, %v", codes, err)
	}
	gen, err := c.Profile2FAGenerateNew(ctx)
	if err != nil || gen.ExpiresIn != 542 || gen.Secret != "ABC" {
		t.Errorf("Profile2FAGenerateNew = %+v, %v", gen, err)
	}
	p, err := c.Profile(ctx)
	if err != nil || p.RecoveryCodesLeft != 2 {
		t.Errorf("Profile = %+v, %v; want 2 recovery codes left", p, err)
	}
	u, err := c.UserMetadata(ctx, "u1")
	if err != nil || u.MFAStatus["2FA"] != client.FactorPendingEnrollment || u.MFAStatus["PIN"] != client.FactorOff {
		t.Errorf("UserMetadata = %+v, %v", u, err)
	}
}
