package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
)

// accountCreate is "mfad account create": it writes through the store, so it
// works while a server runs on the same database.
func accountCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("mfad account create", "Create an account and its first admin.", getenv, stderr)
	dbf := addDBFlags(f)
	title := f.String("title", "MFAD_ACCOUNT_TITLE", "", "title of the account (required)")
	email := f.String("admin-email", "MFAD_ADMIN_EMAIL", "", "email of the account's admin (required)")
	password := f.String("admin-password", "MFAD_ADMIN_PASSWORD", "", "password of the account's admin: at least 8 characters, not the email, not a common password (required)")
	if err := f.Parse(args); err != nil {
		if err == errHelp {
			return nil
		}
		return err
	}
	if *title == "" || *email == "" || *password == "" {
		return usageError{"--title, --admin-email and --admin-password are required"}
	}
	store, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	// No TOTP secret is sealed here, so the key is not needed.
	svc := auth.New(store, seal.NewBox(seal.Key{}), passhash.New(passhash.Default, runtime.NumCPU(), 0, time.Minute), auth.Config{})
	a, u, err := svc.CreateAccount(ctx, *title, auth.NewUser{Name: *email, Email: *email, Password: *password})
	if err != nil {
		return fmt.Errorf("create account: %s", errText(err))
	}
	fmt.Fprintf(stdout, "account %s (%s) created with admin %s (%s)\n", a.ID, a.Title, u.ID, u.Email)
	return nil
}
