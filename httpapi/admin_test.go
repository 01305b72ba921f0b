package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// accountB makes a second account with an admin and one user.
func (e *env) accountB() (adminToken, userID string) {
	e.t.Helper()
	if _, _, err := e.svc.CreateAccount(context.Background(), "B", auth.NewUser{Name: "Admin B", Email: "admin-b@example.com", Password: "admin-b-password"}); err != nil {
		e.t.Fatal(err)
	}
	adminToken = e.fullLogin("admin-b@example.com", "admin-b-password")
	userID = e.createUser(adminToken, "user-b@example.com", "user-b-password", false)
	return adminToken, userID
}

func TestAdminSetMFA(t *testing.T) {
	e := newEnv(t)
	u1 := e.createUser(e.adminAToken, "u1@example.com", "u1-password", false)
	u2 := e.createUser(e.adminAToken, "u2@example.com", "u2-password", false)
	s1 := e.fullLogin("u1@example.com", "u1-password")
	s2 := e.fullLogin("u2@example.com", "u2-password")

	// 2FA: forced, sessions closed, enrollment owed at the next login.
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u1, u1, strings.ToUpper(u2)}, "auth_type": "2FA"}), 200)
	e.wantError(e.get("/profile", s1), 401, mfad.CodeUnauthenticated)
	e.wantError(e.get("/profile", s2), 401, mfad.CodeUnauthenticated)
	p := e.user(e.adminAToken, u1)
	if !slices.Equal(p.AuthMethods, []string{"2FA"}) || !slices.Equal(p.ForcedAuth, []string{"2FA"}) {
		t.Fatalf("after set-mfa 2FA: %+v", p)
	}
	lim := e.limitedLogin("u1@example.com", "u1-password", mfad.StepEnroll)
	// Enrollment reaches no full session before a code is confirmed.
	e.wantError(e.get("/profile", lim), 401, mfad.CodeFactorRequired)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "123456"}), 400, mfad.CodeEnrollment)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "PIN", "code": "1234"}), 400, mfad.CodeWrongAuthType)
	g := e.generate(lim)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": wrongCode(e.code(g.Secret, 0))}), 401, mfad.CodeWrongCode)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(g.Secret, 0)})
	e.wantStatus(r, 200)
	full := e.sessionID(r)
	// The user cannot turn off a forced factor.
	e.wantError(e.post("/profile/remove-mfa", full, map[string]string{"auth_type": "2FA"}), 400, mfad.CodeFactorForced)
	// The enrolled secret now guards the login; the enrollment step is spent.
	lim = e.limitedLogin("u1@example.com", "u1-password", mfad.StepTOTP)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(g.Secret, 0)}), 401, mfad.CodeWrongCode)

	// PIN: the code is the PIN; leading zeros are kept.
	e.wantError(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u2}, "auth_type": "PIN"}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u2}, "auth_type": "PIN", "code": "12"}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u2}, "auth_type": "PIN", "code": 1234}), 400, mfad.CodeBadJSON)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u2}, "auth_type": "PIN", "code": "0123"}), 200)
	if p := e.user(e.adminAToken, u2); !slices.Equal(p.ForcedAuth, []string{"2FA", "PIN"}) {
		t.Fatalf("forced_auth %v", p.ForcedAuth)
	}
	// u2 owes enrollment (2FA forced, no secret), then the PIN.
	lim = e.limitedLogin("u2@example.com", "u2-password", mfad.StepEnroll)
	g = e.generate(lim)
	r = e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(g.Secret, 0)})
	e.wantStatus(r, 207)
	if r.Header.Get("Mfa-Code") != "2" {
		t.Fatalf("Mfa-Code %q", r.Header.Get("Mfa-Code"))
	}
	pinLim := e.sessionID(r)
	e.wantError(e.post("/session/login", pinLim, map[string]string{"auth_type": "PIN", "code": "123"}), 401, mfad.CodeWrongCode)
	e.wantStatus(e.post("/session/login", pinLim, map[string]string{"auth_type": "PIN", "code": "0123"}), 200)

	// An admin may act on their own user.
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{e.adminA}, "auth_type": "PIN", "code": "5555"}), 200)
	e.wantError(e.get("/profile", e.adminAToken), 401, mfad.CodeUnauthenticated)
}

func TestAdminRemoveAndResetMFA(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(e.adminAToken, "r@example.com", "r-password", false)
	tok := e.fullLogin("r@example.com", "r-password")
	secret := e.enroll(tok)
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "2468"}), 200)

	// reset-mfa: the secret goes, 2FA stays, sessions close, enrollment owed.
	e.wantError(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "PIN"}), 400, mfad.CodeInvalid)
	lim := e.limitedLogin("r@example.com", "r-password", mfad.StepTOTP)
	e.wantStatus(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "2FA"}), 200)
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)
	// The old secret is never accepted once reset has answered.
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)}), 401, mfad.CodeUnauthenticated)
	if p := e.user(e.adminAToken, u); !slices.Equal(p.AuthMethods, []string{"2FA", "PIN"}) {
		t.Fatalf("auth_methods after reset %v", p.AuthMethods)
	}
	e.limitedLogin("r@example.com", "r-password", mfad.StepEnroll)

	// remove-mfa: the factor leaves both lists; idempotent.
	e.wantStatus(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "2FA"}), 200)
	e.wantStatus(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "2FA"}), 200)
	e.limitedLogin("r@example.com", "r-password", mfad.StepPIN)
	e.wantStatus(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "PIN"}), 200)
	if p := e.user(e.adminAToken, u); len(p.AuthMethods) != 0 || len(p.ForcedAuth) != 0 {
		t.Fatalf("after remove-mfa %+v", p)
	}
	e.fullLogin("r@example.com", "r-password")

	// With the account forcing 2FA, 2FA cannot be removed.
	e.wantStatus(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{"2FA"}}), 200)
	e.wantError(e.post("/user/remove-mfa", e.adminAToken, map[string]any{"ids": []string{u}, "auth_type": "2FA"}), 400, mfad.CodeFactorForced)
}

func TestAdminAuthorization(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(e.adminAToken, "user@example.com", "user-password", false)
	userTok := e.fullLogin("user@example.com", "user-password")
	adminB, userB := e.accountB()

	// A non-admin gets 403 everywhere, about themself or others, with no change.
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/user/set-mfa", map[string]any{"ids": []string{u}, "auth_type": "PIN", "code": "1234"}},
		{"POST", "/user/remove-mfa", map[string]any{"ids": []string{u}, "auth_type": "PIN"}},
		{"POST", "/user/reset-mfa", map[string]any{"ids": []string{u}, "auth_type": "2FA"}},
		{"POST", "/user/create", map[string]any{"name": "x", "email": "x@example.com", "password": "x-password", "super_admin": "Y"}},
		{"GET", "/user", nil},
		{"GET", "/user/metadata/" + u, nil},
		{"POST", "/user/delete", map[string]any{"ids": []string{e.adminA}}},
		{"GET", "/settings", nil},
		{"POST", "/settings/set", map[string]any{"auth_methods": []string{"2FA"}}},
	} {
		r := e.do(req{Method: rt.method, Path: rt.path, Token: userTok, Body: rt.body})
		e.wantError(r, 403, mfad.CodeForbidden)
	}
	if p := e.profile(userTok); len(p.AuthMethods) != 0 || p.SuperAdmin != "N" {
		t.Fatalf("a refused call changed the user: %+v", p)
	}
	// Extra fields grant nothing.
	e.wantError(e.do(req{Method: "POST", Path: "/user/set-mfa", Token: userTok, Body: map[string]any{"ids": []string{u}, "auth_type": "PIN", "code": "1234", "super_admin": "Y"}}), 403, mfad.CodeForbidden)
	e.wantStatus(e.post("/profile/set-mfa", userTok, map[string]any{"auth_type": "PIN", "code": "1357", "user_id": e.adminA, "super_admin": "Y", "verified": true}), 200)
	if p := e.user(e.adminAToken, e.adminA); len(p.AuthMethods) != 0 {
		t.Fatalf("user_id in the body changed another user: %+v", p)
	}
	if p := e.profile(userTok); p.SuperAdmin != "N" || !slices.Equal(p.AuthMethods, []string{"PIN"}) {
		t.Fatalf("profile %+v", p)
	}

	// Another account's user answers exactly like a random UUID; mixed lists
	// change nothing.
	foreign := e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{userB}, "auth_type": "2FA"})
	random := e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uuid.NewString()}, "auth_type": "2FA"})
	e.wantError(foreign, 400, mfad.CodeUnknownUsers)
	if string(foreign.Body) != string(random.Body) {
		t.Fatalf("foreign %s vs random %s", foreign.Body, random.Body)
	}
	for _, path := range []string{"/user/set-mfa", "/user/remove-mfa", "/user/reset-mfa", "/user/delete"} {
		e.wantError(e.post(path, e.adminAToken, map[string]any{"ids": []string{u, userB}, "auth_type": "2FA"}), 400, mfad.CodeUnknownUsers)
	}
	if p := e.user(e.adminAToken, u); !slices.Equal(p.AuthMethods, []string{"PIN"}) {
		t.Fatalf("a rejected mixed request changed user A: %+v", p)
	}
	if p := e.user(adminB, userB); len(p.AuthMethods) != 0 {
		t.Fatalf("account B's user changed: %+v", p)
	}
	e.wantError(e.get("/user/metadata/"+userB, e.adminAToken), 404, mfad.CodeUserNotFound)
	e.wantError(e.get("/user/metadata/"+uuid.NewString(), e.adminAToken), 404, mfad.CodeUserNotFound)
	e.wantError(e.get("/user/metadata/not-a-uuid", e.adminAToken), 400, mfad.CodeInvalid)
	var list []profile
	r := e.get("/user", adminB)
	e.wantStatus(r, 200)
	json.Unmarshal(r.Body, &list)
	if len(list) != 2 {
		t.Fatalf("account B lists %d users, want 2", len(list))
	}
}

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.post("/user/create", e.adminAToken, map[string]any{"name": "New", "email": "new@example.com", "password": "new-password"})
	e.wantStatus(r, 200)
	var u struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		Email       string   `json:"email"`
		SuperAdmin  string   `json:"super_admin"`
		Status      string   `json:"status"`
		Created     int64    `json:"created"`
		Modified    int64    `json:"modified"`
		LastLogin   *int64   `json:"last_login"`
		AuthMethods []string `json:"auth_methods"`
		ForcedAuth  []string `json:"forced_auth"`
	}
	if err := json.Unmarshal(r.Body, &u); err != nil {
		t.Fatal(err)
	}
	if u.Name != "New" || u.SuperAdmin != "N" || u.Status != "A" || u.Created != e.clock.Now().Unix() || u.Modified != u.Created ||
		u.LastLogin == nil || *u.LastLogin != 0 || u.AuthMethods == nil || u.ForcedAuth == nil {
		t.Fatalf("created user %s", r.Body)
	}
	e.wantError(e.post("/user/create", e.adminAToken, map[string]any{"name": "Dup", "email": "NEW@example.com", "password": "dup-password"}), 400, mfad.CodeEmailTaken)
	for _, bad := range []map[string]any{
		{"email": "a@example.com", "password": "password-1"},
		{"name": "", "email": "a@example.com", "password": "password-1"},
		{"name": "A", "email": "not-an-email", "password": "password-1"},
		{"name": "A", "email": "a@example.com", "password": "short"},
		{"name": "A", "email": "a@example.com", "password": "password-1", "super_admin": "yes"},
	} {
		e.wantError(e.post("/user/create", e.adminAToken, bad), 400, mfad.CodeInvalid)
	}

	tok := e.fullLogin("new@example.com", "new-password")
	if p := e.user(e.adminAToken, u.ID); p.LastLogin == nil || *p.LastLogin != e.clock.Now().Unix() {
		t.Fatalf("last_login not recorded: %+v", p)
	}
	e.wantError(e.post("/user/delete", e.adminAToken, map[string]any{"ids": []string{u.ID, e.adminA}}), 400, mfad.CodeCannotDeleteSelf)
	r = e.post("/user/delete", e.adminAToken, map[string]any{"ids": []string{u.ID}})
	e.wantStatus(r, 200)
	if !strings.Contains(string(r.Body), u.ID) {
		t.Fatalf("delete answer %s", r.Body)
	}
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)
	e.wantError(e.get("/user/metadata/"+u.ID, e.adminAToken), 404, mfad.CodeUserNotFound)
	e.wantError(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{u.ID}, "auth_type": "2FA"}), 400, mfad.CodeUnknownUsers)
	e.wantError(e.passwordLogin("new@example.com", "new-password"), 401, mfad.CodeBadCredentials)

	// A second admin can act on the account.
	e.createUser(e.adminAToken, "admin2@example.com", "admin2-password", true)
	e.wantStatus(e.get("/user", e.fullLogin("admin2@example.com", "admin2-password")), 200)
}

func TestAccountForces2FA(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "f@example.com", "f-password", false)
	userTok := e.fullLogin("f@example.com", "f-password")
	r := e.get("/settings", e.adminAToken)
	e.wantStatus(r, 200)
	if string(r.Body) != `{"auth_methods":[]}`+"\n" {
		t.Fatalf("settings %s", r.Body)
	}
	e.wantError(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{"PIN"}}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/settings/set", e.adminAToken, map[string]any{}), 400, mfad.CodeInvalid)
	r = e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{"2FA"}})
	e.wantStatus(r, 200)
	if string(r.Body) != `{"auth_methods":["2FA"]}`+"\n" {
		t.Fatalf("settings/set %s", r.Body)
	}
	// No session is closed; the forced factor shows and cannot be removed.
	p := e.profile(userTok)
	if !slices.Equal(p.AuthMethods, []string{"2FA"}) || !slices.Equal(p.ForcedAuth, []string{"2FA"}) {
		t.Fatalf("profile under forced 2FA %+v", p)
	}
	e.wantError(e.post("/profile/remove-mfa", userTok, map[string]string{"auth_type": "2FA"}), 400, mfad.CodeFactorForced)
	e.limitedLogin("f@example.com", "f-password", mfad.StepEnroll)
	e.limitedLogin(adminAEmail, adminAPassword, mfad.StepEnroll)

	e.wantStatus(e.post("/settings/set", e.adminAToken, map[string]any{"auth_methods": []string{}}), 200)
	e.fullLogin("f@example.com", "f-password")
}
