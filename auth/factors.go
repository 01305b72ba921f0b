package auth

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/mfad/mfad"
	"github.com/mfad/mfad/totp"
)

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
