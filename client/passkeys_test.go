package client_test

// Passkeys: the list, rename and delete, the WEBAUTHN factor in profiles
// and in the admin's picture, Mfa-Methods, and what Login does at the
// passkey step (Mfa-Code 4), which needs a browser: a recovery code, or
// ErrPasskeyRequired. The passkeys are registered over HTTP by a software
// authenticator (internal/webauthntest), as a browser would.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/internal/webauthntest"
)

// post sends a JSON body to the API with the session of c and returns the
// status and body.
func (e *env) post(c *client.Client, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.srv.URL+client.BasePath+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", c.SessionID())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// addPasskey registers a new software authenticator's passkey named name
// for the holder of the full session of c, as the web page would.
func (e *env) addPasskey(c *client.Client, name string) *webauthntest.Authenticator {
	e.t.Helper()
	a, _ := webauthntest.Register(e.t, e.srv.URL+client.BasePath, testserver.PublicURL, "mfad.example", c.SessionID(), name)
	return a
}

func passkeyNames(ks []client.Passkey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Name)
	}
	return out
}

func TestPasskeysListRenameDelete(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)

	ks, err := c.Passkeys(ctx)
	if err != nil || ks == nil || len(ks) != 0 {
		t.Fatalf("Passkeys before any = %#v, %v; want an empty list", ks, err)
	}
	first := e.srv.Clock.Now().Unix()
	e.addPasskey(c, "YubiKey")
	e.srv.Clock.Advance(time.Second) // the list is the oldest first
	e.addPasskey(c, "Laptop")
	ks, err = c.Passkeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := passkeyNames(ks); !slices.Equal(got, []string{"YubiKey", "Laptop"}) {
		t.Fatalf("Passkeys = %q", got)
	}
	for i, k := range ks {
		if len(k.ID) != 36 || k.Created != first+int64(i) || k.LastUsed != 0 || !slices.Equal(k.Transports, []string{"usb"}) {
			t.Errorf("passkey %+v: want a UUID, created at %d, never used, usb", k, first+int64(i))
		}
	}

	// The factor shows in the profile and in the admin's picture.
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.WebAuthn))
	md, err := e.admin.UserMetadata(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if md.MFAStatus[string(client.WebAuthn)] != client.FactorActive || md.MFAStatus[string(client.TwoFA)] != client.FactorOff {
		t.Fatalf("mfa_status = %v, want WEBAUTHN active, 2FA off", md.MFAStatus)
	}
	admin, err := e.admin.UserMetadata(ctx, e.adminID())
	if err != nil {
		t.Fatal(err)
	}
	if admin.MFAStatus[string(client.WebAuthn)] != client.FactorOff {
		t.Fatalf("the admin's mfa_status = %v, want WEBAUTHN off", admin.MFAStatus)
	}

	// Rename.
	if err := c.RenamePasskey(ctx, ks[1].ID, "  Work laptop "); err != nil {
		t.Fatalf("RenamePasskey: %v", err)
	}
	if ks, err = c.Passkeys(ctx); err != nil || !slices.Equal(passkeyNames(ks), []string{"YubiKey", "Work laptop"}) {
		t.Fatalf("Passkeys after the rename = %q, %v", passkeyNames(ks), err)
	}
	err = c.RenamePasskey(ctx, ks[0].ID, strings.Repeat("n", 65))
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
	wantIs(t, err, client.ErrInvalid)
	err = c.RenamePasskey(ctx, ks[0].ID, "")
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)
	err = c.RenamePasskey(ctx, "not-a-uuid", "x")
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	// Another user's passkey is no passkey of the caller's.
	other := e.login(e.newUser())
	e.addPasskey(other, "Other's")
	oks, err := other.Passkeys(ctx)
	if err != nil || len(oks) != 1 {
		t.Fatalf("the other user's passkeys = %v, %v", oks, err)
	}
	err = c.RenamePasskey(ctx, oks[0].ID, "mine now")
	wantAPIError(t, err, http.StatusNotFound, client.CodePasskeyNotFound)
	wantIs(t, err, client.ErrPasskeyNotFound, client.ErrNotFound)
	wantNotIs(t, err, client.ErrResetNotFound)
	err = c.DeletePasskey(ctx, oks[0].ID)
	wantIs(t, err, client.ErrPasskeyNotFound)
	if oks, _ = other.Passkeys(ctx); len(oks) != 1 || oks[0].Name != "Other's" {
		t.Fatalf("the other user's passkeys after the attempts = %v", oks)
	}

	// Delete: one, then the last; then the login owes nothing.
	if err := c.DeletePasskey(ctx, ks[0].ID); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	err = c.DeletePasskey(ctx, ks[0].ID)
	wantIs(t, err, client.ErrPasskeyNotFound)
	if ks, err = c.Passkeys(ctx); err != nil || !slices.Equal(passkeyNames(ks), []string{"Work laptop"}) {
		t.Fatalf("Passkeys after one deletion = %q, %v", passkeyNames(ks), err)
	}
	if err := c.DeletePasskey(ctx, ks[0].ID); err != nil {
		t.Fatalf("DeletePasskey (the last): %v", err)
	}
	if ks, err = c.Passkeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("Passkeys after deleting all = %v, %v", ks, err)
	}
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, nil)
	e.login(u)
}

// adminID is the id of the env's admin.
func (e *env) adminID() string {
	e.t.Helper()
	return e.profile(e.admin).ID
}

func TestLoginAtThePasskeyStep(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)
	a := e.addPasskey(c, "Key")

	// Without recovery codes: the step lists WEBAUTHN alone, and Login
	// ends at once, without asking.
	step, err := e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaPasskey || step.MfaCode.String() != "passkey" {
		t.Fatalf("PasswordLogin = %+v, %v; want Mfa-Code 4", step, err)
	}
	wantMethods(t, "Mfa-Methods", step.Methods, methods(client.WebAuthn))
	var r recorder
	resp, err := e.newClient().Login(ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return "", nil }))
	if resp != nil {
		t.Fatalf("Login = %+v, want an error", resp)
	}
	wantIs(t, err, client.ErrPasskeyRequired)
	var se *client.StepError
	if !errors.As(err, &se) || se.Step != client.MfaPasskey {
		t.Fatalf("Login: %v, want a *StepError at the passkey step", err)
	}
	for _, want := range []string{"passkey", "web browser", "recovery code", "no recovery codes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Login's error %q does not say %q", err, want)
		}
	}
	wantSteps(t, &r)

	// With recovery codes: asked for one, sent as RECOVERY; a wrong one is
	// asked again.
	codes, err := c.RecoveryCodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if step, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	wantMethods(t, "Mfa-Methods", step.Methods, methods(client.WebAuthn, client.Recovery))
	lc := e.newClient()
	r = recorder{}
	resp, err = lc.Login(ctx, u.Email, u.Password, r.prompt(func(pc promptCall) (string, error) {
		if pc.Retry == 0 {
			return "AAAA-BBBB-CCCC-DDDD", nil
		}
		return codes[0], nil
	}))
	e.checkLoggedIn(lc, resp, err)
	wantSteps(t, &r, "passkey", "passkey retry 1")
	if left := e.profile(lc).RecoveryCodesLeft; left != 9 {
		t.Fatalf("RecoveryCodesLeft = %d after a login with one, want 9", left)
	}

	// Giving up: "" or an error of the prompt's.
	r = recorder{}
	_, err = e.newClient().Login(ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return " ", nil }))
	wantIs(t, err, client.ErrPasskeyRequired)
	if strings.Contains(err.Error(), "no recovery codes") {
		t.Errorf("Login's error %q says there are no recovery codes", err)
	}
	wantSteps(t, &r, "passkey")
	errMine := errors.New("no terminal")
	_, err = e.newClient().Login(ctx, u.Email, u.Password, func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
		return "", errMine
	})
	wantIs(t, err, client.ErrPasskeyRequired, errMine)

	// SecondFactor with WEBAUTHN needs the credential, which a browser
	// makes: the SDK's body has none, which the server refuses.
	lc = e.newClient()
	if _, err := lc.PasswordLogin(ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	_, err = lc.SecondFactor(ctx, client.SessionLoginPostResp{AuthType: client.WebAuthn, Code: "x"})
	wantAPIError(t, err, http.StatusBadRequest, client.CodeInvalid)

	// The passkey still works where a browser answers (here the software
	// authenticator, over HTTP).
	lc = e.newClient()
	if _, err := lc.PasswordLogin(ctx, u.Email, u.Password); err != nil {
		t.Fatal(err)
	}
	status, opts := e.post(lc, "/session/login/passkey", nil)
	if status != 200 {
		t.Fatalf("login options: %d %s", status, opts)
	}
	as, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if status, b := e.post(lc, "/session/login", map[string]any{"auth_type": "WEBAUTHN", "credential": json.RawMessage(as)}); status != 200 {
		t.Fatalf("passkey login: %d %s", status, b)
	}
	ks, err := c.Passkeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].LastUsed == 0 {
		t.Fatalf("Passkeys after a login with it = %+v, %v; want it used", ks, err)
	}
}

// A user with an authenticator app and a passkey owes Mfa-Code 1, which
// lists both; Login answers it with the code, as before.
func TestLoginTOTPUserWithPasskey(t *testing.T) {
	e := newEnv(t)
	u := e.newUser()
	c := e.login(u)
	secret := e.enroll(c)
	c = e.login2FA(u, secret)
	e.addPasskey(c, "Key")
	wantMethods(t, "auth_methods", e.profile(c).AuthMethods, methods(client.TwoFA, client.WebAuthn))

	step, err := e.newClient().PasswordLogin(e.ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaTOTP {
		t.Fatalf("PasswordLogin = %+v, %v; want Mfa-Code 1", step, err)
	}
	wantMethods(t, "Mfa-Methods", step.Methods, methods(client.TwoFA, client.WebAuthn))
	lc := e.newClient()
	var r recorder
	resp, err := lc.Login(e.ctx, u.Email, u.Password, r.prompt(func(promptCall) (string, error) { return e.code(secret), nil }))
	e.checkLoggedIn(lc, resp, err)
	wantSteps(t, &r, "TOTP code")
}

// login2FA logs in with the password and a TOTP code of secret.
func (e *env) login2FA(u user, secret string) *client.Client {
	e.t.Helper()
	c := e.newClient()
	resp, err := c.Login(e.ctx, u.Email, u.Password, func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
		return e.code(secret), nil
	})
	e.checkLoggedIn(c, resp, err)
	return c
}

// The admin removes or resets a user's passkeys: every one goes and the
// user's sessions close; resetting 2FA leaves them.
func TestUserRemoveResetPasskeys(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	u := e.newUser()
	c := e.login(u)
	secret := e.enroll(c)
	c = e.login2FA(u, secret)
	e.addPasskey(c, "One")
	e.addPasskey(c, "Two")

	// Reset 2FA: the secret goes, the passkeys stay (and answer the step).
	if _, err := e.admin.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: []string{u.ID}, AuthType: client.TwoFA}); err != nil {
		t.Fatalf("UserResetMfaPost(2FA): %v", err)
	}
	users, err := e.admin.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(users, func(x client.UserResp) bool { return x.ID == u.ID })
	if i < 0 || users[i].MFAStatus[string(client.WebAuthn)] != client.FactorActive {
		t.Fatalf("Users: %+v, want %s's WEBAUTHN active", users, u.Email)
	}
	wantMethods(t, "auth_methods", users[i].AuthMethods, methods(client.TwoFA, client.WebAuthn))
	step, err := e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaPasskey {
		t.Fatalf("PasswordLogin after the 2FA reset = %+v, %v; want Mfa-Code 4", step, err)
	}

	// Remove the passkeys: all go; 2FA is still on, so the login enrolls.
	if _, err := e.admin.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: []string{u.ID}, AuthType: client.WebAuthn}); err != nil {
		t.Fatalf("UserRemoveMfaPost(WEBAUTHN): %v", err)
	}
	md, err := e.admin.UserMetadata(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if md.MFAStatus[string(client.WebAuthn)] != client.FactorOff {
		t.Fatalf("mfa_status after the removal = %v", md.MFAStatus)
	}
	step, err = e.newClient().PasswordLogin(ctx, u.Email, u.Password)
	if err != nil || step.MfaCode != client.MfaEnroll {
		t.Fatalf("PasswordLogin after the removal = %+v, %v; want Mfa-Code 3", step, err)
	}

	// Reset with WEBAUTHN deletes them too, and closes the sessions.
	lc := e.newClient()
	var secret2 string
	if _, err := lc.Login(ctx, u.Email, u.Password, func(ctx context.Context, _ client.MfaCode, g *client.TwoFAGenerateResp, _ int) (string, error) {
		secret2 = g.Secret
		return e.code(g.Secret), nil
	}); err != nil {
		t.Fatalf("Login (enrollment): %v", err)
	}
	e.addPasskey(lc, "Three")
	if _, err := e.admin.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: []string{u.ID}, AuthType: client.WebAuthn}); err != nil {
		t.Fatalf("UserResetMfaPost(WEBAUTHN): %v", err)
	}
	_, err = lc.Passkeys(ctx)
	wantIs(t, err, client.ErrUnauthorized)
	lc = e.login2FA(u, secret2)
	if ks, err := lc.Passkeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("Passkeys after the reset = %v, %v", ks, err)
	}
}

// On the wire: 503 code 30 (passkeys off) and 404 code 32 match their
// sentinels; the Mfa-Methods header is read with spaces or without.
func TestPasskeysWire(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case client.BasePath + "/profile/passkeys":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"msg":"passkeys are off","code":30}`)
		case client.BasePath + "/profile/passkeys/delete":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"msg":"no such passkey","code":32}`)
		case client.BasePath + "/session/login":
			w.Header().Set("Mfa-Code", "4")
			w.Header().Set("Mfa-Methods", "WEBAUTHN,RECOVERY")
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `{"session_id":"s"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = c.Passkeys(ctx)
	wantIs(t, err, client.ErrPasskeysOff, client.ErrUnavailable)
	wantNotIs(t, err, client.ErrMailOff)
	err = c.DeletePasskey(ctx, "6f1c1b9e-2d3a-4c5b-8e7f-0a1b2c3d4e5f")
	wantIs(t, err, client.ErrPasskeyNotFound, client.ErrNotFound)
	step, err := c.PasswordLogin(ctx, "a@example.com", "pw")
	if err != nil || step.MfaCode != client.MfaPasskey {
		t.Fatalf("PasswordLogin = %+v, %v", step, err)
	}
	wantMethods(t, "Mfa-Methods", step.Methods, methods(client.WebAuthn, client.Recovery))
}
