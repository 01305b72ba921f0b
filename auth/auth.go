// Package auth is the heart of mfad: the login state machine (password, then
// the second factors owed), sessions, and the MFA operations of users and
// admins. It composes the store, the TOTP checker, the sealing of secrets and
// the hashing pool; it knows nothing of HTTP.
package auth

import (
	"github.com/go-webauthn/webauthn/webauthn"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
)

// Config holds the policies of the service. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	Issuer          string        // shown in authenticator apps
	IdleTimeout     time.Duration // full sessions end after this long without a request
	MaxLifetime     time.Duration // full sessions end this long after login at most
	LimitedLifetime time.Duration // limited sessions live this long
	EnrollLifetime  time.Duration // limited sessions that owe 2FA enrollment live this long
	PendingLifetime time.Duration // an unconfirmed TOTP secret lives this long
	MaxCodeFailures int           // wrong codes that close a limited session
	EmailThrottle   mfad.Throttle // failed attempts per email
	AddrThrottle    mfad.Throttle // failed password logins per client address
	MaxPasswordLen  int           // longer passwords are refused before hashing (bytes)
	Now             func() time.Time
}

// DefaultConfig returns the documented defaults (docs/api.md).
func DefaultConfig() Config {
	return Config{
		Issuer:          "mfad",
		IdleTimeout:     15 * time.Minute,
		MaxLifetime:     12 * time.Hour,
		LimitedLifetime: 5 * time.Minute,
		EnrollLifetime:  15 * time.Minute,
		PendingLifetime: 15 * time.Minute,
		MaxCodeFailures: 5,
		EmailThrottle:   mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute},
		AddrThrottle:    mfad.Throttle{Limit: 30, Window: time.Minute, Lock: time.Minute},
		MaxPasswordLen:  1024,
		Now:             time.Now,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.Issuer == "" {
		c.Issuer = d.Issuer
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = d.MaxLifetime
	}
	if c.LimitedLifetime <= 0 {
		c.LimitedLifetime = d.LimitedLifetime
	}
	if c.EnrollLifetime <= 0 {
		c.EnrollLifetime = d.EnrollLifetime
	}
	if c.PendingLifetime <= 0 {
		c.PendingLifetime = d.PendingLifetime
	}
	if c.MaxCodeFailures <= 0 {
		c.MaxCodeFailures = d.MaxCodeFailures
	}
	if c.EmailThrottle.Limit <= 0 {
		c.EmailThrottle = d.EmailThrottle
	}
	if c.AddrThrottle.Limit <= 0 {
		c.AddrThrottle = d.AddrThrottle
	}
	if c.MaxPasswordLen <= 0 {
		c.MaxPasswordLen = d.MaxPasswordLen
	}
	if c.Now == nil {
		c.Now = d.Now
	}
}

// Observer counts the service's events, for metrics: name is the audit
// event, step the login step it belongs to (password, 2FA, PIN, enrollment,
// or empty), outcome success or failure.
type Observer interface {
	Event(name, step, outcome string)
}

// SetObserver makes o see every event; call it before serving.
func (s *Service) SetObserver(o Observer) { s.observer = o }

// stepName names a login step for metrics and the audit trail.
func stepName(st mfad.Step) string {
	switch st {
	case mfad.StepTOTP:
		return "2FA"
	case mfad.StepPIN:
		return "PIN"
	case mfad.StepEnroll:
		return "enrollment"
	}
	return "password"
}

// Sealer encrypts TOTP secrets at rest (seal.Box, seal.FileBox).
type Sealer interface {
	Seal(plaintext, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
}

// Service implements the MFA flows on a store.
type Service struct {
	store    mfad.Store
	box      Sealer
	observer Observer
	hasher   *passhash.Hasher
	cfg      Config
	// retries bounds the background retries of throttle settlements that
	// failed (see settle).
	retries chan struct{}
	// mail is set by SetMailer; nil: mail is off (see mail.go).
	mail *outbox
	// webauthn is set by SetRelyingParty; nil: passkeys are off.
	webauthn *webauthn.WebAuthn
}

// maxRetries is how many failed throttle settlements are retried in the
// background at once; past it a failure is logged and left counted.
const maxRetries = 256

// New returns a Service.
func New(store mfad.Store, box Sealer, hasher *passhash.Hasher, cfg Config) *Service {
	cfg.fill()
	return &Service{store: store, box: box, hasher: hasher, cfg: cfg, retries: make(chan struct{}, maxRetries)}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }
