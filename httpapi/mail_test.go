package httpapi_test

import (
	"crypto/tls"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
)

// newMailEnv is a server whose mail goes to a real SMTP server (STARTTLS,
// with a login), started by the test.
func newMailEnv(t *testing.T, mods ...func(*auth.Config)) (*env, *smtptest.Server) {
	t.Helper()
	smtp := smtptest.Start(t, smtptest.StartTLS)
	e := newEnvWith(t, testserver.Options{
		Config: func(c *auth.Config) {
			c.AddrThrottle.Limit = 1000
			for _, m := range mods {
				m(c)
			}
		},
		Mail: &mailer.Config{URL: "smtp://" + smtptest.User + ":" + smtptest.Password + "@" + smtp.Addr, From: "mfad@mfad.example",
			TLS: &tls.Config{RootCAs: smtp.Roots}, Backoff: 10 * time.Millisecond},
	})
	return e, smtp
}

var resetLink = regexp.MustCompile(regexp.QuoteMeta(testserver.PublicURL) + `/#reset=([0-9a-f-]{36})`)

// The reset flow over HTTP and a real SMTP exchange: the mail goes to the
// user with a link to the web page; the id in it is valid, sets a new
// password once, closes the sessions, keeps the factors; no secret is in
// any mail or log line.
func TestPasswordResetByMail(t *testing.T) {
	e, smtp := newMailEnv(t)
	uid := e.createUser(e.adminAToken, "forgetful@example.com", "forgotten phrase", false)
	e.wantStatus(e.post("/user/set-mfa", e.adminAToken, map[string]any{"ids": []string{uid}, "auth_type": "PIN", "code": "8642"}), 200)
	notice := smtp.Wait(t, 1, 10*time.Second)[0] // the notice of the PIN
	if notice.To[0] != "forgetful@example.com" || !strings.Contains(notice.Body(), "turned on a second factor") {
		t.Fatalf("notice to %q: %q", notice.To, notice.Body())
	}
	mail0 := 1
	lim := e.limitedLogin("forgetful@example.com", "forgotten phrase", mfad.StepPIN)

	r := e.post("/reset-password/request", "", map[string]any{"email": []string{"Forgetful@Example.com"}})
	e.wantStatus(r, 200)
	if string(r.Body) != `{"email":["Forgetful@Example.com"]}`+"\n" {
		t.Fatalf("answer %s", r.Body)
	}
	msgs := smtp.Wait(t, mail0+1, 10*time.Second)
	var reset smtptest.Message
	for _, m := range msgs {
		if m.Header("Subject") == "Reset your password" {
			reset = m
		}
	}
	if len(reset.To) != 1 || reset.To[0] != "forgetful@example.com" {
		t.Fatalf("reset mail to %q (all: %d)", reset.To, len(msgs))
	}
	m := resetLink.FindStringSubmatch(reset.Body())
	if m == nil {
		t.Fatalf("no link in %q", reset.Body())
	}
	id := m[1]

	r = e.get("/reset-password/metadata/"+id, "")
	e.wantStatus(r, 200)
	if string(r.Body) != `{"id":"`+id+`","multiple_accounts":false}`+"\n" {
		t.Fatalf("metadata %s", r.Body)
	}
	e.wantError(e.post("/reset-password/reset/"+id, "", map[string]string{"password": "password1"}), 400, mfad.CodeInvalid)
	r = e.post("/reset-password/reset/"+id, "", map[string]string{"password": "remembered phrase"})
	e.wantStatus(r, 200)
	var done struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(r.Body, &done) != nil || done.ID != uid {
		t.Fatalf("reset answer %s", r.Body)
	}
	// Used once; the old sessions are closed; the PIN is still owed.
	e.wantError(e.post("/reset-password/reset/"+id, "", map[string]string{"password": "another phrase"}), 404, mfad.CodeResetNotFound)
	e.wantError(e.get("/reset-password/metadata/"+id, ""), 404, mfad.CodeResetNotFound)
	e.wantError(e.post("/session/login", lim, map[string]string{"auth_type": "PIN", "code": "8642"}), 401, mfad.CodeUnauthenticated)
	e.wantError(e.passwordLogin("forgetful@example.com", "forgotten phrase"), 401, mfad.CodeBadCredentials)
	e.limitedLogin("forgetful@example.com", "remembered phrase", mfad.StepPIN)

	// A notice of the reset went out too; no mail and no log line holds a
	// password, a session id or the reset id (the access log has the path
	// with the id: the web page sends it there, as the Quatrix API asks).
	all := smtp.Wait(t, mail0+2, 10*time.Second)
	secrets := []string{"forgotten phrase", "remembered phrase", lim, e.adminAToken, "8642"}
	for _, msg := range all {
		for _, s := range secrets {
			if strings.Contains(string(msg.Data), s) {
				t.Fatalf("mail %q holds a secret", msg.Header("Subject"))
			}
		}
		if msg.Header("Subject") != "Reset your password" && strings.Contains(string(msg.Data), id) {
			t.Fatalf("mail %q holds the reset id", msg.Header("Subject"))
		}
	}
	for _, line := range strings.Split(e.logs.String(), "\n") {
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Fatalf("log line holds a secret: %s", line)
			}
		}
		if strings.Contains(line, id) && !strings.Contains(line, "msg=request") {
			t.Fatalf("a log line other than the access log holds the reset id: %s", line)
		}
	}
}

// Unknown and known emails get the same answer; disabled users and
// unknown emails get no mail; at most 3 mails an hour per email; guessed
// ids are 404 and meet the per-address limit.
func TestPasswordResetAbuse(t *testing.T) {
	e, smtp := newMailEnv(t, func(c *auth.Config) { c.AddrThrottle.Limit = 8 })
	e.createUser(e.adminAToken, "known@example.com", "known user phrase", false)
	known := e.post("/reset-password/request", "", map[string]any{"email": []string{"known@example.com"}})
	unknown := e.post("/reset-password/request", "", map[string]any{"email": []string{"unknown@example.com"}})
	e.wantStatus(known, 200)
	e.wantStatus(unknown, 200)
	if strings.Replace(string(known.Body), "known@", "", 1) != strings.Replace(string(unknown.Body), "unknown@", "", 1) {
		t.Fatalf("answers differ: %s vs %s", known.Body, unknown.Body)
	}
	for range 3 {
		e.wantStatus(e.post("/reset-password/request", "", map[string]any{"email": []string{"known@example.com"}}), 200)
	}
	e.svc.FlushMail() // every job has run: the mails are with the mailer
	if n := strings.Count(e.logs.String(), "had its mails of the hour"); n != 1 {
		t.Fatalf("the 4th request of one email in the hour: %d refusals logged, want 1", n)
	}
	msgs := smtp.Wait(t, 3, 10*time.Second)
	for _, m := range msgs {
		if m.To[0] != "known@example.com" {
			t.Fatalf("a mail to %q", m.To)
		}
	}
	for _, body := range []string{`{"email":[]}`, `{"email":["a@example.com","b@example.com"]}`, `{"email":"a@example.com"}`, `{}`} {
		r := e.post("/reset-password/request", "", body)
		if r.Status != 400 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	// Guessed ids: 404, then the address's limit (8 a minute here; the 5
	// requests above counted already, the 400s did not).
	e.wantError(e.get("/reset-password/metadata/0e0e0e0e-0e0e-4e0e-8e0e-0e0e0e0e0e0e", ""), 404, mfad.CodeResetNotFound)
	e.wantError(e.post("/reset-password/reset/not-a-uuid", "", map[string]string{"password": "some new phrase"}), 404, mfad.CodeResetNotFound)
	e.wantError(e.post("/reset-password/reset/0e0e0e0e-0e0e-4e0e-8e0e-0e0e0e0e0e0d", "", map[string]string{"password": "some new phrase"}), 404, mfad.CodeResetNotFound)
	e.wantError(e.get("/reset-password/metadata/0e0e0e0e-0e0e-4e0e-8e0e-0e0e0e0e0e0f", ""), 429, mfad.CodeTooManyAttempts)
}

// Without mail configured, a reset request is 503 with a msg saying so.
func TestPasswordResetWithoutMail(t *testing.T) {
	e := newEnv(t)
	r := e.post("/reset-password/request", "", map[string]any{"email": []string{"someone@example.com"}})
	e.wantError(r, 503, mfad.CodeMailOff)
	if !strings.Contains(string(r.Body), "not configured") {
		t.Fatalf("msg %s", r.Body)
	}
}

// A stalled SMTP server does not slow the request that causes a mail.
func TestMailDoesNotSlowRequests(t *testing.T) {
	e, smtp := newMailEnv(t)
	smtp.Stall(3 * time.Second)
	e.createUser(e.adminAToken, "slow@example.com", "slow mail phrase", false)
	began := time.Now()
	for range 3 {
		e.wantStatus(e.post("/reset-password/request", "", map[string]any{"email": []string{"slow@example.com"}}), 200)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("3 reset requests took %v with a stalled mail server", took)
	}
}
