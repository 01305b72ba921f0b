package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/postgres"
	"github.com/mfad/mfad/seal"
)

// Config is one run of the harness.
type Config struct {
	DB          string        // SQLite file or postgres:// URL; "" = a SQLite file in a temp dir
	URL         string        // a running server to target instead
	Spawn       bool          // run the real mfad binary as a separate process
	MfadBin     string        // with Spawn: this binary instead of building cmd/mfad
	Duration    time.Duration // measured time per scenario and concurrency
	Warmup      time.Duration // unmeasured time before each window
	Concurrency []int
	Users       []int // one scale per count, ascending
	Sessions    int   // full sessions seeded at the first scale
	Active      int   // of those, the ones the authenticated scenarios rotate through
	PoolCap     int   // TOTP users the second-factor scenario draws from, at most
	Scenarios   []string
	Short       bool
	// BaselineProcess runs the bare handler in a process of its own
	// (this program again), as a server under test is with --spawn; by
	// default it runs in the harness's process.
	BaselineProcess bool

	CPUProfile         string // write a CPU profile of one window here
	BlockProfile       string // and a profile of where goroutines waited
	ProfileScenario    string
	ProfileConcurrency int
	ProfileUsers       int

	AdminEmail, AdminPassword string // with URL
}

// Result is one row of the report: a scenario at one scale and concurrency.
type Result struct {
	Scenario     string   `json:"scenario"`
	Store        string   `json:"store"`
	Mode         string   `json:"mode"`
	Users        int      `json:"users"`
	Concurrency  int      `json:"concurrency"`
	Requests     int      `json:"requests"`
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	Seconds      float64  `json:"seconds"`
	RPS          float64  `json:"rps"`
	Ratio        float64  `json:"ratio_to_baseline"`
	P50          float64  `json:"p50_ms"`
	P95          float64  `json:"p95_ms"`
	P99          float64  `json:"p99_ms"`
	Max          float64  `json:"max_ms"`
	// CPU time per request: of the server's process (with the in-process
	// mode, that process also runs the load generator and the baseline),
	// and of the whole machine (every process, PostgreSQL included).
	CPUms        float64 `json:"cpu_ms_per_req"`
	MachineCPUms float64 `json:"machine_cpu_ms_per_req"`
	DBCPUms      float64 `json:"db_cpu_ms_per_req,omitempty"` // PostgreSQL's processes
	// OtherCores is the CPU the rest of the machine used during the window
	// (cores on average): work that is neither the server, the harness nor
	// PostgreSQL, and that skews the figures.
	OtherCores float64 `json:"other_cores"`
	RSSMB      float64 `json:"rss_mb,omitempty"`      // the server's RSS after the window
	PeakMB     float64 `json:"peak_rss_mb,omitempty"` // its peak during the window
	Note       string  `json:"note,omitempty"`
}

// Scale is what one users count looked like.
type Scale struct {
	Users        int     `json:"users"`
	LiveSessions int     `json:"live_sessions"` // unexpired sessions when the scenarios start
	SeedSeconds  float64 `json:"seed_seconds"`
	DBMB         float64 `json:"db_mb,omitempty"`
	RSSMB        float64 `json:"rss_mb,omitempty"`      // server RSS after the last window before the password step's
	RSSEndMB     float64 `json:"rss_end_mb,omitempty"`  // and at the end of the scale
	PeakRSSMB    float64 `json:"peak_rss_mb,omitempty"` // its peak during the scale's windows
	// PeakNoPwMB is the peak over every window but the password step's,
	// whose argon2id hashes hold 19 MiB each.
	PeakNoPwMB float64 `json:"peak_rss_without_password_mb,omitempty"`
	PeakNote   string  `json:"peak_note,omitempty"`
}

// Report is a whole run.
type Report struct {
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Store    string    `json:"store"`
	Mode     string    `json:"mode"`
	Duration float64   `json:"duration_seconds"`
	Settings []string  `json:"settings"`
	Scales   []Scale   `json:"scales"`
	Results  []Result  `json:"results"`
	Targets  []Target  `json:"targets,omitempty"`
	Profile  string    `json:"cpu_profile,omitempty"`
	Source   string    `json:"source,omitempty"` // which server code was measured
	Elapsed  float64   `json:"elapsed_seconds"`
}

func (c *Config) fill() {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = min(time.Second, c.Duration/10)
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 16, 64}
	}
	if len(c.Users) == 0 {
		c.Users = []int{10000}
	}
	slices.Sort(c.Users)
	if c.Sessions <= 0 {
		c.Sessions = 10000
	}
	if c.Active <= 0 {
		c.Active = 1000
	}
	c.Active = min(c.Active, c.Sessions)
	if c.PoolCap <= 0 {
		c.PoolCap = 12000
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = allScenarios
	}
	if c.ProfileScenario == "" {
		c.ProfileScenario = scSecondFactor
	}
	if c.ProfileConcurrency <= 0 {
		c.ProfileConcurrency = slices.Max(c.Concurrency)
	}
	if c.ProfileUsers <= 0 {
		c.ProfileUsers = c.Users[0]
	}
}

func (c *Config) validate() error {
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("--scenarios: unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > 4096 {
			return fmt.Errorf("--concurrency: %d is not in 1..4096", n)
		}
	}
	for _, n := range c.Users {
		if n < 4 {
			return fmt.Errorf("--users: %d is too few (4 at least)", n)
		}
	}
	if c.URL != "" {
		if c.Spawn || c.DB != "" {
			return errors.New("--url targets a running server: it goes with neither --spawn nor --db")
		}
		if c.AdminEmail == "" || c.AdminPassword == "" {
			return errors.New("--url needs --admin-email and --admin-password (an admin without a second factor)")
		}
		if len(c.Users) != 1 || c.Users[0] > maxURLUsers {
			return fmt.Errorf("--url seeds through the API, which is slow: give one --users count of at most %d", maxURLUsers)
		}
		if c.CPUProfile != "" || c.BlockProfile != "" {
			return errors.New("--cpuprofile and --blockprofile profile the in-process server: not with --url")
		}
	}
	if c.Spawn && (c.CPUProfile != "" || c.BlockProfile != "") {
		return errors.New("--cpuprofile and --blockprofile profile the in-process server: not with --spawn")
	}
	return nil
}

// runner holds a run's state.
type runner struct {
	cfg      Config
	logw     io.Writer
	rep      *Report
	drive    func(ctx context.Context, conc int, dur time.Duration, tags int, next nextFunc) windowResult
	pid      int // the server's process, 0 when unknown
	basePID  int // the baseline's process (--baseline-process), 0 when in the harness
	store    string
	mode     string
	profiled bool
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.logw, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run runs the harness and returns its report. Progress goes to logw.
func Run(ctx context.Context, cfg Config, logw io.Writer) (*Report, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, configError{err}
	}
	started := time.Now()
	client := newClient(slices.Max(cfg.Concurrency))
	defer client.CloseIdleConnections()
	r := &runner{cfg: cfg, logw: logw}
	r.drive = func(ctx context.Context, conc int, dur time.Duration, tags int, next nextFunc) windowResult {
		return drive(ctx, client, conc, dur, tags, next)
	}
	var baseURL string
	if cfg.BaselineProcess {
		stop, u, pid, err := startBaselineProcess()
		if err != nil {
			return nil, err
		}
		defer stop()
		baseURL, r.basePID = u, pid
	} else {
		base, u, err := startBaseline()
		if err != nil {
			return nil, err
		}
		defer base.Close()
		baseURL = u
	}

	work, err := os.MkdirTemp("", "mfabench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	dbDir := work
	if cfg.DB != "" && !postgres.IsURL(cfg.DB) {
		dbDir = filepath.Dir(cfg.DB)
	}
	r.rep = &Report{Started: started, Source: sourceFingerprint(), Machine: machineInfo(map[bool]string{true: "", false: dbDir}[postgres.IsURL(cfg.DB) || cfg.URL != ""]),
		Duration: cfg.Duration.Seconds()}
	switch {
	case cfg.URL != "":
		r.store, r.mode = "remote", "url"
		r.rep.Machine.Client = "the harness's process; the server is wherever --url points"
		err = r.runURL(ctx, baseURL)
	default:
		r.store = "sqlite"
		if postgres.IsURL(cfg.DB) {
			r.store = "postgres"
		}
		r.mode = "in-process"
		r.rep.Machine.Client = "the same process as the server (in-process mode): its CPU and memory count in the process figures"
		if cfg.Spawn {
			r.mode = "spawn"
			r.rep.Machine.Client = "a separate process: the server is the real mfad binary, started by the harness"
		}
		err = r.runDB(ctx, work, baseURL)
	}
	r.rep.Store, r.rep.Mode = r.store, r.mode
	r.rep.Elapsed = time.Since(started).Seconds()
	r.rep.Machine.LoadEnd = loadAvg()
	r.rep.Settings = settings(cfg, r.store, r.mode)
	r.rep.Targets = evaluateTargets(r.rep)
	return r.rep, err
}

func settings(cfg Config, store, mode string) []string {
	s := []string{
		fmt.Sprintf("%s per scenario and concurrency, after %s of warm-up; concurrency %v", cfg.Duration, cfg.Warmup, cfg.Concurrency),
		"server: mfad serve's defaults (argon2id m=19 MiB t=2 p=1, NumCPU hashing workers, queue 64; sessions 15 min idle / 12 h; logs at info level to a file) " +
			"except the lockout and per-address limits, raised to 1e9: the benchmark logs in thousands of times from 127.0.0.1, and at concurrency 64 many in-flight attempts per email are counted before they are evaluated",
		"client: Go net/http, keep-alive, one connection per worker; the baseline is a bare net/http handler writing {\"ok\":true} on its own loopback listener, driven by the same client",
	}
	if cfg.BaselineProcess {
		s = append(s, "the baseline runs in a process of its own (--baseline-process), not in the harness's")
	} else {
		s = append(s, "the baseline runs in the harness's process (without --baseline-process its figures share that process's CPU with the load generator)")
	}
	if store == "sqlite" {
		s = append(s, "SQLite as mfad opens it: WAL, synchronous=FULL, one writer connection committing the writes that queue together (group commit), a pool of read-only connections, statements prepared once, the session cache on")
	}
	if mode != "url" {
		s = append(s, fmt.Sprintf("seeded directly in the database: %d admin-call targets without a factor, the other users 80%% TOTP, 10%% TOTP+PIN, 10%% no factor; %d full sessions at the first scale and %d more at each later one, the newest %[3]d being those the authenticated scenarios rotate through (each recorded at most once a minute, as the server does); the second-factor scenario draws from up to %d TOTP users, with limited sessions inserted and their last TOTP step reset before each window",
			min(bulkIDs, cfg.Users[0]/2), cfg.Sessions, cfg.Active, cfg.PoolCap))
	}
	return s
}

// ---- database modes (in-process and spawn)

func (r *runner) runDB(ctx context.Context, work, baseURL string) error {
	cfg := r.cfg
	db := cfg.DB
	if db == "" {
		db = filepath.Join(work, "bench.db")
	}
	store, err := openStore(ctx, db)
	if err != nil {
		return err
	}
	storeOpen := true
	defer func() {
		if storeOpen {
			store.Close()
		}
	}()

	key := seal.NewKey()
	box := seal.NewBox(key)
	hasher := passhash.New(passhash.Default, 1, 0, time.Minute)
	pwHash, err := hasher.Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	pinHash, err := hasher.Hash(ctx, benchPIN)
	if err != nil {
		return err
	}
	runKey := make([]byte, 32)
	rand.Read(runKey)
	pop := newPopulation(runKey, box, pwHash, pinHash)
	pop.setBulk(cfg.Users[0])
	now := time.Now().UTC()
	if err := store.CreateAccount(ctx, &mfad.Account{ID: pop.accountID, Title: "Bench " + pop.runID, Created: now, Modified: now},
		&mfad.User{ID: pop.adminID, AccountID: pop.accountID, Name: "Bench Admin", Email: pop.adminMail, SuperAdmin: true,
			PasswordHash: pwHash, Created: now, Modified: now}); err != nil {
		return fmt.Errorf("create the bench account: %w", err)
	}

	seed, err := openSeedDB(ctx, db, r.store == "postgres")
	if err != nil {
		return fmt.Errorf("open the database for seeding: %w", err)
	}
	defer seed.Close()

	var (
		inproc  *inProcess
		bin     string
		keyFile = filepath.Join(work, "bench.key")
		logPath = filepath.Join(work, "mfad.log")
	)
	if cfg.Spawn {
		// The binary accepts the database only with the key its meta table
		// records.
		if err := seal.WriteKeyRing(keyFile, []seal.Key{key}); err != nil {
			return err
		}
		if got, err := store.PutMetaIfAbsent(ctx, "key_id", box.ID()); err != nil {
			return err
		} else if got != box.ID() {
			return fmt.Errorf("--spawn: the database already records key id %s, sealed under a key the harness does not have: use a fresh database", got)
		}
		store.Close()
		storeOpen = false
		bin = cfg.MfadBin
		if bin == "" {
			r.logf("building cmd/mfad")
			if bin, err = buildMfad(ctx, work); err != nil {
				return err
			}
		}
	} else {
		logf, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer logf.Close()
		inproc, err = startInProcess(store, box, nil, logf)
		if err != nil {
			return err
		}
		defer inproc.Close()
		r.pid = os.Getpid()
	}

	pool := &totpPool{perUser: 3}
	pool.reset = func(ctx context.Context, users []*poolUser) error {
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.id
		}
		return seed.resetTOTPLast(ctx, ids)
	}
	pool.make = func(ctx context.Context, users []*poolUser) ([]string, error) {
		now := time.Now()
		rows := make([]sessionRow, len(users))
		out := make([]string, len(users))
		for i, u := range users {
			out[i] = uuid.NewString()
			rows[i] = sessionRow{token: out[i], userID: u.id, limited: true, expires: now.Add(5 * time.Minute)}
		}
		if err := seed.insertSessions(ctx, rows, now); err != nil {
			return nil, err
		}
		return out, nil
	}

	seeded, seededSessions := 0, 0
	for si, n := range cfg.Users {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		now := time.Now().UTC()
		if n > seeded {
			r.logf("seeding users %d..%d", seeded, n)
			for from := seeded; from < n; from += 100000 {
				to := min(n, from+100000)
				if err := seed.insertUsers(ctx, pop, from, to, now); err != nil {
					return err
				}
				if n-seeded > 100000 {
					r.logf("  %d users (%s)", to, time.Since(t0).Round(time.Second))
				}
			}
			seeded = n
		}
		const life = 12 * time.Hour
		if si == 0 && cfg.Sessions > cfg.Active {
			r.logf("seeding %d full sessions", cfg.Sessions-cfg.Active)
			if err := seed.insertFullSessions(ctx, pop, 0, cfg.Sessions-cfg.Active, seeded, now, life); err != nil {
				return err
			}
			seededSessions = cfg.Sessions - cfg.Active
		}
		// Fresh sessions for the authenticated scenarios at each scale, so
		// none has gone idle while an earlier scale ran.
		active := make([]string, 0, cfg.Active)
		for j := seededSessions; j < seededSessions+cfg.Active; j++ {
			active = append(active, pop.fullToken(j))
		}
		if err := seed.insertFullSessions(ctx, pop, seededSessions, seededSessions+cfg.Active, seeded, now, life); err != nil {
			return err
		}
		seededSessions += cfg.Active
		adminToken := uuid.NewString()
		if err := seed.insertSessions(ctx, []sessionRow{{token: adminToken, userID: pop.adminID, expires: now.Add(life)}}, now); err != nil {
			return err
		}
		if err := seed.checkpoint(ctx); err != nil {
			return err
		}
		live, err := seed.count(ctx, "sessions", "expires > ?", time.Now().UnixMilli())
		if err != nil {
			return err
		}
		sc := Scale{Users: seeded, LiveSessions: live, SeedSeconds: time.Since(t0).Seconds(), DBMB: float64(seed.dbSize(ctx)) / (1 << 20)}
		r.logf("scale %d users: %d live sessions, database %.0f MB, seeded in %.1fs", seeded, live, sc.DBMB, sc.SeedSeconds)

		f := &fixture{baseline: baseURL, adminToken: adminToken, fullTokens: active, pool: pool}
		for k := 0; k < bulkIDs; k++ {
			if i := pop.nthOfKind(kindBulk, k, seeded); i >= 0 {
				f.bulkIDs = append(f.bulkIDs, pop.userID(i))
			}
		}
		for k := 0; k < 2000; k++ {
			if i := pop.nthOfKind(kindPassword, k, seeded); i >= 0 {
				f.pwEmails = append(f.pwEmails, pop.email(i))
			}
		}
		for k := len(pool.users); k < min(cfg.PoolCap, pop.countOfKind(kindTOTP, seeded)); k++ {
			i := pop.nthOfKind(kindTOTP, k, seeded)
			pool.users = append(pool.users, &poolUser{id: pop.userID(i), email: pop.email(i), secret: pop.secret(i)})
		}

		var sp *spawned
		if cfg.Spawn {
			if sp, err = startSpawned(ctx, bin, db, keyFile, logPath); err != nil {
				return err
			}
			r.pid = sp.pid()
			f.api = sp.url + "/api/1.0"
		} else {
			f.api = inproc.url + "/api/1.0"
		}
		err = r.runScale(ctx, f, &sc)
		if sp != nil {
			if serr := sp.Stop(); serr != nil && err == nil {
				err = fmt.Errorf("stop mfad: %w", serr)
			}
		}
		r.rep.Scales = append(r.rep.Scales, sc)
		if err != nil {
			return err
		}
	}
	return nil
}

// ---- URL mode

func (r *runner) runURL(ctx context.Context, baseURL string) error {
	cfg := r.cfg
	c := &apiClient{http: newClient(8), api: strings.TrimSuffix(cfg.URL, "/") + "/api/1.0"}
	runKey := make([]byte, 32)
	rand.Read(runKey)
	pop := newPopulation(runKey, nil, "", "")
	n := cfg.Users[0]
	pop.setBulk(n)
	t0 := time.Now()
	r.logf("seeding %d users through the API of %s", n, cfg.URL)
	f, err := seedThroughAPI(ctx, c, pop, n, cfg.AdminEmail, cfg.AdminPassword, func(s string) { r.logf("%s", s) })
	if err != nil {
		return err
	}
	f.baseline = baseURL
	sc := Scale{Users: n, LiveSessions: len(f.fullTokens) + 1, SeedSeconds: time.Since(t0).Seconds()}
	f.fullTokens = f.fullTokens[:min(len(f.fullTokens), cfg.Active)]
	err = r.runScale(ctx, f, &sc)
	r.rep.Scales = append(r.rep.Scales, sc)
	return err
}

// ---- one scale

// runScale runs every scenario at every concurrency.
func (r *runner) runScale(ctx context.Context, f *fixture, sc *Scale) error {
	cfg := r.cfg
	if r.pid != 0 && !resetPeak(r.pid) {
		sc.PeakNote = "peaks are since the process started (could not reset VmHWM)"
	}
	baseline := map[int]float64{}
	for _, name := range allScenarios {
		if !slices.Contains(cfg.Scenarios, name) && !(name == scBaseline) {
			continue
		}
		for _, conc := range cfg.Concurrency {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rows, err := r.window(ctx, f, name, conc, sc.Users)
			if err != nil {
				return err
			}
			for _, row := range rows {
				if name == scBaseline {
					baseline[conc] = row.RPS
				}
				if b := baseline[conc]; b > 0 {
					row.Ratio = row.RPS / b
				}
				r.rep.Results = append(r.rep.Results, row)
				sc.PeakRSSMB = max(sc.PeakRSSMB, row.PeakMB)
				if row.Scenario != scPassword && row.Scenario != scBaseline {
					sc.PeakNoPwMB = max(sc.PeakNoPwMB, row.PeakMB)
					sc.RSSMB = row.RSSMB
				}
				r.logf("  %-16s c=%-3d %7d req %9.1f req/s  x%.3f  p50 %7.2f  p99 %8.2f ms  err %d%s", row.Scenario, conc, row.Requests, row.RPS, row.Ratio, row.P50, row.P99, row.Errors,
					map[bool]string{true: "  (" + row.Note + ")", false: ""}[row.Note != ""])
			}
		}
	}
	if r.pid != 0 {
		sc.RSSEndMB, _ = procMem(r.pid)
	}
	return nil
}

// window measures one scenario at one concurrency.
func (r *runner) window(ctx context.Context, f *fixture, name string, conc, users int) ([]Result, error) {
	cfg := r.cfg
	prepare := func() error {
		if name != scSecondFactor {
			return nil
		}
		if err := f.pool.rewind(ctx); err != nil {
			return err
		}
		_, err := f.pool.refill(ctx)
		return err
	}
	if err := prepare(); err != nil {
		return nil, fmt.Errorf("%s: make limited sessions: %w", name, err)
	}
	tags, next, err := f.scenarioCalls(name, conc)
	if err != nil {
		return nil, err
	}
	// The warm-up would use up a pool that cannot be rewound (--url).
	if name != scSecondFactor || f.pool.reset != nil {
		r.drive(ctx, conc, cfg.Warmup, len(tags), next)
	}
	if err := prepare(); err != nil {
		return nil, fmt.Errorf("%s: make limited sessions: %w", name, err)
	}
	if tags, next, err = f.scenarioCalls(name, conc); err != nil {
		return nil, err
	}
	runtime.GC()

	profiling := false
	if (cfg.CPUProfile != "" || cfg.BlockProfile != "") && !r.profiled && name == cfg.ProfileScenario && conc == cfg.ProfileConcurrency && users >= cfg.ProfileUsers {
		if cfg.CPUProfile != "" {
			pf, err := os.Create(cfg.CPUProfile)
			if err != nil {
				return nil, err
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return nil, err
			}
		}
		if cfg.BlockProfile != "" {
			runtime.SetBlockProfileRate(1) // every blocking event
		}
		profiling, r.profiled = true, true
	}
	self := os.Getpid()
	cpu0, mc0, self0, db0 := time.Duration(0), machineCPU(), procCPU(self), time.Duration(0)
	if r.pid != 0 {
		resetPeak(r.pid)
		cpu0 = procCPU(r.pid)
	}
	if r.store == "postgres" {
		db0 = postgresCPU()
	}
	var base0, base1 time.Duration // the baseline process, in its windows
	if name == scBaseline && r.basePID != 0 {
		base0 = procCPU(r.basePID)
	}
	res := r.drive(ctx, conc, cfg.Duration, len(tags), next)
	if name == scBaseline && r.basePID != 0 {
		base1 = procCPU(r.basePID)
	}
	mc1, self1, db1 := machineCPU(), procCPU(self), time.Duration(0)
	cpu1 := time.Duration(0)
	if r.pid != 0 {
		cpu1 = procCPU(r.pid)
	}
	if r.store == "postgres" {
		db1 = postgresCPU()
	}
	// What the rest of the machine used meanwhile: neither the server, nor
	// the harness (client and baseline), nor PostgreSQL.
	other := (mc1 - mc0) - (self1 - self0) - (db1 - db0)
	if r.pid != 0 && r.pid != self {
		other -= cpu1 - cpu0
	}
	other -= base1 - base0
	otherCores := max(0, other.Seconds()/res.elapsed.Seconds())
	if profiling {
		var files []string
		if cfg.CPUProfile != "" {
			pprof.StopCPUProfile()
			files = append(files, cfg.CPUProfile)
		}
		if cfg.BlockProfile != "" {
			runtime.SetBlockProfileRate(0)
			bf, err := os.Create(cfg.BlockProfile)
			if err != nil {
				return nil, err
			}
			err = pprof.Lookup("block").WriteTo(bf, 0)
			if cerr := bf.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			files = append(files, cfg.BlockProfile)
		}
		r.rep.Profile = fmt.Sprintf("%s: %s at concurrency %d with %d users, %s", strings.Join(files, ", "), name, conc, users, r.store)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	total := 0
	for _, s := range res.series {
		total += len(s.lat)
	}
	var rss, peak float64
	if r.pid != 0 {
		rss, peak = procMem(r.pid)
	}
	var rows []Result
	for i, s := range res.series {
		row := Result{Scenario: tags[i], Store: r.store, Mode: r.mode, Users: users, Concurrency: conc,
			Requests: len(s.lat), Errors: s.errors, ErrorSamples: errSummary(s.errTexts),
			Seconds: res.elapsed.Seconds(), RPS: float64(len(s.lat)) / res.elapsed.Seconds(),
			P50: ms(percentile(s.lat, 50)), P95: ms(percentile(s.lat, 95)), P99: ms(percentile(s.lat, 99)),
			Max: ms(percentile(s.lat, 100)), RSSMB: rss, PeakMB: peak}
		if name == scBaseline {
			row.Store, row.Mode = "-", "bare net/http"
			if r.mode == "spawn" { // the figures of the mfad process say nothing of the baseline
				cpu0, cpu1, row.RSSMB, row.PeakMB = 0, 0, 0, 0
			}
			if r.basePID != 0 { // its own process's CPU
				cpu0, cpu1 = base0, base1
			}
		}
		row.OtherCores = otherCores
		if total > 0 {
			if r.pid != 0 || (name == scBaseline && r.basePID != 0) {
				row.CPUms = ms(cpu1-cpu0) / float64(total)
			}
			row.MachineCPUms = ms(mc1-mc0) / float64(total)
			if r.store == "postgres" {
				row.DBCPUms = ms(db1-db0) / float64(total)
			}
		}
		if len(res.series) > 1 {
			row.Note = "CPU per request over both calls of the window"
		}
		if res.dry {
			row.Note = fmt.Sprintf("pool of %d TOTP users ran dry after %.1fs: each serves at most 3 logins per 30 s step", len(f.pool.users), res.elapsed.Seconds())
		}
		rows = append(rows, row)
	}
	return rows, nil
}
