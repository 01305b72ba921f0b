package main

// End-to-end tests of the commands for users over their life: a user's own
// password (change, reset by mail) and what admins change of users (edit,
// disable, enable, unlock), and the words of the messages people read.

import (
	"crypto/tls"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
	"github.com/mfad/mfad/passhash"
)

// apiFields are the API's field names that no message for people may show.
var apiFields = regexp.MustCompile(`\b(code|ids?|password|new_password|email|name|super_admin|status|auth_type|auth_methods)(\[[0-9]+\])?:`)

// checkInWords fails when the error lines of r (those mfactl prints after
// "mfactl: ") name a field of the API as the wire does, such as "code:" or
// "ids[0]:". Prompts, which end in ": ", are not error lines.
func checkInWords(t *testing.T, r result) {
	t.Helper()
	for _, line := range strings.Split(r.stderr, "\n") {
		_, msg, ok := strings.Cut(line, "mfactl: ")
		if ok && apiFields.MatchString(msg) {
			t.Errorf("the message names an API field: %q\n%s", msg, r)
		}
	}
}

// errLine is the message mfactl printed for the error.
func errLine(t *testing.T, r result) string {
	t.Helper()
	i := strings.LastIndex(r.stderr, "mfactl: ")
	if i < 0 {
		t.Fatalf("no error message:\n%s", r)
	}
	return strings.TrimSpace(r.stderr[i+len("mfactl: "):])
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	bob := newCLI(t, srv.URL)
	bob.login(t, "bob@example.com", "bob-password")
	other := newCLI(t, srv.URL) // another session of bob's
	other.login(t, "bob@example.com", "bob-password")

	// A wrong current password: an authentication failure, nothing changed.
	r := bob.expect(t, 3, "not-bob-password\nnew bob passphrase\n", "password", "change")
	if msg := errLine(t, r); msg != "the current password is wrong" {
		t.Errorf("message %q, want the server's", msg)
	}
	// A new password the policy refuses, in words.
	for in, want := range map[string]string{
		"short":           "New password refused: at least 8 characters",
		"bob@example.com": "New password refused: must not be the email or its part before the @",
	} {
		r = bob.expect(t, 1, "bob-password\n"+in+"\n", "password", "change")
		if msg := errLine(t, r); msg != want {
			t.Errorf("new password %q: message %q, want %q", in, msg, want)
		}
		checkInWords(t, r)
	}
	other.ok(t, "", "status")

	// Two lines of standard input, no repeat (it is not a terminal).
	r = bob.ok(t, "bob-password\nnew bob passphrase\n", "password", "change")
	mustContain(t, r.stdout, "Password changed for bob@example.com; your other sessions were closed.", r)
	mustContain(t, r.stderr, "Current password: ", r)
	mustContain(t, r.stderr, "New password: ", r)
	if strings.Contains(r.stderr, "Repeat") {
		t.Errorf("asked to repeat the password on standard input:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "bob-password") || strings.Contains(r.stdout+r.stderr, "new bob passphrase") {
		t.Errorf("a password was printed:\n%s", r)
	}
	bob.ok(t, "", "status") // the caller's session stays
	r = other.expect(t, 3, "", "status")
	mustContain(t, r.stderr, "mfactl login", r)
	other.expect(t, 3, "bob-password\n", "login", "--email", "bob@example.com")
	other.login(t, "bob@example.com", "new bob passphrase")

	r = bob.ok(t, "new bob passphrase\nthird bob passphrase\n", "password", "change", "--json")
	if j := decode[map[string]any](t, r); j["email"] != "bob@example.com" || len(j) != 1 {
		t.Errorf("password change --json: %v", j)
	}

	// Not logged in: nothing asked.
	r = newCLI(t, srv.URL).expect(t, 3, "x\ny\n", "password", "change")
	mustContain(t, r.stderr, "mfactl login", r)
	if strings.Contains(r.stderr, "password: ") {
		t.Errorf("asked for a password while not logged in:\n%s", r)
	}
	// The new password missing.
	r = bob.expect(t, 1, "third bob passphrase\n", "password", "change")
	mustContain(t, r.stderr, "no more input", r)
	bob.expect(t, 2, "", "password", "change", "extra")

	// Wrong current passwords count toward the lockout; an admin lifts it
	// by email.
	for i := 0; i < 5; i++ {
		bob.expect(t, 3, "wrong password\nfourth bob passphrase\n", "password", "change")
	}
	r = bob.expect(t, 5, "third bob passphrase\nfourth bob passphrase\n", "password", "change")
	mustContain(t, r.stderr, "retry after", r)
	r = admin.ok(t, "", "user", "unlock", "--email", "BOB@example.com")
	mustContain(t, r.stdout, "Unlocked user "+bobID+" (bob@example.com).", r)
	bob.ok(t, "third bob passphrase\nfourth bob passphrase\n", "password", "change")
	bob.login(t, "bob@example.com", "fourth bob passphrase")
}

func TestPasswordResetRequest(t *testing.T) {
	t.Parallel()
	smtp := smtptest.Start(t, smtptest.StartTLS)
	srv := testserver.Start(t, testserver.Options{
		Hasher: passhash.New(passhash.Params{Memory: 1024, Time: 1, Threads: 1}, runtime.NumCPU(), 256, 30*time.Second),
		Mail: &mailer.Config{URL: "smtp://" + smtptest.User + ":" + smtptest.Password + "@" + smtp.Addr, From: "mfad@mfad.example",
			TLS: &tls.Config{RootCAs: smtp.Roots}, Backoff: 10 * time.Millisecond}})
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")

	// No session needed, nor a config directory.
	anon := &cli{server: srv.URL}
	r := anon.ok(t, "", "password", "reset-request", "--email", "Bob@Example.com")
	mustContain(t, r.stdout, "If a user has the email Bob@Example.com, a link to reset the password is on its way to it.", r)
	m := smtp.Wait(t, 1, 10*time.Second)[0]
	link := regexp.MustCompile(regexp.QuoteMeta(testserver.PublicURL) + `/#reset=([0-9a-f-]{36})`).FindStringSubmatch(m.Body())
	if len(m.To) != 1 || m.To[0] != "bob@example.com" || link == nil {
		t.Fatalf("mail to %q: %q; want the reset link to bob@example.com", m.To, m.Body())
	}
	// The link works: the new password logs in.
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.ResetPassword(t.Context(), link[1], "a remembered phrase"); err != nil || id != bobID {
		t.Fatalf("ResetPassword with the mailed id = %q, %v", id, err)
	}
	newCLI(t, srv.URL).login(t, "bob@example.com", "a remembered phrase")

	// The email asked when not given; --json.
	r = anon.ok(t, "nobody@example.com\n", "password", "reset-request", "--json")
	mustContain(t, r.stderr, "Email: ", r)
	if j := decode[map[string][]string](t, r); len(j["email"]) != 1 || j["email"][0] != "nobody@example.com" {
		t.Errorf("reset-request --json: %v", j)
	}
	anon.expect(t, 2, "\n", "password", "reset-request")
	anon.expect(t, 2, "", "password", "reset-request", "--email")
	anon.expect(t, 2, "", "password")

	// A server without mail: a plain failure, not "busy, retry".
	off := &cli{server: startServer(t).URL}
	r = off.expect(t, 1, "", "password", "reset-request", "--email", "bob@example.com")
	if msg := errLine(t, r); !strings.Contains(msg, "not configured") || strings.Contains(msg, "retry") {
		t.Errorf("message %q, want the server's word that mail is off and no retry", msg)
	}
	if r.stdout != "" {
		t.Errorf("printed on stdout:\n%s", r)
	}
}

type userStatusJSON struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	SuperAdmin string `json:"super_admin"`
	Status     string `json:"status"`
}

// findUser is the user with id in the admin's "user list --json".
func findUser(t *testing.T, admin *cli, id string) userStatusJSON {
	t.Helper()
	for _, u := range decode[[]userStatusJSON](t, admin.ok(t, "", "user", "list", "--json")) {
		if u.ID == id {
			return u
		}
	}
	t.Fatalf("user %s not in the list", id)
	return userStatusJSON{}
}

func TestUserEditDisableEnableUnlock(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	carolID := createUser(t, admin, "Carol", "carol@example.com", "carol-password")
	bob := newCLI(t, srv.URL)
	bob.login(t, "bob@example.com", "bob-password")

	// By email, whatever the case of its letters.
	r := admin.ok(t, "", "user", "edit", "--email", "BOB@Example.COM", "--name", "Robert")
	mustContain(t, r.stdout, "Changed user "+bobID+" (bob@example.com).", r)
	if u := findUser(t, admin, bobID); u.Name != "Robert" {
		t.Errorf("after edit --name: %+v", u)
	}
	r = admin.ok(t, "", "user", "edit", "--email", "bob@example.com", "--new-email", "robert@example.com", "--json")
	if j := decode[map[string]string](t, r); len(j["job_id"]) != 36 {
		t.Errorf("user edit --json: %v", j)
	}
	bob.expect(t, 3, "bob-password\n", "login", "--email", "bob@example.com")
	bob.login(t, "robert@example.com", "bob-password")
	r = admin.ok(t, "", "user", "edit", "--email", "robert@example.com", "--new-email", "rob@example.com")
	mustContain(t, r.stdout, "Changed user "+bobID+" (robert@example.com, now rob@example.com).", r)
	admin.ok(t, "", "user", "edit", "--email", "rob@example.com", "--new-email", "robert@example.com")

	// Admin rights, given and taken back.
	admin.ok(t, "", "user", "edit", "--email", "robert@example.com", "--admin", "Y")
	bob.ok(t, "", "user", "list")
	if u := findUser(t, admin, bobID); u.SuperAdmin != "Y" {
		t.Errorf("after --admin Y: %+v", u)
	}
	admin.ok(t, "", "user", "edit", "--email", "robert@example.com", "--admin", "n")
	bob.expect(t, 4, "", "user", "list")
	bob.expect(t, 4, "", "user", "disable", "--email", "carol@example.com")
	bob.expect(t, 4, "", "user", "unlock", "--ids", carolID)

	// The --ids of the other user commands.
	r = admin.ok(t, "", "user", "edit", "--ids", bobID+","+carolID, "--name", "Same Name")
	mustContain(t, r.stdout, "Changed 2 user(s).", r)

	// Mistakes on the command line: exit 2, nothing sent.
	for _, args := range [][]string{
		{"user", "edit", "--email", "robert@example.com"},
		{"user", "edit", "--name", "X"},
		{"user", "edit", "--email", "robert@example.com", "--ids", bobID, "--name", "X"},
		{"user", "edit", "--email", "robert@example.com", "--admin", "maybe"},
		{"user", "edit", "--ids", bobID + "," + carolID, "--new-email", "z@example.com"},
		{"user", "edit", "--email", "robert@example.com", "--name", "X", "extra"},
		{"user", "disable"},
		{"user", "enable", "--email"},
		{"user", "unlock", "--email", "robert@example.com", "--ids", carolID},
	} {
		r = admin.expect(t, 2, "", args...)
		checkInWords(t, r)
	}
	if u := findUser(t, admin, bobID); u.Name != "Same Name" || u.Email != "robert@example.com" || u.SuperAdmin != "N" {
		t.Errorf("a refused command changed the user: %+v", u)
	}

	// The server's refusals, in words.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "edit", "--email", "robert@example.com", "--new-email", "not an email"}, "New email refused: not a valid email address"},
		{[]string{"user", "edit", "--email", "robert@example.com", "--new-email", "CAROL@example.com"}, "email already taken; nothing was changed"},
		{[]string{"user", "edit", "--email", "robert@example.com", "--name", " "}, "New name refused: 1 to 255 printable characters"},
		{[]string{"user", "disable", "--ids", bobID + ",not-a-uuid"}, "User id 2 refused: not a UUID"},
		{[]string{"user", "unlock", "--ids", "00000000-0000-4000-8000-000000000000"}, "one or more of the user ids given are not users of your account; nothing was changed"},
		{[]string{"user", "disable", "--email", "nobody@example.com"}, `no user of your account has the email "nobody@example.com"`},
		{[]string{"user", "enable", "--email", "\u212Aarol@example.com"}, "no user of your account has the email \"\u212Aarol@example.com\""},
		{[]string{"user", "disable", "--email", testserver.AdminEmail}, "an admin cannot demote or disable their own user; nothing was changed"},
		{[]string{"user", "edit", "--email", testserver.AdminEmail, "--admin", "N"}, "an admin cannot demote or disable their own user; nothing was changed"},
	} {
		r = admin.expect(t, 1, "", tc.args...)
		if msg := errLine(t, r); msg != tc.want {
			t.Errorf("mfactl %s: message %q, want %q", strings.Join(tc.args, " "), msg, tc.want)
		}
		checkInWords(t, r)
		if r.stdout != "" {
			t.Errorf("a refused command printed on stdout:\n%s", r)
		}
	}

	// Disabled: the sessions close, the login fails, the list says so.
	r = admin.ok(t, "", "user", "disable", "--email", "robert@example.com")
	mustContain(t, r.stdout, "Disabled user "+bobID+" (robert@example.com); their sessions were closed.", r)
	bob.expect(t, 3, "", "status")
	bob.expect(t, 3, "bob-password\n", "login", "--email", "robert@example.com")
	r = admin.ok(t, "", "user", "list")
	mustMatch(t, `(?m)^`+bobID+`\s+robert@example\.com\s+Same Name\s+no\s+disabled\s+off\s+off\s+off\s+-\s`, r.stdout, r)
	mustMatch(t, `(?m)^`+carolID+`\s+carol@example\.com\s+Same Name\s+no\s+active\s`, r.stdout, r)
	if u := findUser(t, admin, bobID); u.Status != "D" {
		t.Errorf("status %q after disable, want D", u.Status)
	}
	r = admin.ok(t, "", "user", "enable", "--email", "robert@example.com")
	mustContain(t, r.stdout, "Enabled user "+bobID+" (robert@example.com).", r)
	bob.login(t, "robert@example.com", "bob-password")
	if u := findUser(t, admin, bobID); u.Status != "A" {
		t.Errorf("status %q after enable, want A", u.Status)
	}

	// By ids, from the command line or standard input; --json.
	r = admin.ok(t, "", "user", "disable", "--ids", carolID, "--json")
	if j := decode[map[string]string](t, r); len(j["job_id"]) != 36 {
		t.Errorf("user disable --json: %v", j)
	}
	r = admin.ok(t, carolID+"\n", "user", "enable", "--ids", "-")
	mustContain(t, r.stdout, "Enabled 1 user(s).", r)
	newCLI(t, srv.URL).login(t, "carol@example.com", "carol-password")

	// Unlock: five wrong passwords lock the email; the admin lifts it.
	for i := 0; i < 5; i++ {
		bob.expect(t, 3, "wrong password\n", "login", "--email", "robert@example.com")
	}
	bob.expect(t, 5, "bob-password\n", "login", "--email", "robert@example.com")
	r = admin.ok(t, "", "user", "unlock", "--email", "Robert@Example.com")
	mustContain(t, r.stdout, "Unlocked user "+bobID+" (robert@example.com).", r)
	bob.login(t, "robert@example.com", "bob-password")
	r = admin.ok(t, "", "user", "unlock", "--ids", bobID+","+carolID, "--json")
	if j := decode[map[string]string](t, r); j["status"] != "success" {
		t.Errorf("user unlock --json: %v", j)
	}
}

// The server's messages about a field of the request name it as people
// do, in the older commands too.
func TestMessagesInWords(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "set-mfa", "--type", "2FA", "--ids", "not-a-uuid"}, "User id 1 refused: not a UUID"},
		{"", []string{"user", "delete", "--ids", bobID + " " + bobID + " x"}, "User id 3 refused: not a UUID"},
		{"", []string{"user", "show", "not-a-uuid"}, "User id refused: not a UUID"},
		{"short\n", []string{"user", "create", "--name", "Dan", "--email", "dan@example.com"}, "Password refused: at least 8 characters"},
		{"dan-password\n", []string{"user", "create", "--name", "Dan", "--email", "dan@"}, "Email refused: not a valid email address"},
	} {
		r := admin.expect(t, 1, tc.stdin, tc.args...)
		if msg := errLine(t, r); msg != tc.want {
			t.Errorf("mfactl %s: message %q, want %q", strings.Join(tc.args, " "), msg, tc.want)
		}
		checkInWords(t, r)
	}
	r := admin.expect(t, 2, "", "user", "delete", "--ids", ",")
	checkInWords(t, r)
	mustContain(t, r.stderr, "give at least one user id with --ids", r)
}
