package auth

import (
	"context"
	"errors"

	"github.com/mfad/mfad"
)

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
	if t == mfad.AuthWebAuthn {
		err = s.store.AdminDeletePasskeys(ctx, admin.AccountID, ids, s.now())
	} else {
		err = s.store.AdminRemoveFactor(ctx, admin.AccountID, ids, t, s.now())
	}
	if err := s.adminErr(err); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventAdminRemoveMFA, actor: admin, targets: ids, detail: string(t)})
	return nil
}

// AdminResetMFA clears the TOTP secrets (t "2FA") or the passkeys (t
// "WEBAUTHN") of users of the admin's account, keeping 2FA on: their next
// login owes what their other factors owe (enrollment when nothing is
// left). Resetting 2FA leaves passkeys alone.
func (s *Service) AdminResetMFA(ctx context.Context, a Admin, ids []string, t mfad.AuthType) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	detail := "2FA secret cleared; sessions closed"
	if t == mfad.AuthWebAuthn {
		err, detail = s.store.AdminDeletePasskeys(ctx, admin.AccountID, ids, s.now()), "passkeys deleted; sessions closed"
	} else {
		err = s.store.AdminResetTOTP(ctx, admin.AccountID, ids, s.now())
	}
	if err := s.adminErr(err); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventAdminResetMFA, actor: admin, targets: ids, detail: detail})
	return nil
}

func (s *Service) adminErr(err error) error {
	switch {
	case errors.Is(err, mfad.ErrUnknownIDs):
		return errUnknownIDs
	case errors.Is(err, mfad.ErrForced):
		return mfad.Errorf(mfad.CodeFactorForced, "the account forces 2FA: turn that off in the settings first; nothing was changed")
	case errors.Is(err, mfad.ErrEmailTaken):
		return mfad.Errorf(mfad.CodeEmailTaken, "email already taken; nothing was changed")
	}
	return err
}
