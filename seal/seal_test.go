package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mfad/mfad/seal"
)

func TestSealOpenRoundtrip(t *testing.T) {
	b := seal.NewBox(seal.NewKey())
	for _, pt := range [][]byte{[]byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"), {}, bytes.Repeat([]byte{0xAB}, 4096)} {
		aad := []byte("user-1")
		sealed := b.Seal(pt, aad)
		if len(pt) > 0 && bytes.Contains(sealed, pt) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := b.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, want %q", got, pt)
		}
	}
	// Two seals of the same value differ (random nonce).
	s1, s2 := b.Seal([]byte("x"), nil), b.Seal([]byte("x"), nil)
	if bytes.Equal(s1, s2) {
		t.Error("two seals of the same plaintext are equal")
	}
}

func TestOpenFailures(t *testing.T) {
	b := seal.NewBox(seal.NewKey())
	pt, aad := []byte("secret"), []byte("user-1")
	sealed := b.Seal(pt, aad)

	if _, err := b.Open(sealed, []byte("user-2")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("other aad: err = %v, want ErrOpen", err)
	}
	if _, err := b.Open(sealed, nil); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("nil aad: err = %v, want ErrOpen", err)
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		if _, err := b.Open(tampered, aad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("byte %d flipped: err = %v, want ErrOpen", i, err)
		}
	}
	for n := 0; n < 12+16; n++ { // shorter than nonce + tag
		if _, err := b.Open(sealed[:n], aad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%d bytes: err = %v, want ErrOpen", n, err)
		}
	}
	if _, err := b.Open(sealed[:len(sealed)-1], aad); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("truncated: err = %v, want ErrOpen", err)
	}
	if _, err := b.Open(nil, aad); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("nil: err = %v, want ErrOpen", err)
	}
	other := seal.NewBox(seal.NewKey())
	if _, err := other.Open(sealed, aad); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("other key: err = %v, want ErrOpen", err)
	}
}

func TestBoxID(t *testing.T) {
	k1, k2 := seal.NewKey(), seal.NewKey()
	if k1 == k2 {
		t.Fatal("NewKey returned the same key twice")
	}
	id1 := seal.NewBox(k1).ID()
	if id1 == "" {
		t.Fatal("empty ID")
	}
	if again := seal.NewBox(k1).ID(); again != id1 {
		t.Errorf("ID not stable: %s then %s", id1, again)
	}
	if id2 := seal.NewBox(k2).ID(); id2 == id1 {
		t.Errorf("two keys have the same ID %s", id1)
	}
	if strings.Contains(id1, hex.EncodeToString(k1[:4])) {
		t.Errorf("ID %s reveals key bytes", id1)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfad.key")
	k, err := seal.CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	got, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Error("LoadKeyFile returned a different key")
	}

	// Never overwrite an existing key.
	before, _ := os.ReadFile(path)
	if _, err := seal.CreateKeyFile(path); err == nil {
		t.Error("CreateKeyFile overwrote an existing file")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("existing key file changed")
	}
	if got, err := seal.LoadKeyFile(path); err != nil || got != k {
		t.Errorf("key after refused overwrite: %v", err)
	}
}

func TestLoadKeyFileRefusesLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loose.key")
	k := seal.NewKey()
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k[:])), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := seal.LoadKeyFile(path)
		if err == nil {
			t.Errorf("mode %04o accepted", mode)
			continue
		}
		if !strings.Contains(err.Error(), "chmod") {
			t.Errorf("mode %04o: error %q does not mention chmod", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if got, err := seal.LoadKeyFile(path); err != nil || got != k {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadKeyFileMissing(t *testing.T) {
	_, err := seal.LoadKeyFile(filepath.Join(t.TempDir(), "none.key"))
	if err == nil || !seal.IsNotExist(err) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
}

func TestParseKey(t *testing.T) {
	var k seal.Key
	for i := range k {
		k[i] = byte(i*7 + 0xF0) // includes bytes that differ between std and URL base64
	}
	good := []string{
		base64.StdEncoding.EncodeToString(k[:]),
		base64.URLEncoding.EncodeToString(k[:]),
		"  " + base64.StdEncoding.EncodeToString(k[:]) + "\n",
		hex.EncodeToString(k[:]),
		strings.ToUpper(hex.EncodeToString(k[:])),
		"\t" + hex.EncodeToString(k[:]) + "\r\n",
	}
	for _, s := range good {
		got, err := seal.ParseKey(s)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", s, err)
			continue
		}
		if got != k {
			t.Errorf("ParseKey(%q) = %x, want %x", s, got, k)
		}
	}
	bad := []string{
		"",
		"   \n",
		base64.StdEncoding.EncodeToString(k[:31]),
		base64.StdEncoding.EncodeToString(append(k[:], 0)),
		hex.EncodeToString(k[:31]),
		hex.EncodeToString(k[:31]) + "zz",
		"not a key at all",
		strings.Repeat("g", 64),
		base64.RawStdEncoding.EncodeToString(k[:31]),
	}
	for _, s := range bad {
		if _, err := seal.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}
