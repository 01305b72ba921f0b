package storetest

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlmig"
)

// Legacy is a database as the version of mfad before the email identity
// rule left it: migrated up to sqlmig.RekeyEmailsVersion-1, its users' keys
// made by strings.ToLower.
type Legacy struct {
	DB   *sql.DB            // the database, for the old version's rows
	Bind func(n int) string // its n-th placeholder: "?" or "$n"
	// Open opens it as the current version does, with every migration.
	Open func() (mfad.Store, error)
}

// NewLegacy makes a new legacy database.
type NewLegacy func(t *testing.T) Legacy

// oldUser inserts a user as the previous version stored it.
func (l Legacy) oldUser(t *testing.T, accountID, email string) string {
	t.Helper()
	id := uuid.NewString()
	args := []any{id, accountID, "Legacy", email, strings.ToLower(strings.TrimSpace(email)), "$argon2id$legacy", 1, 1}
	marks := make([]string, len(args))
	for i := range marks {
		marks[i] = l.Bind(i + 1)
	}
	if _, err := l.DB.ExecContext(t.Context(), "INSERT INTO users(id, account_id, name, email, email_key, password_hash, created, modified) VALUES("+
		strings.Join(marks, ", ")+")", args...); err != nil {
		t.Fatal(err)
	}
	return id
}

func (l Legacy) oldAccount(t *testing.T) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := l.DB.ExecContext(t.Context(), "INSERT INTO accounts(id, title, created, modified) VALUES("+
		l.Bind(1)+", 'Old', 1, 1)", id); err != nil {
		t.Fatal(err)
	}
	return id
}

// RunUpgrade runs the upgrade tests of the email identity rule on
// databases that newLegacy makes.
func RunUpgrade(t *testing.T, newLegacy NewLegacy) {
	t.Run("RekeyEmails", func(t *testing.T) { testRekeyEmails(t, newLegacy(t)) })
	t.Run("RekeyCollisionStops", func(t *testing.T) { testRekeyCollisionStops(t, newLegacy(t)) })
}

// Keys of the old rule are recomputed: the Kelvin-sign "Ken" no longer
// holds ken@example.com's key, which a new user can then take, and each
// email logs in as its own user.
func testRekeyEmails(t *testing.T, l Legacy) {
	ctx := t.Context()
	acct := l.oldAccount(t)
	kelvin := l.oldUser(t, acct, "\u212Aen@example.com") // old key: ken@example.com
	dotted := l.oldUser(t, acct, "ALİCE@EXAMPLE.COM")    // old key: alice@example.com
	plain := l.oldUser(t, acct, "Bob@Example.com")
	// İ then a combining tilde below: NFC composes Ḭ (upper case) and a
	// combining dot, which the rule then lowers.
	tilde := l.oldUser(t, acct, "\u0130\u0330@example.com") // old key: i + tilde below
	s, err := l.Open()
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	for email, id := range map[string]string{"\u212Aen@example.com": kelvin, "ALİCE@EXAMPLE.COM": dotted, "alİce@example.com": dotted, "BOB@example.COM": plain,
		"\u0130\u0330@example.com": tilde, "\u1E2C\u0307@example.com": tilde, "\u1E2D\u0307@example.com": tilde} {
		u, err := s.UserByEmail(ctx, email)
		if err != nil || u.ID != id {
			t.Fatalf("UserByEmail(%q) after the upgrade: %v, %v; want user %s", email, u, err, id)
		}
	}
	for _, email := range []string{"ken@example.com", "Alice@example.com"} {
		if u, err := s.UserByEmail(ctx, email); !errors.Is(err, mfad.ErrNotFound) {
			t.Fatalf("UserByEmail(%q) after the upgrade: %v, %v; want not found (the look-alike keeps its own key)", email, u, err)
		}
		u := &mfad.User{ID: uuid.NewString(), AccountID: acct, Name: "New", Email: email, PasswordHash: "$argon2id$new", Created: t0, Modified: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("create %s after the upgrade: %v", email, err)
		}
		if got, err := s.UserByEmail(ctx, strings.ToUpper(email)); err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail(%q): %v, %v; want the new user", strings.ToUpper(email), got, err)
		}
	}
}

// Two stored emails that the new rule makes one identity (the composed
// and the decomposed "ü") stop the upgrade with both user ids named, and
// change nothing.
func testRekeyCollisionStops(t *testing.T, l Legacy) {
	ctx := t.Context()
	acct := l.oldAccount(t)
	composed := l.oldUser(t, acct, "jürgen@example.com")
	decomposed := l.oldUser(t, acct, "ju\u0308rgen@example.com")
	s, err := l.Open()
	if err == nil {
		s.Close()
		t.Fatal("the upgrade merged two users or dropped one: it succeeded")
	}
	for _, id := range []string{composed, decomposed} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("upgrade error %q does not name user %s", err, id)
		}
	}
	var n int
	if err := l.DB.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE email_key IN ("+l.Bind(1)+", "+l.Bind(2)+")",
		"jürgen@example.com", "ju\u0308rgen@example.com").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the refused upgrade: %d users kept their old keys (%v), want 2", n, err)
	}
	var version int64
	if err := l.DB.QueryRowContext(context.Background(), "SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil || version != sqlmig.RekeyEmailsVersion-1 {
		t.Fatalf("schema version after the refused upgrade: %d (%v), want %d", version, err, sqlmig.RekeyEmailsVersion-1)
	}
}
