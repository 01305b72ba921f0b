package abuse_test

// Replay and races: checklist items 18 to 23.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
)

// wrongCodeFor returns a well-formed code that is none of the codes of the
// window (steps -1, 0 and +1).
func (f *fixture) wrongCodeFor(u *user) string { return wrongCode(u.Secret, f.now()) }

// wrongCode returns a well-formed code of none of the steps of the window
// of secret at now.
func wrongCode(secret string, now time.Time) string {
	window := []string{codeAt(secret, now, -1), codeAt(secret, now, 0), codeAt(secret, now, 1)}
	w := other(window[1])
	for slices.Contains(window, w) {
		w = other(w)
	}
	return w
}

// sameAnswer fails unless two answers have the same status, body and
// headers that could tell them apart.
func sameAnswer(t testing.TB, what string, a, b resp) {
	t.Helper()
	if a.Status != b.Status || string(a.Body) != string(b.Body) {
		t.Fatalf("%s: %s differs from %s", what, a, b)
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Retry-After", "Mfa-Code"} {
		if a.Header.Get(h) != b.Header.Get(h) {
			t.Fatalf("%s: header %s %q vs %q", what, h, a.Header.Get(h), b.Header.Get(h))
		}
	}
}

// 18. A valid code works once; again from a new limited session it is
// rejected as a wrong code is (401 code 13, counted), with a msg that says
// it was already used, and the replay is logged. The code that confirmed
// an enrollment is spent too.
func TestItem18CodeWorksOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		code := f.code(f.totp, 0)
		want(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", code), 200)
		lim := f.limited(f.totp, mfad.StepTOTP)
		replay := f.c.factor(lim, "2FA", code)
		wrong := f.c.factor(lim, "2FA", f.wrongCodeFor(f.totp))
		wantErr(t, replay, 401, mfad.CodeWrongCode)
		wantErr(t, wrong, 401, mfad.CodeWrongCode)
		if !strings.Contains(string(replay.Body), "already used") || strings.Contains(string(wrong.Body), "already used") {
			t.Fatalf("a replayed code %s and a wrong one %s: only the first should say it was already used", replay.Body, wrong.Body)
		}
		if countLines(srv.Logs.String(), "event=totp.replay", "user_id="+f.totp.ID) == 0 {
			t.Fatal("the replayed code was not logged")
		}
		// Twice more, on fresh sessions: always refused alike.
		for range 2 {
			sameAnswer(t, "replayed code, again", f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", code), replay)
		}

		// Enrollment: the confirming code cannot also be the first login code.
		u := f.newUser(f.adminA, "enrolled@a.example", false)
		secret := generate(t, f.c, u.Token)
		enrollCode := codeAt(secret, f.now(), 0)
		want(t, f.c.post("/profile/set-mfa", u.Token, obj{"auth_type": "2FA", "code": enrollCode}), 200)
		u.Secret = secret
		lim = f.limited(u, mfad.StepTOTP)
		reused := f.c.factor(lim, "2FA", enrollCode)
		sameAnswer(t, "enrollment code reused vs a replayed code", reused, replay)
		// The same code on the set-mfa of a second enrollment is refused too.
		p2 := generate(t, f.c, u.Token)
		wantErr(t, f.c.post("/profile/set-mfa", u.Token, obj{"auth_type": "2FA", "code": codeAt(p2, f.now(), -1)}), 400, mfad.CodeEnrollment)
	})
}

// rfcVectors are RFC 6238 Appendix B (SHA-1, 8 digits).
var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
	{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
}

// 19. After step T is accepted, T-1 is rejected; T±2 always; the RFC 6238
// vectors hold for the codes this suite computes, and the server accepts
// those codes, also at T = 20000000000 (past 32 bits).
func TestItem19TimeStepsAndRFC6238(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range rfcVectors {
		if got := rfcCode(key, v.unix/30, 8); got != v.code {
			t.Fatalf("RFC 6238 at %d: %s, want %s", v.unix, got, v.code)
		}
		if got := rfcCode(key, v.unix/30, 6); got != v.code[2:] {
			t.Fatalf("RFC 6238 (6 digits) at %d: %s, want %s", v.unix, got, v.code[2:])
		}
	}
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		// The server's codes are RFC 6238's.
		for off := int64(-3); off <= 3; off++ {
			if got, want := srv.Code(t, f.totp.Secret, off), f.code(f.totp, off); got != want {
				t.Fatalf("offset %d: the server computes %s, RFC 6238 %s", off, got, want)
			}
		}
		try := func(off int64) resp {
			return f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.code(f.totp, off))
		}
		wantErr(t, try(-2), 401, mfad.CodeWrongCode)
		wantErr(t, try(2), 401, mfad.CodeWrongCode)
		want(t, try(0), 200)                         // step T
		wantErr(t, try(-1), 401, mfad.CodeWrongCode) // T-1 after T
		wantErr(t, try(0), 401, mfad.CodeWrongCode)  // T again
		wantErr(t, try(-2), 401, mfad.CodeWrongCode)
		wantErr(t, try(2), 401, mfad.CodeWrongCode)
		want(t, try(1), 200)                        // T+1
		wantErr(t, try(1), 401, mfad.CodeWrongCode) // T+1 again
		wantErr(t, try(0), 401, mfad.CodeWrongCode) // T after T+1
		f.step()
		f.step()
		want(t, try(0), 200)

		// Past 32 bits: move the fake clock to Unix time 20000000000.
		target := time.Unix(20000000000, 0)
		for d := target.Sub(f.now()); f.now().Before(target); d = target.Sub(f.now()) {
			srv.Clock.Advance(min(d, 100*365*24*time.Hour))
		}
		if f.now().Unix() != 20000000000 {
			t.Fatalf("clock at %d", f.now().Unix())
		}
		code := f.code(f.totp, 0)
		if code != rfcCode(secretKey(f.totp.Secret), 20000000000/30, 6) {
			t.Fatal("code computation at 20000000000")
		}
		r := f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", code)
		want(t, r, 200)
		getProfile(t, f.c, "/profile", sid(r))
		wantErr(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", code), 401, mfad.CodeWrongCode)
		t.Logf("TOTP login at Unix time %d (step %d) with code %s accepted once", f.now().Unix(), f.now().Unix()/30, code)
	})
}

// 20. One valid code on 50 limited sessions at once: exactly one 200.
func TestItem20OneCodeFiftySessions(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		for round := range 2 {
			lims := make([]string, 50)
			for i := range lims {
				lims[i] = f.limited(f.totp, mfad.StepTOTP)
			}
			code := f.code(f.totp, 0)
			rs := parallel(len(lims), func(i int) resp { return f.c.factor(lims[i], "2FA", code) })
			got := tally(rs)
			t.Logf("FIGURE one-code-many-sessions: %s: round %d, one code on 50 limited sessions at once: %v", storeName(t), round, got)
			if got[200] != 1 || got[401] != 49 {
				t.Fatalf("one code on 50 sessions: %v, want exactly one 200", got)
			}
			f.step()
		}
	})
}

// 20 (instances). The same across three instances on one database.
func TestItem20OneCodeAcrossInstances(t *testing.T) {
	forEachCluster(t, func(t *testing.T, cl *cluster) {
		insts := []*instance{cl.start(), cl.start(), cl.start()}
		c := insts[0].c
		admin := mustFull(t, c, testserver.AdminEmail, testserver.AdminPassword)
		want(t, c.post("/user/create", admin, obj{"name": "u", "email": "u@a.example", "password": "u-password"}), 200)
		tok := mustFull(t, insts[1].c, "u@a.example", "u-password")
		secret := generate(t, insts[1].c, tok)
		want(t, insts[2].c.post("/profile/set-mfa", tok, obj{"auth_type": "2FA", "code": codeAt(secret, cl.clock.Now(), 0)}), 200)
		cl.clock.Advance(30 * time.Second)
		lims := make([]string, 51)
		for i := range lims {
			lims[i] = mustLimited(t, insts[i%3].c, "u@a.example", "u-password", mfad.StepTOTP)
		}
		code := codeAt(secret, cl.clock.Now(), 0)
		// Each session is finished on another instance than the one that
		// opened it.
		rs := parallel(len(lims), func(i int) resp { return insts[(i+1)%3].c.factor(lims[i], "2FA", code) })
		got := tally(rs)
		t.Logf("FIGURE one-code-many-instances: %s: one code on 51 limited sessions through 3 instances at once: %v", storeName(t), got)
		if got[200] != 1 || got[401] != 50 {
			t.Fatalf("one code through 3 instances: %v, want exactly one 200", got)
		}
	}, noEmailLock)
}

// 21. One code 50 times on one limited session: one full session at most
// (TOTP and PIN).
func TestItem21OneCodeFiftyTimesOnOneSession(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		for _, c := range []struct {
			u        *user
			step     mfad.Step
			authType string
			code     func() string
		}{
			{f.totp, mfad.StepTOTP, "2FA", func() string { return f.code(f.totp, 0) }},
			{f.pin, mfad.StepPIN, "PIN", func() string { return f.pin.PIN }},
		} {
			lim := f.limited(c.u, c.step)
			code := c.code()
			rs := parallel(50, func(int) resp { return f.c.factor(lim, c.authType, code) })
			got := tally(rs)
			var sessions []string
			for _, r := range rs {
				if r.Status == 200 {
					sessions = append(sessions, sid(r))
				} else if code, _ := errorCode(r); r.Status != 401 || (code != int(mfad.CodeUnauthenticated) && code != int(mfad.CodeWrongCode)) {
					t.Fatalf("unexpected answer: %s", r)
				}
			}
			t.Logf("FIGURE one-session-many-times: %s: %s, one code 50 times at once on one limited session: %v", storeName(t), c.authType, got)
			if len(sessions) != 1 {
				t.Fatalf("%s: %d full sessions from one limited session, want 1", c.authType, len(sessions))
			}
			getProfile(t, f.c, "/profile", sessions[0])
			f.step()
		}
	})
}

// 22. reset-mfa racing logins with the old code: once the reset has
// answered, the old secret is never accepted. Every 200 must have been sent
// before the reset answered, and every session it issued is closed by the
// reset.
func TestItem22ResetRacesOldCode(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		u := f.totp
		wins, late, after := 0, 0, 0
		for round := range 4 {
			old := []string{f.code(u, -1), f.code(u, 0), f.code(u, 1)}
			// Half the goroutines hold a limited session opened before the
			// race and send at once; all then log in again and send, across
			// the reset, which starts a little later each round.
			lims := make([]string, 20)
			for g := range 10 {
				lims[g] = f.limited(u, mfad.StepTOTP)
			}
			var mu sync.Mutex
			var successes []resp
			var resetDone time.Time
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for k := range 3 {
						lim := lims[g]
						if k > 0 || lim == "" {
							r := f.c.login(u.Email, u.Password)
							if r.Status != 207 || r.Header.Get("Mfa-Code") != "1" {
								mu.Lock()
								after++
								mu.Unlock()
								continue // the reset has happened: enrollment is owed
							}
							lim = sid(r)
						}
						r := f.c.factor(lim, "2FA", old[(g+k)%3])
						if r.Status == 200 {
							mu.Lock()
							successes = append(successes, r)
							mu.Unlock()
						} else if r.Status != 401 {
							f.c.t.Errorf("old code during the reset: %s", r)
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(time.Duration(round*5) * time.Millisecond)
				r := f.c.post("/user/reset-mfa", f.adminA.Token, obj{"ids": []string{u.ID}, "auth_type": "2FA"})
				mu.Lock()
				resetDone = r.End
				mu.Unlock()
				if r.Status != 200 {
					f.c.t.Errorf("reset-mfa: %s", r)
				}
			}()
			close(start)
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			for _, s := range successes {
				if !s.Start.Before(resetDone) {
					t.Fatalf("round %d: the old code was accepted on a request sent %v after reset-mfa answered", round, s.Start.Sub(resetDone))
				}
				if s.End.After(resetDone) {
					late++
				}
				// The reset closed every session, those just issued too.
				wantErr(t, f.c.get("/profile", sid(s)), 401, mfad.CodeUnauthenticated)
			}
			wins += len(successes)
			// After the reset: enrollment is owed and the old codes do nothing.
			lim := f.limited(u, mfad.StepEnroll)
			for _, c := range old {
				wantErr(t, f.c.factor(lim, "2FA", c), 400, mfad.CodeEnrollment)
			}
			secret := generate(t, f.c, lim)
			srv.Clock.Advance(2 * time.Minute) // past every step of the old window
			for _, c := range old {
				if c != codeAt(secret, f.now(), 0) {
					wantErr(t, f.c.factor(lim, "2FA", c), 401, mfad.CodeWrongCode)
				}
			}
			want(t, f.c.factor(f.limited(u, mfad.StepEnroll), "2FA", codeAt(secret, f.now(), 0)), 200)
			u.Secret = secret
			f.step()
		}
		t.Logf("FIGURE reset-race: %s: 4 rounds of reset-mfa against 20 goroutines sending the old codes: %d old-code logins succeeded, all sent before the reset answered (%d of them answered after it) and all closed by it; %d password logins after the reset owed enrollment; 0 old-code logins after the reset",
			storeName(t), wins, late, after)
	})
}

// 23. Concurrent set-mfa and remove-mfa on one user: the end state is on or
// off, as some serial order would leave it, and the profile, the admin's
// view and the login agree.
func TestItem23ConcurrentSetAndRemove(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		u := f.plain
		check := func(round int, pins []string, forced bool) {
			t.Helper()
			p := getProfile(t, f.c, "/user/metadata/"+u.ID, f.adminA.Token)
			on, isForced := slices.Contains(p.AuthMethods, "PIN"), slices.Contains(p.ForcedAuth, "PIN")
			// The admin's calls force the PIN on or take it off with its
			// force; the user's own calls never force it.
			if isForced != (forced && on) {
				t.Fatalf("round %d: inconsistent end state %+v", round, p)
			}
			if !on {
				mustFull(t, f.c, u.Email, u.Password)
				return
			}
			// Exactly one of the PINs set works.
			works := 0
			for _, pin := range pins {
				if f.c.factor(f.limited(u, mfad.StepPIN), "PIN", pin).Status == 200 {
					works++
				}
			}
			if works != 1 {
				t.Fatalf("round %d: PIN on and %d of the PINs set work", round, works)
			}
		}
		states := map[bool]int{}
		for round := range 2 {
			// The user's own calls, on its one session.
			tok := mustFull(t, f.c, u.Email, u.Password)
			var pins []string
			rs := parallel(20, func(i int) resp {
				if i%2 == 0 {
					return f.c.post("/profile/set-mfa", tok, obj{"auth_type": "PIN", "code": fmt.Sprintf("%d%05d", round+1, i)})
				}
				return f.c.post("/profile/remove-mfa", tok, obj{"auth_type": "PIN"})
			})
			for i, r := range rs {
				want(t, r, 200)
				if i%2 == 0 {
					pins = append(pins, fmt.Sprintf("%d%05d", round+1, i))
				}
			}
			check(round, pins, false)
			p := getProfile(t, f.c, "/profile", tok)
			states[slices.Contains(p.AuthMethods, "PIN")]++
			want(t, f.c.post("/profile/remove-mfa", tok, obj{"auth_type": "PIN"}), 200)

			// An admin's calls.
			pins = nil
			rs = parallel(20, func(i int) resp {
				if i%2 == 0 {
					return f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{u.ID}, "auth_type": "PIN", "code": fmt.Sprintf("%d%05d", round+5, i)})
				}
				return f.c.post("/user/remove-mfa", f.adminA.Token, obj{"ids": []string{u.ID}, "auth_type": "PIN"})
			})
			for i, r := range rs {
				want(t, r, 200)
				if i%2 == 0 {
					pins = append(pins, fmt.Sprintf("%d%05d", round+5, i))
				}
			}
			check(round, pins, true)
			var m struct {
				AuthMethods []string `json:"auth_methods"`
			}
			json.Unmarshal(f.c.get("/user/metadata/"+u.ID, f.adminA.Token).Body, &m)
			states[slices.Contains(m.AuthMethods, "PIN")]++
			want(t, f.c.post("/user/remove-mfa", f.adminA.Token, obj{"ids": []string{u.ID}, "auth_type": "PIN"}), 200)
		}
		t.Logf("FIGURE set-remove-race: %s: 4 races of 10 set-mfa against 10 remove-mfa PIN: ended on %d times, off %d times, always consistent", storeName(t), states[true], states[false])
	})
}
