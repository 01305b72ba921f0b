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

// testRoundTrip: every field of an account, a user and a session reads back
// as written; meta values are kept; emails are looked up case-insensitively.
func testRoundTrip(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountAccounts(ctx); err != nil || n != 0 {
		t.Fatalf("fresh store: CountAccounts = %d, %v; want 0", n, err)
	}
	if _, err := s.Meta(ctx, "key_id"); !errors.Is(err, mfad.ErrNotFound) {
		t.Fatalf("fresh store: Meta = %v, want ErrNotFound", err)
	}
	a := &mfad.Account{ID: uuid.NewString(), Title: "Acme Ltd", Forced2FA: true, Created: t0, Modified: t0.Add(time.Second)}
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

	if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
	gotA, err := s.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameAccount(gotA, a) {
		t.Errorf("account:\n got %+v\nwant %+v", gotA, a)
	}
	gotU, err := s.User(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameUser(gotU, admin) {
		t.Errorf("user:\n got %+v\nwant %+v", gotU, admin)
	}
	byEmail, err := s.UserByEmail(ctx, "  ada@EXAMPLE.com ")
	if err != nil || byEmail.ID != admin.ID {
		t.Errorf("UserByEmail case-insensitive: %v, %v", byEmail, err)
	}
	if users, err := s.Users(ctx, a.ID); err != nil || len(users) != 1 || !sameUser(users[0], admin) {
		t.Errorf("Users = %v, %v; want the admin alone", users, err)
	}
	gotS, err := s.Session(ctx, se.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSession(gotS, se) {
		t.Errorf("session:\n got %+v\nwant %+v", gotS, se)
	}
	if v, err := s.Meta(ctx, "key_id"); err != nil || v != "abc" {
		t.Errorf("Meta: %q, %v", v, err)
	}
	if v, err := s.PutMetaIfAbsent(ctx, "key_id", "other"); err != nil || v != "abc" {
		t.Errorf("PutMetaIfAbsent kept %q, %v; want abc", v, err)
	}
	if v, err := s.Meta(ctx, "key_id"); err != nil || v != "abc" {
		t.Errorf("Meta after a second PutMetaIfAbsent: %q, %v", v, err)
	}
	if _, err := s.Meta(ctx, "nope"); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("Meta missing: %v", err)
	}
}

// A user without an active secret reads back with a nil TOTPSeal ("nil when
// none is active"), which the auth service tests with == nil.
func testUserWithoutSecretReadsBackNil(t *testing.T, s mfad.Store) {
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	got := getUser(t, s, u.ID)
	if got.TOTPSeal != nil {
		t.Errorf("TOTPSeal = %#v, want nil", got.TOTPSeal)
	}
	if got.PINHash != "" || !got.LastLogin.IsZero() {
		t.Errorf("PINHash %q LastLogin %v, want empty", got.PINHash, got.LastLogin)
	}
	if !sameUser(got, u) {
		t.Errorf("user:\n got %+v\nwant %+v", got, u)
	}
}

// testEmailTakenCaseInsensitive: emails are unique in the database,
// case-insensitively and ignoring surrounding spaces; CreateAccount is
// atomic.
func testEmailTakenCaseInsensitive(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "bob@example.com" })
	for _, email := range []string{"bob@example.com", "BOB@example.com", "Bob@Example.COM", " bob@example.com "} {
		u := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "Bob2", Email: email, PasswordHash: "h", Created: t0, Modified: t0}
		if err := s.CreateUser(ctx, u); !errors.Is(err, mfad.ErrEmailTaken) {
			t.Errorf("CreateUser(%q) = %v, want ErrEmailTaken", email, err)
		}
		if _, err := s.User(ctx, u.ID); !errors.Is(err, mfad.ErrNotFound) {
			t.Errorf("CreateUser(%q) refused but the user exists: %v", email, err)
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
	if n, err := s.CountAccounts(ctx); err != nil || n != 2 {
		t.Errorf("CountAccounts = %d, %v; want 2", n, err)
	}
	users, err := s.Users(ctx, a.ID)
	if err != nil || len(users) != 2 {
		t.Errorf("Users = %d, %v; want 2", len(users), err)
	}
}

// testConcurrentCreateUser: 200 writers at once all succeed, and readers
// running beside them do not fail either.
func testConcurrentCreateUser(t *testing.T, s mfad.Store) {
	ctx := t.Context()
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

func testDeleteUsers(t *testing.T, s mfad.Store) {
	ctx := t.Context()
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

// Emails are identities under mfad.EmailKey: a look-alike of an ASCII
// email (U+0130, the Kelvin sign) is a user of its own, found only by its
// own spelling; the composed and the decomposed "ü" are one email.
func testEmailIdentity(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	alice := newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "alice@example.com" })
	for _, email := range []string{"ALİCE@EXAMPLE.COM", "al\u0130ce@example.com", "ALICE\u212A@EXAMPLE.COM"} {
		if u, err := s.UserByEmail(ctx, email); !errors.Is(err, mfad.ErrNotFound) {
			t.Errorf("UserByEmail(%q) = %v, %v; want not found, not alice", email, u, err)
		}
	}
	kelvin := newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "\u212Aen@example.com" })
	ken := newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "ken@example.com" }) // not taken by the Kelvin sign
	for email, want := range map[string]*mfad.User{
		"ALICE@example.com": alice, "\u212Aen@example.com": kelvin, "\u212AEN@EXAMPLE.COM": kelvin,
		"KEN@example.com": ken, "Ken@example.com": ken,
	} {
		if u, err := s.UserByEmail(ctx, email); err != nil || u.ID != want.ID {
			t.Errorf("UserByEmail(%q) = %v, %v; want %s", email, u, err, want.Email)
		}
	}
	jurgen := newUser(t, s, a.ID, func(u *mfad.User) { u.Email = "Jürgen@Müller.de" })
	if u, err := s.UserByEmail(ctx, "JU\u0308RGEN@MU\u0308LLER.DE"); err != nil || u.ID != jurgen.ID {
		t.Errorf("the decomposed spelling of jürgen@müller.de: %v, %v", u, err)
	}
	u := &mfad.User{ID: uuid.NewString(), AccountID: a.ID, Name: "J", Email: "ju\u0308rgen@mu\u0308ller.de", PasswordHash: "h", Created: t0, Modified: t0}
	if err := s.CreateUser(ctx, u); !errors.Is(err, mfad.ErrEmailTaken) {
		t.Errorf("CreateUser of the decomposed spelling of a taken email: %v, want ErrEmailTaken", err)
	}
}

// EditUsers changes the given fields of every listed user, or of none.
func testEditUsers(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, admin := newAccount(t, s, false)
	b, _ := newAccount(t, s, false)
	u1 := newUser(t, s, a.ID, nil)
	u2 := newUser(t, s, a.ID, nil)
	foreign := newUser(t, s, b.ID, nil)
	str := func(v string) *string { return &v }
	yes, no := true, false

	if err := s.EditUsers(ctx, a.ID, []string{u1.ID, u2.ID, u1.ID}, mfad.UserEdit{Name: str("Renamed")}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{u1.ID, u2.ID} {
		if got := getUser(t, s, id); got.Name != "Renamed" || !got.Modified.Equal(t0.Add(time.Minute)) {
			t.Errorf("after a rename: %+v", got)
		}
	}
	// A new email is the user's new identity.
	if err := s.EditUsers(ctx, a.ID, []string{u1.ID}, mfad.UserEdit{Email: str("New.Address@Example.com")}, t0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByEmail(ctx, "new.address@example.COM"); err != nil || got.ID != u1.ID || got.Email != "New.Address@Example.com" {
		t.Errorf("the new email: %+v, %v", got, err)
	}
	if _, err := s.UserByEmail(ctx, u1.Email); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("the old email still finds a user: %v", err)
	}
	// Another user's email is taken; an id of another account fails the
	// whole edit.
	if err := s.EditUsers(ctx, a.ID, []string{u2.ID}, mfad.UserEdit{Email: str("NEW.ADDRESS@example.com")}, t0); !errors.Is(err, mfad.ErrEmailTaken) {
		t.Errorf("taking another user's email: %v, want ErrEmailTaken", err)
	}
	if err := s.EditUsers(ctx, a.ID, []string{u2.ID, foreign.ID}, mfad.UserEdit{Name: str("Nope"), SuperAdmin: &yes}, t0); !errors.Is(err, mfad.ErrUnknownIDs) {
		t.Errorf("an id of another account: %v, want ErrUnknownIDs", err)
	}
	if got := getUser(t, s, u2.ID); got.Name != "Renamed" || got.SuperAdmin || got.Email != u2.Email {
		t.Errorf("a refused edit changed the user: %+v", got)
	}
	// Promotion, demotion; disabling closes the sessions.
	if err := s.EditUsers(ctx, a.ID, []string{admin.ID}, mfad.UserEdit{SuperAdmin: &no}, t0); err != nil || getUser(t, s, admin.ID).SuperAdmin {
		t.Errorf("demotion: %v", err)
	}
	se := newSession(t, s, u2.ID, mfad.SessionFull, mfad.StepNone)
	keep := newSession(t, s, u1.ID, mfad.SessionFull, mfad.StepNone)
	if err := s.EditUsers(ctx, a.ID, []string{u2.ID}, mfad.UserEdit{Disabled: &yes}, t0); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u2.ID); !got.Disabled || got.Status() != mfad.StatusDisabled {
		t.Errorf("after disabling: %+v", got)
	}
	if sessionExists(t, s, se.Hash) || !sessionExists(t, s, keep.Hash) {
		t.Error("disabling closed the wrong sessions")
	}
	if _, u, _, err := s.SessionUser(ctx, keep.Hash); err != nil || u.Disabled {
		t.Errorf("an untouched user's session: %+v, %v", u, err)
	}
	if err := s.EditUsers(ctx, a.ID, []string{u2.ID}, mfad.UserEdit{Disabled: &no}, t0); err != nil || getUser(t, s, u2.ID).Disabled {
		t.Errorf("enabling: %v", err)
	}
}

// SetPassword replaces the hash and closes the user's other sessions.
func testSetPassword(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, false)
	u := newUser(t, s, a.ID, nil)
	keep := newSession(t, s, u.ID, mfad.SessionFull, mfad.StepNone)
	other := newSession(t, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
	if err := s.SetPassword(ctx, u.ID, "$argon2id$new", keep.Hash, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u.ID); got.PasswordHash != "$argon2id$new" || !got.Modified.Equal(t0.Add(time.Hour)) {
		t.Errorf("after SetPassword: %+v", got)
	}
	if !sessionExists(t, s, keep.Hash) || sessionExists(t, s, other.Hash) {
		t.Error("SetPassword kept the wrong sessions")
	}
	if err := s.SetPassword(ctx, u.ID, "$argon2id$newer", nil, t0); err != nil || sessionExists(t, s, keep.Hash) {
		t.Errorf("SetPassword keeping none: %v", err)
	}
	if err := s.SetPassword(ctx, "no-such-user", "h", nil, t0); !errors.Is(err, mfad.ErrNotFound) {
		t.Errorf("SetPassword of nobody: %v, want ErrNotFound", err)
	}
}
