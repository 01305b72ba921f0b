package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mfad/mfad/client"
)

// The shapes of what people type for a second factor. mfactl refuses
// anything else before it is sent: the server counts every refused code
// against the login and the lockout, a mistyped one too.
const (
	shapeTOTP     = "a code from an authenticator app is 6 digits"
	shapePIN      = "a PIN is 4 to 12 digits (0-9)"
	shapeTOTPOrRC = "give the 6 digits from your authenticator app, or a recovery code (letters and digits in groups separated by dashes)"
	shapeRC       = "a recovery code is 16 letters and digits in groups separated by dashes, like 7KQ4-M2XD-9TFA-H3PQ"
	notTOTPHere   = "this step takes a recovery code, not 6 digits: your account logs in with a passkey, not an authenticator app"
)

// errGiveUp: the person gave no answer where that means stopping.
var errGiveUp = errors.New("no answer")

// factor is what is sent for a login step: the factor and its code.
type factor struct {
	Type client.AuthType
	Code string
}

// isDigits reports whether s is ASCII digits only (and not empty).
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// totpCode returns the code in s, 6 digits once spaces are taken out
// ("123 456" is 123456).
func totpCode(s string) (string, bool) {
	d := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return d, len(d) == 6 && isDigits(d)
}

// validPIN reports whether s is a PIN the server can take: 4 to 12 ASCII
// digits, nothing else.
func validPIN(s string) bool { return len(s) >= 4 && len(s) <= 12 && isDigits(s) }

// recoveryLength is the length of a recovery code without its dashes and
// spaces (16 characters of Crockford's base32).
const recoveryLength = 16

// isRecoveryCode reports whether s has the shape of a recovery code:
// groups of ASCII letters and digits separated by dashes (or spaces), 16
// of them in all, such as 7KQ4-M2XD-9TFA-H3PQ. Case does not matter.
func isRecoveryCode(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' || c == ' ':
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			n++
		default:
			return false
		}
	}
	return n == recoveryLength
}

// totpOrRecovery reads the answer at the 2FA step of a login: 6 digits
// are a TOTP code (sent without spaces); a recovery code is sent as typed,
// without the spaces around it.
func totpOrRecovery(s string) (factor, error) {
	if code, ok := totpCode(s); ok {
		return factor{client.TwoFA, code}, nil
	}
	if s = strings.TrimSpace(s); isRecoveryCode(s) {
		return factor{client.Recovery, s}, nil
	}
	return factor{}, usageError{shapeTOTPOrRC}
}

// totpOnly reads a TOTP code (enrollment).
func totpOnly(s string) (factor, error) {
	if code, ok := totpCode(s); ok {
		return factor{client.TwoFA, code}, nil
	}
	return factor{}, usageError{shapeTOTP}
}

// recoveryOnly reads a recovery code (at the passkey step of a login); an
// empty answer gives up.
func recoveryOnly(s string) (factor, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return factor{}, errGiveUp
	case isRecoveryCode(s):
		return factor{client.Recovery, s}, nil
	}
	if _, ok := totpCode(s); ok {
		return factor{}, usageError{notTOTPHere}
	}
	return factor{}, usageError{shapeRC}
}

// pinOnly reads a PIN.
func pinOnly(s string) (factor, error) {
	if validPIN(s) {
		return factor{client.PIN, s}, nil
	}
	return factor{}, usageError{shapePIN}
}

// askFactor asks with prompt (without echo when secret) until the answer
// has a shape parse takes, and returns what parse made of it. An answer it
// refuses is not sent: its reason is shown and the question asked again.
// When the input ends after a refusal, the refusal is the error (a usage
// error: exit status 2).
func (a *app) askFactor(prompt string, secret bool, parse func(string) (factor, error)) (factor, error) {
	var refused error
	for {
		read := a.readLine
		if secret {
			read = a.readSecret
		}
		s, err := read(prompt)
		if err != nil {
			if refused != nil && errors.Is(err, errNoInput) {
				return factor{}, usageError{refused.Error() + "; nothing was sent"}
			}
			return factor{}, err
		}
		f, err := parse(s)
		if err == nil || errors.Is(err, errGiveUp) {
			return f, err
		}
		refused = err
		fmt.Fprintf(a.stderr, "Not sent: %s. Try again.\n", err)
	}
}
