package main

// Codes and PINs are checked before they are sent: unit tests of what
// mfactl takes for each, and end-to-end tests that what it refuses never
// reaches the server (a proxy in front of a real server counts the
// requests), that a recovery code goes out as RECOVERY (to a fake server
// that records the bodies, and to the real one), and that factor names
// take any case.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/client"
	"github.com/mfad/mfad/internal/testserver"
)

func TestTOTPOrRecovery(t *testing.T) {
	for in, want := range map[string]factor{
		"123456":                  {client.TwoFA, "123456"},
		" 123 456 ":               {client.TwoFA, "123456"},
		"000000":                  {client.TwoFA, "000000"},
		"12\t34 56":               {client.TwoFA, "123456"},
		"7KQ4-M2XD-9TFA-W3PQ":     {client.Recovery, "7KQ4-M2XD-9TFA-W3PQ"},
		"7kq4-m2xd-9tfa-w3pq":     {client.Recovery, "7kq4-m2xd-9tfa-w3pq"},
		"7KQ4M2XD9TFAW3PQ":        {client.Recovery, "7KQ4M2XD9TFAW3PQ"},
		"  7KQ4 M2XD 9TFA W3PQ  ": {client.Recovery, "7KQ4 M2XD 9TFA W3PQ"},
		"7KQ4-M2XD-9TFA-H3PQ":     {client.Recovery, "7KQ4-M2XD-9TFA-H3PQ"},
		"7kq4m2xd9tfah3pq":        {client.Recovery, "7kq4m2xd9tfah3pq"},
		"1234567890123456":        {client.Recovery, "1234567890123456"},
		"7KQ4--M2XD--9TFA--W3PQ":  {client.Recovery, "7KQ4--M2XD--9TFA--W3PQ"},
		"-7KQ4-M2XD-9TFA-W3PQ-":   {client.Recovery, "-7KQ4-M2XD-9TFA-W3PQ-"},
		"AbCdEfGhIjKlMnOp":        {client.Recovery, "AbCdEfGhIjKlMnOp"},
		" 7KQ4-M2XD-9TFA-W3PQ\t":  {client.Recovery, "7KQ4-M2XD-9TFA-W3PQ"},
		"0123-4567-89ab-cdef ":    {client.Recovery, "0123-4567-89ab-cdef"},
	} {
		got, err := totpOrRecovery(in)
		if err != nil || got != want {
			t.Errorf("totpOrRecovery(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", " ", "12345", "1234567", "12345a", "abcdef", "123-456", "12345６",
		"１２３４５６",          // full-width digits
		"7KQ4-M2XD-9TF",   // 11
		"7KQ4-M2XD-9TFA",  // 12
		"7KQ4-M2XD-9TFAB", // 13
		"7KQ4-M2XD-9TFA-H3P",
		"7KQ4-M2XD-9TFA-H3PQR",
		"7KQ4_M2XD_9TFA", "7KQ4.M2XD.9TFA", "7KQ4-M2XD-9TFÄ", "7KQ4-M2XD-9TF\u0391",
		"password", "2468",
	} {
		got, err := totpOrRecovery(in)
		if err == nil {
			t.Errorf("totpOrRecovery(%q) = %+v, want a refusal", in, got)
			continue
		}
		if _, ok := err.(usageError); !ok || exitCode(err) != exitUsage {
			t.Errorf("totpOrRecovery(%q): %v is not a usage error", in, err)
		}
		if !strings.Contains(err.Error(), "6 digits") || !strings.Contains(err.Error(), "recovery code") {
			t.Errorf("totpOrRecovery(%q): %q does not say what is wanted", in, err)
		}
	}
}

func TestTOTPOnlyAndPIN(t *testing.T) {
	for _, in := range []string{"123456", " 123 456 "} {
		if f, err := totpOnly(in); err != nil || f != (factor{client.TwoFA, "123456"}) {
			t.Errorf("totpOnly(%q) = %+v, %v", in, f, err)
		}
	}
	for _, in := range []string{"", "12345", "1234567", "7KQ4-M2XD-9TFA", "abcdef"} {
		if f, err := totpOnly(in); err == nil || err.Error() != shapeTOTP {
			t.Errorf("totpOnly(%q) = %+v, %v; want %q", in, f, err, shapeTOTP)
		}
	}
	for _, in := range []string{"1234", "0000", "123456789012", "2468"} {
		if f, err := pinOnly(in); err != nil || f != (factor{client.PIN, in}) {
			t.Errorf("pinOnly(%q) = %+v, %v", in, f, err)
		}
	}
	for _, in := range []string{"", "123", "1234567890123", "12a4", " 1234", "1234 ", "12 34", "１２３４", "\u0661\u0662\u0663\u0664", "-1234", "+1234"} {
		if f, err := pinOnly(in); err == nil || err.Error() != shapePIN || exitCode(err) != exitUsage {
			t.Errorf("pinOnly(%q) = %+v, %v; want the usage error %q", in, f, err, shapePIN)
		}
	}
}

func TestParseAuthType(t *testing.T) {
	for in, want := range map[string]client.AuthType{
		"2FA": client.TwoFA, "2fa": client.TwoFA, "2Fa": client.TwoFA,
		"PIN": client.PIN, "pin": client.PIN, "Pin": client.PIN, "pIN": client.PIN,
	} {
		if got, err := parseAuthType(in); err != nil || got != want {
			t.Errorf("parseAuthType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "TOTP", "totp", "RECOVERY", "recovery", "2 FA", "PINS", "ﬁn"} {
		if got, err := parseAuthType(in); err == nil || exitCode(err) != exitUsage {
			t.Errorf("parseAuthType(%q) = %q, %v; want a usage error", in, got, err)
		}
	}
}

// countingProxy stands in front of a server and counts the requests that
// pass, by "METHOD path".
type countingProxy struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &countingProxy{n: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.n[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

func (p *countingProxy) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[key]
}

const (
	postLogin  = "POST /api/1.0/session/login"
	postSetMFA = "POST /api/1.0/profile/set-mfa"
	postUsers  = "POST /api/1.0/user/set-mfa"
)

// A code or PIN of the wrong shape is refused by mfactl and never sent:
// no attempt is spent on the server.
func TestMalformedCodesNotSent(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	px := newCountingProxy(t, srv.URL)
	admin := newCLI(t, px.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	secret := enroll(t, srv, admin)
	admin.ok(t, "2468\n2468\n", "pin", "set")
	if n := px.count(postSetMFA); n != 2 {
		t.Fatalf("%d set-mfa requests through the proxy, want 2 (enroll, pin set)", n)
	}

	// More malformed codes than the server allows wrong ones (5), then
	// the right code (with a space in it); malformed PINs, then the
	// right one. Only the two right answers are sent.
	srv.Clock.Advance(30 * time.Second)
	badCodes := []string{"12345", "1234567", "12345a", "abcdef", "", "１２３４５６", "7KQ4-M2XD-9TF", "7KQ4_M2XD_9TFA"}
	badPINs := []string{"12", "1234567890123", "12a4", " 2468", ""}
	code := srv.Code(t, secret, 0)
	in := testserver.AdminPassword + "\n" + strings.Join(badCodes, "\n") + "\n" + code[:3] + " " + code[3:] + "\n" +
		strings.Join(badPINs, "\n") + "\n2468\n"
	before := px.count(postLogin)
	r := admin.ok(t, in, "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stdout, "Logged in", r)
	if n := px.count(postLogin) - before; n != 2 {
		t.Errorf("%d login steps sent, want 2 (the right code and the right PIN):\n%s", n, r)
	}
	if n := strings.Count(r.stderr, "Not sent: "+shapeTOTPOrRC+". Try again."); n != len(badCodes) {
		t.Errorf("%d codes refused, want %d:\n%s", n, len(badCodes), r)
	}
	if n := strings.Count(r.stderr, "Not sent: "+shapePIN+". Try again."); n != len(badPINs) {
		t.Errorf("%d PINs refused, want %d:\n%s", n, len(badPINs), r)
	}
	if strings.Contains(r.stderr, "Wrong") {
		t.Errorf("a malformed answer reached the server:\n%s", r)
	}

	// The input ends after a malformed code: a usage error, nothing sent.
	srv.Clock.Advance(30 * time.Second)
	before = px.count(postLogin)
	r = admin.expect(t, 2, testserver.AdminPassword+"\n12345\n", "login", "--email", testserver.AdminEmail)
	if msg := errLine(t, r); msg != shapeTOTPOrRC+"; nothing was sent" {
		t.Errorf("message %q", msg)
	}
	r = admin.expect(t, 2, testserver.AdminPassword+"\n"+srv.Code(t, secret, 0)+"\n123\n", "login", "--email", testserver.AdminEmail)
	if msg := errLine(t, r); msg != shapePIN+"; nothing was sent" {
		t.Errorf("message %q", msg)
	}
	if n := px.count(postLogin) - before; n != 1 {
		t.Errorf("%d login steps sent, want 1 (the right code)", n)
	}

	// Enrollment: a malformed code is refused; 2FA stays off.
	createUser(t, admin, "Bob", "bob@example.com", "bob-password")
	bob := newCLI(t, px.URL)
	bob.login(t, "bob@example.com", "bob-password")
	before = px.count(postSetMFA)
	r = bob.expect(t, 2, "12345\n7KQ4-M2XD-9TFA\n", "2fa", "enroll")
	if n := strings.Count(r.stderr, "Not sent: "+shapeTOTP+". Try again."); n != 2 {
		t.Errorf("want 2 refusals:\n%s", r)
	}
	if msg := errLine(t, r); msg != shapeTOTP+"; nothing was sent" {
		t.Errorf("message %q", msg)
	}
	r = bob.ok(t, "", "status")
	mustMatch(t, `(?m)^Factors:\s+-$`, r.stdout, r)

	// pin set: refused before the PIN is asked again.
	for _, pin := range []string{"12", "1234567890123", "12a4", "", "12 34"} {
		r = bob.expect(t, 2, pin+"\n"+pin+"\n", "pin", "set")
		if msg := errLine(t, r); msg != shapePIN+"; nothing was sent" {
			t.Errorf("pin set %q: message %q", pin, msg)
		}
		if strings.Contains(r.stderr, "Repeat the PIN") {
			t.Errorf("pin set %q: asked again for a PIN already refused:\n%s", pin, r)
		}
	}
	if n := px.count(postSetMFA) - before; n != 0 {
		t.Errorf("%d set-mfa requests sent for malformed codes and PINs", n)
	}

	// user set-mfa --type PIN: the same.
	for _, pin := range []string{"12a4", "123", ""} {
		r = admin.expect(t, 2, pin+"\n"+pin+"\n", "user", "set-mfa", "--type", "pin", "--ids", srv.AdminID)
		if msg := errLine(t, r); msg != shapePIN+"; nothing was sent" {
			t.Errorf("user set-mfa PIN %q: message %q", pin, msg)
		}
		checkInWords(t, r)
	}
	if n := px.count(postUsers); n != 0 {
		t.Errorf("%d user set-mfa requests sent for malformed PINs", n)
	}
	r = bob.ok(t, "", "status")
	mustMatch(t, `(?m)^Factors:\s+-$`, r.stdout, r)
}

// fakeMfad answers the login requests as an mfad server that takes
// recovery codes does (or, when old, one that does not), and records what
// the second steps send.
type fakeMfad struct {
	old  bool
	mu   sync.Mutex
	sent []factor
}

func (f *fakeMfad) start(t *testing.T) string {
	t.Helper()
	reply := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	canonical := func(s string) string {
		return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/1.0/session/login":
			w.Header().Set("Mfa-Code", "1")
			reply(w, http.StatusMultiStatus, `{"session_id":"limited"}`)
		case r.Method == "POST" && r.URL.Path == "/api/1.0/session/login":
			if r.Header.Get("X-Auth-Token") != "limited" {
				reply(w, 401, `{"msg":"missing, unknown, closed or expired session","code":10}`)
				return
			}
			var b struct {
				AuthType client.AuthType `json:"auth_type"`
				Code     string          `json:"code"`
			}
			if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
				reply(w, 400, `{"msg":"request body is not valid JSON","code":1}`)
				return
			}
			f.mu.Lock()
			f.sent = append(f.sent, factor{b.AuthType, b.Code})
			f.mu.Unlock()
			switch {
			case b.AuthType == client.Recovery && f.old:
				reply(w, 400, `{"msg":"auth_type: must be \"2FA\" or \"PIN\"","code":2}`)
			case b.AuthType == client.Recovery && (canonical(b.Code) == "7KQ4M2XD9TFAW3PQ" || canonical(b.Code) == "7KQ4M2XD9TFAH3PQ"),
				b.AuthType == client.TwoFA && b.Code == "123456":
				reply(w, 200, `{"session_id":"full"}`)
			default:
				reply(w, 401, `{"msg":"wrong code","code":13}`)
			}
		default:
			reply(w, 404, `{"msg":"no such path","code":5}`)
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func (f *fakeMfad) got() []factor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]factor(nil), f.sent...)
}

// At the 2FA step of a login, a recovery code goes out as auth_type
// RECOVERY, as typed; 6 digits as 2FA.
func TestLoginRecoveryCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		old  bool
		in   string
		want []factor
		says []string
	}{
		{"recovery", false, "pw\n 7kq4-m2xd-9tfa-w3pq \n",
			[]factor{{client.Recovery, "7kq4-m2xd-9tfa-w3pq"}},
			[]string{"Recovery code accepted; it cannot be used again."}},
		{"16 characters", false, "pw\n7KQ4 M2XD 9TFA H3PQ\n",
			[]factor{{client.Recovery, "7KQ4 M2XD 9TFA H3PQ"}},
			[]string{"Recovery code accepted"}},
		{"wrong, then right", false, "pw\n7KQ4-M2XD-9TFZ-W3PQ\n12345\n7KQ4-M2XD-9TFA-W3PQ\n",
			[]factor{{client.Recovery, "7KQ4-M2XD-9TFZ-W3PQ"}, {client.Recovery, "7KQ4-M2XD-9TFA-W3PQ"}},
			[]string{"Wrong recovery code, or one already used, try again.", "Not sent: " + shapeTOTPOrRC}},
		{"a TOTP code", false, "pw\n123 456\n",
			[]factor{{client.TwoFA, "123456"}}, nil},
		{"a server without recovery codes", true, "pw\n7KQ4-M2XD-9TFA-W3PQ\n123456\n",
			[]factor{{client.Recovery, "7KQ4-M2XD-9TFA-W3PQ"}, {client.TwoFA, "123456"}},
			[]string{"This server does not take recovery codes: give the code from your authenticator app."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeMfad{old: tc.old}
			c := newCLI(t, f.start(t))
			r := c.ok(t, tc.in, "login", "--email", "someone@example.com")
			mustContain(t, r.stderr, "Authentication code (6 digits) or a recovery code: ", r)
			mustContain(t, r.stdout, "Logged in", r)
			for _, s := range tc.says {
				mustContain(t, r.stderr, s, r)
			}
			if tc.old || tc.want[len(tc.want)-1].Type != client.Recovery {
				if strings.Contains(r.stderr, "Recovery code accepted") {
					t.Errorf("a recovery code reported as used:\n%s", r)
				}
			}
			got := f.got()
			if len(got) != len(tc.want) {
				t.Fatalf("sent %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("step %d sent %+v, want %+v", i+1, got[i], tc.want[i])
				}
			}
			data, err := os.ReadFile(c.sessionFile())
			if err != nil || !strings.Contains(string(data), `"session_id":"full"`) {
				t.Errorf("session.json = %s (%v), want the full session", data, err)
			}
		})
	}
}

// Factor names take any case wherever a factor is named.
func TestFactorNamesAnyCase(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	admin := newCLI(t, srv.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	bobID := createUser(t, admin, "Bob", "bob@example.com", "bob-password")

	admin.ok(t, "1357\n1357\n", "PIN", "set")
	r := admin.ok(t, "", "mfa", "remove", "pin")
	mustContain(t, r.stdout, "PIN is off.", r)
	admin.ok(t, "1357\n1357\n", "Pin", "set")
	r = admin.ok(t, "", "mfa", "remove", "Pin")
	mustContain(t, r.stdout, "PIN is off.", r)

	admin.ok(t, "", "user", "set-mfa", "--type", "2fa", "--ids", bobID)
	admin.ok(t, "", "user", "remove-mfa", "--type", "2Fa", "--ids", bobID)
	admin.ok(t, "2468\n2468\n", "user", "set-mfa", "--type", "pin", "--ids", bobID)
	u := decode[userJSON](t, admin.ok(t, "", "--json", "user", "show", bobID))
	if strings.Join(u.AuthMethods, ",") != "PIN" {
		t.Errorf("after set-mfa --type pin: %+v", u)
	}
	admin.ok(t, "", "user", "remove-mfa", "--type", "PiN", "--ids", bobID)
	admin.ok(t, "", "settings", "force-2FA", "ON")
	admin.ok(t, "", "settings", "force-2fa", "Off")

	p := admin.start(t, "2FA", "enroll")
	secret := p.waitSecret(t)
	p.write(t, srv.Code(t, secret, 0)+"\n")
	if r = p.finish(t); r.code != 0 {
		t.Fatalf("2FA enroll: want exit 0:\n%s", r)
	}
	r = admin.ok(t, "", "mfa", "remove", "2fa")
	mustContain(t, r.stdout, "2FA is off.", r)
	admin.expect(t, 2, "", "mfa", "remove", "totp")
}

// recoveryCodes makes a new set of recovery codes for the holder of the
// session c saved (POST /profile/recovery-codes).
func recoveryCodes(t *testing.T, server string, c *cli) []string {
	t.Helper()
	var saved struct {
		SessionID string `json:"session_id"`
	}
	data, err := os.ReadFile(c.sessionFile())
	if err != nil || json.Unmarshal(data, &saved) != nil {
		t.Fatalf("session.json: %s (%v)", data, err)
	}
	req, err := http.NewRequest("POST", server+"/api/1.0/profile/recovery-codes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", saved.SessionID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Codes []string `json:"codes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || len(body.Codes) == 0 {
		t.Fatalf("POST /profile/recovery-codes: %d, %+v, %v", res.StatusCode, body, err)
	}
	return body.Codes
}

// Against the real server: a recovery code logs in once, typed in any
// case, with spaces for dashes; again, it is a wrong code.
func TestLoginWithRecoveryCodeOnServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	px := newCountingProxy(t, srv.URL)
	admin := newCLI(t, px.URL)
	admin.login(t, testserver.AdminEmail, testserver.AdminPassword)
	secret := enroll(t, srv, admin)
	codes := recoveryCodes(t, srv.URL, admin)
	for _, code := range codes {
		if !isRecoveryCode(code) {
			t.Fatalf("the server made %q, which mfactl does not take for a recovery code", code)
		}
	}

	typed := strings.ToLower(strings.ReplaceAll(codes[0], "-", " "))
	before := px.count(postLogin)
	r := admin.ok(t, testserver.AdminPassword+"\n"+typed+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Authentication code (6 digits) or a recovery code: ", r)
	mustContain(t, r.stderr, "Recovery code accepted; it cannot be used again.", r)
	mustContain(t, r.stdout, "Logged in", r)
	admin.ok(t, "", "status")
	if n := px.count(postLogin) - before; n != 1 {
		t.Errorf("%d login steps sent, want 1", n)
	}

	// Used: refused as a wrong code; the TOTP code still logs in.
	srv.Clock.Advance(30 * time.Second)
	r = admin.ok(t, testserver.AdminPassword+"\n"+codes[0]+"\n"+srv.Code(t, secret, 0)+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Wrong recovery code, or one already used", r)
	if strings.Count(r.stderr, "Recovery code accepted") != 0 {
		t.Errorf("a used recovery code was accepted:\n%s", r)
	}
	mustContain(t, r.stdout, "Logged in", r)

	// Another code of the set, as the server printed it.
	r = admin.ok(t, testserver.AdminPassword+"\n"+codes[1]+"\n", "login", "--email", testserver.AdminEmail)
	mustContain(t, r.stderr, "Recovery code accepted", r)
}
