package auth_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// fullLogin logs in a user who owes no factor.
func fullLogin(t *testing.T, svc *auth.Service, email, password string) *auth.Identity {
	t.Helper()
	ctx := context.Background()
	res, err := svc.PasswordLogin(ctx, email, password, "192.0.2.1")
	if err != nil || res.Step != mfad.StepNone {
		t.Fatalf("login %s: %+v, %v", email, res, err)
	}
	id, err := svc.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every admin operation of the service refuses a caller whose rights were
// not checked: only RequireAdmin makes an auth.Admin, it refuses a
// non-admin, and the zero Admin (all a caller without rights can pass) is
// refused by each operation, with nothing changed.
func TestAdminOperationsRefuseNonAdmins(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	admin, err := auth.RequireAdmin(fullLogin(t, svc, email, password))
	if err != nil {
		t.Fatalf("RequireAdmin of the account's admin: %v", err)
	}
	target, err := svc.CreateUser(ctx, admin, auth.NewUser{Name: "Plain", Email: "plain@example.com", Password: "plain password"})
	if err != nil {
		t.Fatal(err)
	}
	plain := fullLogin(t, svc, "plain@example.com", "plain password")
	if a, err := auth.RequireAdmin(plain); code(err) != mfad.CodeForbidden || a.Identity() != nil {
		t.Fatalf("RequireAdmin of a non-admin: %v, %+v; want code %d and no Admin", err, a, mfad.CodeForbidden)
	}

	var none auth.Admin // what RequireAdmin returned to the non-admin
	ids := []string{target.ID}
	calls := map[string]func(auth.Admin) error{
		"AuditTrail":     func(a auth.Admin) error { _, err := svc.AuditTrail(ctx, a, 0, 10); return err },
		"AdminSetMFA":    func(a auth.Admin) error { return svc.AdminSetMFA(ctx, a, ids, mfad.AuthPIN, "2468") },
		"AdminRemoveMFA": func(a auth.Admin) error { return svc.AdminRemoveMFA(ctx, a, ids, mfad.AuthPIN) },
		"AdminResetMFA":  func(a auth.Admin) error { return svc.AdminResetMFA(ctx, a, ids, mfad.AuthTOTP) },
		"CreateUser": func(a auth.Admin) error {
			_, err := svc.CreateUser(ctx, a, auth.NewUser{Name: "New", Email: "new@example.com", Password: "new password"})
			return err
		},
		"Users":       func(a auth.Admin) error { _, err := svc.Users(ctx, a); return err },
		"User":        func(a auth.Admin) error { _, err := svc.User(ctx, a, target.ID); return err },
		"DeleteUsers": func(a auth.Admin) error { return svc.DeleteUsers(ctx, a, ids) },
		"SetForce2FA": func(a auth.Admin) error { _, err := svc.SetForce2FA(ctx, a, true); return err },
		"AdminEditUsers": func(a auth.Admin) error {
			yes := true
			return svc.AdminEditUsers(ctx, a, ids, mfad.UserEdit{SuperAdmin: &yes})
		},
		"AdminUnlock": func(a auth.Admin) error { return svc.AdminUnlock(ctx, a, ids) },
	}
	// The table holds every method of the Service that takes an Admin.
	adminType := reflect.TypeFor[auth.Admin]()
	st := reflect.TypeOf(svc)
	for i := range st.NumMethod() {
		m := st.Method(i)
		takes := false
		for j := range m.Type.NumIn() {
			takes = takes || m.Type.In(j) == adminType
		}
		if _, listed := calls[m.Name]; takes != listed {
			t.Errorf("Service.%s takes an Admin: %v; in this test's table: %v", m.Name, takes, listed)
		}
	}
	for name, call := range calls {
		if err := call(none); code(err) != mfad.CodeForbidden {
			t.Errorf("%s with the Admin of a non-admin: %v, want code %d", name, err, mfad.CodeForbidden)
		}
	}
	// Nothing changed.
	users, err := svc.Users(ctx, admin)
	if err != nil || len(users) != 2 {
		t.Fatalf("users after the refused calls: %d, %v; want 2", len(users), err)
	}
	u, err := svc.User(ctx, admin, target.ID)
	if err != nil || u.HasPIN || u.ForcedPIN || u.SuperAdmin {
		t.Fatalf("the target after the refused calls: %+v, %v", u, err)
	}
	if acct, err := svc.Account(ctx, admin.Identity()); err != nil || acct.Forced2FA {
		t.Fatalf("the account after the refused calls: %+v, %v", acct, err)
	}
	// The same calls with the admin's own Admin succeed.
	for _, name := range []string{"AuditTrail", "Users", "User", "AdminSetMFA", "AdminRemoveMFA"} {
		if err := calls[name](admin); err != nil {
			t.Errorf("%s by the admin: %v", name, err)
		}
	}
}
