package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
	"github.com/mfad/mfad/passhash"
)

// ---- harness

// env is a real mfad server on loopback (fake clock, account A) and a client
// logged in as account A's admin.
type env struct {
	t     *testing.T
	ctx   context.Context
	srv   *testserver.Server
	admin *client.Client
	n     int
}

// fastHasher keeps argon2id cheap: the tests are about the SDK, not the cost
// parameters, and run under -race.
func fastHasher() *passhash.Hasher {
	return passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 4, 256, 10*time.Second)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{Hasher: fastHasher()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, srv: srv}
	e.admin = e.newClient()
	if _, err := e.admin.SessionLoginGet(ctx, testserver.AdminEmail, testserver.AdminPassword); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return e
}

func (e *env) newClient(opts ...client.Option) *client.Client {
	e.t.Helper()
	c, err := client.New(e.srv.URL, opts...)
	if err != nil {
		e.t.Fatalf("client.New(%q): %v", e.srv.URL, err)
	}
	return c
}

// user is a user of account A created by the admin.
type user struct {
	ID, Email, Password string
}

func (e *env) newUser() user {
	e.t.Helper()
	e.n++
	u := user{Email: "user" + string(rune('a'+e.n)) + "@example.com", Password: "password-" + string(rune('a'+e.n)) + "-1234"}
	resp, err := e.admin.UserCreate(e.ctx, client.UserCreateReq{Name: "User " + u.Email, Email: u.Email, Password: u.Password})
	if err != nil {
		e.t.Fatalf("UserCreate: %v", err)
	}
	u.ID = resp.ID
	return u
}

// login is a full login with no factor owed.
func (e *env) login(u user) *client.Client {
	e.t.Helper()
	c := e.newClient()
	resp, err := c.SessionLoginGet(e.ctx, u.Email, u.Password)
	if err != nil {
		e.t.Fatalf("SessionLoginGet(%s): %v", u.Email, err)
	}
	if resp.SessionID == "" || resp.SessionID != c.SessionID() {
		e.t.Fatalf("SessionLoginGet: session %q, client holds %q", resp.SessionID, c.SessionID())
	}
	return c
}

// code moves the clock to the next TOTP step and returns the code of secret
// there: steps only move forward per user, so every use takes a fresh one.
func (e *env) code(secret string) string {
	e.t.Helper()
	e.srv.Clock.Advance(30 * time.Second)
	return e.srv.Code(e.t, secret, 0)
}

// wrongCode is six digits that no step of the ±1 window accepts.
func (e *env) wrongCode(secret string) string {
	e.t.Helper()
	window := []string{e.srv.Code(e.t, secret, -1), e.srv.Code(e.t, secret, 0), e.srv.Code(e.t, secret, 1)}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !slices.Contains(window, c) {
			return c
		}
	}
	e.t.Fatal("no wrong code found")
	return ""
}

// enroll turns 2FA on for the holder of c with Enroll and returns the secret.
func (e *env) enroll(c *client.Client) string {
	e.t.Helper()
	var secret string
	err := c.Enroll(e.ctx, func(_ context.Context, s *client.TwoFAGenerateResp) (string, error) {
		secret = s.Secret
		return e.code(s.Secret), nil
	})
	if err != nil {
		e.t.Fatalf("Enroll: %v", err)
	}
	return secret
}

func (e *env) profile(c *client.Client) *client.ProfileResp {
	e.t.Helper()
	p, err := c.Profile(e.ctx)
	if err != nil {
		e.t.Fatalf("Profile: %v", err)
	}
	return p
}

// wantAPIError checks err is an *APIError with status and code.
func wantAPIError(t *testing.T, err error, status, code int) *client.APIError {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want an *client.APIError %d code %d", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("APIError status %d code %d (%q), want %d code %d", ae.Status, ae.Code, ae.Msg, status, code)
	}
	if ae.Msg == "" {
		t.Fatalf("APIError %d code %d has an empty Msg", status, code)
	}
	return ae
}

func wantIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
		}
	}
}

func wantNotIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = true, want false", err, target)
		}
	}
}

func methods(ms ...client.AuthType) []client.AuthType { return ms }

func wantMethods(t *testing.T, what string, got, want []client.AuthType) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want an array", what)
	}
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// ---- sessions

func TestPasswordLoginFull(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.newClient()
	step, err := c.PasswordLogin(e.ctx, u.Email, u.Password)
	if err != nil {
		t.Fatalf("PasswordLogin: %v", err)
	}
	if step.MfaCode != client.MfaNone || step.SessionID == "" {
		t.Fatalf("PasswordLogin = %+v, want a full session (MfaNone)", step)
	}
	if c.SessionID() != step.SessionID {
		t.Fatalf("client holds %q, want the new session %q", c.SessionID(), step.SessionID)
	}
	if p := e.profile(c); p.Email != u.Email || p.ID != u.ID {
		t.Fatalf("Profile = %+v, want %s", p, u.Email)
	}
}

func TestPasswordLoginOwesFactor(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "2468"}); err != nil {
		t.Fatal(err)
	}
	c := e.newClient()
	step, err := c.PasswordLogin(e.ctx, u.Email, u.Password)
	if err != nil {
		t.Fatalf("PasswordLogin: %v", err)
	}
	if step.MfaCode != client.MfaPIN || step.SessionID == "" || c.SessionID() != step.SessionID {
		t.Fatalf("PasswordLogin = %+v (client holds %q), want a limited session owing the PIN (207, Mfa-Code 2)", step, c.SessionID())
	}
	// A limited session may not read the profile: 401 code 12.
	_, err = c.Profile(e.ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeFactorRequired)
	wantIs(t, err, client.ErrMFARequired, client.ErrUnauthorized)
	wantNotIs(t, err, client.ErrBadCredentials, client.ErrWrongCode)
	// Nor check itself as a full session.
	_, err = c.SessionCheck(e.ctx)
	wantIs(t, err, client.ErrMFARequired)

	resp, err := c.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "2468"})
	if err != nil {
		t.Fatalf("SessionLoginPost(PIN): %v", err)
	}
	if resp.SessionID == "" || resp.SessionID == step.SessionID || c.SessionID() != resp.SessionID {
		t.Fatalf("SessionLoginPost = %q (limited was %q, client holds %q), want a new full session", resp.SessionID, step.SessionID, c.SessionID())
	}
	e.profile(c)
}

func TestSessionLoginGet(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u) // full: checked by the helper

	// With a factor owed: *MFARequiredError with the step and the limited session.
	if _, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "13579"}); err != nil {
		t.Fatal(err)
	}
	c2 := e.newClient()
	resp, err := c2.SessionLoginGet(e.ctx, u.Email, u.Password)
	if resp != nil {
		t.Fatalf("SessionLoginGet = %+v, want nil with an error", resp)
	}
	var mre *client.MFARequiredError
	if !errors.As(err, &mre) {
		t.Fatalf("SessionLoginGet err = %v (%T), want *client.MFARequiredError", err, err)
	}
	if mre.Step != client.MfaPIN || mre.SessionID == "" || mre.SessionID != c2.SessionID() {
		t.Fatalf("MFARequiredError = %+v (client holds %q), want Step PIN and the limited session", mre, c2.SessionID())
	}
	wantIs(t, err, client.ErrMFARequired)
	if !strings.Contains(err.Error(), "Mfa-Code 2") {
		t.Errorf("MFARequiredError.Error() = %q, want it to name Mfa-Code 2", err.Error())
	}
	// The limited session it holds finishes the login.
	if _, err := c2.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "13579"}); err != nil {
		t.Fatalf("SessionLoginPost: %v", err)
	}
	e.profile(c2)

	// Bad credentials.
	_, err = e.newClient().SessionLoginGet(e.ctx, u.Email, "wrong-password")
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeBadCredentials)
	wantIs(t, err, client.ErrUnauthorized, client.ErrBadCredentials)
	wantNotIs(t, err, client.ErrMFARequired)
}

func TestSecondFactorTOTPThenPIN(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	secret := e.enroll(c)
	set, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "8642"})
	if err != nil {
		t.Fatal(err)
	}
	if set.SessionIDs != c.SessionID() {
		t.Fatalf("ProfileSetMfaPost session_ids = %q, want the caller's %q", set.SessionIDs, c.SessionID())
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA, client.PIN))

	// SessionLoginPost: TOTP (207, Mfa-Code 2), then the PIN (200).
	c1 := e.newClient()
	step, err := c1.PasswordLogin(e.ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin = %+v, %v; want Mfa-Code 1", step, err)
	}
	// A wrong code: 401 code 13, the limited session stays.
	_, err = c1.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.wrongCode(secret)})
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeWrongCode)
	wantIs(t, err, client.ErrWrongCode, client.ErrUnauthorized)
	wantNotIs(t, err, client.ErrBadCredentials, client.ErrMFARequired)
	if client.SessionClosed(err) {
		t.Errorf("SessionClosed(%v) = true after one wrong code", err)
	}
	if client.SessionClosed(nil) || client.SessionClosed(errors.New("x")) {
		t.Errorf("SessionClosed is true for nil or a plain error")
	}
	if c1.SessionID() != step.SessionID {
		t.Fatalf("after a wrong code the client holds %q, want the limited session %q", c1.SessionID(), step.SessionID)
	}
	// The wrong auth_type: 400 code 20.
	_, err = c1.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "8642"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeWrongAuthType)
	wantIs(t, err, client.ErrInvalid)

	resp, err := c1.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.code(secret)})
	if resp != nil {
		t.Fatalf("SessionLoginPost(2FA) = %+v, want nil and an *MFARequiredError", resp)
	}
	var mre *client.MFARequiredError
	if !errors.As(err, &mre) || mre.Step != client.MfaPIN {
		t.Fatalf("SessionLoginPost(2FA) err = %v, want *MFARequiredError owing the PIN", err)
	}
	wantIs(t, err, client.ErrMFARequired)
	if mre.SessionID == "" || mre.SessionID == step.SessionID || c1.SessionID() != mre.SessionID {
		t.Fatalf("207: limited %q (first was %q), client holds %q: want a new limited session, held", mre.SessionID, step.SessionID, c1.SessionID())
	}
	full, err := c1.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "8642"})
	if err != nil {
		t.Fatalf("SessionLoginPost(PIN): %v", err)
	}
	if full.SessionID == "" || c1.SessionID() != full.SessionID {
		t.Fatalf("SessionLoginPost(PIN) = %q, client holds %q", full.SessionID, c1.SessionID())
	}
	e.profile(c1)

	// SecondFactor: the same chain, answering with the steps.
	c2 := e.newClient()
	if step, err = c2.PasswordLogin(e.ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin = %+v, %v; want Mfa-Code 1", step, err)
	}
	next, err := c2.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.code(secret)})
	if err != nil {
		t.Fatalf("SecondFactor(2FA): %v", err)
	}
	if next.MfaCode != client.MfaPIN || next.SessionID == "" || c2.SessionID() != next.SessionID {
		t.Fatalf("SecondFactor(2FA) = %+v (client holds %q), want 207 Mfa-Code 2", next, c2.SessionID())
	}
	last, err := c2.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "8642"})
	if err != nil {
		t.Fatalf("SecondFactor(PIN): %v", err)
	}
	if last.MfaCode != client.MfaNone || last.SessionID == "" || c2.SessionID() != last.SessionID {
		t.Fatalf("SecondFactor(PIN) = %+v (client holds %q), want 200 with a full session", last, c2.SessionID())
	}
	e.profile(c2)

	// A wrong PIN through SecondFactor.
	c3 := e.newClient()
	if _, err := c3.PasswordLogin(e.ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.code(secret)}); err != nil {
		t.Fatal(err)
	}
	_, err = c3.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "0000"})
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeWrongCode)
	wantIs(t, err, client.ErrWrongCode)

	// A full session has nothing to finish: 401.
	_, err = c2.SecondFactor(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "8642"})
	wantIs(t, err, client.ErrUnauthorized)
}

func TestSessionCheckKeepaliveLogout(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	id := c.SessionID()

	got, err := c.SessionCheck(e.ctx)
	if err != nil {
		t.Fatalf("SessionCheck: %v", err)
	}
	if got.SessionID != id {
		t.Fatalf("SessionCheck = %q, want %q", got.SessionID, id)
	}

	// Keepalive pushes the 15-minute idle timeout forward.
	e.srv.Clock.Advance(10 * time.Minute)
	if err := c.SessionKeepalive(e.ctx); err != nil {
		t.Fatalf("SessionKeepalive: %v", err)
	}
	e.srv.Clock.Advance(10 * time.Minute)
	if err := c.SessionKeepalive(e.ctx); err != nil {
		t.Fatalf("SessionKeepalive 20 minutes after login: %v", err)
	}
	e.profile(c)

	// SessionID, SetSessionID and WithSession share the session.
	other := e.newClient(client.WithSession(id))
	if other.SessionID() != id {
		t.Fatalf("WithSession: SessionID() = %q, want %q", other.SessionID(), id)
	}
	e.profile(other)
	third := e.newClient()
	third.SetSessionID(id)
	if third.SessionID() != id {
		t.Fatalf("SetSessionID: SessionID() = %q", third.SessionID())
	}
	e.profile(third)

	// Logout closes the session and forgets it.
	if err := c.SessionLogout(e.ctx); err != nil {
		t.Fatalf("SessionLogout: %v", err)
	}
	if c.SessionID() != "" {
		t.Fatalf("after SessionLogout the client holds %q, want \"\"", c.SessionID())
	}
	_, err = other.Profile(e.ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)
	wantIs(t, err, client.ErrUnauthorized)
	wantNotIs(t, err, client.ErrMFARequired, client.ErrBadCredentials, client.ErrWrongCode)
	_, err = other.SessionCheck(e.ctx)
	wantIs(t, err, client.ErrUnauthorized)
	wantIs(t, other.SessionKeepalive(e.ctx), client.ErrUnauthorized)
	wantIs(t, other.SessionLogout(e.ctx), client.ErrUnauthorized)
	if other.SessionID() != id {
		t.Errorf("a failed SessionLogout changed the session held")
	}
	// No session at all.
	_, err = c.Profile(e.ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)

	// The idle timeout ends a session that is left alone.
	c = e.login(u)
	if _, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "1234"}); err != nil {
		t.Fatal(err)
	}
	e.srv.Clock.Advance(16 * time.Minute)
	wantIs(t, c.SessionKeepalive(e.ctx), client.ErrUnauthorized)

	// Logout of a limited session.
	lc := e.newClient()
	if step, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaPIN {
		t.Fatalf("PasswordLogin = %+v, %v", step, err)
	}
	limited := lc.SessionID()
	if err := lc.SessionLogout(e.ctx); err != nil {
		t.Fatalf("SessionLogout of a limited session: %v", err)
	}
	lc.SetSessionID(limited)
	_, err = lc.SessionLoginPost(e.ctx, client.SessionLoginPostResp{AuthType: client.PIN, Code: "1234"})
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)
}

// ---- profile

func TestProfile(t *testing.T) {
	e := newEnv(t)
	p := e.profile(e.admin)
	if p.Email != testserver.AdminEmail || p.ID != e.srv.AdminID || p.AccountID != e.srv.AccountID || p.SuperAdmin != "Y" || p.Status != "A" {
		t.Fatalf("admin profile = %+v", p)
	}
	wantMethods(t, "auth_methods", p.AuthMethods, nil)
	wantMethods(t, "forced_auth", p.ForcedAuth, nil)
	u := e.newUser()
	p = e.profile(e.login(u))
	if p.Email != u.Email || p.ID != u.ID || p.SuperAdmin != "N" || p.Name != "User "+u.Email {
		t.Fatalf("user profile = %+v", p)
	}
}

func TestProfile2FAGenerateAndSetMfa(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	bystander := e.login(u) // another session of the same user

	// No pending secret yet: 400 code 21.
	_, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.TwoFA, Code: "123456"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEnrollment)
	wantIs(t, err, client.ErrInvalid)

	gen, err := c.Profile2FAGenerate(e.ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerate: %v", err)
	}
	if gen.Secret == "" || !strings.HasPrefix(gen.URI, "otpauth://totp/") || !strings.Contains(gen.URI, gen.Secret) {
		t.Fatalf("Profile2FAGenerate = secret %q uri %q", gen.Secret, gen.URI)
	}
	png, err := base64.StdEncoding.DecodeString(gen.QR)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QR is not a base64 PNG: %v", err)
	}
	// A wrong code: 400 code 21.
	_, err = c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.TwoFA, Code: e.wrongCode(gen.Secret)})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEnrollment)

	set, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.TwoFA, Code: e.code(gen.Secret)})
	if err != nil {
		t.Fatalf("ProfileSetMfaPost(2FA): %v", err)
	}
	if set.SessionIDs == "" || set.SessionIDs != c.SessionID() {
		t.Fatalf("ProfileSetMfaPost session_ids = %q, want the caller's session %q", set.SessionIDs, c.SessionID())
	}
	// The caller's session stays, every other one is closed.
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA))
	_, err = bystander.Profile(e.ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)

	// PIN: a malformed PIN is 400 code 2.
	_, err = c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "12"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
	wantIs(t, err, client.ErrInvalid)
	set, err = c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "975310"})
	if err != nil {
		t.Fatalf("ProfileSetMfaPost(PIN): %v", err)
	}
	if set.SessionIDs != c.SessionID() {
		t.Fatalf("ProfileSetMfaPost(PIN) session_ids = %q, want %q", set.SessionIDs, c.SessionID())
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA, client.PIN))
	wantMethods(t, "forced_auth", e.profile(c).ForcedAuth, nil)

	// A limited session cannot generate a secret unless it owes enrollment.
	lc := e.newClient()
	if step, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin = %+v, %v", step, err)
	}
	_, err = lc.Profile2FAGenerate(e.ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeFactorRequired)
	wantIs(t, err, client.ErrMFARequired)
}

func TestProfileRemoveMfaPost(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	e.enroll(c)
	if _, err := c.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "4444"}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.PIN})
	if err != nil {
		t.Fatalf("ProfileRemoveMfaPost(PIN): %v", err)
	}
	if resp.Status != "success" {
		t.Fatalf("ProfileRemoveMfaPost = %+v", resp)
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA))
	// Idempotent.
	if _, err := c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.PIN}); err != nil {
		t.Fatalf("ProfileRemoveMfaPost(PIN) again: %v", err)
	}
	if _, err := c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.TwoFA}); err != nil {
		t.Fatalf("ProfileRemoveMfaPost(2FA): %v", err)
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, nil)
	// A bad enum: 400.
	_, err = c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: "2fa"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	// A factor forced by an admin cannot be removed: 400 code 22.
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "5555"}); err != nil {
		t.Fatal(err)
	}
	c = e.newClient()
	if _, err := c.Login(e.ctx, u.Email, u.Password, pinPrompt("5555")); err != nil {
		t.Fatalf("Login: %v", err)
	}
	_, err = c.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.PIN})
	ae := wantAPIError(t, err, http.StatusBadRequest, client.CodeFactorForced)
	if ae.Code != client.CodeFactorForced {
		t.Fatal("unreachable")
	}
	wantIs(t, err, client.ErrInvalid)
	wantMethods(t, "forced_auth", e.profile(c).ForcedAuth, methods(client.PIN))

	// 2FA forced by the account cannot be removed either.
	admin := e.admin
	if _, err := admin.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.TwoFA}); err != nil {
		t.Fatalf("admin ProfileRemoveMfaPost(2FA) while nothing is forced: %v", err)
	}
	if _, err := admin.SettingsSet(e.ctx, client.SettingsSetReq{AuthMethods: methods(client.TwoFA)}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.ProfileRemoveMfaPost(e.ctx, client.ProfileRemoveMfaReq{AuthType: client.TwoFA})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeFactorForced)
}

func pinPrompt(pin string) client.Prompt {
	return func(_ context.Context, step client.MfaCode, _ *client.TwoFAGenerateResp, _ int) (string, error) {
		if step != client.MfaPIN {
			return "", errors.New("unexpected step " + step.String())
		}
		return pin, nil
	}
}

// ---- admin

func TestUserCreateUsersMetadataDelete(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	created, err := e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Bob", Email: "bob@example.com", Password: "bob-password-1"})
	if err != nil {
		t.Fatalf("UserCreate: %v", err)
	}
	if created.ID == "" || created.Email != "bob@example.com" || created.Name != "Bob" || created.SuperAdmin != "N" ||
		created.Status != "A" || created.LastLogin != 0 || created.Created == 0 || created.AccountID != e.srv.AccountID {
		t.Fatalf("UserCreate = %+v", created)
	}
	wantMethods(t, "auth_methods", created.AuthMethods, nil)
	wantMethods(t, "forced_auth", created.ForcedAuth, nil)
	adm2, err := e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Carol", Email: "carol@example.com", Password: "carol-password", SuperAdmin: "Y"})
	if err != nil || adm2.SuperAdmin != "Y" {
		t.Fatalf("UserCreate(super admin) = %+v, %v", adm2, err)
	}
	// A taken email (case-insensitive): 400 code 24.
	_, err = e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Bob 2", Email: "BOB@example.com", Password: "bob-password-2"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEmailTaken)
	wantIs(t, err, client.ErrInvalid)
	// A short password: 400 code 2.
	_, err = e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Dan", Email: "dan@example.com", Password: "short"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	users, err := e.admin.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	slices.Sort(emails)
	if want := []string{testserver.AdminEmail, "bob@example.com", "carol@example.com"}; !slices.Equal(emails, want) {
		t.Fatalf("Users = %v, want %v", emails, want)
	}

	got, err := e.admin.UserMetadata(ctx, created.ID)
	if err != nil {
		t.Fatalf("UserMetadata: %v", err)
	}
	if got.ID != created.ID || got.Email != created.Email {
		t.Fatalf("UserMetadata = %+v", got)
	}
	// The login shows in last_login.
	bob := e.login(user{ID: created.ID, Email: "bob@example.com", Password: "bob-password-1"})
	if got, err = e.admin.UserMetadata(ctx, created.ID); err != nil || got.LastLogin == 0 {
		t.Fatalf("UserMetadata after a login = %+v, %v; want last_login set", got, err)
	}
	// Unknown: 404 code 25.
	_, err = e.admin.UserMetadata(ctx, "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f")
	wantAPIError(t, err, http.StatusNotFound, client.CodeUserNotFound)
	wantIs(t, err, client.ErrNotFound)

	// Non-admins: 403 code 14.
	_, err = bob.Users(ctx)
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	wantIs(t, err, client.ErrForbidden)
	wantNotIs(t, err, client.ErrUnauthorized)
	_, err = bob.UserMetadata(ctx, created.ID)
	wantIs(t, err, client.ErrForbidden)
	_, err = bob.UserCreate(ctx, client.UserCreateReq{Name: "Eve", Email: "eve@example.com", Password: "eve-password"})
	wantIs(t, err, client.ErrForbidden)
	_, err = bob.UserDelete(ctx, client.IdsReq{IDs: []string{adm2.ID}})
	wantIs(t, err, client.ErrForbidden)
	_, err = bob.Settings(ctx)
	wantIs(t, err, client.ErrForbidden)
	_, err = bob.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{created.ID}, AuthType: client.TwoFA})
	wantIs(t, err, client.ErrForbidden)

	// Delete: the user goes, with their sessions.
	del, err := e.admin.UserDelete(ctx, client.IdsReq{IDs: []string{created.ID}})
	if err != nil {
		t.Fatalf("UserDelete: %v", err)
	}
	if !slices.Equal(del.IDs, []string{created.ID}) {
		t.Fatalf("UserDelete = %v, want [%s]", del.IDs, created.ID)
	}
	_, err = e.admin.UserMetadata(ctx, created.ID)
	wantIs(t, err, client.ErrNotFound)
	_, err = bob.Profile(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	// Deleting again: the id is no user of the account, 400 code 23.
	_, err = e.admin.UserDelete(ctx, client.IdsReq{IDs: []string{created.ID}})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeUnknownUsers)
	// Nor can an admin delete their own user: 400 code 26.
	_, err = e.admin.UserDelete(ctx, client.IdsReq{IDs: []string{e.srv.AdminID}})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeCannotDeleteSelf)
}

func TestUserSetRemoveResetMfa(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)

	// Force 2FA: the user's sessions close, the next login owes enrollment.
	resp, err := e.admin.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{u.ID, u.ID}, AuthType: client.TwoFA})
	if err != nil {
		t.Fatalf("UserSetMfaPost(2FA): %v", err)
	}
	if resp.Status != "success" {
		t.Fatalf("UserSetMfaPost = %+v", resp)
	}
	_, err = c.Profile(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	md, err := e.admin.UserMetadata(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantMethods(t, "auth_methods", md.AuthMethods, methods(client.TwoFA))
	wantMethods(t, "forced_auth", md.ForcedAuth, methods(client.TwoFA))
	lc := e.newClient()
	step, err := lc.PasswordLogin(ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaEnroll {
		t.Fatalf("PasswordLogin = %+v, %v; want Mfa-Code 3", step, err)
	}
	// Enrollment by hand: generate with the limited session, then the code.
	gen, err := lc.Profile2FAGenerate(ctx)
	if err != nil {
		t.Fatalf("Profile2FAGenerate with a limited session owing enrollment: %v", err)
	}
	if _, err := lc.SessionLoginPost(ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: e.code(gen.Secret)}); err != nil {
		t.Fatalf("SessionLoginPost(enrollment): %v", err)
	}
	wantMethods(t, "forced_auth", e.profile(lc).ForcedAuth, methods(client.TwoFA))

	// Reset: the secret goes, 2FA stays, the next login enrolls again.
	if resp, err = e.admin.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatalf("UserResetMfaPost: %v", err)
	}
	if resp.Status != "success" {
		t.Fatalf("UserResetMfaPost = %+v", resp)
	}
	_, err = lc.Profile(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	if step, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaEnroll {
		t.Fatalf("PasswordLogin after reset = %+v, %v; want Mfa-Code 3", step, err)
	}
	// Reset takes only 2FA.
	_, err = e.admin.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	// Remove: 2FA leaves auth_methods and forced_auth; logins owe nothing.
	if resp, err = e.admin.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatalf("UserRemoveMfaPost: %v", err)
	}
	if resp.Status != "success" {
		t.Fatalf("UserRemoveMfaPost = %+v", resp)
	}
	if md, err = e.admin.UserMetadata(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	wantMethods(t, "auth_methods", md.AuthMethods, nil)
	wantMethods(t, "forced_auth", md.ForcedAuth, nil)
	e.login(u)

	// PIN forced by the admin: Login asks for it.
	if _, err := e.admin.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "777777"}); err != nil {
		t.Fatalf("UserSetMfaPost(PIN): %v", err)
	}
	if _, err := e.newClient().Login(ctx, u.Email, u.Password, pinPrompt("777777")); err != nil {
		t.Fatalf("Login with the forced PIN: %v", err)
	}
	// PIN needs a code.
	_, err = e.admin.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	// An id outside the account fails the whole request: 400 code 23.
	stranger := "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f"
	for name, call := range map[string]func() error{
		"set": func() error {
			_, err := e.admin.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{u.ID, stranger}, AuthType: client.TwoFA})
			return err
		},
		"remove": func() error {
			_, err := e.admin.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: []string{u.ID, stranger}, AuthType: client.PIN})
			return err
		},
		"reset": func() error {
			_, err := e.admin.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: []string{stranger}, AuthType: client.TwoFA})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			wantAPIError(t, err, http.StatusBadRequest, client.CodeUnknownUsers)
			wantIs(t, err, client.ErrInvalid)
		})
	}
	if md, err = e.admin.UserMetadata(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	wantMethods(t, "forced_auth (nothing changed)", md.ForcedAuth, methods(client.PIN))
	// A malformed id: 400 code 2.
	_, err = e.admin.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: []string{"not-a-uuid"}, AuthType: client.PIN})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
}

// ---- passwords and users over their life

func TestSetPassword(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)
	bystander := e.login(u) // another session of the same user

	// A wrong current password: 403 code 27, not a 401 (the session stays).
	_, err := c.SetPassword(ctx, "not-the-password", "a new passphrase 1")
	wantAPIError(t, err, http.StatusForbidden, client.CodeWrongPassword)
	wantIs(t, err, client.ErrWrongPassword, client.ErrForbidden)
	wantNotIs(t, err, client.ErrUnauthorized, client.ErrBadCredentials, client.ErrInvalid)
	// A new password that breaks the policy: 400 code 2, whatever the
	// current password.
	for _, weak := range []string{"short", u.Email, "password"} {
		_, err = c.SetPassword(ctx, u.Password, weak)
		wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
		wantIs(t, err, client.ErrInvalid)
		wantNotIs(t, err, client.ErrWrongPassword)
	}
	e.profile(bystander) // nothing changed yet

	// Success: the email back, the caller's session kept, every other one
	// closed. Non-ASCII passwords go through base64 unharmed.
	const next = "Grüße aus Köln, 2026 ✓"
	email, err := c.SetPassword(ctx, u.Password, next)
	if err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if email != u.Email {
		t.Fatalf("SetPassword = %q, want %q", email, u.Email)
	}
	e.profile(c)
	_, err = bystander.Profile(ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	wantIs(t, err, client.ErrBadCredentials)
	e.login(user{ID: u.ID, Email: u.Email, Password: next})
	// The old password is now the wrong one.
	_, err = c.SetPassword(ctx, u.Password, "yet another passphrase")
	wantIs(t, err, client.ErrWrongPassword)

	// Without a full session: 401.
	_, err = e.newClient().SetPassword(ctx, next, "yet another passphrase")
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)
}

// Wrong current passwords count toward the email's lockout, like wrong
// passwords at login; an admin's UnlockUsers lifts it.
func TestSetPasswordLockoutAndUnlockUsers(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)
	for i := 1; i <= 5; i++ {
		_, err := c.SetPassword(ctx, "wrong-password", "a new passphrase 1")
		wantIs(t, err, client.ErrWrongPassword)
	}
	_, err := c.SetPassword(ctx, u.Password, "a new passphrase 1")
	ae := wantAPIError(t, err, http.StatusTooManyRequests, client.CodeTooManyAttempts)
	wantIs(t, err, client.ErrLockedOut)
	wantNotIs(t, err, client.ErrWrongPassword, client.ErrForbidden)
	if ae.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %v on a 429", ae.RetryAfter)
	}
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	wantIs(t, err, client.ErrLockedOut)

	// Only admins unlock, and only users of their account.
	other := e.newUser()
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password) // still locked
	wantIs(t, err, client.ErrLockedOut)
	wantIs(t, e.login(other).UnlockUsers(ctx, []string{u.ID}), client.ErrForbidden)
	err = e.admin.UnlockUsers(ctx, []string{u.ID, "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeUnknownUsers)
	err = e.admin.UnlockUsers(ctx, nil)
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password) // nothing changed
	wantIs(t, err, client.ErrLockedOut)

	if err := e.admin.UnlockUsers(ctx, []string{u.ID, other.ID}); err != nil {
		t.Fatalf("UnlockUsers: %v", err)
	}
	e.login(u)
	if _, err := c.SetPassword(ctx, u.Password, "a new passphrase 1"); err != nil {
		t.Fatalf("SetPassword after the unlock: %v", err)
	}
}

func TestEditUsers(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	v := e.newUser()
	uc := e.login(u)
	str := func(s string) *string { return &s }
	yes, no := true, false

	// A name and an email: the new email is the user's identity at once.
	job, err := e.admin.EditUsers(ctx, []string{u.ID}, client.UserEdit{Name: str("Ursula"), Email: str("ursula@example.com")})
	if err != nil {
		t.Fatalf("EditUsers(name, email): %v", err)
	}
	if len(job) != 36 || strings.Count(job, "-") != 4 {
		t.Errorf("job id %q, want a UUID", job)
	}
	got, err := e.admin.UserMetadata(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ursula" || got.Email != "ursula@example.com" || got.Status != client.StatusActive || got.SuperAdmin != "N" {
		t.Fatalf("after EditUsers: %+v", got)
	}
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	wantIs(t, err, client.ErrBadCredentials)
	u.Email = "ursula@example.com"
	e.login(u)
	e.profile(uc) // a rename closes no session

	// Admin rights, given and taken back.
	if _, err := e.admin.EditUsers(ctx, []string{u.ID}, client.UserEdit{SuperAdmin: &yes}); err != nil {
		t.Fatalf("EditUsers(super_admin Y): %v", err)
	}
	if p := e.profile(uc); p.SuperAdmin != "Y" {
		t.Fatalf("super_admin = %q after EditUsers(SuperAdmin true)", p.SuperAdmin)
	}
	if _, err := uc.Users(ctx); err != nil {
		t.Fatalf("Users as a new admin: %v", err)
	}
	if _, err := e.admin.EditUsers(ctx, []string{u.ID}, client.UserEdit{SuperAdmin: &no}); err != nil {
		t.Fatalf("EditUsers(super_admin N): %v", err)
	}
	_, err = uc.Users(ctx)
	wantIs(t, err, client.ErrForbidden)

	// Disabled: sessions closed, the login fails as a wrong password,
	// the status shows "D". Enabled again: the login works.
	if _, err := e.admin.EditUsers(ctx, []string{u.ID, v.ID}, client.UserEdit{Disabled: &yes}); err != nil {
		t.Fatalf("EditUsers(disabled): %v", err)
	}
	_, err = uc.Profile(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeBadCredentials)
	users, err := e.admin.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range users {
		want := client.StatusActive
		if x.ID == u.ID || x.ID == v.ID {
			want = client.StatusDisabled
		}
		if x.Status != want {
			t.Errorf("%s: status %q, want %q", x.Email, x.Status, want)
		}
	}
	if _, err := e.admin.EditUsers(ctx, []string{u.ID}, client.UserEdit{Disabled: &no}); err != nil {
		t.Fatalf("EditUsers(enabled): %v", err)
	}
	if p := e.profile(e.login(u)); p.Status != client.StatusActive {
		t.Fatalf("status %q after enabling", p.Status)
	}
	_, err = e.newClient().PasswordLogin(ctx, v.Email, v.Password)
	wantIs(t, err, client.ErrBadCredentials) // v stays disabled

	// Refusals, each changing nothing.
	for _, tc := range []struct {
		name         string
		ids          []string
		edit         client.UserEdit
		status, code int
	}{
		{"nothing to change", []string{u.ID}, client.UserEdit{}, http.StatusBadRequest, client.CodeInvalid},
		{"no ids", nil, client.UserEdit{Name: str("X")}, http.StatusBadRequest, client.CodeInvalid},
		{"email of two users", []string{u.ID, v.ID}, client.UserEdit{Email: str("both@example.com")}, http.StatusBadRequest, client.CodeInvalid},
		{"email taken", []string{u.ID}, client.UserEdit{Email: str(strings.ToUpper(v.Email))}, http.StatusBadRequest, client.CodeEmailTaken},
		{"bad email", []string{u.ID}, client.UserEdit{Email: str("not an email")}, http.StatusBadRequest, client.CodeInvalid},
		{"bad name", []string{u.ID}, client.UserEdit{Name: str("  ")}, http.StatusBadRequest, client.CodeInvalid},
		{"unknown id", []string{u.ID, "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f"}, client.UserEdit{Name: str("X")}, http.StatusBadRequest, client.CodeUnknownUsers},
		{"self-demotion", []string{e.srv.AdminID}, client.UserEdit{SuperAdmin: &no}, http.StatusBadRequest, client.CodeCannotDeleteSelf},
		{"self-disabling", []string{e.srv.AdminID, u.ID}, client.UserEdit{Disabled: &yes}, http.StatusBadRequest, client.CodeCannotDeleteSelf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.admin.EditUsers(ctx, tc.ids, tc.edit)
			wantAPIError(t, err, tc.status, tc.code)
			wantIs(t, err, client.ErrInvalid)
		})
	}
	if got, err = e.admin.UserMetadata(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ursula" || got.Email != "ursula@example.com" || got.Status != client.StatusActive {
		t.Fatalf("a refused edit changed the user: %+v", got)
	}
	// An admin may rename themself; a non-admin may edit no one.
	if _, err := e.admin.EditUsers(ctx, []string{e.srv.AdminID}, client.UserEdit{Name: str("Admin A2")}); err != nil {
		t.Fatalf("EditUsers(own name): %v", err)
	}
	_, err = e.login(u).EditUsers(ctx, []string{u.ID}, client.UserEdit{SuperAdmin: &yes})
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	wantIs(t, err, client.ErrForbidden)
	wantNotIs(t, err, client.ErrWrongPassword)
}

func TestUserByEmail(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	jurgen, err := e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Jürgen", Email: "Jürgen@Example.com", Password: "jurgen-password"})
	if err != nil {
		t.Fatal(err)
	}
	kate, err := e.admin.UserCreate(ctx, client.UserCreateReq{Name: "Kate", Email: "kate@example.com", Password: "kate-password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ query, wantID string }{
		{u.Email, u.ID},
		{strings.ToUpper(u.Email), u.ID},
		{"  " + u.Email + "\t", u.ID},
		{testserver.AdminEmail, e.srv.AdminID},
		{"Jürgen@Example.com", jurgen.ID},
		{"jÜRGEN@EXAMPLE.COM", ""}, // only ASCII letters fold: Ü is not ü
		{"JüRGEN@example.COM", jurgen.ID},
		{"KATE@example.com", kate.ID},
		{"\u212Aate@example.com", ""}, // the Kelvin sign is not a K
		{"kate@example.com.", ""},
		{"", ""},
	} {
		got, err := e.admin.UserByEmail(ctx, tc.query)
		if tc.wantID == "" {
			if err == nil {
				t.Errorf("UserByEmail(%q) = %s, want not found", tc.query, got.Email)
				continue
			}
			wantIs(t, err, client.ErrNotFound)
			var nf *client.UserNotFoundError
			if !errors.As(err, &nf) || nf.Email != tc.query {
				t.Errorf("UserByEmail(%q) err = %v (%T), want a *UserNotFoundError naming the email", tc.query, err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("UserByEmail(%q): %v", tc.query, err)
			continue
		}
		if got.ID != tc.wantID {
			t.Errorf("UserByEmail(%q) = %s (%s), want %s", tc.query, got.ID, got.Email, tc.wantID)
		}
	}
	// Disabled users are found too (an admin enables them by email).
	yes := true
	if _, err := e.admin.EditUsers(ctx, []string{u.ID}, client.UserEdit{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.admin.UserByEmail(ctx, u.Email); err != nil || got.Status != client.StatusDisabled {
		t.Fatalf("UserByEmail(disabled user) = %+v, %v", got, err)
	}
	// Admins only.
	_, err = e.login(user{Email: "kate@example.com", Password: "kate-password"}).UserByEmail(ctx, u.Email)
	wantIs(t, err, client.ErrForbidden)
}

// ---- password reset by mail

// newMailEnv is newEnv with mail on: mail goes to a real SMTP server
// (STARTTLS, with a login) started by the test.
func newMailEnv(t *testing.T) (*env, *smtptest.Server) {
	t.Helper()
	smtp := smtptest.Start(t, smtptest.StartTLS)
	srv := testserver.Start(t, testserver.Options{Hasher: fastHasher(),
		Mail: &mailer.Config{URL: "smtp://" + smtptest.User + ":" + smtptest.Password + "@" + smtp.Addr, From: "mfad@mfad.example",
			TLS: &tls.Config{RootCAs: smtp.Roots}, Backoff: 10 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, srv: srv}
	e.admin = e.newClient()
	if _, err := e.admin.SessionLoginGet(ctx, testserver.AdminEmail, testserver.AdminPassword); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return e, smtp
}

// resetLink is the link a reset mail holds: the web page, then the id.
var resetLink = regexp.MustCompile(regexp.QuoteMeta(testserver.PublicURL) + `/#reset=([0-9a-f-]{36})`)

// resetID waits for n mails and returns the reset id of the last reset
// mail among them, which must be to the email to.
func resetID(t *testing.T, smtp *smtptest.Server, n int, to string) string {
	t.Helper()
	msgs := smtp.Wait(t, n, 10*time.Second)[:n]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Header("Subject") != "Reset your password" {
			continue
		}
		if len(m.To) != 1 || m.To[0] != to {
			t.Fatalf("reset mail to %q, want %s", m.To, to)
		}
		link := resetLink.FindStringSubmatch(m.Body())
		if link == nil {
			t.Fatalf("no reset link in %q", m.Body())
		}
		return link[1]
	}
	t.Fatalf("no reset mail among the %d mails", n)
	return ""
}

func TestPasswordReset(t *testing.T) {
	e, smtp := newMailEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)
	e.enroll(c)                                   // the reset keeps the factor
	mails := len(smtp.Wait(t, 1, 10*time.Second)) // the notice of the factor

	// Anyone may ask, with or without a session: the token is not sent.
	anon := e.newClient()
	if err := anon.RequestPasswordReset(ctx, strings.ToUpper(u.Email)); err != nil {
		t.Fatalf("RequestPasswordReset: %v", err)
	}
	id := resetID(t, smtp, mails+1, u.Email)
	mails++
	if err := anon.PasswordResetValid(ctx, id); err != nil {
		t.Fatalf("PasswordResetValid: %v", err)
	}
	// An email no user has gets the same answer, and no mail.
	if err := c.RequestPasswordReset(ctx, "nobody@example.com"); err != nil {
		t.Fatalf("RequestPasswordReset(unknown email): %v", err)
	}

	// A weak password is refused and leaves the id valid.
	_, err := anon.ResetPassword(ctx, id, "password1")
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
	wantIs(t, err, client.ErrInvalid)
	if err := anon.PasswordResetValid(ctx, id); err != nil {
		t.Fatalf("PasswordResetValid after a refused password: %v", err)
	}
	const next = "a remembered phrase, ✓"
	userID, err := anon.ResetPassword(ctx, id, next)
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if userID != u.ID {
		t.Fatalf("ResetPassword = %q, want the user's id %q", userID, u.ID)
	}
	// Used once; the sessions are closed; the factor stays.
	_, err = anon.ResetPassword(ctx, id, "another remembered phrase")
	wantAPIError(t, err, http.StatusNotFound, client.CodeResetNotFound)
	wantIs(t, err, client.ErrResetNotFound, client.ErrNotFound)
	err = anon.PasswordResetValid(ctx, id)
	wantAPIError(t, err, http.StatusNotFound, client.CodeResetNotFound)
	wantIs(t, err, client.ErrResetNotFound)
	_, err = c.Profile(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	_, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	wantIs(t, err, client.ErrBadCredentials)
	step, err := e.newClient().PasswordLogin(ctx, u.Email, next)
	if err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin with the new password = %+v, %v; want Mfa-Code 1", step, err)
	}

	// Unknown ids, and ids that would leave their path segment if they
	// were not escaped: 404 code 29, never the route's 404 code 5.
	for _, bad := range []string{"6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f", "not-an-id", "a b/c", "../../profile", "x?y#z"} {
		err := anon.PasswordResetValid(ctx, bad)
		wantAPIError(t, err, http.StatusNotFound, client.CodeResetNotFound)
		_, err = anon.ResetPassword(ctx, bad, next)
		wantAPIError(t, err, http.StatusNotFound, client.CodeResetNotFound)
	}
	// A newer request voids the older id.
	if err := anon.RequestPasswordReset(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	first := resetID(t, smtp, mails+2, u.Email) // +1 was the notice of the reset
	if err := anon.RequestPasswordReset(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	second := resetID(t, smtp, mails+3, u.Email)
	wantIs(t, anon.PasswordResetValid(ctx, first), client.ErrResetNotFound)
	if err := anon.PasswordResetValid(ctx, second); err != nil {
		t.Fatalf("PasswordResetValid(newest id): %v", err)
	}
}

func TestPasswordResetMailOff(t *testing.T) {
	e := newEnv(t) // no mail
	err := e.newClient().RequestPasswordReset(e.ctx, testserver.AdminEmail)
	ae := wantAPIError(t, err, http.StatusServiceUnavailable, client.CodeMailOff)
	wantIs(t, err, client.ErrMailOff, client.ErrUnavailable)
	wantNotIs(t, err, client.ErrLockedOut, client.ErrNotFound)
	if !strings.Contains(ae.Msg, "not configured") {
		t.Errorf("Msg = %q", ae.Msg)
	}
	// Ids are checked all the same.
	wantIs(t, e.newClient().PasswordResetValid(e.ctx, "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f"), client.ErrResetNotFound)
}

// The new calls as the server sees them: the bodies the API documents, the
// session only where one is needed, nothing retried.
func TestLifecycleWire(t *testing.T) {
	ctx := t.Context()
	f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
	c, _ := client.New(f.URL, client.WithRetries(3, time.Millisecond), client.WithSession("tok"))
	yes, no, name := true, false, "N"
	for _, tc := range []struct {
		name, method, path, body, token string
		call                            func() error
	}{
		{"SetPassword", "POST", "/api/1.0/profile/set-password", `{"password":"b2xkIHDDpHNz","new_password":"bmV3IHBhc3Mgw6A="}`, "tok", func() error {
			_, err := c.SetPassword(ctx, "old päss", "new pass à")
			return err
		}},
		{"EditUsers", "POST", "/api/1.0/user/edit", `{"ids":["a","b"],"name":"N","super_admin":"Y","status":"A"}`, "tok", func() error {
			_, err := c.EditUsers(ctx, []string{"a", "b"}, client.UserEdit{Name: &name, SuperAdmin: &yes, Disabled: &no})
			return err
		}},
		{"EditUsers disable", "POST", "/api/1.0/user/edit", `{"ids":["a"],"super_admin":"N","status":"D"}`, "tok", func() error {
			_, err := c.EditUsers(ctx, []string{"a"}, client.UserEdit{SuperAdmin: &no, Disabled: &yes})
			return err
		}},
		{"UnlockUsers", "POST", "/api/1.0/user/unlock", `{"ids":["a"]}`, "tok", func() error {
			return c.UnlockUsers(ctx, []string{"a"})
		}},
		{"RequestPasswordReset", "POST", "/api/1.0/reset-password/request", `{"email":["a@example.com"]}`, "", func() error {
			return c.RequestPasswordReset(ctx, "a@example.com")
		}},
		{"PasswordResetValid", "GET", "/api/1.0/reset-password/metadata/a%20b%2Fc", "", "", func() error {
			return c.PasswordResetValid(ctx, "a b/c")
		}},
		{"ResetPassword", "POST", "/api/1.0/reset-password/reset/id-1", `{"password":"plain text ✓"}`, "", func() error {
			_, err := c.ResetPassword(ctx, "id-1", "plain text ✓")
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
		if r.Method != tc.method || r.URL.EscapedPath() != tc.path {
			t.Errorf("%s: %s %s, want %s %s", tc.name, r.Method, r.URL.EscapedPath(), tc.method, tc.path)
		}
		if tok := r.Header.Get("X-Auth-Token"); tok != tc.token {
			t.Errorf("%s: X-Auth-Token %q, want %q", tc.name, tok, tc.token)
		}
		if tc.body == "" {
			if body != "" {
				t.Errorf("%s: body %s, want none", tc.name, body)
			}
			continue
		}
		var got, want any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("%s: body %q: %v", tc.name, body, err)
			continue
		}
		json.Unmarshal([]byte(tc.body), &want)
		if g, _ := json.Marshal(got); string(g) != string(mustJSON(t, want)) {
			t.Errorf("%s: body %s, want %s", tc.name, body, tc.body)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSettings(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	s, err := e.admin.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	wantMethods(t, "settings auth_methods", s.AuthMethods, nil)

	s, err = e.admin.SettingsSet(ctx, client.SettingsSetReq{AuthMethods: methods(client.TwoFA)})
	if err != nil {
		t.Fatalf("SettingsSet([2FA]): %v", err)
	}
	wantMethods(t, "SettingsSet auth_methods", s.AuthMethods, methods(client.TwoFA))
	if s, err = e.admin.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	wantMethods(t, "Settings auth_methods", s.AuthMethods, methods(client.TwoFA))
	// The admin's session survives; the account's 2FA shows in the profile.
	wantMethods(t, "admin auth_methods", e.profile(e.admin).AuthMethods, methods(client.TwoFA))
	if step, err := e.newClient().PasswordLogin(ctx, u.Email, u.Password); err != nil || step.MfaCode != client.MfaEnroll {
		t.Fatalf("PasswordLogin with the account forcing 2FA = %+v, %v; want Mfa-Code 3", step, err)
	}
	// 2FA cannot be removed for users while the account forces it.
	_, err = e.admin.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeFactorForced)
	// Only 2FA can be forced.
	_, err = e.admin.SettingsSet(ctx, client.SettingsSetReq{AuthMethods: methods(client.PIN)})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	if s, err = e.admin.SettingsSet(ctx, client.SettingsSetReq{AuthMethods: []client.AuthType{}}); err != nil {
		t.Fatalf("SettingsSet([]): %v", err)
	}
	wantMethods(t, "SettingsSet auth_methods", s.AuthMethods, nil)
	e.login(u)
}

// TestSettingsSetZeroValue: the zero SettingsSetReq (AuthMethods nil, the
// Go way to say "none") must stop forcing 2FA like an empty slice does.
func TestSettingsSetZeroValue(t *testing.T) {
	e := newEnv(t)
	if _, err := e.admin.SettingsSet(e.ctx, client.SettingsSetReq{AuthMethods: methods(client.TwoFA)}); err != nil {
		t.Fatal(err)
	}
	s, err := e.admin.SettingsSet(e.ctx, client.SettingsSetReq{})
	if err != nil {
		t.Fatalf("SettingsSet(SettingsSetReq{}) = %v; want success: a nil AuthMethods is sent as null, which the server refuses as a missing field", err)
	}
	wantMethods(t, "auth_methods", s.AuthMethods, nil)
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	if err := e.newClient().Healthz(e.ctx); err != nil {
		t.Fatalf("Healthz: %v", err)
	}
	// A base URL with the API prefix: /healthz is still outside it.
	c2, err := client.New(e.srv.URL + "/api/1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Healthz(e.ctx); err != nil {
		t.Fatalf("Healthz with a base URL ending in /api/1.0: %v", err)
	}
	// Unhealthy: 503, matched by ErrUnavailable.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"msg":"database unavailable","code":17}`))
	}))
	defer down.Close()
	dc, err := client.New(down.URL, client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	err = dc.Healthz(e.ctx)
	ae := wantAPIError(t, err, http.StatusServiceUnavailable, client.CodeUnavailable)
	wantIs(t, err, client.ErrUnavailable)
	if ae.RetryAfter != time.Second {
		t.Errorf("RetryAfter = %v, want 1s", ae.RetryAfter)
	}
}

// ---- errors

func TestBadCredentials(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	var bodies []string
	for _, cred := range [][2]string{{u.Email, "wrong-password"}, {"nobody@example.com", u.Password}} {
		c := e.newClient()
		_, err := c.PasswordLogin(e.ctx, cred[0], cred[1])
		ae := wantAPIError(t, err, http.StatusUnauthorized, client.CodeBadCredentials)
		wantIs(t, err, client.ErrUnauthorized, client.ErrBadCredentials)
		wantNotIs(t, err, client.ErrWrongCode, client.ErrMFARequired, client.ErrLockedOut, client.ErrForbidden, client.ErrInvalid, client.ErrNotFound)
		if ae.RetryAfter != 0 {
			t.Errorf("RetryAfter = %v on a 401", ae.RetryAfter)
		}
		if c.SessionID() != "" {
			t.Errorf("a failed login left the client holding %q", c.SessionID())
		}
		if msg := ae.Error(); !strings.Contains(msg, "401") || !strings.Contains(msg, "code 11") {
			t.Errorf("APIError.Error() = %q, want the status and the code", msg)
		}
		bodies = append(bodies, ae.Msg)
	}
	if bodies[0] != bodies[1] {
		t.Errorf("unknown email and wrong password differ: %q vs %q", bodies[0], bodies[1])
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.newClient()
	for i := 1; i <= 5; i++ {
		_, err := c.PasswordLogin(e.ctx, u.Email, "wrong-password")
		wantAPIError(t, err, http.StatusUnauthorized, client.CodeBadCredentials)
		wantNotIs(t, err, client.ErrLockedOut)
	}
	// Locked: 429 with Retry-After 15 minutes, even with the right password.
	for _, pw := range []string{u.Password, "wrong-password"} {
		_, err := c.PasswordLogin(e.ctx, u.Email, pw)
		ae := wantAPIError(t, err, http.StatusTooManyRequests, client.CodeTooManyAttempts)
		wantIs(t, err, client.ErrLockedOut)
		wantNotIs(t, err, client.ErrUnauthorized, client.ErrUnavailable)
		if ae.RetryAfter != 15*time.Minute {
			t.Errorf("RetryAfter = %v, want 15m", ae.RetryAfter)
		}
	}
	// Login returns the lockout as it is, without calling the prompt.
	_, err := c.Login(e.ctx, u.Email, u.Password, func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
		t.Error("prompt called for a locked-out email")
		return "", errors.New("no")
	})
	wantIs(t, err, client.ErrLockedOut)
	// The lock ends after 15 minutes.
	e.srv.Clock.Advance(15*time.Minute + time.Second)
	e.login(u)
}

// ---- Login

type promptCall struct {
	Step       client.MfaCode
	Enrollment *client.TwoFAGenerateResp
	Retry      int
}

// recorder is a Prompt that records its calls and answers with answer.
type recorder struct {
	mu    sync.Mutex
	calls []promptCall
}

func (r *recorder) prompt(answer func(call promptCall) (string, error)) client.Prompt {
	return func(ctx context.Context, step client.MfaCode, enrollment *client.TwoFAGenerateResp, retry int) (string, error) {
		r.mu.Lock()
		call := promptCall{Step: step, Enrollment: enrollment, Retry: retry}
		r.calls = append(r.calls, call)
		n := len(r.calls)
		r.mu.Unlock()
		if ctx == nil {
			return "", errors.New("prompt got a nil context")
		}
		if n > 20 {
			return "", errLooping
		}
		return answer(call)
	}
}

var errLooping = errors.New("test: prompt called more than 20 times")

func (r *recorder) steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		s := c.Step.String()
		if c.Retry > 0 {
			s += " retry " + string(rune('0'+c.Retry))
		}
		out = append(out, s)
	}
	return out
}

func wantSteps(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	if got := r.steps(); !slices.Equal(got, want) {
		t.Fatalf("prompt calls = %q, want %q", got, want)
	}
}

// checkLoggedIn checks Login's answer is the client's full session.
func (e *env) checkLoggedIn(c *client.Client, resp *client.SessionLoginResp, err error) *client.ProfileResp {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	if resp == nil || resp.SessionID == "" || resp.SessionID != c.SessionID() {
		e.t.Fatalf("Login = %+v, client holds %q", resp, c.SessionID())
	}
	return e.profile(c)
}

func TestLogin(t *testing.T) {
	t.Run("no factor", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return "", errors.New("not asked") }))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r)
	})

	t.Run("TOTP", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		secret := e.enroll(e.login(u))
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			if pc.Enrollment != nil {
				t.Errorf("enrollment %+v handed on a TOTP step", pc.Enrollment)
			}
			return e.code(secret), nil
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "TOTP code")
	})

	t.Run("PIN", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.login(u).ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "31415"}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			if pc.Enrollment != nil {
				t.Errorf("enrollment handed on a PIN step")
			}
			return "31415", nil
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "PIN")
	})

	t.Run("TOTP then PIN", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		uc := e.login(u)
		secret := e.enroll(uc)
		if _, err := uc.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "2718"}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			switch pc.Step {
			case client.MfaTOTP:
				return e.code(secret), nil
			case client.MfaPIN:
				return "2718", nil
			}
			return "", errors.New("unexpected step")
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "TOTP code", "PIN")
	})

	t.Run("enrollment", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		var secret string
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			en := pc.Enrollment
			if en == nil || en.Secret == "" || !strings.HasPrefix(en.URI, "otpauth://totp/") || en.QR == "" {
				return "", errors.New("enrollment step without a usable secret")
			}
			secret = en.Secret
			return e.srv.Code(t, en.Secret, 0), nil
		}))
		p := e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "2FA enrollment")
		wantMethods(t, "auth_methods", p.AuthMethods, methods(client.TwoFA))
		// The enrolled secret is the one for the next login.
		var r2 recorder
		c2 := e.newClient()
		resp, err = c2.Login(e.ctx, u.Email, u.Password, r2.prompt(func(promptCall) (string, error) { return e.code(secret), nil }))
		e.checkLoggedIn(c2, resp, err)
		wantSteps(t, &r2, "TOTP code")
	})

	t.Run("enrollment then PIN", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "9090"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.admin.SettingsSet(e.ctx, client.SettingsSetReq{AuthMethods: methods(client.TwoFA)}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			switch {
			case pc.Step == client.MfaEnroll && pc.Enrollment != nil:
				return e.srv.Code(t, pc.Enrollment.Secret, 0), nil
			case pc.Step == client.MfaPIN && pc.Enrollment == nil:
				return "9090", nil
			}
			return "", errors.New("unexpected prompt")
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "2FA enrollment", "PIN")
	})

	t.Run("wrong TOTP then right, then PIN", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		uc := e.login(u)
		secret := e.enroll(uc)
		if _, err := uc.ProfileSetMfaPost(e.ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "2718"}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			switch {
			case pc.Step == client.MfaPIN:
				return "2718", nil
			case pc.Retry == 0:
				return e.wrongCode(secret), nil
			}
			return e.code(secret), nil
		}))
		e.checkLoggedIn(c, resp, err)
		// retry counts per step: the PIN starts again at 0.
		wantSteps(t, &r, "TOTP code", "TOTP code retry 1", "PIN")
	})

	t.Run("wrong PIN then right", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "6060"}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			return []string{"0000", "1111", "6060"}[min(pc.Retry, 2)], nil
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "PIN", "PIN retry 1", "PIN retry 2")
	})

	t.Run("wrong enrollment code then right", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
			t.Fatal(err)
		}
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
			if pc.Enrollment == nil {
				return "", errors.New("no enrollment")
			}
			if pc.Retry == 0 {
				return e.wrongCode(pc.Enrollment.Secret), nil
			}
			return e.code(pc.Enrollment.Secret), nil
		}))
		e.checkLoggedIn(c, resp, err)
		wantSteps(t, &r, "2FA enrollment", "2FA enrollment retry 1")
		if a, b := r.calls[0].Enrollment, r.calls[1].Enrollment; a.Secret != b.Secret || a.URI != b.URI || a.QR != b.QR {
			t.Fatalf("the retry handed another secret: %q then %q", a.Secret, b.Secret)
		}
	})

	t.Run("prompt error", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "1212"}); err != nil {
			t.Fatal(err)
		}
		errCancelled := errors.New("user cancelled")
		for _, step := range []client.MfaCode{client.MfaPIN, client.MfaEnroll} {
			if step == client.MfaEnroll {
				if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
					t.Fatal(err)
				}
			}
			c := e.newClient()
			var r recorder
			resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return "", errCancelled }))
			if resp != nil {
				t.Fatalf("Login = %+v, want nil", resp)
			}
			var se *client.StepError
			if !errors.As(err, &se) {
				t.Fatalf("Login err = %v (%T), want *client.StepError", err, err)
			}
			if se.Step != step {
				t.Fatalf("StepError.Step = %v, want %v", se.Step, step)
			}
			wantIs(t, err, errCancelled)
			if !strings.Contains(err.Error(), "user cancelled") {
				t.Errorf("StepError.Error() = %q", err.Error())
			}
			wantSteps(t, &r, step.String())
		}
	})

	t.Run("five wrong codes", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		secret := e.enroll(e.login(u))
		c := e.newClient()
		var r recorder
		resp, err := c.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return e.wrongCode(secret), nil }))
		if resp != nil || err == nil {
			t.Fatalf("Login = %+v, %v; want an error", resp, err)
		}
		if errors.Is(err, errLooping) {
			t.Fatalf("Login kept asking after the server closed the limited session: %q", r.steps())
		}
		var se *client.StepError
		if !errors.As(err, &se) || se.Step != client.MfaTOTP {
			t.Fatalf("Login err = %v (%T), want a *client.StepError on the TOTP step", err, err)
		}
		// The fifth wrong code says the session is closed (details
		// session_closed): Login stops there instead of asking a sixth time.
		wantAPIError(t, err, http.StatusUnauthorized, client.CodeWrongCode)
		wantIs(t, err, client.ErrWrongCode, client.ErrUnauthorized)
		if !client.SessionClosed(err) {
			t.Errorf("SessionClosed(%v) = false, want true", err)
		}
		wantSteps(t, &r, "TOTP code", "TOTP code retry 1", "TOTP code retry 2", "TOTP code retry 3", "TOTP code retry 4")
		// The limited session is closed (401 code 10, not 12)...
		_, err = c.Profile(e.ctx)
		wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthenticated)
		// ... and the five wrong codes locked the email.
		_, err = e.newClient().PasswordLogin(e.ctx, u.Email, u.Password)
		wantIs(t, err, client.ErrLockedOut)
	})

	t.Run("wrong password", func(t *testing.T) {
		e := newEnv(t)
		u := e.newUser()
		var r recorder
		_, err := e.newClient().Login(e.ctx, u.Email, "not-the-password", r.prompt(func(promptCall) (string, error) { return "", nil }))
		wantAPIError(t, err, http.StatusUnauthorized, client.CodeBadCredentials)
		var se *client.StepError
		if errors.As(err, &se) {
			t.Errorf("a wrong password is a *StepError (%v)", se)
		}
		wantSteps(t, &r)
	})
}

func TestEnroll(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	var got *client.TwoFAGenerateResp
	err := c.Enroll(e.ctx, func(_ context.Context, s *client.TwoFAGenerateResp) (string, error) {
		got = s
		return e.code(s.Secret), nil
	})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if got == nil || got.Secret == "" || got.QR == "" || !strings.HasPrefix(got.URI, "otpauth://totp/") {
		t.Fatalf("confirm got %+v", got)
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA))

	// confirm's error comes back wrapped; nothing changes.
	errNo := errors.New("no authenticator app")
	err = c.Enroll(e.ctx, func(context.Context, *client.TwoFAGenerateResp) (string, error) { return "", errNo })
	wantIs(t, err, errNo)
	// A wrong code: 400 code 21; the old secret stays.
	err = c.Enroll(e.ctx, func(_ context.Context, s *client.TwoFAGenerateResp) (string, error) {
		return e.wrongCode(s.Secret), nil
	})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeEnrollment)
	lc := e.newClient()
	resp, err := lc.Login(e.ctx, u.Email, u.Password, func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
		return e.code(got.Secret), nil
	})
	e.checkLoggedIn(lc, resp, err)
	// A limited session cannot enroll this way.
	if _, err := e.admin.UserSetMfaPost(e.ctx, client.UserSetMfaReq{IDs: []string{u.ID}, AuthType: client.PIN, Code: "1357"}); err != nil {
		t.Fatal(err)
	}
	lc = e.newClient()
	if _, err := lc.PasswordLogin(e.ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	err = lc.Enroll(e.ctx, func(context.Context, *client.TwoFAGenerateResp) (string, error) {
		t.Error("confirm called with a limited session")
		return "", nil
	})
	wantIs(t, err, client.ErrMFARequired)
}

// ---- construction, retries, timeouts (against servers of the test's own)

func TestNew(t *testing.T) {
	for _, bad := range []string{"ftp://x", "not a url", "", "http://", "//host", "127.0.0.1:8080", "http://[::1"} {
		if c, err := client.New(bad); err == nil {
			t.Errorf("New(%q) = %v, nil; want an error", bad, c)
		}
	}
	e := newEnv(t)
	for _, base := range []string{e.srv.URL, e.srv.URL + "/", e.srv.URL + "/api/1.0", e.srv.URL + "/api/1.0/"} {
		c, err := client.New(base)
		if err != nil {
			t.Fatalf("New(%q): %v", base, err)
		}
		if _, err := c.SessionLoginGet(e.ctx, testserver.AdminEmail, testserver.AdminPassword); err != nil {
			t.Fatalf("New(%q): SessionLoginGet: %v", base, err)
		}
		if p, err := c.Profile(e.ctx); err != nil || p.Email != testserver.AdminEmail {
			t.Fatalf("New(%q): Profile = %+v, %v", base, p, err)
		}
		if err := c.Healthz(e.ctx); err != nil {
			t.Fatalf("New(%q): Healthz: %v", base, err)
		}
	}
}

// fake is a scripted HTTP server that counts requests.
type fake struct {
	*httptest.Server
	n    atomic.Int32
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newFake(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.body = append(f.body, b.String())
		f.mu.Unlock()
		h(int(f.n.Add(1)), w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"msg":"server busy","code":16}`))
}

func TestRetries(t *testing.T) {
	ctx := t.Context()
	profile := `{"id":"u1","name":"N","email":"n@example.com","super_admin":"N","account_id":"a1","status":"A","auth_methods":["PIN"],"forced_auth":[]}`

	t.Run("GET retried after 503", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if r.Method != "GET" || r.URL.Path != "/api/1.0/profile" || r.Header.Get("X-Auth-Token") != "tok" {
				http.Error(w, "unexpected request", http.StatusTeapot)
				return
			}
			if n <= 2 {
				unavailable(w)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(profile))
		})
		c, err := client.New(f.URL, client.WithRetries(2, time.Millisecond), client.WithSession("tok"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Profile(ctx)
		if err != nil {
			t.Fatalf("Profile: %v", err)
		}
		if p.Email != "n@example.com" || !slices.Equal(p.AuthMethods, methods(client.PIN)) {
			t.Fatalf("Profile = %+v", p)
		}
		if n := f.n.Load(); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
	})

	t.Run("GET gives up after the retries", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
		c, _ := client.New(f.URL, client.WithRetries(2, time.Millisecond))
		_, err := c.Profile(ctx)
		ae := wantAPIError(t, err, http.StatusServiceUnavailable, client.CodeBusy)
		wantIs(t, err, client.ErrUnavailable)
		if ae.RetryAfter != time.Second {
			t.Errorf("RetryAfter = %v, want 1s", ae.RetryAfter)
		}
		if n := f.n.Load(); n != 3 {
			t.Fatalf("%d requests, want 3 (1 + 2 retries)", n)
		}
	})

	t.Run("no retries", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
		c, _ := client.New(f.URL, client.WithRetries(0, time.Millisecond))
		_, err := c.Users(ctx)
		wantIs(t, err, client.ErrUnavailable)
		if n := f.n.Load(); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})

	t.Run("other errors are not retried", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"msg":"internal error","code":0}`))
		})
		c, _ := client.New(f.URL, client.WithRetries(2, time.Millisecond))
		_, err := c.Profile(ctx)
		wantAPIError(t, err, http.StatusInternalServerError, client.CodeInternal)
		if n := f.n.Load(); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})

	t.Run("non-JSON error body", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		})
		c, _ := client.New(f.URL, client.WithRetries(2, time.Millisecond))
		_, err := c.Settings(ctx)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Code != -1 || ae.Msg == "" {
			t.Fatalf("err = %#v, want an APIError 502 code -1", err)
		}
	})

	t.Run("POST sent once", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
		c, _ := client.New(f.URL, client.WithRetries(3, time.Millisecond), client.WithSession("tok"))
		_, err := c.ProfileSetMfaPost(ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "1234"})
		wantIs(t, err, client.ErrUnavailable)
		if n := f.n.Load(); n != 1 {
			t.Fatalf("POST sent %d times, want 1", n)
		}
		r := f.reqs[0]
		if r.Method != "POST" || r.URL.Path != "/api/1.0/profile/set-mfa" || r.Header.Get("X-Auth-Token") != "tok" ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %s %s token %q type %q", r.Method, r.URL.Path, r.Header.Get("X-Auth-Token"), r.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(f.body[0]), &body); err != nil || body["auth_type"] != "PIN" || body["code"] != "1234" {
			t.Fatalf("body %s", f.body[0])
		}
	})

	t.Run("login steps sent once", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			basic bool // the request carries the Basic credentials
			call  func(c *client.Client) error
		}{
			{"PasswordLogin", true, func(c *client.Client) error {
				_, err := c.PasswordLogin(ctx, "a@example.com", "pw")
				return err
			}},
			{"SessionLoginGet", true, func(c *client.Client) error {
				_, err := c.SessionLoginGet(ctx, "a@example.com", "pw")
				return err
			}},
			{"Login", true, func(c *client.Client) error {
				_, err := c.Login(ctx, "a@example.com", "pw", nil)
				return err
			}},
			{"SecondFactor", false, func(c *client.Client) error {
				_, err := c.SecondFactor(ctx, client.SessionLoginPostResp{AuthType: client.TwoFA, Code: "123456"})
				return err
			}},
			{"Profile2FAGenerate", false, func(c *client.Client) error {
				_, err := c.Profile2FAGenerate(ctx)
				return err
			}},
			{"SessionLogout", false, func(c *client.Client) error { return c.SessionLogout(ctx) }},
		} {
			f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
			c, _ := client.New(f.URL, client.WithRetries(3, time.Millisecond), client.WithSession("tok"))
			err := tc.call(c)
			if !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("%s: err = %v, want ErrUnavailable", tc.name, err)
			}
			if n := f.n.Load(); n != 1 {
				t.Errorf("%s: sent %d times on 503, want 1", tc.name, n)
				continue
			}
			r := f.reqs[0]
			user, pw, ok := r.BasicAuth()
			if tc.basic {
				if r.Method != "GET" || r.URL.Path != "/api/1.0/session/login" || !ok || user != "a@example.com" || pw != "pw" {
					t.Errorf("%s: %s %s Basic %q %q %v", tc.name, r.Method, r.URL.Path, user, pw, ok)
				}
				if tok := r.Header.Get("X-Auth-Token"); tok != "" {
					t.Errorf("%s: a password login also sent X-Auth-Token %q", tc.name, tok)
				}
			} else if ok || r.Header.Get("X-Auth-Token") != "tok" {
				t.Errorf("%s: Basic %v, token %q; want the session token only", tc.name, ok, r.Header.Get("X-Auth-Token"))
			}
		}
	})

	t.Run("network errors retried for GET", func(t *testing.T) {
		// A listener that closes every connection at once.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var accepted atomic.Int32
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				conn.Close()
			}
		}()
		c, _ := client.New("http://"+ln.Addr().String(), client.WithRetries(2, time.Millisecond))
		_, err = c.Profile(ctx)
		var ae *client.APIError
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("Profile err = %v, want a network error", err)
		}
		if n := accepted.Load(); n < 3 {
			t.Fatalf("%d connections, want at least 3 (1 + 2 retries)", n)
		}
	})

	t.Run("backoff honours the context", func(t *testing.T) {
		f := newFake(t, func(_ int, w http.ResponseWriter, _ *http.Request) { unavailable(w) })
		c, _ := client.New(f.URL, client.WithRetries(2, time.Hour))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Profile(cctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
		if n := f.n.Load(); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})
}

func TestWithTimeout(t *testing.T) {
	f := newFake(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.Context().Done():
		}
		w.Write([]byte(`{}`))
	})
	c, err := client.New(f.URL, client.WithTimeout(50*time.Millisecond), client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Profile(t.Context())
	elapsed := time.Since(start)
	var ne net.Error
	if err == nil || !(errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		t.Fatalf("Profile err = %v, want a timeout", err)
	}
	if elapsed > 400*time.Millisecond {
		t.Fatalf("Profile took %v with a 50ms timeout", elapsed)
	}

	// WithHTTPClient: the caller's client (and its timeout) is used.
	c, err = client.New(f.URL, client.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}), client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err = c.Profile(t.Context()); err == nil || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("WithHTTPClient timeout: err %v after %v", err, time.Since(start))
	}
}

// TestUserMetadataEscapesID: the id reaches the server as given, one path
// segment, escaped once.
func TestUserMetadataEscapesID(t *testing.T) {
	var got atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/1.0/user/metadata/{id}", func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.PathValue("id"))
		w.Write([]byte(`{"id":"x"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithRetries(0, 0))
	const id = "a b/c"
	if _, err := c.UserMetadata(t.Context(), id); err != nil {
		t.Fatalf("UserMetadata(%q): %v", id, err)
	}
	if g, _ := got.Load().(string); g != id {
		t.Fatalf("the server got id %q for UserMetadata(%q): the id is escaped twice", g, id)
	}
}

// ---- concurrency

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	c := e.admin
	id := c.SessionID()
	var wg sync.WaitGroup
	errs := make(chan error, 20*3)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				p, err := c.Profile(e.ctx)
				if err == nil && p.Email != testserver.AdminEmail {
					err = errors.New("wrong profile " + p.Email)
				}
				if err != nil {
					errs <- err
				}
				if i%5 == 0 {
					c.SetSessionID(id) // the same id: exercises the lock
				}
				_ = c.SessionID()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
