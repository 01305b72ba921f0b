package abuse_test

// Durability under concurrent writers (item 36), very long passwords (item
// 39, the part an in-process server can show) and leaks (item 40).

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// 36. 200 concurrent writers: no "database is locked" (the log check of
// every test), no 5xx, no lost writes: 200 user creates at once, all listed
// afterwards and able to log in.
func TestItem36TwoHundredConcurrentWriters(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		const n = 200
		email := func(i int) string { return fmt.Sprintf("writer-%03d@a.example", i) }
		t0 := time.Now()
		rs := parallel(n, func(i int) resp {
			return f.c.post("/user/create", f.adminA.Token, obj{"name": email(i), "email": email(i), "password": "pw-" + email(i)})
		})
		took := time.Since(t0)
		if got := tally(rs); got[200] != n {
			t.Fatalf("%d concurrent user creates: %v", n, got)
		}
		ids := map[string]bool{}
		for _, r := range rs {
			var u struct {
				ID string `json:"id"`
			}
			json.Unmarshal(r.Body, &u)
			ids[u.ID] = true
		}
		var users []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if err := json.Unmarshal([]byte(f.snapshot(f.adminA)), &users); err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, u := range users {
			if strings.HasPrefix(u.Email, "writer-") {
				found++
				if !ids[u.ID] {
					t.Fatalf("%s listed with id %s, not the one its creation answered", u.Email, u.ID)
				}
			}
		}
		if found != n || len(ids) != n {
			t.Fatalf("%d of %d users created concurrently are listed (%d distinct ids answered)", found, n, len(ids))
		}
		for _, i := range []int{0, 99, 199} {
			mustFull(t, f.c, email(i), "pw-"+email(i))
		}
		t.Logf("FIGURE concurrent-writers: %s: %d concurrent user creates in %v: all 200, all listed, no 5xx, no database lock error",
			storeName(t), n, took.Round(time.Millisecond))
	})
}

// 39 (part). Very long passwords (and emails) are refused before hashing:
// 401 with the wrong-password answer, no argon2id evaluation (the audit
// line says "refused before hashing"), and fast. A password too long for
// the 32 KiB header cap gets 431 from net/http.
func TestItem39LongPasswordsRefusedBeforeHashing(t *testing.T) {
	forEachStoreAlone(t, options(true, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		refused := func() int {
			return countLines(srv.Logs.String(), "event=login.password.fail", "refused before hashing")
		}
		wrong := f.c.login(f.plain.Email, "not-the-password")
		wantErr(t, wrong, 401, mfad.CodeBadCredentials)
		cases := []struct {
			name, email, password string
			refused               bool
		}{
			{"20 KB password, known email", f.plain.Email, strings.Repeat("p", 20<<10), true},
			{"20 KB password, unknown email", "nobody@a.example", strings.Repeat("p", 20<<10), true},
			{"20 KB password starting with the right one", f.plain.Email, f.plain.Password + strings.Repeat("p", 20<<10), true},
			{"1025-byte password", f.plain.Email, strings.Repeat("p", 1025), true},
			{"255-byte email", strings.Repeat("e", 243) + "@a.example.xx", "password-1", true},
			{"10 KB email", strings.Repeat("e", 10<<10) + "@a.example", "password-1", true},
			{"3 KB incompressible email", randomHex(1500) + "@a.example", "password-1", true},
			{"16 KB incompressible email", randomHex(8<<10) + "@a.example", "password-1", true},
			{"1024-byte password", f.plain.Email, strings.Repeat("p", 1024), false},
			{"ordinary wrong password", f.plain.Email, "wrong-password", false},
		}
		var refusedTimes, hashedTimes []time.Duration
		for range 3 {
			for _, c := range cases {
				before := refused()
				r := f.c.login(c.email, c.password)
				if r.Status != 401 {
					t.Errorf("%s: %s", c.name, r)
					continue
				}
				sameAnswer(t, c.name+" vs a wrong password", r, wrong)
				if got := refused() - before; got != map[bool]int{true: 1}[c.refused] {
					t.Fatalf("%s: %d refusals before hashing logged, want refused=%v", c.name, got, c.refused)
				}
				if c.refused {
					refusedTimes = append(refusedTimes, r.End.Sub(r.Start))
				} else {
					hashedTimes = append(hashedTimes, r.End.Sub(r.Start))
				}
			}
		}
		mr, mh := median(refusedTimes), median(hashedTimes)
		t.Logf("FIGURE long-passwords: %s: median answer %v for passwords over 1024 bytes or emails over 254 (refused before hashing), %v for a hashed wrong password (argon2id m=19MiB t=2)",
			storeName(t), mr.Round(10*time.Microsecond), mh.Round(10*time.Microsecond))
		if mr*2 > mh {
			t.Fatalf("refused logins take %v, hashed ones %v", mr, mh)
		}
		// A 40 KB password does not fit in the headers: 431.
		r := f.c.req("GET", "/session/login", nil)
		r.SetBasicAuth(f.plain.Email, strings.Repeat("p", 40<<10))
		want(t, f.c.send(r), http.StatusRequestHeaderFieldsTooLarge)
		// The user is fine.
		mustFull(t, f.c, f.plain.Email, f.plain.Password)
	})
}

// randomHex returns n random bytes in hex: text no compression shrinks.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// 40. No response holds a stack trace, SQL, a file path, a version banner,
// a TOTP secret outside enrollment, or a hash (error bodies are checked on
// every answer of the suite, see client.check); logs hold no password, PIN,
// code, Basic header or token; reused codes are logged.
func TestItem40NoLeaks(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		var codes []string
		code := func(u *user, off int64) string {
			c := f.code(u, off)
			codes = append(codes, c)
			return c
		}
		// A tour of the API with every kind of secret.
		wrong := f.wrongCodeFor(f.totp)
		codes = append(codes, wrong)
		lim := f.limited(f.totp, mfad.StepTOTP)
		wantErr(t, f.c.factor(lim, "2FA", wrong), 401, mfad.CodeWrongCode)
		used := code(f.totp, 0)
		want(t, f.c.factor(lim, "2FA", used), 200)
		wantErr(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", used), 401, mfad.CodeWrongCode) // replay
		f.step()
		wantErr(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", "19283746"), 401, mfad.CodeWrongCode)
		want(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", f.pin.PIN), 200)
		wantErr(t, f.c.login(f.plain.Email, "wrong-password-xyz"), 401, mfad.CodeBadCredentials)
		wantErr(t, f.c.login("nobody@a.example", "secret-of-nobody-123"), 401, mfad.CodeBadCredentials)
		pending := generate(t, f.c, f.plain.Token)
		wantErr(t, f.c.post("/profile/set-mfa", f.plain.Token, obj{"auth_type": "2FA", "code": wrongCode(pending, f.now())}), 400, mfad.CodeEnrollment)
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.plain.ID}, "auth_type": "PIN", "code": "97531864"}), 200)
		want(t, f.c.post("/user/reset-mfa", f.adminA.Token, obj{"ids": []string{f.totp.ID}, "auth_type": "2FA"}), 200)
		enr := f.limited(f.totp, mfad.StepEnroll)
		enrollSecret := generate(t, f.c, enr)
		want(t, f.c.factor(enr, "2FA", code(&user{Secret: enrollSecret}, 0)), 200)
		d := f.newUser(f.adminA, "deleted@a.example", false)
		want(t, f.c.post("/user/delete", f.adminA.Token, obj{"ids": []string{d.ID}}), 200)
		want(t, f.c.post("/settings/set", f.adminA.Token, obj{"auth_methods": []string{}}), 200)
		f.c.get("/user", f.adminA.Token)
		f.c.get("/tracking/activity", f.adminA.Token)
		f.c.get("/healthz", "")
		f.c.get("/nope", "")
		f.c.post("/profile/set-mfa", f.plain.Token, "{")
		wantErr(t, f.c.get("/profile", "00000000-0000-0000-0000-000000000000"), 401, mfad.CodeUnauthenticated)
		want(t, f.c.get("/session/logout", f.pin.Token), 200)

		// What must stay secret.
		passwords := []string{"wrong-password-xyz", "secret-of-nobody-123", testserver.AdminPassword}
		for _, u := range []*user{f.adminA, f.plain, f.totp, f.pin, f.adminB, f.userB, d} {
			passwords = append(passwords, u.Password)
		}
		pins := []string{f.pin.PIN, "19283746", "97531864"}
		totpSecrets := []string{f.totp.Secret, pending, enrollSecret}
		tokens := map[string]bool{}
		for _, u := range []*user{f.adminA, f.plain, f.totp, f.pin, f.adminB, f.userB, d} {
			tokens[u.Token] = true
		}
		responses := f.c.responses()
		for _, r := range responses {
			if s := sid(r); s != "" {
				tokens[s] = true
			}
		}

		logs := srv.Logs.String()
		mustNot := func(what, s string) {
			t.Helper()
			if s != "" && strings.Contains(logs, s) {
				t.Fatalf("the logs hold a %s: %q in %s", what, s, lineAt(logs, strings.Index(logs, s)))
			}
		}
		for _, p := range passwords {
			mustNot("password", p)
			mustNot("Basic header", basicHeader(f.plain.Email, p)[6:])
		}
		for _, s := range totpSecrets {
			mustNot("TOTP secret", s)
		}
		for tok := range tokens {
			mustNot("session id", tok)
			mustNot("session id", strings.ToUpper(tok))
		}
		for _, s := range []string{"Basic ", "Authorization", "X-Auth-Token", "$argon2", "argon2id$"} {
			mustNot("header or hash", s)
		}
		for _, c := range append(codes, pins...) {
			if regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `([^0-9A-Za-z]|$)`).MatchString(logs) {
				t.Fatalf("the logs hold a code or PIN %s", c)
			}
		}
		for _, w := range []string{"event=totp.replay", "event=login.factor.fail", "event=login.password.fail", "event=login.ok"} {
			if !strings.Contains(logs, w) {
				t.Fatalf("the logs lack %q", w)
			}
		}

		// Bodies: no hash, no password or PIN anywhere; TOTP secrets only in
		// the enrollment answers that made them.
		for _, r := range responses {
			body := string(r.Body)
			if strings.Contains(body, "$argon2") {
				t.Fatalf("a body holds a hash: %s", r)
			}
			for _, p := range passwords {
				if strings.Contains(body, p) {
					t.Fatalf("a body holds a password: %s", r)
				}
			}
			for _, p := range pins {
				if strings.Contains(body, `"`+p+`"`) {
					t.Fatalf("a body holds a PIN: %s", r)
				}
			}
			for _, s := range totpSecrets {
				if strings.Contains(body, s) && r.Path != "/profile/2fa/generate" {
					t.Fatalf("a TOTP secret outside enrollment: %s", r)
				}
			}
			for _, h := range []string{"Server", "X-Powered-By"} {
				if r.Header.Get(h) != "" {
					t.Fatalf("%s banner on %s", h, r)
				}
			}
		}
		t.Logf("%d answers and %d log bytes checked", len(responses), len(logs))
	})
}
