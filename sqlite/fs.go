package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// createPrivate creates the database file with mode 0600 unless it exists.
// The file holds password hashes and sealed secrets; SQLite gives its -wal
// and -shm files the mode of the database file, so they are 0600 too. An
// existing file keeps its mode (see LooseFiles).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// LooseFiles lists the database's files (the file itself, its -wal and -shm)
// that group or others may read or write, each with its mode, for a warning
// at start: "mfad.db (mode 0644)". Files that do not exist are skipped.
func LooseFiles(path string) []string {
	var loose []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (mode %04o)", p, perm))
		}
	}
	return loose
}
