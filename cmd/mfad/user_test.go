package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/sqlite"
)

// runWithStdin runs "mfad <args>" with stdin and returns its output.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb testserver.Logs
	err := run(ctx, args, envFunc(nil), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// The operator's commands work on the database while a server runs on it,
// take effect on the server's next request, and are in the audit trail.
func TestUserCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, append(adminArgs(), "--lockout-attempts", "3")...)...)
	admin, _ := s.login(t, adminEmail, adminPassword, http.StatusOK)
	s.do(t, "POST", "/api/1.0/user/create", map[string]string{"name": "Ann", "email": "ann@example.com", "password": "ann user phrase"},
		withToken(admin)).want(t, 200, "create ann")
	ann, _ := s.login(t, "ann@example.com", "ann user phrase", http.StatusOK)
	enrollOn(t, s, ann)
	s.login(t, "ann@example.com", "ann user phrase", http.StatusMultiStatus) // owes a TOTP code

	out, _, err := runWithStdin(t, "", "user", "list", "--db", db)
	if err != nil || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, adminEmail) || !strings.Contains(out, "active") {
		t.Fatalf("user list: %v\n%s", err, out)
	}

	// Ann also has a passkey (written to the database directly: the server
	// runs without --public-url).
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(t.Context(), "ann@example.com")
	if err == nil {
		err = st.AddPasskey(t.Context(), &mfad.Passkey{ID: uuid.NewString(), UserID: u.ID, CredentialID: []byte("ann's key"), Name: "Key", Record: []byte("{}"), Created: time.Now()})
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	// reset-mfa: the authenticator app and the passkey go; the next login
	// owes enrollment (Mfa-Code 3), not the passkey (4).
	if out, _, err := runWithStdin(t, "", "user", "reset-mfa", "--db", db, "--email", "ANN@example.com"); err != nil || !strings.Contains(out, "ann@example.com") {
		t.Fatalf("reset-mfa: %v %s", err, out)
	}
	_, r := s.login(t, "ann@example.com", "ann user phrase", http.StatusMultiStatus)
	if r.header.Get("Mfa-Code") != "3" {
		t.Fatalf("after reset-mfa: Mfa-Code %q, want 3", r.header.Get("Mfa-Code"))
	}

	// unlock: a locked email logs in again at once.
	for range 3 {
		s.login(t, "ann@example.com", "wrong guess", http.StatusUnauthorized)
	}
	s.login(t, "ann@example.com", "ann user phrase", http.StatusTooManyRequests)
	if _, _, err := runWithStdin(t, "", "user", "unlock", "--db", db, "--email", "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	s.login(t, "ann@example.com", "ann user phrase", http.StatusMultiStatus)

	// set-password, from standard input; the policy applies; sessions close
	// (the server's cache of the admin's session, warmed here, is
	// emptied within a second of the other process's commit).
	s.do(t, "GET", "/api/1.0/profile", nil, withToken(admin)).want(t, 200, "the admin's session")
	if _, _, err := runWithStdin(t, "password1\n", "user", "set-password", "--db", db, "--email", adminEmail); err == nil || !strings.Contains(err.Error(), "common") {
		t.Fatalf("a common password: %v", err)
	}
	if _, _, err := runWithStdin(t, "an operator's new phrase\n", "user", "set-password", "--db", db, "--email", adminEmail); err != nil {
		t.Fatal(err)
	}
	took := s.within(t, time.Second, 401, "the admin's session after set-password", "GET", "/api/1.0/profile", withToken(admin))
	t.Logf("FIGURE the server refused the session %s after another process changed the password", took.Round(time.Millisecond))
	s.login(t, adminEmail, adminPassword, http.StatusUnauthorized)
	admin, _ = s.login(t, adminEmail, "an operator's new phrase", http.StatusOK)

	// The trail has the three changes.
	var trail struct {
		Activity []struct {
			Event string `json:"event"`
		} `json:"activity"`
	}
	s.do(t, "GET", "/api/1.0/tracking/activity?limit=500", nil, withToken(admin)).decode(t, &trail)
	seen := map[string]bool{}
	for _, a := range trail.Activity {
		seen[a.Event] = true
	}
	for _, e := range []string{"operator.reset_mfa", "operator.unlock", "operator.set_password"} {
		if !seen[e] {
			t.Errorf("the trail has no %s: %v", e, seen)
		}
	}
	s.mustStop(t)

	// Mistakes.
	if _, _, err := runWithStdin(t, "", "user", "unlock", "--db", db, "--email", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user has the email") {
		t.Errorf("an unknown email: %v", err)
	}
	for _, args := range [][]string{{"user"}, {"user", "bogus"}, {"user", "unlock", "--db", db}, {"user", "set-password", "--db", db, "--email", "a@b", "--password", "x"}} {
		if _, _, err := runWithStdin(t, "", args...); exitCode(err) != 2 {
			t.Errorf("mfad %q: %v, want a usage error", args, err)
		}
	}
	if _, _, err := runWithStdin(t, "", "user", "set-password", "--db", db, "--email", adminEmail); err == nil {
		t.Error("set-password with nothing on standard input succeeded")
	}
	out, _, _ = runWithStdin(t, "", "user", "list", "--db", db)
	if !strings.Contains(out, "EMAIL") {
		t.Errorf("list without a header: %q", out)
	}
}
