// Package mailer sends mfad's mail (password reset links, notices) through
// an SMTP server, with github.com/wneessen/go-mail. Messages wait in a
// bounded queue and are delivered in the background by one worker, with
// retries; a message that cannot be delivered is dropped with a log line
// (which names its kind and user, never its body). A request that causes a
// mail never waits for it, and its answer does not depend on the delivery.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Config is how to reach the SMTP server and how hard to try.
type Config struct {
	// URL is smtp://[user[:password]@]host[:port] (STARTTLS, required
	// unless the host is a loopback address; port 587 by default) or
	// smtps://... (TLS from the first byte; port 465 by default).
	URL string
	// Password, when set, replaces the URL's (MFAD_SMTP_PASSWORD keeps it
	// out of the command line).
	Password string
	// From is the sender's address.
	From string
	// TLS is the TLS configuration (nil: the system's roots); its
	// ServerName is set to the URL's host.
	TLS *tls.Config
	Log *slog.Logger

	QueueSize int           // messages waiting at most; default 256
	Attempts  int           // delivery attempts per message; default 5
	Backoff   time.Duration // wait before the second attempt, doubled after each; default 2 s
	MaxWait   time.Duration // the longest wait between attempts; default 1 min
	Timeout   time.Duration // one attempt at most; default 15 s
}

// Message is one mail to one person.
type Message struct {
	To      string
	Subject string
	Body    string // plain text
	Kind    string // what it is, for the logs: "password reset", "notice: password changed"
	UserID  string // whom it is for, for the logs
}

// Mailer delivers Messages.
type Mailer struct {
	cfg      Config
	host     string
	port     int
	implicit bool // smtps://
	policy   gomail.TLSPolicy
	user     string
	password string

	queue   chan Message
	mu      sync.Mutex
	closed  bool
	stopped chan struct{}
}

// New checks the configuration. Start runs the delivery.
func New(cfg Config) (*Mailer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("smtp url: want smtp://[user[:password]@]host[:port] or smtps://[user[:password]@]host[:port]")
	}
	m := &Mailer{cfg: cfg, host: u.Hostname(), stopped: make(chan struct{})}
	switch u.Scheme {
	case "smtp":
		m.port, m.policy = 587, gomail.TLSMandatory
		if isLoopback(m.host) {
			m.policy = gomail.TLSOpportunistic // STARTTLS when offered
		}
	case "smtps":
		m.port, m.implicit = 465, true
	default:
		return nil, fmt.Errorf("smtp url: scheme %q: use smtp:// (STARTTLS) or smtps:// (TLS)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("smtp url: port %q", p)
		}
		m.port = n
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
	}
	if cfg.Password != "" {
		m.password = cfg.Password
	}
	if _, err := mailAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail from: %w", err)
	}
	if m.cfg.Log == nil {
		m.cfg.Log = slog.Default()
	}
	if m.cfg.QueueSize <= 0 {
		m.cfg.QueueSize = 256
	}
	if m.cfg.Attempts <= 0 {
		m.cfg.Attempts = 5
	}
	if m.cfg.Backoff <= 0 {
		m.cfg.Backoff = 2 * time.Second
	}
	if m.cfg.MaxWait <= 0 {
		m.cfg.MaxWait = time.Minute
	}
	if m.cfg.Timeout <= 0 {
		m.cfg.Timeout = 15 * time.Second
	}
	m.queue = make(chan Message, m.cfg.QueueSize)
	return m, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func mailAddress(s string) (string, error) {
	if s == "" || !strings.Contains(s, "@") {
		return "", errors.New("an email address is required")
	}
	return s, nil
}

// Server names the SMTP server for the logs (without the password).
func (m *Mailer) Server() string {
	scheme := "smtp"
	if m.implicit {
		scheme = "smtps"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(m.host, strconv.Itoa(m.port)))
}

// Send queues msg for delivery and returns at once; it reports false, and
// logs, when the queue is full or the mailer stopped.
func (m *Mailer) Send(msg Message) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	select {
	case m.queue <- msg:
		return true
	default:
		m.cfg.Log.Error("mail dropped: the queue is full", "kind", msg.Kind, "user_id", msg.UserID)
		return false
	}
}

// Start delivers queued messages until ctx ends or Close is called; it
// returns at once.
func (m *Mailer) Start(ctx context.Context) {
	go func() {
		defer close(m.stopped)
		for {
			select {
			case msg, ok := <-m.queue:
				if !ok {
					return
				}
				m.deliver(ctx, msg)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Close stops taking messages and waits, at most wait, for the queued ones
// to be delivered.
func (m *Mailer) Close(wait time.Duration) {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.queue)
	}
	m.mu.Unlock()
	select {
	case <-m.stopped:
	case <-time.After(wait):
		m.cfg.Log.Warn("mail: stopped before the queue was empty", "left", len(m.queue))
	}
}

// deliver tries msg up to Attempts times, waiting between attempts.
func (m *Mailer) deliver(ctx context.Context, msg Message) {
	wait := m.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := m.send(ctx, msg)
		if err == nil {
			m.cfg.Log.Info("mail sent", "kind", msg.Kind, "user_id", msg.UserID, "attempt", attempt)
			return
		}
		if attempt >= m.cfg.Attempts || ctx.Err() != nil {
			m.cfg.Log.Error("mail dropped after failed deliveries", "kind", msg.Kind, "user_id", msg.UserID, "attempts", attempt, "err", err)
			return
		}
		m.cfg.Log.Warn("mail not delivered, will retry", "kind", msg.Kind, "user_id", msg.UserID, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			m.cfg.Log.Error("mail dropped: stopping", "kind", msg.Kind, "user_id", msg.UserID)
			return
		}
		wait = min(2*wait, m.cfg.MaxWait)
	}
}

// send makes one delivery attempt.
func (m *Mailer) send(ctx context.Context, msg Message) error {
	gm := gomail.NewMsg()
	if err := gm.From(m.cfg.From); err != nil {
		return err
	}
	if err := gm.To(msg.To); err != nil {
		return err
	}
	gm.Subject(msg.Subject)
	gm.SetDate()
	gm.SetMessageID()
	gm.SetBodyString(gomail.TypeTextPlain, msg.Body)

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.cfg.TLS != nil {
		tlsConf = m.cfg.TLS.Clone()
	}
	tlsConf.ServerName = m.host
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.cfg.Timeout), gomail.WithTLSConfig(tlsConf)}
	if m.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(m.policy))
	}
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(m.user), gomail.WithPassword(m.password))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	return c.DialAndSendWithContext(actx, gm)
}
