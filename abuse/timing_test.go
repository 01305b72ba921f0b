package abuse_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/internal/pgtest"
	"github.com/mfad/mfad/internal/smtptest"
	"github.com/mfad/mfad/internal/testserver"
	"github.com/mfad/mfad/mailer"
)

// lockEmails makes the email of a user (known) and one of nobody locked
// out, with the default limit of 5 failed attempts each.
func lockEmails(t testing.TB, c *client, known, nobody string) {
	t.Helper()
	for _, email := range []string{known, nobody} {
		for i := range 5 {
			if r := c.login(email, fmt.Sprintf("wrong-%d", i)); r.Status != 401 {
				t.Fatalf("wrong password %d for %s: %s", i, email, r)
			}
		}
		if r := c.login(email, "wrong-5"); r.Status != 429 {
			t.Fatalf("%s after 5 wrong passwords: %s, want 429", email, r)
		}
	}
}

// A locked email's answer does the same work for an email of a user and
// one of nobody: the same status, body and headers, and no write to the
// user's trail (it holds when the lock began, login.lockout, once); the
// refusals are logged and counted for both alike. Timing:
// BenchmarkLockedEmailTiming.
func TestLockedEmailAnswersAlike(t *testing.T) {
	forEachStoreWith(t, options(false), func(t *testing.T, srv *testserver.Server) {
		f := newFixture(t, srv)
		known, nobody := f.plain.Email, "nobody-locked@a.example"
		lockEmails(t, f.c, known, nobody)
		trail := func() map[string]int {
			t.Helper()
			r := f.c.get("/tracking/activity?limit=500", f.adminA.Token)
			want(t, r, 200)
			var page struct {
				Activity []struct {
					Event  string `json:"event"`
					UserID string `json:"user_id"`
				} `json:"activity"`
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, a := range page.Activity {
				if a.UserID == f.plain.ID {
					n[a.Event]++
				}
			}
			return n
		}
		before := trail()
		if before["login.lockout"] != 1 || before["login.password.fail"] != 5 || before["login.locked"] != 0 {
			t.Fatalf("the user's trail after the lock: %v; want 5 failures, 1 lockout, no refusal", before)
		}
		locked := strings.Count(srv.Logs.String(), "event=login.locked")
		for i := range 5 {
			a := f.c.login(known, f.plain.Password) // the right password, too
			b := f.c.login(nobody, fmt.Sprintf("guess-%d", i))
			wantErr(t, a, 429, mfad.CodeTooManyAttempts)
			sameAnswer(t, "a locked user's email vs a locked email of nobody", a, b)
		}
		if after := trail(); !mapsEqual(after, before) {
			t.Fatalf("refusals of a locked email wrote to the user's trail: %v, before %v", after, before)
		}
		if n := strings.Count(srv.Logs.String(), "event=login.locked") - locked; n != 10 {
			t.Fatalf("%d refusals logged, want 10", n)
		}
		if strings.Contains(srv.Logs.String(), "event=login.locked outcome=failure addr=127.0.0.1 user_id=") {
			t.Fatal("a refusal of a locked email names the user in the log: it looked the user up")
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// BenchmarkLockedEmailTiming prints the distributions of the answer time
// (client side, over loopback HTTP) of a locked email of a user and of a
// locked email of nobody: b.N of each, interleaved, the order alternating,
// after a warm-up. AUC is the chance that a random answer for the user's
// email is slower than a random one for nobody's: 0.5 means the two cannot
// be told apart, 1.0 that every answer gives it away. Run:
//
//	go test -run '^$' -bench LockedEmailTiming -benchtime 4000x ./abuse
//
// (with MFAD_TEST_POSTGRES set for the PostgreSQL half). The figures are
// in SECURITY.md ("User enumeration").
func BenchmarkLockedEmailTiming(b *testing.B) {
	timeEmails(b, "locked-email", nil, func(c *client, known, nobody string) { lockEmails(b, c, known, nobody) },
		func(c *client, email string) resp { return c.login(email, "guess") }, 429)
}

// BenchmarkResetRequestTiming is BenchmarkLockedEmailTiming for
// POST /reset-password/request, mail on (a real SMTP server on loopback):
// an email of a user against one of nobody.
func BenchmarkResetRequestTiming(b *testing.B) {
	timeEmails(b, "reset-request", func(o *testserver.Options) {
		smtp := smtptest.Start(b, smtptest.Plain)
		o.Mail = &mailer.Config{URL: "smtp://" + smtptest.User + ":" + smtptest.Password + "@" + smtp.Addr, From: "mfad@mfad.example"}
	}, nil, func(c *client, email string) resp {
		return c.post("/reset-password/request", "", obj{"email": []string{email}})
	}, 200)
}

// timeEmails measures probe on the email of a user and on one of nobody,
// b.N of each (see BenchmarkLockedEmailTiming), after prepare.
func timeEmails(b *testing.B, what string, opts func(*testserver.Options), prepare func(c *client, known, nobody string),
	probe func(c *client, email string) resp, status int) {
	for _, store := range []string{"sqlite", "postgres"} {
		b.Run(store, func(b *testing.B) {
			o := options(false)()
			if store == "postgres" {
				o.DatabaseURL = pgtest.NewDatabase(b)
			}
			if opts != nil {
				opts(&o)
			}
			srv := testserver.Start(b, o)
			c := newClient(b, srv.URL)
			admin := mustFull(b, c, testserver.AdminEmail, testserver.AdminPassword)
			known, nobody := "known-"+what+"@a.example", "nobody-"+what+"@a.example"
			if r := c.post("/user/create", admin, obj{"name": "Known", "email": known, "password": "known user phrase"}); r.Status != 200 {
				b.Fatalf("create user: %s", r)
			}
			if prepare != nil {
				prepare(c, known, nobody)
			}
			for range 200 { // warm-up: connections, statement caches, the runtime
				probe(c, known)
				probe(c, nobody)
			}
			user, none := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				first, second := known, nobody
				if i%2 == 1 {
					first, second = nobody, known
				}
				r1, r2 := probe(c, first), probe(c, second)
				if r1.Status != status || r2.Status != status {
					b.Fatalf("want %d: %s, %s", status, r1, r2)
				}
				d1, d2 := r1.End.Sub(r1.Start), r2.End.Sub(r2.Start)
				if first == known {
					user, none = append(user, d1), append(none, d2)
				} else {
					user, none = append(user, d2), append(none, d1)
				}
			}
			b.StopTimer()
			auc := aucOf(user, none)
			b.ReportMetric(float64(median(user).Microseconds()), "user-p50-µs")
			b.ReportMetric(float64(median(none).Microseconds()), "nobody-p50-µs")
			b.ReportMetric(auc, "AUC")
			if b.N < 100 {
				return // the framework's first, one-iteration run: too few to tell
			}
			b.Logf("FIGURE %s timing: %s: %d answers each; a user's email %s; nobody's %s; AUC %.3f",
				what, store, b.N, quantiles(user), quantiles(none), auc)
		})
	}
}

// quantiles spells the 10th, 50th, 90th and 99th percentiles of ds.
func quantiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		return s[min(len(s)-1, int(math.Floor(p*float64(len(s)))))].Round(time.Microsecond)
	}
	return fmt.Sprintf("p10 %v, p50 %v, p90 %v, p99 %v", q(0.10), q(0.50), q(0.90), q(0.99))
}

// aucOf is the probability that a random element of a exceeds a random
// element of b (ties count half): the area under the ROC curve of the
// classifier "slower means a user".
func aucOf(a, b []time.Duration) float64 {
	type v struct {
		d     time.Duration
		fromA bool
	}
	all := make([]v, 0, len(a)+len(b))
	for _, d := range a {
		all = append(all, v{d, true})
	}
	for _, d := range b {
		all = append(all, v{d, false})
	}
	slices.SortFunc(all, func(x, y v) int { return int(x.d - y.d) })
	var rankSum float64 // of a's elements, ties given their mean rank
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].d == all[i].d {
			j++
		}
		mean := float64(i+j+1) / 2 // ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSum += mean
			}
		}
		i = j
	}
	na, nb := float64(len(a)), float64(len(b))
	return (rankSum - na*(na+1)/2) / (na * nb)
}
