package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/sqlite"
)

// The session cache answers from memory, forgets on this store's own
// writes at once, and on another process's writes (another store on the
// same file) within DataVersionEvery.
func TestSessionCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sqlite.Open(ctx, path) // stands for another process (mfad user ...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &mfad.Account{ID: uuid.NewString(), Title: "A", Created: now, Modified: now}
	u := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "U", Email: "u@example.com", PasswordHash: "$argon2id$x", Created: now, Modified: now}
	if err := s.CreateAccount(ctx, a, u); err != nil {
		t.Fatal(err)
	}
	newSession := func() *mfad.Session {
		se := &mfad.Session{Hash: []byte(uuid.NewString()), UserID: u.ID, Kind: mfad.SessionFull, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
		return se
	}
	alive := func(st mfad.Store, hash []byte) bool {
		t.Helper()
		_, _, _, err := st.SessionUser(ctx, hash)
		if err != nil && !errors.Is(err, mfad.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	// Own writes: forgotten at once.
	se := newSession()
	first := alive(s, se.Hash)  // read from the database, kept
	second := alive(s, se.Hash) // answered from memory
	if !first || !second || s.Cache.Len() != 1 {
		t.Fatalf("not cached: %d entries", s.Cache.Len())
	}
	if err := s.DeleteSession(ctx, se.Hash); err != nil {
		t.Fatal(err)
	}
	if alive(s, se.Hash) {
		t.Fatal("a session this store deleted is still answered")
	}
	se = newSession()
	alive(s, se.Hash)
	disabled := true
	if err := s.EditUsers(ctx, a.ID, []string{u.ID}, mfad.UserEdit{Disabled: &disabled}, now); err != nil {
		t.Fatal(err)
	}
	if alive(s, se.Hash) { // disabling closes the sessions
		t.Fatal("a session of a user this store disabled is still answered")
	}
	enabled := false
	if err := s.EditUsers(ctx, a.ID, []string{u.ID}, mfad.UserEdit{Disabled: &enabled}, now); err != nil {
		t.Fatal(err)
	}
	se = newSession()
	alive(s, se.Hash)
	if err := s.SetAccountForce2FA(ctx, a.ID, true, now); err != nil {
		t.Fatal(err)
	}
	if _, _, acct, err := s.SessionUser(ctx, se.Hash); err != nil || !acct.Forced2FA {
		t.Fatalf("the account's change not seen at once: %v %+v", err, acct)
	}

	// Another process's write: the cached answer may stay for a moment, and
	// is gone within DataVersionEvery (and some slack for the writer).
	alive(s, se.Hash)
	if err := other.DeleteSession(ctx, se.Hash); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for alive(s, se.Hash) {
		if time.Since(start) > sqlite.DataVersionEvery+time.Second {
			t.Fatalf("another process's delete not seen after %s", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("FIGURE another process's delete seen after %s (the writer looks every %s)", time.Since(start).Round(time.Millisecond), sqlite.DataVersionEvery)

	// Without the cache, every read goes to the database.
	plain, err := sqlite.OpenWith(ctx, path, sqlite.Options{NoSessionCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	se = newSession()
	alive(plain, se.Hash)
	if plain.Cache != nil {
		t.Fatal("NoSessionCache: a cache")
	}
}
