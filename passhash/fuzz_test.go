package passhash

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

const (
	// maxVerifyMemoryKiB is the most memory one Verify may make argon2id
	// allocate, whatever the stored hash says: 1 GiB, over fifty times the
	// Default 19 MiB (and 16 times the 64 MiB hashes the pool tests use).
	// The encoded hash chooses the cost of Verify, so without such a cap one
	// planted hash (m=4194304 is 4 GiB) defeats the memory bound the pool
	// exists for.
	maxVerifyMemoryKiB = 1 << 20

	// Verify runs in the fuzz target only for encodings this cheap, so each
	// execution stays in the millisecond range. Costlier ones that decode
	// are still checked against maxVerifyMemoryKiB and the canonical form.
	cheapMemoryKiB = 2048
	cheapTime      = 3
	cheapThreads   = 16
)

// fuzzParams are the tiny parameters of the hashes in the seed corpus.
var fuzzParams = Params{Memory: 64, Time: 1, Threads: 1}

// canonical is how Hash would write the decoded values: decode must accept
// nothing else (no stray prefix, suffix, spaces, leading zeros or
// non-canonical base64).
func canonical(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// FuzzPHC checks Verify on arbitrary encoded hashes: it never panics; it
// answers (false, error) for a malformed encoding; it answers (true, nil)
// exactly when the encoding is a real argon2id hash of the secret; and it
// refuses parameters that would make it allocate more than
// maxVerifyMemoryKiB.
func FuzzPHC(f *testing.F) {
	h := New(fuzzParams, 1, 0, time.Second)
	salt := []byte("0123456789abcdef")
	good := h.encode(salt, h.key([]byte("correct horse"), salt, fuzzParams))
	f.Add(good, "correct horse")
	f.Add(good, "correct horsf")
	f.Add("", "correct horse")

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, encoded, secret string) {
		p, salt, key, derr := decode(encoded)
		if derr == nil {
			if p.Memory > maxVerifyMemoryKiB {
				t.Fatalf("decode accepted m=%d (%d MiB): Verify would allocate that much for one password check; it must refuse over %d MiB",
					p.Memory, p.Memory>>10, maxVerifyMemoryKiB>>10)
			}
			if c := canonical(p, salt, key); c != encoded {
				t.Fatalf("decode accepted the malformed hash %.300q (canonical form %.300q)", encoded, c)
			}
			if len(salt) == 0 {
				t.Fatalf("decode accepted a hash with an empty salt: %.300q", encoded)
			}
			if p.Memory > cheapMemoryKiB || p.Time > cheapTime || p.Threads > cheapThreads {
				return // well-formed and within the cap, but too slow to run at fuzzing speed
			}
		}

		ok, err := h.Verify(ctx, encoded, secret)
		switch {
		case encoded == "":
			// The dummy hash: the same cost as a real one, never a match.
			if ok || err != nil {
				t.Fatalf("Verify(\"\", %.300q) = %v, %v; want false, nil", secret, ok, err)
			}
		case derr != nil:
			if ok || err == nil {
				t.Fatalf("Verify(%.300q) = %v, %v; want false and an error (decode: %v)", encoded, ok, err, derr)
			}
		default:
			if err != nil {
				t.Fatalf("Verify(%.300q): %v", encoded, err)
			}
			want := len(key) == keyLen &&
				bytes.Equal(argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, keyLen), key)
			if ok != want {
				t.Fatalf("Verify(%.300q, %.300q) = %v; the encoding is a real hash of the secret: %v", encoded, secret, ok, want)
			}
		}
	})
}
