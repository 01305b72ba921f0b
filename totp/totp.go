// Package totp wraps github.com/pquerna/otp so the rest of mfad sees
// "generate" and "match", not HMAC details. Codes are RFC 6238 TOTP:
// HMAC-SHA1, 6 digits, 30-second steps, what authenticator apps expect.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const (
	Period     = 30 // seconds per time step
	Digits     = 6
	SecretSize = 20 // bytes of randomness in a secret
	QRSize     = 256
)

var opts = totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrollment is a new secret with what an authenticator app needs to add it.
type Enrollment struct {
	Secret string // base32, no padding
	URI    string // otpauth://totp/...
	PNG    []byte // QR code of URI
}

// Generate makes a new random secret for account (the user's email) under
// issuer.
func Generate(issuer, account string) (Enrollment, error) {
	return enroll(issuer, account, nil)
}

// Again returns the Enrollment of an existing secret (base32, as
// Enrollment.Secret has it), so that a pending secret can be shown again.
func Again(issuer, account, secret string) (Enrollment, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw) == 0 {
		return Enrollment{}, fmt.Errorf("totp: secret is not base32")
	}
	return enroll(issuer, account, raw)
}

// enroll makes the Enrollment of secret, or of a new random one when nil.
func enroll(issuer, account string, secret []byte) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: Period, SecretSize: SecretSize, Secret: secret,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp: generate: %w", err)
	}
	img, err := key.Image(QRSize, QRSize)
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp: qr image: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, fmt.Errorf("totp: qr png: %w", err)
	}
	return Enrollment{Secret: key.Secret(), URI: key.URL(), PNG: buf.Bytes()}, nil
}

// StepAt returns the time step that t falls in.
func StepAt(t time.Time) int64 { return t.Unix() / Period }

// CodeAt returns the code of secret for time step step.
func CodeAt(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*Period, 0), opts)
}

// ValidFormat reports whether code is exactly 6 ASCII digits. Anything else
// is rejected before any cryptography.
func ValidFormat(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// Result is the outcome of Match.
type Result struct {
	Step   int64 // the matched time step, when OK
	OK     bool
	Replay bool // the code is right for a step that was already accepted
}

// Match looks for the time step, from one before now's to one after, whose
// code is code and which is later than after (the last step accepted for
// the user: steps only move forward). Every candidate is computed and
// compared in constant time.
func Match(secret, code string, now time.Time, after int64) (Result, error) {
	var r Result
	if !ValidFormat(code) {
		return r, nil
	}
	cur := StepAt(now)
	for s := cur - 1; s <= cur+1; s++ {
		want, err := CodeAt(secret, s)
		if err != nil {
			return Result{}, fmt.Errorf("totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if s > after && !r.OK {
			r.Step, r.OK = s, true
		} else if s <= after {
			r.Replay = true
		}
	}
	if r.OK {
		r.Replay = false
	}
	return r, nil
}
