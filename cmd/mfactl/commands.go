package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/mfad/mfad/client"
)

// showEnrollment prints what an authenticator app needs: the QR code, the
// secret to type by hand, and the otpauth URI.
func (a *app) showEnrollment(e *client.TwoFAGenerateResp) {
	if qr, err := qrcode.New(e.URI, qrcode.Medium); err == nil {
		fmt.Fprintln(a.stderr, "Scan this QR code with your authenticator app:")
		fmt.Fprint(a.stderr, qr.ToSmallString(false))
	}
	fmt.Fprintf(a.stderr, "Or add this secret by hand: %s\nURI: %s\n", e.Secret, e.URI)
}

// askEmail is the --email flag's value, or, when it was not given, the
// email asked for.
func (a *app) askEmail(flagged string) (string, error) {
	if flagged != "" {
		return flagged, nil
	}
	return a.readLine("Email: ")
}

func (a *app) login(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	email := fs.String("email", "", "the email to log in with (asked when not given)")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	if *email, err = a.askEmail(*email); err != nil {
		return err
	}
	password, err := a.readSecret("Password: ")
	if err != nil {
		return err
	}
	if err := a.loginSteps(ctx, c, *email, password); err != nil {
		return err
	}
	if err := a.saveSession(c.SessionID()); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"logged_in": true, "email": *email, "server": a.server})
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as %s.\n", a.server, *email)
	return nil
}

// loginSteps sends the password, then asks for each factor the server
// says is owed and sends it, until the session is full. What is typed is
// checked first: a code or PIN that cannot be right is refused and asked
// again without being sent. A wrong one (or a code already used) is asked
// again until the server closes the limited session or locks the email
// out.
func (a *app) loginSteps(ctx context.Context, c *client.Client, email, password string) error {
	step, err := c.PasswordLogin(ctx, email, password)
	if err != nil {
		return err
	}
	var enrollment *client.TwoFAGenerateResp // shown once, kept across retries
	for step.MfaCode != client.MfaNone {
		var f factor
		switch step.MfaCode {
		case client.MfaTOTP:
			f, err = a.askFactor("Authentication code (6 digits) or a recovery code: ", false, totpOrRecovery)
		case client.MfaPIN:
			f, err = a.askFactor("PIN: ", true, pinOnly)
		case client.MfaEnroll:
			if enrollment == nil {
				if enrollment, err = c.Profile2FAGenerate(ctx); err != nil {
					return err
				}
				fmt.Fprintln(a.stderr, "Your account requires 2FA: enroll an authenticator app now.")
				a.showEnrollment(enrollment)
				a.showTimeLeft(enrollment, "logging in again shows this same secret until then")
			}
			f, err = a.askFactor("Code from your authenticator app: ", false, totpOnly)
		case client.MfaPasskey:
			f, err = a.askPasskeyStep(ctx, c, step)
		default:
			return fmt.Errorf("the server asks for a login step this mfactl does not know (step %d): a newer mfactl may know it", step.MfaCode)
		}
		if err != nil {
			return err
		}
		next, err := c.SecondFactor(ctx, client.SessionLoginPostResp{AuthType: f.Type, Code: f.Code})
		switch {
		case err == nil:
			if f.Type == client.Recovery {
				fmt.Fprintln(a.stderr, "Recovery code accepted; it cannot be used again.")
			}
			step = next
		case client.LockedFor(err) > 0:
			return lockedSaid(err)
		case client.SessionClosed(err):
			return err
		case client.CodeAlreadyUsed(err):
			fmt.Fprintln(a.stderr, alreadyUsed)
		case errors.Is(err, client.ErrWrongCode):
			fmt.Fprintln(a.stderr, wrongAgain(f.Type, err))
		case f.Type == client.Recovery && errors.Is(err, client.ErrInvalid):
			// A server without recovery codes refuses the factor.
			fmt.Fprintln(a.stderr, "This server does not take recovery codes: give the code from your authenticator app.")
		case step.MfaCode == client.MfaEnroll && isNoPending(err):
			return said{"the secret shown expired before a code for it was sent; run \"mfactl login\" again for a new one", err}
		default:
			return err
		}
	}
	return nil
}

// wrongAgain is the line shown when the server refused a code as wrong:
// the server's reason when it gives more than "wrong code".
func wrongAgain(t client.AuthType, err error) string {
	what := "code"
	switch t {
	case client.PIN:
		what = "PIN"
	case client.Recovery:
		what = "recovery code, or one already used"
	}
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Msg != "" && ae.Msg != "wrong code" {
		return fmt.Sprintf("Wrong %s: %s. Try again.", what, strings.TrimSuffix(ae.Msg, "."))
	}
	return fmt.Sprintf("Wrong %s, try again.", what)
}

// isNoPending reports whether err is the server's answer to a code for a
// 2FA secret that is no longer pending (it expired).
func isNoPending(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && ae.Code == client.CodeEnrollment && strings.HasPrefix(ae.Msg, "no pending 2FA secret")
}

func (a *app) logout(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("logout", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if errors.Is(err, errNotLoggedIn) {
		// Nothing usable is saved (or the file is damaged): make sure of it.
		if ferr := a.forgetSession(); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return err
	}
	// A session the server no longer knows is as good as closed.
	if err := c.SessionLogout(ctx); err != nil && !errors.Is(err, client.ErrUnauthorized) {
		return err
	}
	if err := a.forgetSession(); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"logged_in": false})
	}
	fmt.Fprintln(a.stdout, "Logged out.")
	return nil
}

func methods(m []client.AuthType) string {
	if len(m) == 0 {
		return "-"
	}
	s := make([]string, len(m))
	for i, v := range m {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

func (a *app) status(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("status", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	p, err := c.Profile(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"server": a.server, "profile": p})
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Server:\t%s\nEmail:\t%s\nName:\t%s\nAdmin:\t%s\nFactors:\t%s\nForced:\t%s\nRecovery codes:\t%d left\n",
		a.server, p.Email, p.Name, yesNo(p.SuperAdmin), methods(p.AuthMethods), methods(p.ForcedAuth), p.RecoveryCodesLeft)
	if err := w.Flush(); err != nil {
		return err
	}
	if (has2FA(p.AuthMethods) || hasPasskeys(p.AuthMethods)) && p.RecoveryCodesLeft <= lowRecoveryCodes {
		left := "no recovery codes left"
		if p.RecoveryCodesLeft > 0 {
			left = "only " + plural(int64(p.RecoveryCodesLeft), "recovery code") + " left"
		}
		without := "without your authenticator app you could not log in"
		if !has2FA(p.AuthMethods) {
			without = "without your passkey you could not log in, and mfactl logs in only with a recovery code in its place"
		}
		fmt.Fprintf(a.stderr, "Warning: %s: %s; run \"mfactl recovery-codes\" for a new set.\n", left, without)
	}
	return nil
}

func yesNo(yn string) string {
	if yn == "Y" {
		return "yes"
	}
	return "no"
}

// enroll is "mfactl 2fa enroll": it shows the pending secret (the same one
// on every run while it is pending, so that one already added to an app
// stays good; --new for a new one) and the time left to confirm it, and
// confirms it with a code. A code already used is asked again.
func (a *app) enroll(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("2fa enroll", flag.ContinueOnError)
	fresh := fs.Bool("new", false, "make a new secret, replacing the one pending (when the one shown was lost)")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	generate := c.Profile2FAGenerate
	if *fresh {
		generate = c.Profile2FAGenerateNew
	}
	e, err := generate(ctx)
	if err != nil {
		return err
	}
	a.showEnrollment(e)
	a.showTimeLeft(e, `"mfactl 2fa enroll" shows this same secret until then; --new makes a new one`)
	for {
		f, err := a.askFactor("Code from your authenticator app: ", false, totpOnly)
		if err != nil {
			return err
		}
		_, err = c.ProfileSetMfaPost(ctx, client.ProfileSetMfaReq{AuthType: client.TwoFA, Code: f.Code})
		var ae *client.APIError
		switch {
		case err == nil:
			return a.done("2FA is on; your other sessions were closed.")
		case client.CodeAlreadyUsed(err):
			fmt.Fprintln(a.stderr, alreadyUsed)
			continue
		case isNoPending(err):
			return said{"the secret shown expired before a code for it was sent; run \"mfactl 2fa enroll\" again for a new one", err}
		case errors.As(err, &ae) && ae.Code == client.CodeEnrollment:
			return said{strings.TrimSuffix(ae.Msg, ".") + `; run "mfactl 2fa enroll" again to give another code (the same secret, while it is pending)`, err}
		}
		return err
	}
}

// done prints a success line, or {"status":"success"} with --json.
func (a *app) done(msg string) error {
	if a.json {
		return a.printJSON(client.ProfileRemoveMfaResp{Status: "success"})
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

// newPIN asks for a PIN twice. A PIN the server cannot take is refused at
// once, before it is asked again or sent.
func (a *app) newPIN(prompt string) (string, error) {
	return a.newSecret(prompt, "Repeat the PIN: ", "PINs", true, func(pin string) error {
		if !validPIN(pin) {
			return usageError{shapePIN + "; nothing was sent"}
		}
		return nil
	})
}

// newSecret asks for a new secret with prompt, then again with again (what
// names the two when they differ). Unless always, it asks once only when it
// reads standard input rather than a terminal. check, if not nil, may
// refuse the first answer.
func (a *app) newSecret(prompt, again, what string, always bool, check func(string) error) (string, error) {
	secret, err := a.readSecret(prompt)
	if err == nil && check != nil {
		err = check(secret)
	}
	if err != nil || (!always && a.inFile == nil) {
		return secret, err
	}
	repeat, err := a.readSecret(again)
	if err != nil {
		return "", err
	}
	if secret != repeat {
		return "", fmt.Errorf("the two %s differ; nothing was changed", what)
	}
	return secret, nil
}

func (a *app) pinSet(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("pin set", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	pin, err := a.newPIN("New PIN (4 to 12 digits): ")
	if err != nil {
		return err
	}
	a.fields = map[string]string{"code": "PIN"}
	if _, err := c.ProfileSetMfaPost(ctx, client.ProfileSetMfaReq{AuthType: client.PIN, Code: pin}); err != nil {
		return err
	}
	return a.done("PIN is set; your other sessions were closed.")
}

// parseAuthType reads a factor named on the command line, in any case:
// 2FA, 2fa, PIN, pin, Pin.
func parseAuthType(s string) (client.AuthType, error) {
	switch t := client.AuthType(strings.ToUpper(s)); t {
	case client.TwoFA, client.PIN:
		return t, nil
	}
	return "", usageError{fmt.Sprintf("factor %q: use 2FA or PIN", s)}
}

// parseRemovable reads a factor an admin may remove: 2FA, PIN, or a
// user's passkeys (WEBAUTHN, also "passkeys"), in any case.
func parseRemovable(s string) (client.AuthType, error) {
	switch strings.ToUpper(s) {
	case string(client.WebAuthn), "PASSKEY", "PASSKEYS":
		return client.WebAuthn, nil
	}
	t, err := parseAuthType(s)
	if err != nil {
		return "", usageError{fmt.Sprintf("factor %q: use 2FA, PIN or WEBAUTHN (passkeys)", s)}
	}
	return t, nil
}

func (a *app) mfaRemove(ctx context.Context, args []string) error {
	rest, err := parseFlags(flag.NewFlagSet("mfa remove", flag.ContinueOnError), args, a.stderr, 1, "2FA|PIN")
	if err != nil {
		return err
	}
	t, err := parseAuthType(rest[0])
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if _, err := c.ProfileRemoveMfaPost(ctx, client.ProfileRemoveMfaReq{AuthType: t}); err != nil {
		return err
	}
	return a.done(fmt.Sprintf("%s is off.", t))
}

// ---- admin

func (a *app) printUsers(users []client.UserResp) error {
	if a.json {
		return a.printJSON(users)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tNAME\tADMIN\tSTATUS\t2FA\tPIN\tPASSKEYS\tFORCED\tLAST LOGIN")
	for _, u := range users {
		last := when(u.LastLogin)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, yesNo(u.SuperAdmin), status(u.Status),
			factorState(u, client.TwoFA), factorState(u, client.PIN), factorState(u, client.WebAuthn), methods(u.ForcedAuth), last)
	}
	return w.Flush()
}

// status is a user's status in words.
func status(s string) string {
	switch s {
	case client.StatusActive:
		return "active"
	case client.StatusDisabled:
		return "disabled"
	}
	return s
}

func (a *app) userList(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("user list", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	users, err := c.Users(ctx)
	if err != nil {
		return err
	}
	return a.printUsers(users)
}

func (a *app) userShow(ctx context.Context, args []string) error {
	rest, err := parseFlags(flag.NewFlagSet("user show", flag.ContinueOnError), args, a.stderr, 1, "ID")
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	u, err := c.UserMetadata(ctx, rest[0])
	if errors.Is(err, client.ErrNotFound) && apiCode(err) == client.CodeUserNotFound {
		return said{fmt.Sprintf("no user of your account has the id %s", rest[0]), err}
	}
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(u)
	}
	return a.printUsers([]client.UserResp{*u})
}

func (a *app) userCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	name := fs.String("name", "", "the user's name (required)")
	email := fs.String("email", "", "the user's email (required)")
	admin := fs.Bool("admin", false, "make the user an admin of the account")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	if *name == "" || *email == "" {
		return usageError{"--name and --email are required"}
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	password, err := a.readSecret(fmt.Sprintf("Password for %s: ", *email))
	if err != nil {
		return err
	}
	req := client.UserCreateReq{Name: *name, Email: *email, Password: password, SuperAdmin: "N"}
	if *admin {
		req.SuperAdmin = "Y"
	}
	u, err := c.UserCreate(ctx, req)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(u)
	}
	fmt.Fprintf(a.stdout, "Created user %s (%s).\n", u.ID, u.Email)
	return nil
}

// idsFlag reads --ids: ids separated by commas or spaces, or "-" for
// standard input.
func (a *app) ids(value string) ([]string, error) {
	if value == "-" {
		data, err := io.ReadAll(a.in)
		if err != nil {
			return nil, err
		}
		value = string(data)
	}
	ids := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	if len(ids) == 0 {
		return nil, usageError{"give at least one user id with --ids (or --ids - to read them from standard input)"}
	}
	return ids, nil
}

func (a *app) userDelete(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user delete", flag.ContinueOnError)
	idsValue := fs.String("ids", "", "user ids, comma-separated, or - for standard input")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	ids, err := a.ids(*idsValue)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	resp, err := c.UserDelete(ctx, client.IdsReq{IDs: ids})
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(resp)
	}
	fmt.Fprintf(a.stdout, "Deleted %d user(s).\n", len(resp.IDs))
	return nil
}

func (a *app) userMFA(ctx context.Context, op string, args []string) error {
	fs := flag.NewFlagSet("user "+op, flag.ContinueOnError)
	idsValue := fs.String("ids", "", "user ids, comma-separated, or - for standard input")
	typ := "2FA"
	switch op {
	case "set-mfa":
		fs.StringVar(&typ, "type", "", "the factor: 2FA or PIN (required)")
	case "remove-mfa":
		fs.StringVar(&typ, "type", "", "the factor: 2FA, PIN or WEBAUTHN (every passkey of theirs) (required)")
	}
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	parse := parseAuthType
	if op == "remove-mfa" {
		parse = parseRemovable
	}
	t, err := parse(typ)
	if err != nil {
		return err
	}
	// Ask for the PIN before reading ids from standard input.
	pin := ""
	if op == "set-mfa" && t == client.PIN {
		if *idsValue == "-" {
			return usageError{"--ids - cannot be used with --type PIN: the PIN is read from standard input"}
		}
		if pin, err = a.newPIN("PIN for the users (4 to 12 digits): "); err != nil {
			return err
		}
		a.fields = map[string]string{"code": "PIN"}
	}
	ids, err := a.ids(*idsValue)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	switch op {
	case "set-mfa":
		_, err = c.UserSetMfaPost(ctx, client.UserSetMfaReq{IDs: ids, AuthType: t, Code: pin})
	case "remove-mfa":
		_, err = c.UserRemoveMfaPost(ctx, client.UserRemoveMfaReq{IDs: ids, AuthType: t})
	case "reset-mfa":
		_, err = c.UserResetMfaPost(ctx, client.UserResetMfaReq{IDs: ids, AuthType: t})
	}
	if err != nil {
		return err
	}
	return a.done(fmt.Sprintf("Done for %d user(s).", len(ids)))
}

// ---- users over their life

// userFlags are the flags that name the users an admin command acts on:
// one user by email, or users by id.
type userFlags struct{ email, ids *string }

func newUserFlags(fs *flag.FlagSet) userFlags {
	return userFlags{
		email: fs.String("email", "", "the user's email"),
		ids:   fs.String("ids", "", "user ids, comma-separated, or - for standard input (instead of --email)"),
	}
}

// check refuses a command line that names no users, or names them twice.
func (f userFlags) check() error {
	switch {
	case *f.email != "" && *f.ids != "":
		return usageError{"give the user's --email or their --ids, not both"}
	case *f.email == "" && *f.ids == "":
		return usageError{"give the user's email with --email (or user ids with --ids)"}
	}
	return nil
}

// users returns the ids the flags name and, for --email, the user, found
// among the users of the admin's account.
func (a *app) users(ctx context.Context, c *client.Client, f userFlags) ([]string, *client.UserResp, error) {
	if *f.email == "" {
		ids, err := a.ids(*f.ids)
		return ids, nil, err
	}
	u, err := c.UserByEmail(ctx, *f.email)
	if err != nil {
		return nil, nil, err
	}
	return []string{u.ID}, u, nil
}

// who names the users acted on in a sentence.
func who(u *client.UserResp, ids []string) string {
	if u != nil {
		return fmt.Sprintf("user %s (%s)", u.ID, u.Email)
	}
	return fmt.Sprintf("%d user(s)", len(ids))
}

func (a *app) userEdit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user edit", flag.ContinueOnError)
	target := newUserFlags(fs)
	name := fs.String("name", "", "the new name")
	newEmail := fs.String("new-email", "", "the new email (of one user)")
	admin := fs.String("admin", "", "Y to make the user an admin, N to take it back")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	if err := target.check(); err != nil {
		return err
	}
	var edit client.UserEdit
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			edit.Name = name
		case "new-email":
			edit.Email = newEmail
		}
	})
	if *admin != "" {
		switch strings.ToUpper(*admin) {
		case "Y", "YES":
			edit.SuperAdmin = new(true)
		case "N", "NO":
			edit.SuperAdmin = new(false)
		default:
			return usageError{fmt.Sprintf("--admin %q: use Y or N", *admin)}
		}
	}
	if edit == (client.UserEdit{}) {
		return usageError{"nothing to change: give --name, --new-email or --admin"}
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	ids, u, err := a.users(ctx, c, target)
	if err != nil {
		return err
	}
	if edit.Email != nil && len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 1 {
		return usageError{"--new-email changes one user at a time"}
	}
	a.fields = map[string]string{"email": "new email", "name": "new name"}
	job, err := c.EditUsers(ctx, ids, edit)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]string{"job_id": job})
	}
	if u != nil && edit.Email != nil {
		fmt.Fprintf(a.stdout, "Changed user %s (%s, now %s).\n", u.ID, u.Email, strings.TrimSpace(*edit.Email))
		return nil
	}
	fmt.Fprintf(a.stdout, "Changed %s.\n", who(u, ids))
	return nil
}

// userSwitch is user disable, enable and unlock.
func (a *app) userSwitch(ctx context.Context, op string, args []string) error {
	fs := flag.NewFlagSet("user "+op, flag.ContinueOnError)
	target := newUserFlags(fs)
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	if err := target.check(); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	ids, u, err := a.users(ctx, c, target)
	if err != nil {
		return err
	}
	if op == "unlock" {
		if err := c.UnlockUsers(ctx, ids); err != nil {
			return err
		}
		return a.done(fmt.Sprintf("Unlocked %s.", who(u, ids)))
	}
	job, err := c.EditUsers(ctx, ids, client.UserEdit{Disabled: new(op == "disable")})
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]string{"job_id": job})
	}
	if op == "disable" {
		fmt.Fprintf(a.stdout, "Disabled %s; their sessions were closed.\n", who(u, ids))
	} else {
		fmt.Fprintf(a.stdout, "Enabled %s.\n", who(u, ids))
	}
	return nil
}

// ---- own password

// newPassword asks for a new password: twice on a terminal (where it
// cannot be seen), once from standard input.
func (a *app) newPassword() (string, error) {
	return a.newSecret("New password: ", "Repeat the new password: ", "new passwords", false, nil)
}

func (a *app) passwordChange(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("password change", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	current, err := a.readSecret("Current password: ")
	if err != nil {
		return err
	}
	next, err := a.newPassword()
	if err != nil {
		return err
	}
	// The policy's refusals name "password": here, the new one.
	a.fields = map[string]string{"password": "new password"}
	email, err := c.SetPassword(ctx, current, next)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]string{"email": email})
	}
	fmt.Fprintf(a.stdout, "Password changed for %s; your other sessions were closed.\n", email)
	return nil
}

func (a *app) passwordResetRequest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("password reset-request", flag.ContinueOnError)
	email := fs.String("email", "", "the email of your account (asked when not given)")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	if *email, err = a.askEmail(*email); err != nil {
		return err
	}
	*email = strings.TrimSpace(*email)
	if *email == "" {
		return usageError{"give the email of your account with --email"}
	}
	if err := c.RequestPasswordReset(ctx, *email); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string][]string{"email": {*email}})
	}
	fmt.Fprintf(a.stdout, "If a user has the email %s, a link to reset the password is on its way to it.\n", *email)
	return nil
}

func (a *app) printSettings(s *client.SettingsResp) error {
	if a.json {
		return a.printJSON(s)
	}
	on := "off"
	for _, m := range s.AuthMethods {
		if m == client.TwoFA {
			on = "on"
		}
	}
	fmt.Fprintf(a.stdout, "Account-wide 2FA: %s\n", on)
	return nil
}

func (a *app) settingsShow(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("settings show", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	s, err := c.Settings(ctx)
	if err != nil {
		return err
	}
	return a.printSettings(s)
}

func (a *app) settingsForce(ctx context.Context, args []string) error {
	rest, err := parseFlags(flag.NewFlagSet("settings force-2fa", flag.ContinueOnError), args, a.stderr, 1, "on|off")
	if err != nil {
		return err
	}
	req := client.SettingsSetReq{AuthMethods: []client.AuthType{}}
	switch strings.ToLower(rest[0]) {
	case "on":
		req.AuthMethods = append(req.AuthMethods, client.TwoFA)
	case "off":
	default:
		return usageError{fmt.Sprintf("settings force-2fa %q: use on or off", rest[0])}
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	s, err := c.SettingsSet(ctx, req)
	if err != nil {
		return err
	}
	return a.printSettings(s)
}
