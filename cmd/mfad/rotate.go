package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/server"
)

// rotateKey is "mfad rotate-key": it makes a new key the primary one and
// re-seals every TOTP secret under it, while servers keep running: they pick
// up the new key file by themselves, and the old key stays in the file as a
// secondary key (opening only) until --drop-old.
func rotateKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("mfad rotate-key", `Re-encrypt every TOTP secret under a new key, without downtime.

With SQLite, one step:  mfad rotate-key --db mfad.db
With several instances: mfad rotate-key --stage (adds a new key as secondary),
copy the key file to every instance, then mfad rotate-key (makes it primary and
re-seals), and later mfad rotate-key --drop-old.`, getenv, stderr)
	dbf := addDBFlags(f)
	keyFile := f.String("key-file", "MFAD_KEY_FILE", "", "the key file (default: <db>.key beside a SQLite database)")
	stage := f.Bool("stage", "", false, "only add a new key as a secondary key, to copy to every instance first")
	dropOld := f.Bool("drop-old", "", false, "remove the secondary keys once every secret opens with the primary key")
	if err := f.Parse(args); err != nil {
		if err == errHelp {
			return nil
		}
		return err
	}
	if *stage && *dropOld {
		return usageError{"--stage and --drop-old do not go together"}
	}
	path, err := server.KeyPath(*dbf.db, *keyFile)
	if err != nil {
		return usageError{"--key-file is required with a PostgreSQL database"}
	}
	store, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	switch {
	case *stage:
		id, err := seal.Stage(ctx, store, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "staged new key %s as a secondary key in %s.\nCopy this file to every instance (they reload it by themselves), then run mfad rotate-key without --stage.\n", id, path)
		return nil
	case *dropOld:
		n, id, err := seal.DropOld(ctx, store, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "all %d secrets open with key %s; the other keys were removed from %s.\n", n, id, path)
		return nil
	}
	r, err := seal.Rotate(ctx, store, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated to key %s: %d secrets re-sealed.\n", r.ID, r.Resealed)
	if r.Unreadable > 0 {
		fmt.Fprintf(stdout, "warning: %d secrets open with no key of %s; their users must enroll again (mfad: POST /user/reset-mfa).\n", r.Unreadable, path)
	}
	fmt.Fprintf(stdout, "The old keys stay in %s as secondary keys; once every instance runs with this file, remove them with mfad rotate-key --drop-old.\n", path)
	return nil
}
