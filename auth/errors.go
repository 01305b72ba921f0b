package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
)

var (
	errUnauthenticated = mfad.Errorf(mfad.CodeUnauthenticated, "missing, unknown, closed or expired session")
	errBadCredentials  = mfad.Errorf(mfad.CodeBadCredentials, "wrong email or password")
	errFactorRequired  = mfad.Errorf(mfad.CodeFactorRequired, "a second factor is required: finish the login with POST /session/login")
	errForbidden       = mfad.Errorf(mfad.CodeForbidden, "admin rights required")
	errBusy            = &mfad.Error{Code: mfad.CodeBusy, Msg: "server busy, try again shortly", RetryAfter: time.Second}
	errUnknownIDs      = mfad.Errorf(mfad.CodeUnknownUsers, "one or more ids are not users of your account; nothing was changed")
)

// lockout is the event of an email locked by a failed attempt: the one
// that reached the limit (the account's trail records when a lock began;
// the attempts refused while it holds are logged and counted, see
// PasswordLogin).
func (s *Service) lockout(u *mfad.User, step string) event {
	p := s.cfg.EmailThrottle
	return event{name: mfad.EventLockout, step: step, failure: true, user: u,
		detail: fmt.Sprintf("email locked for %s after %d failed attempts", p.Lock, p.Limit)}
}

func tooMany(retry time.Duration) error {
	return &mfad.Error{Code: mfad.CodeTooManyAttempts, Msg: "too many failed attempts, try again later", RetryAfter: retry}
}

// refusal is what the answer to a wrong second-factor code says.
type refusal struct {
	closed    bool          // the limited session is closed: the login starts again
	replayed  bool          // a TOTP code right for a time step already used
	lockedFor time.Duration // > 0: this attempt locked the email for so long
}

// wrongCode is the answer to a wrong second-factor code (401 code 13). Its
// msg says what happened; details carry code_used (a TOTP code right for a
// time step already used), session_closed and, when this attempt locked
// the email, locked_seconds (the caller passed the password: the lock is
// theirs to know).
func wrongCode(r refusal) error {
	msg := "wrong code"
	details := map[string]any{}
	if r.replayed {
		msg = "this code was already used: wait for the next one from your authenticator app (a new one every 30 seconds)"
		details["code_used"] = true
	}
	if r.closed {
		msg += "; too many wrong codes, the login must start again"
		details["session_closed"] = true
	}
	if r.lockedFor > 0 {
		secs := int(r.lockedFor / time.Second)
		msg += fmt.Sprintf("; too many failed attempts: this email is locked for %d minutes", (secs+59)/60)
		details["locked_seconds"] = secs
	}
	if len(details) == 0 {
		return mfad.Errorf(mfad.CodeWrongCode, "%s", msg)
	}
	return &mfad.Error{Code: mfad.CodeWrongCode, Msg: msg, Details: details}
}

// hashErr maps a hashing pool error.
func hashErr(err error) error {
	if errors.Is(err, passhash.ErrBusy) {
		return errBusy
	}
	return err
}
