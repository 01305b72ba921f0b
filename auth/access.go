package auth

import "github.com/mfad/mfad"

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

// RequireSignedIn fails unless id is a full session of a user who owes no
// factor now: forward auth lets only such a browser through. A user made to
// enroll 2FA after signing in owes it from that moment on.
func RequireSignedIn(id *Identity) error {
	if err := RequireFull(id); err != nil {
		return err
	}
	if owed(id.User, id.Account) == mfad.StepEnroll {
		return mfad.Errorf(mfad.CodeFactorRequired, "2FA is now required of this user and not set up yet: sign in again to set it up")
	}
	return nil
}
