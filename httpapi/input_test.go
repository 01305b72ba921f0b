package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/httpapi"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	tok := e.adminAToken
	id := e.adminA
	many := make([]string, httpapi.MaxIDs+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   mfad.Code
	}{
		{"empty body", "/profile/remove-mfa", "", 400, mfad.CodeBadJSON},
		{"whitespace body", "/profile/remove-mfa", "  \n", 400, mfad.CodeBadJSON},
		{"truncated", "/profile/remove-mfa", `{"auth_type":"2FA"`, 400, mfad.CodeBadJSON},
		{"trailing garbage", "/profile/remove-mfa", `{"auth_type":"PIN"}x`, 400, mfad.CodeBadJSON},
		{"two objects", "/profile/remove-mfa", `{"auth_type":"PIN"}{"auth_type":"PIN"}`, 400, mfad.CodeBadJSON},
		{"not JSON", "/profile/remove-mfa", `auth_type=PIN`, 400, mfad.CodeBadJSON},
		{"array body", "/profile/remove-mfa", `[]`, 400, mfad.CodeBadJSON},
		{"null body", "/profile/remove-mfa", `null`, 400, mfad.CodeInvalid},
		{"missing auth_type", "/profile/remove-mfa", `{}`, 400, mfad.CodeInvalid},
		{"auth_type number", "/profile/remove-mfa", `{"auth_type":2}`, 400, mfad.CodeBadJSON},
		{"auth_type null", "/profile/remove-mfa", `{"auth_type":null}`, 400, mfad.CodeInvalid},
		{"auth_type lower case", "/profile/remove-mfa", `{"auth_type":"2fa"}`, 400, mfad.CodeInvalid},
		{"auth_type space", "/profile/remove-mfa", `{"auth_type":" 2FA"}`, 400, mfad.CodeInvalid},
		{"auth_type TOTP", "/profile/remove-mfa", `{"auth_type":"TOTP"}`, 400, mfad.CodeInvalid},
		{"auth_type full width", "/profile/remove-mfa", `{"auth_type":"２FA"}`, 400, mfad.CodeInvalid},
		{"auth_type NUL", "/profile/remove-mfa", `{"auth_type":"2FA\u0000"}`, 400, mfad.CodeInvalid},
		{"code number", "/profile/set-mfa", `{"auth_type":"PIN","code":1234}`, 400, mfad.CodeBadJSON},
		{"code array", "/profile/set-mfa", `{"auth_type":"PIN","code":["1234"]}`, 400, mfad.CodeBadJSON},
		{"code object", "/profile/set-mfa", `{"auth_type":"PIN","code":{}}`, 400, mfad.CodeBadJSON},
		{"code bool", "/profile/set-mfa", `{"auth_type":"PIN","code":true}`, 400, mfad.CodeBadJSON},
		{"code null", "/profile/set-mfa", `{"auth_type":"PIN","code":null}`, 400, mfad.CodeInvalid},
		{"PIN non-ASCII digits", "/profile/set-mfa", `{"auth_type":"PIN","code":"١٢٣٤"}`, 400, mfad.CodeInvalid},
		{"PIN too long", "/profile/set-mfa", `{"auth_type":"PIN","code":"1234567890123"}`, 400, mfad.CodeInvalid},
		{"ids missing", "/user/set-mfa", `{"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids null", "/user/set-mfa", `{"ids":null,"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids empty", "/user/set-mfa", `{"ids":[],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids not array", "/user/set-mfa", `{"ids":"` + id + `","auth_type":"2FA"}`, 400, mfad.CodeBadJSON},
		{"ids empty string", "/user/set-mfa", `{"ids":[""],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids 37 chars", "/user/set-mfa", `{"ids":["` + id + `0"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids path", "/user/set-mfa", `{"ids":["../"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids SQL", "/user/set-mfa", `{"ids":["' OR 1=1 --"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids number", "/user/set-mfa", `{"ids":[1],"auth_type":"2FA"}`, 400, mfad.CodeBadJSON},
		{"ids braces", "/user/set-mfa", `{"ids":["{` + id + `}"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids nil UUID", "/user/set-mfa", `{"ids":["00000000-0000-0000-0000-000000000000"],"auth_type":"2FA"}`, 400, mfad.CodeUnknownUsers},
		{"ids over the cap", "/user/set-mfa", map[string]any{"ids": many, "auth_type": "2FA"}, 400, mfad.CodeInvalid},
		// Member names match exactly: another spelling is an unknown
		// member, so the required field is missing; a name given twice is
		// refused whatever its values.
		{"AUTH_TYPE", "/profile/remove-mfa", `{"AUTH_TYPE":"PIN"}`, 400, mfad.CodeInvalid},
		{"Auth_Type", "/profile/remove-mfa", `{"Auth_Type":"PIN"}`, 400, mfad.CodeInvalid},
		{"CODE", "/profile/set-mfa", `{"auth_type":"PIN","CODE":"1234"}`, 400, mfad.CodeInvalid},
		{"Code", "/profile/set-mfa", `{"auth_type":"PIN","Code":"1234"}`, 400, mfad.CodeInvalid},
		{"IDS", "/user/set-mfa", `{"IDS":["` + id + `"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"ids with long s", "/user/set-mfa", `{"idſ":["` + id + `"],"auth_type":"2FA"}`, 400, mfad.CodeInvalid},
		{"iDs", "/user/delete", `{"iDs":["` + id + `"]}`, 400, mfad.CodeInvalid},
		{"auth_type twice, same value", "/profile/remove-mfa", `{"auth_type":"PIN","auth_type":"PIN"}`, 400, mfad.CodeBadJSON},
		{"auth_type twice, escaped", "/profile/remove-mfa", `{"auth_type":"PIN","auth_typ\u0065":"2FA"}`, 400, mfad.CodeBadJSON},
		{"code twice", "/profile/set-mfa", `{"auth_type":"PIN","code":"1234","code":"5678"}`, 400, mfad.CodeBadJSON},
		{"ids twice", "/user/set-mfa", `{"ids":[],"ids":["` + id + `"],"auth_type":"2FA"}`, 400, mfad.CodeBadJSON},
		{"unknown member twice", "/profile/remove-mfa", `{"auth_type":"PIN","x":1,"x":2}`, 400, mfad.CodeBadJSON},
		{"invalid UTF-8", "/profile/remove-mfa", "{\"auth_type\":\"PIN\xff\"}", 400, mfad.CodeBadJSON},
		// Password length is counted in code points: eight bytes, four characters.
		{"password of four umlauts", "/user/create", `{"name":"U","email":"u8@example.com","password":"äöüß"}`, 400, mfad.CodeInvalid},
		{"password of four emoji", "/user/create", `{"name":"U","email":"u8@example.com","password":"😀😀😀😀"}`, 400, mfad.CodeInvalid},
		{"deep nesting", "/profile/remove-mfa", strings.Repeat("[", 30000) + strings.Repeat("]", 30000), 400, mfad.CodeBadJSON},
		{"body over 64 KiB", "/profile/remove-mfa", `{"auth_type":"PIN","x":"` + strings.Repeat("a", 70<<10) + `"}`, 413, mfad.CodeTooLarge},
		{"10 MB body", "/profile/remove-mfa", strings.Repeat(" ", 10<<20), 413, mfad.CodeTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.wantError(e.post(c.path, tok, c.body), c.status, c.code)
		})
	}
	e.t = t
	// Nothing above changed the admin.
	if p := e.profile(tok); len(p.AuthMethods) != 0 {
		t.Fatalf("bad input changed the user: %+v", p)
	}

	// Content types.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "garbage/"} {
		e.wantError(e.do(req{Method: "POST", Path: "/profile/remove-mfa", Token: tok, Body: `{"auth_type":"PIN"}`, Header: map[string]string{"Content-Type": ct}}), 415, mfad.CodeMediaType)
	}
	for _, ct := range []string{"", "application/json; charset=utf-8", "application/vnd.api+json"} {
		e.wantStatus(e.do(req{Method: "POST", Path: "/profile/remove-mfa", Token: tok, Body: `{"auth_type":"PIN"}`, Header: map[string]string{"Content-Type": ct}}), 200)
	}
	// Unknown fields and query parameters are ignored.
	e.wantStatus(e.do(req{Method: "POST", Path: "/profile/remove-mfa?_=123", Token: tok, Body: `{"auth_type":"PIN","extra":{"a":[1,2]}}`}), 200)
}

func TestRoutingAndCheckOrder(t *testing.T) {
	e := newEnv(t)
	e.wantError(e.get("/nope", e.adminAToken), 404, mfad.CodeNotFound)
	e.wantError(e.get("/nope", ""), 404, mfad.CodeNotFound)
	e.wantError(e.get("/profile/", e.adminAToken), 404, mfad.CodeNotFound)
	e.wantError(e.do(req{Method: "GET", Path: "/"}), 404, mfad.CodeNotFound)
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		r := e.do(req{Method: m, Path: "/profile/set-mfa", Body: `{}`})
		e.wantError(r, 405, mfad.CodeMethod)
		if r.Header.Get("Allow") != "POST" {
			t.Fatalf("Allow %q", r.Header.Get("Allow"))
		}
	}
	r := e.do(req{Method: "DELETE", Path: "/session/login"})
	e.wantError(r, 405, mfad.CodeMethod)
	if r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
	e.wantError(e.do(req{Method: "POST", Path: "/profile"}), 405, mfad.CodeMethod)
	// The token is checked before the body.
	e.wantError(e.do(req{Method: "POST", Path: "/profile/set-mfa", Body: "not json"}), 401, mfad.CodeUnauthenticated)
	e.wantError(e.do(req{Method: "POST", Path: "/profile/set-mfa", Body: strings.Repeat("x", 100<<10)}), 401, mfad.CodeUnauthenticated)
	e.wantError(e.do(req{Method: "POST", Path: "/profile/set-mfa", Body: "{}", Header: map[string]string{"Content-Type": "text/plain"}}), 401, mfad.CodeUnauthenticated)
	// Two X-Auth-Token headers are refused.
	hr, _ := http.NewRequest("GET", e.srv.URL+httpapi.BasePath+"/profile", nil)
	hr.Header.Add("X-Auth-Token", e.adminAToken)
	hr.Header.Add("X-Auth-Token", e.adminAToken)
	res, err := e.client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("two tokens: %d", res.StatusCode)
	}
	// Upper-case tokens are the same session.
	e.profile(strings.ToUpper(e.adminAToken))
	for _, bad := range []string{"x", e.adminAToken + "0", "{" + e.adminAToken + "}", "urn:uuid:" + e.adminAToken, strings.ReplaceAll(e.adminAToken, "-", "")} {
		e.wantError(e.get("/profile", bad), 401, mfad.CodeUnauthenticated)
	}
}

func TestHealthAndOpenAPI(t *testing.T) {
	e := newEnv(t)
	r := e.get("/healthz", "")
	e.wantStatus(r, 200)
	r = e.get("/openapi.yaml", "")
	e.wantStatus(r, 200)
	if r.Header.Get("Content-Type") != "application/yaml" || string(r.Body) != string(mfad.OpenAPI) {
		t.Fatal("openapi.yaml is not the embedded document")
	}
}

// The routes the server registers and the operations the OpenAPI document
// lists are the same set.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(mfad.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != httpapi.BasePath {
		t.Fatalf("servers %+v, want %s", doc.Servers, httpapi.BasePath)
	}
	var documented []string
	for path, item := range doc.Paths {
		base := httpapi.BasePath
		if s, ok := item["servers"]; ok {
			var servers []struct {
				URL string `yaml:"url"`
			}
			if err := s.Decode(&servers); err != nil || len(servers) != 1 {
				t.Fatalf("path %s: servers %v", path, err)
			}
			base = strings.TrimSuffix(servers[0].URL, "/")
		}
		for m := range item {
			switch m {
			case "get", "post", "put", "delete", "patch", "head", "options":
				documented = append(documented, strings.ToUpper(m)+" "+base+path)
			}
		}
	}
	e := newEnv(t)
	var registered []string
	for _, rt := range httpapi.NewServer(e.svc, e.store, nil).Routes() {
		registered = append(registered, rt.Method+" "+rt.Path)
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if !slices.Equal(documented, registered) {
		t.Fatalf("OpenAPI and routes differ:\ndocumented %v\nregistered %v", documented, registered)
	}
}

// No response carries internals, and no log line carries a secret.
func TestNoLeaks(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.adminAToken, "leak@example.com", "leak-password-123", false)
	tok := e.fullLogin("leak@example.com", "leak-password-123")
	g := e.generate(tok)
	code := e.code(g.Secret, 0)
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "2FA", "code": code}), 200)
	e.wantStatus(e.post("/profile/set-mfa", tok, map[string]string{"auth_type": "PIN", "code": "864209"}), 200)
	e.clock.Advance(30 * time.Second)
	lim := e.limitedLogin("leak@example.com", "leak-password-123", mfad.StepTOTP)
	code2 := e.code(g.Secret, 0)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": wrongCode(code2)}), 401, mfad.CodeWrongCode)
	r := e.post("/session/login", lim, map[string]string{"auth_type": "2FA", "code": code2})
	e.wantStatus(r, 207)
	pinLim := e.sessionID(r)
	r = e.post("/session/login", pinLim, map[string]string{"auth_type": "PIN", "code": "864209"})
	e.wantStatus(r, 200)
	full := e.sessionID(r)
	e.wantStatus(e.passwordLogin("leak@example.com", "wrong-password-xyz"), 401)

	logs := e.logs.String()
	for _, secret := range []string{"leak-password-123", "wrong-password-xyz", g.Secret, code, code2, wrongCode(code2), "864209",
		tok, lim, pinLim, full, e.adminAToken, "Basic ", "Authorization", "X-Auth-Token"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs hold a secret (%q)", secret)
		}
	}
	for _, want := range []string{"event=login.ok", "event=login.factor.fail", "event=login.password.fail", "request_id="} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the logs lack %q", want)
		}
	}
	// Error bodies hold no internals.
	for _, r := range []resp{e.post("/profile/set-mfa", full, "{"), e.get("/nope", ""), e.passwordLogin("x", "y")} {
		for _, bad := range []string{"goroutine", ".go:", "SELECT", "sqlite", "/tmp/", "panic"} {
			if strings.Contains(string(r.Body), bad) {
				t.Fatalf("error body leaks %q: %s", bad, r.Body)
			}
		}
		if r.Header.Get("Server") != "" {
			t.Fatalf("Server header %q", r.Header.Get("Server"))
		}
	}
}
