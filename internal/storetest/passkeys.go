package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
)

func addPasskey(t *testing.T, s mfad.Store, userID string, credID []byte) *mfad.Passkey {
	t.Helper()
	p := &mfad.Passkey{ID: uuid.NewString(), UserID: userID, CredentialID: credID, Name: "key " + fmt.Sprint(len(credID)),
		Record: []byte(`{"id":"x"}`), SignCount: 7, Created: t0}
	if err := s.AddPasskey(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func passkeys(t *testing.T, s mfad.Store, userID string) []*mfad.Passkey {
	t.Helper()
	list, err := s.Passkeys(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// Passkeys: stored and listed as given, counted on the user's row, a
// credential id registered once (by anyone), at most MaxPasskeys a user,
// renamed and deleted by their user only, deleted by an admin (all or
// none) and with their user.
func testPasskeys(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	b, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	other := newUser(t, s, a.ID, nil)
	p := addPasskey(t, s, u.ID, randHash())
	list := passkeys(t, s, u.ID)
	if len(list) != 1 || list[0].ID != p.ID || string(list[0].CredentialID) != string(p.CredentialID) || list[0].Name != p.Name ||
		string(list[0].Record) != string(p.Record) || list[0].SignCount != 7 || !list[0].Created.Equal(t0) || !list[0].LastUsed.IsZero() {
		t.Fatalf("listed %+v, want %+v", list[0], p)
	}
	if n := getUser(t, s, u.ID).Passkeys; n != 1 {
		t.Fatalf("users.passkeys %d, want 1", n)
	}
	dup := &mfad.Passkey{ID: uuid.NewString(), UserID: other.ID, CredentialID: p.CredentialID, Name: "dup", Record: []byte("{}"), Created: t0}
	if err := s.AddPasskey(ctx, dup); !errors.Is(err, mfad.ErrConflict) {
		t.Fatalf("the same credential for another user: %v, want ErrConflict", err)
	}
	if n := getUser(t, s, other.ID).Passkeys; n != 0 {
		t.Fatalf("a refused passkey was counted: %d", n)
	}
	for i := 1; i < mfad.MaxPasskeys; i++ {
		addPasskey(t, s, u.ID, randHash())
	}
	if err := s.AddPasskey(ctx, &mfad.Passkey{ID: uuid.NewString(), UserID: u.ID, CredentialID: randHash(), Name: "one too many", Record: []byte("{}"), Created: t0}); !errors.Is(err, mfad.ErrTooMany) {
		t.Fatalf("passkey %d: %v, want ErrTooMany", mfad.MaxPasskeys+1, err)
	}
	if n := len(passkeys(t, s, u.ID)); n != mfad.MaxPasskeys {
		t.Fatalf("%d passkeys, want %d", n, mfad.MaxPasskeys)
	}
	// Rename and delete: the user's own only.
	if err := s.RenamePasskey(ctx, other.ID, p.ID, "stolen", t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Fatalf("rename of another user's passkey: %v", err)
	}
	if err := s.RenamePasskey(ctx, u.ID, p.ID, "renamed", t0); err != nil {
		t.Fatal(err)
	}
	for _, k := range passkeys(t, s, u.ID) {
		if (k.ID == p.ID) != (k.Name == "renamed") {
			t.Fatalf("after renaming %s: %s is named %q", p.ID, k.ID, k.Name)
		}
	}
	if err := s.DeletePasskey(ctx, other.ID, p.ID, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Fatalf("delete of another user's passkey: %v", err)
	}
	if err := s.DeletePasskey(ctx, u.ID, p.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePasskey(ctx, u.ID, p.ID, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if n := getUser(t, s, u.ID).Passkeys; n != mfad.MaxPasskeys-1 {
		t.Fatalf("users.passkeys %d after a delete, want %d", n, mfad.MaxPasskeys-1)
	}
	// An admin: all or none, within the account; the users' sessions close.
	addPasskey(t, s, other.ID, randHash())
	se := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	stranger := newUser(t, s, b.ID, nil)
	if err := s.AdminDeletePasskeys(ctx, a.ID, []string{u.ID, stranger.ID}, t0); !errors.Is(err, mfad.ErrUnknownIDs) {
		t.Fatalf("admin delete with a user of another account: %v", err)
	}
	if n := len(passkeys(t, s, u.ID)); n != mfad.MaxPasskeys-1 {
		t.Fatalf("a refused admin delete deleted: %d left", n)
	}
	if err := s.AdminDeletePasskeys(ctx, a.ID, []string{u.ID}, t0); err != nil {
		t.Fatal(err)
	}
	if n, c := len(passkeys(t, s, u.ID)), getUser(t, s, u.ID).Passkeys; n != 0 || c != 0 {
		t.Fatalf("after the admin's delete: %d passkeys, counted %d", n, c)
	}
	if _, err := s.Session(ctx, se.Hash); !errors.Is(err, mfad.ErrNotFound) {
		t.Fatalf("the user's session after the admin deleted the passkeys: %v", err)
	}
	if n := len(passkeys(t, s, other.ID)); n != 1 {
		t.Fatalf("another user's passkeys went too: %d left", n)
	}
	// With the user.
	if err := s.DeleteUsers(ctx, a.ID, []string{other.ID}); err != nil {
		t.Fatal(err)
	}
	if n := len(passkeys(t, s, other.ID)); n != 0 {
		t.Fatalf("%d passkeys of a deleted user", n)
	}
}

// Ceremonies: one per session, taken once, of the kind asked for, before
// it expires; gone with the session.
func testChallenges(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	se := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepPasskey)
	other := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepPasskey)
	put := func(hash []byte, kind, data string, expires time.Time) {
		t.Helper()
		if err := s.PutChallenge(ctx, &mfad.Challenge{SessionHash: hash, Kind: kind, Data: []byte(data), Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	take := func(hash []byte, kind string, now time.Time) string {
		t.Helper()
		c, err := s.TakeChallenge(ctx, hash, kind, now)
		if errors.Is(err, mfad.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Data)
	}
	put(se.Hash, mfad.ChallengeLogin, "first", t0.Add(time.Minute))
	put(se.Hash, mfad.ChallengeLogin, "second", t0.Add(time.Minute)) // replaces
	if got := take(other.Hash, mfad.ChallengeLogin, t0); got != "" {
		t.Fatalf("another session took %q", got)
	}
	if got := take(se.Hash, mfad.ChallengeLogin, t0); got != "second" {
		t.Fatalf("took %q, want the second", got)
	}
	if got := take(se.Hash, mfad.ChallengeLogin, t0); got != "" {
		t.Fatalf("taken twice: %q", got)
	}
	put(se.Hash, mfad.ChallengeRegister, "reg", t0.Add(time.Minute))
	if got := take(se.Hash, mfad.ChallengeLogin, t0); got != "" {
		t.Fatalf("a registration taken as a login: %q", got)
	}
	if got := take(se.Hash, mfad.ChallengeRegister, t0); got != "" {
		t.Fatalf("a ceremony taken as the wrong kind is used up; got %q", got)
	}
	put(se.Hash, mfad.ChallengeLogin, "late", t0.Add(time.Minute))
	if got := take(se.Hash, mfad.ChallengeLogin, t0.Add(time.Minute)); got != "" {
		t.Fatalf("an expired ceremony taken: %q", got)
	}
	put(se.Hash, mfad.ChallengeLogin, "orphan", t0.Add(time.Minute))
	if err := s.DeleteSession(ctx, se.Hash); err != nil {
		t.Fatal(err)
	}
	if got := take(se.Hash, mfad.ChallengeLogin, t0); got != "" {
		t.Fatalf("a closed session's ceremony taken: %q", got)
	}
	// Concurrent takes: one wins.
	put(other.Hash, mfad.ChallengeLogin, "once", t0.Add(time.Minute))
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			c, err := s.TakeChallenge(ctx, other.Hash, mfad.ChallengeLogin, t0)
			if err == nil && string(c.Data) == "once" {
				mu.Lock()
				won++
				mu.Unlock()
			} else if err != nil && !errors.Is(err, mfad.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 8 concurrent takes got the ceremony, want 1", won)
	}
}

// A passkey assertion commits with the login step while the counter is
// the one it was checked against: of concurrent steps with one assertion
// (the same old counter), exactly one wins.
func testPasskeyUseRace(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	p := addPasskey(t, s, u.ID, randHash())
	const n = mfad.MaxLimitedSessions
	limited := make([]*mfad.Session, n)
	for i := range limited {
		limited[i] = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepPasskey)
	}
	exactlyOne(t, n, "step with one assertion", mfad.ErrReplay, func(i int) error {
		return s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited[i].Hash, UserID: u.ID, Next: fullNext(u.ID), Now: t0.Add(time.Second),
			Passkey: &mfad.PasskeyUse{ID: p.ID, OldCount: 7, NewCount: 8, Record: []byte(`{"id":"y"}`)}})
	})
	got := passkeys(t, s, u.ID)[0]
	if got.SignCount != 8 || string(got.Record) != `{"id":"y"}` || !got.LastUsed.Equal(t0.Add(time.Second)) {
		t.Fatalf("after the step: %+v", got)
	}
}
