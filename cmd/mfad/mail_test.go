package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/smtptest"
)

// mfad serve with mail on: over STARTTLS to a server whose certificate
// --smtp-ca-file names, the password from MFAD_SMTP_PASSWORD; a reset
// request mails a link to --public-url. Without --smtp-url the server says
// once that mail is off. Bad mail flags are usage errors.
func TestServeWithMail(t *testing.T) {
	smtp := smtptest.Start(t, smtptest.StartTLS)
	dir := t.TempDir()
	ca := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(ca, smtp.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "mfad.db")
	env := map[string]string{"MFAD_SMTP_PASSWORD": smtptest.Password}
	s := startServer(t, env, serveArgs(db, append(adminArgs(),
		"--smtp-url", "smtp://"+smtptest.User+"@"+smtp.Addr, "--smtp-ca-file", ca,
		"--mail-from", "mfad@mfad.example", "--public-url", "https://mfad.example/")...)...)
	s.do(t, "POST", "/api/1.0/reset-password/request", map[string]any{"email": []string{adminEmail}}).
		want(t, http.StatusOK, "reset request")
	msg := smtp.Wait(t, 1, 15*time.Second)[0]
	if msg.To[0] != adminEmail || !strings.Contains(msg.Body(), "https://mfad.example/#reset=") {
		t.Fatalf("mail to %q: %q", msg.To, msg.Body())
	}
	s.mustStop(t)
	if logs := s.stderr.String(); !strings.Contains(logs, "mail is on") || strings.Contains(logs, smtptest.Password) {
		t.Fatalf("logs:\n%s", logs)
	}

	s = startServer(t, nil, serveArgs(db)...)
	s.do(t, "POST", "/api/1.0/reset-password/request", map[string]any{"email": []string{adminEmail}}).
		want(t, http.StatusServiceUnavailable, "reset request without mail")
	s.mustStop(t)
	if n := strings.Count(s.stderr.String(), "mail is off"); n != 1 {
		t.Fatalf("%d lines say mail is off, want 1:\n%s", n, s.stderr.String())
	}

	for _, args := range [][]string{
		{"--smtp-url", "smtp://" + smtp.Addr},
		{"--smtp-url", "smtp://" + smtp.Addr, "--mail-from", "mfad@mfad.example"},
		{"--smtp-url", "smtp://" + smtp.Addr, "--mail-from", "mfad@mfad.example", "--public-url", "mfad.example"},
		{"--smtp-url", "http://" + smtp.Addr, "--mail-from", "mfad@mfad.example", "--public-url", "https://mfad.example"},
		{"--mail-from", "mfad@mfad.example"},
		{"--smtp-url", "smtp://" + smtp.Addr, "--mail-from", "mfad@mfad.example", "--public-url", "https://mfad.example", "--smtp-ca-file", db},
	} {
		_, err := launch(t, nil, serveArgs(db, args...)...)
		if err == nil || (exitCode(err) != 2 && !strings.Contains(err.Error(), "smtp-ca-file")) {
			t.Errorf("mfad serve %q: %v, want a usage error", args, err)
		}
	}
}
