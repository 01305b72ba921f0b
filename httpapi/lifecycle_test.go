package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/mfad/mfad"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// A user changes their own password: the current one, base64-encoded, must
// be right; the new one must follow the policy; every other session closes.
func TestSetPassword(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "changer@example.com", "first secret phrase", false)
	tok := e.fullLogin("changer@example.com", "first secret phrase")
	other := e.fullLogin("changer@example.com", "first secret phrase")

	for _, c := range []struct {
		name    string
		current string
		next    string
		code    mfad.Code
	}{
		{"too short", "first secret phrase", "short", mfad.CodeInvalid},
		{"common", "first secret phrase", "password123", mfad.CodeInvalid},
		{"the email", "first secret phrase", "Changer@Example.com", mfad.CodeInvalid},
		{"the local part", "first secret phrase", "changer", mfad.CodeInvalid},
	} {
		r := e.post("/profile/set-password", tok, map[string]string{"password": b64(c.current), "new_password": b64(c.next)})
		e.wantError(r, 400, c.code)
	}
	e.wantError(e.post("/profile/set-password", tok, map[string]string{"password": "not base64!", "new_password": b64("second secret phrase")}), 400, mfad.CodeInvalid)
	e.wantError(e.post("/profile/set-password", tok, map[string]string{"password": b64("first secret phrase")}), 400, mfad.CodeInvalid)

	r := e.post("/profile/set-password", tok, map[string]string{"password": b64("first secret phrase"), "new_password": b64("second secret phrase")})
	e.wantStatus(r, 200)
	var resp struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil || resp.Email != "changer@example.com" {
		t.Fatalf("answer %s", r.Body)
	}
	e.wantStatus(e.get("/profile", tok), 200)
	e.wantError(e.get("/profile", other), 401, mfad.CodeUnauthenticated)
	e.wantError(e.passwordLogin("changer@example.com", "first secret phrase"), 401, mfad.CodeBadCredentials)
	e.fullLogin("changer@example.com", "second secret phrase")
	// Unpadded base64 is taken too.
	r = e.post("/profile/set-password", tok, map[string]string{
		"password":     base64.RawStdEncoding.EncodeToString([]byte("second secret phrase")),
		"new_password": base64.RawStdEncoding.EncodeToString([]byte("third secret phrase")),
	})
	e.wantStatus(r, 200)

	// A wrong current password is 403 and counts on the email: the fifth
	// locks it, then even the right password gets 429.
	for i := range 5 {
		r := e.post("/profile/set-password", tok, map[string]string{"password": b64("wrong guess " + string(rune('a'+i))), "new_password": b64("fourth secret phrase")})
		e.wantError(r, 403, mfad.CodeWrongPassword)
	}
	e.wantError(e.post("/profile/set-password", tok, map[string]string{"password": b64("third secret phrase"), "new_password": b64("fourth secret phrase")}), 429, mfad.CodeTooManyAttempts)
	e.wantError(e.passwordLogin("changer@example.com", "third secret phrase"), 429, mfad.CodeTooManyAttempts)
}

// An admin edits users: name, email, rights and status, all or nothing,
// with effect on the users' very next request.
func TestUserEdit(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "edited@example.com", "edited user phrase", false)
	other := e.createUser(e.adminAToken, "other@example.com", "other user phrase", false)
	tok := e.fullLogin("edited@example.com", "edited user phrase")
	edit := func(body map[string]any) resp {
		t.Helper()
		return e.post("/user/edit", e.adminAToken, body)
	}
	ok := func(body map[string]any) {
		t.Helper()
		r := edit(body)
		e.wantStatus(r, 200)
		var job struct {
			JobID string `json:"job_id"`
		}
		if json.Unmarshal(r.Body, &job) != nil {
			t.Fatalf("answer %s", r.Body)
		}
		if _, okID := mfad.ParseUUID(job.JobID); !okID {
			t.Fatalf("job_id %q is not a UUID", job.JobID)
		}
	}

	ok(map[string]any{"ids": []string{uid}, "name": "  Edited Name  "})
	if u := e.user(e.adminAToken, uid); u.Status != "A" {
		t.Fatalf("status %q", u.Status)
	}
	// A new email: the user logs in with it, no longer with the old one.
	ok(map[string]any{"ids": []string{uid}, "email": "Renamed@Example.com"})
	e.wantError(e.passwordLogin("edited@example.com", "edited user phrase"), 401, mfad.CodeBadCredentials)
	e.fullLogin("renamed@example.com", "edited user phrase")
	e.wantError(edit(map[string]any{"ids": []string{uid, other}, "email": "both@example.com"}), 400, mfad.CodeInvalid)
	e.wantError(edit(map[string]any{"ids": []string{other}, "email": "RENAMED@example.com"}), 400, mfad.CodeEmailTaken)
	e.wantError(edit(map[string]any{"ids": []string{uid}, "email": "\u212Aen@example.com"}), 400, mfad.CodeInvalid)
	e.wantError(edit(map[string]any{"ids": []string{uid}}), 400, mfad.CodeInvalid)
	e.wantError(edit(map[string]any{"ids": []string{uid}, "super_admin": "yes"}), 400, mfad.CodeInvalid)
	e.wantError(edit(map[string]any{"ids": []string{uid}, "status": "X"}), 400, mfad.CodeInvalid)

	// Promotion and demotion count from the next request, on the same session.
	e.wantError(e.get("/user", tok), 403, mfad.CodeForbidden)
	ok(map[string]any{"ids": []string{uid}, "super_admin": "Y"})
	e.wantStatus(e.get("/user", tok), 200)
	ok(map[string]any{"ids": []string{uid}, "super_admin": "N"})
	e.wantError(e.get("/user", tok), 403, mfad.CodeForbidden)

	// Disabled: the session is closed and a login answers as a wrong password.
	wrong := e.passwordLogin("renamed@example.com", "not the password")
	ok(map[string]any{"ids": []string{uid}, "status": "D"})
	e.wantError(e.get("/profile", tok), 401, mfad.CodeUnauthenticated)
	r := e.passwordLogin("renamed@example.com", "edited user phrase")
	e.wantError(r, 401, mfad.CodeBadCredentials)
	if string(r.Body) != string(wrong.Body) {
		t.Fatalf("a disabled user's login: %s, a wrong password: %s", r.Body, wrong.Body)
	}
	if u := e.user(e.adminAToken, uid); u.Status != "D" {
		t.Fatalf("status %q, want D", u.Status)
	}
	ok(map[string]any{"ids": []string{uid}, "status": "A"})
	tok = e.fullLogin("renamed@example.com", "edited user phrase")

	// An admin cannot demote or disable themself; an id of nobody fails the
	// whole request.
	e.wantError(edit(map[string]any{"ids": []string{e.adminA}, "super_admin": "N"}), 400, mfad.CodeCannotDeleteSelf)
	e.wantError(edit(map[string]any{"ids": []string{e.adminA, uid}, "status": "D"}), 400, mfad.CodeCannotDeleteSelf)
	ok(map[string]any{"ids": []string{e.adminA}, "name": "Admin renamed", "super_admin": "Y"})
	e.wantError(edit(map[string]any{"ids": []string{uid, "00000000-0000-4000-8000-000000000000"}, "name": "Nobody"}), 400, mfad.CodeUnknownUsers)
	if u := e.user(e.adminAToken, uid); u.Name != "Edited Name" {
		t.Fatalf("a refused edit changed the name to %q", u.Name)
	}
	// Admins only.
	e.wantError(e.post("/user/edit", tok, map[string]any{"ids": []string{uid}, "name": "Self"}), 403, mfad.CodeForbidden)
}

// An admin lifts a lockout.
func TestUserUnlock(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "locked@example.com", "locked user phrase", false)
	for range 5 {
		e.wantError(e.passwordLogin("locked@example.com", "a wrong guess"), 401, mfad.CodeBadCredentials)
	}
	e.wantError(e.passwordLogin("locked@example.com", "locked user phrase"), 429, mfad.CodeTooManyAttempts)
	e.wantError(e.post("/user/unlock", e.adminAToken, map[string]any{"ids": []string{uid, "00000000-0000-4000-8000-000000000000"}}), 400, mfad.CodeUnknownUsers)
	e.wantError(e.passwordLogin("locked@example.com", "locked user phrase"), 429, mfad.CodeTooManyAttempts)
	e.wantStatus(e.post("/user/unlock", e.adminAToken, map[string]any{"ids": []string{uid}}), 200)
	e.fullLogin("locked@example.com", "locked user phrase")
}
