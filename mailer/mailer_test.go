package mailer_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
)

func start(t *testing.T, url string, roots *smtptest.Server, logs *testserver.Logs, mods ...func(*mailer.Config)) *mailer.Mailer {
	t.Helper()
	cfg := mailer.Config{URL: url, From: "mfad@example.com", Log: slog.New(slog.NewTextHandler(logs, nil)),
		Backoff: 10 * time.Millisecond, Timeout: 5 * time.Second}
	if roots != nil {
		cfg.TLS = &tls.Config{RootCAs: roots.Roots}
	}
	for _, m := range mods {
		m(&cfg)
	}
	m, err := mailer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	t.Cleanup(func() { m.Close(5 * time.Second); cancel() })
	return m
}

// Mail goes out over STARTTLS and over implicit TLS, with the login the
// URL names, to the recipient, with its subject and body.
func TestDelivery(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   smtptest.Mode
		scheme string
	}{
		{"STARTTLS", smtptest.StartTLS, "smtp"},
		{"implicit TLS", smtptest.Implicit, "smtps"},
		{"loopback without TLS", smtptest.Plain, "smtp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.mode)
			var logs testserver.Logs
			m := start(t, fmt.Sprintf("%s://%s:%s@%s", c.scheme, smtptest.User, smtptest.Password, srv.Addr), srv, &logs)
			if !m.Send(mailer.Message{To: "ann@example.com", Subject: "Hello Ann", Body: "Line one\nhttps://mfad.example/#reset=abc", Kind: "test", UserID: "u1"}) {
				t.Fatal("Send refused")
			}
			msg := srv.Wait(t, 1, 10*time.Second)[0]
			if len(msg.To) != 1 || msg.To[0] != "ann@example.com" || msg.From != "mfad@example.com" {
				t.Fatalf("envelope %q -> %q", msg.From, msg.To)
			}
			if msg.Header("Subject") != "Hello Ann" || !strings.Contains(msg.Body(), "https://mfad.example/#reset=abc") {
				t.Fatalf("subject %q, body %q", msg.Header("Subject"), msg.Body())
			}
			if strings.Contains(logs.String(), smtptest.Password) || strings.Contains(logs.String(), "#reset=abc") {
				t.Fatalf("the log holds the password or the body:\n%s", logs.String())
			}
		})
	}
	t.Run("password from the environment", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.StartTLS)
		var logs testserver.Logs
		m := start(t, "smtp://"+smtptest.User+"@"+srv.Addr, srv, &logs, func(c *mailer.Config) { c.Password = smtptest.Password })
		m.Send(mailer.Message{To: "bob@example.com", Subject: "s", Body: "b"})
		srv.Wait(t, 1, 10*time.Second)
	})
}

// A refusing server gets the message again later; one that never takes it
// has it dropped after the attempts, with a log line naming its kind.
func TestRetriesThenDrops(t *testing.T) {
	srv := smtptest.Start(t, smtptest.StartTLS)
	var logs testserver.Logs
	m := start(t, "smtp://"+smtptest.User+":"+smtptest.Password+"@"+srv.Addr, srv, &logs, func(c *mailer.Config) { c.Attempts = 3 })
	srv.Refuse(2)
	m.Send(mailer.Message{To: "ann@example.com", Subject: "third time", Body: "b", Kind: "retried"})
	srv.Wait(t, 1, 10*time.Second)
	if srv.Attempts() != 3 || !strings.Contains(logs.String(), "will retry") {
		t.Fatalf("%d attempts; log:\n%s", srv.Attempts(), logs.String())
	}
	srv.Refuse(3)
	m.Send(mailer.Message{To: "ann@example.com", Subject: "never", Body: "b", Kind: "refused kind", UserID: "u9"})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "mail dropped after failed deliveries") {
		if time.Now().After(deadline) {
			t.Fatalf("no drop logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `kind="refused kind" user_id=u9 attempts=3`) {
		t.Fatalf("the drop does not name the kind, user and attempts:\n%s", logs.String())
	}
}

// Send never waits for the server: a stalled server or a full queue costs
// the caller nothing.
func TestSendDoesNotWait(t *testing.T) {
	srv := smtptest.Start(t, smtptest.StartTLS)
	srv.Stall(2 * time.Second)
	var logs testserver.Logs
	m := start(t, "smtp://"+smtptest.User+":"+smtptest.Password+"@"+srv.Addr, srv, &logs, func(c *mailer.Config) { c.QueueSize = 2 })
	began := time.Now()
	sent := 0
	for range 10 {
		if m.Send(mailer.Message{To: "ann@example.com", Subject: "s", Body: "b", Kind: "flood"}) {
			sent++
		}
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("10 Sends took %v", took)
	}
	if sent < 2 || sent > 3 || !strings.Contains(logs.String(), "the queue is full") {
		t.Fatalf("%d of 10 queued (queue of 2, one in delivery); log:\n%s", sent, logs.String())
	}
}

// Plain text to a server that is not on this machine's loopback is never
// sent: STARTTLS is required there.
func TestSTARTTLSRequiredOffLoopback(t *testing.T) {
	ip := nonLoopback(t)
	srv := smtptest.Start(t, smtptest.Plain)
	_, port, _ := net.SplitHostPort(srv.Addr)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	// Forward ip:port to the plain server, so that the mailer sees a
	// server that is not on loopback and offers no STARTTLS.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", "127.0.0.1:"+port)
				if err != nil {
					return
				}
				defer d.Close()
				go copyConn(d, c)
				copyConn(c, d)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	var logs testserver.Logs
	m := start(t, "smtp://"+smtptest.User+":"+smtptest.Password+"@"+ln.Addr().String(), nil, &logs, func(c *mailer.Config) { c.Attempts = 1 })
	m.Send(mailer.Message{To: "ann@example.com", Subject: "s", Body: "secret link", Kind: "in clear"})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "mail dropped") {
		if time.Now().After(deadline) {
			t.Fatalf("no drop:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages went out in clear", n)
	}
}

func copyConn(dst, src net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// nonLoopback is an IPv4 address of this machine that is not loopback.
func nonLoopback(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no address besides loopback")
	return ""
}

func TestConfigErrors(t *testing.T) {
	for _, url := range []string{"", "mail.example.com", "http://mail.example.com", "smtp://", "smtp://mail.example.com:99999", "smtp:mail.example.com"} {
		if _, err := mailer.New(mailer.Config{URL: url, From: "a@b.example"}); err == nil {
			t.Errorf("New(%q) accepted", url)
		}
	}
	if _, err := mailer.New(mailer.Config{URL: "smtp://mail.example.com", From: "nobody"}); err == nil {
		t.Error("a From without @ accepted")
	}
	m, err := mailer.New(mailer.Config{URL: "smtps://u:p@mail.example.com", From: "a@b.example"})
	if err != nil || m.Server() != "smtps://mail.example.com:465" {
		t.Errorf("smtps default port: %v, %v", m, err)
	}
}
