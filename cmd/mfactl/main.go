// Command mfactl is the command-line client of mfad, built on the Go SDK
// (package client). Run "mfactl help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/mfad/mfad/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "mfactl:", message(err))
	}
	os.Exit(exitCode(err))
}

// Exit statuses, documented in docs/operations.md and in "mfactl help".
const (
	exitOK          = 0
	exitError       = 1 // any other failure (server error, network, bad answer)
	exitUsage       = 2 // a mistake on the command line
	exitAuth        = 3 // not logged in, session expired, wrong credentials or code
	exitForbidden   = 4 // admin rights required
	exitLockedOut   = 5 // too many attempts: try again after the time shown
	exitUnavailable = 6 // the server is busy or cannot reach its database
)

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errNotLoggedIn is returned when no saved session fits the server.
var errNotLoggedIn = errors.New(`not logged in: run "mfactl login" first`)

var errHelp = errors.New("help shown")

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case client.LockedFor(err) > 0: // the wrong code that locked the email
		return exitLockedOut
	case errors.Is(err, errNotLoggedIn), errors.Is(err, client.ErrUnauthorized), errors.Is(err, client.ErrWrongPassword),
		errors.Is(err, client.ErrPasskeyRequired):
		return exitAuth
	case errors.Is(err, client.ErrForbidden):
		return exitForbidden
	case errors.Is(err, client.ErrLockedOut):
		return exitLockedOut
	case errors.Is(err, client.ErrMailOff), errors.Is(err, client.ErrPasskeysOff): // a setting of the server: waiting does not help
		return exitError
	case errors.Is(err, client.ErrUnavailable):
		return exitUnavailable
	}
	return exitError
}

// message is what a person reads for err: the server's own message when it
// sent one, with the request's field it names in people's words.
func message(err error) string {
	var s said
	if errors.As(err, &s) {
		return s.msg
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ue.msg
	}
	var nf *client.UserNotFoundError
	if errors.As(err, &nf) {
		return fmt.Sprintf("no user of your account has the email %q", nf.Email)
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		msg := ae.Msg
		if ae.Code == client.CodeInvalid { // "ids[2]: not a UUID", ...
			var fe fieldsError
			errors.As(err, &fe)
			msg = inWords(msg, fe.words)
		}
		if ae.RetryAfter > 0 {
			msg += fmt.Sprintf(" (retry after %s)", ae.RetryAfter)
		}
		if errors.Is(err, client.ErrUnauthorized) && ae.Code == client.CodeUnauthenticated {
			msg += `; run "mfactl login"`
		}
		return msg
	}
	return err.Error()
}

// fieldsError carries what the command that failed calls the fields of its
// request, when they are not fieldWords.
type fieldsError struct {
	error
	words map[string]string
}

func (e fieldsError) Unwrap() error { return e.error }

// fieldWords are the fields of the API's requests as people call them.
var fieldWords = map[string]string{
	"ids":          "user ids",
	"id":           "user id",
	"code":         "code",
	"password":     "password",
	"new_password": "new password",
	"email":        "email",
	"name":         "name",
	"super_admin":  "admin rights",
	"status":       "status",
	"auth_type":    "factor",
	"auth_methods": "account-wide factors",
}

// fieldMsg is a server message about one field of the request, such as
// "ids[2]: not a UUID" or "code: a PIN is 4 to 12 ASCII digits".
var fieldMsg = regexp.MustCompile(`^([a-z][a-z_]*)(?:\[([0-9]+)\])?: (.+)$`)

// inWords rewrites a server message about a field so that it names the
// field as people do: "User id 3 refused: not a UUID", "PIN refused: a PIN
// is 4 to 12 ASCII digits". words, if not nil, overrides fieldWords.
func inWords(msg string, words map[string]string) string {
	m := fieldMsg.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	label, ok := words[m[1]]
	if !ok {
		if label, ok = fieldWords[m[1]]; !ok {
			label = strings.ReplaceAll(m[1], "_", " ")
		}
	}
	if m[2] != "" { // one item of a list: "user ids" [2] is "user id 3"
		i, _ := strconv.Atoi(m[2])
		label = fmt.Sprintf("%s %d", strings.TrimSuffix(label, "s"), i+1)
	}
	label = strings.ToUpper(label[:1]) + label[1:]
	if rest := m[3]; rest == "required" || strings.HasPrefix(rest, "required ") {
		return label + " is missing"
	}
	return label + " refused: " + m[3]
}

const usage = `mfactl: the command-line client of the mfad MFA server.

Usage: mfactl [global flags] <command> [flags]

Session:
  login [--email E]               log in (asks for the password and each code owed;
                                  a recovery code may stand in for a 2FA code or
                                  a passkey, which needs the web page)
  logout                          close the saved session
  status                          show who is logged in, their factors and
                                  recovery codes left
Own factors and password:
  2fa enroll [--new]              turn on 2FA: shows a QR code and the time left,
                                  asks for a code (the same secret while it is
                                  pending; --new for a new one)
  recovery-codes [--yes]          make 10 new recovery codes, shown once (asks
                                  first when codes are left, unless --yes)
  pin set                         set or change the PIN
  mfa remove 2FA|PIN              turn a factor off (unless forced)
  passkeys [--json]               list your passkeys
  passkeys rename ID NAME         rename one
  passkeys delete ID [--yes]      delete one (asks first, unless --yes)
  passkeys add                    (adding a passkey needs a browser: the web page)
  password change                 change the password (asks the current and the new one)
  password reset-request [--email E]
                                  forgot it: mail a reset link (no login needed)
Admin:
  user list | show ID | create | delete --ids ...
  user set-mfa --type 2FA|PIN --ids ...     (PIN asks for the PIN)
  user remove-mfa --type 2FA|PIN|WEBAUTHN --ids ...  (WEBAUTHN: all their passkeys)
  user reset-mfa --ids ...
  user edit --email E [--name N] [--new-email X] [--admin Y|N]
  user disable | enable | unlock --email E
  settings show | settings force-2fa on|off
Other:
  version                         show the version of mfactl (also --version)
  help                            show this help
Ids are comma- or space-separated; "--ids -" reads them from standard input.
User edit, disable, enable and unlock take the user's email (--email) or
their ids (--ids). Factor names (2FA, PIN, WEBAUTHN) may be written in any case.

A code from an authenticator app is 6 digits (spaces ignored), a PIN 4 to
12 digits: anything else is refused before it is sent, so a typing mistake
costs no attempt on the server. A passkey (WEBAUTHN) needs a web browser:
mfactl cannot log in with one, but a recovery code stands in for it.

Global flags (also accepted after the command):
  --server URL   the server (env MFACTL_SERVER, default http://127.0.0.1:8080)
  --json         print JSON for scripts instead of tables
  --timeout D    timeout of each request (default 30s)
  --version      show the version of mfactl

The session is kept in $MFACTL_CONFIG_DIR (default: the user's config
directory/mfactl) in session.json, mode 0600.

Exit status: 0 success, 1 error (also: cannot reach the server), 2 usage
(also: a code or PIN of the wrong shape; passkeys add), 3 not logged in or
wrong credentials/code/password (also: the login owes a passkey and no
recovery code was given), 4 admin rights required, 5 locked out (also:
too many wrong codes locked the email), 6 server unavailable.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	app, rest, err := newApp(args, getenv, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	defer func() {
		err = app.worded(err)
		if err != nil && app.fields != nil {
			err = fieldsError{err, app.fields}
		}
	}()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := rest[0], rest[1:]
	if l := strings.ToLower(cmd); l == "2fa" || l == "pin" { // factor names, in any case
		cmd = l
	}
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version", "-version":
		return app.version(rest)
	case "login":
		return app.login(ctx, rest)
	case "logout":
		return app.logout(ctx, rest)
	case "status":
		return app.status(ctx, rest)
	case "recovery-codes":
		return app.recoveryCodes(ctx, rest)
	case "2fa":
		if sub == "enroll" {
			return app.enroll(ctx, rest[1:])
		}
	case "pin":
		if sub == "set" {
			return app.pinSet(ctx, rest[1:])
		}
	case "mfa":
		if sub == "remove" {
			return app.mfaRemove(ctx, rest[1:])
		}
	case "passkeys", "passkey":
		return app.passkeys(ctx, rest)
	case "password":
		switch sub {
		case "change":
			return app.passwordChange(ctx, rest[1:])
		case "reset-request":
			return app.passwordResetRequest(ctx, rest[1:])
		}
	case "user":
		switch sub {
		case "list":
			return app.userList(ctx, rest[1:])
		case "show":
			return app.userShow(ctx, rest[1:])
		case "create":
			return app.userCreate(ctx, rest[1:])
		case "delete":
			return app.userDelete(ctx, rest[1:])
		case "set-mfa", "remove-mfa", "reset-mfa":
			return app.userMFA(ctx, sub, rest[1:])
		case "edit":
			return app.userEdit(ctx, rest[1:])
		case "disable", "enable", "unlock":
			return app.userSwitch(ctx, sub, rest[1:])
		}
	case "settings":
		switch strings.ToLower(sub) { // force-2FA as well
		case "show":
			return app.settingsShow(ctx, rest[1:])
		case "force-2fa":
			return app.settingsForce(ctx, rest[1:])
		}
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown or missing subcommand for %q", cmd)}
}
