package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writes committed together keep the outcome each would have alone: a write
// that fails leaves nothing, the others land, whatever their neighbours did.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	errWant := errors.New("this write fails")
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.tx(ctx, func(tx *wtx) error {
				if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", fmt.Sprintf("k-%d", i)); err != nil {
					return err
				}
				if i%3 == 0 {
					return errWant // after writing: the write must be undone
				}
				if i%3 == 1 {
					// A statement error inside the write: undone too.
					if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", fmt.Sprintf("k-%d", i)); err == nil {
						return errors.New("a duplicate key was accepted")
					}
					return errWant
				}
				return nil
			})
			switch {
			case i%3 == 2 && err != nil:
				t.Errorf("write %d: %v", i, err)
			case i%3 != 2 && !errors.Is(err, errWant):
				t.Errorf("write %d: %v, want its own error", i, err)
			}
		}()
	}
	wg.Wait()
	if s.grouped.Load() == 0 {
		t.Fatal("no writes were committed together: the test did not exercise groups")
	}
	if s.rerun.Load() == 0 {
		t.Fatal("no group ran again with savepoints: the test did not exercise a failure in a group")
	}
	rows, err := s.r.QueryContext(ctx, "SELECT key FROM meta WHERE key LIKE 'k-%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		have[k] = true
	}
	for i := range n {
		k := fmt.Sprintf("k-%d", i)
		if have[k] != (i%3 == 2) {
			t.Errorf("%s present: %v, want %v", k, have[k], i%3 == 2)
		}
	}
}

// Groups whose writes all succeed run once, without savepoints: every write
// function is called exactly once and every write lands.
func TestGroupCommitWithoutFailuresRunsOnce(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	const n = 400
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.tx(ctx, func(tx *wtx) error {
				calls.Add(1)
				return putKey(tx, fmt.Sprintf("ok-%d", i))
			})
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if s.grouped.Load() == 0 {
		t.Fatal("no writes were committed together: the test did not exercise groups")
	}
	if c, r := calls.Load(), s.rerun.Load(); c != n || r != 0 {
		t.Fatalf("%d calls of %d write functions, %d groups run again; want each once, none again", c, n, r)
	}
	var got int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key LIKE 'ok-%'").Scan(&got); err != nil || got != n {
		t.Fatalf("%d writes landed (%v), want %d", got, err, n)
	}
}

// A write whose context ends while it waits for the writer is not run.
func TestGroupCommitSkipsCancelledWrites(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	release := make(chan struct{})
	started := make(chan struct{})
	go s.tx(ctx, func(tx *wtx) error { // holds the writer
		close(started)
		<-release
		return nil
	})
	<-started
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- s.tx(cctx, func(tx *wtx) error {
			_, err := tx.Exec("INSERT INTO meta(key, value) VALUES('cancelled', 'v')")
			return err
		})
	}()
	cancel()
	close(release)
	if err := <-done; err == nil {
		t.Fatal("a cancelled write reported success")
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key = 'cancelled'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the cancelled write is there: %d %v", n, err)
	}
}

// Writes after Close fail cleanly.
func TestWriteAfterClose(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	s.Close()
	if err := s.tx(ctx, func(tx *wtx) error { return nil }); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}

// A write that panics fails alone; the writer keeps serving.
func TestWritePanicFailsOnlyThatWrite(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES('panicked', 'v')"); err != nil {
			return err
		}
		panic("a bug in a write")
	})
	if err == nil {
		t.Fatal("a panicking write reported success")
	}
	if err := s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("INSERT INTO meta(key, value) VALUES('after', 'v')")
		return err
	}); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key IN ('panicked', 'after')").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after the panic: %d %v, want only the later write", n, err)
	}
}

// A large write (txSolo) is never committed inside a group, even when
// small writes queue around it.
func TestSoloWritesCommitAlone(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%15 == 0 {
				err := s.txSolo(ctx, func(tx *wtx) error {
					// Inside a group this write would hold the savepoint w.
					if _, err := tx.Exec("RELEASE w"); err == nil {
						return errors.New("a solo write ran inside a group")
					}
					_, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", fmt.Sprintf("solo-%d", i))
					return err
				})
				if err != nil {
					t.Errorf("solo write %d: %v", i, err)
				}
				return
			}
			if err := s.tx(ctx, func(tx *wtx) error { return putKey(tx, fmt.Sprintf("small-%d", i)) }); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if s.grouped.Load() == 0 {
		t.Fatal("no writes were committed together: the test did not exercise groups")
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key LIKE 'solo-%' OR key LIKE 'small-%'").Scan(&n); err != nil || n != 300 {
		t.Fatalf("%d rows, want 300: %v", n, err)
	}
}

// Close may be called more than once, also concurrently.
func TestCloseTwice(t *testing.T) {
	s := openGroupStore(t) // and closed once more when the test ends
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	s.Close()
}

// A grouped write whose request ends while it runs is finished and
// committed, with the rest of its group: interrupting its statement would
// make SQLite roll back the whole transaction, so one client hanging up
// would fail others.
func TestGroupedWriteOutlivesItsRequest(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	// The two writes queue while a first one holds the writer, so that they
	// are committed together; should the writer take one alone (it gathers
	// only writes already waiting), the attempt is made again.
	for attempt := range 5 {
		release := make(chan struct{})
		started := make(chan struct{})
		go s.tx(ctx, func(tx *wtx) error {
			close(started)
			<-release
			return nil
		})
		<-started
		grouped := s.grouped.Load()
		cctx, cancel := context.WithCancel(ctx)
		hungUp, neighbour := fmt.Sprintf("hung-up-%d", attempt), fmt.Sprintf("neighbour-%d", attempt)
		errs := make(chan error, 2)
		go func() {
			errs <- s.tx(cctx, func(tx *wtx) error {
				cancel() // the client hangs up once its write has started
				if err := countTo(tx, cctx, 10_000); err != nil {
					return err
				}
				_, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", hungUp)
				return err
			})
		}()
		go func() {
			errs <- s.tx(ctx, func(tx *wtx) error {
				_, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", neighbour)
				return err
			})
		}()
		time.Sleep(50 * time.Millisecond) // both are waiting for the writer
		close(release)
		e1, e2 := <-errs, <-errs
		cancel()
		if s.grouped.Load()-grouped != 2 {
			continue // not committed together: this attempt proves nothing
		}
		if e1 != nil || e2 != nil {
			t.Fatalf("a write of the group failed: %v, %v", e1, e2)
		}
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key IN (?, ?)", hungUp, neighbour).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d of the 2 rows committed: %v", n, err)
		}
		return
	}
	t.Fatal("the two writes were never committed together")
}

// A write alone in its transaction stops when its request ends, changing
// nothing: a long one (a purge) does not hold up a shutdown.
func TestLoneWriteStopsWithItsRequest(t *testing.T) {
	ctx := context.Background()
	s := openGroupStore(t)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := s.txSolo(cctx, func(tx *wtx) error {
		if _, err := tx.Exec("INSERT INTO meta(key, value) VALUES('stopped', 'v')"); err != nil {
			return err
		}
		time.AfterFunc(20*time.Millisecond, cancel) // the request ends while the statement runs
		return countTo(tx, cctx, 10_000_000)        // seconds, when not interrupted
	})
	if err == nil {
		t.Fatal("the write ran to its end after its request ended")
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key = 'stopped'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the stopped write left its row: %d %v", n, err)
	}
	// The writer goes on.
	if err := s.tx(ctx, func(tx *wtx) error {
		_, err := tx.Exec("INSERT INTO meta(key, value) VALUES('after', 'v')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// countTo runs a statement that counts to n, which takes time.
func countTo(tx *wtx, ctx context.Context, n int) error {
	var got int
	return tx.QueryRow(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		SELECT count(*) FROM c`, n).Scan(&got)
}

// openGroupStore opens a store on a new file, closed when the test ends.
func openGroupStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "mfad.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The checkpointer copies committed writes into the database file itself,
// without the writer and without another commit: soon after the last
// write, a copy of the file alone, without its WAL, holds every write.
func TestCheckpointerCopiesCommitsIntoTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.tx(ctx, func(tx *wtx) error { return putKey(tx, fmt.Sprintf("ck-%d", i)) }); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	inFile := func() (int, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		cp := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			return 0, err
		}
		db, err := sql.Open("sqlite", cp)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var got int
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key LIKE 'ck-%'").Scan(&got)
		return got, err
	}
	deadline := time.Now().Add(40 * CheckpointEvery)
	for {
		got, err := inFile()
		if err == nil && got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the last write the file alone holds %d of the %d writes (%v); %d checkpoints ran",
				40*CheckpointEvery, got, n, err, s.ckRuns.Load())
		}
		time.Sleep(CheckpointEvery / 2)
	}
	if r, f := s.ckRuns.Load(), s.ckFailed.Load(); r == 0 || f != 0 {
		t.Fatalf("%d checkpoints ran, %d failed; want some, none failed", r, f)
	}
}

// putKey inserts a meta row of key.
func putKey(tx *wtx, key string) error {
	_, err := tx.Exec("INSERT INTO meta(key, value) VALUES(?, 'v')", key)
	return err
}
