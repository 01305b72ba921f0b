package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

func recoveryCodes(t *testing.T, s mfad.Store, userID string, n int) [][]byte {
	t.Helper()
	hashes := make([][]byte, n)
	for i := range hashes {
		hashes[i] = randHash()
	}
	if err := s.SetRecoveryCodes(t.Context(), userID, hashes, t0); err != nil {
		t.Fatal(err)
	}
	return hashes
}

func recoveryLeft(t *testing.T, s mfad.Store, userID string) int {
	t.Helper()
	n, err := s.RecoveryCodesLeft(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func hasRecovery(t *testing.T, s mfad.Store, userID string, hash []byte) bool {
	t.Helper()
	ok, err := s.HasRecoveryCode(t.Context(), userID, hash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A new set replaces the old; a code is the user's only; a login step
// consumes it once, with the step's session and last login; removing 2FA
// (by the user or an admin) and deleting the user drop the codes.
func testRecoveryCodes(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 1)
	other := totpUser(t, s, a.ID, 1)
	if n := recoveryLeft(t, s, u.ID); n != 0 {
		t.Fatalf("%d codes before any were made", n)
	}
	old := recoveryCodes(t, s, u.ID, 10)
	codes := recoveryCodes(t, s, u.ID, 10)
	if n := recoveryLeft(t, s, u.ID); n != 10 {
		t.Fatalf("%d codes after a second set of 10, want 10", n)
	}
	if hasRecovery(t, s, u.ID, old[0]) {
		t.Fatal("a code of the replaced set is still valid")
	}
	if !hasRecovery(t, s, u.ID, codes[3]) || hasRecovery(t, s, other.ID, codes[3]) {
		t.Fatal("a code is not its user's, or is another user's too")
	}

	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	next := fullNext(u.ID)
	later := t0.Add(time.Hour)
	next.Created = later
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, RecoveryHash: codes[3], Next: next, Now: later}); err != nil {
		t.Fatalf("a login step with a recovery code: %v", err)
	}
	if !sessionExists(t, s, next.Hash) || sessionExists(t, s, lim.Hash) {
		t.Fatal("the step did not swap the limited session for the full one")
	}
	if got := getUser(t, s, u.ID); !got.LastLogin.Equal(later) {
		t.Errorf("last login %v after a recovery login, want %v", got.LastLogin, later)
	}
	if hasRecovery(t, s, u.ID, codes[3]) || recoveryLeft(t, s, u.ID) != 9 {
		t.Fatal("the code used is still there, or others went with it")
	}
	// Used once: a second step with it changes nothing.
	lim2 := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	next2 := fullNext(u.ID)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, RecoveryHash: codes[3], Next: next2, Now: later}); !errors.Is(err, mfad.ErrReplay) {
		t.Fatalf("a used recovery code: %v, want ErrReplay", err)
	}
	if !sessionExists(t, s, lim2.Hash) || sessionExists(t, s, next2.Hash) {
		t.Fatal("a refused step changed the sessions")
	}
	// Another user's code does not work for this one.
	oc := recoveryCodes(t, s, other.ID, 1)
	if err := s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim2.Hash, UserID: u.ID, RecoveryHash: oc[0], Next: next2, Now: later}); !errors.Is(err, mfad.ErrReplay) {
		t.Fatalf("another user's recovery code: %v, want ErrReplay", err)
	}

	if err := s.RemoveFactor(ctx, u.ID, mfad.AuthTOTP, later); err != nil {
		t.Fatal(err)
	}
	if n := recoveryLeft(t, s, u.ID); n != 0 {
		t.Fatalf("%d codes left after the user removed 2FA", n)
	}
	recoveryCodes(t, s, other.ID, 10)
	if err := s.AdminRemoveFactor(ctx, a.ID, []string{other.ID}, mfad.AuthTOTP, later); err != nil {
		t.Fatal(err)
	}
	if n := recoveryLeft(t, s, other.ID); n != 0 {
		t.Fatalf("%d codes left after an admin removed 2FA", n)
	}
	w := totpUser(t, s, a.ID, 1)
	wc := recoveryCodes(t, s, w.ID, 10)
	if err := s.AdminResetTOTP(ctx, a.ID, []string{w.ID}, later); err != nil {
		t.Fatal(err)
	}
	if !hasRecovery(t, s, w.ID, wc[0]) {
		t.Fatal("a 2FA reset (a new authenticator) dropped the recovery codes")
	}
	if err := s.DeleteUsers(ctx, a.ID, []string{w.ID}); err != nil {
		t.Fatal(err)
	}
	if hasRecovery(t, s, w.ID, wc[0]) {
		t.Fatal("a deleted user's recovery code is still there")
	}
}

// Of concurrent login steps with one recovery code, on as many limited
// sessions, exactly one succeeds.
func testRecoveryCodeRace(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 1)
	codes := recoveryCodes(t, s, u.ID, 10)
	const n = mfad.MaxLimitedSessions
	limited := make([]*mfad.Session, n)
	for i := range limited {
		limited[i] = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	}
	exactlyOne(t, n, "step with one recovery code", mfad.ErrReplay, func(i int) error {
		return s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited[i].Hash, UserID: u.ID,
			RecoveryHash: codes[0], Next: fullNext(u.ID), Now: t0})
	})
	if left := recoveryLeft(t, s, u.ID); left != 9 {
		t.Fatalf("%d codes left, want 9", left)
	}
}
