package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
)

const userUsage = `Usage: mfad user <command> [flags]

Work on users directly in the database, also while servers run on it: the
way back in when the only admin has lost their authenticator or password.
Each change is recorded in the account's audit trail.

  mfad user list                      every user: email, name, id, admin, status, factors
  mfad user reset-mfa --email E       clear E's authenticator app and passkeys; the next login sets 2FA up again
  mfad user unlock --email E          lift the lockout of E
  mfad user set-password --email E    set E's password, read from the terminal (without
                                      echo) or from standard input, never from a flag

Flags of every command: --db and the database flags of "mfad serve" (see "mfad serve --help").
`

// user is "mfad user ...".
func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, userUsage)
		if len(args) == 0 {
			return usageError{"mfad user: a command is required"}
		}
		return nil
	}
	cmd := args[0]
	switch cmd {
	case "list", "reset-mfa", "unlock", "set-password":
	default:
		fmt.Fprint(stderr, userUsage)
		return usageError{fmt.Sprintf("mfad user: unknown command %q", cmd)}
	}
	f := newFlags("mfad user "+cmd, strings.SplitN(userUsage, "\n\n", 2)[1], getenv, stderr)
	dbf := addDBFlags(f)
	email := new(string)
	if cmd != "list" {
		email = f.String("email", "", "", "the user's email (required)")
	}
	if err := f.Parse(args[1:]); err != nil {
		if err == errHelp {
			return nil
		}
		return err
	}
	if cmd != "list" && *email == "" {
		return usageError{"--email is required"}
	}
	var password string
	if cmd == "set-password" {
		var err error
		if password, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	}
	store, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	// These commands neither seal nor open a TOTP secret: the key is not
	// needed.
	svc := auth.New(store, seal.NewBox(seal.Key{}), passhash.New(passhash.Default, runtime.NumCPU(), 0, time.Minute), auth.Config{})
	// The audit events go to the trail and, as log lines, to stderr.
	ctx = auth.WithLogger(ctx, slog.New(slog.NewTextHandler(stderr, nil)))
	var u *mfad.User
	switch cmd {
	case "list":
		return listUsers(ctx, store, stdout)
	case "reset-mfa":
		if u, err = svc.OperatorResetMFA(ctx, *email); err == nil {
			fmt.Fprintf(stdout, "%s: authenticator app and passkeys cleared, sessions closed; the next login sets 2FA up again\n", u.Email)
		}
	case "unlock":
		if u, err = svc.OperatorUnlock(ctx, *email); err == nil {
			fmt.Fprintf(stdout, "%s: unlocked\n", u.Email)
		}
	case "set-password":
		if u, err = svc.OperatorSetPassword(ctx, *email, password); err == nil {
			fmt.Fprintf(stdout, "%s: password set, sessions closed\n", u.Email)
		}
	}
	if err != nil {
		var e *mfad.Error
		if errors.As(err, &e) {
			return errors.New(e.Msg)
		}
		return err
	}
	return nil
}

// readPassword reads a new password: from the terminal without echo, twice,
// or the first line of standard input when it is not a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "New password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(p1), nil
	}
	if stdin == nil {
		return "", usageError{"set-password reads the password from the terminal or from standard input"}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// listUsers prints every user of every account.
func listUsers(ctx context.Context, store mfad.Store, stdout io.Writer) error {
	users, err := store.AllUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tID\tACCOUNT\tADMIN\tSTATUS\t2FA\tPIN")
	for _, u := range users {
		admin := "N"
		if u.SuperAdmin {
			admin = "Y"
		}
		totp := "off"
		switch {
		case u.TOTPSeal != nil:
			totp = "active"
		case u.Has2FA || u.Forced2FA:
			totp = "owed"
		}
		pin := "off"
		if u.HasPIN {
			pin = "active"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Name, u.ID, u.AccountID, admin, u.Status(), totp, pin)
	}
	return tw.Flush()
}
