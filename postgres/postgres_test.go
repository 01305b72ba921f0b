package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/internal/sqlmig"
	"github.com/mfad/mfad/internal/storetest"
	"github.com/mfad/mfad/postgres"
)

// The PostgreSQL store passes the same conformance suite as SQLite, each
// subtest on a database of its own.
func TestConformance(t *testing.T) {
	pgtest.Server(t)
	storetestRun(t, postgres.Options{})
}

// storetestRun runs the conformance suite on stores opened with o.
func storetestRun(t *testing.T, o postgres.Options) {
	storetest.Run(t, func(t *testing.T) mfad.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestUpgrade opens databases as the previous version left them.
func TestUpgrade(t *testing.T) {
	pgtest.Server(t)
	storetest.RunUpgrade(t, func(t *testing.T) storetest.Legacy {
		url := pgtest.NewDatabase(t)
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := postgres.MigrateTo(t.Context(), db, sqlmig.RekeyEmailsVersion-1); err != nil {
			t.Fatal(err)
		}
		return storetest.Legacy{DB: db, Bind: func(n int) string { return "$" + strconv.Itoa(n) },
			Open: func() (mfad.Store, error) { return postgres.Open(context.Background(), url, postgres.Options{}) }}
	})
}

// AdvanceLogin runs its statements as one batch in a transaction on a
// connection taken from the pool. Whatever its outcome (a refused step, a
// request that ends half-way), nothing of a step that failed is committed,
// not even later with another step on the same connection, and the store
// goes on serving: here on a pool of one connection.
func TestAdvanceLeavesItsConnectionClean(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	acct := &mfad.Account{ID: "acct", Title: "A", Created: now, Modified: now}
	u := &mfad.User{ID: "u", AccountID: acct.ID, Name: "U", Email: "u@example.com", PasswordHash: "$argon2id$x",
		Has2FA: true, TOTPSeal: []byte("sealed"), TOTPGen: 1, Created: now, Modified: now}
	if err := s.CreateAccount(ctx, acct, u); err != nil {
		t.Fatal(err)
	}
	session := func(kind mfad.SessionKind) *mfad.Session {
		h := make([]byte, 32)
		rand.Read(h)
		return &mfad.Session{Hash: h, UserID: u.ID, Kind: kind, Step: mfad.StepTOTP, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	}
	advance := func(ctx context.Context, step int64) error {
		lim := session(mfad.SessionLimited)
		if err := s.CreateSession(context.Background(), lim); err != nil {
			t.Fatal(err)
		}
		return s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: step, TOTPGen: 1,
			Next: session(mfad.SessionFull), Now: now, CheckKey: "email:u", ResetKey: "addr:x",
			Audit: []*mfad.AuditEvent{{AccountID: acct.ID, ActorID: u.ID, UserID: u.ID, Event: "login", Outcome: "success", Time: now}}})
	}
	if err := advance(ctx, 10); err != nil {
		t.Fatal(err)
	}
	// Refused: a replayed step, then a locked email.
	if err := advance(ctx, 10); !errors.Is(err, mfad.ErrReplay) {
		t.Fatalf("a replayed step: %v, want ErrReplay", err)
	}
	if _, err := s.Reserve(ctx, "email:u", mfad.Throttle{Limit: 1, Window: time.Hour, Lock: time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	var locked *mfad.LockedError
	if err := advance(ctx, 11); !errors.As(err, &locked) {
		t.Fatalf("a locked email: %v, want a LockedError", err)
	}
	if err := s.ResetThrottle(ctx, "email:u"); err != nil {
		t.Fatal(err)
	}
	// A request that ends while its batch waits: another connection holds
	// the user's row (not its key: the sessions' foreign key checks pass),
	// which the step's UPDATE waits for until the request's deadline.
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	hold, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", u.ID); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = advance(dctx, 12)
	cancel()
	if err == nil {
		t.Fatal("an advance that waited past its request's end succeeded")
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Refused or interrupted, none of them consumed its step or left a
	// transaction open on the one connection: the next step is accepted.
	if err := advance(ctx, 11); err != nil {
		t.Fatalf("the next advance on the same connection: %v", err)
	}
	// And nothing of the refused ones was committed with it: two logins,
	// two audit rows, two full sessions.
	var audits, full int
	if err := other.QueryRowContext(ctx, "SELECT count(*) FROM audit WHERE event = 'login'").Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if err := other.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE kind = 'full'").Scan(&full); err != nil {
		t.Fatal(err)
	}
	if audits != 2 || full != 2 {
		t.Fatalf("%d audit rows and %d full sessions after two logins: a refused step's writes were committed", audits, full)
	}
}

// Instances starting together on an empty database migrate it once, under
// the advisory lock, without errors.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 2})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountAccounts(context.Background()); err != nil || n != 0 {
		t.Fatalf("after migration: %d accounts, %v", n, err)
	}
}

// BenchmarkLoginWrites: the writes of a login with a TOTP code, 64 at once
// (MFAD_TEST_POSTGRES=... go test -run '^$' -bench LoginWrites ./postgres).
// The CPU per login it reports is the benchmark process's only: PostgreSQL
// runs in processes of its own.
func BenchmarkLoginWrites(b *testing.B) {
	storetest.BenchLoginWrites(b, openBench(b))
}

// BenchmarkSessionUser: the read of every authenticated request, 64 at
// once, over 10,000 users' sessions; its CPU figure too is the benchmark
// process's only.
func BenchmarkSessionUser(b *testing.B) {
	storetest.BenchSessionUser(b, openBench(b), 10_000)
}

// openBench opens a store on a new database, closed when b ends.
func openBench(b *testing.B) *postgres.Store {
	pgtest.Server(b)
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
