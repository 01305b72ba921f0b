package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

// A reset id is valid until it expires, is used or a newer one replaces
// it; using it sets the password, closes the user's sessions and clears
// the given throttle key, once.
func testPasswordResets(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	se := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	r1 := &mfad.PasswordReset{Hash: randHash(), UserID: u.ID, Created: t0, Expires: t0.Add(30 * time.Minute)}
	if err := s.PutPasswordReset(ctx, r1); err != nil {
		t.Fatal(err)
	}
	got, gu, err := s.PasswordReset(ctx, r1.Hash, t0.Add(time.Minute))
	if err != nil || gu.ID != u.ID || !got.Expires.Equal(r1.Expires) || got.UserID != u.ID {
		t.Fatalf("a valid reset: %+v %+v %v", got, gu, err)
	}
	if _, _, err := s.PasswordReset(ctx, r1.Hash, r1.Expires); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("an expired reset: %v, want ErrNotFound", err)
	}
	if _, err := s.UsePasswordReset(ctx, r1.Hash, "h", r1.Expires, "email:x"); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("using an expired reset: %v, want ErrNotFound", err)
	}
	// A newer one voids the older.
	r2 := &mfad.PasswordReset{Hash: randHash(), UserID: u.ID, Created: t0, Expires: t0.Add(30 * time.Minute)}
	if err := s.PutPasswordReset(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PasswordReset(ctx, r1.Hash, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("a replaced reset: %v, want ErrNotFound", err)
	}
	p := mfad.Throttle{Limit: 1, Window: time.Hour, Lock: time.Hour}
	if _, err := s.Reserve(ctx, "email:reset", p, t0); err != nil {
		t.Fatal(err)
	}
	id, err := s.UsePasswordReset(ctx, r2.Hash, "$argon2id$reset", t0.Add(time.Minute), "email:reset")
	if err != nil || id != u.ID {
		t.Fatalf("using the reset: %q, %v", id, err)
	}
	if got := getUser(t, s, u.ID); got.PasswordHash != "$argon2id$reset" {
		t.Errorf("password hash %q after the reset", got.PasswordHash)
	}
	if sessionExists(t, s, se.Hash) {
		t.Error("the reset left a session open")
	}
	if retry, err := retryOf(s.Reserve(ctx, "email:reset", p, t0)); err != nil || retry != 0 {
		t.Errorf("the throttle key after the reset: retry %v, %v; want cleared", retry, err)
	}
	if _, err := s.UsePasswordReset(ctx, r2.Hash, "$argon2id$again", t0.Add(time.Minute), "email:reset"); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("a second use: %v, want ErrNotFound", err)
	}
	if _, _, err := s.PasswordReset(ctx, randHash(), t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("an unknown reset: %v", err)
	}
}

// Of many concurrent uses of one reset id, exactly one succeeds.
func testPasswordResetRace(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	r := &mfad.PasswordReset{Hash: randHash(), UserID: u.ID, Created: t0, Expires: t0.Add(time.Hour)}
	if err := s.PutPasswordReset(ctx, r); err != nil {
		t.Fatal(err)
	}
	const n = 30
	exactlyOne(t, n, "use", mfad.ErrNotFound, func(i int) error {
		_, err := s.UsePasswordReset(ctx, r.Hash, "$argon2id$racer", t0, "email:race")
		return err
	})
}
