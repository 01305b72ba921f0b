package seal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mfad/mfad"
)

// A database records the id of the key its secrets are sealed under, so
// that a server never starts with a key file that is not the database's,
// and never makes a new key for a database that has one.

// KeyStore is what binding and rotating keys need of a database.
type KeyStore interface {
	Meta(ctx context.Context, key string) (string, error)
	PutMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	mfad.KeyStore
}

// metaKeyID is the database's record of its primary key's id.
const metaKeyID = "key_id"

// Bind opens the key file at path for the database: on the database's first
// start it creates the file (mode 0600) and records its key's id; after
// that it refuses a missing file and a file that does not hold the recorded
// key. created reports a new key file.
func Bind(ctx context.Context, store KeyStore, path string) (fb *FileBox, created bool, err error) {
	known, err := store.Meta(ctx, metaKeyID)
	if err != nil && !errors.Is(err, mfad.ErrNotFound) {
		return nil, false, fmt.Errorf("read database metadata: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if known != "" {
			return nil, false, fmt.Errorf("key file %s is missing, but this database holds secrets sealed with a key (id %s); restore that key file (refusing to make a new key)", path, known)
		}
		if _, err := CreateKeyFile(path); err == nil {
			created = true
		} else if !errors.Is(err, os.ErrExist) {
			return nil, false, err
		} // else another process made it first
	}
	fb, err = OpenFileBox(path)
	if err != nil {
		return nil, false, err
	}
	box := fb.Box()
	stored, err := store.PutMetaIfAbsent(ctx, metaKeyID, box.ID())
	if err != nil {
		return nil, false, fmt.Errorf("record key id: %w", err)
	}
	if !slices.Contains(box.IDs(), stored) {
		return nil, false, fmt.Errorf("key file %s (key id %s) does not belong to this database, whose secrets are sealed with key id %s; refusing to start", path, strings.Join(box.IDs(), ", "), stored)
	}
	return fb, created, nil
}

// ring is the key file at path with the index of the database's key in it.
func ring(ctx context.Context, store KeyStore, path string) ([]Key, int, error) {
	keys, err := LoadKeyRing(path)
	if err != nil {
		return nil, 0, err
	}
	known, err := store.Meta(ctx, metaKeyID)
	if errors.Is(err, mfad.ErrNotFound) {
		return nil, 0, errors.New("the database has no key yet: start mfad serve once first")
	}
	if err != nil {
		return nil, 0, err
	}
	ids := NewBox(keys...).IDs()
	current := slices.Index(ids, known)
	if current < 0 {
		return nil, 0, fmt.Errorf("key file %s (key ids %v) does not belong to this database (key id %s)", path, ids, known)
	}
	return keys, current, nil
}

// Stage adds a new key to the key file as a secondary key (it opens, it
// does not seal yet), to be copied to every instance before Rotate. It
// returns the new key's id.
func Stage(ctx context.Context, store KeyStore, path string) (string, error) {
	keys, current, err := ring(ctx, store, path)
	if err != nil {
		return "", err
	}
	k := NewKey()
	staged := append([]Key{keys[current]}, k)
	for i, old := range keys {
		if i != current {
			staged = append(staged, old)
		}
	}
	if err := WriteKeyRing(path, staged); err != nil {
		return "", err
	}
	return KeyID(k), nil
}

// Rotation is the outcome of Rotate.
type Rotation struct {
	ID         string // the new primary key's id
	Resealed   int    // secrets sealed again under it
	Unreadable int    // secrets that open with no key of the file
}

// Rotate makes a new primary key (one staged before, else a new one),
// re-seals every secret under it, and records it as the database's key.
// Servers keep serving meanwhile: they read the key file again by
// themselves, and the old keys stay in it as secondary keys (DropOld).
func Rotate(ctx context.Context, store KeyStore, path string) (Rotation, error) {
	keys, current, err := ring(ctx, store, path)
	if err != nil {
		return Rotation{}, err
	}
	// The new primary: a key staged earlier (a secondary the database does
	// not use yet), else a new one.
	var newKey Key
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
		newKey = NewKey()
	}
	next := []Key{newKey}
	for _, k := range keys {
		if k != newKey {
			next = append(next, k)
		}
	}
	if err := WriteKeyRing(path, next); err != nil {
		return Rotation{}, err
	}
	box := NewBox(next...)
	r := Rotation{ID: box.ID()}
	// A secret changed meanwhile by a server (sealed under the old key it
	// still had) is found again on the next pass.
	for pass := 0; pass < 5; pass++ {
		secrets, err := store.SealedSecrets(ctx)
		if err != nil {
			return r, err
		}
		todo, changed := 0, 0
		r.Unreadable = 0
		for _, sec := range secrets {
			which, plain, err := box.OpenWith(sec.Seal, []byte(sec.UserID))
			if err != nil {
				r.Unreadable++
				continue
			}
			if which == 0 {
				continue
			}
			todo++
			ok, err := store.Reseal(ctx, sec, box.Seal(plain, []byte(sec.UserID)))
			if err != nil {
				return r, err
			}
			if ok {
				changed++
			}
		}
		r.Resealed += changed
		if todo == changed {
			break // every secret was under the new key, or is now
		}
	}
	if err := store.SetMeta(ctx, metaKeyID, box.ID()); err != nil {
		return r, err
	}
	return r, nil
}

// DropOld removes the secondary keys from the key file once every secret
// opens with the primary key alone. It returns how many secrets there are
// and the primary key's id.
func DropOld(ctx context.Context, store KeyStore, path string) (secrets int, id string, err error) {
	keys, current, err := ring(ctx, store, path)
	if err != nil {
		return 0, "", err
	}
	if current != 0 {
		return 0, "", fmt.Errorf("the primary key of %s is not the database's key; run mfad rotate-key first", path)
	}
	box := NewBox(keys[0])
	all, err := store.SealedSecrets(ctx)
	if err != nil {
		return 0, "", err
	}
	bad := 0
	for _, sec := range all {
		if _, err := box.Open(sec.Seal, []byte(sec.UserID)); err != nil {
			bad++
		}
	}
	if bad > 0 {
		return len(all), "", fmt.Errorf("%d of %d secrets do not open with the primary key alone; run mfad rotate-key again before dropping the old keys", bad, len(all))
	}
	if err := WriteKeyRing(path, keys[:1]); err != nil {
		return 0, "", err
	}
	return len(all), box.ID(), nil
}
