package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mfad/mfad"
)

type activity struct {
	Activity []struct {
		ID      int64  `json:"id"`
		Time    int64  `json:"time"`
		Event   string `json:"event"`
		Outcome string `json:"outcome"`
		ActorID string `json:"actor_id"`
		UserID  string `json:"user_id"`
		Addr    string `json:"addr"`
		Detail  string `json:"detail"`
	} `json:"activity"`
	Next int64 `json:"next"`
}

func (e *env) activity(token, query string) activity {
	e.t.Helper()
	r := e.get("/tracking/activity"+query, token)
	e.wantStatus(r, 200)
	var a activity
	if err := json.Unmarshal(r.Body, &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(e.adminAToken, "audited@example.com", "audited-password", false)
	e.wantStatus(e.passwordLogin("audited@example.com", "wrong-password"), 401)
	tok := e.fullLogin("audited@example.com", "audited-password")
	secret := e.enroll(tok)
	lim := e.limitedLogin("audited@example.com", "audited-password", mfad.StepTOTP)
	e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": "000000"}), 401)
	e.wantStatus(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": e.code(secret, 0)}), 200)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "PIN", "code": "9753"}), 200)
	e.wantStatus(e.post("/user/reset-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "2FA"}), 200)
	for i := 0; i < 5; i++ {
		e.wantStatus(e.passwordLogin("audited@example.com", "wrong"), 401)
	}
	e.wantStatus(e.passwordLogin("audited@example.com", "audited-password"), 429)

	a := e.activity(e.adminAToken, "?limit=500")
	if a.Next != 0 {
		t.Fatalf("one page expected, next %d", a.Next)
	}
	type key struct{ event, outcome, actor, user string }
	got := map[key]int{}
	var last int64 = 1 << 62
	for _, it := range a.Activity {
		if it.ID >= last {
			t.Fatalf("not newest first: %d after %d", it.ID, last)
		}
		last = it.ID
		if it.Addr != "127.0.0.1" || it.Time != e.clock.Now().Unix() && it.Time > e.clock.Now().Unix() {
			t.Fatalf("entry %+v: addr or time wrong", it)
		}
		got[key{it.Event, it.Outcome, it.ActorID, it.UserID}]++
	}
	for _, want := range []struct {
		k key
		n int
	}{
		{key{"admin.user_created", "success", e.adminA, uid}, 1},
		{key{"login.password.fail", "failure", uid, uid}, 6},
		{key{"login.ok", "success", uid, uid}, 2},
		{key{"factor.2fa.generated", "success", uid, uid}, 1},
		{key{"factor.set", "success", uid, uid}, 1},
		{key{"login.password.ok", "success", uid, uid}, 1},
		{key{"login.factor.fail", "failure", uid, uid}, 1},
		{key{"admin.set_mfa", "success", e.adminA, uid}, 1},
		{key{"admin.reset_mfa", "success", e.adminA, uid}, 1},
		// The lock's start is in the trail; the password logins refused
		// while it holds are not (they are logged and counted alike for
		// emails of users and of nobody, so their time tells nothing).
		{key{"login.lockout", "failure", uid, uid}, 1},
		{key{"login.locked", "failure", uid, uid}, 0},
	} {
		if got[want.k] != want.n {
			t.Errorf("%v: %d entries, want %d (all: %v)", want.k, got[want.k], want.n, got)
		}
	}
	// No secret in the trail.
	raw := e.get("/tracking/activity?limit=500", e.adminAToken).String()
	for _, secret := range []string{"audited-password", "9753", secret, tok, lim} {
		if strings.Contains(raw, secret) {
			t.Fatalf("the trail holds a secret (%q)", secret)
		}
	}

	// Pages: newest first, each entry once.
	seen := map[int64]bool{}
	query := "?limit=3"
	for pages := 0; ; pages++ {
		p := e.activity(e.adminAToken, query)
		for _, it := range p.Activity {
			if seen[it.ID] {
				t.Fatalf("entry %d on two pages", it.ID)
			}
			seen[it.ID] = true
		}
		if p.Next == 0 {
			break
		}
		if len(p.Activity) != 3 || pages > 100 {
			t.Fatalf("page of %d entries with a next cursor", len(p.Activity))
		}
		query = fmt.Sprintf("?limit=3&before=%d", p.Next)
	}
	if len(seen) != len(a.Activity) {
		t.Fatalf("paging saw %d entries, one page %d", len(seen), len(a.Activity))
	}

	// Admins only, their own account only; bad parameters are 400.
	e.createUser(e.adminAToken, "plain@example.com", "plain-password", false)
	e.wantError(e.get("/tracking/activity", e.fullLogin("plain@example.com", "plain-password")), 403, mfad.CodeForbidden)
	adminB, _ := e.accountB()
	for _, it := range e.activity(adminB, "?limit=500").Activity {
		if it.UserID == uid || it.ActorID == e.adminA {
			t.Fatalf("account B sees account A's entry %+v", it)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?limit=x", "?before=0", "?before=-1", "?before=x"} {
		e.wantError(e.get("/tracking/activity"+q, e.adminAToken), 400, mfad.CodeInvalid)
	}
}
