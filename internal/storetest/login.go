package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

func testAdvanceLoginReplayConcurrentSessions(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	const gen = 3
	u := totpUser(t, s, a.ID, gen)

	const n = mfad.MaxLimitedSessions // as many as a user may have at once
	limited := make([]*mfad.Session, n)
	next := make([]*mfad.Session, n)
	for i := range limited {
		limited[i] = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
		next[i] = fullNext(u.ID)
	}
	errs := atOnce(n, func(i int) error {
		return s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited[i].Hash, UserID: u.ID,
			TOTPStep: 1000, TOTPGen: gen, Next: next[i], Now: t0})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both succeeded with step 1000", winner, i)
			}
			winner = i
		case errors.Is(err, mfad.ErrReplay):
		default:
			t.Errorf("goroutine %d: %v, want nil or ErrReplay", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no AdvanceLogin succeeded")
	}
	got := getUser(t, s, u.ID)
	if got.TOTPLast != 1000 || !got.LastLogin.Equal(t0) {
		t.Errorf("TOTPLast %d LastLogin %v, want 1000, %v", got.TOTPLast, got.LastLogin, t0)
	}
	// The winner's limited session is closed and its full session exists;
	// the losers changed nothing.
	for i := range n {
		if i == winner {
			if sessionExists(t, s, limited[i].Hash) || !sessionExists(t, s, next[i].Hash) {
				t.Errorf("winner: limited session left or full session missing")
			}
			continue
		}
		if !sessionExists(t, s, limited[i].Hash) {
			t.Errorf("loser %d: limited session deleted by a failed advance", i)
		}
		if sessionExists(t, s, next[i].Hash) {
			t.Errorf("loser %d: full session created", i)
		}
	}

	loser := limited[(winner+1)%n]
	for _, step := range []int64{999, 1000, 1} {
		err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: loser.Hash, UserID: u.ID,
			TOTPStep: step, TOTPGen: gen, Next: fullNext(u.ID), Now: t0})
		if !errors.Is(err, mfad.ErrReplay) {
			t.Errorf("step %d after 1000: %v, want ErrReplay", step, err)
		}
	}
	fresh := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: fresh.Hash, UserID: u.ID,
		TOTPStep: 1001, TOTPGen: gen, Next: fullNext(u.ID), Now: t0}); err != nil {
		t.Errorf("step 1001: %v", err)
	}
	if got := getUser(t, s, u.ID); got.TOTPLast != 1001 {
		t.Errorf("TOTPLast %d, want 1001", got.TOTPLast)
	}
}

func testAdvanceLoginOneSessionConcurrent(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	const gen = 1
	u := totpUser(t, s, a.ID, gen)
	limited := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)

	const n = 50
	next := make([]*mfad.Session, n)
	for i := range next {
		next[i] = fullNext(u.ID)
	}
	errs := atOnce(n, func(i int) error {
		return s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited.Hash, UserID: u.ID,
			TOTPStep: 500, TOTPGen: gen, Next: next[i], Now: t0})
	})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if !sessionExists(t, s, next[i].Hash) {
				t.Errorf("winner's full session missing")
			}
		case errors.Is(err, mfad.ErrSessionGone), errors.Is(err, mfad.ErrReplay):
			if sessionExists(t, s, next[i].Hash) {
				t.Errorf("loser %d: full session created", i)
			}
		default:
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d successes, want exactly 1", ok)
	}
	if sessionExists(t, s, limited.Hash) {
		t.Error("limited session still open")
	}
	if got := getUser(t, s, u.ID); got.TOTPLast != 500 {
		t.Errorf("TOTPLast %d, want 500", got.TOTPLast)
	}
}

func testAdvanceLoginChecks(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 2)
	other := totpUser(t, s, a.ID, 2)

	// Another user's limited session does not advance this user.
	se := newSession(t, s, other.ID, mfad.SessionLimited, mfad.StepTOTP)
	err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: se.Hash, UserID: u.ID, TOTPStep: 10, TOTPGen: 2, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrSessionGone) {
		t.Errorf("other user's session: %v, want ErrSessionGone", err)
	}
	// A full session is not a limited one.
	full := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: full.Hash, UserID: u.ID, TOTPStep: 10, TOTPGen: 2, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrSessionGone) {
		t.Errorf("full session: %v, want ErrSessionGone", err)
	}
	if !sessionExists(t, s, full.Hash) {
		t.Error("full session deleted")
	}
	// Unknown session.
	err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: randHash(), UserID: u.ID, TOTPStep: 10, TOTPGen: 2, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrSessionGone) {
		t.Errorf("unknown session: %v, want ErrSessionGone", err)
	}
	// Wrong generation with the secret still present.
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 10, TOTPGen: 1, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrReplay) {
		t.Errorf("wrong gen: %v, want ErrReplay", err)
	}
	if !sessionExists(t, s, lim.Hash) {
		t.Error("limited session deleted by a failed advance")
	}
	// A PIN step (no TOTP step) just swaps the sessions.
	pin := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepPIN)
	nx := fullNext(u.ID)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: pin.Hash, UserID: u.ID, Next: nx, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if sessionExists(t, s, pin.Hash) || !sessionExists(t, s, nx.Hash) {
		t.Error("PIN advance did not swap sessions")
	}
	if got := getUser(t, s, u.ID); got.TOTPLast != 0 {
		t.Errorf("PIN advance moved TOTPLast to %d", got.TOTPLast)
	}
	// A limited next session does not count as a login.
	before := getUser(t, s, u.ID)
	lim2 := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	nextLim := &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepPIN, Created: t0, LastSeen: t0, Expires: t0.Add(time.Minute)}
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, TOTPStep: 20, TOTPGen: 2, Next: nextLim, Now: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if got.TOTPLast != 20 || !got.LastLogin.Equal(before.LastLogin) {
		t.Errorf("TOTPLast %d LastLogin %v, want 20 and %v", got.TOTPLast, got.LastLogin, before.LastLogin)
	}
}

func testAdvanceLoginStaleGenAfterReset(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	const gen = 4
	u := totpUser(t, s, a.ID, gen)
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)

	if err := s.AdminResetTOTP(ctx, a.ID, []string{u.ID}, t0); err != nil {
		t.Fatal(err)
	}
	err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 100, TOTPGen: gen, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrReplay) && !errors.Is(err, mfad.ErrSessionGone) {
		t.Errorf("stale gen after reset: %v, want ErrReplay or ErrSessionGone", err)
	}
	// Even with a session that survived (made after the reset), the old
	// generation and the cleared secret are refused.
	lim2 := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, TOTPStep: 100, TOTPGen: gen, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrReplay) {
		t.Errorf("stale gen, live session: %v, want ErrReplay", err)
	}
	got := getUser(t, s, u.ID)
	err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, TOTPStep: 100, TOTPGen: got.TOTPGen, Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrReplay) {
		t.Errorf("current gen but no secret: %v, want ErrReplay", err)
	}
}

func testAdvanceLoginEnrollPending(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, true)
	u := newUser(t, s, a.ID, nil)
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepEnroll)
	p := &mfad.PendingTOTP{ID: "pe", UserID: u.ID, Seal: []byte("seal-e"), Created: t0}
	if err := s.PutPendingTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 77, PendingID: "old", Next: fullNext(u.ID), Now: t0})
	if !errors.Is(err, mfad.ErrNoPending) {
		t.Fatalf("wrong pending id: %v, want ErrNoPending", err)
	}
	if !sessionExists(t, s, lim.Hash) {
		t.Fatal("failed advance closed the limited session")
	}
	nx := fullNext(u.ID)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 77, PendingID: p.ID, Next: nx, Now: t0}); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if !bytes.Equal(got.TOTPSeal, p.Seal) || !got.Has2FA || got.TOTPLast != 77 || got.TOTPGen != 1 {
		t.Errorf("user after enroll at login: %+v", got)
	}
	if !sessionExists(t, s, nx.Hash) {
		t.Error("next session missing")
	}
}

func testFailSession(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 1)
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	for i := 1; i <= 4; i++ {
		closed, err := s.FailSession(ctx, lim.Hash, 5)
		if err != nil || closed {
			t.Fatalf("failure %d: closed=%v, %v", i, closed, err)
		}
		se, err := s.Session(ctx, lim.Hash)
		if err != nil || se.Failures != i {
			t.Fatalf("failure %d: session %+v, %v", i, se, err)
		}
	}
	closed, err := s.FailSession(ctx, lim.Hash, 5)
	if err != nil || !closed {
		t.Fatalf("5th failure: closed=%v, %v; want closed", closed, err)
	}
	if sessionExists(t, s, lim.Hash) {
		t.Error("session open after 5 failures")
	}
	// A gone session reports closed.
	if closed, err := s.FailSession(ctx, lim.Hash, 5); err != nil || !closed {
		t.Errorf("gone session: closed=%v, %v", closed, err)
	}

	full := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	for range 6 {
		if _, err := s.FailSession(ctx, full.Hash, 5); err != nil {
			t.Fatal(err)
		}
	}
	se, err := s.Session(ctx, full.Hash)
	if err != nil {
		t.Fatalf("full session closed by FailSession: %v", err)
	}
	if se.Failures != 0 {
		t.Errorf("full session counted %d failures", se.Failures)
	}
}

// AdvanceLogin with CheckKey refuses, changing nothing, while the key is
// locked, and proceeds once the lock has passed.
func testAdvanceLoginCheckKey(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 2)
	p := mfad.Throttle{Limit: 2, Window: time.Hour, Lock: time.Minute}
	for i := 0; i < p.Limit; i++ {
		if retry, err := retryOf(s.Reserve(ctx, "email:check", p, t0)); err != nil || retry != 0 {
			t.Fatalf("reserve %d: %v %v", i, retry, err)
		}
	}
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	nx := fullNext(u.ID)
	adv := mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: 30, TOTPGen: 2, Next: nx, Now: t0.Add(20 * time.Second),
		CheckKey: "email:check", ResetKey: "email:check", Audit: []*mfad.AuditEvent{{AccountID: a.ID, ActorID: u.ID, UserID: u.ID,
			Event: "login.ok", Outcome: "success", Time: t0}}}
	err := s.AdvanceLogin(ctx, adv)
	var locked *mfad.LockedError
	if !errors.As(err, &locked) || locked.RetryAfter != 40*time.Second {
		t.Fatalf("advance on a locked key: %v, want a LockedError of 40s", err)
	}
	if !sessionExists(t, s, lim.Hash) || sessionExists(t, s, nx.Hash) {
		t.Error("a refused advance swapped the sessions")
	}
	if got := getUser(t, s, u.ID); got.TOTPLast != 0 {
		t.Errorf("a refused advance consumed TOTP step %d", got.TOTPLast)
	}
	if ev, err := s.AuditEvents(ctx, a.ID, 0, 10); err != nil || len(ev) != 0 {
		t.Errorf("a refused advance wrote audit entries: %v %v", ev, err)
	}
	if retry, err := retryOf(s.Reserve(ctx, "email:check", p, t0.Add(20*time.Second))); err != nil || retry != 40*time.Second {
		t.Errorf("the key after a refused advance: retry %v %v, want still locked for 40s", retry, err)
	}
	// Once the lock has passed, the same advance commits and clears the key.
	adv.Now = t0.Add(time.Minute)
	if err := s.AdvanceLogin(ctx, adv); err != nil {
		t.Fatalf("advance after the lock: %v", err)
	}
	if sessionExists(t, s, lim.Hash) || !sessionExists(t, s, nx.Hash) {
		t.Error("the advance after the lock did not swap the sessions")
	}
	if retry, err := retryOf(s.Reserve(ctx, "email:check", p, t0.Add(time.Minute))); err != nil || retry != 0 {
		t.Errorf("the key after the login: retry %v %v, want cleared", retry, err)
	}
	// An unknown key is not locked.
	lim2 := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, TOTPStep: 31, TOTPGen: 2, Next: fullNext(u.ID), Now: t0.Add(time.Minute),
		CheckKey: "email:never-seen"}); err != nil {
		t.Errorf("advance with an unknown key: %v", err)
	}
}
