package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/sqlite"
)

// t0 is a fixed clock on a whole millisecond: times are stored as Unix ms.
var t0 = time.UnixMilli(1_700_000_000_123).UTC()

func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func randHash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func newAccount(t *testing.T, s *sqlite.Store, force2FA bool) (*mfad.Account, *mfad.User) {
	t.Helper()
	a := &mfad.Account{ID: uuid.NewString(), Title: "Acme", Force2FA: force2FA, Created: t0, Modified: t0}
	admin := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "Admin", Email: "admin-" + a.ID + "@example.com",
		SuperAdmin: true, PasswordHash: "$argon2id$admin", Created: t0, Modified: t0}
	if err := s.CreateAccount(context.Background(), a, admin); err != nil {
		t.Fatal(err)
	}
	return a, admin
}

func newUser(t *testing.T, s *sqlite.Store, accountID string, edit func(*mfad.User)) *mfad.User {
	t.Helper()
	id := uuid.NewString()
	u := &mfad.User{ID: id, AccountID: accountID, Name: "User", Email: id + "@example.com",
		PasswordHash: "$argon2id$user", Created: t0, Modified: t0}
	if edit != nil {
		edit(u)
	}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func newSession(t *testing.T, s *sqlite.Store, userID string, kind mfad.SessionKind, step mfad.Step) *mfad.Session {
	t.Helper()
	se := &mfad.Session{Hash: randHash(), UserID: userID, Kind: kind, Step: step,
		Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	if err := s.CreateSession(context.Background(), se); err != nil {
		t.Fatal(err)
	}
	return se
}

func fullNext(userID string) *mfad.Session {
	return &mfad.Session{Hash: randHash(), UserID: userID, Kind: mfad.SessionFull,
		Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
}

func getUser(t *testing.T, s *sqlite.Store, id string) *mfad.User {
	t.Helper()
	u, err := s.User(context.Background(), id)
	if err != nil {
		t.Fatalf("User(%s): %v", id, err)
	}
	return u
}

func sessionExists(t *testing.T, s *sqlite.Store, hash []byte) bool {
	t.Helper()
	_, err := s.Session(context.Background(), hash)
	if errors.Is(err, mfad.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestMigrateAndReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := s.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Fatalf("integrity: %q, %v", res, err)
	}
	a := &mfad.Account{ID: uuid.NewString(), Title: "Acme Ltd", Force2FA: true, Created: t0, Modified: t0.Add(time.Second)}
	admin := &mfad.User{
		ID: uuid.NewString(), AccountID: a.ID, Name: "Ada", Email: "Ada@Example.com", SuperAdmin: true,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		Has2FA:       true, Forced2FA: true, TOTPSeal: []byte{1, 2, 3, 0, 255}, TOTPGen: 7, TOTPLast: 123456,
		HasPIN: true, ForcedPIN: true, PINHash: "$argon2id$pin",
		Created: t0, Modified: t0.Add(2 * time.Second), LastLogin: t0.Add(3 * time.Second),
	}
	if err := s.CreateAccount(ctx, a, admin); err != nil {
		t.Fatal(err)
	}
	se := newSession(t, s, admin.ID, mfad.SessionLimited, mfad.StepTOTP)
	if v, err := s.PutMetaIfAbsent(ctx, "key_id", "abc"); err != nil || v != "abc" {
		t.Fatalf("PutMetaIfAbsent: %q, %v", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if n, err := s2.CountAccounts(ctx); err != nil || n != 1 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
	gotA, err := s2.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotA, a) {
		t.Errorf("account after reopen:\n got %+v\nwant %+v", gotA, a)
	}
	gotU, err := s2.User(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotU, admin) {
		t.Errorf("user after reopen:\n got %+v\nwant %+v", gotU, admin)
	}
	byEmail, err := s2.UserByEmail(ctx, "  ada@EXAMPLE.com ")
	if err != nil || byEmail.ID != admin.ID {
		t.Errorf("UserByEmail case-insensitive: %v, %v", byEmail, err)
	}
	gotS, err := s2.Session(ctx, se.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotS, se) {
		t.Errorf("session after reopen:\n got %+v\nwant %+v", gotS, se)
	}
	if v, err := s2.Meta(ctx, "key_id"); err != nil || v != "abc" {
		t.Errorf("Meta after reopen: %q, %v", v, err)
	}
	if v, err := s2.PutMetaIfAbsent(ctx, "key_id", "other"); err != nil || v != "abc" {
		t.Errorf("PutMetaIfAbsent kept %q, %v; want abc", v, err)
	}
	if _, err := s2.Meta(ctx, "nope"); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("Meta missing: %v", err)
	}
	if res, err := s2.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Fatalf("integrity after reopen: %q, %v", res, err)
	}
}

func TestOpenPaths(t *testing.T) {
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	// Characters that mean something in a URI still name the file itself.
	for _, name := range []string{"a b.db", "x#y.db", "q?r=1.db", "p%20c.db"} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		if _, err := s.PutMetaIfAbsent(ctx, "k", "v"); err != nil {
			t.Errorf("%q: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%q: close: %v", name, err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database %q not at its path: %v", name, err)
		}
		s2, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Errorf("reopen %q: %v", name, err)
			continue
		}
		if v, err := s2.Meta(ctx, "k"); err != nil || v != "v" {
			t.Errorf("%q: Meta after reopen = %q, %v", name, v, err)
		}
		s2.Close()
	}
}

// A user without an active secret reads back with a nil TOTPSeal ("nil when
// none is active"), which the auth service tests with == nil.
func TestUserWithoutSecretReadsBackNil(t *testing.T) {
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	got := getUser(t, s, u.ID)
	if got.TOTPSeal != nil {
		t.Errorf("TOTPSeal = %#v, want nil", got.TOTPSeal)
	}
	if got.PINHash != "" || !got.LastLogin.IsZero() {
		t.Errorf("PINHash %q LastLogin %v, want empty", got.PINHash, got.LastLogin)
	}
	if !reflect.DeepEqual(got, u) {
		t.Errorf("user:\n got %+v\nwant %+v", got, u)
	}
}

func TestEmailTakenCaseInsensitive(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "bob@example.com" })
	for _, email := range []string{"bob@example.com", "BOB@example.com", "Bob@Example.COM", " bob@example.com "} {
		u := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "Bob2", Email: email, PasswordHash: "h", Created: t0, Modified: t0}
		if err := s.CreateUser(ctx, u); !errors.Is(err, mfad.ErrEmailTaken) {
			t.Errorf("CreateUser(%q) = %v, want ErrEmailTaken", email, err)
		}
	}
	// Across accounts too: emails are unique in the database.
	b, _ := newAccount(t, s, false)
	u := &mfad.User{ID: uuid.NewString(), AccountID: b.ID, Name: "Bob3", Email: "BOB@EXAMPLE.COM", PasswordHash: "h", Created: t0, Modified: t0}
	if err := s.CreateUser(ctx, u); !errors.Is(err, mfad.ErrEmailTaken) {
		t.Errorf("other account: %v, want ErrEmailTaken", err)
	}
	// A new account whose admin's email is taken is not created at all.
	c := &mfad.Account{ID: uuid.NewString(), Title: "C", Created: t0, Modified: t0}
	cadmin := &mfad.User{ID: uuid.NewString(), AccountID: c.ID, Name: "C", Email: "Bob@example.com", PasswordHash: "h", Created: t0, Modified: t0}
	if err := s.CreateAccount(ctx, c, cadmin); !errors.Is(err, mfad.ErrEmailTaken) {
		t.Errorf("CreateAccount with taken email: %v", err)
	}
	if _, err := s.Account(ctx, c.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("account of failed CreateAccount exists: %v", err)
	}
	users, err := s.Users(ctx, a.ID)
	if err != nil || len(users) != 2 {
		t.Errorf("Users = %d, %v; want 2", len(users), err)
	}
}

// totpUser makes a user with an active secret at generation gen.
func totpUser(t *testing.T, s *sqlite.Store, accountID string, gen int64) *mfad.User {
	return newUser(t, s, accountID, func(u *mfad.User) {
		u.Has2FA, u.TOTPSeal, u.TOTPGen = true, []byte("sealed-secret"), gen
	})
}

func TestAdvanceLoginReplayConcurrentSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	const gen = 3
	u := totpUser(t, s, a.ID, gen)

	const n = 50
	limited := make([]*mfad.Session, n)
	next := make([]*mfad.Session, n)
	for i := range limited {
		limited[i] = newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
		next[i] = fullNext(u.ID)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited[i].Hash, UserID: u.ID,
				TOTPStep: 1000, TOTPGen: gen, Next: next[i], Now: t0})
		})
	}
	close(start)
	wg.Wait()
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

func TestAdvanceLoginOneSessionConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	const gen = 1
	u := totpUser(t, s, a.ID, gen)
	limited := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)

	const n = 50
	errs := make([]error, n)
	next := make([]*mfad.Session, n)
	for i := range next {
		next[i] = fullNext(u.ID)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: limited.Hash, UserID: u.ID,
				TOTPStep: 500, TOTPGen: gen, Next: next[i], Now: t0})
		})
	}
	close(start)
	wg.Wait()
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
}

func TestAdvanceLoginChecks(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestAdvanceLoginStaleGenAfterReset(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestThrottle(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}
	key := "email:a@example.com"
	for i := 1; i <= 5; i++ {
		retry, err := s.Reserve(ctx, key, p, t0)
		if err != nil || retry != 0 {
			t.Fatalf("reservation %d: %v, %v; want 0", i, retry, err)
		}
	}
	retry, err := s.Reserve(ctx, key, p, t0)
	if err != nil || retry != 15*time.Minute {
		t.Fatalf("6th reservation: %v, %v; want 15m", retry, err)
	}
	retry, err = s.Reserve(ctx, key, p, t0.Add(time.Minute))
	if err != nil || retry != 14*time.Minute {
		t.Fatalf("a minute later: %v, %v; want 14m", retry, err)
	}
	// Other keys are not affected.
	if retry, err := s.Reserve(ctx, "email:b@example.com", p, t0); err != nil || retry != 0 {
		t.Errorf("other key: %v, %v", retry, err)
	}
	// Free again after the lock; the count starts over.
	later := t0.Add(15*time.Minute + time.Millisecond)
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key, p, later); err != nil || retry != 0 {
			t.Fatalf("after lock, reservation %d: %v, %v; want 0", i, retry, err)
		}
	}

	// The window slides: failures older than Window are forgotten.
	key2 := "email:window@example.com"
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key2, p, t0); err != nil || retry != 0 {
			t.Fatal(retry, err)
		}
	}
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key2, p, t0.Add(15*time.Minute)); err != nil || retry != 0 {
			t.Fatalf("new window, reservation %d: %v, %v", i, retry, err)
		}
	}
}

func TestThrottleReleaseAndReset(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}

	key := "email:release@example.com"
	for i := range 20 {
		if retry, err := s.Reserve(ctx, key, p, t0); err != nil || retry != 0 {
			t.Fatalf("reserve %d: %v, %v", i, retry, err)
		}
		if err := s.Release(ctx, key, p); err != nil {
			t.Fatal(err)
		}
	}
	// Four released attempts plus 4 failures: still under the limit.
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key, p, t0); err != nil || retry != 0 {
			t.Fatalf("reserve after releases %d: %v, %v", i, retry, err)
		}
	}
	if retry, err := s.Reserve(ctx, key, p, t0); err != nil || retry != 0 {
		t.Fatalf("5th failure: %v, %v", retry, err)
	}
	if retry, err := s.Reserve(ctx, key, p, t0); err != nil || retry <= 0 {
		t.Fatalf("6th: %v, %v; want locked", retry, err)
	}
	// Release of an unknown key is harmless.
	if err := s.Release(ctx, "email:none@example.com", p); err != nil {
		t.Fatal(err)
	}

	key2 := "email:reset@example.com"
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key2, p, t0); err != nil || retry != 0 {
			t.Fatal(retry, err)
		}
	}
	if err := s.ResetThrottle(ctx, key2); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if retry, err := s.Reserve(ctx, key2, p, t0); err != nil || retry != 0 {
			t.Fatalf("after reset, reservation %d: %v, %v", i, retry, err)
		}
	}
	// Reset also lifts a lock.
	if retry, err := s.Reserve(ctx, key2, p, t0); err != nil || retry != 0 {
		t.Fatal(retry, err)
	}
	if retry, _ := s.Reserve(ctx, key2, p, t0); retry <= 0 {
		t.Fatal("not locked after 5 failures")
	}
	if err := s.ResetThrottle(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if retry, err := s.Reserve(ctx, key2, p, t0); err != nil || retry != 0 {
		t.Fatalf("after reset of a lock: %v, %v", retry, err)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}
	const n = 300
	retries := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			retries[i], errs[i] = s.Reserve(ctx, "email:flood@example.com", p, t0)
		})
	}
	close(start)
	wg.Wait()
	free := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if retries[i] == 0 {
			free++
		} else if retries[i] != 15*time.Minute {
			t.Errorf("goroutine %d: retry %v, want 15m", i, retries[i])
		}
	}
	if free != 5 {
		t.Errorf("%d reservations passed, want exactly 5", free)
	}
}

func TestFailSession(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestAdminBulkAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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
		if err := s.AdminResetTOTP(ctx, a.ID, ids, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("AdminResetTOTP %q: %v, want ErrUnknownIDs", ids, err)
		}
		if err := s.DeleteUsers(ctx, a.ID, ids); !errors.Is(err, mfad.ErrUnknownIDs) {
			t.Errorf("DeleteUsers %q: %v, want ErrUnknownIDs", ids, err)
		}
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
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

func TestAdminRemoveFactorForcedByAccount(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, true)
	u := totpUser(t, s, a.ID, 1)
	if err := s.AdminRemoveFactor(ctx, a.ID, []string{u.ID}, mfad.AuthTOTP, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrForced) {
		t.Errorf("AdminRemoveFactor 2FA under account force: %v, want ErrForced", err)
	}
	if got := getUser(t, s, u.ID); !reflect.DeepEqual(got, u) {
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

func TestAdminResetTOTP(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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
	if got := getUser(t, s, keep.ID); !reflect.DeepEqual(got, keep) {
		t.Error("reset changed another user")
	}
	if _, err := s.PendingTOTP(ctx, u.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("pending secret after reset: %v", err)
	}
}

func TestDeleteUsers(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, admin := newAccount(t, s, false)
	u1 := newUser(t, s, a.ID, nil)
	u2 := newUser(t, s, a.ID, nil)
	se1 := newSession(t, s, u1.ID, mfad.SessionFull, mfad.StepNone)
	se2 := newSession(t, s, u2.ID, mfad.SessionLimited, mfad.StepTOTP)
	seA := newSession(t, s, admin.ID, mfad.SessionFull, mfad.StepNone)
	if err := s.PutPendingTOTP(ctx, &mfad.PendingTOTP{ID: "p", UserID: u1.ID, Seal: []byte("x"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUsers(ctx, a.ID, []string{u1.ID, u2.ID, u2.ID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{u1.ID, u2.ID} {
		if _, err := s.User(ctx, id); !errors.Is(err, mfad.ErrNotFound) {
			t.Errorf("deleted user %s: %v", id, err)
		}
	}
	if _, err := s.UserByEmail(ctx, u1.Email); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("deleted user by email: %v", err)
	}
	if sessionExists(t, s, se1.Hash) || sessionExists(t, s, se2.Hash) {
		t.Error("deleted users' sessions remain")
	}
	if !sessionExists(t, s, seA.Hash) {
		t.Error("admin's session deleted")
	}
	if _, err := s.PendingTOTP(ctx, u1.ID); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("deleted user's pending secret: %v", err)
	}
	users, err := s.Users(ctx, a.ID)
	if err != nil || len(users) != 1 || users[0].ID != admin.ID {
		t.Errorf("Users after delete: %v, %v", users, err)
	}
	// The email is free again.
	newUser(t, s, a.ID, func(u *mfad.User) { u.Email = u1.Email })
	// Deleting them again: unknown ids.
	if err := s.DeleteUsers(ctx, a.ID, []string{u1.ID}); !errors.Is(err, mfad.ErrUnknownIDs) {
		t.Errorf("delete again: %v", err)
	}
}

func TestEnrollTOTP(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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
	if got, err := s.PendingTOTP(ctx, u.ID); err != nil || !reflect.DeepEqual(got, p1) {
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
	if got := getUser(t, s, u.ID); !reflect.DeepEqual(got, u) {
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

func TestAdvanceLoginEnrollPending(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestRemoveFactor(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	forced := newUser(t, s, a.ID, func(u *mfad.User) {
		u.Has2FA, u.Forced2FA, u.TOTPSeal, u.HasPIN, u.ForcedPIN, u.PINHash = true, true, []byte("s"), true, true, "$pin"
	})
	for _, f := range []mfad.AuthType{mfad.AuthTOTP, mfad.AuthPIN} {
		if err := s.RemoveFactor(ctx, forced.ID, f, t0.Add(time.Hour)); !errors.Is(err, mfad.ErrForced) {
			t.Errorf("RemoveFactor forced %s: %v, want ErrForced", f, err)
		}
	}
	if got := getUser(t, s, forced.ID); !reflect.DeepEqual(got, forced) {
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
	if again := getUser(t, s, u.ID); !reflect.DeepEqual(again, got) {
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

func TestSetPIN(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestSessionsTouchDeletePurge(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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

func TestConcurrentCreateUser(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a, _ := newAccount(t, s, false)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			u := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: fmt.Sprint("u", i),
				Email: fmt.Sprintf("user%d@example.com", i), PasswordHash: "h", Created: t0, Modified: t0}
			errs[i] = s.CreateUser(ctx, u)
		})
	}
	// Readers at the same time must not fail either.
	var readErr error
	var rwg sync.WaitGroup
	rwg.Go(func() {
		<-start
		for range 20 {
			if _, err := s.Users(ctx, a.ID); err != nil {
				readErr = err
				return
			}
		}
	})
	close(start)
	wg.Wait()
	rwg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateUser %d: %v", i, err)
		}
	}
	if readErr != nil {
		t.Errorf("concurrent read: %v", readErr)
	}
	users, err := s.Users(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != n+1 { // plus the admin
		t.Errorf("%d users, want %d", len(users), n+1)
	}
}
