package abuse_test

// Brute force and lockout: checklist items 24 to 28, and enumeration by
// status, body and time.

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/internal/testserver"
)

// 24. Sequential wrong passwords, TOTP codes and PINs lock at the configured
// limit (3 here); the right credentials during the lock get the same 429.
// On the production argon2id parameters.
func TestItem24SequentialLockout(t *testing.T) {
	const limit = 3
	forEachStoreWith(t, options(true, func(c *auth.Config) { c.EmailThrottle.Limit = limit }), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		logs := func(words ...string) int { return countLines(srv.Logs.String(), words...) }

		// Passwords.
		for i := range limit {
			wantErr(t, f.c.login(f.plain.Email, fmt.Sprintf("wrong-%d", i)), 401, mfad.CodeBadCredentials)
		}
		right := f.c.login(f.plain.Email, f.plain.Password)
		wantErr(t, right, 429, mfad.CodeTooManyAttempts)
		if right.Header.Get("Retry-After") != "900" {
			t.Fatalf("Retry-After %q, want 900", right.Header.Get("Retry-After"))
		}
		sameAnswer(t, "right vs wrong password during the lock", right, f.c.login(f.plain.Email, "wrong-again"))
		sameAnswer(t, "another spelling of the email", right, f.c.login(strings.ToUpper(f.plain.Email), f.plain.Password))
		if n := logs("event=login.password.fail", "user_id="+f.plain.ID); n != limit {
			t.Fatalf("%d wrong passwords evaluated, want %d", n, limit)
		}
		// Other users are not locked.
		mustFull(t, f.c, f.adminA.Email, f.adminA.Password)

		// TOTP codes, over several limited sessions; a session opened before
		// the lock gets 429 too, with the right code.
		spare := f.limited(f.totp, mfad.StepTOTP)
		for range limit {
			wantErr(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.wrongCodeFor(f.totp)), 401, mfad.CodeWrongCode)
		}
		wantErr(t, f.c.factor(spare, "2FA", f.code(f.totp, 0)), 429, mfad.CodeTooManyAttempts)
		wantErr(t, f.c.login(f.totp.Email, f.totp.Password), 429, mfad.CodeTooManyAttempts)
		if n := logs("event=login.factor.fail", "user_id="+f.totp.ID); n != limit {
			t.Fatalf("%d wrong codes evaluated, want %d", n, limit)
		}

		// PINs.
		spare = f.limited(f.pin, mfad.StepPIN)
		for i := range limit {
			wantErr(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", fmt.Sprintf("%06d", i)), 401, mfad.CodeWrongCode)
		}
		wantErr(t, f.c.factor(spare, "PIN", f.pin.PIN), 429, mfad.CodeTooManyAttempts)
		wantErr(t, f.c.login(f.pin.Email, f.pin.Password), 429, mfad.CodeTooManyAttempts)
		if n := logs("event=login.factor.fail", "user_id="+f.pin.ID); n != limit {
			t.Fatalf("%d wrong PINs evaluated, want %d", n, limit)
		}

		// An email of nobody locks alike.
		for range limit {
			wantErr(t, f.c.login("nobody@a.example", "whatever-1"), 401, mfad.CodeBadCredentials)
		}
		sameAnswer(t, "unknown email locked vs known email locked", f.c.login("nobody@a.example", "whatever-1"), right)
		t.Logf("FIGURE lockout-sequential: %s: configured limit %d: %d wrong passwords, %d wrong TOTP codes, %d wrong PINs evaluated before 429 (Retry-After 900)", storeName(t), limit, limit, limit, limit)

		// After the lock: the right credentials work, and reset the count.
		srv.Clock.Advance(15 * time.Minute)
		mustFull(t, f.c, f.plain.Email, f.plain.Password)
		want(t, f.c.factor(spare, "PIN", f.pin.PIN), 401) // the spare limited session expired meanwhile
		want(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", f.pin.PIN), 200)
		want(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.code(f.totp, 0)), 200)
	})
}

// 25. 300 concurrent wrong passwords or TOTP codes: the failures
// actually evaluated stay at or below the limit (counted per account, from
// the audit log lines).
func TestItem25ConcurrentGuessesStayUnderTheLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		const n, limit = 300, 5
		logs := func(words ...string) int { return countLines(srv.Logs.String(), words...) }
		report := func(what string, rs []resp, evaluated int) {
			t.Helper()
			got := tally(rs)
			t.Logf("FIGURE lockout: %s: %d concurrent %s, %d evaluated, %d answered 429 (statuses %v)", storeName(t), n, what, evaluated, got[429], got)
			if evaluated > limit || got[429] == 0 || got[401]+got[429] != n {
				t.Fatalf("%d concurrent %s: %d evaluated, statuses %v; want at most %d evaluated, the rest 429 (or 401 on a closed session)", n, what, evaluated, got, limit)
			}
		}

		rs := parallel(n, func(i int) resp { return f.c.login(f.plain.Email, fmt.Sprintf("guess-%d", i)) })
		report("wrong passwords", rs, logs("event=login.password.fail", "user_id="+f.plain.ID))

		lims := make([]string, 30)
		for i := range lims {
			lims[i] = f.limited(f.totp, mfad.StepTOTP)
		}
		bad := f.wrongCodeFor(f.totp)
		rs = parallel(n, func(i int) resp { return f.c.factor(lims[i%len(lims)], "2FA", bad) })
		report("wrong TOTP codes on 30 limited sessions", rs, logs("event=login.factor.fail", "user_id="+f.totp.ID))
		// PINs: TestItem27ThousandPINGuesses.
		if !strings.Contains(srv.Logs.String(), "event=login.locked") {
			t.Fatal("the lockout was not logged")
		}
	})
}

// 25 (addresses). Failed password logins per client address are limited
// whatever proxy headers claim: the address is the TCP peer.
func TestItem25AddressLimitIgnoresProxyHeaders(t *testing.T) {
	forEachStoreWith(t, options(false, func(c *auth.Config) { c.AddrThrottle.Limit = 5 }), func(t *testing.T, srv *testserver.Server) {
		c := newClient(t, srv.URL)
		for i := range 5 {
			q := c.req("GET", "/session/login", nil)
			q.SetBasicAuth(fmt.Sprintf("spray-%d@a.example", i), "password-1")
			ip := fmt.Sprintf("203.0.113.%d", i+1)
			q.Header.Set("X-Forwarded-For", ip)
			q.Header.Set("X-Real-IP", ip)
			q.Header.Set("Forwarded", "for="+ip)
			q.Header.Set("True-Client-IP", ip)
			wantErr(t, c.send(q), 401, mfad.CodeBadCredentials)
		}
		q := c.req("GET", "/session/login", nil)
		q.SetBasicAuth(testserver.AdminEmail, testserver.AdminPassword)
		q.Header.Set("X-Forwarded-For", "198.51.100.7")
		wantErr(t, c.send(q), 429, mfad.CodeTooManyAttempts)
		srv.Clock.Advance(time.Minute)
		mustFull(t, c, testserver.AdminEmail, testserver.AdminPassword)
	})
}

// 26. Code guesses spread over many fresh limited sessions share one count
// per account.
func TestItem26GuessesOverSessionsShareOneCount(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		for _, c := range []struct {
			u        *user
			step     mfad.Step
			authType string
			right    func() string
		}{
			{f.totp, mfad.StepTOTP, "2FA", func() string { return f.code(f.totp, 0) }},
			{f.pin, mfad.StepPIN, "PIN", func() string { return f.pin.PIN }},
		} {
			spare := f.limited(c.u, c.step)
			for i := range 5 {
				wrong := fmt.Sprintf("%06d", 900000+i)
				if c.authType == "2FA" {
					wrong = f.wrongCodeFor(c.u)
				}
				// A fresh limited session per guess: each has used 1 of its 5.
				wantErr(t, f.c.factor(f.limited(c.u, c.step), c.authType, wrong), 401, mfad.CodeWrongCode)
			}
			wantErr(t, f.c.factor(spare, c.authType, c.right()), 429, mfad.CodeTooManyAttempts)
			wantErr(t, f.c.login(c.u.Email, c.u.Password), 429, mfad.CodeTooManyAttempts)
			srv.Clock.Advance(15 * time.Minute)
			want(t, f.c.factor(f.limited(c.u, c.step), c.authType, c.right()), 200)
			f.step()
		}
	})
}

// 27. PIN guessing: 1,000 guesses can never all be evaluated. They are sent
// 100 at a time over 10 limited sessions opened beforehand, the right PIN
// among them: at most the limit are evaluated and none succeeds.
func TestItem27ThousandPINGuesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		u := f.newUser(f.adminA, "pin6@a.example", false)
		f.setPIN(u, "000777")
		lims := make([]string, 10)
		for i := range lims {
			lims[i] = f.limited(u, mfad.StepPIN)
		}
		var rs []resp
		for batch := range 10 {
			rs = append(rs, parallel(100, func(i int) resp {
				k := batch*100 + i
				return f.c.factor(lims[k%len(lims)], "PIN", fmt.Sprintf("%06d", k))
			})...)
		}
		got := tally(rs)
		evaluated := countLines(srv.Logs.String(), "event=login.factor.fail", "user_id="+u.ID)
		t.Logf("FIGURE pin-guessing: %s: 1000 PIN guesses (the right one among them), %d evaluated, %d answered 429, %d succeeded (statuses %v)", storeName(t), evaluated, got[429], got[200], got)
		if got[200] != 0 || evaluated > 5 || got[401]+got[429] != 1000 {
			t.Fatalf("1000 PIN guesses: statuses %v, %d evaluated", got, evaluated)
		}
	})
}

// 28. Counters survive a restart and are shared across instances: failures
// counted on two instances lock the email on both, and on an instance
// started afterwards on the same database; a TOTP step accepted before the
// restart stays spent.
func TestItem28CountersSurviveRestartAndInstances(t *testing.T) {
	forEachCluster(t, func(t *testing.T, cl *cluster) {
		a, b := cl.start(), cl.start()
		admin := mustFull(t, a.c, testserver.AdminEmail, testserver.AdminPassword)
		secrets := map[string]string{}
		for i, email := range []string{"u@a.example", "v@a.example", "w@a.example"} {
			want(t, []*instance{a, b}[i%2].c.post("/user/create", admin, obj{"name": email, "email": email, "password": "pw-" + email}), 200)
			if email == "u@a.example" {
				continue
			}
			tok := mustFull(t, b.c, email, "pw-"+email)
			secrets[email] = generate(t, b.c, tok)
			want(t, a.c.post("/profile/set-mfa", tok, obj{"auth_type": "2FA", "code": codeAt(secrets[email], cl.clock.Now(), 0)}), 200)
		}
		cl.clock.Advance(30 * time.Second)
		now := cl.clock.Now()

		// A TOTP login of w: the limited session opened on a, finished on b.
		replayed := codeAt(secrets["w@a.example"], now, 0)
		want(t, b.c.factor(mustLimited(t, a.c, "w@a.example", "pw-w@a.example", mfad.StepTOTP), "2FA", replayed), 200)
		// Passwords of u: 3 failures on a, 2 on b.
		for i := range 5 {
			wantErr(t, []*instance{a, b}[i/3].c.login("u@a.example", "wrong"), 401, mfad.CodeBadCredentials)
		}
		wantErr(t, a.c.login("u@a.example", "pw-u@a.example"), 429, mfad.CodeTooManyAttempts)
		wantErr(t, b.c.login("u@a.example", "pw-u@a.example"), 429, mfad.CodeTooManyAttempts)
		// Codes of v: 2 wrong on a, 3 on b.
		for i := range 5 {
			inst := []*instance{a, b}[min(i/2, 1)]
			lim := mustLimited(t, inst.c, "v@a.example", "pw-v@a.example", mfad.StepTOTP)
			wantErr(t, inst.c.factor(lim, "2FA", wrongCode(secrets["v@a.example"], now)), 401, mfad.CodeWrongCode)
		}
		wantErr(t, a.c.login("v@a.example", "pw-v@a.example"), 429, mfad.CodeTooManyAttempts)
		wantErr(t, b.c.login("v@a.example", "pw-v@a.example"), 429, mfad.CodeTooManyAttempts)

		// Restart: both instances stop, a new one starts on the database, at
		// the same fake time.
		a.stop()
		b.stop()
		c := cl.start()
		wantErr(t, c.c.login("u@a.example", "pw-u@a.example"), 429, mfad.CodeTooManyAttempts)
		wantErr(t, c.c.login("v@a.example", "pw-v@a.example"), 429, mfad.CodeTooManyAttempts)
		// The TOTP step accepted before the restart stays spent.
		lim := mustLimited(t, c.c, "w@a.example", "pw-w@a.example", mfad.StepTOTP)
		wantErr(t, c.c.factor(lim, "2FA", replayed), 401, mfad.CodeWrongCode)
		// The lock ends when it should.
		cl.clock.Advance(15 * time.Minute)
		mustFull(t, c.c, "u@a.example", "pw-u@a.example")
		lim = mustLimited(t, c.c, "v@a.example", "pw-v@a.example", mfad.StepTOTP)
		want(t, c.c.factor(lim, "2FA", codeAt(secrets["v@a.example"], cl.clock.Now(), 0)), 200)
		t.Logf("FIGURE counters: %s: lockouts counted on 2 instances (3+2 wrong passwords, 2+3 wrong codes) held on both and on a third instance started after both stopped; a TOTP step spent before the restart stayed spent", storeName(t))
	})
}

// Enumeration by status, body and time: an unknown email and a wrong
// password get the same status and body, byte for byte, and the same time
// within noise. Timing: 30 logins of each kind, interleaved, after a
// warm-up, on the production argon2id parameters; the relative difference
// of the medians must stay under 25%, a loose bound for a shared 2-core
// machine under the race detector.
func TestEnumerationUnknownEmailVsWrongPassword(t *testing.T) {
	forEachStoreAlone(t, options(true, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		wrong := f.c.login(f.plain.Email, "not-the-password")
		unknown := f.c.login("nobody-here@a.example", "not-the-password")
		wantErr(t, wrong, 401, mfad.CodeBadCredentials)
		sameAnswer(t, "unknown email vs wrong password", unknown, wrong)
		// Also with an email of another account, and a case variant.
		sameAnswer(t, "B's email vs wrong password", f.c.login(f.userB.Email, "not-the-password"), wrong)
		sameAnswer(t, "upper-case email vs wrong password", f.c.login(strings.ToUpper(f.plain.Email), "not-the-password"), wrong)

		const n = 30
		for range 5 {
			f.c.login(f.plain.Email, "warm-up-password")
			f.c.login("warm-up@a.example", "warm-up-password")
		}
		var known, nobody []time.Duration
		for i := range n {
			a := f.c.login(f.plain.Email, fmt.Sprintf("wrong-%d", i))
			b := f.c.login(fmt.Sprintf("nobody-%d@a.example", i), fmt.Sprintf("wrong-%d", i))
			if i%2 == 1 { // alternate which kind goes first
				b = f.c.login(fmt.Sprintf("nobody-%d-b@a.example", i), fmt.Sprintf("wrong-%d", i))
				a = f.c.login(f.plain.Email, fmt.Sprintf("wrong-%d-b", i))
			}
			sameAnswer(t, "timed logins", a, b)
			known = append(known, a.End.Sub(a.Start))
			nobody = append(nobody, b.End.Sub(b.Start))
		}
		mk, mu := median(known), median(nobody)
		diff := math.Abs(float64(mk-mu)) / float64(min(mk, mu))
		t.Logf("FIGURE enumeration: %s: median of %d logins %v for a wrong password, %v for an unknown email, relative difference %.1f%% (bound 25%%)",
			storeName(t), n, mk.Round(10*time.Microsecond), mu.Round(10*time.Microsecond), 100*diff)
		if diff >= 0.25 {
			t.Fatalf("an unknown email answers in %v, a wrong password in %v: %.0f%% apart", mu, mk, 100*diff)
		}
	})
}

// storeName is the last element of the test's name: sqlite or postgres.
func storeName(t *testing.T) string {
	return t.Name()[strings.LastIndexByte(t.Name(), '/')+1:]
}
