package abuse_test

// Authorization: checklist items 14 to 17.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// 14. A non-admin on every admin endpoint, against themself or others: 403,
// no change; claiming super_admin in a body changes nothing.
func TestItem14NonAdminOnAdminEndpoints(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		all := routes(t, f.c)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		settingsA := string(f.c.get("/settings", f.adminA.Token).Body)
		n := 0
		for _, caller := range []*user{f.plain, f.totp, f.pin, f.userB} {
			for _, rt := range all {
				if !rt.Admin {
					continue
				}
				for _, target := range []*user{caller, f.plain, f.adminA, f.adminB, f.userB} {
					r := rt.send(f.c, caller.Token, target.ID)
					if r.Status != 403 {
						t.Fatalf("non-admin %s on %s against %s: %s", caller.Email, rt, target.Email, r)
					}
					wantErr(t, r, 403, mfad.CodeForbidden)
					n++
				}
			}
			// Still not an admin.
			if p := getProfile(t, f.c, "/profile", caller.Token); p.SuperAdmin != "N" {
				t.Fatalf("%s became an admin: %+v", caller.Email, p)
			}
		}
		if n < 4*5*10 {
			t.Fatalf("only %d requests: too few admin endpoints found", n)
		}
		t.Logf("%d non-admin requests on admin endpoints answered 403", n)
		f.unchanged(f.adminA, beforeA, "non-admins")
		f.unchanged(f.adminB, beforeB, "non-admins")
		if got := string(f.c.get("/settings", f.adminA.Token).Body); got != settingsA {
			t.Fatalf("settings changed by non-admins: %s", got)
		}
		// The intruder user was never created.
		wantErr(t, f.c.login("intruder@x.example", "intruder-password"), 401, mfad.CodeBadCredentials)
	})
}

// 15. The admin of A with ids of B's users: the same answer, byte for byte,
// as for a random UUID; B unchanged.
func TestItem15CrossAccountLooksLikeRandomUUID(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		f.enroll(f.userB)
		f.setPIN(f.userB, "55667788")
		beforeB := f.snapshot(f.adminB)
		calls := []struct {
			name string
			do   func(id string) resp
		}{
			{"set-mfa 2FA", func(id string) resp {
				return f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{id}, "auth_type": "2FA"})
			}},
			{"set-mfa PIN", func(id string) resp {
				return f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{id}, "auth_type": "PIN", "code": "1234"})
			}},
			{"remove-mfa 2FA", func(id string) resp {
				return f.c.post("/user/remove-mfa", f.adminA.Token, obj{"ids": []string{id}, "auth_type": "2FA"})
			}},
			{"remove-mfa PIN", func(id string) resp {
				return f.c.post("/user/remove-mfa", f.adminA.Token, obj{"ids": []string{id}, "auth_type": "PIN"})
			}},
			{"reset-mfa", func(id string) resp {
				return f.c.post("/user/reset-mfa", f.adminA.Token, obj{"ids": []string{id}, "auth_type": "2FA"})
			}},
			{"delete", func(id string) resp { return f.c.post("/user/delete", f.adminA.Token, obj{"ids": []string{id}}) }},
			{"metadata", func(id string) resp { return f.c.get("/user/metadata/"+id, f.adminA.Token) }},
			{"metadata upper case", func(id string) resp { return f.c.get("/user/metadata/"+strings.ToUpper(id), f.adminA.Token) }},
		}
		for _, c := range calls {
			random := c.do(uuid.NewString())
			if random.Status != 400 && random.Status != 404 {
				t.Fatalf("%s with a random UUID: %s", c.name, random)
			}
			for _, id := range []string{f.userB.ID, f.adminB.ID} {
				b := c.do(id)
				if b.Status != random.Status || string(b.Body) != string(random.Body) {
					t.Fatalf("%s: B's user answers %s, a random UUID %s", c.name, b, random)
				}
				for _, h := range []string{"Content-Type", "Content-Length", "Retry-After"} {
					if b.Header.Get(h) != random.Header.Get(h) {
						t.Fatalf("%s: header %s %q for B's user, %q for a random UUID", c.name, h, b.Header.Get(h), random.Header.Get(h))
					}
				}
			}
		}
		f.unchanged(f.adminB, beforeB, "the admin of A")
		// A's list shows nothing of B.
		r := f.c.get("/user", f.adminA.Token)
		for _, id := range []string{f.userB.ID, f.adminB.ID, f.accountB} {
			if strings.Contains(string(r.Body), id) {
				t.Fatalf("GET /user of A shows %s of account B", id)
			}
		}
		// Neither audit trail shows what the other account's people did.
		for _, side := range []struct {
			viewer  *user
			foreign []string
		}{
			{f.adminA, []string{f.adminB.ID, f.userB.ID}},
			{f.adminB, []string{f.adminA.ID, f.plain.ID, f.totp.ID, f.pin.ID}},
		} {
			r := f.c.get("/tracking/activity?limit=500", side.viewer.Token)
			if r.Status == http.StatusNotFound {
				break // no audit trail in this build
			}
			want(t, r, 200)
			var page struct {
				Activity []struct {
					ActorID string `json:"actor_id"`
					Event   string `json:"event"`
				} `json:"activity"`
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatalf("activity: %v", err)
			}
			for _, e := range page.Activity {
				if slices.Contains(side.foreign, e.ActorID) {
					t.Fatalf("the audit trail of %s shows %s by %s of the other account", side.viewer.Email, e.Event, e.ActorID)
				}
			}
		}
		// B's user still logs in with both factors.
		r = f.c.factor(f.limited(f.userB, mfad.StepTOTP), "2FA", f.code(f.userB, 0))
		want(t, r, 207)
		want(t, f.c.factor(sid(r), "PIN", f.userB.PIN), 200)
	})
}

// 16. A mixed list (an id of A and an id of B): rejected whole, nothing
// changes on either side.
func TestItem16MixedListRejectedWhole(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		lists := [][]string{
			{f.plain.ID, f.userB.ID},
			{f.userB.ID, f.plain.ID},
			{f.plain.ID, f.pin.ID, f.totp.ID, f.userB.ID},
			{f.plain.ID, f.plain.ID, f.adminB.ID},
			{f.plain.ID, uuid.NewString()},
		}
		for _, ids := range lists {
			for _, c := range []struct {
				path string
				body obj
			}{
				{"/user/set-mfa", obj{"ids": ids, "auth_type": "2FA"}},
				{"/user/set-mfa", obj{"ids": ids, "auth_type": "PIN", "code": "9876"}},
				{"/user/remove-mfa", obj{"ids": ids, "auth_type": "PIN"}},
				{"/user/remove-mfa", obj{"ids": ids, "auth_type": "2FA"}},
				{"/user/reset-mfa", obj{"ids": ids, "auth_type": "2FA"}},
				{"/user/delete", obj{"ids": ids}},
			} {
				wantErr(t, f.c.post(c.path, f.adminA.Token, c.body), 400, mfad.CodeUnknownUsers)
				// The same list from B's side (B's admin deleting a list with
				// their own id is refused for that first: code 26).
				wantErrIn(t, f.c.post(c.path, f.adminB.Token, c.body), 400, mfad.CodeUnknownUsers, mfad.CodeCannotDeleteSelf)
			}
		}
		f.unchanged(f.adminA, beforeA, "mixed lists")
		f.unchanged(f.adminB, beforeB, "mixed lists")
		// The sessions of the users named were not closed either.
		for _, u := range []*user{f.plain, f.pin, f.totp, f.userB} {
			getProfile(t, f.c, "/profile", u.Token)
		}
	})
}

// 17. Admin endpoints with an admin's limited session: 401.
func TestItem17AdminEndpointsWithLimitedSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		a2 := f.newUser(f.adminA, "admin2@a.example", true)
		f.enroll(a2)
		f.setPIN(a2, "86420975")
		all := routes(t, f.c)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		lim := f.limited(a2, mfad.StepTOTP)
		r := f.c.factor(f.limited(a2, mfad.StepTOTP), "2FA", f.code(a2, 0))
		want(t, r, 207)
		pinLim := sid(r)
		for _, tok := range []string{lim, pinLim} {
			for _, rt := range all {
				if !rt.Admin {
					continue
				}
				for _, target := range []string{f.plain.ID, a2.ID, f.userB.ID} {
					r := rt.send(f.c, tok, target)
					if r.Status != 401 {
						t.Fatalf("admin's limited token on %s: %s", rt, r)
					}
					wantErr(t, r, 401, mfad.CodeFactorRequired)
				}
			}
		}
		f.unchanged(f.adminA, beforeA, "an admin's limited session")
		f.unchanged(f.adminB, beforeB, "an admin's limited session")
		// Finished, the login is an admin's.
		r = f.c.factor(pinLim, "PIN", a2.PIN)
		want(t, r, 200)
		want(t, f.c.get("/user", sid(r)), 200)
	})
}
