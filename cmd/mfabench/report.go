package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Target is one of the targets, checked against a run.
type Target struct {
	Name        string `json:"name"`
	Users       int    `json:"users,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	Value       string `json:"value"`
	Want        string `json:"want"`
	Status      string `json:"status"` // met, missed, or report (no threshold)
}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// find returns the row of scenario at users and concurrency, or nil.
func find(rep *Report, scenario string, users, conc int) *Result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Scenario == scenario && r.Users == users && r.Concurrency == conc {
			return r
		}
	}
	return nil
}

// evaluateTargets checks the targets at the run's highest
// concurrency (the targets are stated for 64).
func evaluateTargets(rep *Report) []Target {
	if len(rep.Results) == 0 {
		return nil
	}
	var concs, users []int
	for _, r := range rep.Results {
		if !slices.Contains(concs, r.Concurrency) {
			concs = append(concs, r.Concurrency)
		}
		if !slices.Contains(users, r.Users) {
			users = append(users, r.Users)
		}
	}
	slices.Sort(users)
	c := slices.Max(concs)
	var ts []Target
	add := func(t Target) { ts = append(ts, t) }
	for _, u := range users {
		if r := find(rep, scSecondFactor, u, c); r != nil {
			add(Target{Name: "second-factor step: req/s vs the bare handler", Users: u, Concurrency: c,
				Value: fmt.Sprintf("%.1f%% (%.0f req/s)", 100*r.Ratio, r.RPS), Want: ">= 20%", Status: status(r.Ratio >= 0.20 && r.Errors == 0)})
			add(Target{Name: "second-factor step: p99 latency", Users: u, Concurrency: c,
				Value: fmt.Sprintf("%.1f ms", r.P99), Want: "< 25 ms", Status: status(r.P99 < 25 && r.Errors == 0)})
		}
		for _, sc := range []string{scProfile, scKeepalive, scVerify} {
			if r := find(rep, sc, u, c); r != nil {
				add(Target{Name: "authenticated request (" + sc + "): req/s vs the bare handler", Users: u, Concurrency: c,
					Value: fmt.Sprintf("%.1f%% (%.0f req/s)", 100*r.Ratio, r.RPS), Want: ">= 50%", Status: status(r.Ratio >= 0.50 && r.Errors == 0)})
			}
		}
		// Forward auth's check, against the bare handler (meant with the
		// real binary and --baseline-process; see BENCHMARKS.md).
		for _, cc := range []int{16, 64} {
			if r := find(rep, scVerify, u, cc); r != nil {
				add(Target{Name: "forward auth check (verify): req/s vs the bare handler", Users: u, Concurrency: cc,
					Value: fmt.Sprintf("%.1f%% (%.0f req/s)", 100*r.Ratio, r.RPS), Want: ">= 75%", Status: status(r.Ratio >= 0.75 && r.Errors == 0)})
			}
		}
		if r := find(rep, scVerify, u, 64); r != nil && r.Store == "postgres" {
			add(Target{Name: "session check on PostgreSQL (verify): req/s vs the bare handler", Users: u, Concurrency: 64,
				Value: fmt.Sprintf("%.1f%% (%.0f req/s)", 100*r.Ratio, r.RPS), Want: ">= 35%", Status: status(r.Ratio >= 0.35 && r.Errors == 0)})
		}
		if r := find(rep, scVerify, u, 64); r != nil {
			add(Target{Name: "forward auth check (verify): p99 latency", Users: u, Concurrency: 64,
				Value: fmt.Sprintf("%.1f ms", r.P99), Want: "< 10 ms", Status: status(r.P99 < 10 && r.Errors == 0)})
			if b := find(rep, scBaseline, u, 64); b != nil && b.CPUms > 0 && r.CPUms > 0 {
				add(Target{Name: "forward auth check (verify): CPU per request vs the bare handler's", Users: u, Concurrency: 64,
					Value: fmt.Sprintf("%.2fx (%.3f vs %.3f ms)", r.CPUms/b.CPUms, r.CPUms, b.CPUms), Want: "<= 1.5x", Status: status(r.CPUms <= 1.5*b.CPUms)})
			}
		}
		if r := find(rep, scPassword, u, c); r != nil {
			v := fmt.Sprintf("%.1f logins/s, p50 %.0f ms", r.RPS, r.P50)
			if r.CPUms > 0 {
				v += fmt.Sprintf(", %.3f CPU s/login (process)", r.CPUms/1000)
			}
			v += fmt.Sprintf(", %.3f CPU s/login (machine)", r.MachineCPUms/1000)
			add(Target{Name: "password step (argon2id-bound)", Users: u, Concurrency: c, Value: v, Want: "report", Status: "report"})
		}
		for _, row := range []string{rowAdminSet, rowAdminRemove} {
			for _, cc := range []int{1, c} {
				if r := find(rep, row, u, cc); r != nil {
					add(Target{Name: "admin bulk call on 1,000 ids (" + row + "): p99", Users: u, Concurrency: cc,
						Value: fmt.Sprintf("%.1f ms (p50 %.1f)", r.P99, r.P50), Want: "< 100 ms", Status: status(r.P99 < 100 && r.Errors == 0)})
				}
				if c == 1 {
					break
				}
			}
		}
	}
	if n := len(rep.Scales); n > 0 {
		last := rep.Scales[n-1]
		if last.RSSMB > 0 {
			add(Target{Name: fmt.Sprintf("RSS with %d users and %d live sessions (%s), peak outside the password step", last.Users, last.LiveSessions, rep.Mode), Users: last.Users,
				Value: fmt.Sprintf("%.1f MB peak, %.1f MB before the password step", last.PeakNoPwMB, last.RSSMB), Want: "< 100 MB", Status: status(last.PeakNoPwMB < 100)})
			add(Target{Name: fmt.Sprintf("RSS with %d users and %d live sessions (%s), peak of every window", last.Users, last.LiveSessions, rep.Mode), Users: last.Users,
				Value: fmt.Sprintf("%.1f MB peak, %.1f MB at the end", last.PeakRSSMB, last.RSSEndMB), Want: "< 100 MB", Status: status(last.PeakRSSMB < 100)})
		}
	}
	if len(users) >= 2 {
		lo, hi := users[0], users[len(users)-1]
		for _, sc := range []string{scSecondFactor, scProfile, scKeepalive, scVerify, scPassword, rowAdminSet, rowAdminRemove} {
			// Per concurrency, the cost at the largest scale over the cost at
			// the smallest: the server's CPU per request (with PostgreSQL,
			// its processes' too) when known, else the machine's. The median
			// over the concurrencies is checked, as one window can be skewed
			// by other work on the machine.
			var costs, rates []float64
			var parts []string
			which := "process"
			for _, c := range concs {
				a, b := find(rep, sc, lo, c), find(rep, sc, hi, c)
				if a == nil || b == nil || a.RPS == 0 || b.RPS == 0 {
					continue
				}
				ca, cb := a.CPUms+a.DBCPUms, b.CPUms+b.DBCPUms
				if a.DBCPUms > 0 {
					which = "mfad+PostgreSQL"
				}
				if a.CPUms <= 0 || b.CPUms <= 0 {
					ca, cb, which = a.MachineCPUms, b.MachineCPUms, "machine"
				}
				costs = append(costs, cb/ca)
				rates = append(rates, b.RPS/a.RPS)
				parts = append(parts, fmt.Sprintf("c=%d x%.2f (%.3f -> %.3f ms)", c, cb/ca, ca, cb))
			}
			if len(costs) == 0 {
				continue
			}
			cost, rate := median(costs), median(rates)
			add(Target{Name: fmt.Sprintf("per-request cost flat from %d to %d users (%s)", lo, hi, sc),
				Value: fmt.Sprintf("%s CPU/req: %s; median x%.2f, req/s median x%.2f", which, strings.Join(parts, ", "), cost, rate),
				Want:  "median grows by 20% at most", Status: status(cost <= 1.2 && rate >= 1/1.2)})
		}
	}
	return ts
}

// writeTable prints the report for people.
func writeTable(w io.Writer, rep *Report) {
	m := rep.Machine
	fmt.Fprintf(w, "mfabench: %s, %s mode; %d cores (%s), %s, %s\n", rep.Store, rep.Mode, m.Cores, m.CPU, m.GoVersion, m.OS)
	if m.Disk != "" {
		fmt.Fprintf(w, "disk: %s; 4 KiB write+fdatasync p50 %.2f ms, p99 %.2f ms\n", m.Disk, m.FsyncMS, m.Fsync99MS)
	}
	fmt.Fprintf(w, "client: %s\n", m.Client)
	if rep.Source != "" {
		fmt.Fprintf(w, "code: %s\n", rep.Source)
	}
	fmt.Fprintf(w, "load average at the start %s, at the end %s (other work on the machine skews the figures)\n", m.LoadStart, m.LoadEnd)
	for _, s := range rep.Settings {
		fmt.Fprintf(w, "- %s\n", s)
	}
	fmt.Fprintln(w)
	for _, sc := range rep.Scales {
		fmt.Fprintf(w, "== %d users, %d live sessions", sc.Users, sc.LiveSessions)
		if sc.DBMB > 0 {
			fmt.Fprintf(w, ", database %.0f MB", sc.DBMB)
		}
		fmt.Fprintf(w, ", seeded in %.1fs", sc.SeedSeconds)
		if sc.RSSMB > 0 {
			fmt.Fprintf(w, "; server RSS %.1f MB before the password step (peak %.1f MB), %.1f MB at the end (peak %.1f MB)", sc.RSSMB, sc.PeakNoPwMB, sc.RSSEndMB, sc.PeakRSSMB)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\tstore\tusers\tconc\trequests\treq/s\tx base\tp50 ms\tp95 ms\tp99 ms\terrors\tcpu ms/req\tdb cpu ms/req\tmachine cpu ms/req\tother cores\trss MB\tpeak MB\t")
		for _, r := range rep.Results {
			if r.Users != sc.Users {
				continue
			}
			cpu, db, rss, peak := "-", "-", "-", "-"
			if r.CPUms > 0 {
				cpu = fmt.Sprintf("%.3f", r.CPUms)
			}
			if r.DBCPUms > 0 {
				db = fmt.Sprintf("%.3f", r.DBCPUms)
			}
			if r.RSSMB > 0 {
				rss, peak = fmt.Sprintf("%.1f", r.RSSMB), fmt.Sprintf("%.1f", r.PeakMB)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.3f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%.3f\t%.2f\t%s\t%s\t\n", r.Scenario, r.Store, r.Users, r.Concurrency, r.Requests,
				r.RPS, r.Ratio, r.P50, r.P95, r.P99, r.Errors, cpu, db, r.MachineCPUms, r.OtherCores, rss, peak)
		}
		tw.Flush()
		for _, r := range notes(rep, sc.Users) {
			fmt.Fprintf(w, "  note: %s c=%d: %s %s\n", r.Scenario, r.Concurrency, r.Note, strings.Join(r.ErrorSamples, "; "))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "targets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  status\ttarget\tusers\tconc\tvalue\twant")
		for _, t := range rep.Targets {
			u, c := "", ""
			if t.Users > 0 {
				u = fmt.Sprint(t.Users)
			}
			if t.Concurrency > 0 {
				c = fmt.Sprint(t.Concurrency)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", t.Status, t.Name, u, c, t.Value, t.Want)
		}
		tw.Flush()
	}
	if rep.Profile != "" {
		fmt.Fprintf(w, "\nCPU profile: %s (go tool pprof -top %s)\n", rep.Profile, strings.SplitN(rep.Profile, ":", 2)[0])
	}
	fmt.Fprintf(w, "\nrun took %.0fs\n", rep.Elapsed)
}

// notes are the results of a scale that carry a note worth printing (the
// CPU-per-request ones are in the table) or samples of failed requests.
func notes(rep *Report, users int) []Result {
	var out []Result
	for _, r := range rep.Results {
		if r.Users == users && (r.Note != "" && !strings.HasPrefix(r.Note, "CPU per request") || len(r.ErrorSamples) > 0) {
			out = append(out, r)
		}
	}
	return out
}

// writeMarkdown prints one Markdown table per scale (as in BENCHMARKS.md),
// then the targets.
func writeMarkdown(w io.Writer, rep *Report) {
	pg := false
	for _, r := range rep.Results {
		pg = pg || r.DBCPUms > 0
	}
	num := func(v float64, prec int) string {
		t := strconv.FormatFloat(v, 'f', prec, 64)
		whole, frac, _ := strings.Cut(t, ".")
		neg := strings.HasPrefix(whole, "-")
		whole = strings.TrimPrefix(whole, "-")
		for i := len(whole) - 3; i > 0; i -= 3 {
			whole = whole[:i] + "," + whole[i:]
		}
		if neg {
			whole = "-" + whole
		}
		if frac != "" {
			return whole + "." + frac
		}
		return whole
	}
	for _, sc := range rep.Scales {
		fmt.Fprintf(w, "**%s users**, %s live sessions", num(float64(sc.Users), 0), num(float64(sc.LiveSessions), 0))
		if sc.DBMB > 0 {
			fmt.Fprintf(w, ", database %.0f MB", sc.DBMB)
		}
		fmt.Fprintf(w, ", seeded in %.1f s", sc.SeedSeconds)
		if sc.RSSMB > 0 {
			fmt.Fprintf(w, "; mfad RSS %.1f MB before the password step (peak %.1f MB), %.1f MB after it (peak %.1f MB)", sc.RSSMB, sc.PeakNoPwMB, sc.RSSEndMB, sc.PeakRSSMB)
		}
		fmt.Fprint(w, "\n\n| scenario | conc | requests | req/s | × baseline | p50 ms | p95 ms | p99 ms | errors | CPU ms/req |")
		if pg {
			fmt.Fprint(w, " PostgreSQL CPU ms/req |")
		}
		fmt.Fprint(w, " other cores | RSS MB (peak) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		if pg {
			fmt.Fprint(w, "--:|")
		}
		fmt.Fprint(w, "--:|--:|\n")
		for _, r := range rep.Results {
			if r.Users != sc.Users {
				continue
			}
			cpu := fmt.Sprintf("(%.3f)", r.MachineCPUms)
			if r.CPUms > 0 {
				cpu = fmt.Sprintf("%.3f", r.CPUms)
			}
			ratio := fmt.Sprintf("%.3f", r.Ratio)
			if r.Scenario == scBaseline {
				ratio = "1"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %.2f | %.2f | %.2f | %d | %s |", r.Scenario, r.Concurrency, num(float64(r.Requests), 0), num(r.RPS, 1),
				ratio, r.P50, r.P95, r.P99, r.Errors, cpu)
			if pg {
				db := "–"
				if r.DBCPUms > 0 {
					db = fmt.Sprintf("%.3f", r.DBCPUms)
				}
				fmt.Fprintf(w, " %s |", db)
			}
			rss := "–"
			if r.RSSMB > 0 {
				rss = fmt.Sprintf("%.0f (%.0f)", r.RSSMB, r.PeakMB)
			}
			fmt.Fprintf(w, " %.2f | %s |\n", r.OtherCores, rss)
		}
		for _, r := range notes(rep, sc.Users) {
			fmt.Fprintf(w, "\n%s at concurrency %d: %s %s\n", r.Scenario, r.Concurrency, r.Note, strings.Join(r.ErrorSamples, "; "))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprint(w, "| status | target | users | conc | value | want |\n|---|---|--:|--:|---|---|\n")
		for _, t := range rep.Targets {
			u, c := "", ""
			if t.Users > 0 {
				u = num(float64(t.Users), 0)
			}
			if t.Concurrency > 0 {
				c = fmt.Sprint(t.Concurrency)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", t.Status, t.Name, u, c, t.Value, t.Want)
		}
	}
}

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// errorCount is the total of every row's errors.
func (rep *Report) errorCount() int {
	n := 0
	for _, r := range rep.Results {
		n += r.Errors
	}
	return n
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
