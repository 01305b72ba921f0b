package abuse_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/postgres"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
)

// ---- servers

// cheapHasher is an argon2id pool for the tests that are not about hashing:
// 64 KiB, one pass, so that fixtures and floods of logins cost little.
func cheapHasher() *passhash.Hasher {
	return passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 4, 512, 30*time.Second)
}

// options returns a maker of testserver.Options: the cheap hasher (or the
// production one when production is true), the per-address limit out of the
// way (every request of the suite comes from 127.0.0.1) unless a modifier
// sets it, then the modifiers.
func options(production bool, mods ...func(*auth.Config)) func() testserver.Options {
	return func() testserver.Options {
		o := testserver.Options{Config: func(c *auth.Config) {
			c.AddrThrottle.Limit = 1 << 20
			for _, m := range mods {
				m(c)
			}
		}}
		if !production {
			o.Hasher = cheapHasher()
		}
		return o
	}
}

// forEachStore runs fn on a fresh server on SQLite and on another on
// PostgreSQL, with the cheap hasher. The test runs in parallel with the
// other parallel tests, and so do its two subtests.
func forEachStore(t *testing.T, fn func(t *testing.T, srv *testserver.Server)) {
	t.Helper()
	forEachStoreWith(t, options(false), fn)
}

// forEachStoreWith is forEachStore with chosen options.
func forEachStoreWith(t *testing.T, opts func() testserver.Options, fn func(t *testing.T, srv *testserver.Server)) {
	t.Helper()
	t.Parallel()
	runStores(t, true, opts, fn)
}

// forEachStoreAlone is forEachStoreWith for the tests that measure time or
// memory: they run before the parallel tests start, one store after the
// other, so that nothing else of the suite runs meanwhile.
func forEachStoreAlone(t *testing.T, opts func() testserver.Options, fn func(t *testing.T, srv *testserver.Server)) {
	t.Helper()
	runStores(t, false, opts, fn)
}

func runStores(t *testing.T, parallel bool, opts func() testserver.Options, fn func(t *testing.T, srv *testserver.Server)) {
	t.Helper()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			o := opts()
			if store == "postgres" {
				o.DatabaseURL = pgtest.NewDatabase(t)
			}
			srv := testserver.Start(t, o)
			t.Cleanup(func() { checkLogs(t, srv.Logs.String()) })
			fn(t, srv)
		})
	}
}

// checkLogs fails the test on a log line that tells of a fault.
func checkLogs(t *testing.T, logs string) {
	t.Helper()
	for _, bad := range []string{"panic", "level=ERROR", "database is locked", "SQLITE_BUSY"} {
		if i := strings.Index(logs, bad); i >= 0 {
			t.Errorf("server log holds %q: %s", bad, lineAt(logs, i))
		}
	}
}

func lineAt(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[start:]
	}
	return s[start : i+end]
}

// ---- HTTP client

// resp is one answer, read whole, with the times the request was sent and
// the answer read.
type resp struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
	Start, End   time.Time
}

func (r resp) String() string {
	return fmt.Sprintf("%s %s: %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// client talks to one server. Every answer is checked against the
// invariants of the API (docs/api.md; see check) and kept for the leak checks. Its
// methods may be called from any goroutine: they report with t.Errorf.
type client struct {
	t   testing.TB
	url string
	hc  *http.Client

	mu   sync.Mutex
	seen []resp
}

func newClient(t testing.TB, url string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, url: url, hc: &http.Client{Timeout: 60 * time.Second, Transport: tr,
		// Redirects are answers too: never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// req builds a request. path is relative to the base path unless it starts
// with /healthz; body is sent as is when it is a string or []byte, else as
// JSON; a body brings Content-Type: application/json.
func (c *client) req(method, path string, body any) *http.Request {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(data)
	}
	if path != "/healthz" && path != "/readyz" { // the two paths outside the base path
		path = httpapi.BasePath + path
	}
	r, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		panic(err)
	}
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// send sends r and checks the answer. A transport error is reported and
// gives status 0.
func (c *client) send(r *http.Request) resp {
	out := resp{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, httpapi.BasePath), Start: time.Now()}
	res, err := c.hc.Do(r)
	if err != nil {
		c.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		return out
	}
	defer res.Body.Close()
	out.Body, err = io.ReadAll(res.Body)
	out.End = time.Now()
	if err != nil {
		c.t.Errorf("%s %s: reading the answer: %v", r.Method, r.URL.Path, err)
	}
	out.Status, out.Header = res.StatusCode, res.Header
	c.check(out)
	c.mu.Lock()
	c.seen = append(c.seen, out)
	c.mu.Unlock()
	return out
}

// leakMarkers must never appear in an error body: traces, SQL, paths,
// hashes, driver and version names.
var leakMarkers = []string{
	"goroutine ", ".go:", "panic", "runtime.", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "WHERE ",
	"sqlite", "SQLITE", "postgres", "SQLSTATE", "pgx", "pq:", "/tmp/", "/home/", "/work/", "/usr/",
	"mfad.db", "$argon2", "argon2id$", "go1.", "Go-http", "net/http",
}

// check enforces what every answer must be: no 5xx; no-store; no Server
// banner; an ErrorModel without internals for every error; Retry-After on
// 429. 431 comes from net/http itself, before mfad, and is plain text.
func (c *client) check(r resp) {
	if r.Status >= 500 {
		c.t.Errorf("5xx answer: %s", r)
	}
	if r.Status == http.StatusRequestHeaderFieldsTooLarge {
		return
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		c.t.Errorf("%s %s: Cache-Control %q", r.Method, r.Path, got)
	}
	for _, h := range []string{"Server", "X-Powered-By"} {
		if v := r.Header.Get(h); v != "" {
			c.t.Errorf("%s %s: %s banner %q", r.Method, r.Path, h, v)
		}
	}
	if r.Status < 400 {
		return
	}
	if _, ok := errorCode(r); !ok {
		c.t.Errorf("not an ErrorModel: %s", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s: error Content-Type %q", r, ct)
	}
	for _, m := range leakMarkers {
		if bytes.Contains(r.Body, []byte(m)) {
			c.t.Errorf("error body leaks %q: %s", m, r)
		}
	}
	if r.Status == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n <= 0 {
			c.t.Errorf("429 without a positive Retry-After (%q): %s", r.Header.Get("Retry-After"), r)
		}
	}
}

// errorCode decodes an ErrorModel: a JSON object with a string msg and an
// integer code in 0..100 (details, when present, an object).
func errorCode(r resp) (int, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return 0, false
	}
	var msg string
	var code int
	if json.Unmarshal(m["msg"], &msg) != nil || json.Unmarshal(m["code"], &code) != nil || code < 0 || code > 100 {
		return 0, false
	}
	for k, v := range m {
		switch k {
		case "msg", "code":
		case "details":
			var d map[string]any
			if json.Unmarshal(v, &d) != nil {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return code, true
}

// responses returns every answer seen so far.
func (c *client) responses() []resp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func (c *client) get(path, token string) resp {
	r := c.req("GET", path, nil)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	return c.send(r)
}

func (c *client) post(path, token string, body any) resp {
	r := c.req("POST", path, body)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	return c.send(r)
}

// login is GET /session/login with Basic credentials.
func (c *client) login(email, password string) resp {
	r := c.req("GET", "/session/login", nil)
	r.SetBasicAuth(email, password)
	return c.send(r)
}

// factor is POST /session/login.
func (c *client) factor(limited, authType, code string) resp {
	return c.post("/session/login", limited, obj{"auth_type": authType, "code": code})
}

type obj = map[string]any

// sid returns the session_id of a login answer, "" when there is none.
func sid(r resp) string {
	var v struct {
		SessionID string `json:"session_id"`
	}
	if json.Unmarshal(r.Body, &v) != nil {
		return ""
	}
	return v.SessionID
}

// ---- assertions (test goroutine only)

func want(t testing.TB, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want status %d", r, status)
	}
}

func wantErr(t testing.TB, r resp, status int, code mfad.Code) {
	t.Helper()
	want(t, r, status)
	if got, _ := errorCode(r); got != int(code) {
		t.Fatalf("got %s, want code %d", r, code)
	}
}

// wantErrIn accepts any of the codes.
func wantErrIn(t testing.TB, r resp, status int, codes ...mfad.Code) {
	t.Helper()
	want(t, r, status)
	got, _ := errorCode(r)
	for _, c := range codes {
		if got == int(c) {
			return
		}
	}
	t.Fatalf("got %s, want one of codes %v", r, codes)
}

func mustFull(t testing.TB, c *client, email, password string) string {
	t.Helper()
	r := c.login(email, password)
	want(t, r, 200)
	if s := sid(r); s != "" {
		return s
	}
	t.Fatalf("no session_id: %s", r)
	return ""
}

func mustLimited(t testing.TB, c *client, email, password string, step mfad.Step) string {
	t.Helper()
	r := c.login(email, password)
	want(t, r, 207)
	if got := r.Header.Get("Mfa-Code"); got != strconv.Itoa(int(step)) {
		t.Fatalf("login %s: Mfa-Code %q, want %d", email, got, step)
	}
	s := sid(r)
	if s == "" {
		t.Fatalf("no session_id: %s", r)
	}
	return s
}

// ---- TOTP, computed here from RFC 6238 (not with the server's package)

// rfcCode is the RFC 6238 (HMAC-SHA1) code of key for time step step.
func rfcCode(key []byte, step int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	h := m.Sum(nil)
	off := h[len(h)-1] & 0x0f
	bin := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

func secretKey(secret string) []byte {
	k, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		panic(fmt.Sprintf("secret %q is not base32: %v", secret, err))
	}
	return k
}

// codeAt is the 6-digit code of a base32 secret at now's step plus offset.
func codeAt(secret string, now time.Time, offset int64) string {
	return rfcCode(secretKey(secret), now.Unix()/30+offset, 6)
}

// other returns a well-formed 6-digit code different from code.
func other(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// ---- fixtures

// user is a fixture user and what the test knows of it.
type user struct {
	ID, Email, Password string
	Secret              string // the active TOTP secret, if any
	PIN                 string
	Token               string // a full session, if any
}

// fixture is the checklist's: account A with its admin and users with TOTP,
// with a PIN and with nothing; account B with its admin and one user.
type fixture struct {
	t   *testing.T
	srv *testserver.Server
	c   *client

	adminA, totp, pin, plain *user
	accountB                 string
	adminB, userB            *user
}

func newFixture(t *testing.T, srv *testserver.Server) *fixture {
	t.Helper()
	f := &fixture{t: t, srv: srv, c: newClient(t, srv.URL)}
	f.adminA = &user{ID: srv.AdminID, Email: testserver.AdminEmail, Password: testserver.AdminPassword}
	f.adminA.Token = mustFull(t, f.c, f.adminA.Email, f.adminA.Password)
	f.plain = f.newUser(f.adminA, "plain@a.example", false)
	f.totp = f.newUser(f.adminA, "totp@a.example", false)
	f.enroll(f.totp)
	f.pin = f.newUser(f.adminA, "pin@a.example", false)
	f.setPIN(f.pin, "482915")

	a, u, err := srv.Svc.CreateAccount(context.Background(), "B", auth.NewUser{Name: "Admin B", Email: "admin-b@b.example", Password: "admin-b-password"})
	if err != nil {
		t.Fatal(err)
	}
	f.accountB = a.ID
	f.adminB = &user{ID: u.ID, Email: u.Email, Password: "admin-b-password"}
	f.adminB.Token = mustFull(t, f.c, f.adminB.Email, f.adminB.Password)
	f.userB = f.newUser(f.adminB, "user-b@b.example", false)
	return f
}

// newUser creates a user through the API, in admin's account, and logs it in.
func (f *fixture) newUser(admin *user, email string, superAdmin bool) *user {
	f.t.Helper()
	u := &user{Email: email, Password: "pw-" + email}
	sa := "N"
	if superAdmin {
		sa = "Y"
	}
	r := f.c.post("/user/create", admin.Token, obj{"name": email, "email": email, "password": u.Password, "super_admin": sa})
	want(f.t, r, 200)
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(r.Body, &v) != nil || v.ID == "" {
		f.t.Fatalf("user/create: %s", r)
	}
	u.ID = v.ID
	u.Token = mustFull(f.t, f.c, u.Email, u.Password)
	return u
}

func (f *fixture) now() time.Time { return f.srv.Clock.Now() }

// code is u's TOTP code at the fake clock's step plus offset.
func (f *fixture) code(u *user, offset int64) string { return codeAt(u.Secret, f.now(), offset) }

// step advances the fake clock by one TOTP step (codes are single-use and
// steps only move forward).
func (f *fixture) step() { f.srv.Clock.Advance(30 * time.Second) }

// generate is GET /profile/2fa/generate; it returns the new pending secret.
func generate(t testing.TB, c *client, token string) string {
	t.Helper()
	r := c.get("/profile/2fa/generate", token)
	want(t, r, 200)
	var g struct {
		Secret string `json:"secret"`
	}
	if json.Unmarshal(r.Body, &g) != nil || g.Secret == "" {
		t.Fatalf("generate: %s", r)
	}
	return g.Secret
}

// enroll turns 2FA on for u from its full session and moves to the next step.
func (f *fixture) enroll(u *user) {
	f.t.Helper()
	secret := generate(f.t, f.c, u.Token)
	want(f.t, f.c.post("/profile/set-mfa", u.Token, obj{"auth_type": "2FA", "code": codeAt(secret, f.now(), 0)}), 200)
	u.Secret = secret
	f.step()
}

func (f *fixture) setPIN(u *user, pin string) {
	f.t.Helper()
	want(f.t, f.c.post("/profile/set-mfa", u.Token, obj{"auth_type": "PIN", "code": pin}), 200)
	u.PIN = pin
}

// limited logs u in with the password and expects a 207 owing step.
func (f *fixture) limited(u *user, step mfad.Step) string {
	f.t.Helper()
	return mustLimited(f.t, f.c, u.Email, u.Password, step)
}

// snapshot is GET /user of admin's account, the body as sent.
func (f *fixture) snapshot(admin *user) string {
	f.t.Helper()
	r := f.c.get("/user", admin.Token)
	want(f.t, r, 200)
	return string(r.Body)
}

// unchanged fails when an account's users differ from a snapshot.
func (f *fixture) unchanged(admin *user, before, what string) {
	f.t.Helper()
	if after := f.snapshot(admin); after != before {
		f.t.Fatalf("%s changed the users of %s:\nbefore %s\nafter  %s", what, admin.Email, before, after)
	}
}

type profile struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	SuperAdmin  string   `json:"super_admin"`
	AccountID   string   `json:"account_id"`
	AuthMethods []string `json:"auth_methods"`
	ForcedAuth  []string `json:"forced_auth"`
}

func getProfile(t testing.TB, c *client, path, token string) profile {
	t.Helper()
	r := c.get(path, token)
	want(t, r, 200)
	var p profile
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	return p
}

// countLines counts the log lines holding every one of the words.
func countLines(logs string, words ...string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		ok := line != ""
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			n++
		}
	}
	return n
}

// ---- concurrency

// parallel runs fn(i) for i in [0, n) at once, released together, and
// returns the answers in order.
func parallel(n int, fn func(i int) resp) []resp {
	out := make([]resp, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// tally counts the statuses of answers.
func tally(rs []resp) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func basicHeader(email, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
}

// ---- several instances on one database

// cluster is several mfad servers on one database (a SQLite file or a
// PostgreSQL database) with one sealing key and one fake clock, as
// "mfad serve" runs them; instances can be stopped and started again.
type cluster struct {
	t         *testing.T
	db        string
	key       seal.Key
	clock     *testserver.Clock
	mods      []func(*auth.Config)
	AccountID string
	AdminID   string
}

// instance is one server of a cluster.
type instance struct {
	c    *client
	logs *testserver.Logs
	stop func()
}

// forEachCluster runs fn on a cluster on SQLite and on another on
// PostgreSQL, in parallel like forEachStore; mods adjust the policies of
// every instance.
func forEachCluster(t *testing.T, fn func(t *testing.T, cl *cluster), mods ...func(*auth.Config)) {
	t.Helper()
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "mfad.db")
			if store == "postgres" {
				db = pgtest.NewDatabase(t)
			}
			cl := &cluster{t: t, db: db, key: seal.NewKey(), clock: testserver.NewClock(time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)), mods: mods}
			fn(t, cl)
		})
	}
}

// settle is how long a change made through one instance may take to reach
// another: at once on PostgreSQL; on SQLite, where each instance keeps a
// session cache that learns of other processes' commits from PRAGMA
// data_version, within a second (docs/operations.md).
func (cl *cluster) settle() time.Duration {
	if strings.HasPrefix(cl.db, "postgres") {
		return 0
	}
	return time.Second
}

// soon calls do until its answer has status, for cl.settle() at most, and
// returns the last answer.
func (cl *cluster) soon(do func() resp, status int) resp {
	deadline := time.Now().Add(cl.settle())
	for {
		r := do()
		if r.Status == status || !time.Now().Before(deadline) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start starts one more instance; the first creates account A and its admin.
func (cl *cluster) start() *instance {
	t := cl.t
	t.Helper()
	ctx := context.Background()
	var store mfad.Store
	var err error
	if strings.HasPrefix(cl.db, "postgres") {
		store, err = postgres.Open(ctx, cl.db, postgres.Options{SessionCache: true}) // as mfad serve
	} else {
		store, err = sqlite.Open(ctx, cl.db)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	cfg.Now = cl.clock.Now
	cfg.AddrThrottle.Limit = 1 << 20
	for _, m := range cl.mods {
		m(&cfg)
	}
	svc := auth.New(store, seal.NewBox(cl.key), cheapHasher(), cfg)
	logs := &testserver.Logs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = httpapi.NewHTTPServer(httpapi.NewServer(svc, store, log), log)
	hs.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			hs.Close()
			store.Close()
		})
	}
	t.Cleanup(stop)
	t.Cleanup(func() { checkLogs(t, logs.String()) })
	if cl.AccountID == "" {
		a, u, err := svc.CreateAccount(ctx, "A", auth.NewUser{Name: "Admin A", Email: testserver.AdminEmail, Password: testserver.AdminPassword})
		if err != nil {
			t.Fatal(err)
		}
		cl.AccountID, cl.AdminID = a.ID, u.ID
	}
	return &instance{c: newClient(t, hs.URL), logs: logs, stop: stop}
}

// ---- the API surface, read from the served OpenAPI document

// route is one operation of the served OpenAPI document.
type route struct {
	Method, Path string // Path relative to the base path, "/healthz" and "/readyz" as they are
	Public       bool   // takes no X-Auth-Token: security [] (none), or a cookie only
	Admin        bool   // answers 403 "admin rights required" (the shared Forbidden response): admins only
}

func (r route) String() string { return r.Method + " " + r.Path }

// routes lists the operations of GET /openapi.yaml, so that endpoints added
// later (the audit trail) are attacked too.
func routes(t testing.TB, c *client) []route {
	t.Helper()
	r := c.get("/openapi.yaml", "")
	want(t, r, 200)
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var out []route
	for path, item := range doc.Paths {
		for method, node := range item {
			switch method {
			case "get", "post", "put", "delete", "patch":
			default:
				continue
			}
			var op struct {
				Security  *[]map[string][]string `yaml:"security"`
				Responses map[string]yaml.Node   `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			// Admins only: the operation's 403 is the shared "admin
			// rights required" answer (a 403 of its own, such as a wrong
			// current password, is not).
			var forbidden struct {
				Ref string `yaml:"$ref"`
			}
			if n, ok := op.Responses["403"]; ok {
				n.Decode(&forbidden)
			}
			admin := forbidden.Ref == "#/components/responses/Forbidden"
			// An operation that names its own security and not api_key
			// never reads X-Auth-Token (none, or the session cookie of
			// forward auth only).
			token := op.Security == nil
			if op.Security != nil {
				for _, alt := range *op.Security {
					if _, ok := alt["api_key"]; ok {
						token = true
					}
				}
			}
			out = append(out, route{Method: strings.ToUpper(method), Path: path, Public: !token, Admin: admin})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) < 18 {
		t.Fatalf("only %d operations in openapi.yaml", len(out))
	}
	return out
}

// concrete fills the path parameters of a route.
func (r route) concrete(id string) string { return strings.ReplaceAll(r.Path, "{id}", id) }

// send calls the route with token and, for a POST, a body naming target in
// every field an endpoint may read.
func (r route) send(c *client, token, target string) resp {
	var body any
	if r.Method == "POST" {
		body = obj{"auth_type": "PIN", "code": "1234", "ids": []string{target}, "auth_methods": []string{"2FA"},
			"name": "intruder", "email": "intruder@x.example", "password": "intruder-password", "super_admin": "Y"}
	}
	q := c.req(r.Method, r.concrete(target), body)
	if token != "" {
		q.Header.Set("X-Auth-Token", token)
	}
	return c.send(q)
}
