package mfad

import (
	"errors"
	"fmt"
	"time"
)

// Code is the stable application error code carried in the ErrorModel `code`
// field. The values are part of the public API: never renumber them. Each
// has its row in Codes.
type Code int

const (
	CodeInternal         Code = 0
	CodeBadJSON          Code = 1
	CodeInvalid          Code = 2
	CodeTooLarge         Code = 3
	CodeMediaType        Code = 4
	CodeNotFound         Code = 5
	CodeMethod           Code = 6
	CodeUnauthenticated  Code = 10
	CodeBadCredentials   Code = 11
	CodeFactorRequired   Code = 12
	CodeWrongCode        Code = 13
	CodeForbidden        Code = 14
	CodeTooManyAttempts  Code = 15
	CodeBusy             Code = 16
	CodeUnavailable      Code = 17
	CodeWrongAuthType    Code = 20
	CodeEnrollment       Code = 21
	CodeFactorForced     Code = 22
	CodeUnknownUsers     Code = 23
	CodeEmailTaken       Code = 24
	CodeUserNotFound     Code = 25
	CodeCannotDeleteSelf Code = 26
	CodeWrongPassword    Code = 27
	CodeMailOff          Code = 28
	CodeResetNotFound    Code = 29
	CodePasskeysOff      Code = 30
	CodePasskeyFailed    Code = 31
	CodePasskeyNotFound  Code = 32
)

// CodeInfo is one row of the table of codes: the code, the HTTP status it
// is answered with, its constant's name, and what it means.
type CodeInfo struct {
	Code    Code
	Status  int
	Name    string
	Summary string
}

// Codes is the table of every code, in order: the one source of the HTTP
// status of each (Code.Status). The error tables of docs/api.md and of
// openapi.yaml, and the SDK's constants in client/errors.go, are tested
// against it (codes_test.go).
var Codes = []CodeInfo{
	{CodeInternal, 500, "CodeInternal", "internal error"},
	{CodeBadJSON, 400, "CodeBadJSON", "body is not valid JSON (or not UTF-8), is empty, has trailing data, names a member twice, or a field has the wrong JSON type"},
	{CodeInvalid, 400, "CodeInvalid", "a field is missing or invalid"},
	{CodeTooLarge, 413, "CodeTooLarge", "body over 64 KiB"},
	{CodeMediaType, 415, "CodeMediaType", "Content-Type is not JSON"},
	{CodeNotFound, 404, "CodeNotFound", "unknown path"},
	{CodeMethod, 405, "CodeMethod", "method not allowed"},
	{CodeUnauthenticated, 401, "CodeUnauthenticated", "missing, unknown, closed or expired session"},
	{CodeBadCredentials, 401, "CodeBadCredentials", "wrong email or password"},
	{CodeFactorRequired, 401, "CodeFactorRequired", "a second factor is required: a limited session on an endpoint that needs a full one"},
	{CodeWrongCode, 401, "CodeWrongCode", "wrong second-factor code"},
	{CodeForbidden, 403, "CodeForbidden", "admin rights required"},
	{CodeTooManyAttempts, 429, "CodeTooManyAttempts", "too many attempts"},
	{CodeBusy, 503, "CodeBusy", "server busy: the hashing pool is full"},
	{CodeUnavailable, 503, "CodeUnavailable", "database unavailable"},
	{CodeWrongAuthType, 400, "CodeWrongAuthType", "auth_type is not the factor this login step owes"},
	{CodeEnrollment, 400, "CodeEnrollment", "2FA enrollment failed: no pending secret, or a wrong code"},
	{CodeFactorForced, 400, "CodeFactorForced", "the factor is forced and cannot be removed"},
	{CodeUnknownUsers, 400, "CodeUnknownUsers", "ids that are not users of the admin's account"},
	{CodeEmailTaken, 400, "CodeEmailTaken", "email already taken"},
	{CodeUserNotFound, 404, "CodeUserNotFound", "user not found"},
	{CodeCannotDeleteSelf, 400, "CodeCannotDeleteSelf", "an admin cannot delete, demote or disable their own user"},
	{CodeWrongPassword, 403, "CodeWrongPassword", "the current password is wrong"},
	{CodeMailOff, 503, "CodeMailOff", "password reset by mail is not configured"},
	{CodeResetNotFound, 404, "CodeResetNotFound", "the reset id is unknown, used, replaced or expired"},
	{CodePasskeysOff, 503, "CodePasskeysOff", "passkeys are not configured (no --public-url)"},
	{CodePasskeyFailed, 400, "CodePasskeyFailed", "passkey registration failed: no ceremony in progress, a refused answer, a passkey registered already, or too many"},
	{CodePasskeyNotFound, 404, "CodePasskeyNotFound", "the caller has no passkey with that id"},
}

// Status is the HTTP status c is answered with (500 for a code not in
// Codes).
func (c Code) Status() int {
	for _, row := range Codes {
		if row.Code == c {
			return row.Status
		}
	}
	return 500
}

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
	ErrConflict    = errors.New("already registered")
	ErrTooMany     = errors.New("too many")
)

// LockedError is a throttle key found locked; the lock ends after
// RetryAfter.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string { return fmt.Sprintf("locked for %s", e.RetryAfter) }
