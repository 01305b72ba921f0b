package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/auth"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/passhash"
	"github.com/mfad/mfad/seal"
	"github.com/mfad/mfad/sqlite"
	"github.com/mfad/mfad/totp"
)

// testLog sends the harness's progress lines to the test log.
type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

// TestMain lets the test binary be the baseline process of
// --baseline-process (the harness starts its own executable again).
func TestMain(m *testing.M) {
	if os.Getenv(BaselineEnv) == "1" {
		os.Exit(serveBaselineProcess())
	}
	os.Exit(m.Run())
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tinyConfig is short mode cut further down: the tests run under the race
// detector, where everything (argon2id above all) is several times slower.
func tinyConfig() Config {
	return Config{
		Duration:    400 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		Concurrency: []int{1, 4},
		Users:       []int{1200},
		Sessions:    400,
		Active:      200,
	}
}

// checkReport asserts that every scenario ran at every concurrency with
// no error and sensible figures.
func checkReport(t *testing.T, rep *Report, cfg Config, mayRunDry bool) {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	rows := []string{scBaseline, scProfile, scKeepalive, scVerify, scSecondFactor, rowAdminSet, rowAdminRemove, scPassword}
	for _, users := range cfg.Users {
		for _, c := range cfg.Concurrency {
			for _, name := range rows {
				r := find(rep, name, users, c)
				if r == nil {
					t.Errorf("%s at %d users, concurrency %d: no result", name, users, c)
					continue
				}
				if r.Errors != 0 {
					t.Errorf("%s c=%d: %d errors: %v", name, c, r.Errors, r.ErrorSamples)
				}
				if r.Requests == 0 && !(mayRunDry && name == scSecondFactor) {
					t.Errorf("%s c=%d: no request completed (%s)", name, c, r.Note)
					continue
				}
				if r.Requests == 0 {
					continue
				}
				if r.RPS <= 0 || r.Seconds <= 0 {
					t.Errorf("%s c=%d: rate %.1f over %.2fs", name, c, r.RPS, r.Seconds)
				}
				if !(0 < r.P50 && r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) {
					t.Errorf("%s c=%d: percentiles out of order: p50 %.3f p95 %.3f p99 %.3f max %.3f", name, c, r.P50, r.P95, r.P99, r.Max)
				}
				if r.Ratio <= 0 || (name == scBaseline && r.Ratio != 1) {
					t.Errorf("%s c=%d: ratio to the baseline %.4f", name, c, r.Ratio)
				}
				if r.MachineCPUms < 0 || r.CPUms < 0 {
					t.Errorf("%s c=%d: negative CPU time", name, c)
				}
			}
		}
	}
	if rep.errorCount() != 0 {
		t.Errorf("%d errors in the report", rep.errorCount())
	}
	if len(rep.Scales) != len(cfg.Users) {
		t.Errorf("%d scales, want %d", len(rep.Scales), len(cfg.Users))
	}
	for _, sc := range rep.Scales {
		if sc.LiveSessions < min(cfg.Sessions, 1) {
			t.Errorf("scale %d: %d live sessions", sc.Users, sc.LiveSessions)
		}
	}
	// The table and the JSON are printed without error and carry the rows.
	var table, js bytes.Buffer
	writeTable(&table, rep)
	if !strings.Contains(table.String(), "second-factor") || !strings.Contains(table.String(), "x base") {
		t.Errorf("table lacks rows or headers:\n%s", table.String())
	}
	if err := writeJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != len(rep.Results) {
		t.Errorf("JSON report does not read back: %v", err)
	}
}

func TestShortSQLite(t *testing.T) {
	cfg := tinyConfig()
	cfg.Users = []int{1200, 1600} // two scales: the second adds users to the same database
	cfg.Concurrency = []int{1, 4}
	dir := t.TempDir()
	cfg.CPUProfile, cfg.BlockProfile = filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "block.prof")
	rep, err := Run(context.Background(), cfg, &testLog{t: t})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cfg.CPUProfile, cfg.BlockProfile} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s not written: %v", f, err)
		}
	}
	if !strings.Contains(rep.Profile, "second-factor at concurrency 4") {
		t.Errorf("profile note %q", rep.Profile)
	}
	checkReport(t, rep, cfg, false)
	if rep.Store != "sqlite" || rep.Mode != "in-process" {
		t.Errorf("store %q mode %q", rep.Store, rep.Mode)
	}
	for _, sc := range rep.Scales {
		if sc.RSSMB <= 0 || sc.DBMB <= 0 {
			t.Errorf("scale %d: RSS %.1f MB, database %.1f MB", sc.Users, sc.RSSMB, sc.DBMB)
		}
	}
	if rep.Scales[1].Users != 1600 {
		t.Errorf("second scale has %d users", rep.Scales[1].Users)
	}
	var flat bool
	for _, tg := range rep.Targets {
		if strings.HasPrefix(tg.Name, "per-request cost flat") {
			flat = true
		}
	}
	if !flat {
		t.Error("no flatness check between the two scales")
	}
}

func TestShortPostgres(t *testing.T) {
	cfg := tinyConfig()
	cfg.DB = pgtest.NewDatabase(t)
	rep, err := Run(context.Background(), cfg, &testLog{t: t})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, cfg, false)
	if rep.Store != "postgres" {
		t.Errorf("store %q", rep.Store)
	}
}

// TestSpawn runs the real mfad binary on the seeded database.
func TestSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mfad binary")
	}
	cfg := tinyConfig()
	cfg.Spawn = true
	cfg.BaselineProcess = true // the bare handler in a process of its own too
	cfg.Concurrency = []int{2}
	cfg.Scenarios = []string{scProfile, scSecondFactor, scAdmin, scPassword}
	rep, err := Run(context.Background(), cfg, &testLog{t: t})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "spawn" {
		t.Errorf("mode %q", rep.Mode)
	}
	if b := find(rep, scBaseline, 1200, 2); b == nil || b.Requests == 0 || b.Errors != 0 {
		t.Errorf("the baseline process answered %+v", b)
	}
	if !strings.Contains(strings.Join(rep.Settings, "\n"), "process of its own") {
		t.Errorf("settings do not say where the baseline ran: %q", rep.Settings)
	}
	for _, r := range rep.Results {
		if r.Errors != 0 || r.Requests == 0 {
			t.Errorf("%s: %d requests, %d errors %v", r.Scenario, r.Requests, r.Errors, r.ErrorSamples)
		}
	}
	if find(rep, scKeepalive, 1200, 2) != nil {
		t.Error("--scenarios did not leave keepalive out")
	}
	if sc := rep.Scales[0]; sc.RSSMB <= 0 || sc.PeakRSSMB < sc.PeakNoPwMB {
		t.Errorf("mfad process RSS %.1f MB, peak %.1f MB, without password %.1f MB", sc.RSSMB, sc.PeakRSSMB, sc.PeakNoPwMB)
	}
}

// TestURL seeds a running server through its API and drives it.
func TestURL(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mfad.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// The server under test is this test's own: cheap hashes keep seeding
	// through the API fast under the race detector.
	cheap := passhash.New(passhash.Params{Memory: 64, Time: 1, Threads: 1}, 2, 64, 10*time.Second)
	srv, err := startInProcess(store, seal.NewBox(seal.NewKey()), cheap, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, _, err := srv.svc.CreateAccount(ctx, "A", auth.NewUser{Name: "Admin", Email: "admin@example.com", Password: "admin-password"}); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.URL, cfg.AdminEmail, cfg.AdminPassword = srv.url, "admin@example.com", "admin-password"
	cfg.Users = []int{120}
	rep, err := Run(ctx, cfg, &testLog{t: t})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, cfg, true)
	if r := find(rep, rowAdminSet, 120, 1); r == nil || r.Requests == 0 {
		t.Error("no admin call")
	}
}

func TestFlags(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"--bogus"},
		{"--concurrency", "0"},
		{"--users", "abc"},
		{"--url", "http://127.0.0.1:1"},                 // no admin credentials
		{"--url", "http://127.0.0.1:1", "--spawn"},      // with --spawn
		{"--scenarios", "nope"},                         // unknown scenario
		{"--spawn", "--cpuprofile", "x.prof"},           // profile needs in-process
		{"--duration", "-1s"},                           // negative
		{"extra"},                                       // positional
		{"--url", "http://x", "--users", "10000,20000"}, // several scales through the API
	} {
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %s)", args, code, errb.String())
		}
	}
	if l, err := intList("1,16, 64"); err != nil || !slices.Equal(l, []int{1, 16, 64}) {
		t.Errorf("intList: %v %v", l, err)
	}
	if l, err := intList("10k,1M,100_000"); err != nil || !slices.Equal(l, []int{10000, 1000000, 100000}) {
		t.Errorf("intList: %v %v", l, err)
	}
}

func TestPopulation(t *testing.T) {
	p := newPopulation(bytes.Repeat([]byte{7}, 32), seal.NewBox(seal.NewKey()), "", "")
	p.setBulk(10000)
	if p.bulk != 1000 {
		t.Fatalf("bulk %d", p.bulk)
	}
	n := 10000
	counts := map[kind]int{}
	for i := 0; i < n; i++ {
		counts[p.kind(i)]++
	}
	for _, k := range []kind{kindBulk, kindTOTP, kindTOTPPIN, kindPassword} {
		if got := p.countOfKind(k, n); got != counts[k] {
			t.Errorf("kind %d: countOfKind %d, counted %d", k, got, counts[k])
		}
		for j := 0; j < counts[k]; j++ {
			i := p.nthOfKind(k, j, n)
			if i < 0 || p.kind(i) != k {
				t.Fatalf("kind %d: nthOfKind(%d) = %d of kind %d", k, j, i, p.kind(i))
			}
		}
		if p.nthOfKind(k, counts[k], n) != -1 {
			t.Errorf("kind %d: an index past the last", k)
		}
	}
	q := newPopulation(bytes.Repeat([]byte{7}, 32), nil, "", "")
	if p.userID(5) != q.userID(5) || p.secret(5) != q.secret(5) || p.userID(5) == p.userID(6) || p.email(5) == p.email(6) || p.secret(5) == p.secret(6) {
		t.Error("derivation is not a function of the index")
	}
	if _, err := totp.CodeAt(p.secret(3), 1); err != nil {
		t.Errorf("secret does not decode: %v", err)
	}
	if auth.HashToken(p.fullToken(1)) == nil {
		t.Error("no token")
	}
}

func TestPool(t *testing.T) {
	p := &totpPool{perUser: 3}
	u := &poolUser{id: "a", secret: "JBSWY3DPEHPK3PXP"}
	p.users = []*poolUser{u}
	p.make = func(ctx context.Context, users []*poolUser) ([]string, error) {
		out := make([]string, len(users))
		for i := range users {
			out[i] = "tok" + string(rune('0'+i))
		}
		return out, nil
	}
	if n, err := p.refill(context.Background()); err != nil || n != 3 {
		t.Fatalf("refill: %d %v", n, err)
	}
	now := time.Unix(30*1000+10, 0) // 10 s into step 1000
	var steps []int64
	for {
		got, _, step, err := p.take(now)
		if err == errDry {
			break
		}
		if err != nil || got != u {
			t.Fatal(err)
		}
		if _, _, _, err := p.take(now); err != errDry {
			t.Error("a busy user was handed out twice")
		}
		p.release(u, step)
		steps = append(steps, step)
	}
	if !slices.Equal(steps, []int64{999, 1000, 1001}) {
		t.Errorf("steps %v, want the previous, current and next", steps)
	}
	if !p.dry[999] || !p.dry[1000] || !p.dry[1001] {
		t.Errorf("steps recorded as dry: %v, want 999, 1000 and 1001", p.dry)
	}
	// Near the end of a step the previous step's code would expire in
	// flight: it is not used.
	u.last, u.tokens = 0, []limitedToken{{token: "x", made: time.Now()}}
	clear(p.dry) // as refill and rewind do
	if _, _, step, _ := p.take(time.Unix(30*1000+27, 0)); step != 1000 {
		t.Errorf("near the end of a step: step %d, want 1000", step)
	}
}

func TestMachineInfo(t *testing.T) {
	m := machineInfo(t.TempDir())
	if m.Cores <= 0 || m.GoVersion == "" {
		t.Errorf("machine %+v", m)
	}
	if rss, _ := procMem(os.Getpid()); rss <= 0 {
		t.Error("no RSS")
	}
	if procCPU(os.Getpid()) <= 0 || machineCPU() <= 0 {
		t.Error("no CPU time")
	}
}
