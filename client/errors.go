package client

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// ErrorModel codes the server documents (docs/api.md, "Errors"); a test
// of the server's module checks them against its table of codes.
const (
	CodeInternal         = 0
	CodeBadJSON          = 1
	CodeInvalid          = 2
	CodeTooLarge         = 3
	CodeMediaType        = 4
	CodeNotFound         = 5
	CodeMethod           = 6
	CodeUnauthenticated  = 10
	CodeBadCredentials   = 11
	CodeFactorRequired   = 12
	CodeWrongCode        = 13
	CodeForbidden        = 14
	CodeTooManyAttempts  = 15
	CodeBusy             = 16
	CodeUnavailable      = 17
	CodeWrongAuthType    = 20
	CodeEnrollment       = 21
	CodeFactorForced     = 22
	CodeUnknownUsers     = 23
	CodeEmailTaken       = 24
	CodeUserNotFound     = 25
	CodeCannotDeleteSelf = 26
	CodeWrongPassword    = 27
	CodeMailOff          = 28
	CodeResetNotFound    = 29
	CodePasskeysOff      = 30
	CodePasskeyFailed    = 31
	CodePasskeyNotFound  = 32
)

// Sentinels for the common failures; test with errors.Is.
var (
	// ErrUnauthorized: 401, the session or credentials were refused.
	ErrUnauthorized = errors.New("mfad: unauthorized")
	// ErrBadCredentials: 401, wrong email or password (also ErrUnauthorized).
	ErrBadCredentials = errors.New("mfad: wrong email or password")
	// ErrWrongCode: 401, a wrong second-factor code (also ErrUnauthorized).
	ErrWrongCode = errors.New("mfad: wrong code")
	// ErrMFARequired: 401, a limited session was used where a full one is
	// needed (also ErrUnauthorized).
	ErrMFARequired = errors.New("mfad: a second factor is required")
	// ErrForbidden: 403, admin rights required (or, as ErrWrongPassword,
	// a wrong current password).
	ErrForbidden = errors.New("mfad: forbidden")
	// ErrWrongPassword: 403, the current password sent to SetPassword is
	// wrong (also ErrForbidden). It counts toward the lockout like a wrong
	// password at login.
	ErrWrongPassword = errors.New("mfad: the current password is wrong")
	// ErrLockedOut: 429, too many failed attempts; see APIError.RetryAfter.
	ErrLockedOut = errors.New("mfad: too many attempts, locked out")
	// ErrUnavailable: 503, the server is busy or its database is down (or,
	// as ErrMailOff, it has no mail for password resets).
	ErrUnavailable = errors.New("mfad: service unavailable")
	// ErrMailOff: 503, the server has no mail configured, so it cannot
	// mail password reset links (also ErrUnavailable, but retrying does
	// not help).
	ErrMailOff = errors.New("mfad: password reset by mail is not configured")
	// ErrInvalid: 400, the request was refused as invalid.
	ErrInvalid = errors.New("mfad: invalid request")
	// ErrNotFound: 404.
	ErrNotFound = errors.New("mfad: not found")
	// ErrResetNotFound: 404, the password reset id is unknown, used,
	// replaced by a newer one or expired (also ErrNotFound).
	ErrResetNotFound = errors.New("mfad: unknown, used or expired reset id")
	// ErrPasskeyNotFound: 404, the caller has no passkey with that id
	// (also ErrNotFound).
	ErrPasskeyNotFound = errors.New("mfad: no such passkey")
	// ErrPasskeysOff: 503, the server has no public URL, the relying party
	// of passkeys, so passkeys are off (also ErrUnavailable, but retrying
	// does not help).
	ErrPasskeysOff = errors.New("mfad: passkeys are off on the server")
	// ErrPasskeyRequired is Login's answer (in a *StepError) when the
	// login owes a passkey (MfaPasskey) and no recovery code was given
	// instead: a passkey needs a web browser (WebAuthn), which this SDK
	// is not. Sign in on mfad's web page, or answer the step with one of
	// the user's recovery codes.
	ErrPasskeyRequired = errors.New("mfad: this login owes a passkey, which needs a web browser (sign in on mfad's web page); one of the user's recovery codes works instead")
)

// APIError is an error answer of the server.
//
// The answer to a wrong second-factor code at login (401 code 13,
// ErrWrongCode) may say more, in Details and Msg; read it with
// SessionClosed (the fifth wrong code closed the limited session: the
// login must start again), LockedFor (this wrong code locked the email:
// every login attempt is ErrLockedOut until then) and CodeAlreadyUsed (the
// TOTP code was right but its time step was already used: wait for the
// next code).
type APIError struct {
	Status int    // HTTP status
	Code   int    // ErrorModel code
	Msg    string // ErrorModel msg
	// Details are the ErrorModel details, if any, as JSON decodes them
	// (numbers are float64). A wrong code at login may carry
	// "session_closed": true and "locked_seconds": 900.
	Details    map[string]any
	RetryAfter time.Duration // from the Retry-After header of a 429 or 503
}

func (e *APIError) Error() string {
	return fmt.Sprintf("mfad: %d %s: %s (code %d)", e.Status, http.StatusText(e.Status), e.Msg, e.Code)
}

// Is makes the sentinels match.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrBadCredentials:
		return e.Status == http.StatusUnauthorized && e.Code == CodeBadCredentials
	case ErrWrongCode:
		return e.Status == http.StatusUnauthorized && e.Code == CodeWrongCode
	case ErrMFARequired:
		return e.Status == http.StatusUnauthorized && e.Code == CodeFactorRequired
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrWrongPassword:
		return e.Status == http.StatusForbidden && e.Code == CodeWrongPassword
	case ErrLockedOut:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	case ErrMailOff:
		return e.Status == http.StatusServiceUnavailable && e.Code == CodeMailOff
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrResetNotFound:
		return e.Status == http.StatusNotFound && e.Code == CodeResetNotFound
	case ErrPasskeyNotFound:
		return e.Status == http.StatusNotFound && e.Code == CodePasskeyNotFound
	case ErrPasskeysOff:
		return e.Status == http.StatusServiceUnavailable && e.Code == CodePasskeysOff
	}
	return false
}

// StepError is returned by Login when the caller's prompt gives up, the
// login owes a passkey (ErrPasskeyRequired), or the server asks for a step
// the helper does not know; Step is the step owed.
type StepError struct {
	Step MfaCode
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("mfad: login step %d (%s): %v", e.Step, e.Step, e.Err)
}
func (e *StepError) Unwrap() error { return e.Err }

// MFARequiredError is what a login step answers when a further factor is
// owed (HTTP 207): SessionID is the limited session to finish the login with
// and Step what it owes. It matches ErrMFARequired.
type MFARequiredError struct {
	Step      MfaCode
	SessionID string
}

func (e *MFARequiredError) Error() string {
	return fmt.Sprintf("mfad: a second factor is required: %s (Mfa-Code %d)", e.Step, e.Step)
}

// Is makes ErrMFARequired match.
func (e *MFARequiredError) Is(target error) bool { return target == ErrMFARequired }

// UserNotFoundError is UserByEmail's answer when no user of the admin's
// account has the email. It matches ErrNotFound.
type UserNotFoundError struct {
	Email string
}

func (e *UserNotFoundError) Error() string {
	return fmt.Sprintf("mfad: no user of the account has the email %q", e.Email)
}

// Is makes ErrNotFound match.
func (e *UserNotFoundError) Is(target error) bool { return target == ErrNotFound }

// SessionClosed reports whether err says the server closed the limited
// session (after too many wrong codes, details "session_closed"): the login
// must start again.
func SessionClosed(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.Details != nil {
		closed, _ := ae.Details["session_closed"].(bool)
		return closed
	}
	return false
}

// LockedFor reports how long the email is locked when err is the answer to
// the wrong code that locked it (details "locked_seconds"), and 0
// otherwise. The answer is still a 401 (ErrWrongCode); from then on, until
// the lock ends, every login attempt with the email gets ErrLockedOut
// (429, with RetryAfter), whatever the password or code.
func LockedFor(err error) time.Duration {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Details == nil {
		return 0
	}
	secs, ok := ae.Details["locked_seconds"].(float64)
	if !ok || secs <= 0 || math.IsInf(secs, 0) || secs > math.MaxInt64/float64(time.Second) {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// CodeAlreadyUsed reports whether err says that the TOTP code sent was
// right for a time step already used (a replay: the code of the last login
// typed again): the person should wait for the next code of the
// authenticator app. At login it is a wrong code (401 code 13, counted
// like one); when confirming a secret (ProfileSetMfaPost, Enroll) it is 400
// code 21. The server says so only in Msg, which this reads.
func CodeAlreadyUsed(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Code != CodeWrongCode && ae.Code != CodeEnrollment {
		return false
	}
	if used, ok := ae.Details["code_used"].(bool); ok {
		return used
	}
	return strings.Contains(ae.Msg, "code was already used") // a server before details.code_used
}
