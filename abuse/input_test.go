package abuse_test

// Bad input: checklist items 1 to 7, with the hostile JSON and header abuse
// of the issue.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/internal/testserver"
)

// noEmailLock keeps the per-email lockout out of tests that send many
// rejected second-factor requests on purpose (they all count).
func noEmailLock(c *auth.Config) { c.EmailThrottle.Limit = 1 << 20 }

// target is an endpoint that takes a JSON body, with a token that may call it.
type target struct {
	path  string
	token string // "" on /session/login: a fresh limited session per request
}

func (f *fixture) jsonTargets() []target {
	return []target{
		{"/session/login", ""},
		{"/profile/set-mfa", f.plain.Token},
		{"/profile/remove-mfa", f.pin.Token},
		{"/user/set-mfa", f.adminA.Token},
		{"/user/remove-mfa", f.adminA.Token},
		{"/user/reset-mfa", f.adminA.Token},
		{"/user/create", f.adminA.Token},
		{"/user/delete", f.adminA.Token},
		{"/settings/set", f.adminA.Token},
	}
}

// postTo sends body to tg, on /session/login with a fresh limited session of
// the TOTP user.
func (f *fixture) postTo(tg target, body any) resp {
	f.t.Helper()
	tok := tg.token
	if tok == "" {
		tok = f.limited(f.totp, mfad.StepTOTP)
	}
	return f.c.post(tg.path, tok, body)
}

// 1. Truncated JSON, trailing garbage, two concatenated objects, empty body:
// 400. With the hostile JSON of the issue: huge numbers, nulls where strings
// are due, invalid UTF-8, and duplicate keys.
func TestItem01MalformedJSON(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		bodies := []struct{ name, body string }{
			{"empty", ""},
			{"whitespace", " \r\n\t "},
			{"truncated object", `{"auth_type":"PIN"`},
			{"truncated string", `{"auth_type":"PI`},
			{"truncated key", `{"auth_ty`},
			{"lone brace", `{`},
			{"trailing garbage", `{"auth_type":"PIN"}x`},
			{"trailing comma", `{"auth_type":"PIN",}`},
			{"two objects", `{"auth_type":"PIN"}{"auth_type":"PIN"}`},
			{"two objects spaced", `{"auth_type":"PIN"} {"auth_type":"2FA"}`},
			{"object then array", `{"auth_type":"PIN"}[]`},
			{"single quotes", `{'auth_type':'PIN'}`},
			{"comment", `{"auth_type":"PIN"}//x`},
			{"form encoded", `auth_type=PIN&code=1234`},
			{"array", `[{"auth_type":"PIN"}]`},
			{"string", `"PIN"`},
			{"number", `12`},
			{"NaN", `{"auth_type":"PIN","code":NaN}`},
			{"byte order mark", "\ufeff{\"auth_type\":\"PIN\"}"},
		}
		for _, tg := range f.jsonTargets() {
			for _, b := range bodies {
				r := f.postTo(tg, b.body)
				if r.Status != 400 {
					t.Fatalf("%s body on %s: %s, want 400", b.name, tg.path, r)
				}
				wantErr(t, r, 400, mfad.CodeBadJSON)
			}
		}

		// Huge numbers and nulls where strings are due.
		hostile := []struct {
			name, path, body string
			code             mfad.Code
		}{
			{"auth_type 1e400", "/profile/remove-mfa", `{"auth_type":1e400}`, mfad.CodeBadJSON},
			{"code 1e400", "/profile/set-mfa", `{"auth_type":"PIN","code":1e400}`, mfad.CodeBadJSON},
			{"login code 1e400", "/session/login", `{"auth_type":"2FA","code":1e400}`, mfad.CodeBadJSON},
			{"login auth_type 1e400", "/session/login", `{"auth_type":1e400,"code":"123456"}`, mfad.CodeBadJSON},
			{"code 30 digits", "/profile/set-mfa", `{"auth_type":"PIN","code":123456789012345678901234567890}`, mfad.CodeBadJSON},
			{"code -1e-400", "/session/login", `{"auth_type":"2FA","code":-1e-400}`, mfad.CodeBadJSON},
			{"ids 1e400", "/user/set-mfa", `{"ids":[1e400],"auth_type":"2FA"}`, mfad.CodeBadJSON},
			{"auth_type null", "/profile/remove-mfa", `{"auth_type":null}`, mfad.CodeInvalid},
			{"code null", "/profile/set-mfa", `{"auth_type":"PIN","code":null}`, mfad.CodeInvalid},
			{"login code null", "/session/login", `{"auth_type":"2FA","code":null}`, mfad.CodeInvalid},
			{"login auth_type null", "/session/login", `{"auth_type":null,"code":"123456"}`, mfad.CodeInvalid},
			{"name null", "/user/create", `{"name":null,"email":"n@a.example","password":"password-1"}`, mfad.CodeInvalid},
			{"email null", "/user/create", `{"name":"n","email":null,"password":"password-1"}`, mfad.CodeInvalid},
			{"password null", "/user/create", `{"name":"n","email":"n@a.example","password":null}`, mfad.CodeInvalid},
			{"ids [null]", "/user/set-mfa", `{"ids":[null],"auth_type":"2FA"}`, mfad.CodeInvalid},
			{"ids null", "/user/delete", `{"ids":null}`, mfad.CodeInvalid},
			{"auth_methods null", "/settings/set", `{"auth_methods":null}`, mfad.CodeInvalid},
			{"auth_methods [null]", "/settings/set", `{"auth_methods":[null]}`, mfad.CodeInvalid},
			{"invalid UTF-8 auth_type", "/profile/remove-mfa", "{\"auth_type\":\"PIN\xff\"}", mfad.CodeBadJSON},
			{"invalid UTF-8 only", "/profile/remove-mfa", "{\"auth_type\":\"\xc3\x28\"}", mfad.CodeBadJSON},
			{"invalid UTF-8 key", "/profile/remove-mfa", "{\"auth\xff_type\":\"PIN\"}", mfad.CodeBadJSON},
			{"invalid UTF-8 login auth_type", "/session/login", "{\"auth_type\":\"2FA\xff\",\"code\":\"123456\"}", mfad.CodeBadJSON},
			{"invalid UTF-8 id", "/user/reset-mfa", "{\"ids\":[\"" + f.totp.ID[:35] + "\xff\"],\"auth_type\":\"2FA\"}", mfad.CodeBadJSON},
		}
		tokens := map[string]string{}
		for _, tg := range f.jsonTargets() {
			tokens[tg.path] = tg.token
		}
		for _, h := range hostile {
			r := f.postTo(target{h.path, tokens[h.path]}, h.body)
			if r.Status != 400 {
				t.Fatalf("%s: %s, want 400", h.name, r)
			}
			wantErr(t, r, 400, h.code)
		}
		// Invalid UTF-8 anywhere is a malformed body (JSON text is UTF-8),
		// also in a login code: 400, counted like a wrong code.
		wantErr(t, f.postTo(target{"/session/login", ""}, "{\"auth_type\":\"2FA\",\"code\":\"12345\xff\"}"), 400, mfad.CodeBadJSON)
		f.unchanged(f.adminA, beforeA, "malformed JSON")
		f.unchanged(f.adminB, beforeB, "malformed JSON")

		// Invalid UTF-8 in free text is refused like any malformed body.
		r := f.c.post("/user/create", f.adminA.Token, "{\"name\":\"Bad\xffName\",\"email\":\"utf8@a.example\",\"password\":\"password-utf8\"}")
		wantErr(t, r, 400, mfad.CodeBadJSON)
		r = f.c.post("/user/create", f.adminA.Token, "{\"name\":\"x\",\"email\":\"bad\xff@a.example\",\"password\":\"password-utf8\"}")
		wantErr(t, r, 400, mfad.CodeBadJSON)
		// The list stays valid JSON.
		if !json.Valid([]byte(f.snapshot(f.adminA))) {
			t.Fatal("GET /user is not valid JSON after invalid UTF-8 input")
		}

		// A name given twice is refused, whatever the values, and counted
		// on the login step like any bad body.
		lim := f.limited(f.totp, mfad.StepTOTP)
		code := f.code(f.totp, 0)
		wantErr(t, f.c.post("/session/login", lim, `{"auth_type":"2FA","auth_type":"PIN","code":"`+code+`"}`), 400, mfad.CodeBadJSON)
		wantErr(t, f.c.post("/session/login", lim, `{"auth_type":"PIN","auth_type":"2FA","code":"000000","code":"`+code+`"}`), 400, mfad.CodeBadJSON)
		wantErr(t, f.c.post("/session/login", lim, `{"auth_type":"2FA","auth_type":"2FA","code":"`+code+`"}`), 400, mfad.CodeBadJSON)
		// Names match exactly: a right code under another spelling is a
		// missing field, never a login.
		wantErr(t, f.c.post("/session/login", lim, `{"AUTH_TYPE":"2FA","code":"`+code+`"}`), 400, mfad.CodeInvalid)
		r = f.c.post("/session/login", lim, `{"auth_type":"2FA","code":"`+code+`"}`)
		want(t, r, 200) // four failures so far: the session is still open
		f.step()
		wantErr(t, f.c.post("/profile/remove-mfa", f.pin.Token, `{"auth_type":"PIN","auth_type":"2FA"}`), 400, mfad.CodeBadJSON)
		wantErr(t, f.c.post("/profile/remove-mfa", f.pin.Token, `{"Auth_Type":"PIN"}`), 400, mfad.CodeInvalid)
		if p := getProfile(t, f.c, "/profile", f.pin.Token); !slices.Contains(p.AuthMethods, "PIN") {
			t.Fatalf("a refused body removed the PIN: %+v", p)
		}
	})
}

// 2. code as number, array, object, null, boolean; auth_type as number: 400,
// counted on the login step. A code with a leading zero keeps its zero.
func TestItem02CodeTypesAndLeadingZero(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		bad := []struct {
			name, body string
			code       mfad.Code
		}{
			{"code number", `{"auth_type":"2FA","code":123456}`, mfad.CodeBadJSON},
			{"code array", `{"auth_type":"2FA","code":["123456"]}`, mfad.CodeBadJSON},
			{"code object", `{"auth_type":"2FA","code":{"code":"123456"}}`, mfad.CodeBadJSON},
			{"code null", `{"auth_type":"2FA","code":null}`, mfad.CodeInvalid},
			{"code true", `{"auth_type":"2FA","code":true}`, mfad.CodeBadJSON},
			{"code false", `{"auth_type":"2FA","code":false}`, mfad.CodeBadJSON},
			{"auth_type number", `{"auth_type":2,"code":"123456"}`, mfad.CodeBadJSON},
			{"auth_type array", `{"auth_type":["2FA"],"code":"123456"}`, mfad.CodeBadJSON},
			{"auth_type object", `{"auth_type":{},"code":"123456"}`, mfad.CodeBadJSON},
			{"auth_type bool", `{"auth_type":true,"code":"123456"}`, mfad.CodeBadJSON},
		}
		// On the login step every one counts: the fifth closes the session.
		var lim string
		for i, b := range bad {
			if i%5 == 0 {
				lim = f.limited(f.totp, mfad.StepTOTP)
			}
			wantErr(t, f.c.post("/session/login", lim, b.body), 400, b.code)
			if i%5 == 4 {
				wantErr(t, f.c.factor(lim, "2FA", f.code(f.totp, 0)), 401, mfad.CodeUnauthenticated)
			}
		}
		// The same bodies on the profile and admin endpoints.
		before := f.snapshot(f.adminA)
		for _, b := range bad {
			pinBody := strings.Replace(b.body, `"2FA"`, `"PIN"`, 1)
			want(t, f.c.post("/profile/set-mfa", f.plain.Token, pinBody), 400)
			adminBody := strings.Replace(pinBody, "{", `{"ids":["`+f.plain.ID+`"],`, 1)
			want(t, f.c.post("/user/set-mfa", f.adminA.Token, adminBody), 400)
		}
		f.unchanged(f.adminA, before, "codes of the wrong JSON type")

		// Leading zeros are kept: a PIN set by the user ...
		z := f.newUser(f.adminA, "zero@a.example", false)
		f.setPIN(z, "0123")
		wantErr(t, f.c.factor(f.limited(z, mfad.StepPIN), "PIN", "123"), 401, mfad.CodeWrongCode)
		want(t, f.c.factor(f.limited(z, mfad.StepPIN), "PIN", "0123"), 200)
		// ... a PIN set by an admin ...
		want(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{z.ID}, "auth_type": "PIN", "code": "007042"}), 200)
		wantErr(t, f.c.factor(f.limited(z, mfad.StepPIN), "PIN", "7042"), 401, mfad.CodeWrongCode)
		want(t, f.c.factor(f.limited(z, mfad.StepPIN), "PIN", "007042"), 200)
		// ... and a TOTP code: move to a step whose code starts with 0.
		for i := 0; f.code(f.totp, 0)[0] != '0'; i++ {
			if i > 1000 {
				t.Fatal("no code with a leading zero in 1000 steps")
			}
			f.step()
		}
		code := f.code(f.totp, 0)
		lim = f.limited(f.totp, mfad.StepTOTP)
		wantErr(t, f.c.factor(lim, "2FA", code[1:]), 401, mfad.CodeWrongCode)
		want(t, f.c.factor(lim, "2FA", code), 200)
		t.Logf("TOTP code with a leading zero accepted: %s", code)
	})
}

// authTypeVariants are near misses of "2FA" and "PIN" (enums are exact and
// case-sensitive).
var authTypeVariants = []string{
	"2fa", "2Fa", " 2FA", "2FA ", "\t2FA", "TOTP", "totp", "OTP", "HOTP", "２ＦＡ", "2FA\x00", "2\u200bFA", "2ＦA",
	"pin", "Pin", " PIN", "PIN\n", "ＰＩＮ", "PIN\x00", "", "2FA,PIN", "2FA PIN", "*", "null", "2FA\u0301",
}

// 3. auth_type variants ("2fa", " 2FA", "TOTP", full-width letters, embedded
// NUL): 400 on every endpoint that takes one, and nothing applied.
func TestItem03AuthTypeVariants(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		var lim string
		n := 0
		for _, v := range authTypeVariants {
			cases := []struct {
				path, token string
				body        obj
			}{
				{"/profile/set-mfa", f.plain.Token, obj{"auth_type": v, "code": "135790"}},
				{"/profile/remove-mfa", f.pin.Token, obj{"auth_type": v}},
				{"/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.plain.ID}, "auth_type": v, "code": "1357"}},
				{"/user/remove-mfa", f.adminA.Token, obj{"ids": []string{f.pin.ID}, "auth_type": v}},
				{"/user/reset-mfa", f.adminA.Token, obj{"ids": []string{f.totp.ID}, "auth_type": v}},
			}
			for _, c := range cases {
				r := f.c.post(c.path, c.token, c.body)
				if r.Status != 400 {
					t.Fatalf("auth_type %q on %s: %s", v, c.path, r)
				}
				wantErr(t, r, 400, mfad.CodeInvalid)
			}
			// On the login step, with the right code: refused and counted.
			if n%5 == 0 {
				lim = f.limited(f.totp, mfad.StepTOTP)
			}
			n++
			wantErr(t, f.c.factor(lim, v, f.code(f.totp, 0)), 400, mfad.CodeInvalid)
		}
		// reset-mfa takes only "2FA".
		wantErr(t, f.c.post("/user/reset-mfa", f.adminA.Token, obj{"ids": []string{f.totp.ID}, "auth_type": "PIN"}), 400, mfad.CodeInvalid)
		f.unchanged(f.adminA, beforeA, "auth_type variants")
		f.unchanged(f.adminB, beforeB, "auth_type variants")
		// The code sent with the variants was never consumed.
		want(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.code(f.totp, 0)), 200)
	})
}

// 4. Extra fields (user_id, verified, super_admin, account_id, id where not
// expected) never change the target user, skip a check, or grant a right.
func TestItem04ExtraFields(t *testing.T) {
	forEachStoreWith(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		extra := func(m obj, target *user) obj {
			m["user_id"], m["id"], m["ids"] = target.ID, target.ID, []string{target.ID}
			m["account_id"], m["super_admin"], m["verified"] = f.accountB, "Y", true
			m["session_id"], m["mfa_code"], m["step"], m["skip"] = f.adminA.Token, 0, 0, true
			return m
		}
		beforeB := f.snapshot(f.adminB)
		pinBefore := getProfile(t, f.c, "/user/metadata/"+f.pin.ID, f.adminA.Token)

		// The profile calls act on the caller only.
		want(t, f.c.post("/profile/set-mfa", f.plain.Token, extra(obj{"auth_type": "PIN", "code": "975310"}, f.pin)), 200)
		want(t, f.c.post("/profile/remove-mfa", f.plain.Token, extra(obj{"auth_type": "PIN"}, f.pin)), 200)
		want(t, f.c.post("/profile/set-mfa", f.plain.Token, extra(obj{"auth_type": "PIN", "code": "975310"}, f.adminA)), 200)
		p := getProfile(t, f.c, "/profile?user_id="+f.adminA.ID+"&super_admin=Y", f.plain.Token)
		if p.ID != f.plain.ID || p.SuperAdmin != "N" || !slices.Equal(p.AuthMethods, []string{"PIN"}) {
			t.Fatalf("extra fields changed the target or the rights: %+v", p)
		}
		if got := getProfile(t, f.c, "/user/metadata/"+f.pin.ID, f.adminA.Token); !slices.Equal(got.AuthMethods, pinBefore.AuthMethods) {
			t.Fatalf("the PIN user was changed through another user's call: %+v", got)
		}
		// The PIN user's PIN is still the old one.
		want(t, f.c.factor(f.limited(f.pin, mfad.StepPIN), "PIN", f.pin.PIN), 200)
		// The admin got no PIN.
		want(t, f.c.login(f.adminA.Email, f.adminA.Password), 200)

		// A non-admin claiming rights in the body stays a non-admin.
		for _, path := range []string{"/user/set-mfa", "/user/create", "/settings/set", "/user/delete"} {
			body := extra(obj{"auth_type": "PIN", "code": "1234", "auth_methods": []string{"2FA"}, "name": "x", "email": "x@a.example", "password": "password-x"}, f.plain)
			wantErr(t, f.c.post(path, f.plain.Token, body), 403, mfad.CodeForbidden)
		}

		// The login step checks the code whatever the body claims.
		lim := f.limited(f.totp, mfad.StepTOTP)
		wantErr(t, f.c.post("/session/login", lim, extra(obj{"auth_type": "2FA", "code": other(f.code(f.totp, 0))}, f.plain)), 401, mfad.CodeWrongCode)
		r := f.c.post("/session/login", lim, extra(obj{"auth_type": "2FA", "code": f.code(f.totp, 0)}, f.adminA))
		want(t, r, 200)
		f.step()
		if p := getProfile(t, f.c, "/profile", sid(r)); p.ID != f.totp.ID || p.SuperAdmin != "N" {
			t.Fatalf("the login step gave another user's session or rights: %+v", p)
		}

		// An admin's user/create lands in the admin's own account whatever the
		// body says, with a fresh id.
		forged := uuid.NewString()
		r = f.c.post("/user/create", f.adminA.Token, obj{"name": "x", "email": "extra@a.example", "password": "password-x",
			"account_id": f.accountB, "id": forged, "user_id": f.userB.ID, "status": "X", "auth_methods": []string{"2FA"}, "forced_auth": []string{"PIN"}})
		want(t, r, 200)
		var u struct {
			ID, AccountID string
			AuthMethods   []string `json:"auth_methods"`
			ForcedAuth    []string `json:"forced_auth"`
			Status        string
		}
		json.Unmarshal(r.Body, &u)
		var acct struct {
			AccountID string `json:"account_id"`
		}
		json.Unmarshal(r.Body, &acct)
		if u.ID == forged || u.ID == f.userB.ID || acct.AccountID != srv.AccountID || len(u.AuthMethods) != 0 || len(u.ForcedAuth) != 0 || u.Status != "A" {
			t.Fatalf("user/create obeyed extra fields: %s", r)
		}
		// The admin calls do not reach B through account_id.
		wantErr(t, f.c.post("/user/set-mfa", f.adminA.Token, obj{"ids": []string{f.userB.ID}, "auth_type": "2FA", "account_id": f.accountB}), 400, mfad.CodeUnknownUsers)
		r = f.c.post("/settings/set", f.adminA.Token, obj{"auth_methods": []string{"2FA"}, "account_id": f.accountB})
		want(t, r, 200)
		if got := f.c.get("/settings", f.adminB.Token); !strings.Contains(string(got.Body), `"auth_methods":[]`) {
			t.Fatalf("settings of B changed through account_id: %s", got)
		}
		want(t, f.c.post("/settings/set", f.adminA.Token, obj{"auth_methods": []string{}}), 200)
		f.unchanged(f.adminB, beforeB, "extra fields")
	})
}

// 5. Codes of 5 or 7 digits, with spaces, non-ASCII digits, "+12345",
// "1e5", 10 KB long: rejected before any cryptography, and counted as a
// failure. On the production argon2id parameters: a malformed PIN answers
// without the hash a well-formed one costs.
func TestItem05MalformedCodes(t *testing.T) {
	forEachStoreAlone(t, options(true, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		long := strings.Repeat("1", 10<<10)
		totpCodes := []string{"12345", "1234567", "12 456", " 123456", "123456 ", "١٢٣٤٥٦", "１２３４５６", "+12345", "-12345",
			"1e5", "1e+05", "0x1e24", "12345\x00", "12345a", "123.45", "000000000000", long}
		pinCodes := []string{"123", "1234567890123", "12a4", "١٢٣٤", "+1234", "1e10", " 1234", "12 34", "1234\n", long}

		failures := func() int { return countLines(srv.Logs.String(), "event=login.factor.fail", "user_id="+f.totp.ID) }
		before := failures()
		var lim string
		for i, code := range totpCodes {
			if i%5 == 0 {
				lim = f.limited(f.totp, mfad.StepTOTP)
			}
			r := f.c.factor(lim, "2FA", code)
			wantErr(t, r, 401, mfad.CodeWrongCode)
			if closed := strings.Contains(string(r.Body), "session_closed"); closed != (i%5 == 4) {
				t.Fatalf("malformed code %d (%.20q): session closed %v: %s", i+1, code, closed, r)
			}
		}
		if got := failures() - before; got != len(totpCodes) {
			t.Fatalf("%d malformed TOTP codes counted as %d failures", len(totpCodes), got)
		}
		// None of them consumed anything: the right code still works.
		want(t, f.c.factor(f.limited(f.totp, mfad.StepTOTP), "2FA", f.code(f.totp, 0)), 200)
		f.step()

		// PIN: malformed codes answer without an argon2id evaluation, so far
		// faster than a well-formed wrong PIN.
		var malformed, wellFormed []time.Duration
		pinFail := func() int { return countLines(srv.Logs.String(), "event=login.factor.fail", "user_id="+f.pin.ID) }
		before = pinFail()
		for i, code := range pinCodes {
			if i%4 == 0 {
				lim = f.limited(f.pin, mfad.StepPIN)
			}
			r := f.c.factor(lim, "PIN", code)
			wantErr(t, r, 401, mfad.CodeWrongCode)
			malformed = append(malformed, r.End.Sub(r.Start))
			if i%4 == 3 || i == len(pinCodes)-1 {
				r := f.c.factor(lim, "PIN", fmt.Sprintf("%06d", 100000+i))
				wantErr(t, r, 401, mfad.CodeWrongCode)
				wellFormed = append(wellFormed, r.End.Sub(r.Start))
			}
		}
		for len(wellFormed) < len(malformed) {
			lim = f.limited(f.pin, mfad.StepPIN)
			for range 4 {
				r := f.c.factor(lim, "PIN", fmt.Sprintf("%06d", 200000+len(wellFormed)))
				wantErr(t, r, 401, mfad.CodeWrongCode)
				wellFormed = append(wellFormed, r.End.Sub(r.Start))
			}
		}
		if got := pinFail() - before; got != len(pinCodes)+len(wellFormed) {
			t.Fatalf("%d wrong PINs counted as %d failures", len(pinCodes)+len(wellFormed), got)
		}
		mm, mw := median(malformed), median(wellFormed)
		t.Logf("FIGURE malformed-pin: %s: median answer %v for a malformed PIN, %v for a well-formed wrong PIN (argon2id m=19MiB t=2)", storeName(t), mm.Round(10*time.Microsecond), mw.Round(10*time.Microsecond))
		if mm*2 > mw {
			t.Fatalf("malformed PINs take %v, well-formed wrong ones %v: the malformed ones look hashed", mm, mw)
		}
	})
}

// 6. ids holding "", the nil UUID, 37 characters, "../", SQL
// metacharacters; ids empty, null, not an array, or over the cap: 400,
// nothing applied.
func TestItem06BadIDs(t *testing.T) {
	forEachStore(t, func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		beforeA, beforeB := f.snapshot(f.adminA), f.snapshot(f.adminB)
		good := f.plain.ID
		over := make([]string, 1001)
		for i := range over {
			over[i] = good
		}
		lists := []struct {
			name string
			ids  any
			code mfad.Code
		}{
			{"empty string", []string{""}, mfad.CodeInvalid},
			{"good and empty string", []string{good, ""}, mfad.CodeInvalid},
			{"nil UUID", []string{"00000000-0000-0000-0000-000000000000"}, mfad.CodeUnknownUsers},
			{"good and nil UUID", []string{good, "00000000-0000-0000-0000-000000000000"}, mfad.CodeUnknownUsers},
			{"37 characters", []string{good + "0"}, mfad.CodeInvalid},
			{"35 characters", []string{good[:35]}, mfad.CodeInvalid},
			{"dot dot slash", []string{"../"}, mfad.CodeInvalid},
			{"path", []string{"../../../../etc/passwd"}, mfad.CodeInvalid},
			{"SQL or", []string{"' OR '1'='1"}, mfad.CodeInvalid},
			{"SQL drop", []string{`"); DROP TABLE users; --`}, mfad.CodeInvalid},
			{"SQL in a UUID shape", []string{"00000000-0000-0000-0000-00000000'--"}, mfad.CodeInvalid},
			{"good and SQL", []string{good, "' OR 1=1 --"}, mfad.CodeInvalid},
			{"wildcard", []string{"%"}, mfad.CodeInvalid},
			{"braces", []string{"{" + good[1:35] + "}"}, mfad.CodeInvalid},
			{"no hyphens", []string{strings.ReplaceAll(good, "-", "") + "abcd"}, mfad.CodeInvalid},
			{"empty list", []string{}, mfad.CodeInvalid},
			{"null", nil, mfad.CodeInvalid},
			{"string", good, mfad.CodeBadJSON},
			{"object", obj{"id": good}, mfad.CodeBadJSON},
			{"number", 1, mfad.CodeBadJSON},
			{"numbers", []int{1, 2}, mfad.CodeBadJSON},
			{"nested", [][]string{{good}}, mfad.CodeBadJSON},
			{"over the cap", over, mfad.CodeInvalid},
		}
		for _, path := range []string{"/user/set-mfa", "/user/remove-mfa", "/user/reset-mfa", "/user/delete"} {
			for _, l := range lists {
				r := f.c.post(path, f.adminA.Token, obj{"ids": l.ids, "auth_type": "2FA"})
				if r.Status != 400 {
					t.Fatalf("ids %s on %s: %s", l.name, path, r)
				}
				wantErr(t, r, 400, l.code)
			}
			// Missing ids.
			wantErr(t, f.c.post(path, f.adminA.Token, obj{"auth_type": "2FA"}), 400, mfad.CodeInvalid)
		}
		// A bad id in the metadata path.
		for _, id := range []string{"x", "%00", "'%20OR%201=1", good + "0", good[:35], "00000000-0000-0000-0000-000000000000"} {
			r := f.c.get("/user/metadata/"+id, f.adminA.Token)
			if r.Status != 400 && r.Status != 404 {
				t.Fatalf("metadata of %q: %s", id, r)
			}
		}
		f.unchanged(f.adminA, beforeA, "bad ids")
		f.unchanged(f.adminB, beforeB, "bad ids")
		// The cap itself (1000) is accepted: repeated ids are allowed.
		want(t, f.c.post("/user/remove-mfa", f.adminA.Token, obj{"ids": over[:1000], "auth_type": "PIN"}), 200)
	})
}

// 7. Content-Type text/plain or form-encoded: 415. A 10 MB body or very deep
// nesting: a fast 413/400 with bounded memory. Headers over the 32 KiB cap:
// 431 (from net/http, before mfad: not an ErrorModel).
func TestItem07ContentTypeSizeAndNesting(t *testing.T) {
	forEachStoreAlone(t, options(false, noEmailLock), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		before := f.snapshot(f.adminA)
		types := []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"application/xml", "text/json", "application/jsonx", "json", "application/", ";", "application/json; charset"}
		for _, tg := range f.jsonTargets() {
			for _, ct := range types {
				tok := tg.token
				if tok == "" {
					tok = f.limited(f.totp, mfad.StepTOTP)
				}
				r := f.c.req("POST", tg.path, `{"auth_type":"PIN","code":"1234"}`)
				r.Header.Set("X-Auth-Token", tok)
				r.Header.Set("Content-Type", ct)
				wantErr(t, f.c.send(r), 415, mfad.CodeMediaType)
			}
			// A form body under a form type is 415 too.
			tok := tg.token
			if tok == "" {
				tok = f.limited(f.totp, mfad.StepTOTP)
			}
			r := f.c.req("POST", tg.path, "auth_type=PIN&code=1234")
			r.Header.Set("X-Auth-Token", tok)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			wantErr(t, f.c.send(r), 415, mfad.CodeMediaType)
		}

		// Sizes and nesting. The largest nesting that fits in 64 KiB.
		deep := strings.Repeat("[", 32<<10) + strings.Repeat("]", 32<<10)
		deepObj := strings.Repeat(`{"a":`, 10900) + "1" + strings.Repeat("}", 10900)
		deepInField := `{"auth_type":"PIN","x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "}"
		big := strings.Repeat(" ", 10<<20)
		justOver := `{"auth_type":"PIN","x":"` + strings.Repeat("a", 64<<10) + `"}`
		sizes := []struct {
			name, body string
			status     int
		}{
			{"32768-deep arrays (64 KiB)", deep, 400},
			{"65536 open brackets", strings.Repeat("[", 64<<10), 400},
			{"10900-deep objects", deepObj, 400},
			{"9000-deep unknown field", deepInField, 200},
			{"64 KiB + 26 bytes", justOver, 413},
			{"10 MB of spaces", big, 413},
		}
		for _, s := range sizes {
			if len(s.body) <= 64<<10 && s.status == 413 {
				t.Fatalf("%s is not over the cap", s.name)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			r := f.c.post("/profile/remove-mfa", f.plain.Token, s.body)
			runtime.ReadMemStats(&m1)
			want(t, r, s.status)
			d := r.End.Sub(r.Start)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("FIGURE body-limits: %s: %s (%d bytes): %d in %v, %.1f MiB allocated in the process meanwhile", storeName(t), s.name, len(s.body), r.Status, d.Round(time.Millisecond), float64(alloc)/(1<<20))
			if d > 5*time.Second {
				t.Fatalf("%s took %v", s.name, d)
			}
			if len(s.body) > 1<<20 && alloc > uint64(len(s.body))/2 {
				t.Fatalf("%s: %d bytes allocated while answering: the body was buffered", s.name, alloc)
			}
		}

		// A 40 KiB header: 431 from net/http.
		r := f.c.req("GET", "/profile", nil)
		r.Header.Set("X-Auth-Token", f.plain.Token)
		r.Header.Set("X-Padding", strings.Repeat("p", 40<<10))
		res := f.c.send(r)
		want(t, res, http.StatusRequestHeaderFieldsTooLarge)
		// Many headers adding up over the cap too.
		r = f.c.req("GET", "/profile", nil)
		r.Header.Set("X-Auth-Token", f.plain.Token)
		for i := range 400 {
			r.Header.Set(fmt.Sprintf("X-H%d", i), strings.Repeat("h", 100))
		}
		want(t, f.c.send(r), http.StatusRequestHeaderFieldsTooLarge)
		// Under the cap: served.
		r = f.c.req("GET", "/profile", nil)
		r.Header.Set("X-Auth-Token", f.plain.Token)
		r.Header.Set("X-Padding", strings.Repeat("p", 24<<10))
		want(t, f.c.send(r), 200)

		// The server still serves, and nothing changed.
		f.unchanged(f.adminA, before, "content types and sizes")
	})
}
