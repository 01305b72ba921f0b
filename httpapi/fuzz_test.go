package httpapi

// Fuzz targets of the HTTP edge: JSON decoding of every request body, the
// auth_type and ids validators, Basic credentials on GET /session/login and
// X-Auth-Token on the authenticated routes. The two last ones run the real
// handler on an in-process server (SQLite in the fuzz target's temporary
// directory); internal/testserver cannot be used here, as it imports this
// package.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
)

// ---- FuzzDecodeRequests

// fuzzBodies are the request structs decode fills.
var fuzzBodies = []struct {
	name  string
	fresh func() any
}{
	{"factorReq", func() any { return new(factorReq) }},
	{"usersMFAReq", func() any { return new(usersMFAReq) }},
	{"userCreateReq", func() any { return new(userCreateReq) }},
	{"idsReq", func() any { return new(idsReq) }},
	{"settingsSetReq", func() any { return new(settingsSetReq) }},
	{"removeReq", func() any { return new(removeReq) }},
}

// decodeBody runs decode on a POST with body and, when ct is not empty, that
// Content-Type.
func decodeBody(body []byte, ct string, v any) error {
	r := httptest.NewRequest(http.MethodPost, BasePath+"/profile/set-mfa", bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return decode(httptest.NewRecorder(), r, v)
}

// isJSONType is the contract's rule: no Content-Type, or a JSON one
// (application/json or application/*+json), parameters ignored.
func isJSONType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// wantStatus is the HTTP status of each code decode and the validators may
// return (docs/api.md, "Conventions").
var wantStatus = map[mfad.Code]int{
	mfad.CodeBadJSON:   http.StatusBadRequest,
	mfad.CodeInvalid:   http.StatusBadRequest,
	mfad.CodeTooLarge:  http.StatusRequestEntityTooLarge,
	mfad.CodeMediaType: http.StatusUnsupportedMediaType,
}

// codeOf returns the code of err (-1 for nil) and fails unless err is an
// *mfad.Error with one of the codes of wantStatus.
func codeOf(t *testing.T, what string, err error) mfad.Code {
	t.Helper()
	if err == nil {
		return -1
	}
	var e *mfad.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %T %v is not an *mfad.Error", what, err, err)
	}
	st, ok := wantStatus[e.Code]
	if !ok {
		t.Fatalf("%s: error code %d (%v) is not one of bad JSON, invalid, too large, media type", what, e.Code, err)
	}
	if got := statusOf(e.Code); got != st {
		t.Fatalf("%s: code %d answers %d, want %d", what, e.Code, got, st)
	}
	return e.Code
}

// validate runs the validators the handlers apply to a decoded struct: they
// fail, if at all, with CodeInvalid.
func validate(t *testing.T, v any) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if c := codeOf(t, what, err); c != -1 && c != mfad.CodeInvalid {
			t.Fatalf("%s: code %d, want invalid (%d)", what, c, mfad.CodeInvalid)
		}
	}
	both := []mfad.AuthType{mfad.AuthTOTP, mfad.AuthPIN}
	switch v := v.(type) {
	case *factorReq:
		_, err := authType("auth_type", v.AuthType, both...)
		check("auth_type", err)
		_, err = required("code", v.Code)
		check("code", err)
	case *removeReq:
		_, err := authType("auth_type", v.AuthType, both...)
		check("auth_type", err)
	case *usersMFAReq:
		_, err := parseIDs(v.IDs)
		check("ids", err)
		_, err = authType("auth_type", v.AuthType, mfad.AuthTOTP)
		check("auth_type", err)
	case *idsReq:
		_, err := parseIDs(v.IDs)
		check("ids", err)
	case *settingsSetReq:
		_, err := required("auth_methods", v.AuthMethods)
		check("auth_methods", err)
	case *userCreateReq:
		_, err := required("email", v.Email)
		check("email", err)
	}
}

// FuzzDecodeRequests feeds arbitrary bodies and Content-Types to decode for
// every request struct. Properties: no panic; errors are *mfad.Error with a
// 400/413/415 code; a non-JSON Content-Type always gives 415 and a JSON one
// never does; a body over MaxBody always gives 413 (with a JSON type) and one
// within it never does; a body json.Valid rejects never decodes; a decoded
// struct survives encoding/json and decoding again unchanged; trailing
// white space up to MaxBody changes nothing; only members whose names are
// byte for byte the declared ones set a field, and no accepted body names a
// member twice (see exactNames).
func FuzzDecodeRequests(f *testing.F) {
	f.Add([]byte(`{"AUTH_TYPE":"2FA","Code":"012345","code":"1"}`), "application/json")
	f.Add([]byte(`{"auth_type":"2FA","auth_type":"PIN","code":"1"}`), "")
	f.Add([]byte(`{"idſ":["123e4567-e89b-12d3-a456-426614174000"],"IDS":[],"auth_type":"2FA"}`), "")
	f.Add([]byte(`{"Auth_Type":"PIN","auth_type\u0000":"2FA","auth_typ\u0065":"2FA"}`), "")
	f.Add([]byte(`{"auth_type":"2FA","code":"012345"}`), "application/json")
	f.Add([]byte(`{"ids":["123e4567-e89b-12d3-a456-426614174000"],"auth_type":"PIN","code":"1234"}`), "")
	f.Add([]byte(`{"auth_type":"2FA"} x`), "application/json; charset=utf-8")
	f.Add([]byte(`{"name":"Ann","email":"ann@example.com","password":"secret-pw","super_admin":"Y"}`), "application/vnd.api+json")
	f.Add([]byte(`{"auth_methods":["2FA"]}`), "text/plain")
	f.Add([]byte(`{"auth_type":"2FA"}`), "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		jsonType := isJSONType(ct)
		valid := json.Valid(body)
		h := fnv.New32a()
		h.Write(body)
		h.Write([]byte(ct))
		sampled := h.Sum32()%8 == 0
		for i, b := range fuzzBodies {
			v := b.fresh()
			err := decodeBody(body, ct, v)
			code := codeOf(t, b.name, err)
			switch {
			case !jsonType:
				if code != mfad.CodeMediaType {
					t.Fatalf("%s: Content-Type %q: code %d, want media type (%d)", b.name, ct, code, mfad.CodeMediaType)
				}
				continue
			case code == mfad.CodeMediaType:
				t.Fatalf("%s: JSON Content-Type %q refused", b.name, ct)
			case len(body) > MaxBody:
				if code != mfad.CodeTooLarge {
					t.Fatalf("%s: %d-byte body: code %d, want too large (%d)", b.name, len(body), code, mfad.CodeTooLarge)
				}
				continue
			case code == mfad.CodeTooLarge:
				t.Fatalf("%s: %d-byte body (limit %d) refused as too large", b.name, len(body), MaxBody)
			case !valid && err == nil:
				t.Fatalf("%s: json.Valid rejects %q but decode accepted it as %+v", b.name, body, v)
			}
			if err == nil {
				roundTrip(t, b.name, v, b.fresh())
				validate(t, v)
				exactNames(t, b.name, body, v, b.fresh())
			}
			// Trailing white space up to MaxBody changes nothing; one byte
			// more is too large. Each check reads 64 KiB, which would
			// dominate the run: it is made for one struct, on one input in
			// eight (chosen by a hash of the input, so it is reproducible).
			if sampled && i == len(body)%len(fuzzBodies) {
				padded := append(append([]byte{}, body...), bytes.Repeat([]byte{' '}, MaxBody-len(body))...)
				v2 := b.fresh()
				err2 := decodeBody(padded, ct, v2)
				if code2 := codeOf(t, b.name+" padded", err2); code2 != code || (err == nil && !reflect.DeepEqual(v, v2)) {
					t.Fatalf("%s: padded to %d bytes with spaces: code %d, %+v; unpadded: code %d, %+v", b.name, MaxBody, code2, v2, code, v)
				}
				if c := codeOf(t, b.name+" oversize", decodeBody(append(padded, ' '), ct, b.fresh())); c != mfad.CodeTooLarge {
					t.Fatalf("%s: %d-byte body: code %d, want too large", b.name, MaxBody+1, c)
				}
			}
		}
	})
}

// roundTrip encodes v with encoding/json, decodes the result into fresh (by
// decode when it fits in MaxBody: HTML escaping and U+FFFD for invalid UTF-8
// can make it longer than the original), and wants the same value.
func roundTrip(t *testing.T, name string, v, fresh any) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: encoding the decoded %+v: %v", name, v, err)
	}
	if len(enc) <= MaxBody {
		err = decodeBody(enc, "application/json", fresh)
	} else {
		err = json.Unmarshal(enc, fresh)
	}
	if err != nil {
		t.Fatalf("%s: decoding the re-encoded %s: %v", name, enc, err)
	}
	if !reflect.DeepEqual(v, fresh) {
		t.Fatalf("%s: round trip changed the value:\n%+v\n%s\n%+v", name, v, enc, fresh)
	}
}

// exactNames checks a body decode accepted into v: no member name occurs
// twice at the top level, and v equals what the body's members with exactly
// the declared names (the json tags of v's struct, byte for byte after JSON
// unescaping) decode to on their own. A decoder that folded case or Unicode
// ("Code", "AUTH_TYPE", "idſ" for "ids") would set a field from a member
// that is not in the filtered body, and fail here.
func exactNames(t *testing.T, name string, body []byte, v, fresh any) {
	t.Helper()
	declared := map[string]bool{}
	rt := reflect.TypeOf(v).Elem()
	for i := range rt.NumField() {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		declared[tag] = true
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return // not an object (null): nothing to compare
	}
	var kept bytes.Buffer
	kept.WriteByte('{')
	seen := map[string]bool{}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("%s: accepted body %q: reading a name: %v", name, body, err)
		}
		member := tok.String()
		if seen[member] {
			t.Fatalf("%s: accepted body %q names member %q twice", name, body, member)
		}
		seen[member] = true
		val, err := dec.ReadValue()
		if err != nil {
			t.Fatalf("%s: accepted body %q: reading a value: %v", name, body, err)
		}
		if declared[member] {
			if kept.Len() > 1 {
				kept.WriteByte(',')
			}
			quoted, _ := jsontext.AppendQuote(nil, member)
			kept.Write(quoted)
			kept.WriteByte(':')
			kept.Write(val)
		}
	}
	kept.WriteByte('}')
	if err := decodeJSON(kept.Bytes(), fresh); err != nil {
		t.Fatalf("%s: the declared members %s of accepted body %q are refused alone: %v", name, kept.Bytes(), body, err)
	}
	if !reflect.DeepEqual(v, fresh) {
		t.Fatalf("%s: body %q decoded to %+v, but its members with exactly the declared names %s decode to %+v: a member with another name set a field",
			name, body, v, kept.Bytes(), fresh)
	}
}

// ---- FuzzAuthTypeAndIDs

var (
	anyCaseUUID   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	lowerCaseUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// fuzzIDList builds the ids of a request: raw split on commas ("" is the
// empty list), cycled to n%1200 items when that is not 0 (so lists over
// MaxIDs and lists with repeats are common).
func fuzzIDList(raw string, n uint16) []string {
	list := []string{}
	if raw != "" {
		list = strings.Split(raw, ",")
	}
	if k := int(n) % 1200; k > 0 && len(list) > 0 {
		cycled := make([]string, k)
		for i := range cycled {
			cycled[i] = list[i%len(list)]
		}
		list = cycled
	}
	return list
}

// FuzzAuthTypeAndIDs checks the field validators: authType accepts exactly
// the allowed names, byte for byte; parseIDs accepts 1 to MaxIDs canonical
// UUIDs (any case) and returns them lower-cased, deduplicated, in first-seen
// order, each one of the input's.
func FuzzAuthTypeAndIDs(f *testing.F) {
	f.Add("2FA", "123e4567-e89b-12d3-a456-426614174000", uint16(0))
	f.Add("PIN", "123e4567-e89b-12d3-a456-426614174000,123E4567-E89B-12D3-A456-426614174000", uint16(3))
	f.Add("2fa", "", uint16(0))
	f.Add(" 2FA", "00000000-0000-0000-0000-000000000000", uint16(1001))
	f.Add("２FA", "../,' OR 1=1 --", uint16(0))
	f.Add("PIN\x00", "{123e4567-e89b-12d3-a456-426614174000}", uint16(1000))
	f.Fuzz(func(t *testing.T, at, raw string, n uint16) {
		for _, allowed := range [][]mfad.AuthType{{mfad.AuthTOTP, mfad.AuthPIN}, {mfad.AuthTOTP}} {
			got, err := authType("auth_type", &at, allowed...)
			want := false
			for _, a := range allowed {
				want = want || at == string(a)
			}
			if (err == nil) != want {
				t.Fatalf("authType(%q, %v) = %q, %v; want accepted: %v", at, allowed, got, err, want)
			}
			if err == nil && string(got) != at {
				t.Fatalf("authType(%q) = %q", at, got)
			}
			if err != nil && (got != "" || mfad.ErrorCode(err) != mfad.CodeInvalid) {
				t.Fatalf("authType(%q) = %q, %v; want \"\" and CodeInvalid", at, got, err)
			}
		}
		if _, err := authType("auth_type", nil, mfad.AuthTOTP); mfad.ErrorCode(err) != mfad.CodeInvalid {
			t.Fatalf("authType(nil) = %v; want CodeInvalid", err)
		}
		if _, err := parseIDs(nil); mfad.ErrorCode(err) != mfad.CodeInvalid {
			t.Fatalf("parseIDs(nil) = %v; want CodeInvalid", err)
		}

		in := fuzzIDList(raw, n)
		inCopy := slices.Clone(in)
		out, err := parseIDs(&in)
		if !reflect.DeepEqual(in, inCopy) {
			t.Fatal("parseIDs modified its input")
		}
		want := len(in) >= 1 && len(in) <= MaxIDs
		for _, s := range in {
			want = want && anyCaseUUID.MatchString(s)
		}
		if (err == nil) != want {
			t.Fatalf("parseIDs(%d ids %.200q) = %v; want accepted: %v", len(in), in, err, want)
		}
		if err != nil {
			if out != nil || mfad.ErrorCode(err) != mfad.CodeInvalid {
				t.Fatalf("parseIDs refused with %v, %v; want nil and CodeInvalid", out, err)
			}
			return
		}
		var distinct []string
		seen := map[string]bool{}
		for _, s := range in {
			if l := strings.ToLower(s); !seen[l] {
				seen[l] = true
				distinct = append(distinct, l)
			}
		}
		if len(out) < 1 || len(out) > MaxIDs || !reflect.DeepEqual(out, distinct) {
			t.Fatalf("parseIDs(%.200q) = %.200q; want %.200q", in, out, distinct)
		}
		for _, id := range out {
			if !lowerCaseUUID.MatchString(id) {
				t.Fatalf("parseIDs returned %q: not a lower-case canonical UUID", id)
			}
		}
	})
}

// ---- the in-process server of FuzzBasicAuth and FuzzToken

const (
	fuzzAdminEmail    = "fuzz-admin@example.com"
	fuzzAdminPassword = "correct horse battery staple"
	fuzzPINEmail      = "fuzz-pin@example.com"
	fuzzPINPassword   = "pin user's password"
	fuzzPIN           = "123456"
)

// fuzzLogs collects the server's log lines of one request.
type fuzzLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fuzzLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *fuzzLogs) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

type fuzzServer struct {
	srv  *Server
	logs *fuzzLogs
}

// newFuzzServer builds the real server on a fresh SQLite file, with tiny
// argon2id parameters and throttles too high to dominate. With users it
// makes account "Fuzz" with its admin (no factor: a password login is a
// full session) and a user with a PIN (a password login answers 207).
func newFuzzServer(f *testing.F, users bool) *fuzzServer {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(fuzzDBDir(f), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	hasher := passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 2, 64, time.Second)
	cfg := auth.DefaultConfig()
	lots := mfad.Throttle{Limit: 1 << 30, Window: time.Minute, Lock: time.Second}
	cfg.AddrThrottle, cfg.EmailThrottle = lots, lots
	svc := auth.New(store, seal.NewBox(seal.NewKey()), hasher, cfg)
	logs := &fuzzLogs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := &fuzzServer{srv: NewServer(svc, store, log), logs: logs}
	if !users {
		return fs
	}
	ctx = auth.WithLogger(ctx, log)
	if _, _, err := svc.CreateAccount(ctx, "Fuzz", auth.NewUser{Name: "Fuzz Admin", Email: fuzzAdminEmail, Password: fuzzAdminPassword}); err != nil {
		f.Fatal(err)
	}
	res, err := svc.PasswordLogin(ctx, fuzzAdminEmail, fuzzAdminPassword, "192.0.2.1")
	if err != nil {
		f.Fatal(err)
	}
	id, err := svc.Authenticate(ctx, res.Token)
	if err != nil {
		f.Fatal(err)
	}
	admin, err := auth.RequireAdmin(id)
	if err != nil {
		f.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, admin, auth.NewUser{Name: "PIN User", Email: fuzzPINEmail, Password: fuzzPINPassword})
	if err != nil {
		f.Fatal(err)
	}
	if err := svc.AdminSetMFA(ctx, admin, []string{u.ID}, mfad.AuthPIN, fuzzPIN); err != nil {
		f.Fatal(err)
	}
	logs.take()
	return fs
}

// fuzzDBDir is where the fuzz targets' database lives: a fresh directory in
// /dev/shm when there is one (every failed login commits, and a commit on a
// disk costs an fsync, which would leave a few hundred executions a second),
// else the target's temporary directory.
func fuzzDBDir(f *testing.F) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "mfad-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return f.TempDir()
}

// do serves r and returns the response and what was logged meanwhile.
func (fs *fuzzServer) do(r *http.Request) (*httptest.ResponseRecorder, string) {
	fs.logs.take()
	w := httptest.NewRecorder()
	fs.srv.ServeHTTP(w, r)
	return w, fs.logs.take()
}

// errorBody checks the headers every API answer carries and decodes an
// ErrorModel body.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) ErrorModel {
	t.Helper()
	var em ErrorModel
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&em); err != nil || em.Msg == "" {
		t.Fatalf("status %d: body %q is not an ErrorModel (%v)", w.Code, w.Body.Bytes(), err)
	}
	return em
}

func commonHeaders(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("status %d: Cache-Control %q", w.Code, cc)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d: Content-Type %q", w.Code, ct)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("status %d: body %q is not JSON", w.Code, w.Body.Bytes())
	}
}

// leaked reports whether secret is in got but not in what the same request
// with another secret produced (replay): what both hold is constant text of
// the server (a message, a field name), not the secret echoed back.
func leaked(got, secret string, replay func() string) bool {
	return secret != "" && strings.Contains(got, secret) && !strings.Contains(replay(), secret)
}

// ---- FuzzBasicAuth

// credentialsOf returns the password of the user whose email key is email's.
func credentialsOf(email string) (password string, step string, ok bool) {
	switch mfad.EmailKey(email) {
	case fuzzAdminEmail:
		return fuzzAdminPassword, "", true
	case fuzzPINEmail:
		return fuzzPINPassword, "2", true
	}
	return "", "", false
}

func basicRequest(header string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, BasePath+"/session/login", nil)
	r.Header.Set("Authorization", header)
	return r
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// FuzzBasicAuth checks the Basic credentials parser and the password login
// behind GET /session/login. Properties: r.BasicAuth never panics and what it
// parses round-trips through SetBasicAuth; the handler answers 200, 207, 401,
// 429 or 503 with JSON; a 200 or 207 happens only for the right password of
// an existing user (and always for the exact email and password); error
// answers are ErrorModels with the code of their status; neither the body
// nor the logs ever hold the password or the Authorization header.
func FuzzBasicAuth(f *testing.F) {
	fs := newFuzzServer(f, true)
	f.Add(basicHeader(fuzzAdminEmail, fuzzAdminPassword), fuzzPINEmail, fuzzPINPassword)
	f.Add(basicHeader("nobody@example.com", "hunter2 hunter2"), "FUZZ-ADMIN@example.com ", fuzzAdminPassword)
	f.Add("Basic", "a:b", "c")
	f.Add("basic Og==", "", "")
	f.Add("Bearer abc", "x@y", strings.Repeat("p", 2000))
	f.Fuzz(func(t *testing.T, header, user, pass string) {
		// The parser.
		u, p, ok := basicRequest(header).BasicAuth()
		if ok {
			if strings.Contains(u, ":") {
				t.Fatalf("BasicAuth(%q) user %q holds a colon", header, u)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.SetBasicAuth(u, p)
			if u2, p2, ok2 := r.BasicAuth(); !ok2 || u2 != u || p2 != p {
				t.Fatalf("BasicAuth(%q) = %q, %q; after SetBasicAuth: %q, %q, %v", header, u, p, u2, p2, ok2)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		if u2, p2, ok2 := r.BasicAuth(); !ok2 || u2+":"+p2 != user+":"+pass || strings.Contains(u2, ":") {
			t.Fatalf("SetBasicAuth(%q, %q) parsed back as %q, %q, %v", user, pass, u2, p2, ok2)
		}

		// The handler, with the raw header and with well-formed
		// credentials.
		checkLogin(t, fs, header, u, p, ok)
		checkLogin(t, fs, basicHeader(user, pass), user, pass, true)
	})
}

// checkLogin serves GET /session/login with the Authorization header value
// header, which parses as user and pass when basicOK.
func checkLogin(t *testing.T, fs *fuzzServer, header, user, pass string, basicOK bool) {
	t.Helper()
	w, logs := fs.do(basicRequest(header))
	commonHeaders(t, w)
	body := w.Body.String()
	want, step, known := credentialsOf(user)
	right := basicOK && known && pass == want && len(user) <= 254
	switch w.Code {
	case http.StatusOK, http.StatusMultiStatus:
		if !right {
			t.Fatalf("Authorization %q (%q, %q): %d %s without the right password", header, user, pass, w.Code, body)
		}
		var sr struct {
			SessionID string `json:"session_id"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &sr); err != nil || !lowerCaseUUID.MatchString(sr.SessionID) {
			t.Fatalf("%d: body %s holds no session id (%v)", w.Code, body, err)
		}
		if got := w.Header().Get("Mfa-Code"); (w.Code == http.StatusOK) != (step == "") || got != step {
			t.Fatalf("%s: %d with Mfa-Code %q; want Mfa-Code %q", user, w.Code, got, step)
		}
	case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if right && user == strings.TrimSpace(user) && w.Code == http.StatusUnauthorized {
			t.Fatalf("the right password of %q: %d %s", user, w.Code, body)
		}
		em := errorBody(t, w)
		codes := map[int][]mfad.Code{
			http.StatusUnauthorized:       {mfad.CodeUnauthenticated, mfad.CodeBadCredentials},
			http.StatusTooManyRequests:    {mfad.CodeTooManyAttempts},
			http.StatusServiceUnavailable: {mfad.CodeBusy, mfad.CodeUnavailable},
		}[w.Code]
		if !containsCode(codes, mfad.Code(em.Code)) {
			t.Fatalf("status %d with code %d, want one of %v", w.Code, em.Code, codes)
		}
		if w.Code == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("429 with Retry-After %q", w.Header().Get("Retry-After"))
			}
		}
	default:
		t.Fatalf("Authorization %q: status %d %s; want 200, 207, 401, 429 or 503", header, w.Code, body)
	}

	// No secret echoed: the password in an error body, the password or the
	// header in the logs (where request ids and times vary, so only long
	// enough values are checked).
	var replayBody, replayLogs string
	replay := func() {
		if replayBody == "" {
			other := "replay-" + strings.Repeat("z", 16)
			rw, rlogs := fs.do(basicRequest(basicHeader(user, other)))
			replayBody, replayLogs = rw.Body.String(), rlogs
		}
	}
	if w.Code != http.StatusOK && w.Code != http.StatusMultiStatus && basicOK &&
		leaked(body, pass, func() string { replay(); return replayBody }) {
		t.Fatalf("the error body %s holds the password %q", body, pass)
	}
	for _, secret := range []string{pass, header} {
		if len(secret) >= 12 && (secret == header || basicOK) && leaked(logs, secret, func() string { replay(); return replayLogs }) {
			t.Fatalf("the logs hold the secret %q:\n%s", secret, logs)
		}
	}
}

func containsCode(codes []mfad.Code, c mfad.Code) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// ---- FuzzToken

// FuzzToken sends arbitrary X-Auth-Token values to a server that has no
// session. Properties: every authenticated route answers 401 with the
// unauthenticated ErrorModel (never 500, never the body checks first), and
// neither the body nor the logs hold the token.
func FuzzToken(f *testing.F) {
	fs := newFuzzServer(f, false)
	for _, s := range []string{
		"123e4567-e89b-42d3-a456-426614174000", "123E4567-E89B-42D3-A456-426614174000",
		"00000000-0000-0000-0000-000000000000", "{123e4567-e89b-42d3-a456-426614174000}",
		"", " ", "null", "' OR 1=1 --", "123e4567-e89b-42d3-a456-42661417400\x00",
		strings.Repeat("a", 10240),
	} {
		f.Add(s)
	}
	routes := []struct{ method, path, body string }{
		{http.MethodGet, "/profile", ""},
		{http.MethodGet, "/session/keepalive", ""},
		{http.MethodGet, "/session/logout", ""},
		{http.MethodPost, "/session/login", "not json"},
		{http.MethodPost, "/user/set-mfa", `{"ids":[],"auth_type":"x"}`},
	}
	f.Fuzz(func(t *testing.T, token string) {
		for i, rt := range routes {
			req := func(tok string) *http.Request {
				var r *http.Request
				if rt.body != "" {
					r = httptest.NewRequest(rt.method, BasePath+rt.path, strings.NewReader(rt.body))
					r.Header.Set("Content-Type", "text/plain")
				} else {
					r = httptest.NewRequest(rt.method, BasePath+rt.path, nil)
				}
				r.Header.Set("X-Auth-Token", tok)
				if i == len(routes)-1 {
					r.Header.Add("X-Auth-Token", tok) // twice: refused too
				}
				return r
			}
			w, logs := fs.do(req(token))
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("%s %s with X-Auth-Token %q: %d %s; want 401", rt.method, rt.path, token, w.Code, w.Body)
			}
			commonHeaders(t, w)
			if em := errorBody(t, w); mfad.Code(em.Code) != mfad.CodeUnauthenticated {
				t.Fatalf("%s %s: code %d, want %d", rt.method, rt.path, em.Code, mfad.CodeUnauthenticated)
			}
			var rbody, rlogs string
			replay := func() {
				if rbody == "" {
					rw, l := fs.do(req("replay-" + strings.Repeat("z", 16)))
					rbody, rlogs = rw.Body.String(), l
				}
			}
			if leaked(w.Body.String(), token, func() string { replay(); return rbody }) {
				t.Fatalf("the body %s holds the token %q", w.Body, token)
			}
			if len(token) >= 12 && leaked(logs, token, func() string { replay(); return rlogs }) {
				t.Fatalf("the logs hold the token %q:\n%s", token, logs)
			}
		}
	})
}
