package auth

import (
	"context"
	"errors"

	"github.com/mfad/mfad"
)

// Operator commands: what someone with access to the database does with
// "mfad user ...", outside any session, also while servers run on the
// database: the way back in when the only admin has lost their factor or
// password. Each writes its audit event, on the user's account, with the
// user as the actor (there is no admin session).

// OperatorUser is the user of email; a *mfad.Error naming the email when
// there is none.
func (s *Service) OperatorUser(ctx context.Context, email string) (*mfad.User, error) {
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, mfad.ErrNotFound) {
		return nil, mfad.Errorf(mfad.CodeUserNotFound, "no user has the email %q", email)
	}
	return u, err
}

// OperatorResetMFA clears the user's TOTP secret and passkeys (2FA stays
// owed: the next login enrolls again) and closes their sessions, as POST
// /user/reset-mfa with 2FA and then WEBAUTHN: whoever lost the authenticator
// app or the passkeys gets back in.
func (s *Service) OperatorResetMFA(ctx context.Context, email string) (*mfad.User, error) {
	u, err := s.OperatorUser(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := s.store.AdminResetTOTP(ctx, u.AccountID, []string{u.ID}, s.now()); err != nil {
		return nil, err
	}
	if err := s.store.AdminDeletePasskeys(ctx, u.AccountID, []string{u.ID}, s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventOperatorResetMFA, user: u, detail: "mfad user reset-mfa: 2FA secret and passkeys cleared; sessions closed"})
	return u, nil
}

// OperatorUnlock clears the lockout counter of the user's email.
func (s *Service) OperatorUnlock(ctx context.Context, email string) (*mfad.User, error) {
	u, err := s.OperatorUser(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := s.store.ResetThrottles(ctx, []string{emailKey(u.Email)}); err != nil {
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventOperatorUnlock, user: u, detail: "mfad user unlock"})
	return u, nil
}

// OperatorSetPassword sets the user's password (the password policy
// applies) and closes every session of the user.
func (s *Service) OperatorSetPassword(ctx context.Context, email, password string) (*mfad.User, error) {
	u, err := s.OperatorUser(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(password, u.Email, s.cfg.MaxPasswordLen); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, hashErr(err)
	}
	if err := s.store.SetPassword(ctx, u.ID, hash, nil, s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventOperatorSetPassword, user: u, detail: "mfad user set-password; sessions closed"})
	return u, nil
}
