package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/mailer"
)

// Mail: password resets by mail, and notices of security changes. Both go
// through an outbox: a bounded queue of jobs that one background goroutine
// runs, so that a request never waits for a lookup it would otherwise make
// only for some emails, nor for the mail server. Without a mailer, mail is
// off: a reset request answers 503 and notices are skipped.

// Mailer delivers mail (mailer.Mailer).
type Mailer interface {
	Send(mailer.Message) bool
}

// Reset ids live this long; at most resetMails are mailed per email per
// hour.
const (
	resetLifetime = 30 * time.Minute
	resetMails    = 3
)

var (
	errMailOff       = mfad.Errorf(mfad.CodeMailOff, "password reset by mail is not configured on this server; ask an admin")
	errResetNotFound = mfad.Errorf(mfad.CodeResetNotFound, "this reset link is unknown, used, replaced by a newer one, or expired; ask for a new one")
)

// outbox runs mail jobs in the background.
type outbox struct {
	m         Mailer
	publicURL string
	jobs      chan job
	done      chan struct{}
}

// A job runs no sooner than jobDelay after it was queued: the work a job
// does for some emails (a reset id, a mail) then never overlaps the answer
// of the request that queued it, whose time would tell those emails from
// the others (see SECURITY.md, "User enumeration").
type job struct {
	at  time.Time
	run func(context.Context)
}

const jobDelay = 100 * time.Millisecond

// SetMailer turns mail on: reset links point at publicURL (the address
// users reach the web page at). The jobs run until Close.
func (s *Service) SetMailer(m Mailer, publicURL string) {
	o := &outbox{m: m, publicURL: strings.TrimRight(publicURL, "/"), jobs: make(chan job, 1024), done: make(chan struct{})}
	s.mail = o
	go func() {
		defer close(o.done)
		ctx := context.Background()
		for j := range o.jobs {
			time.Sleep(time.Until(j.at))
			j.run(ctx)
		}
	}()
}

// Close stops the mail jobs, after the queued ones.
func (s *Service) Close() {
	if s.mail != nil {
		close(s.mail.jobs)
		<-s.mail.done
	}
}

// FlushMail waits until the mail jobs queued so far have run (their mail is
// then with the mailer). For tests and shutdown.
func (s *Service) FlushMail() {
	if s.mail == nil {
		return
	}
	done := make(chan struct{})
	s.mail.jobs <- job{run: func(context.Context) { close(done) }}
	<-done
}

// later queues a mail job; a full queue drops it, with a log line.
func (s *Service) later(ctx context.Context, what string, run func(context.Context)) {
	select {
	case s.mail.jobs <- job{at: time.Now().Add(jobDelay), run: run}:
	default:
		Logger(ctx).ErrorContext(ctx, "mail job dropped: the queue is full", "job", what)
	}
}

// ---- password reset

// RequestReset is POST /reset-password/request. It answers the same, after
// the same work, whether a user has the email or not: the request is
// counted against the client address, and the lookup, the reset id and
// the mail happen in the background.
func (s *Service) RequestReset(ctx context.Context, email, addr string) error {
	if s.mail == nil {
		return errMailOff
	}
	if r, err := s.store.Reserve(ctx, addrKey(addr), s.cfg.AddrThrottle, s.now()); err != nil {
		return err
	} else if r.RetryAfter > 0 {
		s.announce(ctx, event{name: mfad.EventThrottled, failure: true, detail: "client address over its limit (reset request)"})
		return tooMany(r.RetryAfter)
	}
	if ValidEmail(email) != nil {
		return nil // no user can have it
	}
	log := Logger(ctx)
	s.later(ctx, "password reset", func(ctx context.Context) { s.mailReset(WithLogger(ctx, log), email) })
	return nil
}

// mailReset mails a reset link to the user of email, if there is an
// enabled one and the email has had fewer than resetMails this hour.
func (s *Service) mailReset(ctx context.Context, email string) {
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, mfad.ErrNotFound) || (err == nil && u.Disabled) {
		return
	}
	if err != nil {
		Logger(ctx).ErrorContext(ctx, "password reset: look up the user", "err", err)
		return
	}
	now := s.now()
	limit := mfad.Throttle{Limit: resetMails, Window: time.Hour, Lock: time.Hour}
	if r, err := s.store.Reserve(ctx, "mail:"+mfad.EmailKey(u.Email), limit, now); err != nil {
		Logger(ctx).ErrorContext(ctx, "password reset: count the mail", "err", err)
		return
	} else if r.RetryAfter > 0 {
		Logger(ctx).WarnContext(ctx, "password reset: not mailed, the email had its mails of the hour", "user_id", u.ID)
		return
	}
	token, hash := newToken()
	if err := s.store.PutPasswordReset(ctx, &mfad.PasswordReset{Hash: hash, UserID: u.ID, Created: now, Expires: now.Add(resetLifetime)}); err != nil {
		Logger(ctx).ErrorContext(ctx, "password reset: store the reset id", "err", err)
		return
	}
	link := s.mail.publicURL + "/#reset=" + token
	s.mail.m.Send(mailer.Message{To: u.Email, UserID: u.ID, Kind: "password reset", Subject: "Reset your password",
		Body: fmt.Sprintf("Someone asked to reset the password of %s.\n\n"+
			"To choose a new password, open this link within %d minutes:\n\n%s\n\n"+
			"The link works once. Your second factors stay as they are.\n"+
			"If you did not ask for it, ignore this mail: your password stays as it is.\n",
			u.Email, int(resetLifetime.Minutes()), link)})
	s.audit(ctx, event{name: mfad.EventResetRequested, user: u, detail: "reset link mailed"})
}

// reset is the valid reset of id, with its user; errResetNotFound
// otherwise. The lookup counts against the client address, and is taken
// back when the id is valid: guessing ids meets the per-address limit.
func (s *Service) reset(ctx context.Context, id, addr string) (*mfad.User, []byte, *attempt, error) {
	at := s.newAttempt(ctx, s.now())
	if retry, err := at.reserve(addrKey(addr), s.cfg.AddrThrottle); err != nil {
		return nil, nil, at, err
	} else if retry > 0 {
		at.refused()
		return nil, nil, at, tooMany(retry)
	}
	token, ok := mfad.ParseUUID(id)
	if !ok {
		at.refused() // a guess, counted
		return nil, nil, at, errResetNotFound
	}
	hash := HashToken(token)
	_, u, err := s.store.PasswordReset(ctx, hash, at.now)
	if errors.Is(err, mfad.ErrNotFound) {
		at.refused()
		return nil, nil, at, errResetNotFound
	}
	if err != nil {
		return nil, nil, at, err
	}
	return u, hash, at, nil
}

// ResetValid is GET /reset-password/metadata/{id}: nil while the id can
// be used.
func (s *Service) ResetValid(ctx context.Context, id, addr string) error {
	_, _, at, err := s.reset(ctx, id, addr)
	defer at.settle()
	if err == nil {
		at.release(addrKey(addr))
	}
	return err
}

// ResetPassword is POST /reset-password/reset/{id}: the new password for
// the user the id was mailed to. Of concurrent uses of one id exactly one
// succeeds. Every session of the user is closed and the email's failure
// count is cleared; the user's second factors stay. It returns the user's
// id.
func (s *Service) ResetPassword(ctx context.Context, id, password, addr string) (string, error) {
	u, hash, at, err := s.reset(ctx, id, addr)
	defer at.settle()
	if err != nil {
		return "", err
	}
	akey := addrKey(addr)
	if err := CheckPassword(password, u.Email, s.cfg.MaxPasswordLen); err != nil {
		at.release(akey) // a valid id: not a guess
		return "", err
	}
	pwHash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return "", hashErr(err)
	}
	userID, err := s.store.UsePasswordReset(ctx, hash, pwHash, at.now, emailKey(u.Email))
	if errors.Is(err, mfad.ErrNotFound) {
		at.refused() // used meanwhile
		return "", errResetNotFound
	}
	if err != nil {
		return "", err
	}
	at.release(akey)
	s.audit(ctx, event{name: mfad.EventPasswordReset, user: u, detail: "with a mailed link; sessions closed"})
	return userID, nil
}

// ---- notices

// notices are the events whose users get a mail, and what it says.
var notices = map[string]string{
	mfad.EventPasswordSet:         "The password of your account was changed.",
	mfad.EventPasswordReset:       "The password of your account was reset, with a link mailed to this address.",
	mfad.EventFactorSet:           "A second factor was turned on for your account.",
	mfad.EventFactorRemoved:       "A second factor was turned off for your account.",
	mfad.EventRecoveryGenerated:   "New recovery codes were made for your account. The earlier ones no longer work.",
	mfad.EventRecoveryUsed:        "A recovery code was used instead of an authenticator code to sign in to your account. It cannot be used again.",
	mfad.EventPasskeyAdded:        "A passkey was added to your account.",
	mfad.EventPasskeyRemoved:      "A passkey was removed from your account.",
	mfad.EventPasskeyCloned:       "A passkey of your account signed in with a signature counter that did not move forward: the key may have been copied. The passkey was removed; sign in with another factor or a recovery code and add a new one.",
	mfad.EventAdminSetMFA:         "An administrator turned on a second factor for your account.",
	mfad.EventAdminRemoveMFA:      "An administrator turned off a second factor for your account.",
	mfad.EventAdminResetMFA:       "An administrator reset your authenticator app or your passkeys: your next sign-in sets 2FA up again if nothing else is left.",
	mfad.EventLockout:             "Your account was locked after too many failed sign-in attempts. It unlocks by itself after a while; an administrator can unlock it sooner.",
	mfad.EventOperatorResetMFA:    "The operator of the server reset your authenticator app and passkeys: your next sign-in sets 2FA up again.",
	mfad.EventOperatorSetPassword: "The operator of the server set a new password for your account.",
}

// notify mails the users e concerns, when e is one of the notices and
// mail is on. The users are read in the background.
func (s *Service) notify(ctx context.Context, e event) {
	text, ok := notices[e.name]
	if !ok || s.mail == nil || e.failure && e.name != mfad.EventLockout && e.name != mfad.EventPasskeyCloned {
		return
	}
	ids := e.targets
	if len(ids) == 0 && e.user != nil {
		ids = []string{e.user.ID}
	}
	if len(ids) == 0 {
		return // an email of nobody
	}
	log := Logger(ctx)
	s.later(ctx, "notice "+e.name, func(ctx context.Context) {
		ctx = WithLogger(ctx, log)
		for _, id := range ids {
			u, err := s.store.User(ctx, id)
			if err != nil {
				if !errors.Is(err, mfad.ErrNotFound) {
					Logger(ctx).ErrorContext(ctx, "notice: look up the user", "user_id", id, "err", err)
				}
				continue
			}
			s.mail.m.Send(mailer.Message{To: u.Email, UserID: u.ID, Kind: "notice " + e.name, Subject: "Security notice",
				Body: fmt.Sprintf("%s\n\nAccount: %s\nTime: %s\n\nIf this was not you or your administrator, tell your administrator at once.\n",
					text, u.Email, s.now().Format(time.RFC1123))})
		}
	})
}
