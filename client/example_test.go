package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
)

// exampleServer starts a real mfad server for an example: account A with its
// admin, on a database in a temporary directory that stop removes.
func exampleServer() (srv *testserver.Server, stop func()) {
	dir, err := os.MkdirTemp("", "mfad-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, stopServer, err := testserver.New(dir, testserver.Options{})
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	return srv, func() {
		stopServer()
		os.RemoveAll(dir)
	}
}

// exampleAdmin is a client logged in as account A's admin.
func exampleAdmin(ctx context.Context, url string) *client.Client {
	admin, err := client.New(url)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := admin.SessionLoginGet(ctx, testserver.AdminEmail, testserver.AdminPassword); err != nil {
		log.Fatal(err)
	}
	return admin
}

// A user turns on a PIN, then logs in: Login asks the prompt for the PIN.
func ExampleClient_Login() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	admin := exampleAdmin(ctx, srv.URL)
	if _, err := admin.UserCreate(ctx, client.UserCreateReq{Name: "Alice", Email: "alice@example.com", Password: "alice-password"}); err != nil {
		log.Fatal(err)
	}

	// Alice turns on a PIN for herself.
	alice, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := alice.SessionLoginGet(ctx, "alice@example.com", "alice-password"); err != nil {
		log.Fatal(err)
	}
	if _, err := alice.ProfileSetMfaPost(ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: "4321"}); err != nil {
		log.Fatal(err)
	}

	// From now on her logins owe the PIN.
	c, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Login(ctx, "alice@example.com", "alice-password",
		func(ctx context.Context, step client.MfaCode, _ *client.TwoFAGenerateResp, retry int) (string, error) {
			fmt.Printf("Mfa-Code %d: %s\n", step, step)
			return "4321", nil // a real program asks the user
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in")
	// Output:
	// Mfa-Code 2: PIN
	// logged in
}

// A logged-in user enrolls 2FA: confirm gets the new secret (to show as a QR
// code) and returns a code from the user's authenticator app.
func ExampleClient_Enroll() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c := exampleAdmin(ctx, srv.URL)
	err := c.Enroll(ctx, func(ctx context.Context, secret *client.TwoFAGenerateResp) (string, error) {
		// A real program shows secret.QR or secret.URI and asks the user for
		// the code their app shows; here the test server computes it.
		return srv.CodeAt(secret.Secret, 0)
	})
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.Profile(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.AuthMethods)
	// Output:
	// [2FA]
}

// A user with 2FA makes recovery codes, shown this once, and logs in with
// one in place of a code from the authenticator app: Login sends an answer
// that is not 6 digits as a recovery code.
func ExampleClient_RecoveryCodes() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c := exampleAdmin(ctx, srv.URL)
	if err := c.Enroll(ctx, func(ctx context.Context, secret *client.TwoFAGenerateResp) (string, error) {
		return srv.CodeAt(secret.Secret, 0)
	}); err != nil {
		log.Fatal(err)
	}
	codes, err := c.RecoveryCodes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(codes), "codes; keep them safe") // a real program shows them

	lost, err := client.New(srv.URL) // the phone is lost
	if err != nil {
		log.Fatal(err)
	}
	if _, err := lost.Login(ctx, testserver.AdminEmail, testserver.AdminPassword,
		func(context.Context, client.MfaCode, *client.TwoFAGenerateResp, int) (string, error) {
			return codes[0], nil
		}); err != nil {
		log.Fatal(err)
	}
	p, err := lost.Profile(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.RecoveryCodesLeft, "left")
	// Output:
	// 10 codes; keep them safe
	// 9 left
}

// An admin forces 2FA on a user: the user enrolls at their next login.
func ExampleClient_UserSetMfaPost() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	admin := exampleAdmin(ctx, srv.URL)
	bob, err := admin.UserCreate(ctx, client.UserCreateReq{Name: "Bob", Email: "bob@example.com", Password: "bob-password"})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := admin.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: []string{bob.ID}, AuthType: client.TwoFA})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	u, err := admin.UserMetadata(ctx, bob.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.ForcedAuth, u.MFAStatus[string(client.TwoFA)] == client.FactorPendingEnrollment)
	// Output:
	// success
	// [2FA] true
}

// Errors are *APIError values: test them with errors.Is against the
// sentinels, or read the status and code with errors.As.
func ExampleAPIError() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.SessionLoginGet(ctx, testserver.AdminEmail, "not-the-password")
	fmt.Println(errors.Is(err, client.ErrUnauthorized))
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Code == client.CodeBadCredentials)
	}
	// Output:
	// true
	// 401 11 true
}

// An admin finds a user by email and disables them: their sessions close
// and their logins fail as a wrong password would, until they are enabled.
func ExampleClient_EditUsers() {
	srv, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	admin := exampleAdmin(ctx, srv.URL)
	if _, err := admin.UserCreate(ctx, client.UserCreateReq{Name: "Bob", Email: "bob@example.com", Password: "bob-password"}); err != nil {
		log.Fatal(err)
	}
	bob, err := admin.UserByEmail(ctx, "Bob@Example.com")
	if err != nil {
		log.Fatal(err)
	}
	disabled := true
	if _, err := admin.EditUsers(ctx, []string{bob.ID}, client.UserEdit{Disabled: &disabled}); err != nil {
		log.Fatal(err)
	}
	if bob, err = admin.UserMetadata(ctx, bob.ID); err != nil {
		log.Fatal(err)
	}
	fmt.Println(bob.Status == client.StatusDisabled)
	_, err = admin.UserByEmail(ctx, "carol@example.com")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// true
	// true
}
