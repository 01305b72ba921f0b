package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
)

func testEnrollTOTP(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, func(u *mfad.User) { u.TOTPLast = 50 })
	keep := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	other := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	lim := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	stranger := newUser(t, s, a.ID, nil)
	seS := newSession(t, s, stranger.ID, mfad.SessionFull, mfad.StepNone)
	u = getUser(t, s, u.ID) // as stored, after the sessions were made

	p1 := &mfad.PendingTOTP{ID: "pending-1", UserID: u.ID, Seal: []byte("seal-1"), Created: t0}
	if err := s.PutPendingTOTP(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PendingTOTP(ctx, u.ID); err != nil || !samePending(got, p1) {
		t.Fatalf("PendingTOTP = %+v, %v", got, err)
	}
	p2 := &mfad.PendingTOTP{ID: "pending-2", UserID: u.ID, Seal: []byte("seal-2"), Created: t0.Add(time.Second)}
	if err := s.PutPendingTOTP(ctx, p2); err != nil {
		t.Fatal(err)
	}
	// The replaced pending id no longer activates.
	err := s.EnrollTOTP(ctx, mfad.Enroll{UserID: u.ID, PendingID: p1.ID, Step: 100, KeepHash: keep.Hash, Now: t0})
	if !errors.Is(err, mfad.ErrNoPending) {
		t.Fatalf("replaced pending id: %v, want ErrNoPending", err)
	}
	// A step not after the last accepted one is a replay.
	err = s.EnrollTOTP(ctx, mfad.Enroll{UserID: u.ID, PendingID: p2.ID, Step: 50, KeepHash: keep.Hash, Now: t0})
	if !errors.Is(err, mfad.ErrReplay) {
		t.Fatalf("old step: %v, want ErrReplay", err)
	}
	if got := getUser(t, s, u.ID); !sameUser(got, u) {
		t.Fatalf("user changed by refused enrollments:\n got %+v\nwant %+v", got, u)
	}
	if !sessionExists(t, s, other.Hash) || !sessionExists(t, s, lim.Hash) {
		t.Fatal("refused enrollment closed sessions")
	}

	now := t0.Add(time.Minute)
	if err := s.EnrollTOTP(ctx, mfad.Enroll{UserID: u.ID, PendingID: p2.ID, Step: 100, KeepHash: keep.Hash, Now: now}); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if !bytes.Equal(got.TOTPSeal, p2.Seal) || !got.Has2FA || got.TOTPLast != 100 || got.TOTPGen != u.TOTPGen+1 || !got.Modified.Equal(now) {
		t.Errorf("user after enroll: %+v", got)
	}
	if !sessionExists(t, s, keep.Hash) {
		t.Error("KeepHash session closed")
	}
	if sessionExists(t, s, other.Hash) || sessionExists(t, s, lim.Hash) {
		t.Error("other sessions of the user left open")
	}
	if !sessionExists(t, s, seS.Hash) {
		t.Error("another user's session closed")
	}
	if _, err := s.PendingTOTP(ctx, u.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("pending secret after enroll: %v", err)
	}
	// Enrolling again with the consumed id: no pending.
	err = s.EnrollTOTP(ctx, mfad.Enroll{UserID: u.ID, PendingID: p2.ID, Step: 200, KeepHash: keep.Hash, Now: now})
	if !errors.Is(err, mfad.ErrNoPending) {
		t.Errorf("consumed pending id: %v, want ErrNoPending", err)
	}
}

func testRemoveFactor(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	forced := newUser(t, s, a.ID, func(u *mfad.User) {
		u.Has2FA, u.Forced2FA, u.TOTPSeal, u.HasPIN, u.ForcedPIN, u.PINHash = true, true, []byte("s"), true, true, "$pin"
	})
	for _, f := range []mfad.AuthType{mfad.AuthTOTP, mfad.AuthPIN} {
		if err := s.RemoveFactor(ctx, forced.ID, f, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrForced) {
			t.Errorf("RemoveFactor forced %s: %v, want ErrForced", f, err)
		}
	}
	if got := getUser(t, s, forced.ID); !sameUser(got, forced) {
		t.Errorf("refused RemoveFactor changed the user")
	}

	u := newUser(t, s, a.ID, func(u *mfad.User) {
		u.Has2FA, u.TOTPSeal, u.TOTPGen, u.TOTPLast, u.HasPIN, u.PINHash = true, []byte("s"), 3, 40, true, "$pin"
	})
	if err := s.PutPendingTOTP(ctx, &mfad.PendingTOTP{ID: "p", UserID: u.ID, Seal: []byte("x"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	if err := s.RemoveFactor(ctx, u.ID, mfad.AuthTOTP, later); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if got.Has2FA || got.TOTPSeal != nil || got.TOTPGen != 4 || got.TOTPLast != 40 || !got.Modified.Equal(later) {
		t.Errorf("after RemoveFactor 2FA: %+v", got)
	}
	if _, err := s.PendingTOTP(ctx, u.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("pending secret after RemoveFactor: %v", err)
	}
	if err := s.RemoveFactor(ctx, u.ID, mfad.AuthPIN, later); err != nil {
		t.Fatal(err)
	}
	got = getUser(t, s, u.ID)
	if got.HasPIN || got.PINHash != "" {
		t.Errorf("after RemoveFactor PIN: %+v", got)
	}
	// Idempotent: removing factors that are off succeeds and changes nothing.
	for _, f := range []mfad.AuthType{mfad.AuthTOTP, mfad.AuthPIN} {
		if err := s.RemoveFactor(ctx, u.ID, f, later.Add(time.Hour)); err != nil {
			t.Errorf("RemoveFactor %s again: %v", f, err)
		}
	}
	if again := getUser(t, s, u.ID); !sameUser(again, got) {
		t.Errorf("second RemoveFactor changed the user:\n got %+v\nwant %+v", again, got)
	}
	if err := s.RemoveFactor(ctx, uuid.NewString(), mfad.AuthPIN, later); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("RemoveFactor unknown user: %v", err)
	}

	// The account forcing 2FA forbids removing it.
	b, _ := newAccount(t, s, true)
	w := totpUser(t, s, b.ID, 1)
	if err := s.RemoveFactor(ctx, w.ID, mfad.AuthTOTP, later); !errors.Is(err, mfad.ErrForced) {
		t.Errorf("RemoveFactor under account force: %v, want ErrForced", err)
	}
}

func testSetPIN(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	keep := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	other := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	if err := s.SetPIN(ctx, u.ID, "$pin", keep.Hash, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if !got.HasPIN || got.PINHash != "$pin" {
		t.Errorf("after SetPIN: %+v", got)
	}
	if !sessionExists(t, s, keep.Hash) || sessionExists(t, s, other.Hash) {
		t.Error("SetPIN: wrong sessions kept")
	}
	if err := s.SetPIN(ctx, uuid.NewString(), "$pin", nil, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("SetPIN unknown user: %v", err)
	}
}

func testAdminBulkAllOrNothing(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, admin := newAccount(t, s, false)
	b, _ := newAccount(t, s, false)
	u1 := newUser(t, s, a.ID, nil)
	u2 := newUser(t, s, a.ID, nil)
	foreign := newUser(t, s, b.ID, nil)
	se1 := newSession(t, s, u1.ID, mfad.SessionFull, mfad.StepNone)

	snapshot := func() []*mfad.User {
		users, err := s.Users(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		fu := getUser(t, s, foreign.ID)
		return append(users, fu)
	}
	before := snapshot()
	bad := [][]string{
		{u1.ID, u2.ID, foreign.ID},
		{u1.ID, uuid.NewString()},
		{},
		nil,
		{u1.ID, `x"]`},
	}
	for _, ids := range bad {
		if err := s.AdminSetFactor(ctx, a.ID, ids, mfad.AuthTOTP, "", t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminSetFactor 2FA %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.AdminSetFactor(ctx, a.ID, ids, mfad.AuthPIN, "$pin", t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminSetFactor PIN %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.AdminRemoveFactor(ctx, a.ID, ids, mfad.AuthPIN, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminRemoveFactor %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.AdminRemoveFactor(ctx, a.ID, ids, mfad.AuthTOTP, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminRemoveFactor 2FA %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.AdminResetTOTP(ctx, a.ID, ids, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminResetTOTP %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.DeleteUsers(ctx, a.ID, ids); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("DeleteUsers %q: %v, want ErrUnknownIDs", ids, err)
		}
	}
	if after := snapshot(); !sameUserSets(before, after) {
		t.Errorf("users changed by refused bulk operations")
	}
	if !sessionExists(t, s, se1.Hash) {
		t.Error("session deleted by a refused bulk operation")
	}

	// Repeated ids are fine.
	if err := s.AdminSetFactor(ctx, a.ID, []string{u1.ID, u2.ID, u1.ID}, mfad.AuthPIN, "$pinhash", t0.Add(time.Hour)); err != nil {
		t.Fatalf("AdminSetFactor with repeated ids: %v", err)
	}
	for _, id := range []string{u1.ID, u2.ID} {
		u := getUser(t, s, id)
		if !u.HasPIN || !u.ForcedPIN || u.PINHash != "$pinhash" || !u.Modified.Equal(t0.Add(time.Hour)) {
			t.Errorf("user after AdminSetFactor PIN: %+v", u)
		}
	}
	if sessionExists(t, s, se1.Hash) {
		t.Error("AdminSetFactor left the user's session open")
	}
	if got := getUser(t, s, admin.ID); got.HasPIN {
		t.Error("AdminSetFactor changed a user not listed")
	}
	if got := getUser(t, s, foreign.ID); got.HasPIN {
		t.Error("AdminSetFactor changed a user of another account")
	}
	// Another account's admin cannot act on these users.
	if err := s.AdminRemoveFactor(ctx, b.ID, []string{u1.ID}, mfad.AuthPIN, t0); !errors.Is(err, mfad.ErrUnknownIDs) {
		t.Errorf("cross-account AdminRemoveFactor: %v", err)
	}
	if err := s.AdminRemoveFactor(ctx, a.ID, []string{u1.ID, u1.ID}, mfad.AuthPIN, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u := getUser(t, s, u1.ID); u.HasPIN || u.ForcedPIN || u.PINHash != "" {
		t.Errorf("user after AdminRemoveFactor PIN: %+v", u)
	}

	if err := s.AdminSetFactor(ctx, a.ID, []string{u2.ID}, mfad.AuthTOTP, "", t0); err != nil {
		t.Fatal(err)
	}
	if u := getUser(t, s, u2.ID); !u.Has2FA || !u.Forced2FA {
		t.Errorf("user after AdminSetFactor 2FA: %+v", u)
	}
}

func testAdminRemoveFactorForcedByAccount(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, true)
	u := totpUser(t, s, a.ID, 1)
	if err := s.AdminRemoveFactor(ctx, a.ID, []string{u.ID}, mfad.AuthTOTP, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrForced) {
		t.Errorf("AdminRemoveFactor 2FA under account force: %v, want ErrForced", err)
	}
	if got := getUser(t, s, u.ID); !sameUser(got, u) {
		t.Errorf("user changed by refused AdminRemoveFactor:\n got %+v\nwant %+v", got, u)
	}
	if err := s.SetAccountForce2FA(ctx, a.ID, false, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AdminRemoveFactor(ctx, a.ID, []string{u.ID}, mfad.AuthTOTP, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.ID)
	if got.Has2FA || got.Forced2FA || got.TOTPSeal != nil || got.TOTPGen != u.TOTPGen+1 {
		t.Errorf("user after AdminRemoveFactor 2FA: %+v", got)
	}
	if err := s.SetAccountForce2FA(ctx, uuid.NewString(), true, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("SetAccountForce2FA unknown: %v", err)
	}
}

func testAdminResetTOTP(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := totpUser(t, s, a.ID, 5)
	v := totpUser(t, s, a.ID, 9)
	keep := totpUser(t, s, a.ID, 2)
	if err := s.PutPendingTOTP(ctx, &mfad.PendingTOTP{ID: "p1", UserID: u.ID, Seal: []byte("pending"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	seU := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	seV := newSession(t, s, v.ID, mfad.SessionLimited, mfad.StepTOTP)
	seK := newSession(t, s, keep.ID, mfad.SessionFull, mfad.StepNone)
	keep = getUser(t, s, keep.ID)

	if err := s.AdminResetTOTP(ctx, a.ID, []string{u.ID, v.ID}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*mfad.User{u, v} {
		got := getUser(t, s, want.ID)
		if got.TOTPSeal != nil || !got.Has2FA || got.TOTPGen != want.TOTPGen+1 || !got.Modified.Equal(t0.Add(time.Hour)) {
			t.Errorf("after reset: %+v", got)
		}
	}
	if sessionExists(t, s, seU.Hash) || sessionExists(t, s, seV.Hash) {
		t.Error("reset left a session open")
	}
	if !sessionExists(t, s, seK.Hash) {
		t.Error("reset closed another user's session")
	}
	if got := getUser(t, s, keep.ID); !sameUser(got, keep) {
		t.Error("reset changed another user")
	}
	if _, err := s.PendingTOTP(ctx, u.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("pending secret after reset: %v", err)
	}
}
