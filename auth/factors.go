package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/mfad/mfad"
	"github.com/mfad/mfad/totp"
)

// PendingSecret is a pending TOTP secret to show, with the time left to
// confirm it: until the secret's end, or sooner the end of the limited
// session that owes enrollment.
type PendingSecret struct {
	totp.Enrollment
	Left time.Duration
}

// Generate2FA returns the caller's pending TOTP secret (a full session, or
// a limited one that owes enrollment): the same one while it is pending,
// so that a reload or a second login does not void a secret already
// scanned, and a new one when there is none or fresh is set.
//
// Showing a pending secret again to another session of the user gives
// nothing away: a limited session can read it only while it owes
// enrollment, when the password alone completes a login anyway (by
// enrolling a secret of one's own), and any other caller holds a full
// session.
func (s *Service) Generate2FA(ctx context.Context, id *Identity, fresh bool) (PendingSecret, error) {
	if err := RequireFullOrEnrolling(id); err != nil {
		return PendingSecret{}, err
	}
	u := id.User
	left := func(created time.Time) time.Duration {
		end := created.Add(s.cfg.PendingLifetime)
		if id.Session.Kind == mfad.SessionLimited && id.Session.Expires.Before(end) {
			end = id.Session.Expires
		}
		return max(end.Sub(s.now()), 0)
	}
	if !fresh {
		p, secret, err := s.pending(ctx, u)
		switch {
		case err == nil:
			e, err := totp.Again(s.cfg.Issuer, u.Email, secret)
			if err != nil {
				return PendingSecret{}, err
			}
			return PendingSecret{Enrollment: e, Left: left(p.Created)}, nil
		case !errors.Is(err, errNoPending):
			return PendingSecret{}, err
		}
	}
	e, err := totp.Generate(s.cfg.Issuer, u.Email)
	if err != nil {
		return PendingSecret{}, err
	}
	p := &mfad.PendingTOTP{ID: uuid.NewString(), UserID: u.ID, Seal: s.box.Seal([]byte(e.Secret), []byte(u.ID)), Created: s.now()}
	if err := s.store.PutPendingTOTP(ctx, p); err != nil {
		return PendingSecret{}, err
	}
	s.audit(ctx, event{name: mfad.EventTOTPGenerated, user: u})
	return PendingSecret{Enrollment: e, Left: left(p.Created)}, nil
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
			return "", &mfad.Error{Code: mfad.CodeEnrollment, Msg: "that code was already used; wait for the next one",
				Details: map[string]any{"code_used": true}}
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
