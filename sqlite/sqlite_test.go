package sqlite_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/sqlmig"
	"github.com/mfad/mfad/internal/storetest"
	"github.com/mfad/mfad/sqlite"
)

// TestConformance runs the mfad.Store conformance suite, each subtest on a
// fresh database file of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mfad.Store {
		t.Helper()
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mfad.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s // the suite closes it
	})
}

// TestUpgrade opens databases as the previous version left them.
func TestUpgrade(t *testing.T) {
	storetest.RunUpgrade(t, func(t *testing.T) storetest.Legacy {
		path := filepath.Join(t.TempDir(), "mfad.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := sqlite.MigrateTo(t.Context(), db, sqlmig.RekeyEmailsVersion-1); err != nil {
			t.Fatal(err)
		}
		return storetest.Legacy{DB: db, Bind: func(int) string { return "?" },
			Open: func() (mfad.Store, error) { return sqlite.Open(context.Background(), path) }}
	})
}

// The tests below are about SQLite itself: the file on disk, its path, and
// PRAGMA integrity_check.

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

func newSession(t *testing.T, s mfad.Store, userID string, kind mfad.SessionKind, step mfad.Step) *mfad.Session {
	t.Helper()
	se := &mfad.Session{Hash: randHash(), UserID: userID, Kind: kind, Step: step,
		Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	if err := s.CreateSession(context.Background(), se); err != nil {
		t.Fatal(err)
	}
	return se
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

// BenchmarkLoginWrites: the writes of a login with a TOTP code, 64 at once
// (go test -run '^$' -bench LoginWrites ./sqlite).
func BenchmarkLoginWrites(b *testing.B) {
	storetest.BenchLoginWrites(b, openBench(b))
}

// BenchmarkSessionUser: the read of every authenticated request, 64 at
// once, over 10,000 users' sessions (go test -run '^$' -bench SessionUser ./sqlite).
func BenchmarkSessionUser(b *testing.B) {
	storetest.BenchSessionUser(b, openBench(b), 10_000)
}

// openBench opens a store on a new database file, closed when b ends.
func openBench(b *testing.B) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "mfad.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
