// Package server assembles mfad from a Config and runs it: the store, the
// key that seals TOTP secrets, the hashing pool, the service, the HTTP API
// with the web page, and the metrics. "mfad serve", the test server
// (internal/testserver) and the benchmark harness (cmd/mfabench) all build
// the server here, so the three run the same thing; cmd/ only parses flags.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/mailer"
	"github.com/mfad/mfad/metrics"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/postgres"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
	"github.com/mfad/mfad/web"
)

// StoreOptions tune the database a Config names.
type StoreOptions struct {
	SQLite   sqlite.Options
	Postgres postgres.Options
}

// OpenStore opens the database db names (a SQLite file path, created if
// missing, or a postgres:// URL) and applies its migrations.
func OpenStore(ctx context.Context, db string, o StoreOptions) (mfad.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db, o.Postgres)
	}
	if strings.Contains(db, "://") {
		return nil, fmt.Errorf("database %q: a SQLite file path or a postgres:// URL", db)
	}
	return sqlite.OpenWith(ctx, db, o.SQLite)
}

// KeyPath is the key file of a database: keyFile when given, else <db>.key
// beside a SQLite file. A PostgreSQL database needs it given: every
// instance must hold the same key.
func KeyPath(db, keyFile string) (string, error) {
	if keyFile != "" {
		return keyFile, nil
	}
	if strings.Contains(db, "://") {
		return "", errors.New("a key file is required with a PostgreSQL database: every instance needs the same key")
	}
	return db + ".key", nil
}

// Hashing pool defaults: as many hashes at once as there are CPUs, 64
// waiting, 10 seconds of waiting at most.
const (
	DefaultHashQueue = 64
	DefaultHashWait  = 10 * time.Second
)

// DefaultHasher is the hashing pool of "mfad serve" without flags.
func DefaultHasher() *passhash.Hasher {
	return passhash.New(passhash.Default, runtime.NumCPU(), DefaultHashQueue, DefaultHashWait)
}

// Config is what a Server is built from. The zero Config serves mfad.db in
// the working directory with its key file beside it, the defaults of
// auth.DefaultConfig, the default hashing pool and no logs.
type Config struct {
	DB        string       // a SQLite file path or a postgres:// URL; default mfad.db
	StoreOpts StoreOptions // how to open DB
	Store     mfad.Store   // an open store to serve instead of DB; the Server closes it
	KeyFile   string       // the key file (see KeyPath)
	Box       auth.Sealer  // a key to seal with instead of a key file (tests, the benchmark)

	Auth   auth.Config
	Hasher *passhash.Hasher // default: DefaultHasher
	Log    *slog.Logger     // default: discards

	// Mail turns mail on (password resets, notices); nil: off. PublicURL is
	// the address users reach the web page at, used in the links mailed.
	Mail      *mailer.Config
	PublicURL string

	// Edge is the cookie domain, the trusted proxies and the CORS origins
	// (httpapi.ParseEdge); its PublicURL, when nil, is PublicURL's.
	Edge httpapi.Edge

	Web        bool          // serve the web page beside the API
	Metrics    bool          // count requests and events (Server.Metrics)
	PurgeEvery time.Duration // how often Serve deletes expired rows; 0: every minute; < 0: never
}

// Server is mfad, assembled.
type Server struct {
	Store   mfad.Store
	Service *auth.Service
	Hasher  *passhash.Hasher
	Metrics *metrics.Metrics // nil unless Config.Metrics
	Handler http.Handler     // the API, and the web page with Config.Web

	Mailer *mailer.Mailer // nil unless Config.Mail

	log        *slog.Logger
	purgeEvery time.Duration
	stopMail   context.CancelFunc
}

// Open assembles a server: it opens the store (unless given one), binds the
// key file to it (creating both on a first start), and builds the service
// and its HTTP handler. Close releases what it opened.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	edge := cfg.Edge
	if edge.PublicURL == nil && cfg.PublicURL != "" {
		u, err := httpapi.ParsePublicURL(cfg.PublicURL)
		if err != nil {
			return nil, err
		}
		edge.PublicURL = u
	}
	if cfg.DB == "" && cfg.Store == nil {
		cfg.DB = "mfad.db"
	}
	store := cfg.Store
	if store == nil {
		var err error
		if store, err = OpenStore(ctx, cfg.DB, cfg.StoreOpts); err != nil {
			return nil, err
		}
	}
	box := cfg.Box
	if box == nil {
		path, err := KeyPath(cfg.DB, cfg.KeyFile)
		if err != nil {
			store.Close()
			return nil, err
		}
		fb, created, err := seal.Bind(ctx, store, path)
		if err != nil {
			store.Close()
			return nil, err
		}
		if created {
			log.Info("created a new encryption key file", "path", path)
		}
		box = fb
	}
	hasher := cfg.Hasher
	if hasher == nil {
		hasher = DefaultHasher()
	}
	svc := auth.New(store, box, hasher, cfg.Auth)
	if edge.PublicURL != nil {
		// Passkeys belong to the web page's address: its host is the
		// relying party, its origin the one accepted.
		if err := svc.SetRelyingParty(edge.PublicURL, svc.Config().Issuer); err != nil {
			store.Close()
			return nil, err
		}
	}
	var m *mailer.Mailer
	stopMail := func() {}
	if cfg.Mail != nil {
		mc := *cfg.Mail
		if mc.Log == nil {
			mc.Log = log
		}
		var err error
		if m, err = mailer.New(mc); err != nil {
			store.Close()
			return nil, err
		}
		mctx, cancel := context.WithCancel(context.Background())
		m.Start(mctx)
		stopMail = cancel
		svc.SetMailer(m, cfg.PublicURL)
	}
	api := httpapi.NewServer(svc, store, log)
	api.SetEdge(edge)
	if cfg.Web {
		api.SetSite(web.Handler())
	}
	s := &Server{Store: store, Service: svc, Hasher: hasher, Handler: api, Mailer: m, log: log, purgeEvery: cfg.PurgeEvery, stopMail: stopMail}
	if cfg.Metrics {
		s.Metrics = metrics.New(store, hasher, svc.Config().Now)
		svc.SetObserver(s.Metrics)
		api.SetObserver(s.Metrics.Request)
	}
	if s.purgeEvery == 0 {
		s.purgeEvery = time.Minute
	}
	return s, nil
}

// HTTPServer is an http.Server of the handler with mfad's timeouts and
// limits.
func (s *Server) HTTPServer() *http.Server { return httpapi.NewHTTPServer(s.Handler, s.log) }

// Serve serves on ln, and deletes expired rows every PurgeEvery, until ctx
// ends; then it stops taking connections and lets running requests finish
// (10 seconds at most) before it returns. Requests outlive the end of ctx:
// they are cancelled only once the shutdown is over.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.HTTPServer()
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv.BaseContext = func(net.Listener) context.Context { return base }
	if s.purgeEvery > 0 {
		go s.purge(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	cancelBase()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// purge deletes expired rows every purgeEvery until ctx ends.
func (s *Server) purge(ctx context.Context) {
	t := time.NewTicker(s.purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Store.Purge(ctx, s.Service.Config().Now()); err != nil && ctx.Err() == nil {
				s.log.Error("purge expired rows", "err", err)
			}
		}
	}
}

// Close stops the mail (the queued mail gets a few seconds to go out) and
// closes the store.
func (s *Server) Close() error {
	s.Service.Close()
	if s.Mailer != nil {
		s.Mailer.Close(5 * time.Second)
	}
	s.stopMail()
	return s.Store.Close()
}
