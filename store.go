package mfad

import (
	"context"
	"time"
)

// Store is everything the services need from a database. Each method is one
// transaction: it commits before it returns, or changes nothing. The
// compare-and-set methods (AdvanceLogin, EnrollTOTP, Reserve, ...) are where
// the security properties live: replay protection and attempt counting are
// enforced by the database, never by process memory, so they hold across
// server instances.
type Store interface {
	AccountStore
	UserStore
	SessionStore
	FactorStore
	ThrottleStore
	AuditStore
	KeyStore
	ResetStore
	RecoveryStore
	PasskeyStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Meta returns a value of the store's key/value table, ErrNotFound if absent.
	Meta(ctx context.Context, key string) (string, error)
	// PutMetaIfAbsent stores value under key unless a value is there; it
	// returns the value stored afterwards.
	PutMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	// Purge deletes expired sessions, pending secrets and throttle rows.
	Purge(ctx context.Context, now time.Time) error
	Close() error
}

// AccountStore keeps accounts.
type AccountStore interface {
	// CreateAccount creates the account and its first admin together.
	CreateAccount(ctx context.Context, a *Account, admin *User) error
	CountAccounts(ctx context.Context) (int, error)
	Account(ctx context.Context, id string) (*Account, error)
	SetAccountForce2FA(ctx context.Context, id string, on bool, now time.Time) error
}

// UserStore keeps users. Emails are unique across the database,
// case-insensitively.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // ErrEmailTaken
	User(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	Users(ctx context.Context, accountID string) ([]*User, error)
	// AllUsers lists the users of every account, for operators.
	AllUsers(ctx context.Context) ([]*User, error)
	// DeleteUsers removes the users and their sessions; ErrUnknownIDs (and no
	// change) when an id is not a user of the account.
	DeleteUsers(ctx context.Context, accountID string, ids []string) error
	// EditUsers applies e to every user of ids, or to none: ErrUnknownIDs
	// when an id is not a user of the account, ErrEmailTaken when the new
	// email is another user's. Disabling closes the users' sessions.
	EditUsers(ctx context.Context, accountID string, ids []string, e UserEdit, now time.Time) error
	// SetPassword stores a new password hash and closes every session of
	// the user but keepHash (nil: all of them).
	SetPassword(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error
}

// SessionStore keeps sessions by the hash of their id.
type SessionStore interface {
	// CreateSession stores a session; a full one also records the user's
	// last login. A limited one closes, in the same transaction, the
	// user's oldest limited sessions beyond MaxLimitedSessions (the new one
	// always stays), also when many are created at once.
	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, hash []byte) (*Session, error)
	// SessionUser reads a session with its user and the user's account in
	// one query (the path of every authenticated request).
	SessionUser(ctx context.Context, hash []byte) (*Session, *User, *Account, error)
	TouchSession(ctx context.Context, hash []byte, now time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	// FailSession counts a wrong code on a limited session and closes it at
	// max; it reports whether the session is closed.
	FailSession(ctx context.Context, hash []byte, max int) (closed bool, err error)
	// CountSessions counts the live sessions (not expired at now) by kind.
	CountSessions(ctx context.Context, now time.Time) (full, limited int, err error)
	// AdvanceLogin completes one second-factor step; see Advance.
	AdvanceLogin(ctx context.Context, a Advance) error
}

// RecoveryStore keeps users' recovery codes, by hash.
type RecoveryStore interface {
	// SetRecoveryCodes replaces the user's recovery codes with hashes.
	SetRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// HasRecoveryCode reports whether hash is an unused recovery code of
	// the user. It is used by Advance.RecoveryHash.
	HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)
}

// PasskeyStore keeps users' passkeys (WebAuthn credentials) and the
// challenges of their ceremonies.
type PasskeyStore interface {
	// AddPasskey stores a new passkey of its user and counts it on the
	// user's row; ErrConflict when the credential id is registered already
	// (by anyone), ErrTooMany when the user has MaxPasskeys.
	AddPasskey(ctx context.Context, p *Passkey) error
	// Passkeys lists the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID string) ([]*Passkey, error)
	// RenamePasskey names the user's passkey id; ErrNotFound when the user
	// has no such passkey.
	RenamePasskey(ctx context.Context, userID, id, name string, now time.Time) error
	// DeletePasskey deletes the user's passkey id; ErrNotFound when the user
	// has no such passkey.
	DeletePasskey(ctx context.Context, userID, id string, now time.Time) error
	// AdminDeletePasskeys deletes every passkey of the users ids of the
	// account and closes their sessions, all or none (ErrUnknownIDs).
	AdminDeletePasskeys(ctx context.Context, accountID string, ids []string, now time.Time) error

	// PutChallenge stores the state of a WebAuthn ceremony for a session,
	// replacing the session's earlier one. It goes with the session.
	PutChallenge(ctx context.Context, c *Challenge) error
	// TakeChallenge deletes and returns the session's challenge of kind
	// while it is valid at now: of concurrent takes one gets it; the others,
	// a second take, another kind or session and an expired one get
	// ErrNotFound.
	TakeChallenge(ctx context.Context, sessionHash []byte, kind string, now time.Time) (*Challenge, error)
}

// Advance is one completed second-factor step, applied atomically: the
// limited session is closed (ErrSessionGone if it already was), the TOTP step
// is consumed (ErrReplay if a step at or after it was accepted, or if the
// secret changed since the code was checked), a pending secret is activated
// when enrolling (ErrNoPending if it was replaced), and Next is created.
type Advance struct {
	LimitedHash []byte
	UserID      string
	TOTPStep    int64  // > 0: the time step the code matched
	TOTPGen     int64  // the secret generation the code was checked against (not enrolling)
	PendingID   string // non-empty: the enrollment secret the code was checked against
	// RecoveryHash, when set, is the recovery code that stands in for the
	// TOTP code: it is consumed (ErrReplay if it was used meanwhile).
	RecoveryHash []byte
	// Passkey, when set, is the passkey assertion that satisfied the step:
	// its signature counter and record are updated while the counter is
	// still the one the assertion was checked against (ErrReplay
	// otherwise).
	Passkey *PasskeyUse
	Next    *Session
	Now     time.Time

	// CheckKey, when set, is the throttle key of a step whose attempt was
	// not reserved beforehand (a TOTP code: cheap to check, so it is
	// checked first and only counted when wrong). The transaction refuses
	// with a *LockedError, changing nothing, while the key is locked.
	CheckKey string

	// In the same transaction: the throttle key to clear (a completed
	// login) or to take one attempt back from (another factor still owed),
	// and the audit trail entries of the step.
	ResetKey     string
	ReleaseKey   string
	ReleaseLimit int
	Audit        []*AuditEvent
}

// FactorStore changes users' factors.
type FactorStore interface {
	// PutPendingTOTP replaces the user's pending secret.
	PutPendingTOTP(ctx context.Context, p *PendingTOTP) error
	PendingTOTP(ctx context.Context, userID string) (*PendingTOTP, error)
	// EnrollTOTP activates the pending secret PendingID, consumes Step, and
	// closes every session of the user but KeepHash.
	EnrollTOTP(ctx context.Context, e Enroll) error
	// SetPIN stores the PIN hash, turns PIN on, and closes every session of
	// the user but keepHash.
	SetPIN(ctx context.Context, userID, hash string, keepHash []byte, now time.Time) error
	// RemoveFactor turns the factor off and deletes its secret; ErrForced when
	// an admin or the account forces it. Removing a factor that is off succeeds.
	RemoveFactor(ctx context.Context, userID string, t AuthType, now time.Time) error

	// The admin bulk operations apply to every id or to none: ErrUnknownIDs
	// when one id is not a user of the account.
	AdminSetFactor(ctx context.Context, accountID string, ids []string, t AuthType, pinHash string, now time.Time) error
	AdminRemoveFactor(ctx context.Context, accountID string, ids []string, t AuthType, now time.Time) error
	AdminResetTOTP(ctx context.Context, accountID string, ids []string, now time.Time) error
}

// Enroll is a confirmed 2FA enrollment from the profile.
type Enroll struct {
	UserID    string
	PendingID string
	Step      int64
	KeepHash  []byte
	Now       time.Time
}

// ThrottleStore counts failed attempts per key (an email, a client address).
type ThrottleStore interface {
	// Reserve counts one attempt against key before it is evaluated. While
	// the key is locked it counts nothing and returns the time left. The
	// attempt that reaches the limit locks the key, and says so.
	Reserve(ctx context.Context, key string, p Throttle, now time.Time) (Reservation, error)
	// Release takes back a reservation whose attempt succeeded in part (a
	// right password with a factor still owed).
	Release(ctx context.Context, key string, p Throttle) error
	// ResetThrottle clears the key after a full success.
	ResetThrottle(ctx context.Context, key string) error
	// ResetThrottles clears the keys, in one transaction.
	ResetThrottles(ctx context.Context, keys []string) error
}

// Reservation is the outcome of ThrottleStore.Reserve.
type Reservation struct {
	// RetryAfter > 0: the key is locked for that long, and the attempt was
	// not counted.
	RetryAfter time.Duration
	// Locks: the attempt was counted and reached the limit; the key is
	// locked from now on, unless the attempt is released.
	Locks bool
}

// ResetStore keeps password reset ids.
type ResetStore interface {
	// PutPasswordReset stores r, voiding the user's earlier ones.
	PutPasswordReset(ctx context.Context, r *PasswordReset) error
	// PasswordReset returns the reset of hash, with its user, while it is
	// valid at now; ErrNotFound otherwise (unknown, used, voided or expired
	// alike).
	PasswordReset(ctx context.Context, hash []byte, now time.Time) (*PasswordReset, *User, error)
	// UsePasswordReset consumes the reset of hash while it is valid at now,
	// in one transaction: of concurrent uses exactly one succeeds, the
	// others get ErrNotFound. It sets the user's password hash, closes
	// every session of the user and clears the throttle key clearKey; it
	// returns the user's id.
	UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time, clearKey string) (string, error)
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// RecordAudit appends the events (one transaction) and sets their IDs.
	RecordAudit(ctx context.Context, events []*AuditEvent) error
	// AuditEvents returns up to limit events of the account, newest first,
	// with IDs below before (0: from the newest).
	AuditEvents(ctx context.Context, accountID string, before int64, limit int) ([]*AuditEvent, error)
}

// SealedSecret is a TOTP secret as stored: a user's active one, or their
// pending one.
type SealedSecret struct {
	UserID  string
	Pending bool
	Seal    []byte
}

// KeyStore lets a key rotation re-seal every secret.
type KeyStore interface {
	// SealedSecrets lists every stored TOTP secret.
	SealedSecrets(ctx context.Context) ([]SealedSecret, error)
	// Reseal replaces a secret's seal, only if it is still old.Seal (a
	// concurrent change wins); it reports whether it replaced it.
	Reseal(ctx context.Context, old SealedSecret, seal []byte) (bool, error)
	// SetMeta stores value under key, replacing any value.
	SetMeta(ctx context.Context, key, value string) error
}
