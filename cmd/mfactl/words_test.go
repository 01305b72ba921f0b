package main

// Failures read as sentences for people: the network's (unit tests of the
// causes, and end to end against a closed port, TLS servers and servers
// that are not mfad), and the server's messages that would name the API's
// fields, codes or paths.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/passhash"
)

func TestUnreachable(t *testing.T) {
	urlErr := func(err error) error {
		return fmt.Errorf("mfad: GET /api/1.0/profile: %w", &url.Error{Op: "Get", URL: "http://mfad.example:8080/api/1.0/profile", Err: err})
	}
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{urlErr(dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})), "connection refused"},
		{urlErr(dial(&net.DNSError{Err: "no such host", Name: "mfad.example", IsNotFound: true})), "no such host"},
		{urlErr(dial(&net.DNSError{Err: "server misbehaving", Name: "mfad.example", IsTemporary: true})), "cannot look up the host name"},
		{urlErr(dial(&net.DNSError{Err: "i/o timeout", Name: "mfad.example", IsTimeout: true})), "timeout"},
		{urlErr(dial(os.ErrDeadlineExceeded)), "timeout"},
		{urlErr(context.DeadlineExceeded), "timeout"},
		{urlErr(&os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), "connection reset"},
		{urlErr(dial(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH})), "no route to host"},
		{urlErr(dial(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH})), "network unreachable"},
		{urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "TLS certificate problem: signed by an unknown authority"},
		{urlErr(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mfad.example"}}), "TLS certificate problem: not valid for mfad.example"},
		{urlErr(&tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}), "TLS certificate problem: expired or not yet valid"},
		{urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "no TLS on the other end (try http://)"},
		{urlErr(io.EOF), "the connection closed before an answer"},
		{urlErr(dial(errors.New("something else"))), "something else"},
	} {
		got, ok := unreachable(tc.err)
		if !ok || got != tc.want {
			t.Errorf("unreachable(%v) = %q, %v; want %q", tc.err, got, ok, tc.want)
		}
	}
	for _, err := range []error{
		errors.New("mfad: decode answer"),
		&client.APIError{Status: 503, Code: client.CodeUnavailable, Msg: "database unavailable"},
		errNotLoggedIn,
	} {
		if got, ok := unreachable(err); ok {
			t.Errorf("unreachable(%v) = %q, true; want false", err, got)
		}
	}

	// In the whole message, with the server and the timeout.
	a := &app{server: "http://mfad.example:8080/", timeout: 5 * time.Second}
	for err, want := range map[error]string{
		urlErr(dial(&net.DNSError{Err: "no such host", Name: "mfad.example", IsNotFound: true})): "cannot reach mfad at http://mfad.example:8080: no such host",
		urlErr(dial(os.ErrDeadlineExceeded)):                                                     "cannot reach mfad at http://mfad.example:8080: timeout (no answer within 5s; see --timeout)",
		urlErr(context.Canceled):                                                                 "interrupted",
	} {
		if got := message(a.worded(err)); got != want {
			t.Errorf("message(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestWantedFactors(t *testing.T) {
	for msg, want := range map[string]string{
		`this login step owes auth_type "PIN" (Mfa-Code 2)`:               `this login step wants the PIN; run "mfactl login" again`,
		`this login step owes auth_type "2FA" (Mfa-Code 3)`:               `this login step wants a code from an authenticator app; run "mfactl login" again`,
		`this login step owes auth_type "2FA" or "RECOVERY" (Mfa-Code 1)`: `this login step wants a code from an authenticator app or a recovery code; run "mfactl login" again`,
		`this login step owes auth_type "SOMETHING" (Mfa-Code 9)`:         `this login step owes another factor; run "mfactl login" again`,
	} {
		if got := wantedFactors(msg); got != want {
			t.Errorf("wantedFactors(%q) = %q, want %q", msg, got, want)
		}
		if apiFields.MatchString(wantedFactors(msg)) || strings.Contains(wantedFactors(msg), "Mfa-Code") {
			t.Errorf("wantedFactors(%q) names the API", msg)
		}
	}
}

// The server's answers that name its fields, codes or paths, in words.
func TestWordedAnswers(t *testing.T) {
	a := &app{server: "http://127.0.0.1:8080", timeout: time.Second}
	for _, tc := range []struct {
		err  error
		want string
		code int
	}{
		{&client.APIError{Status: 400, Code: client.CodeUnknownUsers, Msg: "one or more ids are not users of your account; nothing was changed"},
			"one or more of the user ids given are not users of your account; nothing was changed", exitError},
		{&client.APIError{Status: 404, Code: client.CodeUserNotFound, Msg: "user not found"}, "no such user in your account", exitError},
		{&client.APIError{Status: 401, Code: client.CodeFactorRequired, Msg: "a second factor is required: finish the login with POST /session/login"},
			`the saved session has not finished its login; run "mfactl login"`, exitAuth},
		{&client.APIError{Status: 400, Code: client.CodeWrongAuthType, Msg: `this login step owes auth_type "PIN" (Mfa-Code 2)`},
			`this login step wants the PIN; run "mfactl login" again`, exitError},
		{&client.APIError{Status: 400, Code: client.CodeEnrollment, Msg: "no pending 2FA secret: call GET /profile/2fa/generate first (a secret lives 10 minutes)"},
			"the 2FA secret shown expired before a code for it was sent; start again for a new one", exitError},
		{&client.APIError{Status: 404, Code: client.CodeNotFound, Msg: "no such path"},
			"http://127.0.0.1:8080 does not know this request (404 no such path): is it an mfad server, and as new as this mfactl?", exitError},
		{&client.APIError{Status: 405, Code: client.CodeMethod, Msg: "method POST not allowed; allowed: GET"},
			"http://127.0.0.1:8080 does not know this request (405 method POST not allowed; allowed: GET): is it an mfad server, and as new as this mfactl?", exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "name, email, super_admin or status: at least one is required"},
			"nothing to change: give --name, --new-email or --admin", exitError},
		{&client.APIError{Status: 502, Code: -1, Msg: "Bad Gateway"},
			"http://127.0.0.1:8080 answered 502 Bad Gateway, not as mfad answers: is it an mfad server?", exitError},
		{fmt.Errorf("mfad: GET /api/1.0/profile: decode answer: %w", &json.SyntaxError{}),
			"the answer from http://127.0.0.1:8080 is not one mfad sends: is it an mfad server?", exitError},
		// Left to message: the field in words.
		{fieldsError{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "code: a PIN is 4 to 12 ASCII digits"}, map[string]string{"code": "PIN"}},
			"PIN refused: a PIN is 4 to 12 ASCII digits", exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: `auth_type: must be "2FA" or "PIN"`}, `Factor refused: must be "2FA" or "PIN"`, exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: `super_admin: must be "Y" or "N"`}, `Admin rights refused: must be "Y" or "N"`, exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: `status: must be "A" or "D"`}, `Status refused: must be "A" or "D"`, exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "new_password: not base64"}, "New password refused: not base64", exitError},
		{&client.APIError{Status: 400, Code: client.CodeInvalid, Msg: "email: an array of exactly one email"}, "Email refused: an array of exactly one email", exitError},
	} {
		err := a.worded(tc.err)
		if got := message(err); got != tc.want {
			t.Errorf("message(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if apiFields.MatchString(message(err)) {
			t.Errorf("message(%v) = %q names an API field", tc.err, message(err))
		}
		if c := exitCode(err); c != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, c, tc.code)
		}
	}
}

// A message that needs no rewording is left as the server wrote it.
func TestWordedLeavesPlainMessages(t *testing.T) {
	a := &app{server: "http://127.0.0.1:8080"}
	for _, msg := range []string{"wrong email or password", "admin rights required", "email already taken; nothing was changed"} {
		err := &client.APIError{Status: 400, Code: client.CodeEmailTaken, Msg: msg}
		if got := a.worded(err); got != error(err) || message(got) != msg {
			t.Errorf("worded(%q) = %v", msg, got)
		}
	}
	if a.worded(nil) != nil {
		t.Error("worded(nil) is not nil")
	}
}

// End to end: a closed port, TLS trouble, and servers that are not mfad.
func TestNetworkFailuresInWords(t *testing.T) {
	t.Parallel()
	down := downURL(t)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes that fail on purpose
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/1.0/profile" {
			io.WriteString(w, "<html>a web page</html>")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(plain.Close)
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	oldMfad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		io.WriteString(w, `{"msg":"no such path","code":5}`)
	}))
	t.Cleanup(oldMfad.Close)

	for _, tc := range []struct {
		server, stdin string
		args          []string
		want          string
	}{
		{down, "pw\n", []string{"login", "--email", "a@example.com"}, "cannot reach mfad at " + down + ": connection refused"},
		{down, "", []string{"password", "reset-request", "--email", "a@example.com"}, "cannot reach mfad at " + down + ": connection refused"},
		{down + "/", "", []string{"password", "reset-request", "--email", "a@example.com"}, "cannot reach mfad at " + down + ": connection refused"},
		{tlsSrv.URL, "pw\n", []string{"login", "--email", "a@example.com"}, "cannot reach mfad at " + tlsSrv.URL + ": TLS certificate problem: signed by an unknown authority"},
		{"https://" + plainHost, "pw\n", []string{"login", "--email", "a@example.com"}, "cannot reach mfad at https://" + plainHost + ": no TLS on the other end (try http://)"},
		{"http://" + strings.TrimPrefix(tlsSrv.URL, "https://"), "pw\n", []string{"login", "--email", "a@example.com"},
			"http://" + strings.TrimPrefix(tlsSrv.URL, "https://") + " answered 400 Bad Request, not as mfad answers: is it an mfad server?"},
		{plain.URL, "pw\n", []string{"login", "--email", "a@example.com"}, plain.URL + " answered 404 Not Found, not as mfad answers: is it an mfad server?"},
		{oldMfad.URL, "pw\n", []string{"login", "--email", "a@example.com"}, oldMfad.URL + " does not know this request (404 no such path): is it an mfad server, and as new as this mfactl?"},
	} {
		c := newCLI(t, tc.server)
		r := c.expect(t, 1, tc.stdin, tc.args...)
		if msg := errLine(t, r); msg != tc.want {
			t.Errorf("MFACTL_SERVER=%s mfactl %s: message %q, want %q", tc.server, strings.Join(tc.args, " "), msg, tc.want)
		}
		if strings.Contains(r.stderr, "dial tcp") || strings.Contains(r.stderr, `Get "`) || strings.Contains(r.stderr, `Post "`) {
			t.Errorf("a raw Go error:\n%s", r)
		}
	}

	// A web page where the API should answer.
	c := newCLI(t, plain.URL)
	if err := os.WriteFile(c.sessionFile(), []byte(`{"server":"`+plain.URL+`","session_id":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.expect(t, 1, "", "status")
	if msg := errLine(t, r); msg != "the answer from "+plain.URL+" is not one mfad sends: is it an mfad server?" {
		t.Errorf("message %q", msg)
	}
}

// The server's refusals that named fields, codes or paths, end to end.
func TestServerAnswersInWords(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Options{
		Hasher: passhash.New(passhash.Params{Memory: 1024, Time: 1, Threads: 1}, runtime.NumCPU(), 256, 30*time.Second),
		Config: func(c *auth.Config) { c.PendingLifetime = time.Minute }, // a new 2FA secret lives a minute
	})
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	const unknown = "00000000-0000-4000-8000-000000000000"

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "show", unknown}, "no user of your account has the id " + unknown},
		{"", []string{"user", "set-mfa", "--type", "2FA", "--ids", bobID + "," + unknown}, "one or more of the user ids given are not users of your account; nothing was changed"},
		{"", []string{"user", "delete", "--ids", unknown}, "one or more of the user ids given are not users of your account; nothing was changed"},
		{"", []string{"user", "reset-mfa", "--ids", unknown}, "one or more of the user ids given are not users of your account; nothing was changed"},
		{"", []string{"user", "edit", "--ids", unknown, "--name", "X"}, "one or more of the user ids given are not users of your account; nothing was changed"},
		{"", []string{"user", "edit", "--email", "bob@example.com", "--new-email", "bob@"}, "New email refused: not a valid email address"},
		{"", []string{"user", "edit", "--email", "bob@example.com", "--name", ""}, "New name refused: 1 to 255 printable characters"},
		{"x\n", []string{"user", "create", "--name", "Dan", "--email", "dan@example.com"}, "Password refused: at least 8 characters"},
		{"dan-password\n", []string{"user", "create", "--name", strings.Repeat("n", 300), "--email", "dan@example.com"}, "Name refused: 1 to 255 printable characters"},
	} {
		r := admin.expect(t, 1, tc.stdin, tc.args...)
		if msg := errLine(t, r); msg != tc.want {
			t.Errorf("mfactl %s: message %q, want %q", strings.Join(tc.args, " "), msg, tc.want)
		}
		checkInWords(t, r)
	}

	// A saved session that owes a second factor.
	admin.ok(t, "1357\n1357\n", "pin", "set")
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	step, err := c.PasswordLogin(t.Context(), testserver.AdminEmail, testserver.AdminPassword)
	if err != nil || step.MfaCode != client.MfaPIN {
		t.Fatalf("password step: %+v, %v", step, err)
	}
	limited := newCLI(t, srv.URL)
	data, _ := json.Marshal(map[string]string{"server": srv.URL, "session_id": step.SessionID})
	if err := os.WriteFile(limited.sessionFile(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := limited.expect(t, 3, "", "status")
	if msg := errLine(t, r); msg != `the saved session has not finished its login; run "mfactl login"` {
		t.Errorf("message %q", msg)
	}

	// A 2FA secret that expired before its code came.
	bob := newCLI(t, srv.URL)
	bob.login(t, "bob@example.com", "bob-password")
	p := bob.start(t, "2fa", "enroll")
	secret := p.waitSecret(t)
	srv.Clock.Advance(2 * time.Minute)
	p.write(t, srv.Code(t, secret, 0)+"\n")
	r = p.finish(t)
	if msg := errLine(t, r); r.code != 1 || msg != `the secret shown expired before a code for it was sent; run "mfactl 2fa enroll" again for a new one` {
		t.Errorf("exit %d, message %q:\n%s", r.code, msg, r)
	}
}

// goVersionM is the build information "go version -m" reads from bin:
// the main module's version, the Go version and the build settings.
func goVersionM(t *testing.T, bin string) (version, goVersion string, settings map[string]string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	settings = map[string]string{}
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case i == 0:
			_, goVersion, _ = strings.Cut(line, ": ")
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) >= 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			settings[k] = v
		}
	}
	return version, strings.TrimSpace(goVersion), settings
}

func TestVersion(t *testing.T) {
	t.Parallel()
	version, goVersion, settings := goVersionM(t, bin)
	want := "mfactl " + version
	if rev := settings["vcs.revision"]; rev != "" {
		want += ", revision " + rev[:12]
	}
	if settings["vcs.modified"] == "true" {
		want += ", modified"
	}
	want += ", " + goVersion + "\n"

	c := &cli{} // no HOME, no config directory, no server needed
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}, {"--server", "ftp://x", "--version"}} {
		r := c.ok(t, "", args...)
		if r.stdout != want {
			t.Errorf("mfactl %s: %q, want %q (from go version -m)", strings.Join(args, " "), r.stdout, want)
		}
	}
	r := c.ok(t, "", "--json", "version")
	var j map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j["version"] != version || j["go"] != goVersion {
		t.Errorf("--json version: %v (%v)\n%s", j, err, r)
	}
	if rev := settings["vcs.revision"]; rev != "" && j["revision"] != rev[:12] {
		t.Errorf("--json version: revision %v, want %s", j["revision"], rev[:12])
	}
	c.expect(t, 2, "", "version", "extra")
	r = c.ok(t, "", "help")
	mustContain(t, r.stdout, "--version", r)
}
