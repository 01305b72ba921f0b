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

func wrongCode(closed bool) error {
	if closed {
		return &mfad.Error{Code: mfad.CodeWrongCode, Msg: "wrong code; too many wrong codes, the login must start again",
			Details: map[string]any{"session_closed": true}}
	}
	return mfad.Errorf(mfad.CodeWrongCode, "wrong code")
}

// hashErr maps a hashing pool error.
func hashErr(err error) error {
	if errors.Is(err, passhash.ErrBusy) {
		return errBusy
	}
	return err
}
