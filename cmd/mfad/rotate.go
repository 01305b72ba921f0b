package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/seal"
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
	path, err := keyPath(*dbf.db, *keyFile)
	if err != nil {
		return err
	}
	store, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := seal.LoadKeyRing(path)
	if err != nil {
		return err
	}
	known, err := store.Meta(ctx, "key_id")
	if errors.Is(err, mfad.ErrNotFound) {
		return fmt.Errorf("the database has no key yet: start mfad serve once first")
	}
	if err != nil {
		return err
	}
	ids := seal.NewBox(keys...).IDs()
	current := slices.Index(ids, known)
	if current < 0 {
		return fmt.Errorf("key file %s (key ids %v) does not belong to this database (key id %s)", path, ids, known)
	}

	switch {
	case *stage:
		k := seal.NewKey()
		ring := append([]seal.Key{keys[current]}, k)
		for i, old := range keys {
			if i != current {
				ring = append(ring, old)
			}
		}
		if err := seal.WriteKeyRing(path, ring); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "staged new key %s as a secondary key in %s.\nCopy this file to every instance (they reload it by themselves), then run mfad rotate-key without --stage.\n", seal.KeyID(k), path)
		return nil
	case *dropOld:
		if current != 0 {
			return fmt.Errorf("the primary key of %s is not the database's key; run mfad rotate-key first", path)
		}
		box := seal.NewBox(keys[0])
		n, bad, err := checkSecrets(ctx, store, box)
		if err != nil {
			return err
		}
		if bad > 0 {
			return fmt.Errorf("%d of %d secrets do not open with the primary key alone; run mfad rotate-key again before dropping the old keys", bad, n)
		}
		if err := seal.WriteKeyRing(path, keys[:1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "all %d secrets open with key %s; the other keys were removed from %s.\n", n, ids[0], path)
		return nil
	}

	// The new primary: a key staged earlier (a secondary the database does
	// not use yet), else a new one.
	var newKey seal.Key
	staged := -1
	for i := range keys {
		if i != current {
			staged = i
			break
		}
	}
	if staged >= 0 && current == 0 {
		newKey = keys[staged]
	} else {
		newKey = seal.NewKey()
	}
	ring := []seal.Key{newKey}
	for _, k := range keys {
		if k != newKey {
			ring = append(ring, k)
		}
	}
	if err := seal.WriteKeyRing(path, ring); err != nil {
		return err
	}
	box := seal.NewBox(ring...)
	resealed, unreadable := 0, 0
	for pass := 0; pass < 5; pass++ {
		secrets, err := store.SealedSecrets(ctx)
		if err != nil {
			return err
		}
		todo, changed := 0, 0
		unreadable = 0
		for _, sec := range secrets {
			which, plain, err := box.OpenWith(sec.Seal, []byte(sec.UserID))
			if err != nil {
				unreadable++
				continue
			}
			if which == 0 {
				continue
			}
			todo++
			ok, err := store.Reseal(ctx, sec, box.Seal(plain, []byte(sec.UserID)))
			if err != nil {
				return err
			}
			if ok {
				changed++
			}
		}
		resealed += changed
		if todo == changed {
			break // every secret was under the new key, or is now
		}
	}
	if err := store.SetMeta(ctx, "key_id", box.ID()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated to key %s: %d secrets re-sealed.\n", box.ID(), resealed)
	if unreadable > 0 {
		fmt.Fprintf(stdout, "warning: %d secrets open with no key of %s; their users must enroll again (mfad: POST /user/reset-mfa).\n", unreadable, path)
	}
	fmt.Fprintf(stdout, "The old keys stay in %s as secondary keys; once every instance runs with this file, remove them with mfad rotate-key --drop-old.\n", path)
	return nil
}

// checkSecrets counts the stored secrets and those box cannot open.
func checkSecrets(ctx context.Context, store mfad.Store, box *seal.Box) (n, bad int, err error) {
	secrets, err := store.SealedSecrets(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, sec := range secrets {
		if _, err := box.Open(sec.Seal, []byte(sec.UserID)); err != nil {
			bad++
		}
	}
	return len(secrets), bad, nil
}
