package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/totp"
)

// LoginResult is a session issued by a login step. Step is StepNone for a
// full session, else what the limited session owes next.
type LoginResult struct {
	Token string
	Step  mfad.Step
	// Methods are the auth_type values that may finish Step (the
	// Mfa-Methods header), when Step is not StepNone.
	Methods []string
}

// The throttle keys: an email's (by its identity key) and a client
// address's.
const emailPrefix, addrPrefix = "email:", "addr:"

func emailKey(email string) string { return emailPrefix + mfad.EmailKey(email) }
func addrKey(addr string) string   { return addrPrefix + addr }

// owed returns the first step a password login owes. A passkey is a
// second factor of its own, and satisfies 2FA when it is on or forced: a
// user with a TOTP secret owes the 2FA step (Mfa-Code 1, which a passkey
// may answer too), one with passkeys only the passkey step (Mfa-Code 4).
func owed(u *mfad.User, a *mfad.Account) mfad.Step {
	twoFA := u.Has2FA || u.Forced2FA || a.Forced2FA
	switch {
	case twoFA && u.TOTPSeal != nil:
		return mfad.StepTOTP
	case u.Passkeys > 0:
		return mfad.StepPasskey
	case twoFA:
		return mfad.StepEnroll
	case u.HasPIN:
		return mfad.StepPIN
	}
	return mfad.StepNone
}

// StepMethods are the auth_type values that may finish step for u (the
// Mfa-Methods header): recoveryLeft counts the user's recovery codes.
func StepMethods(step mfad.Step, u *mfad.User, recoveryLeft int) []string {
	var m []string
	switch step {
	case mfad.StepTOTP, mfad.StepPasskey:
		if step == mfad.StepTOTP {
			m = append(m, string(mfad.AuthTOTP))
		}
		if u.Passkeys > 0 {
			m = append(m, string(mfad.AuthWebAuthn))
		}
		if recoveryLeft > 0 {
			m = append(m, string(mfad.AuthRecovery))
		}
	case mfad.StepEnroll:
		m = append(m, string(mfad.AuthTOTP))
	case mfad.StepPIN:
		m = append(m, string(mfad.AuthPIN))
	}
	return m
}

// PasswordLogin is the first login step (GET /session/login with Basic).
func (s *Service) PasswordLogin(ctx context.Context, email, password, addr string) (LoginResult, error) {
	// Under a flood, refuse what the hashing pool cannot take before any
	// database write, so the flood does not queue writes in front of
	// authenticated requests.
	if s.hasher.Saturated() {
		return LoginResult{}, errBusy
	}
	at := s.newAttempt(ctx, s.now())
	defer at.settle()
	akey := addrKey(addr)
	if retry, err := at.reserve(akey, s.cfg.AddrThrottle); err != nil {
		return LoginResult{}, err
	} else if retry > 0 {
		at.refused()
		s.audit(ctx, event{name: mfad.EventThrottled, failure: true, detail: "client address over its limit"})
		return LoginResult{}, tooMany(retry)
	}
	// An email no user can have (over 254 bytes, not UTF-8, control
	// characters, no @) gets the same answer as a wrong password, counted
	// against the client address only: it never reaches the database as a
	// key.
	if ValidEmail(email) != nil {
		s.audit(ctx, at.failed(event{name: mfad.EventPasswordFail, step: "password", failure: true, detail: "refused before hashing: not an email address"})...)
		return LoginResult{}, errBadCredentials
	}
	ekey := emailKey(email)
	if retry, err := at.reserve(ekey, s.cfg.EmailThrottle); err != nil {
		return LoginResult{}, err
	} else if retry > 0 {
		// The same work for an email of a user and one of nobody's: no
		// lookup, no write to a trail (only a user's has an account), just
		// the log line and the metric. Else the time of this answer tells
		// which emails exist, as often as an attacker asks. The trail has
		// the lock's start (login.lockout, from failed).
		at.refused()
		s.announce(ctx, event{name: mfad.EventLocked, step: "password", failure: true, detail: "password"})
		return LoginResult{}, tooMany(retry)
	}
	if len(password) > s.cfg.MaxPasswordLen || password == "" {
		s.audit(ctx, at.failed(event{name: mfad.EventPasswordFail, step: "password", failure: true, detail: "refused before hashing"})...)
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
		return LoginResult{}, hashErr(err) // no verdict: taken back
	}
	if !ok || u.Disabled {
		// A disabled user's login answers exactly as a wrong password,
		// after the same work.
		detail := "wrong email or password"
		if ok {
			detail = "user disabled"
		}
		s.audit(ctx, at.failed(event{name: mfad.EventPasswordFail, step: "password", failure: true, user: u, detail: detail})...)
		return LoginResult{}, errBadCredentials
	}
	a, err := s.store.Account(ctx, u.AccountID)
	if err != nil {
		return LoginResult{}, err
	}
	step := owed(u, a)
	kind := mfad.SessionLimited
	if step == mfad.StepNone {
		kind = mfad.SessionFull
	}
	token, se := s.newSession(u.ID, kind, step, at.now)
	if err := s.store.CreateSession(ctx, se); err != nil {
		return LoginResult{}, err
	}
	// A right password: the address's attempt is taken back; the email's
	// counter starts again after a completed login, and with a factor
	// still owed the attempt is taken back (the factor's attempts count).
	at.release(akey)
	if step == mfad.StepNone {
		at.take(ekey)
		s.success(ctx, u, ekey, "password")
		return LoginResult{Token: token}, nil
	}
	at.release(ekey)
	s.audit(ctx, event{name: mfad.EventPasswordOK, step: "password", user: u, detail: fmt.Sprintf("second factor owed (Mfa-Code %d)", step)})
	return LoginResult{Token: token, Step: step, Methods: s.stepMethods(ctx, step, u)}, nil
}

// stepMethods is StepMethods with the user's recovery codes counted (for
// the 2FA steps). Should the count fail, recovery codes are left out of the
// list: they still work.
func (s *Service) stepMethods(ctx context.Context, step mfad.Step, u *mfad.User) []string {
	left := 0
	if step == mfad.StepTOTP || step == mfad.StepPasskey {
		n, err := s.store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			Logger(ctx).ErrorContext(ctx, "count recovery codes", "user_id", u.ID, "err", err)
		}
		left = n
	}
	return StepMethods(step, u, left)
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
	at := s.newAttempt(ctx, s.now())
	if _, err := at.reserve(emailKey(id.User.Email), s.cfg.EmailThrottle); err != nil {
		return err
	}
	// A request wrong as it stands: counted, and not taken back. Only the
	// lockout it may begin goes to the trail.
	if at.lastEmail.Locks {
		s.audit(ctx, s.lockout(id.User, stepName(id.Session.Step)))
	}
	_, err := s.store.FailSession(ctx, id.Session.Hash, s.cfg.MaxCodeFailures)
	return err
}

// SecondFactor is POST /session/login: the code for the step the limited
// session owes.
func (s *Service) SecondFactor(ctx context.Context, id *Identity, t mfad.AuthType, code string) (LoginResult, error) {
	se, u := id.Session, id.User
	if se.Kind != mfad.SessionLimited {
		return LoginResult{}, errUnauthenticated
	}
	twoFAStep := se.Step == mfad.StepTOTP || se.Step == mfad.StepPasskey
	recovery := t == mfad.AuthRecovery && twoFAStep
	passkey := t == mfad.AuthWebAuthn && twoFAStep
	if t != se.Step.Factor() && !recovery && !passkey {
		if err := s.FailStep(ctx, id); err != nil {
			return LoginResult{}, err
		}
		switch se.Step {
		case mfad.StepTOTP:
			return LoginResult{}, mfad.Errorf(mfad.CodeWrongAuthType, "this login step owes auth_type %q, %q or %q (Mfa-Code %d)", mfad.AuthTOTP, mfad.AuthWebAuthn, mfad.AuthRecovery, se.Step)
		case mfad.StepPasskey:
			return LoginResult{}, mfad.Errorf(mfad.CodeWrongAuthType, "this login step owes auth_type %q or %q (Mfa-Code %d)", mfad.AuthWebAuthn, mfad.AuthRecovery, se.Step)
		}
		return LoginResult{}, mfad.Errorf(mfad.CodeWrongAuthType, "this login step owes auth_type %q (Mfa-Code %d)", se.Step.Factor(), se.Step)
	}
	at := s.newAttempt(ctx, s.now())
	defer at.settle()
	ekey := emailKey(u.Email)
	// lockedOut is the answer to an attempt while the email is locked.
	lockedOut := func(retry time.Duration) error {
		at.refused()
		s.audit(ctx, event{name: mfad.EventLocked, step: stepName(se.Step), failure: true, user: u, detail: string(t)})
		return tooMany(retry)
	}
	// A PIN (argon2id), an enrollment code or a recovery code reserves its
	// attempt before it is checked, so concurrent guesses cannot get more
	// checks than the limit. A TOTP code is cheap to check: it is checked
	// first and reserved only when wrong, and a right one commits only
	// while the email is not locked (in the step's one transaction), so
	// past the limit a right code gets the same 429 as a wrong one and
	// guesses learn nothing more.
	reserveFirst := se.Step != mfad.StepTOTP || recovery || passkey
	if reserveFirst {
		if retry, err := at.reserve(ekey, s.cfg.EmailThrottle); err != nil {
			return LoginResult{}, err
		} else if retry > 0 {
			return LoginResult{}, lockedOut(retry)
		}
	}

	adv, ok, err := s.evaluate(ctx, id, t, code, at.now)
	if err != nil {
		return LoginResult{}, err // no verdict: taken back
	}
	next := adv.Next.Step
	// What a right code does, committed in the step's one transaction: the
	// audit entries, and the email's attempt counter cleared (a completed
	// login) or the attempt taken back (another factor owed).
	var done []event
	if se.Step == mfad.StepEnroll {
		done = append(done, event{name: mfad.EventFactorSet, user: u, detail: "2FA enrolled at login"})
	}
	if ok && recovery {
		done = append(done, event{name: mfad.EventRecoveryUsed, step: stepName(se.Step), user: u,
			detail: fmt.Sprintf("a recovery code instead of a TOTP code; %d left", adv.recoveryLeft-1)})
	}
	if ok && passkey {
		done = append(done, event{name: mfad.EventPasskeyUsed, step: stepName(se.Step), user: u,
			detail: fmt.Sprintf("passkey %q", adv.passkeyName)})
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
		err := s.store.AdvanceLogin(ctx, adv.Advance)
		var locked *mfad.LockedError
		switch {
		case err == nil:
			at.take(ekey) // released or cleared in the step's transaction
			for _, e := range done {
				s.announce(ctx, e)
			}
			if next == mfad.StepNone {
				return LoginResult{Token: adv.token}, nil
			}
			return LoginResult{Token: adv.token, Step: next, Methods: StepMethods(next, u, 0)}, nil
		case errors.As(err, &locked):
			return LoginResult{}, lockedOut(locked.RetryAfter)
		case errors.Is(err, mfad.ErrReplay):
			// Checked against a stale record: another step was
			// accepted meanwhile, the recovery code used, or the
			// passkey's counter moved. A wrong code.
			if !recovery && !passkey {
				s.audit(ctx, event{name: mfad.EventTOTPReplay, failure: true, user: u, detail: "a code already used"})
			}
			adv.replayed = true
		case errors.Is(err, mfad.ErrSessionGone):
			return LoginResult{}, errUnauthenticated
		case errors.Is(err, mfad.ErrNoPending):
			return LoginResult{}, errNoPending
		default:
			return LoginResult{}, err
		}
	}
	// A wrong code.
	if !reserveFirst {
		// Counted now; refused like any attempt while locked.
		if retry, err := at.reserve(ekey, s.cfg.EmailThrottle); err != nil {
			return LoginResult{}, err
		} else if retry > 0 {
			return LoginResult{}, lockedOut(retry)
		}
	}
	fail := event{name: mfad.EventFactorFail, step: stepName(se.Step), failure: true, user: u, detail: string(t)}
	evs := at.failed(fail) // stays counted, even if recording it below fails
	closed, err := s.store.FailSession(ctx, se.Hash, s.cfg.MaxCodeFailures)
	if err != nil {
		return LoginResult{}, err
	}
	if closed {
		evs[0].detail += "; limited session closed"
	}
	s.audit(ctx, evs...)
	var lockedFor time.Duration
	if at.lastEmail.Locks {
		lockedFor = s.cfg.EmailThrottle.Lock
	}
	return LoginResult{}, wrongCode(refusal{closed: closed, replayed: adv.replayed && !recovery && !passkey, lockedFor: lockedFor})
}

// advance is a second-factor step ready to commit: mfad.Advance, and the
// id of the session it creates. replayed: the code was right for a time
// step already used. recoveryLeft: the user's recovery codes before this
// step (a recovery code step).
type advance struct {
	mfad.Advance
	token        string
	replayed     bool
	recoveryLeft int
	passkeyName  string // the passkey of a passkey step
}

// evaluate checks the code against the factor the limited session of id
// owes. It reports whether the code is right and prepares the step that a
// right one commits (the next session: full, or limited owing the PIN).
// An error means the check could not be made (the attempt gets no verdict).
func (s *Service) evaluate(ctx context.Context, id *Identity, t mfad.AuthType, code string, now time.Time) (*advance, bool, error) {
	se, u := id.Session, id.User
	next := mfad.StepNone
	if se.Step != mfad.StepPIN && u.HasPIN {
		next = mfad.StepPIN
	}
	kind := mfad.SessionFull
	if next != mfad.StepNone {
		kind = mfad.SessionLimited
	}
	token, nextSession := s.newSession(u.ID, kind, next, now)
	adv := &advance{Advance: mfad.Advance{LimitedHash: se.Hash, UserID: u.ID, Next: nextSession, Now: now}, token: token}
	replay := func() {
		adv.replayed = true
		s.audit(ctx, event{name: mfad.EventTOTPReplay, failure: true, user: u, detail: "a code already used"})
	}
	twoFAStep := se.Step == mfad.StepTOTP || se.Step == mfad.StepPasskey
	switch {
	case t == mfad.AuthWebAuthn && twoFAStep:
		ok, err := s.evaluatePasskey(ctx, id, code, adv)
		if err != nil {
			return nil, false, err
		}
		return adv, ok, nil
	case t == mfad.AuthRecovery && twoFAStep:
		c, ok := canonicalRecovery(code)
		if !ok {
			return adv, false, nil
		}
		hash := recoveryHash(u.ID, c)
		found, err := s.store.HasRecoveryCode(ctx, u.ID, hash)
		if err != nil || !found {
			return adv, false, err
		}
		left, err := s.store.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			return nil, false, err
		}
		adv.RecoveryHash, adv.recoveryLeft = hash, left
		return adv, true, nil
	case se.Step == mfad.StepTOTP:
		if u.TOTPSeal == nil {
			return adv, false, nil
		}
		secret, err := s.box.Open(u.TOTPSeal, []byte(u.ID))
		if err != nil {
			return nil, false, fmt.Errorf("open totp secret of user %s: %w", u.ID, err)
		}
		r, err := totp.Match(string(secret), code, now, u.TOTPLast)
		if err != nil {
			return nil, false, err
		}
		if r.Replay {
			replay()
		}
		adv.TOTPStep, adv.TOTPGen = r.Step, u.TOTPGen
		return adv, r.OK, nil
	case se.Step == mfad.StepEnroll:
		p, secret, err := s.pending(ctx, u)
		if err != nil {
			return nil, false, err
		}
		r, err := totp.Match(secret, code, now, u.TOTPLast)
		if err != nil {
			return nil, false, err
		}
		if r.Replay {
			replay()
		}
		adv.TOTPStep, adv.PendingID = r.Step, p.ID
		return adv, r.OK, nil
	case se.Step == mfad.StepPIN:
		if u.PINHash == "" || !ValidPIN(code) {
			return adv, false, nil
		}
		match, err := s.hasher.Verify(ctx, u.PINHash, code)
		if err != nil {
			return nil, false, hashErr(err)
		}
		return adv, match, nil
	}
	return nil, false, fmt.Errorf("limited session owes unknown step %d", se.Step)
}

var errNoPending = mfad.Errorf(mfad.CodeEnrollment, "no pending 2FA secret: call GET /profile/2fa/generate first (a secret lives 15 minutes)")

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
