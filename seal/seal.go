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
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Key is an AES-256 key.
type Key [KeySize]byte

// Box seals and opens values under one key. The additional data binds a
// sealed value to its owner (a user id), so a sealed secret copied to another
// row does not open.
type Box struct {
	aead cipher.AEAD
	id   string
}

// NewBox returns a Box for key.
func NewBox(key Key) *Box {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: the key size is fixed
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(append([]byte("mfad key id\x00"), key[:]...))
	return &Box{aead: aead, id: hex.EncodeToString(sum[:8])}
}

// ID is a short fingerprint of the key; it reveals nothing about the key and
// lets the server tell that a key file does not belong to a database.
func (b *Box) ID() string { return b.id }

// Seal encrypts plaintext, returning nonce||ciphertext.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b.aead.Seal(nonce, nonce, plaintext, aad)
}

// ErrOpen means a sealed value did not decrypt: wrong key, wrong owner or
// tampered data.
var ErrOpen = errors.New("seal: cannot decrypt (wrong key or tampered data)")

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
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

// LoadKeyFile reads the key file at path. It refuses a file that others can
// read or write.
func LoadKeyFile(path string) (Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("key file %s: mode %04o lets other users read it; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
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
