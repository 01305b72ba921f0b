// Package mfad holds the domain of the mfad multi-factor authentication
// server: its plain types, the storage interface the services act on, and the
// one error type whose codes the HTTP layer maps to statuses and to the
// ErrorModel `code` values. It imports no database and no HTTP package.
package mfad

import (
	_ "embed"
	"time"

	"github.com/google/uuid"
)

// OpenAPI is the OpenAPI 3 document of the whole HTTP surface. The server
// serves it at GET /api/1.0/openapi.yaml and a test checks that its paths and
// the registered routes are the same set.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AuthType names a second factor, exactly as it appears on the wire.
type AuthType string

const (
	AuthTOTP AuthType = "2FA" // a time-based one-time password (RFC 6238)
	AuthPIN  AuthType = "PIN" // a numeric PIN of 4 to 12 digits
	// AuthRecovery is a one-time recovery code, which may stand in for a
	// TOTP code at the 2FA step of a login. It is not a factor of
	// auth_methods.
	AuthRecovery AuthType = "RECOVERY"
	// AuthWebAuthn is a passkey (a WebAuthn credential), which satisfies
	// the 2FA step of a login as the TOTP code does.
	AuthWebAuthn AuthType = "WEBAUTHN"
)

// Valid reports whether t is one of the known factors (case-sensitive).
func (t AuthType) Valid() bool { return t == AuthTOTP || t == AuthPIN }

// Step is what a limited session owes next; it is the Mfa-Code header value.
type Step int

const (
	StepNone   Step = 0 // nothing owed: the session is full
	StepTOTP   Step = 1 // a TOTP code from the active secret
	StepPIN    Step = 2 // the user's PIN
	StepEnroll Step = 3 // 2FA enrollment: generate a secret, then send a code from it
	// StepPasskey is the 2FA step of a user whose only second factor is a
	// passkey (no TOTP secret): a passkey assertion, or a recovery code.
	StepPasskey Step = 4
)

// Factor returns the auth_type a client must send to satisfy the step.
func (s Step) Factor() AuthType {
	switch s {
	case StepPIN:
		return AuthPIN
	case StepPasskey:
		return AuthWebAuthn
	}
	return AuthTOTP
}

// A user's status, as the wire spells it: active, or disabled by an admin
// (a disabled user cannot log in and has no session).
const (
	StatusActive   = "A"
	StatusDisabled = "D"
)

// Account groups users; its admins act only on its users.
type Account struct {
	ID        string
	Title     string
	Forced2FA bool // every user of the account owes 2FA at login
	Created   time.Time
	Modified  time.Time
}

// User is a person who logs in. Secrets are held as stored: the password and
// PIN as argon2id hashes, the TOTP secret sealed (AES-256-GCM).
type User struct {
	ID           string
	AccountID    string
	Name         string
	Email        string
	SuperAdmin   bool
	Disabled     bool // status "D": cannot log in, has no session
	PasswordHash string

	Has2FA    bool   // 2FA is in the user's auth_methods
	Forced2FA bool   // 2FA is in the user's forced_auth (set by an admin)
	TOTPSeal  []byte // the active TOTP secret, sealed; nil when none is active
	TOTPGen   int64  // bumped whenever the active secret changes
	TOTPLast  int64  // the last accepted TOTP time step (steps only move forward)

	HasPIN    bool
	ForcedPIN bool
	PINHash   string

	Passkeys int // how many passkeys the user has registered

	Created   time.Time
	Modified  time.Time
	LastLogin time.Time // zero before the first login
}

// Status is the user's status as the wire spells it.
func (u *User) Status() string {
	if u.Disabled {
		return StatusDisabled
	}
	return StatusActive
}

// UserEdit is what an admin changes of users: the fields that are set.
type UserEdit struct {
	Name       *string
	Email      *string // with exactly one user
	SuperAdmin *bool
	Disabled   *bool
}

// SessionKind tells a full session from a limited one.
type SessionKind string

const (
	SessionFull    SessionKind = "full"
	SessionLimited SessionKind = "limited"
)

// MaxLimitedSessions is how many limited sessions a user may have at once:
// a password login beyond it closes the user's oldest ones, so that a flood
// of password logins cannot keep an unbounded number of second-factor
// attempts open.
const MaxLimitedSessions = 10

// Session is a login. Only the SHA-256 hash of its id is ever stored.
type Session struct {
	Hash     []byte
	UserID   string
	Kind     SessionKind
	Step     Step // for limited sessions: what is owed
	Created  time.Time
	LastSeen time.Time // pushed forward by requests (full sessions only)
	Expires  time.Time // the absolute end of the session
	Failures int       // wrong codes sent on this limited session
}

// PasswordReset is a password reset id mailed to a user; only the SHA-256
// hash of the id is stored.
type PasswordReset struct {
	Hash    []byte
	UserID  string
	Created time.Time
	Expires time.Time
}

// PendingTOTP is a TOTP secret made by GET /profile/2fa/generate and not yet
// confirmed by a code.
type PendingTOTP struct {
	ID      string
	UserID  string
	Seal    []byte
	Created time.Time
}

// Throttle is the policy of one failure counter: Limit failures within Window
// lock the key for Lock.
type Throttle struct {
	Limit  int
	Window time.Duration
	Lock   time.Duration
}

// ParseUUID accepts a UUID in its canonical 36-character form, in any case,
// and returns it in lower case. Other spellings the uuid package accepts
// (braces, urn:uuid:, no hyphens) are refused.
func ParseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// AuditEvent is one entry of an account's audit trail: who (ActorID) did
// what (Event, Outcome) to whom (UserID), when, and from which address.
// It never holds a secret.
type AuditEvent struct {
	ID        int64 // increasing; the pagination cursor
	AccountID string
	ActorID   string // the user who acted: the user logging in, or the admin
	UserID    string // the user acted on
	Event     string // e.g. login.ok, login.factor.fail, admin.set_mfa
	Outcome   string // success or failure
	Addr      string // the client address
	Detail    string // e.g. the factor, or why it failed
	Time      time.Time
}

// MaxPasskeys is how many passkeys a user may register.
const MaxPasskeys = 20

// Passkey is a user's WebAuthn credential. Record is the credential record
// as the WebAuthn library keeps it (JSON: the public key, the signature
// counter, the flags, the transports); the columns beside it are what mfad
// looks up and shows.
type Passkey struct {
	ID           string // mfad's id (a UUID)
	UserID       string
	CredentialID []byte // the authenticator's credential id
	Name         string
	Record       []byte
	SignCount    uint32
	Created      time.Time
	LastUsed     time.Time // zero before the first use

	// Transports are the ways the authenticator said it can be reached
	// ("usb", "nfc", "ble", "internal", "hybrid"), from Record; filled when
	// listed.
	Transports []string
}

// PasskeyUse is a passkey assertion accepted at a login step.
type PasskeyUse struct {
	ID       string
	OldCount uint32 // the counter the assertion was checked against
	NewCount uint32
	Record   []byte // the updated record
}

// The kinds of WebAuthn ceremony a Challenge belongs to.
const (
	ChallengeRegister = "register"
	ChallengeLogin    = "login"
)

// Challenge is the server's state of one WebAuthn ceremony (the library's
// session data), kept for the session that began it until it is used once
// or expires.
type Challenge struct {
	SessionHash []byte
	Kind        string
	Data        []byte
	Expires     time.Time
}
