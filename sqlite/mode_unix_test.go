//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mfad/mfad/sqlite"
)

// The database file and its -wal and -shm files hold password hashes and
// sealed secrets: they are created 0600 whatever the umask, and a looser
// existing file is reported.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0) // so that only the store's own choice restricts the modes
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfad.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutMetaIfAbsent(ctx, "k", "v"); err != nil { // a write: the -wal and -shm files exist now
		t.Fatal(err)
	}
	if _, err := s.Meta(ctx, "k"); err != nil { // and a read connection
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), perm)
		}
	}
	if loose := sqlite.LooseFiles(path); len(loose) != 0 {
		t.Errorf("LooseFiles on private files: %q", loose)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+"-shm", 0o660); err != nil {
		t.Fatal(err)
	}
	loose := sqlite.LooseFiles(path)
	if len(loose) != 2 || !strings.Contains(loose[0], "mfad.db (mode 0644)") || !strings.Contains(loose[1], "mfad.db-shm (mode 0660)") {
		t.Errorf("LooseFiles = %q, want mfad.db 0644 and mfad.db-shm 0660", loose)
	}
}
