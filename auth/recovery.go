package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strings"

	"github.com/mfad/mfad"
)

// Recovery codes: ten one-time codes that may stand in for a TOTP code at
// the 2FA step of a login, for a user who lost their authenticator.
//
// A code is 16 characters of Crockford's base32 (80 random bits), shown in
// four groups of four: 7KQ4-M2XD-9TFA-H3PQ. Case, dashes and spaces are
// ignored, and the letters O, I and L read as 0, 1 and 1. Only a SHA-256
// hash of the user id and the code is stored: with 80 bits, a leaked
// database does not give the codes up to offline guessing, and a fast hash
// lets the login step find a code without trying each one (as session ids
// are stored).

// RecoveryCodeCount is how many codes a set holds.
const RecoveryCodeCount = 10

// recoveryLen is the length of a code without its dashes.
const recoveryLen = 16

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newRecoveryCode returns a new code, grouped for reading.
func newRecoveryCode() string {
	var b [recoveryLen]byte
	raw := make([]byte, recoveryLen)
	rand.Read(raw) // never fails (crypto/rand)
	for i := range b {
		b[i] = crockford[raw[i]&31] // 5 of each byte's 8 random bits
	}
	s := string(b[:])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// canonicalRecovery returns code without dashes or spaces, in upper case,
// with O, I and L read as 0, 1 and 1; false when it is not the shape of a
// recovery code.
func canonicalRecovery(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(crockford, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

// recoveryHash is what the store keeps of a user's code (canonical).
func recoveryHash(userID, canonical string) []byte {
	h := sha256.Sum256([]byte("mfad recovery code\x00" + userID + "\x00" + canonical))
	return h[:]
}

// GenerateRecoveryCodes is POST /profile/recovery-codes: a new set of
// codes for the caller, replacing any earlier set. The codes are returned
// once and never again.
func (s *Service) GenerateRecoveryCodes(ctx context.Context, id *Identity) ([]string, error) {
	if err := RequireFull(id); err != nil {
		return nil, err
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		c, _ := canonicalRecovery(codes[i])
		hashes[i] = recoveryHash(id.User.ID, c)
	}
	if err := s.store.SetRecoveryCodes(ctx, id.User.ID, hashes, s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventRecoveryGenerated, user: id.User, detail: "10 new codes; earlier ones void"})
	return codes, nil
}

// RecoveryCodesLeft counts the caller's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, id *Identity) (int, error) {
	return s.store.RecoveryCodesLeft(ctx, id.User.ID)
}
