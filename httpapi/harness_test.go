package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/passhash"
)

// env is a real server over real HTTP on loopback (see testserver) with a
// client and helpers. Account A has an admin; the tests add users.
type env struct {
	t      *testing.T
	srv    *testserver.Server
	store  mfad.Store
	svc    *auth.Service
	clock  *testserver.Clock
	logs   *testserver.Logs
	client *http.Client

	accountA, adminA string // ids
	adminAToken      string
}

const adminAEmail, adminAPassword = testserver.AdminEmail, testserver.AdminPassword

func newEnv(t *testing.T, mod ...func(*auth.Config)) *env {
	t.Helper()
	return newEnvWithHasher(t, nil, mod...)
}

func newEnvWithHasher(t *testing.T, hasher *passhash.Hasher, mod ...func(*auth.Config)) *env {
	t.Helper()
	return newEnvWith(t, testserver.Options{Hasher: hasher, Config: func(c *auth.Config) {
		for _, m := range mod {
			m(c)
		}
	}})
}

func newEnvWith(t *testing.T, opts testserver.Options) *env {
	t.Helper()
	srv := testserver.Start(t, opts)
	e := &env{t: t, srv: srv, store: srv.Store, svc: srv.Svc, clock: srv.Clock, logs: srv.Logs,
		client: &http.Client{Timeout: 30 * time.Second}, accountA: srv.AccountID, adminA: srv.AdminID}
	e.adminAToken = e.fullLogin(adminAEmail, adminAPassword)
	return e
}

// resp is a response read whole.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) String() string { return string(r.Body) }

// req is a request to send; Body is JSON-encoded unless it is a string.
type req struct {
	Method, Path string
	Token        string
	Body         any
	Header       map[string]string
	Extra        http.Header // values added after everything else (a header sent twice)
	Basic        *[2]string
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body io.Reader
	switch b := q.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	path := q.Path
	if !strings.HasPrefix(path, "/healthz") && !strings.HasPrefix(path, httpapi.BasePath) {
		path = httpapi.BasePath + path
	}
	r, err := http.NewRequest(q.Method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.Token != "" {
		r.Header.Set("X-Auth-Token", q.Token)
	}
	if q.Basic != nil {
		r.SetBasicAuth(q.Basic[0], q.Basic[1])
	}
	for k, v := range q.Header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	for k, vs := range q.Extra {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	res, err := e.client.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("%s %s: Cache-Control = %q, want no-store", q.Method, path, res.Header.Get("Cache-Control"))
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

func (e *env) get(path, token string) resp {
	e.t.Helper()
	return e.do(req{Method: "GET", Path: path, Token: token})
}

func (e *env) post(path, token string, body any) resp {
	e.t.Helper()
	return e.do(req{Method: "POST", Path: path, Token: token, Body: body})
}

func (e *env) passwordLogin(email, password string) resp {
	e.t.Helper()
	return e.do(req{Method: "GET", Path: "/session/login", Basic: &[2]string{email, password}})
}

// sessionID decodes {"session_id": ...}.
func (e *env) sessionID(r resp) string {
	e.t.Helper()
	var v struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.SessionID == "" {
		e.t.Fatalf("no session_id in %d %s", r.Status, r.Body)
	}
	return v.SessionID
}

// fullLogin logs in a user who owes no factor.
func (e *env) fullLogin(email, password string) string {
	e.t.Helper()
	r := e.passwordLogin(email, password)
	if r.Status != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	return e.sessionID(r)
}

// limitedLogin logs in with the password and expects a 207 owing step.
func (e *env) limitedLogin(email, password string, step mfad.Step) string {
	e.t.Helper()
	r := e.passwordLogin(email, password)
	if r.Status != 207 {
		e.t.Fatalf("login %s: %d %s, want 207", email, r.Status, r.Body)
	}
	if got := r.Header.Get("Mfa-Code"); got != string(rune('0'+int(step))) {
		e.t.Fatalf("login %s: Mfa-Code %q, want %d", email, got, step)
	}
	return e.sessionID(r)
}

// wantError checks an ErrorModel answer.
func (e *env) wantError(r resp, status int, code mfad.Code) {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	var m struct {
		Msg  *string `json:"msg"`
		Code *int    `json:"code"`
	}
	if err := json.Unmarshal(r.Body, &m); err != nil || m.Msg == nil || m.Code == nil {
		e.t.Fatalf("not an ErrorModel: %s", r.Body)
	}
	if *m.Code != int(code) {
		e.t.Fatalf("code %d, want %d; body %s", *m.Code, code, r.Body)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("error Content-Type %q", r.Header.Get("Content-Type"))
	}
}

func (e *env) wantStatus(r resp, status int) {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
}

// createUser makes a user in the admin's account and returns its id.
func (e *env) createUser(adminToken, email, password string, superAdmin bool) string {
	e.t.Helper()
	sa := "N"
	if superAdmin {
		sa = "Y"
	}
	r := e.post("/user/create", adminToken, map[string]string{"name": email, "email": email, "password": password, "super_admin": sa})
	e.wantStatus(r, 200)
	var u struct {
		ID string `json:"id"`
	}
	json.Unmarshal(r.Body, &u)
	return u.ID
}

type generated struct {
	QR     string `json:"qr"`
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

func (e *env) generate(token string) generated {
	e.t.Helper()
	r := e.get("/profile/2fa/generate", token)
	e.wantStatus(r, 200)
	var g generated
	if err := json.Unmarshal(r.Body, &g); err != nil || g.Secret == "" {
		e.t.Fatalf("generate: %s", r.Body)
	}
	return g
}

// code is the TOTP code of secret at the fake clock's step plus offset.
func (e *env) code(secret string, offset int64) string {
	e.t.Helper()
	return e.srv.Code(e.t, secret, offset)
}

// enroll turns 2FA on for the holder of a full session and returns the
// secret. The clock moves to the next step, so the enrollment code is spent.
func (e *env) enroll(token string) string {
	e.t.Helper()
	g := e.generate(token)
	r := e.post("/profile/set-mfa", token, map[string]string{"auth_type": "2FA", "code": e.code(g.Secret, 0)})
	e.wantStatus(r, 200)
	e.clock.Advance(30 * time.Second)
	return g.Secret
}

type profile struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	SuperAdmin  string   `json:"super_admin"`
	AccountID   string   `json:"account_id"`
	Status      string   `json:"status"`
	AuthMethods []string `json:"auth_methods"`
	ForcedAuth  []string `json:"forced_auth"`
	LastLogin   *int64   `json:"last_login"`
}

func (e *env) profile(token string) profile {
	e.t.Helper()
	r := e.get("/profile", token)
	e.wantStatus(r, 200)
	var p profile
	if err := json.Unmarshal(r.Body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) user(adminToken, id string) profile {
	e.t.Helper()
	r := e.get("/user/metadata/"+id, adminToken)
	e.wantStatus(r, 200)
	var p profile
	if err := json.Unmarshal(r.Body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}
