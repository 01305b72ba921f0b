package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/sqlite"
)

// Commits reach the database file soon after they are made, copied there
// by the background checkpointer, not only when the log has grown to
// thousands of pages.
func TestCheckpointsFollowCommits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		if _, err := s.PutMetaIfAbsent(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// The database file alone (without its log) as a copy: it holds what
	// checkpoints have copied into it.
	inFile := func() int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+cp+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("SELECT count(*) FROM meta WHERE key LIKE 'k%'").Scan(&n); err != nil {
			return -1 // caught mid-copy: look again
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := inFile()
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the database file holds %d of the 20 committed rows: no checkpoint ran", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under a steady load of writes the log does not grow without bound: the
// writer checkpoints itself at walRestartPages, after which SQLite writes
// the log from its start again.
func TestLogStaysBoundedUnderLoad(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := strings.Repeat("x", 3000) // about a page per write
	const writers, each = 8, 1500
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.PutMetaIfAbsent(ctx, fmt.Sprintf("w%d-%d", w, i), value); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 12,000 writes of a page and more: about 50 MB of log had it never
	// started over. The bound: walRestartPages frames of 4 KiB and their
	// headers, plus the groups written while a checkpoint ran.
	const limit = 24 << 20
	t.Logf("log file after %d writes: %.1f MB", writers*each, float64(st.Size())/(1<<20))
	if st.Size() > limit {
		t.Fatalf("log file %.1f MB after %d writes, over %d MB", float64(st.Size())/(1<<20), writers*each, limit>>20)
	}
}
