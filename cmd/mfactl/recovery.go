package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mfad/mfad/client"
)

// lowRecoveryCodes: at this many recovery codes left or fewer, with 2FA on,
// status warns.
const lowRecoveryCodes = 2

// alreadyUsed is the line shown when the server refused a TOTP code as one
// already used; the question is asked again.
const alreadyUsed = "This code was already used: wait for the next one from your authenticator app (a new one every 30 seconds)."

// plural is n and the noun, in the plural unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// timeLeft words seconds left to do something, never more than there is:
// "15 minutes", "1 minute", "42 seconds".
func timeLeft(secs int64) string {
	if secs < 60 {
		return plural(max(secs, 0), "second")
	}
	return plural(secs/60, "minute")
}

// lockedFor words how long an email is locked, in whole minutes rounded
// up, as the server does: "15 minutes".
func lockedFor(d time.Duration) string {
	return plural(int64((d+time.Minute-1)/time.Minute), "minute")
}

// lockedSaid is the error for the wrong code that locked the email: it
// says so and for how long, and keeps err for the exit status (locked
// out).
func lockedSaid(err error) error {
	return said{"too many wrong codes: this email is locked for " + lockedFor(client.LockedFor(err)) + "; log in again after that", err}
}

// showTimeLeft says how long is left to confirm a pending secret.
func (a *app) showTimeLeft(e *client.TwoFAGenerateResp, again string) {
	fmt.Fprintf(a.stderr, "Time left to confirm this secret with a code: %s (%s).\n", timeLeft(e.ExpiresIn), again)
}

// has2FA reports whether 2FA is among the factors on.
func has2FA(methods []client.AuthType) bool { return slices.Contains(methods, client.TwoFA) }

// hasPasskeys reports whether the user has passkeys (WEBAUTHN among the
// factors on).
func hasPasskeys(methods []client.AuthType) bool { return slices.Contains(methods, client.WebAuthn) }

// factorState is a factor's state in a user list: "active", "pending
// enrollment" or "off", from mfa_status; from auth_methods ("on", "off")
// when the server does not send mfa_status.
func factorState(u client.UserResp, t client.AuthType) string {
	if u.MFAStatus == nil {
		if slices.Contains(u.AuthMethods, t) {
			return "on"
		}
		return "off"
	}
	switch s := u.MFAStatus[string(t)]; s {
	case client.FactorPendingEnrollment:
		return "pending enrollment"
	case "":
		return "-"
	default:
		return strings.ReplaceAll(s, "_", " ")
	}
}

// confirm asks a yes-or-no question: on a terminal, or as a line of
// standard input. Only y or yes (any case) is a yes.
func (a *app) confirm(question string) (bool, error) {
	answer, err := a.readLine(question + " [y/N] ")
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// recoveryCodes is "mfactl recovery-codes": a new set of recovery codes,
// shown once. When codes are left, which the new set voids, it asks first
// unless --yes.
func (a *app) recoveryCodes(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("recovery-codes", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "replace the recovery codes left without asking")
	if _, err := parseFlags(fs, args, a.stderr, 0, ""); err != nil {
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
	if left := int64(p.RecoveryCodesLeft); left > 0 && !*yes {
		ok, err := a.confirm(fmt.Sprintf("You have %s left; new codes replace them, and they stop working. Make new codes?", plural(left, "recovery code")))
		if errors.Is(err, errNoInput) {
			return usageError{fmt.Sprintf("you have %s left, which new codes would void: answer y on a terminal, or give --yes; nothing was changed", plural(left, "recovery code"))}
		}
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not confirmed: nothing was changed; your %s still work", plural(left, "recovery code"))
		}
	}
	codes, err := c.RecoveryCodes(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string][]string{"codes": codes})
	}
	if has2FA(p.AuthMethods) || !hasPasskeys(p.AuthMethods) {
		fmt.Fprintln(a.stdout, "Your new recovery codes, shown this once; each works once, at login, in place of a code from your authenticator app:")
	} else {
		fmt.Fprintln(a.stdout, "Your new recovery codes, shown this once; each works once, at login, in place of your passkey:")
	}
	for _, code := range codes {
		fmt.Fprintln(a.stdout, "  "+code)
	}
	fmt.Fprintln(a.stdout, "Keep them somewhere safe, away from your phone. Any earlier codes no longer work.")
	if !has2FA(p.AuthMethods) && !hasPasskeys(p.AuthMethods) {
		fmt.Fprintln(a.stderr, "Note: 2FA is off; recovery codes serve at logins once it is on (\"mfactl 2fa enroll\").")
	}
	return nil
}
