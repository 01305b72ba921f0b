package mfad

import (
	"errors"
	"fmt"
	"time"
)

// Code is the stable application error code carried in the ErrorModel `code`
// field. The values are part of the public API: never renumber them.
type Code int

const (
	CodeInternal         Code = 0  // 500
	CodeBadJSON          Code = 1  // 400: not JSON or not UTF-8, trailing data, a member named twice, wrong JSON type
	CodeInvalid          Code = 2  // 400: missing or invalid field
	CodeTooLarge         Code = 3  // 413
	CodeMediaType        Code = 4  // 415
	CodeNotFound         Code = 5  // 404: unknown path
	CodeMethod           Code = 6  // 405
	CodeUnauthenticated  Code = 10 // 401: missing, unknown, closed or expired session
	CodeBadCredentials   Code = 11 // 401: wrong email or password
	CodeFactorRequired   Code = 12 // 401: limited session on a full-session endpoint
	CodeWrongCode        Code = 13 // 401: wrong second-factor code
	CodeForbidden        Code = 14 // 403: admin rights required
	CodeTooManyAttempts  Code = 15 // 429
	CodeBusy             Code = 16 // 503: hashing pool saturated
	CodeUnavailable      Code = 17 // 503: database unreachable
	CodeWrongAuthType    Code = 20 // 400: auth_type is not the factor owed
	CodeEnrollment       Code = 21 // 400: no pending secret or wrong enrollment code
	CodeFactorForced     Code = 22 // 400: forced factor cannot be removed
	CodeUnknownUsers     Code = 23 // 400: ids not users of the admin's account
	CodeEmailTaken       Code = 24 // 400
	CodeUserNotFound     Code = 25 // 404
	CodeCannotDeleteSelf Code = 26 // 400
)

// Error is the error type every service returns for an expected failure. Its
// Msg is safe to show to the client; anything else (a wrapped database error)
// is an internal error and is never shown.
type Error struct {
	Code       Code
	Msg        string
	RetryAfter time.Duration  // for CodeTooManyAttempts and CodeBusy
	Details    map[string]any // optional ErrorModel details
}

func (e *Error) Error() string { return fmt.Sprintf("mfad error %d: %s", e.Code, e.Msg) }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the application code of err, CodeInternal when err is not
// an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Sentinel storage errors. Stores return them (possibly wrapped) so the
// services can tell expected outcomes from faults.
var (
	ErrNotFound    = errors.New("not found")
	ErrEmailTaken  = errors.New("email taken")
	ErrUnknownIDs  = errors.New("unknown user ids")
	ErrReplay      = errors.New("totp step already used")
	ErrSessionGone = errors.New("session closed")
	ErrForced      = errors.New("factor forced")
	ErrNoPending   = errors.New("no pending totp secret")
	ErrUnavailable = errors.New("database unavailable")
)

// LockedError is a throttle key found locked; the lock ends after
// RetryAfter.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string { return fmt.Sprintf("locked for %s", e.RetryAfter) }
