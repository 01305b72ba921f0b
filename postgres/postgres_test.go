package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/internal/storetest"
	"github.com/mfad/mfad/postgres"
)

// The PostgreSQL store passes the same conformance suite as SQLite, each
// subtest on a database of its own.
func TestConformance(t *testing.T) {
	pgtest.Server(t)
	storetest.Run(t, func(t *testing.T) mfad.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
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
	pgtest.Server(b)
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLoginWrites(b, s)
}
