package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mfad/mfad"
)

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
	if err := validNewEmail(n.Email); err != nil {
		return err
	}
	return CheckPassword(n.Password, n.Email, maxPassword)
}

// validNewEmail checks an email a user is given: a valid address with no
// look-alike of an ASCII character in it.
func validNewEmail(email string) error {
	if err := ValidEmail(email); err != nil {
		return err
	}
	if r, ok := mfad.ASCIILookalike(email); ok {
		return mfad.Errorf(mfad.CodeInvalid, "email: %U is a variant of an ASCII character; write the plain character", r)
	}
	return nil
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
	if u.Passkeys > 0 {
		methods = append(methods, string(mfad.AuthWebAuthn))
	}
	if u.Forced2FA || (a != nil && a.Forced2FA) {
		forced = append(forced, string(mfad.AuthTOTP))
	}
	if u.ForcedPIN {
		forced = append(forced, string(mfad.AuthPIN))
	}
	return methods, forced
}

// The states of a factor in MFAStatus.
const (
	FactorActive  = "active"             // on, with its secret set up
	FactorPending = "pending_enrollment" // 2FA on or forced, no authenticator set up yet
	FactorOff     = "off"
)

// MFAStatus tells, per factor, what an admin needs to know beyond
// auth_methods (which lists 2FA as soon as it is on or forced): whether the
// user has set it up.
func MFAStatus(u *mfad.User, a *mfad.Account) map[string]string {
	st := map[string]string{string(mfad.AuthTOTP): FactorOff, string(mfad.AuthPIN): FactorOff, string(mfad.AuthWebAuthn): FactorOff}
	switch {
	case u.TOTPSeal != nil && (u.Has2FA || u.Forced2FA || (a != nil && a.Forced2FA)):
		st[string(mfad.AuthTOTP)] = FactorActive
	case u.Passkeys > 0:
		// 2FA, on or forced, is satisfied by the passkeys.
	case u.Has2FA || u.Forced2FA || (a != nil && a.Forced2FA):
		st[string(mfad.AuthTOTP)] = FactorPending
	}
	if u.HasPIN {
		st[string(mfad.AuthPIN)] = FactorActive
	}
	if u.Passkeys > 0 {
		st[string(mfad.AuthWebAuthn)] = FactorActive
	}
	return st
}
