package abuse_test

// Authentication bypass: checklist items 8 to 13, with the header abuse of
// the issue.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// limitedMay reports whether a limited session owing step may call rt.
func limitedMay(rt route, step mfad.Step) bool {
	switch rt.String() {
	case "POST /session/login", "GET /session/logout":
		return true
	case "POST /session/login/passkey":
		// Every limited session may ask; only the 2FA step of a user
		// with passkeys gets options (others: 400 code 20).
		return true
	case "GET /profile/2fa/generate":
		return step == mfad.StepEnroll
	}
	return false
}

// 8. The limited token from a 207 on every endpoint but the ones the
// contract allows: 401 (code 12, a second factor is required), nothing
// changed, and the login can still be finished normally afterwards.
func TestItem08LimitedTokenOnEveryEndpoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		enr := f.newUser(f.adminA, "enroll@a.example", false)
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{enr.ID}, "auth_type": "2FA"}), 200)
		all := routes(t, f.c)
		for _, who := range []struct {
			u    *user
			step mfad.Step
		}{{f.totp, mfad.StepTOTP}, {f.pin, mfad.StepPIN}, {enr, mfad.StepEnroll}} {
			beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
			lim := f.limited(who.u, who.step)
			tried := 0
			for _, rt := range all {
				if rt.Public || limitedMay(rt, who.step) {
					continue
				}
				for _, target := range []string{who.u.ID, f.plain.ID, f.adminA.ID} {
					r := rt.send(f.c, lim, target)
					if r.Status != 401 {
						t.Fatalf("limited token (Mfa-Code %d) on %s: %s", who.step, rt, r)
					}
					wantErr(t, r, 401, mfad.CodeFactorRequired)
					if sid(r) != "" {
						t.Fatalf("%s issued a session to a limited token: %s", rt, r)
					}
				}
				tried++
			}
			if tried < 14 {
				t.Fatalf("only %d endpoints tried", tried)
			}
			// GET /session/login with the limited token (no Basic): 401 code 12.
			wantErr(t, f.c.get("/session/login", lim), 401, mfad.CodeFactorRequired)
			// Nothing the limited token sent was applied.
			f.unchanged(f.adminA, beforeA, "a limited token")
			f.unchanged(f.adminB, beforeB, "a limited token")
			// The limited session itself is intact: the login finishes.
			switch who.step {
			case mfad.StepTOTP:
				want(t, f.c.factor(lim, "2FA", f.code(who.u, 0)), 200)
				f.step()
			case mfad.StepPIN:
				want(t, f.c.factor(lim, "PIN", who.u.PIN), 200)
			case mfad.StepEnroll:
				secret := generate(t, f.c, lim)
				want(t, f.c.factor(lim, "2FA", codeAt(secret, f.now(), 0)), 200)
				f.step()
			}
		}
	})
}

// 9. The second-factor POST with no token, a garbage or forged token, a
// full token, an expired or closed limited token: 401, no session issued,
// and nothing evaluated (the valid code sent along stays unused).
func TestItem09SecondFactorWithoutALiveLimitedToken(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		// Expired: five minutes old.
		expired := f.limited(f.totp, mfad.StepTOTP)
		srv.Clock.Advance(5 * time.Minute)
		wantErr(t, f.c.get("/profile", expired), 401, mfad.CodeUnauthenticated)
		expired2 := f.limited(f.totp, mfad.StepTOTP)
		srv.Clock.Advance(5*time.Minute - time.Second)
		wantErr(t, f.c.get("/profile", expired2), 401, mfad.CodeFactorRequired) // alive at 4:59
		srv.Clock.Advance(time.Second)
		// Used: finished with the previous step's code.
		used := f.limited(f.totp, mfad.StepTOTP)
		want(t, f.c.factor(used, "2FA", f.code(f.totp, -1)), 200)
		// Closed by logout, and by five wrong codes.
		loggedOut := f.limited(f.totp, mfad.StepTOTP)
		want(t, f.c.get("/session/logout", loggedOut), 200)
		fiveWrong := f.limited(f.totp, mfad.StepTOTP)
		for range 5 {
			wantErr(t, f.c.factor(fiveWrong, "2FA", other(f.code(f.totp, 0))), 401, mfad.CodeWrongCode)
		}
		live := f.limited(f.totp, mfad.StepTOTP)
		code := f.code(f.totp, 0)
		tokens := []struct{ name, token string }{
			{"none", ""},
			{"garbage", "garbage"},
			{"random v4", uuid.NewString()},
			{"nil UUID", "00000000-0000-0000-0000-000000000000"},
			{"max UUID", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
			{"first hex digit changed", flipHex(live, 0)},
			{"a middle hex digit changed", flipHex(live, 20)},
			{"last hex digit changed", flipHex(live, 35)},
			{"truncated", live[:35]},
			{"extended", live + "0"},
			{"braces", "{" + live + "}"},
			{"urn", "urn:uuid:" + live},
			{"no hyphens", strings.ReplaceAll(live, "-", "")},
			{"two joined", live + "," + live},
			{"SQL", "' OR '1'='1"},
			{"full token of the same user", f.totp.Token},
			{"full token of an admin", f.adminA.Token},
			{"expired limited", expired},
			{"expired limited at 5:00", expired2},
			{"used limited", used},
			{"logged out limited", loggedOut},
			{"closed after five wrong codes", fiveWrong},
		}
		logins := countLines(srv.Logs.String(), "event=login.ok")
		for _, tk := range tokens {
			r := f.c.factor(tk.token, "2FA", code)
			if r.Status != 401 {
				t.Fatalf("%s: %s", tk.name, r)
			}
			wantErr(t, r, 401, mfad.CodeUnauthenticated)
			if sid(r) != "" {
				t.Fatalf("%s: a session was issued: %s", tk.name, r)
			}
			// And on a full endpoint.
			if !strings.Contains(tk.name, "full token") {
				wantErr(t, f.c.get("/profile", tk.token), 401, mfad.CodeUnauthenticated)
			}
		}
		// Two and fifty X-Auth-Token headers, all the live token: 401.
		for _, n := range []int{2, 50} {
			q := f.c.req("POST", "/session/login", obj{"auth_type": "2FA", "code": code})
			for range n {
				q.Header.Add("X-Auth-Token", live)
			}
			wantErr(t, f.c.send(q), 401, mfad.CodeUnauthenticated)
			q = f.c.req("GET", "/profile", nil)
			for range n {
				q.Header.Add("X-Auth-Token", f.plain.Token)
			}
			wantErr(t, f.c.send(q), 401, mfad.CodeUnauthenticated)
		}
		if got := countLines(srv.Logs.String(), "event=login.ok"); got != logins {
			t.Fatalf("%d logins completed by dead or forged tokens", got-logins)
		}
		// Nothing was evaluated: the live session and its code still work.
		want(t, f.c.factor(live, "2FA", code), 200)
	})
}

// flipHex changes the hex digit at i of a token.
func flipHex(s string, i int) string {
	b := []byte(s)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// 9 (headers). Bad Basic encodings on GET /session/login: 401 (code 11, or
// 10 when there are no credentials at all), never a 5xx, never a session.
func TestItem09BadBasicCredentials(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		b64 := base64.StdEncoding.EncodeToString
		valid := b64([]byte(f.plain.Email + ":" + f.plain.Password))
		cases := []struct{ name, value string }{
			{"not base64", "Basic !!!"},
			{"not base64 either", "Basic " + valid[:len(valid)-2] + "!!"},
			{"no colon", "Basic " + b64([]byte("nocolon"))},
			{"empty value", ""},
			{"scheme only", "Basic"},
			{"scheme and space", "Basic "},
			{"two spaces", "Basic  " + valid},
			{"bearer", "Bearer x"},
			{"bearer with a session", "Bearer " + f.plain.Token},
			{"digest", `Digest username="` + f.plain.Email + `"`},
			{"colon only", "Basic " + b64([]byte(":"))},
			{"empty password", "Basic " + b64([]byte(f.plain.Email+":"))},
			{"empty email", "Basic " + b64([]byte(":"+f.plain.Password))},
			{"unicode credentials", "Basic " + b64([]byte("ünïcödé@例え.jp:пароль-密码"))},
			{"raw UTF-8 in the header", "Basic üñí:çødé"},
			{"raw bytes", "Basic \xff\xfe\xfd"},
			{"bad padding", "Basic " + valid + "="},
			{"URL alphabet", "Basic " + base64.URLEncoding.EncodeToString([]byte("\xfb\xff:\xfe\xff"))},
			{"NUL in the password", "Basic " + b64([]byte(f.plain.Email+":"+f.plain.Password+"\x00"))},
			{"NUL in the email", "Basic " + b64([]byte(f.plain.Email+"\x00:"+f.plain.Password))},
			{"invalid UTF-8 in the email", "Basic " + b64([]byte("\xff\xfe@a.example:"+f.plain.Password))},
			{"invalid UTF-8 in the password", "Basic " + b64([]byte(f.plain.Email+":\xff\xfe"))},
			{"3 KB", "Basic " + b64([]byte(strings.Repeat("a", 3000)))},
			{"SQL", "Basic " + b64([]byte("' OR 1=1 --:x"))},
		}
		for _, c := range cases {
			q := f.c.req("GET", "/session/login", nil)
			q.Header["Authorization"] = []string{c.value}
			r := f.c.send(q)
			if r.Status != 401 {
				t.Errorf("Authorization %s: %s", c.name, r)
				continue
			}
			wantErrIn(t, r, 401, mfad.CodeBadCredentials, mfad.CodeUnauthenticated)
			if sid(r) != "" {
				t.Fatalf("%s: a session was issued", c.name)
			}
		}
		// Basic and a token together: the Basic credentials decide.
		q := f.c.req("GET", "/session/login", nil)
		q.Header.Set("Authorization", "Basic "+b64([]byte(f.plain.Email+":wrong-password")))
		q.Header.Set("X-Auth-Token", f.plain.Token)
		wantErr(t, f.c.send(q), 401, mfad.CodeBadCredentials)
	})
}

// 10. A limited token of user X with a code valid for user Y: rejected, and
// Y's code stays usable.
func TestItem10CodeOfAnotherUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		y := f.newUser(f.adminA, "totp-y@a.example", false)
		f.enroll(y)
		for f.code(f.totp, 0) == f.code(y, 0) {
			f.step()
		}
		limX := f.limited(f.totp, mfad.StepTOTP)
		limY := f.limited(y, mfad.StepTOTP)
		for _, off := range []int64{-1, 0, 1} {
			wantErr(t, f.c.factor(limX, "2FA", f.code(y, off)), 401, mfad.CodeWrongCode)
		}
		want(t, f.c.factor(limY, "2FA", f.code(y, 0)), 200)
		want(t, f.c.factor(limX, "2FA", f.code(f.totp, 0)), 200)

		// PIN: X's PIN step with Y's PIN.
		py := f.newUser(f.adminA, "pin-y@a.example", false)
		f.setPIN(py, "13572468")
		wantErr(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", py.PIN), 401, mfad.CodeWrongCode)
		wantErr(t, f.c.factor(f.limited(py, mfad.StepPIN), "PIN", f.pin.PIN), 401, mfad.CodeWrongCode)
		want(t, f.c.factor(f.limited(py, mfad.StepPIN), "PIN", py.PIN), 200)
		// And B's user is not reachable with A's codes either.
		f.enroll(f.userB)
		wantErr(t, f.c.factor(f.limited(f.userB, mfad.StepTOTP), "2FA", f.code(f.totp, 0)), 401, mfad.CodeWrongCode)
	})
}

// 11. Wrong auth_type for the owed step, empty or missing code: rejected and
// counted, against the limited session and the lockout.
func TestItem11WrongAuthTypeAndMissingCode(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		lim := f.limited(f.totp, mfad.StepTOTP)
		spare := f.limited(f.totp, mfad.StepTOTP)
		steps := []struct {
			body any
			code mfad.Code
		}{
			{obj{"auth_type": "PIN", "code": f.code(f.totp, 0)}, mfad.CodeWrongAuthType},
			{obj{"auth_type": "2FA"}, mfad.CodeInvalid},
			{obj{"auth_type": "2FA", "code": ""}, mfad.CodeInvalid},
			{obj{}, mfad.CodeInvalid},
			{obj{"auth_type": "PIN", "code": f.pin.PIN}, mfad.CodeWrongAuthType},
		}
		for _, s := range steps {
			wantErr(t, f.c.post("/session/login", lim, s.body), 400, s.code)
		}
		// Five rejected requests: the limited session is closed ...
		wantErr(t, f.c.factor(lim, "2FA", f.code(f.totp, 0)), 401, mfad.CodeUnauthenticated)
		// ... and the email is locked (the default limit is 5), for every
		// session and for the password.
		wantErr(t, f.c.factor(spare, "2FA", f.code(f.totp, 0)), 429, mfad.CodeTooManyAttempts)
		wantErr(t, f.c.login(f.totp.Email, f.totp.Password), 429, mfad.CodeTooManyAttempts)
		srv.Clock.Advance(15 * time.Minute)

		// The PIN step: 2FA is the wrong auth_type.
		lim = f.limited(f.pin, mfad.StepPIN)
		for range 5 {
			wantErr(t, f.c.factor(lim, "2FA", "123456"), 400, mfad.CodeWrongAuthType)
		}
		wantErr(t, f.c.factor(lim, "PIN", f.pin.PIN), 401, mfad.CodeUnauthenticated)
		wantErr(t, f.c.login(f.pin.Email, f.pin.Password), 429, mfad.CodeTooManyAttempts)
	})
}

// 12. A user forced into 2FA enrollment reaches no full session by any path
// before enrolling: forced by an admin, by reset-mfa, by the account.
func TestItem12ForcedEnrollmentHasNoShortcut(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		all := routes(t, f.c)
		// Forced by an admin (the user also has a PIN), by reset-mfa, and by
		// account B's setting.
		f.setPIN(f.plain, "24681357")
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.plain.ID}, "auth_type": "2FA"}), 200)
		want(t, f.c.post("/user/reset-mfa", f.adminA.Token, obj{"ids": []string{f.totp.ID}, "auth_type": "2FA"}), 200)
		want(t, f.c.post("/settings/set", f.adminB.Token, obj{"auth_methods": []string{"2FA"}}), 200)
		for _, u := range []*user{f.plain, f.totp, f.userB} {
			// Their sessions from before (closed for A's two; B's user keeps
			// its session: the setting closes none, as docs/api.md says).
			if u != f.userB {
				wantErr(t, f.c.get("/profile", u.Token), 401, mfad.CodeUnauthenticated)
			} else {
				getProfile(t, f.c, "/profile", u.Token)
			}
			lim := f.limited(u, mfad.StepEnroll)
			for _, rt := range all {
				if rt.Public || limitedMay(rt, mfad.StepEnroll) {
					continue
				}
				wantErr(t, rt.send(f.c, lim, u.ID), 401, mfad.CodeFactorRequired)
			}
			wantErr(t, f.c.get("/session/login", lim), 401, mfad.CodeFactorRequired)
			// The factor step owes 2FA enrollment: the PIN does not do.
			wantErr(t, f.c.factor(lim, "PIN", "24681357"), 400, mfad.CodeWrongAuthType)
			// No pending secret yet.
			wantErr(t, f.c.factor(lim, "2FA", "123456"), 400, mfad.CodeEnrollment)
			secret := generate(t, f.c, lim)
			// The old secret (reset user) and another user's secret do not do.
			if u.Secret != "" {
				wantErr(t, f.c.factor(lim, "2FA", f.code(u, 0)), 401, mfad.CodeWrongCode)
			}
			// profile/set-mfa with the limited token is no way round.
			wantErr(t, f.c.post("/profile/set-mfa", lim, obj{"auth_type": "2FA", "code": codeAt(secret, f.now(), 0)}), 401, mfad.CodeFactorRequired)
			// A new password login still owes enrollment.
			mustLimited(t, f.c, u.Email, u.Password, mfad.StepEnroll)
			// Only the code of the new secret finishes the login; for the user
			// with a PIN, the PIN is owed after it.
			r := f.c.factor(lim, "2FA", codeAt(secret, f.now(), 0))
			if u == f.plain {
				want(t, r, 207)
				if r.Header.Get("Mfa-Code") != "2" {
					t.Fatalf("after enrollment: Mfa-Code %q, want 2", r.Header.Get("Mfa-Code"))
				}
				r = f.c.factor(sid(r), "PIN", "24681357")
			}
			want(t, r, 200)
			u.Secret = secret
			getProfile(t, f.c, "/profile", sid(r))
		}
	})
}

// 13. The 207 body carries no usable full token; PUT/DELETE/PATCH (and any
// method a path does not take) on the API: 405 with an Allow header.
func TestItem13NoFullTokenIn207AndWrongMethods(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		r := f.c.login(f.totp.Email, f.totp.Password)
		want(t, r, 207)
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 || body["session_id"] == nil {
			t.Fatalf("207 body %s: want only session_id", r.Body)
		}
		lim := sid(r)
		for name, vals := range r.Header {
			for _, v := range vals {
				if _, err := uuid.Parse(strings.TrimSpace(v)); err == nil || strings.Contains(v, lim) {
					t.Fatalf("207 header %s carries a token: %q", name, v)
				}
			}
		}
		wantErr(t, f.c.get("/profile", lim), 401, mfad.CodeFactorRequired)
		wantErr(t, f.c.get("/session/keepalive", lim), 401, mfad.CodeFactorRequired)
		// The PIN step's 207 neither.
		both := f.newUser(f.adminA, "both@a.example", false)
		f.enroll(both)
		f.setPIN(both, "11223344")
		r = f.c.factor(f.limited(both, mfad.StepTOTP), "2FA", f.code(both, 0))
		want(t, r, 207)
		if json.Unmarshal(r.Body, &body) != nil || len(body) != 1 {
			t.Fatalf("207 body %s", r.Body)
		}
		wantErr(t, f.c.get("/profile", sid(r)), 401, mfad.CodeFactorRequired)

		// Methods.
		all := routes(t, f.c)
		allowed := map[string][]string{}
		for _, rt := range all {
			allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
		}
		n := 0
		for path, methods := range allowed {
			slices.Sort(methods)
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
				if slices.Contains(methods, m) {
					continue
				}
				for _, tok := range []string{"", f.adminA.Token, lim} {
					q := f.c.req(m, strings.ReplaceAll(path, "{id}", f.plain.ID), `{"auth_type":"PIN"}`)
					if tok != "" {
						q.Header.Set("X-Auth-Token", tok)
					}
					r := f.c.send(q)
					wantErr(t, r, 405, mfad.CodeMethod)
					if got := r.Header.Get("Allow"); got != strings.Join(methods, ", ") {
						t.Fatalf("%s %s: Allow %q, want %q", m, path, got, strings.Join(methods, ", "))
					}
					n++
				}
			}
		}
		t.Logf("%d wrong-method requests on %d paths answered 405", n, len(allowed))
		// Unknown paths: 404 whatever the token.
		for _, p := range []string{"/nope", "/user/", "/session", "/profile/set-mfa/x", "/user/metadata/", "/user/metadata/a/b"} {
			r := f.c.get(p, f.adminA.Token)
			if r.Status != 404 && r.Status != 405 && r.Status != 400 {
				t.Fatalf("GET %s: %s", p, r)
			}
		}
		wantErr(t, f.c.get(fmt.Sprintf("/nope-%d", n), ""), 404, mfad.CodeNotFound)
	})
}
