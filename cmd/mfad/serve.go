package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/httpapi"
	"github.com/mfad/mfad/internal/gcfloor"
	"github.com/mfad/mfad/mailer"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/postgres"
	"github.com/mfad/mfad/server"
	"github.com/mfad/mfad/sqlite"
)

// dbFlags are the flags every command that opens the database shares.
type dbFlags struct {
	db       *string
	maxConns *int
	timeout  *time.Duration
	sync     *string
}

func addDBFlags(f *flags) dbFlags {
	return dbFlags{
		db:       f.String("db", "MFAD_DB", "mfad.db", "the database: a SQLite file path (created if missing) or a postgres:// URL"),
		maxConns: f.Int("db-max-conns", "MFAD_DB_MAX_CONNS", 16, "PostgreSQL: connections in the pool at most"),
		timeout:  f.Duration("db-timeout", "MFAD_DB_TIMEOUT", 10*time.Second, "PostgreSQL: statement and lock timeout"),
		sync:     f.String("sqlite-sync", "MFAD_SQLITE_SYNC", "full", "SQLite: full (commits survive power loss) or normal (commits survive a killed process, several times faster)"),
	}
}

// options checks the database flags and returns how to open --db.
func (d dbFlags) options() (server.StoreOptions, error) {
	if postgres.IsURL(*d.db) {
		if *d.maxConns < 1 || *d.timeout <= 0 {
			return server.StoreOptions{}, usageError{"--db-max-conns and --db-timeout must be positive"}
		}
		return server.StoreOptions{Postgres: postgres.Options{MaxConns: *d.maxConns, QueryTimeout: *d.timeout}}, nil
	}
	if strings.Contains(*d.db, "://") {
		return server.StoreOptions{}, usageError{"--db: a SQLite file path or a postgres:// URL"}
	}
	if *d.sync != "full" && *d.sync != "normal" {
		return server.StoreOptions{}, usageError{"--sqlite-sync: full or normal"}
	}
	return server.StoreOptions{SQLite: sqlite.Options{Synchronous: *d.sync}}, nil
}

// open opens the database the --db value names and applies its migrations.
func (d dbFlags) open(ctx context.Context) (mfad.Store, error) {
	o, err := d.options()
	if err != nil {
		return nil, err
	}
	return server.OpenStore(ctx, *d.db, o)
}

// name is the database for logs, without a password.
func (d dbFlags) name() string {
	if u, err := url.Parse(*d.db); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return *d.db
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("mfad serve", "Run the mfad server.", getenv, stderr)
	listen := f.String("listen", "MFAD_LISTEN", "127.0.0.1:8080", "address to listen on")
	dbf := addDBFlags(f)
	keyFile := f.String("key-file", "MFAD_KEY_FILE", "", "file holding the key that encrypts TOTP secrets (default: <db>.key beside a SQLite database, created with mode 0600 on first start)")
	adminEmail := f.String("admin-email", "MFAD_ADMIN_EMAIL", "", "on an empty database: create the first account with this admin")
	adminPassword := f.String("admin-password", "MFAD_ADMIN_PASSWORD", "", "password of that first admin: at least 8 characters, not the email, not a common password")
	accountTitle := f.String("account-title", "MFAD_ACCOUNT_TITLE", "Default", "title of that first account")
	issuer := f.String("issuer", "MFAD_ISSUER", "mfad", "issuer name shown in authenticator apps")
	sessionCache := f.Bool("session-cache", "MFAD_SESSION_CACHE", true, "answer session checks from memory where that stays exact: SQLite always (another process's change within 1 s); PostgreSQL while no other mfad process writes (see docs/operations.md)")
	idle := f.Duration("idle-timeout", "MFAD_IDLE_TIMEOUT", 15*time.Minute, "a full session ends after this long without a request")
	maxLife := f.Duration("session-lifetime", "MFAD_SESSION_LIFETIME", 12*time.Hour, "a full session ends this long after login at most")
	lockAttempts := f.Int("lockout-attempts", "MFAD_LOCKOUT_ATTEMPTS", 5, "failed attempts on one email that lock its logins")
	lockWindow := f.Duration("lockout-window", "MFAD_LOCKOUT_WINDOW", 15*time.Minute, "the window in which those failures are counted")
	lockFor := f.Duration("lockout-duration", "MFAD_LOCKOUT_DURATION", 15*time.Minute, "how long a locked email stays locked")
	addrLimit := f.Int("addr-limit", "MFAD_ADDR_LIMIT", 30, "failed password logins per client address per minute")
	hashWorkers := f.Int("hash-workers", "MFAD_HASH_WORKERS", runtime.NumCPU(), "argon2id hashes computed at once (each holds 19 MiB)")
	hashQueue := f.Int("hash-queue", "MFAD_HASH_QUEUE", 64, "requests that may wait for a hashing slot; more get 503")
	logFormat := f.String("log-format", "MFAD_LOG_FORMAT", "text", "log format: text or json")
	logLevel := f.String("log-level", "MFAD_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	metricsListen := f.String("metrics-listen", "MFAD_METRICS_LISTEN", "", "address for /metrics (Prometheus), e.g. 127.0.0.1:9090; off when empty")
	withPprof := f.Bool("pprof", "MFAD_PPROF", false, "also serve /debug/pprof/ on the metrics address")
	smtpURL := f.String("smtp-url", "MFAD_SMTP_URL", "", "mail server for password resets and notices: smtp://[user@]host[:port] (STARTTLS, required off loopback) or smtps://...; the password in MFAD_SMTP_PASSWORD; mail is off when empty")
	smtpCA := f.String("smtp-ca-file", "MFAD_SMTP_CA_FILE", "", "PEM file of the certificates that sign the mail server's (default: the system's)")
	mailFrom := f.String("mail-from", "MFAD_MAIL_FROM", "", "sender address of the mail (required with --smtp-url)")
	publicURL := f.String("public-url", "MFAD_PUBLIC_URL", "", "the address users reach the web page at, e.g. https://auth.example.com (required with --smtp-url: the links in mail; and for forward auth to send browsers to the sign-in page)")
	cookieDomain := f.String("cookie-domain", "MFAD_COOKIE_DOMAIN", "", "forward auth: the domain of the session cookie and of the addresses to return to after sign-in, e.g. example.com (needs --public-url on it); empty: mfad's own host only")
	trustedProxies := f.String("trusted-proxies", "MFAD_TRUSTED_PROXIES", "", "comma-separated CIDRs or IPs of the reverse proxies in front of mfad: only these may name the client in X-Forwarded-For; empty: the header is ignored")
	corsOrigins := f.String("cors-origins", "MFAD_CORS_ORIGINS", "", "comma-separated exact origins (https://app.example.com) whose browser pages may call the API; empty: none")
	if err := f.Parse(args); err != nil {
		if err == errHelp {
			return nil
		}
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	if *lockAttempts < 1 || *addrLimit < 1 || *hashWorkers < 1 || *hashQueue < 0 || *idle <= 0 || *maxLife <= 0 || *lockWindow <= 0 || *lockFor <= 0 {
		return usageError{"limits, durations and worker counts must be positive"}
	}

	if postgres.IsURL(*dbf.db) && *keyFile == "" {
		return usageError{"--key-file is required with a PostgreSQL database: every instance needs the same key"}
	}
	if *withPprof && *metricsListen == "" {
		return usageError{"--pprof needs --metrics-listen: profiles are served on the metrics address only"}
	}
	storeOpts, err := dbf.options()
	if err != nil {
		return err
	}
	storeOpts.SQLite.NoSessionCache = !*sessionCache
	storeOpts.Postgres.SessionCache = *sessionCache
	edge, err := httpapi.ParseEdge(*publicURL, *cookieDomain, *trustedProxies, *corsOrigins)
	if err != nil {
		return usageError{err.Error()}
	}
	mail, err := mailConfig(*smtpURL, getenv("MFAD_SMTP_PASSWORD"), *smtpCA, *mailFrom, *publicURL)
	if err != nil {
		return err
	}
	cfg := auth.DefaultConfig()
	cfg.Issuer, cfg.IdleTimeout, cfg.MaxLifetime = *issuer, *idle, *maxLife
	cfg.EmailThrottle = mfad.Throttle{Limit: *lockAttempts, Window: *lockWindow, Lock: *lockFor}
	cfg.AddrThrottle = mfad.Throttle{Limit: *addrLimit, Window: time.Minute, Lock: time.Minute}
	hasher := passhash.New(passhash.Default, *hashWorkers, *hashQueue, server.DefaultHashWait)
	cores := runtime.GOMAXPROCS(0)
	spare, useSpare := spareProcessor(getenv, cores)
	var procs *processors
	if useSpare {
		procs = &processors{cores: cores, spare: spare, idleAfter: spareIdleAfter}
	}
	var tuner *gcfloor.Tuner
	if !gcfloor.Overridden(getenv) {
		tuner = gcfloor.Start(gcHeapFloor)
		defer tuner.Stop()
	}
	room := hashingRoom(*hashWorkers)
	if f := onHashing(procs, tuner, room); f != nil {
		hasher.OnBusy(f)
	}
	s, err := server.Open(ctx, server.Config{
		DB: *dbf.db, StoreOpts: storeOpts, KeyFile: *keyFile, Auth: cfg, Log: log,
		Hasher: hasher,
		Web:    true, Metrics: *metricsListen != "", Mail: mail, PublicURL: *publicURL, Edge: edge,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if !postgres.IsURL(*dbf.db) {
		// New files are made 0600; an older or copied one may not be.
		for _, f := range sqlite.LooseFiles(*dbf.db) {
			log.Warn("a database file is open to group or others; it holds password hashes and sealed secrets: chmod 600 it", "file", f)
		}
	}
	if s.Mailer == nil {
		log.Info("mail is off (no --smtp-url): password reset by mail answers 503 and no notices are sent")
	} else {
		log.Info("mail is on", "server", s.Mailer.Server(), "from", *mailFrom, "public_url", *publicURL)
	}
	if edge.PublicURL != nil {
		log.Info("passkeys on", "relying_party", edge.PublicURL.Hostname(), "origin", edge.PublicURL.Scheme+"://"+edge.PublicURL.Host)
	} else {
		log.Info("passkeys are off (no --public-url): their endpoints answer 503")
	}
	if edge.PublicURL != nil {
		log.Info("forward auth", "public_url", edge.PublicURL.String(), "cookie_domain", edge.CookieDomain,
			"trusted_proxies", len(edge.TrustedProxies), "cors_origins", len(edge.CORSOrigins))
		if edge.PublicURL.Scheme == "http" && !loopback(edge.PublicURL.Hostname()) {
			log.Warn("--public-url is plain http off loopback: browsers keep the session cookie (Secure) only over https, so forward auth and sign-in resume will not work; put TLS in front and use https://")
		}
	}
	if err := bootstrap(ctx, s.Store, s.Service, *accountTitle, *adminEmail, *adminPassword, log); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	metricsAddr := ""
	if s.Metrics != nil {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s: %w", *metricsListen, err)
		}
		msrv := httpapi.NewHTTPServer(s.Metrics.Handler(*withPprof), log)
		msrv.WriteTimeout = 0 // a CPU profile takes its time
		go msrv.Serve(mln)
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String(), "pprof", *withPprof)
		metricsAddr = mln.Addr().String()
	}
	if procs != nil {
		procs.start()
		defer procs.stop() // puts the cores' count back (tests run serve more than once)
		log.Info("Go processors: one more than the cores while no password hash has run for a second", "gomaxprocs", spare, "while_hashing", cores)
	} else {
		log.Info("Go processors as the environment sets them (GOMAXPROCS)", "gomaxprocs", runtime.GOMAXPROCS(0))
	}
	if tuner == nil {
		log.Info("garbage collector as the environment sets it (GOGC or GOMEMLIMIT)")
	} else {
		log.Info("garbage collector: the heap may grow to a floor before each collection, and is capped while password hashes run",
			"floor_mib", gcHeapFloor>>20, "hashing_room_mib", room>>20)
	}
	log.Info("mfad listening", "addr", ln.Addr().String(), "db", dbf.name())
	fmt.Fprintf(stdout, "mfad listening on http://%s\n", ln.Addr())
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "mfad metrics on http://%s/metrics\n", metricsAddr)
	}
	return s.Serve(ctx, ln)
}

// spareProcessor is the GOMAXPROCS mfad serve runs with: one more than the
// runtime's default (the cores, or the container's CPU limit), unless the
// environment sets GOMAXPROCS. The SQLite writer goroutine, which every
// write waits for, gives its processor up during each fsync and WAL write;
// on a 2-core machine it then found none free for a fifth of its time (a
// runtime trace of the second-factor benchmark: 15% waiting to be
// scheduled, 8% to leave a system call). With one processor more the
// second factor's p99 was 6-20% lower in 9 of 10 paired windows
// (docs/bench/2026-12-07.md). Setting it stops the runtime's own updates
// when a container's CPU limit changes; set GOMAXPROCS to choose.
//
// While argon2id hashes run, and for a second after, the spare processor
// is taken back (see processors): two hashes and a third Go processor on
// two cores took 20% more CPU per password login (29.2 against 24.4 ms),
// 55-65 logins/s against 70-75.
func spareProcessor(getenv func(string) string, current int) (int, bool) {
	if getenv("GOMAXPROCS") != "" {
		return current, false
	}
	return current + 1, true
}

// processors switches GOMAXPROCS between the cores' count, as soon as a
// password or PIN hash starts (passhash.Hasher.OnBusy), and one more, once
// no hash has run for idleAfter while serve serves. A switch stops the
// world: 0.08-0.1 ms at the median on two cores busy with more goroutines
// than processors, but 5-9 ms at the 99th percentile (a thread that the
// system is not running must be reached), so a steady trickle of logins
// switches at most about twice a second, not twice a login.
type processors struct {
	cores, spare int
	idleAfter    time.Duration

	mu      sync.Mutex
	serving bool
	hashes  bool
	gen     int // counts the hasher's busy calls: a timer of an older idle stretch does nothing
}

// spareIdleAfter is processors.idleAfter in mfad serve.
const spareIdleAfter = time.Second

func (p *processors) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serving = true
	p.set()
}

// stop puts the cores' count back; from then on nothing switches (a hash
// still running, or an idle timer, must not undo the next serve's choice).
func (p *processors) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serving = false
	runtime.GOMAXPROCS(p.cores)
}

// hashing is the hasher's OnBusy function.
func (p *processors) hashing(busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if busy {
		p.hashes = true
		p.set()
		return
	}
	gen := p.gen
	time.AfterFunc(p.idleAfter, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gen == gen { // no hash since
			p.hashes = false
			p.set()
		}
	})
}

// set applies the state while serve serves; before, GOMAXPROCS is the
// cores' count already.
func (p *processors) set() {
	if !p.serving {
		return
	}
	n := p.spare
	if p.hashes {
		n = p.cores
	}
	if runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}

// onHashing is the hasher's OnBusy function: while password or PIN hashes
// run, the spare processor is taken back (procs, see processors) and Go's
// memory is capped (tuner, see gcfloor.Tuner.Cap) at what it holds or at
// the live heap plus need, whichever is larger. Either may be nil; with
// both nil there is nothing to do (nil).
//
// Why the cap: each argon2id hash allocates a 19 MiB block. The heap
// floor leaves free pages spread between small objects, where a block
// seldom fits, so the heap grew by a block before the runtime gave as much
// back: the password step's RSS peaked 15-20 MB higher, for a few
// milliseconds, in about half of the runs (93-98 MB against 78-81 MB at
// 10,000 users after the second-factor and admin windows). Capped, the
// runtime gives free pages back as it grows: peaks 78.4-79.4 MB in every
// run, logins per second and CPU per login within the machine's noise
// (docs/bench/2026-12-07.md).
func onHashing(procs *processors, tuner *gcfloor.Tuner, need uint64) func(busy bool) {
	if procs == nil && tuner == nil {
		return nil
	}
	return func(busy bool) {
		if tuner != nil {
			if busy {
				tuner.Cap(need)
			} else {
				tuner.Uncap()
			}
		}
		if procs != nil {
			procs.hashing(busy)
		}
	}
}

// hashingRoom is the need given to gcfloor.Tuner.Cap while hashes run: the
// blocks of workers hashes at once, and 16 MiB for the rest of the server
// to grow meanwhile before the cap makes it collect more often. A stored
// hash with a larger memory cost than passhash.Default (verification
// accepts up to passhash.MaxMemory) goes past the cap while it runs: the
// limit is soft, so the hash still gets its memory, and the runtime
// collects more often until it ends.
func hashingRoom(workers int) uint64 {
	return uint64(max(workers, 1))*uint64(passhash.Default.Memory)<<10 + 16<<20
}

// gcHeapFloor is the heap the server may grow to before each garbage
// collection while its live heap is small (see internal/gcfloor and
// docs/operations.md "Memory"). 64 MiB took the admin bulk calls' windows
// past 100 MB of RSS at 10,000 users; 32 MiB kept them at 74 MB.
const gcHeapFloor = 32 << 20

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: use text or json", format)}
}

// bootstrap creates the first account on an empty database.
func bootstrap(ctx context.Context, store mfad.Store, svc *auth.Service, title, email, password string, log *slog.Logger) error {
	n, err := store.CountAccounts(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if email != "" {
			log.Info("the database has accounts already; --admin-email and --admin-password are ignored")
		}
		return nil
	}
	if (email == "") != (password == "") {
		return usageError{"--admin-email and --admin-password go together"}
	}
	if email == "" {
		log.Warn("the database has no account yet: restart with --admin-email and --admin-password, or run mfad account create")
		return nil
	}
	a, u, err := svc.CreateAccount(ctx, title, auth.NewUser{Name: email, Email: email, Password: password})
	if mfad.ErrorCode(err) == mfad.CodeEmailTaken {
		// Another instance starting on the same database made it first.
		if n, cerr := store.CountAccounts(ctx); cerr == nil && n > 0 {
			log.Info("another instance created the first account")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("create the first account: %s", errText(err))
	}
	log.Info("created the first account", "account_id", a.ID, "admin_id", u.ID)
	return nil
}

// errText is the message of an *mfad.Error, or the error itself.
func errText(err error) string {
	var e *mfad.Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return err.Error()
}

// mailConfig checks the mail flags: none (mail off), or a server, a sender
// and the public URL together.
func mailConfig(smtpURL, password, caFile, from, publicURL string) (*mailer.Config, error) {
	if smtpURL == "" {
		if from != "" || caFile != "" {
			return nil, usageError{"--mail-from and --smtp-ca-file go with --smtp-url"}
		}
		return nil, nil
	}
	if from == "" || publicURL == "" {
		return nil, usageError{"--smtp-url needs --mail-from and --public-url (the address the links in mail point at)"}
	}
	if u, err := url.Parse(publicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, usageError{"--public-url: an http:// or https:// URL, e.g. https://mfad.example.com"}
	}
	cfg := &mailer.Config{URL: smtpURL, Password: password, From: from}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, usageError{"--smtp-ca-file: no PEM certificate in " + caFile}
		}
		cfg.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if _, err := mailer.New(*cfg); err != nil {
		return nil, usageError{"--smtp-url or --mail-from: " + err.Error()}
	}
	return cfg, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
