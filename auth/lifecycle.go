package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/mfad/mfad"
)

// Users over their life: a user's own password change, and what admins
// change of users (edit, disable, demote, unlock).

var errWrongPassword = mfad.Errorf(mfad.CodeWrongPassword, "the current password is wrong")

// SetPassword changes the caller's password: current must be the password
// they have, next must pass the password policy. A wrong current password
// counts as a failed attempt on the email (the lockout applies, then 429),
// like a wrong password at login. Success closes every other session of
// the user; the caller's stays. It returns the user's email.
func (s *Service) SetPassword(ctx context.Context, id *Identity, current, next string) (string, error) {
	if err := RequireFull(id); err != nil {
		return "", err
	}
	u := id.User
	if err := CheckPassword(next, u.Email, s.cfg.MaxPasswordLen); err != nil {
		return "", err
	}
	at := s.newAttempt(ctx, s.now())
	defer at.settle()
	ekey := emailKey(u.Email)
	if retry, err := at.reserve(ekey, s.cfg.EmailThrottle); err != nil {
		return "", err
	} else if retry > 0 {
		at.refused()
		s.audit(ctx, event{name: mfad.EventLocked, step: "password", failure: true, user: u, detail: "password change"})
		return "", tooMany(retry)
	}
	ok := false
	if current != "" && len(current) <= s.cfg.MaxPasswordLen {
		var err error
		if ok, err = s.hasher.Verify(ctx, u.PasswordHash, current); err != nil {
			return "", hashErr(err) // no verdict: taken back
		}
	}
	if !ok {
		s.audit(ctx, at.failed(event{name: mfad.EventPasswordWrong, step: "password", failure: true, user: u, detail: "wrong current password"})...)
		return "", errWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return "", hashErr(err)
	}
	if err := s.store.SetPassword(ctx, u.ID, hash, id.Session.Hash, at.now); err != nil {
		return "", err
	}
	at.release(ekey) // the right password: its attempt is taken back
	s.audit(ctx, event{name: mfad.EventPasswordSet, user: u, detail: "other sessions closed"})
	return u.Email, nil
}

// AdminEditUsers applies e to users of the admin's account, to all of
// them or to none: a name, an email (one user at a time), admin rights,
// the status. Disabling closes the users' sessions; a demoted or disabled
// user loses those rights on their very next request, since every request
// reads the user afresh. An admin cannot demote or disable themself, so an
// account always keeps an admin.
func (s *Service) AdminEditUsers(ctx context.Context, a Admin, ids []string, e mfad.UserEdit) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	if e.Name == nil && e.Email == nil && e.SuperAdmin == nil && e.Disabled == nil {
		return mfad.Errorf(mfad.CodeInvalid, "name, email, super_admin or status: at least one is required")
	}
	if e.Name != nil {
		if err := ValidName(*e.Name); err != nil {
			return err
		}
		name := strings.TrimSpace(*e.Name)
		e.Name = &name
	}
	if e.Email != nil {
		if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 1 {
			return mfad.Errorf(mfad.CodeInvalid, "email: can be changed for exactly one user at a time")
		}
		email := strings.TrimSpace(*e.Email)
		if err := validNewEmail(email); err != nil {
			return err
		}
		e.Email = &email
	}
	if (e.SuperAdmin != nil && !*e.SuperAdmin) || (e.Disabled != nil && *e.Disabled) {
		if slices.Contains(ids, admin.ID) {
			return mfad.Errorf(mfad.CodeCannotDeleteSelf, "an admin cannot demote or disable their own user; nothing was changed")
		}
	}
	if err := s.adminErr(s.store.EditUsers(ctx, admin.AccountID, ids, e, s.now())); err != nil {
		return err
	}
	var changed []string
	if e.Name != nil {
		changed = append(changed, "name")
	}
	if e.Email != nil {
		changed = append(changed, "email")
	}
	if e.SuperAdmin != nil {
		changed = append(changed, "super_admin "+map[bool]string{true: "Y", false: "N"}[*e.SuperAdmin])
	}
	if e.Disabled != nil {
		st := mfad.StatusActive
		if *e.Disabled {
			st = mfad.StatusDisabled + "; sessions closed"
		}
		changed = append(changed, "status "+st)
	}
	s.audit(ctx, event{name: mfad.EventUserEdited, actor: admin, targets: ids, detail: strings.Join(changed, ", ")})
	return nil
}

// AdminUnlock clears the lockout counters of the emails of users of the
// admin's account; an id that is not such a user fails the whole call.
func (s *Service) AdminUnlock(ctx context.Context, a Admin, ids []string) error {
	admin, err := a.user()
	if err != nil {
		return err
	}
	users, err := s.store.Users(ctx, admin.AccountID)
	if err != nil {
		return err
	}
	byID := make(map[string]*mfad.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		u, ok := byID[id]
		if !ok {
			return errUnknownIDs
		}
		keys = append(keys, emailKey(u.Email))
	}
	if err := s.store.ResetThrottles(ctx, keys); err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventUserUnlocked, actor: admin, targets: ids, detail: "lockout counters cleared"})
	return nil
}
