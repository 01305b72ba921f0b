package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mfad/mfad/client"
)

// Passkeys need a web browser (WebAuthn): mfactl lists, renames and
// deletes the caller's passkeys, and sends people to the web page to add
// one or to log in with one.

// webPage is the address of the server's web page at fragment (such as
// "#/security"), from --server: the page is served at the API's address,
// unless a proxy puts it elsewhere (the server's public URL).
func (a *app) webPage(fragment string) string {
	return strings.TrimSuffix(strings.TrimRight(a.server, "/"), client.BasePath) + "/" + fragment
}

// askPasskeyStep answers the passkey step of a login (Mfa-Code 4), which
// mfactl cannot answer with the passkey: a recovery code stands in, when
// the user has some. Without one (none left, an empty line, the input
// ended) the login ends, its limited session closed, with where to log in
// with the passkey instead.
func (a *app) askPasskeyStep(ctx context.Context, c *client.Client, step *client.LoginStep) (factor, error) {
	page := a.webPage("")
	stop := func(why string) (factor, error) {
		_ = c.SessionLogout(ctx) // the limited session serves no more
		return factor{}, said{fmt.Sprintf("your account logs in with a passkey, which needs a web browser: log in on mfad's web page (%s); %s", page, why), client.ErrPasskeyRequired}
	}
	if step.Methods != nil && !slices.Contains(step.Methods, client.Recovery) {
		return stop("you have no recovery codes to use here instead")
	}
	if !a.passkeyNoted {
		a.passkeyNoted = true
		fmt.Fprintf(a.stderr, "Your account logs in with a passkey, which mfactl cannot use (it needs a web browser: mfad's web page, %s). One of your recovery codes works instead.\n", page)
	}
	f, err := a.askFactor("Recovery code (an empty line to stop): ", false, recoveryOnly)
	if errors.Is(err, errGiveUp) || errors.Is(err, errNoInput) {
		return stop("or run \"mfactl login\" again and give one of your recovery codes")
	}
	return f, err
}

// passkeyFields are what the passkey commands call their requests' fields.
var passkeyFields = map[string]string{"id": "passkey id", "name": "passkey name"}

// passkeys is "mfactl passkeys [list|delete|rename|add]".
func (a *app) passkeys(ctx context.Context, args []string) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	a.fields = passkeyFields
	switch sub {
	case "", "list":
		return a.passkeysList(ctx, args)
	case "delete":
		return a.passkeysDelete(ctx, args)
	case "rename":
		return a.passkeysRename(ctx, args)
	case "add":
		if _, err := parseFlags(flag.NewFlagSet("passkeys add", flag.ContinueOnError), args, a.stderr, -1, ""); err != nil {
			return err
		}
		return usageError{fmt.Sprintf("adding a passkey needs a web browser: open mfad's web page (%s, or the server's public URL), sign in, and press \"Add a passkey\" on the Security page", a.webPage("#/security"))}
	}
	return usageError{fmt.Sprintf("unknown passkeys command %q: use list, rename ID NAME, delete ID, or add", sub)}
}

// when is a time of the lists (a passkey's use, a user's last login):
// "never" for 0.
func when(unix int64) string {
	if unix == 0 {
		return "never"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC")
}

func (a *app) passkeysList(ctx context.Context, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("passkeys", flag.ContinueOnError), args, a.stderr, 0, ""); err != nil {
		return err
	}
	_, keys, err := a.ownPasskeys(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(keys)
	}
	if len(keys) == 0 {
		fmt.Fprintf(a.stdout, "You have no passkeys. Add one on mfad's web page: %s (Security page).\n", a.webPage("#/security"))
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tADDED\tLAST USED\tTRANSPORTS")
	for _, k := range keys {
		transports := strings.Join(k.Transports, ",")
		if transports == "" {
			transports = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, when(k.Created), when(k.LastUsed), transports)
	}
	return w.Flush()
}

// ownPasskeys returns a client with the saved session and the caller's
// passkeys.
func (a *app) ownPasskeys(ctx context.Context) (*client.Client, []client.Passkey, error) {
	c, err := a.client(true)
	if err != nil {
		return nil, nil, err
	}
	keys, err := c.Passkeys(ctx)
	return c, keys, err
}

// passkeyByID finds the caller's passkey id among keys.
func passkeyByID(keys []client.Passkey, id string) (client.Passkey, bool) {
	i := slices.IndexFunc(keys, func(k client.Passkey) bool { return strings.EqualFold(k.ID, strings.TrimSpace(id)) })
	if i < 0 {
		return client.Passkey{}, false
	}
	return keys[i], true
}

// errNoPasskey: the id given is none of the caller's passkeys.
func errNoPasskey(id string) error {
	return said{fmt.Sprintf("you have no passkey with the id %q; \"mfactl passkeys\" lists yours", id), client.ErrPasskeyNotFound}
}

func (a *app) passkeysDelete(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("passkeys delete", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "delete without asking")
	rest, err := parseFlags(fs, args, a.stderr, 1, "ID")
	if err != nil {
		return err
	}
	id := rest[0]
	c, keys, err := a.ownPasskeys(ctx)
	if err != nil {
		return err
	}
	k, ok := passkeyByID(keys, id)
	if !ok {
		return errNoPasskey(id)
	}
	if !*yes {
		question := fmt.Sprintf("Delete the passkey %q (%s)? You can no longer log in with it.", k.Name, k.ID)
		if len(keys) == 1 {
			question = fmt.Sprintf("Delete the passkey %q (%s), your last one? Logins will no longer ask for a passkey.", k.Name, k.ID)
		}
		ok, err := a.confirm(question)
		if errors.Is(err, errNoInput) {
			return usageError{fmt.Sprintf("deleting the passkey %q needs a yes: answer y on a terminal, or give --yes; nothing was deleted", k.Name)}
		}
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not confirmed: nothing was deleted; the passkey %q still works", k.Name)
		}
	}
	if err := c.DeletePasskey(ctx, k.ID); err != nil {
		if errors.Is(err, client.ErrPasskeyNotFound) {
			return errNoPasskey(id)
		}
		return err
	}
	return a.done(fmt.Sprintf("Deleted the passkey %q.", k.Name))
}

func (a *app) passkeysRename(ctx context.Context, args []string) error {
	rest, err := parseFlags(flag.NewFlagSet("passkeys rename", flag.ContinueOnError), args, a.stderr, 2, "ID NAME (quote a name with spaces)")
	if err != nil {
		return err
	}
	id, name := rest[0], strings.TrimSpace(rest[1])
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if err := c.RenamePasskey(ctx, id, name); err != nil {
		if errors.Is(err, client.ErrPasskeyNotFound) {
			return errNoPasskey(id)
		}
		return err
	}
	return a.done(fmt.Sprintf("Renamed the passkey %s to %q.", id, name))
}
