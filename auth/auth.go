// Package auth is the heart of mfad: the login state machine (password, then
// the second factors owed), sessions, and the MFA operations of users and
// admins. It composes the store, the TOTP checker, the sealing of secrets and
// the hashing pool; it knows nothing of HTTP.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/totp"
)

// Config holds the policies of the service. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	Issuer          string        // shown in authenticator apps
	IdleTimeout     time.Duration // full sessions end after this long without a request
	MaxLifetime     time.Duration // full sessions end this long after login at most
	LimitedLifetime time.Duration // limited sessions live this long
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
		PendingLifetime: 10 * time.Minute,
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

// ---- logging

type logKey struct{}

// WithLogger returns a context whose audit events and errors go to l (the
// HTTP layer adds the request id); Logger reads it back.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Logger returns the logger of ctx (WithLogger), slog.Default() if none.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

type addrKeyT struct{}

// WithClientAddr returns a context carrying the client's address, which the
// audit trail records.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addrKeyT{}, addr)
}

func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(addrKeyT{}).(string)
	return a
}

// event is one security event: it is logged, and recorded in the account's
// audit trail when the account is known. It never holds a secret.
type event struct {
	name    string
	step    string // for login steps: password, 2FA, PIN or enrollment
	failure bool
	user    *mfad.User // whom it is about (nil: an email with no user)
	actor   *mfad.User // who acted, when not the user (an admin)
	targets []string   // the users an admin acted on
	detail  string
}

func (s *Service) audit(ctx context.Context, es ...event) {
	var rows []*mfad.AuditEvent
	for _, e := range es {
		s.announce(ctx, e)
		rows = append(rows, s.auditRows(ctx, e)...)
	}
	if len(rows) == 0 {
		return // no account to record them in
	}
	// The change itself is committed already; a trail that cannot be
	// written is reported loudly but does not undo it.
	if err := s.store.RecordAudit(context.WithoutCancel(ctx), rows); err != nil {
		Logger(ctx).ErrorContext(ctx, "audit trail not written", "event", es[0].name, "err", err)
	}
}

func (e event) outcome() string {
	if e.failure {
		return "failure"
	}
	return "success"
}

// announce logs the event and counts it.
func (s *Service) announce(ctx context.Context, e event) {
	level := slog.LevelInfo
	if e.failure {
		level = slog.LevelWarn
	}
	attrs := []any{"event", e.name, "outcome", e.outcome(), "addr", clientAddr(ctx)}
	if e.user != nil {
		attrs = append(attrs, "user_id", e.user.ID)
	}
	if e.actor != nil {
		attrs = append(attrs, "actor_id", e.actor.ID)
	}
	if len(e.targets) > 0 {
		attrs = append(attrs, "targets", len(e.targets))
	}
	if e.detail != "" {
		attrs = append(attrs, "detail", e.detail)
	}
	Logger(ctx).Log(ctx, level, "audit", attrs...)
	if s.observer != nil {
		s.observer.Event(e.name, e.step, e.outcome())
	}
}

// auditRows are the audit trail entries of e: one per user acted on, none
// when no account is known.
func (s *Service) auditRows(ctx context.Context, e event) []*mfad.AuditEvent {
	actor := e.actor
	if actor == nil {
		actor = e.user
	}
	if actor == nil {
		return nil
	}
	whom := e.targets
	if len(whom) == 0 {
		whom = []string{e.user.ID}
	}
	now, addr := s.now(), clientAddr(ctx)
	rows := make([]*mfad.AuditEvent, len(whom))
	for i, id := range whom {
		rows[i] = &mfad.AuditEvent{AccountID: actor.AccountID, ActorID: actor.ID, UserID: id, Event: e.name,
			Outcome: e.outcome(), Addr: addr, Detail: e.detail, Time: now}
	}
	return rows
}

// AuditTrail returns a page of the admin's account's audit trail, newest
// first: events with IDs below before (0: from the newest).
func (s *Service) AuditTrail(ctx context.Context, a Admin, before int64, limit int) ([]*mfad.AuditEvent, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	return s.store.AuditEvents(ctx, admin.AccountID, before, limit)
}

// ---- errors

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

// failed is the events of an evaluated failed attempt: f, and the lock it
// began, if it did.
func (s *Service) failed(f event, r mfad.Reservation) []event {
	if r.Locks {
		return []event{f, s.lockout(f.user, f.step)}
	}
	return []event{f}
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

// ---- tokens and sessions

// HashToken returns what the store keeps of a session id.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func newToken() (string, []byte) {
	t := uuid.New().String() // version 4, from crypto/rand
	return t, HashToken(t)
}

func (s *Service) newSession(userID string, kind mfad.SessionKind, step mfad.Step, now time.Time) (string, *mfad.Session) {
	token, hash := newToken()
	se := &mfad.Session{Hash: hash, UserID: userID, Kind: kind, Step: step, Created: now, LastSeen: now}
	if kind == mfad.SessionFull {
		se.Expires = now.Add(s.cfg.MaxLifetime)
	} else {
		se.Expires = now.Add(s.cfg.LimitedLifetime)
	}
	return token, se
}

// Identity is an authenticated caller.
type Identity struct {
	Token   string // the session id as the client sent it (canonical form)
	Session *mfad.Session
	User    *mfad.User
	Account *mfad.Account // the user's account, as read with the session
}

// Authenticate resolves a session id. It answers errUnauthenticated for a
// malformed, unknown, closed or expired one, and pushes a full session's
// idle timeout forward.
func (s *Service) Authenticate(ctx context.Context, token string) (*Identity, error) {
	token, ok := mfad.ParseUUID(token)
	if !ok {
		return nil, errUnauthenticated
	}
	hash := HashToken(token)
	se, u, a, err := s.store.SessionUser(ctx, hash)
	if errors.Is(err, mfad.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	expired := !now.Before(se.Expires)
	if se.Kind == mfad.SessionFull && now.Sub(se.LastSeen) >= s.cfg.IdleTimeout {
		expired = true
	}
	if expired {
		if err := s.store.DeleteSession(ctx, hash); err != nil {
			return nil, err
		}
		return nil, errUnauthenticated
	}
	// Writing on every request would make every read cost a commit (and on
	// SQLite queue behind the one writer): a request is recorded only when
	// the last record is older than touchEvery, so a session ends at most
	// that much before its idle timeout, never after.
	if se.Kind == mfad.SessionFull && now.Sub(se.LastSeen) >= s.touchEvery() {
		if err := s.store.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
		se.LastSeen = now
	}
	return &Identity{Token: token, Session: se, User: u, Account: a}, nil
}

// touchEvery is how stale a session's recorded last request may get: a
// fifteenth of the idle timeout, at most a minute.
func (s *Service) touchEvery() time.Duration {
	return min(time.Minute, s.cfg.IdleTimeout/15)
}

// ---- who may call what

// RequireFull fails unless id is a full session.
func RequireFull(id *Identity) error {
	if id.Session.Kind != mfad.SessionFull {
		return errFactorRequired
	}
	return nil
}

// RequireLimited fails unless id is a limited session: the second-factor
// step takes nothing else.
func RequireLimited(id *Identity) error {
	if id.Session.Kind != mfad.SessionLimited {
		return mfad.Errorf(mfad.CodeUnauthenticated, "this session owes no second factor")
	}
	return nil
}

// RequireFullOrEnrolling fails unless id is a full session, or a limited one
// that owes 2FA enrollment (it may make its pending secret).
func RequireFullOrEnrolling(id *Identity) error {
	if id.Session.Kind == mfad.SessionLimited && id.Session.Step == mfad.StepEnroll {
		return nil
	}
	return RequireFull(id)
}

// Admin is a caller proven to hold a full session of an admin. Only
// RequireAdmin makes one, and every admin operation of the Service takes
// one: none can run for a caller whose rights were not checked, whatever
// the HTTP layer's route table says. The zero Admin is refused.
type Admin struct{ id *Identity }

// RequireAdmin returns id as an Admin, or fails unless id is a full
// session of an admin.
func RequireAdmin(id *Identity) (Admin, error) {
	if err := RequireFull(id); err != nil {
		return Admin{}, err
	}
	if !id.User.SuperAdmin {
		return Admin{}, errForbidden
	}
	return Admin{id: id}, nil
}

// Identity is the admin's own identity.
func (a Admin) Identity() *Identity { return a.id }

// user is the admin's user, or errForbidden for the zero Admin.
func (a Admin) user() (*mfad.User, error) {
	if a.id == nil {
		return nil, errForbidden
	}
	return a.id.User, nil
}

// Keepalive pushes the idle timeout of a full session forward. Authenticate
// has recorded the request already (at most once per touchEvery, like every
// authenticated request), so there is nothing left to write.
func (s *Service) Keepalive(ctx context.Context, id *Identity) error {
	return nil
}

// Logout closes the session.
func (s *Service) Logout(ctx context.Context, id *Identity) error {
	if err := s.store.DeleteSession(ctx, id.Session.Hash); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventLogout, user: id.User, detail: string(id.Session.Kind)})
	return nil
}

// ---- the login state machine

// LoginResult is a session issued by a login step. Step is StepNone for a
// full session, else what the limited session owes next.
type LoginResult struct {
	Token string
	Step  mfad.Step
}

func emailKey(email string) string { return "email:" + mfad.EmailKey(email) }
func addrKey(addr string) string   { return "addr:" + addr }

// owed returns the first step a password login owes.
func owed(u *mfad.User, a *mfad.Account) mfad.Step {
	if u.Has2FA || u.Forced2FA || a.Forced2FA {
		if u.TOTPSeal == nil {
			return mfad.StepEnroll
		}
		return mfad.StepTOTP
	}
	if u.HasPIN {
		return mfad.StepPIN
	}
	return mfad.StepNone
}

// PasswordLogin is the first login step (GET /session/login with Basic).
func (s *Service) PasswordLogin(ctx context.Context, email, password, addr string) (_ LoginResult, err error) {
	// An attempt that fails before its outcome is known (the database or
	// the hashing pool failed part-way) is not counted: its reservations
	// are taken back, so an outage does not lock anyone out.
	type reservation struct {
		key    string
		policy mfad.Throttle
	}
	var reserved []reservation
	defer func() {
		if err != nil && !evaluated(err) {
			for _, r := range reserved {
				s.release(ctx, r.key, r.policy)
			}
		}
	}()
	// Under a flood, refuse what the hashing pool cannot take before any
	// database write, so the flood does not queue writes in front of
	// authenticated requests.
	if s.hasher.Saturated() {
		return LoginResult{}, errBusy
	}
	now := s.now()
	if r, err := s.store.Reserve(ctx, addrKey(addr), s.cfg.AddrThrottle, now); err != nil {
		return LoginResult{}, err
	} else if r.RetryAfter > 0 {
		s.audit(ctx, event{name: mfad.EventThrottled, failure: true, detail: "client address over its limit"})
		return LoginResult{}, tooMany(r.RetryAfter)
	}
	reserved = append(reserved, reservation{addrKey(addr), s.cfg.AddrThrottle})
	// An email no user can have (over 254 bytes, not UTF-8, control
	// characters, no @) gets the same answer as a wrong password, counted
	// against the client address only: it never reaches the database as a
	// key.
	if ValidEmail(email) != nil {
		s.audit(ctx, event{name: mfad.EventPasswordFail, step: "password", failure: true, detail: "refused before hashing: not an email address"})
		return LoginResult{}, errBadCredentials
	}
	ekey := emailKey(email)
	er, err := s.store.Reserve(ctx, ekey, s.cfg.EmailThrottle, now)
	if err != nil {
		return LoginResult{}, err
	}
	if er.RetryAfter > 0 {
		// The same work for an email of a user and one of nobody's: no
		// lookup, no write to a trail (only a user's has an account), just
		// the log line and the metric. Else the time of this answer tells
		// which emails exist, as often as an attacker asks. The trail has
		// the lock's start (login.lockout, below).
		s.announce(ctx, event{name: mfad.EventLocked, step: "password", failure: true, detail: "password"})
		return LoginResult{}, tooMany(er.RetryAfter)
	}
	reserved = append(reserved, reservation{ekey, s.cfg.EmailThrottle})
	if len(password) > s.cfg.MaxPasswordLen || password == "" {
		s.audit(ctx, s.failed(event{name: mfad.EventPasswordFail, step: "password", failure: true, detail: "refused before hashing"}, er)...)
		return LoginResult{}, errBadCredentials
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, mfad.ErrNotFound) {
		return LoginResult{}, err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, hash, password) // a dummy hash of equal cost when u is nil
	if err != nil {
		return LoginResult{}, hashErr(err) // not evaluated: taken back
	}
	if !ok {
		s.audit(ctx, s.failed(event{name: mfad.EventPasswordFail, step: "password", failure: true, user: u, detail: "wrong email or password"}, er)...)
		return LoginResult{}, errBadCredentials
	}
	a, err := s.store.Account(ctx, u.AccountID)
	if err != nil {
		return LoginResult{}, err
	}
	step := owed(u, a)
	if step == mfad.StepNone {
		token, se := s.newSession(u.ID, mfad.SessionFull, step, now)
		if err := s.store.CreateSession(ctx, se); err != nil {
			return LoginResult{}, err
		}
		s.release(ctx, addrKey(addr), s.cfg.AddrThrottle)
		s.success(ctx, u, ekey, "password")
		return LoginResult{Token: token}, nil
	}
	token, se := s.newSession(u.ID, mfad.SessionLimited, step, now)
	if err := s.store.CreateSession(ctx, se); err != nil {
		return LoginResult{}, err
	}
	s.release(ctx, ekey, s.cfg.EmailThrottle)
	s.release(ctx, addrKey(addr), s.cfg.AddrThrottle)
	s.audit(ctx, event{name: mfad.EventPasswordOK, step: "password", user: u, detail: fmt.Sprintf("second factor owed (Mfa-Code %d)", step)})
	return LoginResult{Token: token, Step: step}, nil
}

// success records a full login: the counters start again.
// The address's reservation is taken back by the caller that made it (the
// password step); a second-factor step made none.
func (s *Service) success(ctx context.Context, u *mfad.User, ekey, step string) {
	s.settle(ctx, "reset throttle", s.cfg.EmailThrottle, func(ctx context.Context) error {
		return s.store.ResetThrottle(ctx, ekey)
	})
	s.audit(ctx, event{name: mfad.EventLoginOK, step: step, user: u, detail: "last step: " + step})
}

// release takes back the reservation of an attempt that succeeded in part
// or was never evaluated.
func (s *Service) release(ctx context.Context, key string, p mfad.Throttle) {
	s.settle(ctx, "release throttle", p, func(ctx context.Context) error {
		return s.store.Release(ctx, key, p)
	})
}

// evaluated reports whether a login step's error is the outcome of an
// evaluated attempt (which stays counted) rather than a failure to evaluate.
func evaluated(err error) bool {
	var e *mfad.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case mfad.CodeBadCredentials, mfad.CodeWrongCode, mfad.CodeTooManyAttempts:
		return true
	}
	return false
}

// Retry pacing of settle.
const (
	settleFirstWait = 50 * time.Millisecond
	settleMaxWait   = time.Second
)

// settle applies a throttle settlement (a release or a reset) after the
// request's outcome is known. It runs apart from the request's
// cancellation. When the database is unavailable it is retried in the
// background until it lands or the throttle's window and lock have passed
// (by then the counter has expired on its own), so that attempts caught by
// an outage do not stay counted against a user; at most maxRetries run at
// once, past that the failure is logged and the attempt stays counted (the
// safe side).
func (s *Service) settle(ctx context.Context, what string, p mfad.Throttle, op func(context.Context) error) {
	ctx = context.WithoutCancel(ctx)
	err := op(ctx)
	if err == nil {
		return
	}
	if !errors.Is(err, mfad.ErrUnavailable) {
		Logger(ctx).ErrorContext(ctx, what, "err", err)
		return
	}
	select {
	case s.retries <- struct{}{}:
	default:
		Logger(ctx).ErrorContext(ctx, what+": too many retries pending, left counted", "err", err)
		return
	}
	Logger(ctx).WarnContext(ctx, what+": database unavailable, retrying in the background", "err", err)
	go func() {
		defer func() { <-s.retries }()
		deadline := time.Now().Add(p.Window + p.Lock)
		for wait := settleFirstWait; time.Now().Before(deadline); wait = min(2*wait, settleMaxWait) {
			time.Sleep(wait)
			err := op(ctx)
			if err == nil {
				Logger(ctx).InfoContext(ctx, what+": done after the database came back")
				return
			}
			if !errors.Is(err, mfad.ErrUnavailable) {
				Logger(ctx).ErrorContext(ctx, what, "err", err)
				return
			}
		}
		Logger(ctx).ErrorContext(ctx, what+": gave up, the counter expires on its own", "err", err)
	}()
}

// TokenLogin answers GET /session/login with a full X-Auth-Token.
func (s *Service) TokenLogin(id *Identity) (LoginResult, error) {
	if id.Session.Kind != mfad.SessionFull {
		return LoginResult{}, errFactorRequired
	}
	return LoginResult{Token: id.Token}, nil
}

// FailStep counts a rejected second-factor request (a bad body or a wrong
// auth_type) against the limited session and the user's lockout.
func (s *Service) FailStep(ctx context.Context, id *Identity) error {
	if id.Session.Kind != mfad.SessionLimited {
		return nil
	}
	r, err := s.store.Reserve(ctx, emailKey(id.User.Email), s.cfg.EmailThrottle, s.now())
	if err != nil {
		return err
	}
	if r.Locks {
		s.audit(ctx, s.lockout(id.User, stepName(id.Session.Step)))
	}
	_, err = s.store.FailSession(ctx, id.Session.Hash, s.cfg.MaxCodeFailures)
	return err
}

// SecondFactor is POST /session/login: the code for the step the limited
// session owes.
func (s *Service) SecondFactor(ctx context.Context, id *Identity, t mfad.AuthType, code string) (_ LoginResult, err error) {
	se, u := id.Session, id.User
	if se.Kind != mfad.SessionLimited {
		return LoginResult{}, errUnauthenticated
	}
	if t != se.Step.Factor() {
		if err := s.FailStep(ctx, id); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, mfad.Errorf(mfad.CodeWrongAuthType, "this login step owes auth_type %q (Mfa-Code %d)", se.Step.Factor(), se.Step)
	}
	now := s.now()
	ekey := emailKey(u.Email)
	// A PIN (argon2id) or an enrollment code reserves its attempt before it
	// is checked, so concurrent guesses cannot get more checks than the
	// limit. A TOTP code is cheap to check: it is checked first and counted
	// only when wrong, and a right one commits only while the email is not
	// locked (in the step's one transaction), so past the limit a right code
	// gets the same 429 as a wrong one and guesses learn nothing more.
	reserveFirst := se.Step != mfad.StepTOTP
	// lockedOut is the answer to an attempt while the email is locked.
	lockedOut := func(retry time.Duration) error {
		s.audit(ctx, event{name: mfad.EventLocked, step: stepName(se.Step), failure: true, user: u, detail: string(t)})
		return tooMany(retry)
	}
	// count counts one attempt against the email, refused while locked.
	var counted mfad.Reservation
	count := func() error {
		r, err := s.store.Reserve(ctx, ekey, s.cfg.EmailThrottle, now)
		if err != nil {
			return err
		}
		if r.RetryAfter > 0 {
			return lockedOut(r.RetryAfter)
		}
		counted = r
		return nil
	}
	if reserveFirst {
		if err := count(); err != nil {
			return LoginResult{}, err
		}
	}
	// A code whose check did not finish (the database failed part-way, no
	// pending secret) is not counted; a wrong code stays counted even when
	// recording it fails.
	wrong := false
	defer func() {
		if reserveFirst && err != nil && !wrong {
			s.release(ctx, ekey, s.cfg.EmailThrottle)
		}
	}()

	next := mfad.StepNone
	if se.Step != mfad.StepPIN && u.HasPIN {
		next = mfad.StepPIN
	}
	kind := mfad.SessionFull
	if next != mfad.StepNone {
		kind = mfad.SessionLimited
	}
	token, nextSession := s.newSession(u.ID, kind, next, now)
	adv := mfad.Advance{LimitedHash: se.Hash, UserID: u.ID, Next: nextSession, Now: now}

	ok := false
	switch se.Step {
	case mfad.StepTOTP:
		if u.TOTPSeal != nil {
			secret, err := s.box.Open(u.TOTPSeal, []byte(u.ID))
			if err != nil {
				return LoginResult{}, fmt.Errorf("open totp secret of user %s: %w", u.ID, err)
			}
			r, err := totp.Match(string(secret), code, now, u.TOTPLast)
			if err != nil {
				return LoginResult{}, err
			}
			if r.Replay {
				s.audit(ctx, event{name: mfad.EventTOTPReplay, failure: true, user: u, detail: "a code already used"})
			}
			ok, adv.TOTPStep, adv.TOTPGen = r.OK, r.Step, u.TOTPGen
		}
	case mfad.StepEnroll:
		p, secret, err := s.pending(ctx, u)
		if err != nil {
			return LoginResult{}, err
		}
		r, err := totp.Match(secret, code, now, u.TOTPLast)
		if err != nil {
			return LoginResult{}, err
		}
		if r.Replay {
			s.audit(ctx, event{name: mfad.EventTOTPReplay, failure: true, user: u, detail: "a code already used"})
		}
		ok, adv.TOTPStep, adv.PendingID = r.OK, r.Step, p.ID
	case mfad.StepPIN:
		if u.PINHash != "" && ValidPIN(code) {
			match, err := s.hasher.Verify(ctx, u.PINHash, code)
			if err != nil {
				return LoginResult{}, hashErr(err)
			}
			ok = match
		}
	}
	// What a right code does, committed in the step's one transaction: the
	// audit entries, and the email's attempt counter cleared (a completed
	// login) or the attempt taken back (another factor owed).
	var done []event
	if se.Step == mfad.StepEnroll {
		done = append(done, event{name: mfad.EventFactorSet, user: u, detail: "2FA enrolled at login"})
	}
	if next == mfad.StepNone {
		done = append(done, event{name: mfad.EventLoginOK, step: stepName(se.Step), user: u, detail: "last step: " + stepName(se.Step)})
		adv.ResetKey = ekey
	} else {
		done = append(done, event{name: mfad.EventFactorOK, step: stepName(se.Step), user: u, detail: fmt.Sprintf("%s; next Mfa-Code %d", t, next)})
		if reserveFirst {
			adv.ReleaseKey, adv.ReleaseLimit = ekey, s.cfg.EmailThrottle.Limit
		}
	}
	if !reserveFirst {
		adv.CheckKey = ekey
	}
	for _, e := range done {
		adv.Audit = append(adv.Audit, s.auditRows(ctx, e)...)
	}
	if ok {
		err := s.store.AdvanceLogin(ctx, adv)
		var locked *mfad.LockedError
		switch {
		case errors.As(err, &locked):
			return LoginResult{}, lockedOut(locked.RetryAfter)
		case errors.Is(err, mfad.ErrReplay):
			s.audit(ctx, event{name: mfad.EventTOTPReplay, failure: true, user: u, detail: "a code already used"})
			ok = false
		case errors.Is(err, mfad.ErrSessionGone):
			return LoginResult{}, errUnauthenticated
		case errors.Is(err, mfad.ErrNoPending):
			return LoginResult{}, errNoPending
		case err != nil:
			return LoginResult{}, err
		}
	}
	if !ok {
		if !reserveFirst {
			// Counted now; refused like any attempt while locked.
			if err := count(); err != nil {
				return LoginResult{}, err
			}
		}
		wrong = true
		closed, err := s.store.FailSession(ctx, se.Hash, s.cfg.MaxCodeFailures)
		if err != nil {
			return LoginResult{}, err
		}
		detail := string(t)
		if closed {
			detail += "; limited session closed"
		}
		s.audit(ctx, s.failed(event{name: mfad.EventFactorFail, step: stepName(se.Step), failure: true, user: u, detail: detail}, counted)...)
		return LoginResult{}, wrongCode(closed)
	}
	for _, e := range done {
		s.announce(ctx, e)
	}
	if next == mfad.StepNone {
		return LoginResult{Token: token}, nil
	}
	return LoginResult{Token: token, Step: next}, nil
}

var errNoPending = mfad.Errorf(mfad.CodeEnrollment, "no pending 2FA secret: call GET /profile/2fa/generate first (a secret lives 10 minutes)")

// pending returns the user's unexpired pending secret, opened.
func (s *Service) pending(ctx context.Context, u *mfad.User) (*mfad.PendingTOTP, string, error) {
	p, err := s.store.PendingTOTP(ctx, u.ID)
	if errors.Is(err, mfad.ErrNotFound) || (err == nil && s.now().Sub(p.Created) >= s.cfg.PendingLifetime) {
		return nil, "", errNoPending
	}
	if err != nil {
		return nil, "", err
	}
	secret, err := s.box.Open(p.Seal, []byte(u.ID))
	if err != nil {
		return nil, "", fmt.Errorf("open pending totp secret of user %s: %w", u.ID, err)
	}
	return p, string(secret), nil
}

// ---- the user's own factors

// Generate2FA makes a new pending TOTP secret for the caller (a full session,
// or a limited one that owes enrollment).
func (s *Service) Generate2FA(ctx context.Context, id *Identity) (totp.Enrollment, error) {
	if id.Session.Kind != mfad.SessionFull && id.Session.Step != mfad.StepEnroll {
		return totp.Enrollment{}, errFactorRequired
	}
	e, err := totp.Generate(s.cfg.Issuer, id.User.Email)
	if err != nil {
		return totp.Enrollment{}, err
	}
	p := &mfad.PendingTOTP{ID: uuid.NewString(), UserID: id.User.ID, Seal: s.box.Seal([]byte(e.Secret), []byte(id.User.ID)), Created: s.now()}
	if err := s.store.PutPendingTOTP(ctx, p); err != nil {
		return totp.Enrollment{}, err
	}
	s.audit(ctx, event{name: mfad.EventTOTPGenerated, user: id.User})
	return e, nil
}

// SetMFA turns a factor on for the caller and returns the caller's session
// id, the only session of the user left open.
func (s *Service) SetMFA(ctx context.Context, id *Identity, t mfad.AuthType, code string) (string, error) {
	u := id.User
	now := s.now()
	switch t {
	case mfad.AuthTOTP:
		p, secret, err := s.pending(ctx, u)
		if err != nil {
			return "", err
		}
		r, err := totp.Match(secret, code, now, u.TOTPLast)
		if err != nil {
			return "", err
		}
		if !r.OK {
			return "", mfad.Errorf(mfad.CodeEnrollment, "wrong code for the pending 2FA secret")
		}
		err = s.store.EnrollTOTP(ctx, mfad.Enroll{UserID: u.ID, PendingID: p.ID, Step: r.Step, KeepHash: id.Session.Hash, Now: now})
		switch {
		case errors.Is(err, mfad.ErrNoPending):
			return "", errNoPending
		case errors.Is(err, mfad.ErrReplay):
			return "", mfad.Errorf(mfad.CodeEnrollment, "that code was already used; wait for the next one")
		case err != nil:
			return "", err
		}
	case mfad.AuthPIN:
		if !ValidPIN(code) {
			return "", mfad.Errorf(mfad.CodeInvalid, "code: a PIN is 4 to 12 ASCII digits")
		}
		hash, err := s.hasher.Hash(ctx, code)
		if err != nil {
			return "", hashErr(err)
		}
		if err := s.store.SetPIN(ctx, u.ID, hash, id.Session.Hash, now); err != nil {
			return "", err
		}
	}
	s.audit(ctx, event{name: mfad.EventFactorSet, user: u, detail: string(t) + "; other sessions closed"})
	return id.Token, nil
}

// RemoveMFA turns a factor off for the caller unless it is forced.
func (s *Service) RemoveMFA(ctx context.Context, id *Identity, t mfad.AuthType) error {
	err := s.store.RemoveFactor(ctx, id.User.ID, t, s.now())
	if errors.Is(err, mfad.ErrForced) {
		return mfad.Errorf(mfad.CodeFactorForced, "%s is forced by an admin or by the account and cannot be removed", t)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventFactorRemoved, user: id.User, detail: string(t)})
	return nil
}

// ---- admin operations

// AdminSetMFA turns a factor on, forced, for users of the admin's account and
// closes their sessions. For PIN, code is the PIN every user gets.
func (s *Service) AdminSetMFA(ctx context.Context, a Admin, ids []string, t mfad.AuthType, code string) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	hash := ""
	if t == mfad.AuthPIN {
		if !ValidPIN(code) {
			return mfad.Errorf(mfad.CodeInvalid, "code: a PIN of 4 to 12 ASCII digits is required for PIN")
		}
		// One hash for all the users: the admin sets the same PIN for each,
		// and a hash per user would cost seconds for a thousand ids.
		h, err := s.hasher.Hash(ctx, code)
		if err != nil {
			return hashErr(err)
		}
		hash = h
	}
	if err := s.adminErr(s.store.AdminSetFactor(ctx, admin.AccountID, ids, t, hash, s.now())); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventAdminSetMFA, actor: admin, targets: ids, detail: string(t) + " forced; sessions closed"})
	return nil
}

// AdminRemoveMFA turns a factor off for users of the admin's account.
func (s *Service) AdminRemoveMFA(ctx context.Context, a Admin, ids []string, t mfad.AuthType) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	if err := s.adminErr(s.store.AdminRemoveFactor(ctx, admin.AccountID, ids, t, s.now())); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventAdminRemoveMFA, actor: admin, targets: ids, detail: string(t)})
	return nil
}

// AdminResetMFA clears the TOTP secrets of users of the admin's account,
// keeping 2FA on: their next login owes enrollment.
func (s *Service) AdminResetMFA(ctx context.Context, a Admin, ids []string) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	if err := s.adminErr(s.store.AdminResetTOTP(ctx, admin.AccountID, ids, s.now())); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventAdminResetMFA, actor: admin, targets: ids, detail: "2FA secret cleared; sessions closed"})
	return nil
}

func (s *Service) adminErr(err error) error {
	switch {
	case errors.Is(err, mfad.ErrUnknownIDs):
		return errUnknownIDs
	case errors.Is(err, mfad.ErrForced):
		return mfad.Errorf(mfad.CodeFactorForced, "the account forces 2FA: turn that off in the settings first; nothing was changed")
	}
	return err
}

// ---- users and accounts

// NewUser is what an admin sends to create a user.
type NewUser struct {
	Name, Email, Password string
	SuperAdmin            bool
}

const (
	maxEmailLen = 254
	maxNameLen  = 255
	minPassword = 8
)

// Validate checks the fields of a new user.
func (n NewUser) validate(maxPassword int) error {
	if err := ValidName(n.Name); err != nil {
		return err
	}
	if err := ValidEmail(n.Email); err != nil {
		return err
	}
	if r, ok := mfad.ASCIILookalike(n.Email); ok {
		return mfad.Errorf(mfad.CodeInvalid, "email: %U is a variant of an ASCII character; write the plain character", r)
	}
	return ValidPassword(n.Password, maxPassword)
}

// ValidPassword checks the length of a new password: valid UTF-8, at least
// minPassword characters counted as Unicode code points ("äöüß" is four,
// not eight), and at most maxBytes bytes (what is hashed is bytes).
func ValidPassword(password string, maxBytes int) error {
	switch {
	case !utf8.ValidString(password):
		return mfad.Errorf(mfad.CodeInvalid, "password: must be UTF-8 text")
	case utf8.RuneCountInString(password) < minPassword:
		return mfad.Errorf(mfad.CodeInvalid, "password: at least %d characters", minPassword)
	case len(password) > maxBytes:
		return mfad.Errorf(mfad.CodeInvalid, "password: at most %d bytes", maxBytes)
	}
	return nil
}

// ValidName checks a user's display name.
func ValidName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > maxNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return mfad.Errorf(mfad.CodeInvalid, "name: 1 to %d printable characters", maxNameLen)
	}
	return nil
}

// ValidEmail checks an email address loosely: one @, something on each side,
// no spaces or control characters.
func ValidEmail(email string) error {
	at := strings.LastIndexByte(email, '@')
	if len(email) > maxEmailLen || at < 1 || at == len(email)-1 || !utf8.ValidString(email) ||
		strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return mfad.Errorf(mfad.CodeInvalid, "email: not a valid email address")
	}
	return nil
}

// ValidPIN reports whether code is 4 to 12 ASCII digits.
func ValidPIN(code string) bool {
	if len(code) < 4 || len(code) > 12 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

func (s *Service) newUser(ctx context.Context, accountID string, n NewUser) (*mfad.User, error) {
	if err := n.validate(s.cfg.MaxPasswordLen); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, n.Password)
	if err != nil {
		return nil, hashErr(err)
	}
	now := s.now()
	return &mfad.User{ID: uuid.NewString(), AccountID: accountID, Name: strings.TrimSpace(n.Name), Email: strings.TrimSpace(n.Email),
		SuperAdmin: n.SuperAdmin, PasswordHash: hash, Created: now, Modified: now}, nil
}

// CreateAccount makes an account and its first admin.
func (s *Service) CreateAccount(ctx context.Context, title string, admin NewUser) (*mfad.Account, *mfad.User, error) {
	if strings.TrimSpace(title) == "" || len(title) > maxNameLen {
		return nil, nil, mfad.Errorf(mfad.CodeInvalid, "title: 1 to %d characters", maxNameLen)
	}
	now := s.now()
	a := &mfad.Account{ID: uuid.NewString(), Title: strings.TrimSpace(title), Created: now, Modified: now}
	admin.SuperAdmin = true
	u, err := s.newUser(ctx, a.ID, admin)
	if err != nil {
		return nil, nil, err
	}
	if err := s.store.CreateAccount(ctx, a, u); err != nil {
		if errors.Is(err, mfad.ErrEmailTaken) {
			return nil, nil, mfad.Errorf(mfad.CodeEmailTaken, "email already taken")
		}
		return nil, nil, err
	}
	return a, u, nil
}

// CreateUser makes a user in the admin's account.
func (s *Service) CreateUser(ctx context.Context, a Admin, n NewUser) (*mfad.User, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	u, err := s.newUser(ctx, admin.AccountID, n)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, mfad.ErrEmailTaken) {
			return nil, mfad.Errorf(mfad.CodeEmailTaken, "email already taken")
		}
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventUserCreated, actor: admin, targets: []string{u.ID}, detail: "super_admin " + map[bool]string{true: "Y", false: "N"}[u.SuperAdmin]})
	return u, nil
}

// Users lists the users of the admin's account.
func (s *Service) Users(ctx context.Context, a Admin) ([]*mfad.User, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	return s.store.Users(ctx, admin.AccountID)
}

// User returns one user of the admin's account.
func (s *Service) User(ctx context.Context, a Admin, id string) (*mfad.User, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, id)
	if errors.Is(err, mfad.ErrNotFound) || (err == nil && u.AccountID != admin.AccountID) {
		return nil, mfad.Errorf(mfad.CodeUserNotFound, "user not found")
	}
	return u, err
}

// DeleteUsers removes users of the admin's account and closes their sessions.
func (s *Service) DeleteUsers(ctx context.Context, a Admin, ids []string) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == admin.ID {
			return mfad.Errorf(mfad.CodeCannotDeleteSelf, "an admin cannot delete their own user; nothing was changed")
		}
	}
	if err := s.adminErr(s.store.DeleteUsers(ctx, admin.AccountID, ids)); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventUserDeleted, actor: admin, targets: ids, detail: "sessions closed"})
	return nil
}

// Account returns the caller's account.
func (s *Service) Account(ctx context.Context, id *Identity) (*mfad.Account, error) {
	if id.Account != nil {
		return id.Account, nil // read with the session, in this request
	}
	return s.store.Account(ctx, id.User.AccountID)
}

// SetForce2FA turns account-wide 2FA on or off. It closes no session.
func (s *Service) SetForce2FA(ctx context.Context, a Admin, on bool) (*mfad.Account, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	if err := s.store.SetAccountForce2FA(ctx, admin.AccountID, on, s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventSettings, actor: admin, targets: []string{admin.ID}, detail: fmt.Sprintf("force 2FA %v", on)})
	return s.store.Account(ctx, admin.AccountID)
}

// Methods returns the user's auth_methods and forced_auth as clients see
// them: the account's forced 2FA counts as both.
func Methods(u *mfad.User, a *mfad.Account) (methods, forced []string) {
	methods, forced = []string{}, []string{}
	if u.Has2FA || u.Forced2FA || (a != nil && a.Forced2FA) {
		methods = append(methods, string(mfad.AuthTOTP))
	}
	if u.HasPIN {
		methods = append(methods, string(mfad.AuthPIN))
	}
	if u.Forced2FA || (a != nil && a.Forced2FA) {
		forced = append(forced, string(mfad.AuthTOTP))
	}
	if u.ForcedPIN {
		forced = append(forced, string(mfad.AuthPIN))
	}
	return methods, forced
}
