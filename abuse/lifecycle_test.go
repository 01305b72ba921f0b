package abuse_test

import (
	"encoding/json"
	"testing"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// An admin's change of a user, made through one instance, holds on the
// user's very next request through another: a demotion, a disabling, a new
// email (the old one no longer logs in). On SQLite and PostgreSQL, with
// two instances on one database.
func TestUserChangesHoldOnEveryInstance(t *testing.T) {
	forEachCluster(t, func(t *testing.T, cl *cluster) {
		a, b := cl.start(), cl.start()
		admin := mustFull(t, a.c, testserver.AdminEmail, testserver.AdminPassword)
		r := a.c.post("/user/create", admin, obj{"name": "u", "email": "u@a.example", "password": "u user phrase", "super_admin": "Y"})
		want(t, r, 200)
		var u struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(r.Body, &u) != nil || u.ID == "" {
			t.Fatalf("user/create: %s", r)
		}
		edit := func(body obj) {
			t.Helper()
			body["ids"] = []string{u.ID}
			want(t, a.c.post("/user/edit", admin, body), 200)
		}
		tok := mustFull(t, b.c, "u@a.example", "u user phrase")
		want(t, b.c.get("/user", tok), 200) // an admin, on instance b

		edit(obj{"super_admin": "N"})
		wantErr(t, cl.soon(func() resp { return b.c.get("/user", tok) }, 403), 403, mfad.CodeForbidden)

		edit(obj{"email": "renamed@a.example"})
		wantErr(t, b.c.login("u@a.example", "u user phrase"), 401, mfad.CodeBadCredentials)
		tok2 := mustFull(t, b.c, "renamed@a.example", "u user phrase")

		edit(obj{"status": "D"})
		for _, s := range []string{tok, tok2} {
			wantErr(t, cl.soon(func() resp { return b.c.get("/profile", s) }, 401), 401, mfad.CodeUnauthenticated)
		}
		wantErr(t, b.c.login("renamed@a.example", "u user phrase"), 401, mfad.CodeBadCredentials)
		edit(obj{"status": "A"})
		mustFull(t, b.c, "renamed@a.example", "u user phrase")
	})
}
