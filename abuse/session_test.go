package abuse_test

// Session lifecycle: checklist items 29 to 33.

import (
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// state tells what a token is now: "full", "limited" or "dead", from GET
// /profile (a limited session answers 401 code 12, a dead one 401 code 10).
func state(t testing.TB, c *client, token string) string {
	t.Helper()
	r := c.get("/profile", token)
	code, _ := errorCode(r)
	switch {
	case r.Status == 200:
		return "full"
	case r.Status == 401 && code == int(mfad.CodeFactorRequired):
		return "limited"
	case r.Status == 401 && code == int(mfad.CodeUnauthenticated):
		return "dead"
	}
	t.Fatalf("token state: %s", r)
	return ""
}

func wantState(t testing.TB, c *client, what, token, want string) {
	t.Helper()
	if got := state(t, c, token); got != want {
		t.Fatalf("%s: session %s, want %s", what, got, want)
	}
}

// 29. 1,000 session ids: unique, version 4 of RFC 4122, and random: each of
// the 122 random bits is set in 40% to 60% of them, and consecutive ids
// share no structure (no counter, no timestamp).
func TestItem29SessionIDsAreRandom(t *testing.T) {
	// Concurrent logins of one user count (and then release) reservations
	// against its lockout: keep that out of the way.
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		const n, workers = 1000, 4
		ids := make([]string, n)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					u, step := f.plain, mfad.StepNone
					if i%2 == 1 {
						u, step = f.totp, mfad.StepTOTP // limited ids come from the same source
					}
					r := f.c.login(u.Email, u.Password)
					if (step == mfad.StepNone && r.Status != 200) || (step != mfad.StepNone && r.Status != 207) {
						f.c.t.Errorf("login: %s", r)
						return
					}
					ids[i] = sid(r)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		seen := map[string]bool{}
		var ones [128]int
		minDist := 128
		var prev []byte
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("session id %s issued twice", id)
			}
			seen[id] = true
			if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' || id != strings.ToLower(id) {
				t.Fatalf("session id %q is not a canonical UUID", id)
			}
			b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
			if err != nil || len(b) != 16 {
				t.Fatalf("session id %q: %v", id, err)
			}
			if b[6]>>4 != 4 {
				t.Fatalf("session id %s: version %d, want 4", id, b[6]>>4)
			}
			if b[8]>>6 != 2 {
				t.Fatalf("session id %s: variant bits %b, want 10 (RFC 4122)", id, b[8]>>6)
			}
			for i := range 128 {
				if b[i/8]>>(7-i%8)&1 == 1 {
					ones[i]++
				}
			}
			if prev != nil {
				d := 0
				for i := range b {
					d += bits.OnesCount8(b[i] ^ prev[i])
				}
				minDist = min(minDist, d)
			}
			prev = b
		}
		lo, hi := 1.0, 0.0
		for i := range 128 {
			if i/4 == 12 || i == 64 || i == 65 { // version nibble, variant bits
				continue
			}
			p := float64(ones[i]) / n
			lo, hi = min(lo, p), max(hi, p)
			if p < 0.4 || p > 0.6 {
				t.Fatalf("bit %d set in %.1f%% of %d session ids", i, 100*p, n)
			}
		}
		if minDist < 25 {
			t.Fatalf("two consecutive session ids differ in only %d bits", minDist)
		}
		t.Logf("FIGURE session-ids: %s: %d ids unique, all version 4 / RFC 4122 variant; each of the 122 random bits set in %.1f%% to %.1f%% of them; consecutive ids differ in %d bits at least (61 expected)",
			storeName(t), n, 100*lo, 100*hi, minDist)
	})
}

// 30. Each login step issues a new id and the one before dies: password to
// TOTP to PIN to full, and enrollment to full.
func TestItem30EachStepIssuesANewID(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		u := f.newUser(f.adminA, "both@a.example", false)
		f.enroll(u)
		f.setPIN(u, "31415926")
		lim1 := f.limited(u, mfad.StepTOTP)
		r := f.c.factor(lim1, "2FA", f.code(u, 0))
		want(t, r, 207)
		lim2 := sid(r)
		wantState(t, f.c, "the password's limited session after the TOTP step", lim1, "dead")
		wantState(t, f.c, "the TOTP step's limited session", lim2, "limited")
		r = f.c.factor(lim2, "PIN", u.PIN)
		want(t, r, 200)
		full := sid(r)
		wantState(t, f.c, "the PIN step's limited session after the PIN", lim2, "dead")
		wantState(t, f.c, "the full session", full, "full")
		if len(map[string]bool{lim1: true, lim2: true, full: true, u.Token: true}) != 4 {
			t.Fatal("a login step reused an id")
		}
		// The dead ones cannot finish again, nor log out.
		wantErr(t, f.c.factor(lim1, "2FA", f.code(u, 1)), 401, mfad.CodeUnauthenticated)
		wantErr(t, f.c.factor(lim2, "PIN", u.PIN), 401, mfad.CodeUnauthenticated)
		wantErr(t, f.c.get("/session/logout", lim2), 401, mfad.CodeUnauthenticated)

		// Enrollment.
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.plain.ID}, "auth_type": "2FA"}), 200)
		lim := f.limited(f.plain, mfad.StepEnroll)
		secret := generate(t, f.c, lim)
		r = f.c.factor(lim, "2FA", codeAt(secret, f.now(), 0))
		want(t, r, 200)
		if sid(r) == lim {
			t.Fatal("enrollment kept the limited id")
		}
		wantState(t, f.c, "the enrollment's limited session", lim, "dead")
		wantState(t, f.c, "the session after enrollment", sid(r), "full")

		// A password login with no factor: a new id every time.
		if a, b := mustFull(t, f.c, f.adminA.Email, f.adminA.Password), f.adminA.Token; a == b {
			t.Fatal("a password login reused an id")
		}
	})
}

// 31. Limited sessions expire after 5 minutes (15 when they owe 2FA
// enrollment, time to install an app), are not extended by requests, and
// die after 5 wrong codes.
func TestItem31LimitedSessionsExpireAndDie(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		lim := f.limited(f.totp, mfad.StepTOTP)
		for range 4 {
			srv.Clock.Advance(time.Minute)
			wantState(t, f.c, "a limited session", lim, "limited")
			want(t, f.c.get("/session/keepalive", lim), 401)
		}
		srv.Clock.Advance(59 * time.Second)
		wantState(t, f.c, "a limited session at 4:59", lim, "limited")
		srv.Clock.Advance(time.Second)
		wantState(t, f.c, "a limited session at 5:00", lim, "dead")
		wantErr(t, f.c.factor(lim, "2FA", f.code(f.totp, 0)), 401, mfad.CodeUnauthenticated)

		// A PIN session expires alike; an enrollment session at 15 minutes.
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.plain.ID}, "auth_type": "2FA"}), 200)
		enr := f.limited(f.plain, mfad.StepEnroll)
		pin := f.limited(f.pin, mfad.StepPIN)
		secret := generate(t, f.c, enr)
		srv.Clock.Advance(5 * time.Minute)
		wantErr(t, f.c.factor(pin, "PIN", f.pin.PIN), 401, mfad.CodeUnauthenticated)
		wantState(t, f.c, "an enrollment session at 5:00", enr, "limited")
		srv.Clock.Advance(10*time.Minute - time.Second)
		wantState(t, f.c, "an enrollment session at 14:59", enr, "limited")
		srv.Clock.Advance(time.Second)
		wantErr(t, f.c.factor(enr, "2FA", codeAt(secret, f.now(), 0)), 401, mfad.CodeUnauthenticated)
		wantErr(t, f.c.get("/profile/2fa/generate", enr), 401, mfad.CodeUnauthenticated)

		// Five wrong codes.
		lim = f.limited(f.totp, mfad.StepTOTP)
		for i := range 5 {
			r := f.c.factor(lim, "2FA", f.wrongCodeFor(f.totp))
			wantErr(t, r, 401, mfad.CodeWrongCode)
			if closed := strings.Contains(string(r.Body), `"session_closed":true`); closed != (i == 4) {
				t.Fatalf("wrong code %d: %s", i+1, r)
			}
		}
		wantState(t, f.c, "a limited session after 5 wrong codes", lim, "dead")
		wantErr(t, f.c.factor(lim, "2FA", f.code(f.totp, 0)), 401, mfad.CodeUnauthenticated)
		// The right code was not spent on the dead session.
		srv.Clock.Advance(15 * time.Minute) // the 5 wrong codes locked the email
		want(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.code(f.totp, 0)), 200)
	})
}

// 32. Idle (15 min) and absolute (12 h) expiry, enforced by the server on
// its (fake) clock.
func TestItem32IdleAndAbsoluteExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		// Idle: alive at 14:59 after the last request, dead at 15:00.
		tok := mustFull(t, f.c, f.plain.Email, f.plain.Password)
		srv.Clock.Advance(15*time.Minute - time.Second)
		want(t, f.c.get("/session/keepalive", tok), 200)
		srv.Clock.Advance(15*time.Minute - time.Second)
		wantState(t, f.c, "14:59 after a keepalive", tok, "full")
		srv.Clock.Advance(15 * time.Minute)
		wantState(t, f.c, "15:00 after the last request", tok, "dead")
		wantErr(t, f.c.get("/session/keepalive", tok), 401, mfad.CodeUnauthenticated)

		// Absolute: requests every 14 minutes keep a session for 12 hours,
		// not a second more.
		tok = mustFull(t, f.c, f.plain.Email, f.plain.Password)
		start := f.now()
		for f.now().Sub(start) < 12*time.Hour-14*time.Minute {
			srv.Clock.Advance(14 * time.Minute)
			want(t, f.c.get("/session/keepalive", tok), 200)
		}
		srv.Clock.Advance(12*time.Hour - time.Second - f.now().Sub(start))
		wantState(t, f.c, "11:59:59 after login", tok, "full")
		srv.Clock.Advance(time.Second)
		wantState(t, f.c, "12:00:00 after login", tok, "dead")
		// GET /session/login with the dead token gives nothing back.
		wantErr(t, f.c.get("/session/login", tok), 401, mfad.CodeUnauthenticated)
	})
}

// 33. After set-mfa, reset-mfa, delete, or an admin change, the user's
// sessions are closed as docs/api.md says: profile set-mfa keeps only the
// caller's session; the admin calls close every session of the user; the
// account setting closes none.
func TestItem33SessionsClosedOnChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		// profile/set-mfa PIN, then 2FA.
		u := f.plain
		a, b := mustFull(t, f.c, u.Email, u.Password), mustFull(t, f.c, u.Email, u.Password)
		want(t, f.c.post("/profile/set-mfa", a, obj{"auth_type": "PIN", "code": "20202020"}), 200)
		wantState(t, f.c, "caller after profile set-mfa PIN", a, "full")
		wantState(t, f.c, "other session after profile set-mfa PIN", b, "dead")
		wantState(t, f.c, "older session after profile set-mfa PIN", u.Token, "dead")
		b = f.c.factor(f.limited(u, mfad.StepPIN), "PIN", "20202020").sessionOr(t)
		limPIN := f.limited(u, mfad.StepPIN)
		secret := generate(t, f.c, a)
		want(t, f.c.post("/profile/set-mfa", a, obj{"auth_type": "2FA", "code": codeAt(secret, f.now(), 0)}), 200)
		f.step()
		wantState(t, f.c, "caller after profile set-mfa 2FA", a, "full")
		wantState(t, f.c, "other session after profile set-mfa 2FA", b, "dead")
		wantState(t, f.c, "limited session after profile set-mfa 2FA", limPIN, "dead")
		u.Secret, u.PIN = secret, "20202020"

		// The admin calls close every session, limited ones too.
		admin := []struct {
			name string
			body obj
			path string
		}{
			{"user/set-mfa 2FA", obj{"auth_type": "2FA"}, "/user/set-mfa"},
			{"user/set-mfa PIN", obj{"auth_type": "PIN", "code": "30303030"}, "/user/set-mfa"},
			{"user/reset-mfa", obj{"auth_type": "2FA"}, "/user/reset-mfa"},
		}
		for _, c := range admin {
			v := f.newUser(f.adminA, strings.NewReplacer("/", "-", " ", "-").Replace(c.name)+"@a.example", false)
			f.setPIN(v, "40404040")
			w := f.c.factor(f.limited(v, mfad.StepPIN), "PIN", v.PIN).sessionOr(t)
			lim := f.limited(v, mfad.StepPIN)
			c.body["ids"] = []string{v.ID}
			want(t, f.c.post(c.path, f.adminA.Token, c.body), 200)
			for _, tok := range []string{v.Token, w, lim} {
				wantState(t, f.c, "a session after "+c.name, tok, "dead")
			}
		}
		// The admin on their own user: their own sessions too (openapi.yaml).
		a2 := f.newUser(f.adminA, "admin2@a.example", true)
		other := mustFull(t, f.c, a2.Email, a2.Password)
		want(t, f.c.post("/user/set-mfa", a2.Token, obj{"ids": []string{a2.ID}, "auth_type": "PIN", "code": "50505050"}), 200)
		wantState(t, f.c, "the admin's calling session after set-mfa on themself", a2.Token, "dead")
		wantState(t, f.c, "the admin's other session after set-mfa on themself", other, "dead")

		// Delete.
		d := f.newUser(f.adminA, "deleted@a.example", false)
		f.setPIN(d, "60606060")
		lim := f.limited(d, mfad.StepPIN)
		want(t, f.c.post("/user/delete", f.adminA.Token, obj{"ids": []string{d.ID}}), 200)
		wantState(t, f.c, "a deleted user's session", d.Token, "dead")
		wantState(t, f.c, "a deleted user's limited session", lim, "dead")
		wantErr(t, f.c.factor(lim, "PIN", d.PIN), 401, mfad.CodeUnauthenticated)
		wantErr(t, f.c.login(d.Email, d.Password), 401, mfad.CodeBadCredentials)

		// remove-mfa and the account setting close nothing (the contract
		// says no session is closed by them).
		keep := mustFull(t, f.c, f.adminA.Email, f.adminA.Password)
		want(t, f.c.post("/settings/set", f.adminA.Token, obj{"auth_methods": []string{"2FA"}}), 200)
		wantState(t, f.c, "a session after the account forces 2FA", keep, "full")
		want(t, f.c.post("/settings/set", f.adminA.Token, obj{"auth_methods": []string{}}), 200)
	})
}

// sessionOr returns the session of a 200, failing otherwise.
func (r resp) sessionOr(t testing.TB) string {
	t.Helper()
	want(t, r, 200)
	return sid(r)
}

// 33 (instances). The closing holds on every instance: sessions opened on
// two instances die on both when a third applies reset-mfa, set-mfa or a
// logout: at once on PostgreSQL, within a second on SQLite (each instance's
// session cache learns of the others' commits; cl.settle).
func TestItem33SessionsClosedOnEveryInstance(t *testing.T) {
	forEachCluster(t, func(t *testing.T, cl *cluster) {
		insts := []*instance{cl.start(), cl.start(), cl.start()}
		admin := mustFull(t, insts[0].c, testserver.AdminEmail, testserver.AdminPassword)
		created := insts[0].c.post("/user/create", admin, obj{"name": "u", "email": "u@a.example", "password": "u-password"})
		want(t, created, 200)
		var u struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(created.Body, &u) != nil || u.ID == "" {
			t.Fatalf("user/create: %s", created)
		}
		uid := u.ID
		for _, c := range []struct {
			name string
			do   func() resp
		}{
			{"set-mfa PIN", func() resp {
				return insts[2].c.post("/user/set-mfa", admin, obj{"ids": []string{uid}, "auth_type": "PIN", "code": "1234"})
			}},
			{"remove-mfa PIN then reset-mfa", func() resp {
				want(t, insts[2].c.post("/user/remove-mfa", admin, obj{"ids": []string{uid}, "auth_type": "PIN"}), 200)
				return insts[2].c.post("/user/reset-mfa", admin, obj{"ids": []string{uid}, "auth_type": "2FA"})
			}},
		} {
			var toks []string
			for _, inst := range insts[:2] {
				r := inst.c.login("u@a.example", "u-password")
				if r.Status != 200 {
					// After set-mfa PIN the login owes the PIN.
					r = inst.c.factor(sid(r), "PIN", "1234")
				}
				toks = append(toks, r.sessionOr(t))
			}
			for _, inst := range insts {
				for _, tok := range toks {
					wantState(t, inst.c, "before "+c.name, tok, "full")
				}
			}
			want(t, c.do(), 200)
			for _, inst := range insts {
				for _, tok := range toks {
					cl.soon(func() resp { return inst.c.get("/profile", tok) }, 401)
					wantState(t, inst.c, "after "+c.name+" on another instance", tok, "dead")
				}
			}
		}
		// Logout on one instance: dead on the others.
		tok := mustFull(t, insts[0].c, testserver.AdminEmail, testserver.AdminPassword)
		want(t, insts[1].c.get("/session/logout", tok), 200)
		for _, inst := range insts {
			cl.soon(func() resp { return inst.c.get("/profile", tok) }, 401)
			wantState(t, inst.c, "after logout on another instance", tok, "dead")
		}
	})
}
