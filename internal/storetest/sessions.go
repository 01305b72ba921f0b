package storetest

import (
	"testing"
	"time"

	"github.com/mfad/mfad"
)

func testSessionsTouchDeletePurge(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	lim := &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepTOTP,
		Created: t0.Add(-time.Hour), LastSeen: t0, Expires: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, lim); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u.ID); !got.LastLogin.IsZero() {
		t.Errorf("a limited session recorded a login at %v", got.LastLogin)
	}
	se := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	if got := getUser(t, s, u.ID); !got.LastLogin.Equal(se.Created) {
		t.Errorf("LastLogin %v after a full session created at %v", got.LastLogin, se.Created)
	}
	if err := s.TouchSession(ctx, se.Hash, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, se.Hash, t0.Add(time.Second)); err != nil { // never backwards
		t.Fatal(err)
	}
	got, err := s.Session(ctx, se.Hash)
	if err != nil || !got.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("LastSeen = %v, %v", got, err)
	}
	short := &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepTOTP, Created: t0, LastSeen: t0, Expires: t0.Add(time.Minute)}
	if err := s.CreateSession(ctx, short); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if sessionExists(t, s, short.Hash) || !sessionExists(t, s, se.Hash) {
		t.Error("Purge removed the wrong sessions")
	}
	if err := s.DeleteSession(ctx, se.Hash); err != nil {
		t.Fatal(err)
	}
	if sessionExists(t, s, se.Hash) {
		t.Error("DeleteSession left the session")
	}
	if err := s.DeleteSession(ctx, se.Hash); err != nil {
		t.Errorf("DeleteSession of a gone session: %v", err)
	}
}

// SessionUser reads the session, its user and the account together, as
// the separate reads do.
func testSessionUser(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, true)
	u := newUser(t, s, a.ID, func(u *mfad.User) { u.HasPIN, u.PINHash, u.TOTPSeal = true, "$pin", []byte("seal") })
	se := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepPIN)
	gotSe, gotU, gotA, err := s.SessionUser(ctx, se.Hash)
	if err != nil {
		t.Fatal(err)
	}
	wantSe, _ := s.Session(ctx, se.Hash)
	wantA, _ := s.Account(ctx, a.ID)
	if !sameSession(gotSe, wantSe) || !sameUser(gotU, getUser(t, s, u.ID)) || !sameAccount(gotA, wantA) || !gotA.Forced2FA {
		t.Fatalf("SessionUser differs from the separate reads:\n%+v\n%+v\n%+v", gotSe, gotU, gotA)
	}
	if _, _, _, err := s.SessionUser(ctx, randHash()); err != mfad.ErrNotFound {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
}

// A user has at most mfad.MaxLimitedSessions limited sessions: a new one
// closes the oldest; full sessions and other users' sessions are not
// touched.
func testLimitedSessionCap(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	other := newUser(t, s, a.ID, nil)
	full := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	theirs := newSession(t, s, other.ID, mfad.SessionLimited, mfad.StepTOTP)
	const extra = 3
	lims := make([]*mfad.Session, mfad.MaxLimitedSessions+extra)
	for i := range lims {
		lims[i] = &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepTOTP,
			Created: t0.Add(time.Duration(i) * time.Second), LastSeen: t0, Expires: t0.Add(time.Hour)}
		if err := s.CreateSession(ctx, lims[i]); err != nil {
			t.Fatal(err)
		}
		if live := liveOf(t, s, lims[:i+1]); live != min(i+1, mfad.MaxLimitedSessions) {
			t.Fatalf("after %d limited sessions, %d live, want %d", i+1, live, min(i+1, mfad.MaxLimitedSessions))
		}
	}
	for i, se := range lims {
		if want := i >= extra; sessionExists(t, s, se.Hash) != want {
			t.Errorf("limited session %d (of %d, oldest first): exists %v, want %v", i, len(lims), !want, want)
		}
	}
	if !sessionExists(t, s, full.Hash) || !sessionExists(t, s, theirs.Hash) {
		t.Error("the cap closed a full session, or another user's")
	}
	// A new session created at the same instant as the others still stays.
	same := &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepPIN,
		Created: lims[len(lims)-1].Created, LastSeen: t0, Expires: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, same); err != nil {
		t.Fatal(err)
	}
	if !sessionExists(t, s, same.Hash) || liveOf(t, s, append(lims, same)) != mfad.MaxLimitedSessions {
		t.Error("a session created at the same instant as the newest was closed, or the cap not kept")
	}
}

// Many limited sessions of one user created at once: the cap holds.
func testLimitedSessionCapConcurrent(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	const n = 60
	lims := make([]*mfad.Session, n)
	for i := range lims {
		lims[i] = &mfad.Session{Hash: randHash(), UserID: u.ID, Kind: mfad.SessionLimited, Step: mfad.StepTOTP,
			Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	}
	errs := atOnce(n, func(i int) error { return s.CreateSession(ctx, lims[i]) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CreateSession %d: %v", i, err)
		}
	}
	if live := liveOf(t, s, lims); live != mfad.MaxLimitedSessions {
		t.Fatalf("%d limited sessions created at once: %d live, want %d", n, live, mfad.MaxLimitedSessions)
	}
}

// liveOf counts the sessions of list that exist.
func liveOf(t *testing.T, s mfad.Store, list []*mfad.Session) int {
	t.Helper()
	n := 0
	for _, se := range list {
		if sessionExists(t, s, se.Hash) {
			n++
		}
	}
	return n
}
