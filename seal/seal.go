// Package seal encrypts secrets at rest (TOTP secrets) with AES-256-GCM under
// a key kept outside the database, and manages the key file.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Key is an AES-256 key.
type Key [KeySize]byte

// Box seals values under its primary key and opens values sealed under any
// of its keys (the older ones stay during a key rotation). The additional
// data binds a sealed value to its owner (a user id), so a sealed secret
// copied to another row does not open.
type Box struct {
	aeads []cipher.AEAD
	ids   []string
}

// NewBox returns a Box whose primary key is the first; it panics without a
// key.
func NewBox(keys ...Key) *Box {
	if len(keys) == 0 {
		panic("seal: NewBox needs a key")
	}
	b := &Box{}
	for _, key := range keys {
		block, err := aes.NewCipher(key[:])
		if err != nil {
			panic(err) // unreachable: the key size is fixed
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic(err)
		}
		b.aeads = append(b.aeads, aead)
		b.ids = append(b.ids, KeyID(key))
	}
	return b
}

// KeyID is a short fingerprint of a key; it reveals nothing about the key and
// lets the server tell that a key file does not belong to a database.
func KeyID(key Key) string {
	sum := sha256.Sum256(append([]byte("mfad key id\x00"), key[:]...))
	return hex.EncodeToString(sum[:8])
}

// ID is the fingerprint of the primary key.
func (b *Box) ID() string { return b.ids[0] }

// IDs are the fingerprints of every key, the primary first.
func (b *Box) IDs() []string { return b.ids }

// Seal encrypts plaintext under the primary key, returning nonce||ciphertext.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	aead := b.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return aead.Seal(nonce, nonce, plaintext, aad)
}

// ErrOpen means a sealed value did not decrypt: wrong key, wrong owner or
// tampered data.
var ErrOpen = errors.New("seal: cannot decrypt (wrong key or tampered data)")

// Open decrypts a value made by Seal with the same aad under any key of the
// box.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	_, pt, err := b.OpenWith(sealed, aad)
	return pt, err
}

// OpenWith is Open that also says which key opened the value (0: the
// primary).
func (b *Box) OpenWith(sealed, aad []byte) (int, []byte, error) {
	for i, aead := range b.aeads {
		n := aead.NonceSize()
		if len(sealed) < n+aead.Overhead() {
			return 0, nil, ErrOpen
		}
		if pt, err := aead.Open(nil, sealed[:n], sealed[n:], aad); err == nil {
			return i, pt, nil
		}
	}
	return 0, nil, ErrOpen
}

// NewKey returns a random key.
func NewKey() Key {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		panic(err)
	}
	return k
}

// ParseKey reads a key from the text of a key file: 32 bytes as base64
// (standard or URL alphabet) or as 64 hex digits, surrounding space ignored.
func ParseKey(text string) (Key, error) {
	var k Key
	s := strings.TrimSpace(text)
	var raw []byte
	var err error
	switch {
	case len(s) == 2*KeySize:
		raw, err = hex.DecodeString(s)
	default:
		raw, err = base64.StdEncoding.DecodeString(s)
		if err != nil {
			raw, err = base64.URLEncoding.DecodeString(s)
		}
	}
	if err != nil || len(raw) != KeySize {
		return k, errors.New("the key file must hold 32 bytes as base64 or 64 hex digits")
	}
	copy(k[:], raw)
	return k, nil
}

// LoadKeyFile reads the primary key of the key file at path.
func LoadKeyFile(path string) (Key, error) {
	keys, err := LoadKeyRing(path)
	if err != nil {
		return Key{}, err
	}
	return keys[0], nil
}

// LoadKeyRing reads every key of the key file at path: one key a line, the
// primary first; blank lines and lines starting with # are skipped. It
// refuses a file that others can read or write.
func LoadKeyRing(path string) ([]Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %04o lets other users read it; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	var keys []Key
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s, line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s: %w", path, errors.New("the key file must hold 32 bytes as base64 or 64 hex digits"))
	}
	return keys, nil
}

// WriteKeyRing replaces the key file at path with keys (the primary first),
// atomically, with mode 0600.
func WriteKeyRing(path string, keys []Key) error {
	var b strings.Builder
	b.WriteString("# mfad key file: the first key seals, every key opens. Keep it secret (mode 0600).\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mfad-key-*")
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	werr := tmp.Chmod(0o600)
	if werr == nil {
		_, werr = tmp.WriteString(b.String())
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}

// CreateKeyFile writes a new random key to path with mode 0600. It fails if
// the file exists, so an existing key is never replaced.
func CreateKeyFile(path string) (Key, error) {
	k := NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("create key file %s: %w", path, err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return Key{}, fmt.Errorf("create key file %s: %w", path, err)
	}
	return k, nil
}

// IsNotExist reports whether err says a file is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// FileBox is a Box kept in step with its key file: when the file changes (a
// key rotation), the server picks up the new keys without a restart. It
// looks at the file at most every few seconds, and at once when a value does
// not open with the keys it has.
type FileBox struct {
	path string

	mu      sync.Mutex
	box     *Box
	modTime time.Time
	size    int64
	checked time.Time
}

// reloadEvery is how often a FileBox looks at its file.
const reloadEvery = 5 * time.Second

// OpenFileBox loads the key file at path.
func OpenFileBox(path string) (*FileBox, error) {
	f := &FileBox{path: path}
	if _, err := f.reload(true); err != nil {
		return nil, err
	}
	return f, nil
}

// Box returns the current keys.
func (f *FileBox) Box() *Box {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) > reloadEvery {
		f.reloadLocked(false)
	}
	return f.box
}

// reload reads the file again if it changed; it reports whether the keys
// changed.
func (f *FileBox) reload(force bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked(force)
}

func (f *FileBox) reloadLocked(force bool) (bool, error) {
	f.checked = time.Now()
	fi, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("key file %s: %w", f.path, err)
	}
	if !force && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return false, nil
	}
	keys, err := LoadKeyRing(f.path)
	if err != nil {
		// A damaged or half-written file: keep the keys we have.
		return false, err
	}
	f.box, f.modTime, f.size = NewBox(keys...), fi.ModTime(), fi.Size()
	return true, nil
}

// Seal seals under the current primary key.
func (f *FileBox) Seal(plaintext, aad []byte) []byte { return f.Box().Seal(plaintext, aad) }

// Open opens with the current keys, reading the key file again first when
// they do not open the value (it may have been sealed under a newer key).
func (f *FileBox) Open(sealed, aad []byte) ([]byte, error) {
	pt, err := f.Box().Open(sealed, aad)
	if err == nil {
		return pt, nil
	}
	if changed, _ := f.reload(false); changed {
		return f.Box().Open(sealed, aad)
	}
	return nil, err
}
