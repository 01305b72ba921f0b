// Package testserver starts a real mfad server for tests: the HTTP API on a
// loopback port, on a fresh SQLite file, with a fake clock the test moves by
// hand, and account "A" with an admin.
package testserver

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/mailer"
	"github.com/mfad/mfad/metrics"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/postgres"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/server"
	"github.com/mfad/mfad/sqlite"
	"github.com/mfad/mfad/totp"
)

// PublicURL is the address the mailed links point at.
const PublicURL = "https://mfad.example"

// AdminEmail and AdminPassword are the credentials of account A's admin.
const AdminEmail, AdminPassword = "admin-a@example.com", "admin-a-password"

// Clock is a fake clock. It starts ten seconds into a TOTP step so that
// ±1-step tests do not straddle a boundary by accident.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a fake clock set to t (for tests that build their own
// servers around one clock).
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Logs collects the server's log lines.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Server is a running test server.
type Server struct {
	URL       string // http://127.0.0.1:port
	HTTP      *httptest.Server
	Store     mfad.Store
	Svc       *auth.Service
	Clock     *Clock
	Logs      *Logs
	AccountID string // account A
	AdminID   string // account A's admin
	Metrics   *metrics.Metrics
}

// Options change the server a test starts.
type Options struct {
	DatabaseURL string                 // a PostgreSQL database (see pgtest); default: SQLite in the test's directory
	Hasher      *passhash.Hasher       // default: the production parameters, NumCPU workers
	Config      func(cfg *auth.Config) // adjusts the policies
	Mail        *mailer.Config         // turns mail on (links to https://mfad.example)
	PublicURL   string                 // default: PublicURL
	// PublicURLIsServer makes the public URL the server's own address as
	// http://localhost:port, so that a browser on that address may use
	// passkeys (the relying party is the public URL's host).
	PublicURLIsServer bool
	// NoPublicURL starts the server without a public URL (passkeys off,
	// no mail links).
	NoPublicURL bool
	Edge        httpapi.Edge // forward auth: cookie domain, trusted proxies, CORS
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	s, stop, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// New starts a server whose database lives in dir; stop shuts it down. It
// serves runnable examples, which have no *testing.T.
func New(dir string, opts Options) (s *Server, stop func(), err error) {
	ctx := context.Background()
	var store mfad.Store
	if opts.DatabaseURL != "" {
		store, err = postgres.Open(ctx, opts.DatabaseURL, postgres.Options{SessionCache: true}) // as mfad serve
	} else {
		store, err = sqlite.Open(ctx, filepath.Join(dir, "mfad.db"))
	}
	if err != nil {
		return nil, nil, err
	}
	clk := &Clock{now: time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)}
	cfg := auth.DefaultConfig()
	cfg.Now = clk.Now
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	hasher := opts.Hasher
	if hasher == nil { // the production parameters, a queue long enough for the floods of the tests
		hasher = passhash.New(passhash.Default, runtime.NumCPU(), 256, 30*time.Second)
	}
	publicURL := opts.PublicURL
	if publicURL == "" {
		publicURL = PublicURL
	}
	logs := &Logs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The listener first: its port may be in the public URL.
	hs := httptest.NewUnstartedServer(nil)
	url := "http://localhost:" + strconv.Itoa(hs.Listener.Addr().(*net.TCPAddr).Port)
	if opts.PublicURLIsServer {
		publicURL = url
	}
	if opts.NoPublicURL {
		publicURL = ""
	}
	// Assembled as "mfad serve" assembles it, with the same timeouts and
	// limits; expired rows stay (the fake clock decides what is expired).
	srv, err := server.Open(ctx, server.Config{Store: store, Box: seal.NewBox(seal.NewKey()), Auth: cfg, Hasher: hasher,
		Log: log, Web: true, Metrics: true, PurgeEvery: -1, Mail: opts.Mail, PublicURL: publicURL, Edge: opts.Edge})
	if err != nil {
		hs.Close()
		store.Close()
		return nil, nil, err
	}
	svc := srv.Service
	hs.Config = srv.HTTPServer()
	hs.Start()
	if !opts.PublicURLIsServer {
		url = hs.URL
	}
	s = &Server{URL: url, HTTP: hs, Store: store, Svc: svc, Clock: clk, Logs: logs, Metrics: srv.Metrics}
	stop = func() {
		hs.Close()
		srv.Close()
	}
	a, u, err := svc.CreateAccount(ctx, "A", auth.NewUser{Name: "Admin A", Email: AdminEmail, Password: AdminPassword})
	if err != nil {
		stop()
		return nil, nil, err
	}
	s.AccountID, s.AdminID = a.ID, u.ID
	return s, stop, nil
}

// CodeAt is the TOTP code of secret at the fake clock's step plus offset.
func (s *Server) CodeAt(secret string, offset int64) (string, error) {
	return totp.CodeAt(secret, totp.StepAt(s.Clock.Now())+offset)
}

// Code is the TOTP code of secret at the fake clock's step plus offset.
func (s *Server) Code(t testing.TB, secret string, offset int64) string {
	t.Helper()
	c, err := s.CodeAt(secret, offset)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
