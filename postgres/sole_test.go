package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/postgres"
)

// The conformance suite again, with the session cache of mfad serve.
func TestConformanceWithSessionCache(t *testing.T) {
	pgtest.Server(t)
	storetestRun(t, postgres.Options{SessionCache: true})
}

// soleFixture is an instance with the cache (as mfad serve) and an account
// with one user on a database of its own.
type soleFixture struct {
	url string
	a   *postgres.Store
	u   *mfad.User
	now time.Time
}

func newSoleFixture(t *testing.T) *soleFixture {
	t.Helper()
	ctx := context.Background()
	f := &soleFixture{url: pgtest.NewDatabase(t), now: time.Now().UTC().Truncate(time.Millisecond)}
	var err error
	if f.a, err = postgres.Open(ctx, f.url, postgres.Options{SessionCache: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.a.Close() })
	acc := &mfad.Account{ID: uuid.NewString(), Title: "A", Created: f.now, Modified: f.now}
	f.u = &mfad.User{ID: uuid.NewString(), AccountID: acc.ID, Name: "U", Email: "u@example.com", PasswordHash: "$argon2id$x", Created: f.now, Modified: f.now}
	if err := f.a.CreateAccount(ctx, acc, f.u); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *soleFixture) session(t *testing.T) []byte {
	t.Helper()
	se := &mfad.Session{Hash: []byte(uuid.NewString()), UserID: f.u.ID, Kind: mfad.SessionFull, Created: f.now, LastSeen: f.now, Expires: f.now.Add(time.Hour)}
	if err := f.a.CreateSession(context.Background(), se); err != nil {
		t.Fatal(err)
	}
	return se.Hash
}

// alive reads the session through st: true if it is there.
func alive(t *testing.T, st mfad.Store, hash []byte) bool {
	t.Helper()
	_, _, _, err := st.SessionUser(context.Background(), hash)
	if err != nil && !errors.Is(err, mfad.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// waitSole waits up to 5 s for s to be the sole instance.
func waitSole(t *testing.T, s *postgres.Store, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.IsSole() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the instance is sole: %v, want %v", s.IsSole(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alone, an instance answers from memory; another process's write (here a
// store without the cache, as mfad user on the command line) waits until
// it has given the cache up, so the change is seen by the very next read;
// once the other process is gone, the instance is sole again.
func TestSoleInstance(t *testing.T) {
	ctx := context.Background()
	f := newSoleFixture(t)
	waitSole(t, f.a, true)
	hash := f.session(t)
	first := alive(t, f.a, hash)  // read from the database, kept
	second := alive(t, f.a, hash) // answered from memory
	if !first || !second || f.a.Cache.Len() != 1 {
		t.Fatalf("not answered from memory: %d kept", f.a.Cache.Len())
	}

	b, err := postgres.Open(ctx, f.url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.DeleteSession(ctx, hash); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	if alive(t, f.a, hash) {
		t.Fatal("the instance still answers for a session another process deleted")
	}
	if f.a.IsSole() || f.a.Cache.Len() != 0 {
		t.Fatalf("sole %v with %d kept after another process wrote", f.a.IsSole(), f.a.Cache.Len())
	}
	t.Logf("the other process's write waited %v for the cache to be given up", waited)
	if waited > 3*time.Second {
		t.Fatalf("the other process's write waited %v", waited)
	}

	// The other process's writes go on while it is connected and writing;
	// once it is gone, the instance becomes sole again.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitSole(t, f.a, true)
	h2 := f.session(t)
	first, second = alive(t, f.a, h2), alive(t, f.a, h2)
	if !first || !second || f.a.Cache.Len() != 1 {
		t.Fatalf("not answering from memory again: %d kept", f.a.Cache.Len())
	}
}

// Two instances with the cache: each change made through one is refused
// by the other on the very next request, while 8 readers hammer it.
func TestRevokedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	f := newSoleFixture(t)
	b, err := postgres.Open(ctx, f.url, postgres.Options{SessionCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for round := range 6 {
		// Whichever instance is sole (if any), the other one revokes.
		reader, writer := f.a, b
		if round%2 == 1 || b.IsSole() {
			reader, writer = b, f.a
		}
		hash := f.session(t)
		alive(t, reader, hash) // kept, if the reader is sole
		var revoked atomic.Bool
		var stale atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load() // read before the request starts
					if _, _, _, err := reader.SessionUser(ctx, hash); err == nil && after {
						stale.Add(1)
					}
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		if err := writer.DeleteSession(ctx, hash); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		if n := stale.Load(); n != 0 {
			t.Fatalf("round %d: %d reads that started after the deletion returned still found the session", round, n)
		}
		time.Sleep(time.Duration(round%3) * 700 * time.Millisecond) // let an instance become sole again, or not
	}
}

// Should PostgreSQL end the sole instance's lock connection, others may
// write at once; the instance stops answering from memory within its lease.
func TestSoleConnectionLost(t *testing.T) {
	ctx := context.Background()
	f := newSoleFixture(t)
	waitSole(t, f.a, true)
	hash := f.session(t)
	alive(t, f.a, hash)
	b, err := postgres.Open(ctx, f.url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// End the backend holding the exclusive lock, as an administrator's
	// pg_terminate_backend or a restart would.
	var ended bool
	if err := b.QueryRowForTest(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND mode = 'ExclusiveLock'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, &ended); err != nil || !ended {
		t.Fatalf("terminate the lock's backend: %v %v", ended, err)
	}
	start := time.Now()
	if err := b.DeleteSession(ctx, hash); err != nil {
		t.Fatal(err)
	}
	for alive(t, f.a, hash) {
		if time.Since(start) > postgres.SoleLease+500*time.Millisecond {
			t.Fatalf("still answering for the deleted session %v after the lock's connection ended", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("stale answers for %v after the lock's connection ended (lease %v)", time.Since(start), postgres.SoleLease)
	waitSole(t, f.a, true) // and it comes back
}
