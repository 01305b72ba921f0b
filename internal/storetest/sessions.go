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
	if !sameSession(gotSe, wantSe) || !sameUser(gotU, getUser(t, s, u.ID)) || !sameAccount(gotA, wantA) || !gotA.Force2FA {
		t.Fatalf("SessionUser differs from the separate reads:\n%+v\n%+v\n%+v", gotSe, gotU, gotA)
	}
	if _, _, _, err := s.SessionUser(ctx, randHash()); err != mfad.ErrNotFound {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
}
