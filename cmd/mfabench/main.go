// Command mfabench is the benchmark harness of mfad: how many logins per
// second, at what latency, with how much memory.
//
// It starts mfad in its own process (the real handler, service and store on
// a loopback listener; default), or the real mfad binary as a separate
// process (--spawn), or targets a running server (--url). It seeds users
// with known passwords, TOTP secrets and PINs (directly in the database, in
// batches; through the API with --url), then drives each scenario over
// loopback HTTP at each concurrency for a bounded time:
//
//	baseline       a bare net/http handler answering {"ok":true}, the yardstick
//	profile        GET /profile with a full session
//	keepalive      GET /session/keepalive with a full session
//	verify         GET /auth/verify with a full session's cookie (forward auth)
//	second-factor  POST /session/login with a valid TOTP code (fresh user or step each time)
//	admin-bulk     POST /user/set-mfa then /user/remove-mfa (2FA) on 1,000 ids
//	password       GET /session/login with Basic credentials (argon2id)
//
// For each it reports requests/s, the ratio to the baseline, p50/p95/p99
// latency, errors, CPU per request and the server's RSS, as a table or as
// JSON (--json). --users takes several counts (a scale run). Exit status: 0
// when every request succeeded, 1 when some failed or the run did not
// finish, 2 for a bad command line.
//
//	go run ./cmd/mfabench --short                    # CI: a few seconds per scenario
//	go run ./cmd/mfabench --users 10000,100000,1000000 --sessions 100000 --duration 8s
//	go run ./cmd/mfabench --db 'postgres://postgres@127.0.0.1:5432/bench?sslmode=disable'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(BaselineEnv) == "1" {
		os.Exit(serveBaselineProcess())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1000000, strings.TrimSuffix(f, "M")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// run parses args, runs the harness and prints the report; it returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mfabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mfabench [flags]\n\nThe benchmark harness of mfad (see BENCHMARKS.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	db := fs.String("db", "", "SQLite database file (default: a new file in a temp dir), or a postgres:// URL of a database to seed (use a fresh one)")
	url := fs.String("url", "", "target a running server at this base URL (http://host:port); seeds through the API with --admin-email/--admin-password")
	spawn := fs.Bool("spawn", false, "run the real mfad binary (go build ./cmd/mfad) as a separate process on the seeded database")
	mfadBin := fs.String("mfad", "", "with --spawn: this mfad binary instead of building one")
	duration := fs.Duration("duration", 10*time.Second, "measured time per scenario and concurrency")
	warmup := fs.Duration("warmup", 0, "unmeasured time before each window (default: a tenth of --duration, at most 1s)")
	concurrency := fs.String("concurrency", "1,16,64", "comma-separated numbers of concurrent clients")
	users := fs.String("users", "10000", "comma-separated user counts, one scale each (e.g. 10000,100000,1000000)")
	sessions := fs.Int("sessions", 10000, "full sessions seeded at the first scale (live sessions)")
	active := fs.Int("active-sessions", 1000, "of those, how many the authenticated scenarios rotate through")
	poolCap := fs.Int("pool", 12000, "TOTP users the second-factor scenario draws from, at most")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run (the baseline always runs)")
	baselineProcess := fs.Bool("baseline-process", false, "run the bare handler (the baseline) in a process of its own, as the server is with --spawn (default: in the harness's process)")
	short := fs.Bool("short", false, "CI mode: 2s per scenario, 2000 users, 2000 sessions, concurrency 1,16 (explicit flags win)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of a table")
	jsonFile := fs.String("json-out", "", "also write the JSON report to this file")
	markdown := fs.Bool("markdown", false, "print the report as Markdown tables (as in BENCHMARKS.md) instead of a table")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile (in-process mode) of one window to this file")
	blockprofile := fs.String("blockprofile", "", "write a profile of where goroutines waited (in-process mode) during that window to this file")
	profScenario := fs.String("profile-scenario", scSecondFactor, "the scenario --cpuprofile and --blockprofile cover")
	profConc := fs.Int("profile-concurrency", 0, "the concurrency they cover (default: the highest)")
	profUsers := fs.Int("profile-users", 0, "the scale they cover (default: the first)")
	from := fs.String("from", "", "print the report saved by --json-out in this file again (targets re-evaluated) instead of running")
	adminEmail := fs.String("admin-email", "", "with --url: an admin of the server (without a second factor)")
	adminPassword := fs.String("admin-password", "", "with --url: that admin's password")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mfabench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *from != "" {
		return reprint(*from, format(*jsonOut, *markdown), stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short {
		if !set["duration"] {
			*duration = 2 * time.Second
		}
		if !set["users"] {
			*users = "2000"
		}
		if !set["sessions"] {
			*sessions = 2000
		}
		if !set["concurrency"] {
			*concurrency = "1,16"
		}
	}
	cfg := Config{BaselineProcess: *baselineProcess, DB: *db, URL: *url, Spawn: *spawn, MfadBin: *mfadBin, Duration: *duration, Warmup: *warmup, Sessions: *sessions, Active: *active,
		PoolCap: *poolCap, Short: *short, CPUProfile: *cpuprofile, BlockProfile: *blockprofile, ProfileScenario: *profScenario, ProfileConcurrency: *profConc,
		ProfileUsers: *profUsers, AdminEmail: *adminEmail, AdminPassword: *adminPassword}
	var err error
	if cfg.Concurrency, err = intList(*concurrency); err != nil {
		fmt.Fprintf(stderr, "mfabench: --concurrency: %v\n", err)
		return 2
	}
	if cfg.Users, err = intList(*users); err != nil {
		fmt.Fprintf(stderr, "mfabench: --users: %v\n", err)
		return 2
	}
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Scenarios = append(cfg.Scenarios, s)
		}
	}
	if *duration <= 0 || *warmup < 0 || *sessions <= 0 || *active <= 0 || *poolCap <= 0 {
		fmt.Fprintln(stderr, "mfabench: --duration, --sessions, --active-sessions and --pool must be positive (--warmup may be 0)")
		return 2
	}
	rep, err := Run(ctx, cfg, stderr)
	if rep != nil && len(rep.Results) > 0 {
		printReport(stdout, rep, format(*jsonOut, *markdown))
		if *jsonFile != "" {
			if f, ferr := os.Create(*jsonFile); ferr == nil {
				writeJSON(f, rep)
				f.Close()
			} else {
				fmt.Fprintf(stderr, "mfabench: %v\n", ferr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "mfabench: %v\n", err)
		var ce configError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	if n := rep.errorCount(); n > 0 {
		fmt.Fprintf(stderr, "mfabench: %d requests failed\n", n)
		return 1
	}
	return 0
}

// format is the output chosen by --json and --markdown.
func format(asJSON, markdown bool) string {
	switch {
	case asJSON:
		return "json"
	case markdown:
		return "markdown"
	}
	return "table"
}

func printReport(w io.Writer, rep *Report, format string) {
	switch format {
	case "json":
		writeJSON(w, rep)
	case "markdown":
		writeMarkdown(w, rep)
	default:
		writeTable(w, rep)
	}
}

// reprint prints a saved report.
func reprint(path string, format string, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(path)
	if err == nil {
		var rep Report
		if err = json.Unmarshal(b, &rep); err == nil {
			rep.Targets = evaluateTargets(&rep)
			printReport(stdout, &rep, format)
			return 0
		}
	}
	fmt.Fprintf(stderr, "mfabench: --from: %v\n", err)
	return 1
}

// configError is a bad combination of flags.
type configError struct{ error }
