package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/testserver"
)

// These tests start the real server in-process through run, on loopback and a
// fresh SQLite database, and talk to it over HTTP.

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse"
	startTimeout  = 30 * time.Second
	stopTimeout   = 15 * time.Second
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// envFunc is a getenv reading only the given map (a copy of it).
func envFunc(env map[string]string) func(string) string {
	m := make(map[string]string, len(env))
	for k, v := range env {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// instance is one running "mfad serve".
type instance struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	stderr *testserver.Logs
	client *http.Client

	once    sync.Once
	stopErr error
}

// launch runs "mfad <args...>" with the environment env and waits until it
// listens (it returns the server) or returns early (it returns run's error).
// A run that does neither within startTimeout fails the test.
func launch(t *testing.T, env map[string]string, args ...string) (*instance, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &instance{
		cancel: cancel,
		done:   make(chan error, 1),
		stderr: &testserver.Logs{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
	}
	go func() {
		err := run(ctx, args, envFunc(env), nil, pw, s.stderr)
		pw.CloseWithError(errors.New("run returned"))
		s.done <- err
	}()
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(pr)
		line, err := br.ReadString('\n')
		if err == nil {
			lines <- line
		} else {
			close(lines)
		}
		io.Copy(io.Discard, br) // never block a later write to stdout
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			// run returned without printing the line.
			select {
			case err := <-s.done:
				cancel()
				if err == nil {
					t.Fatalf("run %q returned nil without listening; stderr:\n%s", args, s.stderr)
				}
				return nil, err
			case <-timer.C:
				cancel()
				t.Fatalf("run %q: stdout closed but run did not return within %v", args, startTimeout)
			}
		}
		const prefix = "mfad listening on "
		if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "\n") {
			cancel()
			t.Fatalf("first stdout line = %q, want %q", line, prefix+"http://HOST:PORT\n")
		}
		s.url = strings.TrimSuffix(strings.TrimPrefix(line, prefix), "\n")
		if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
			cancel()
			t.Fatalf("listening line %q does not name a loopback port", line)
		}
		t.Cleanup(func() { s.stop() })
		return s, nil
	case <-timer.C:
		cancel()
		t.Fatalf("run %q neither listened nor returned within %v; stderr:\n%s", args, startTimeout, s.stderr)
	}
	return nil, nil
}

// startServer launches a server that must start.
func startServer(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	s, err := launch(t, env, args...)
	if err != nil {
		t.Fatalf("run %q failed: %v", args, err)
	}
	return s
}

// serveArgs are the arguments of "mfad serve" on db, on a random loopback port.
func serveArgs(db string, more ...string) []string {
	return append([]string{"serve", "--listen", "127.0.0.1:0", "--db", db}, more...)
}

func adminArgs() []string {
	return []string{"--admin-email", adminEmail, "--admin-password", adminPassword}
}

// stop cancels the server's context and returns what run returned, or an
// error when run does not return within stopTimeout.
func (s *instance) stop() error {
	s.once.Do(func() {
		s.client.CloseIdleConnections()
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(stopTimeout):
			s.stopErr = errors.New("run did not return after cancel")
		}
	})
	return s.stopErr
}

// mustStop stops the server and fails the test unless run returned nil.
func (s *instance) mustStop(t *testing.T) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stopping the server: %v; stderr:\n%s", err, s.stderr)
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

type reqOpt func(*http.Request)

func withToken(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("X-Auth-Token", tok) }
}

func withBasic(user, pass string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// do sends one request; a non-nil body is sent as JSON.
func (s *instance) do(t *testing.T, method, path string, body any, opts ...reqOpt) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (r resp) want(t *testing.T, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
}

// within asks until the answer has status, for d at most (a change made by
// another process on the same SQLite file reaches the server's session
// cache within a second); it returns how long that took.
func (s *instance) within(t *testing.T, d time.Duration, status int, what, method, path string, opts ...reqOpt) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := s.do(t, method, path, nil, opts...)
		if r.status == status {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: status %d after %s, want %d; body %s", what, r.status, d, status, r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// login does a password login and checks its status; it returns the session id.
func (s *instance) login(t *testing.T, email, password string, status int) (string, resp) {
	t.Helper()
	r := s.do(t, "GET", "/api/1.0/session/login", nil, withBasic(email, password))
	r.want(t, status, "login of "+email)
	if status != http.StatusOK && status != http.StatusMultiStatus {
		return "", r
	}
	var v struct {
		SessionID string `json:"session_id"`
	}
	r.decode(t, &v)
	if !uuidRE.MatchString(v.SessionID) {
		t.Fatalf("login of %s: session_id %q is not a UUID v4", email, v.SessionID)
	}
	return v.SessionID, r
}

func (s *instance) profile(t *testing.T, tok string) map[string]any {
	t.Helper()
	r := s.do(t, "GET", "/api/1.0/profile", nil, withToken(tok))
	r.want(t, http.StatusOK, "GET /profile")
	var p map[string]any
	r.decode(t, &p)
	return p
}

func wantFileMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := fi.Mode().Perm(); got != mode {
		t.Fatalf("%s has mode %04o, want %04o", path, got, mode)
	}
}

func wantErrContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error mentioning %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func wantUsageError(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: err = nil, want a usage error", what)
	}
	if c := exitCode(err); c != 2 {
		t.Fatalf("%s: exitCode(%v) = %d, want 2", what, err, c)
	}
}

// runQuick runs a command that must return on its own, with a timeout.
func runQuick(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb testserver.Logs
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envFunc(env), nil, &out, &errb) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("run %q did not return", args)
	}
	return out.String(), errb.String(), err
}

func TestBootstrap(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)

	tok, _ := s.login(t, adminEmail, adminPassword, http.StatusOK)
	p := s.profile(t, tok)
	if p["super_admin"] != "Y" {
		t.Errorf("profile super_admin = %v, want \"Y\"", p["super_admin"])
	}
	if p["email"] != adminEmail {
		t.Errorf("profile email = %v, want %s", p["email"], adminEmail)
	}
	wantFileMode(t, db+".key", 0o600)
	s.mustStop(t)
}

func TestEnvironmentVariables(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "env.db")
	env := map[string]string{
		"MFAD_DB":             db,
		"MFAD_ADMIN_EMAIL":    adminEmail,
		"MFAD_ADMIN_PASSWORD": adminPassword,
		"MFAD_LISTEN":         "127.0.0.1:0",
	}
	s := startServer(t, env, "serve")
	s.login(t, adminEmail, adminPassword, http.StatusOK)
	s.mustStop(t)
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("MFAD_DB not used: %v", err)
	}
	wantFileMode(t, db+".key", 0o600)

	t.Run("flag wins", func(t *testing.T) {
		envDB := filepath.Join(dir, "from-env.db")
		flagDB := filepath.Join(dir, "from-flag.db")
		env := map[string]string{
			"MFAD_DB":             envDB,
			"MFAD_LISTEN":         "invalid listen address",
			"MFAD_ADMIN_EMAIL":    "env@example.com",
			"MFAD_ADMIN_PASSWORD": "env-password",
		}
		s := startServer(t, env, "serve", "--listen", "127.0.0.1:0", "--db", flagDB,
			"--admin-password", "flag-password")
		// The email comes from the environment, the password from the flag.
		s.login(t, "env@example.com", "flag-password", http.StatusOK)
		s.login(t, "env@example.com", "env-password", http.StatusUnauthorized)
		s.mustStop(t)
		if _, err := os.Stat(flagDB); err != nil {
			t.Errorf("--db not used: %v", err)
		}
		if _, err := os.Stat(envDB); err == nil {
			t.Errorf("MFAD_DB %s was created although --db was given", envDB)
		}
	})
}

func TestRestartKeepsChanges(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)
	admin, _ := s.login(t, adminEmail, adminPassword, http.StatusOK)
	r := s.do(t, "POST", "/api/1.0/user/create",
		map[string]any{"name": "U", "email": "u@example.com", "password": "password-1"}, withToken(admin))
	r.want(t, http.StatusOK, "user/create")
	r = s.do(t, "POST", "/api/1.0/settings/set", map[string]any{"auth_methods": []string{"2FA"}}, withToken(admin))
	r.want(t, http.StatusOK, "settings/set")
	s.mustStop(t)

	s = startServer(t, nil, serveArgs(db)...)
	// The admin session made before the restart still works: sessions live
	// in the database and settings/set closes none.
	r = s.do(t, "GET", "/api/1.0/settings", nil, withToken(admin))
	r.want(t, http.StatusOK, "GET /settings with the pre-restart token")
	var settings struct {
		AuthMethods []string `json:"auth_methods"`
	}
	r.decode(t, &settings)
	if len(settings.AuthMethods) != 1 || settings.AuthMethods[0] != "2FA" {
		t.Errorf("settings auth_methods = %q, want [2FA]", settings.AuthMethods)
	}
	s.do(t, "GET", "/api/1.0/session/keepalive", nil, withToken(admin)).
		want(t, http.StatusOK, "keepalive with the pre-restart token")

	// The user survived, and the account now forces 2FA on them and on the
	// admin, who have no secret yet: enrollment is owed.
	for _, c := range []struct{ email, password string }{
		{"u@example.com", "password-1"},
		{adminEmail, adminPassword},
	} {
		limited, r := s.login(t, c.email, c.password, http.StatusMultiStatus)
		if got := r.header.Get("Mfa-Code"); got != "3" {
			t.Errorf("login of %s: Mfa-Code %q, want 3", c.email, got)
		}
		if limited == admin {
			t.Errorf("the limited session reuses the admin's full session id")
		}
		s.do(t, "GET", "/api/1.0/settings", nil, withToken(limited)).
			want(t, http.StatusUnauthorized, "GET /settings with a limited session")
	}
	s.mustStop(t)
}

// The database file is created 0600 like the key file; one that group or
// others can read is served, with a warning at start naming it.
func TestDatabaseFileModes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)
	s.login(t, adminEmail, adminPassword, http.StatusOK)
	wantFileMode(t, db, 0o600)
	wantFileMode(t, db+"-wal", 0o600)
	wantFileMode(t, db+"-shm", 0o600)
	s.mustStop(t)
	if strings.Contains(s.stderr.String(), "open to group or others") {
		t.Fatalf("a warning for private files:\n%s", s.stderr)
	}

	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, nil, serveArgs(db)...)
	s.login(t, adminEmail, adminPassword, http.StatusOK)
	s.mustStop(t)
	if logs := s.stderr.String(); !strings.Contains(logs, "open to group or others") || !strings.Contains(logs, "mfad.db (mode 0644)") {
		t.Fatalf("no warning for a database of mode 0644:\n%s", logs)
	}
}

func TestKeySafety(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	keyPath := db + ".key"
	s := startServer(t, nil, serveArgs(db)...)
	s.mustStop(t)
	orig, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("missing", func(t *testing.T) {
		if err := os.Remove(keyPath); err != nil {
			t.Fatal(err)
		}
		_, err := launch(t, nil, serveArgs(db)...)
		wantErrContains(t, err, keyPath, "missing")
		if _, serr := os.Stat(keyPath); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("a new key file was made for a database that had one (stat: %v)", serr)
		}
	})

	t.Run("another key", func(t *testing.T) {
		var k [32]byte
		rand.Read(k[:])
		if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(keyPath)
		_, err := launch(t, nil, serveArgs(db)...)
		wantErrContains(t, err, keyPath, "does not belong")
	})

	t.Run("readable by others", func(t *testing.T) {
		if err := os.WriteFile(keyPath, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(keyPath, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := launch(t, nil, serveArgs(db)...)
		wantErrContains(t, err, "chmod")
	})

	t.Run("original key restored", func(t *testing.T) {
		if err := os.Chmod(keyPath, 0o600); err != nil {
			t.Fatal(err)
		}
		startServer(t, nil, serveArgs(db)...).mustStop(t)
	})

	t.Run("explicit key file", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.key")
		if err := os.WriteFile(other, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		startServer(t, map[string]string{"MFAD_KEY_FILE": other}, serveArgs(db)...).mustStop(t)
	})
}

func TestAccountCreate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)

	out, errOut, err := runQuick(t, nil, "account", "create", "--db", db, "--title", "B",
		"--admin-email", "b@example.com", "--admin-password", "password-b")
	if err != nil {
		t.Fatalf("account create while serving: %v; stderr:\n%s", err, errOut)
	}
	if !strings.Contains(out, "created") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("account create printed %q, want one line saying \"created\"", out)
	}
	tok, _ := s.login(t, "b@example.com", "password-b", http.StatusOK)
	if p := s.profile(t, tok); p["super_admin"] != "Y" {
		t.Errorf("the new account's admin has super_admin %v, want \"Y\"", p["super_admin"])
	}

	_, _, err = runQuick(t, nil, "account", "create", "--db", db,
		"--admin-email", "c@example.com", "--admin-password", "password-c")
	wantUsageError(t, err, "account create without --title")

	for _, email := range []string{adminEmail, "B@Example.COM"} {
		out, _, err = runQuick(t, nil, "account", "create", "--db", db, "--title", "C",
			"--admin-email", email, "--admin-password", "password-c")
		wantErrContains(t, err, "taken")
		if err != nil && exitCode(err) != 1 {
			t.Errorf("taken email: exitCode = %d, want 1", exitCode(err))
		}
		if strings.Contains(out, "created") {
			t.Errorf("taken email %s: stdout %q says created", email, out)
		}
	}
	s.mustStop(t)
}

func TestUsage(t *testing.T) {
	_, errOut, err := runQuick(t, nil)
	wantUsageError(t, err, "no arguments")
	if !strings.Contains(errOut, "mfad serve") {
		t.Errorf("no arguments: stderr %q does not show the usage", errOut)
	}

	_, _, err = runQuick(t, nil, "frobnicate")
	wantUsageError(t, err, "unknown command")
	_, _, err = runQuick(t, nil, "account")
	wantUsageError(t, err, "account without create")
	_, _, err = runQuick(t, nil, "account", "delete")
	wantUsageError(t, err, "account delete")

	out, errOut, err := runQuick(t, nil, "serve", "--help")
	if err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	if out != "" {
		t.Errorf("serve --help wrote %q on stdout", out)
	}
	for _, s := range []string{"--listen", "MFAD_LISTEN", "--db", "MFAD_DB", "--key-file", "MFAD_KEY_FILE", "--admin-email", "MFAD_ADMIN_EMAIL"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("serve --help does not mention %s:\n%s", s, errOut)
		}
	}
	_, errOut, err = runQuick(t, nil, "account", "create", "--help")
	if err != nil || !strings.Contains(errOut, "--title") {
		t.Errorf("account create --help: err %v, stderr %q", err, errOut)
	}

	db := filepath.Join(t.TempDir(), "mfad.db")
	_, err = launch(t, map[string]string{"MFAD_IDLE_TIMEOUT": "soon"}, serveArgs(db)...)
	wantUsageError(t, err, "MFAD_IDLE_TIMEOUT=soon")
	wantErrContains(t, err, "MFAD_IDLE_TIMEOUT")

	_, err = launch(t, nil, serveArgs(db, "--no-such-flag")...)
	wantUsageError(t, err, "unknown flag")
	_, err = launch(t, nil, serveArgs(db, "extra")...)
	wantUsageError(t, err, "extra argument")
	_, err = launch(t, nil, serveArgs(db, "--idle-timeout", "-1m")...)
	wantUsageError(t, err, "negative idle timeout")
	_, err = launch(t, nil, serveArgs(db, "--log-format", "xml")...)
	wantUsageError(t, err, "bad log format")

	// PostgreSQL needs a key file shared by every instance.
	_, err = launch(t, nil, serveArgs("postgres://127.0.0.1:1/none")...)
	wantUsageError(t, err, "postgres without --key-file")
	wantErrContains(t, err, "--key-file")
	// An unreachable database is a clear error, without the password.
	_, _, err = runQuick(t, nil, "account", "create", "--db", "postgres://u:secret-pw@127.0.0.1:1/none?connect_timeout=2", "--title", "T",
		"--admin-email", "t@example.com", "--admin-password", "password-t")
	wantErrContains(t, err, "connect")
	if strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("the error shows the database password: %v", err)
	}
	_, err = launch(t, nil, serveArgs("mysql://x")...)
	wantUsageError(t, err, "unknown database URL")
}

func TestHealthzAndOpenAPI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db)...)

	r := s.do(t, "GET", "/healthz", nil)
	r.want(t, http.StatusOK, "/healthz")
	var h map[string]any
	r.decode(t, &h)
	if len(h) != 1 || h["status"] != "ok" {
		t.Errorf("/healthz body %s, want {\"status\":\"ok\"}", r.body)
	}

	r = s.do(t, "GET", "/api/1.0/openapi.yaml", nil)
	r.want(t, http.StatusOK, "openapi.yaml")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("openapi.yaml Content-Type %q, want application/yaml", ct)
	}
	if !bytes.HasPrefix(r.body, []byte("openapi:")) {
		t.Errorf("openapi.yaml starts with %q, want \"openapi:\"", r.body[:min(len(r.body), 40)])
	}
	s.mustStop(t)
}

func TestLogsHoldNoSecrets(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, adminArgs()...)...)
	const wrong = "wrong-password-xyzzy"
	tok, _ := s.login(t, adminEmail, adminPassword, http.StatusOK)
	s.login(t, adminEmail, wrong, http.StatusUnauthorized)
	s.profile(t, tok)
	s.do(t, "GET", "/api/1.0/session/logout", nil, withToken(tok)).want(t, http.StatusOK, "logout")
	// Stop first: the access log line is written after the response.
	s.mustStop(t)

	logs := s.stderr.String()
	for _, secret := range []string{
		adminPassword, wrong, tok, "Basic ",
		base64.StdEncoding.EncodeToString([]byte(adminEmail + ":" + adminPassword)),
		base64.StdEncoding.EncodeToString([]byte(adminEmail + ":" + wrong)),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the secret %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{"route=/api/1.0/session/login", "status=401", "route=/api/1.0/profile"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q:\n%s", want, logs)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db)...)
	// Leave an idle keep-alive connection open.
	s.do(t, "GET", "/healthz", nil).want(t, http.StatusOK, "/healthz")
	addr := strings.TrimPrefix(s.url, "http://")

	start := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run returned %v after cancel, want nil", err)
		}
		s.once.Do(func() {}) // already stopped
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not return within 5s of cancel; stderr:\n%s", s.stderr)
	}
	t.Logf("shutdown took %v", time.Since(start))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after run returned", addr)
	}
	if !strings.Contains(s.stderr.String(), "shutting down") {
		t.Logf("no shutdown log line:\n%s", s.stderr)
	}
}

// TestShutdownFinishesInFlightRequests cancels run while password logins are
// in flight (one hashing, the others queued for the single hashing worker):
// a graceful shutdown lets them finish, so each answers 200.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mfad.db")
	s := startServer(t, nil, serveArgs(db, append(adminArgs(), "--hash-workers", "1")...)...)
	const n = 3
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			req, err := http.NewRequest("GET", s.url+"/api/1.0/session/login", nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			req.SetBasicAuth(adminEmail, adminPassword)
			res, err := s.client.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			results <- result{status: res.StatusCode, body: string(b), err: err}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the requests reach the server
	s.mustStop(t)
	for range n {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("in-flight login during shutdown: %v", r.err)
		case r.status != http.StatusOK:
			t.Errorf("in-flight login during shutdown: %d %s, want 200 (the shutdown cancelled the request)", r.status, strings.TrimSpace(r.body))
		}
	}
}
