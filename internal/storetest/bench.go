package storetest

import (
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

// BenchLoginWrites measures the writes of one login with a TOTP code, as
// the server makes them: the password step's limited session, then the
// second-factor step's transaction (the limited session closed, the code's
// time step consumed, a full session opened, the address's counter cleared,
// an audit row). It runs them from 64 goroutines at once, as the benchmark
// harness's concurrency 64 does, so a store that commits queued writes
// together does; each goroutine has a user of its own, whose time step
// grows with each login. It reports the logins per second and, on Unix
// systems, the CPU time per login of the whole process (the store, and the benchmark's own
// goroutines), the less noisy figure on a shared machine; with a PostgreSQL
// store the server's CPU is not in it.
func BenchLoginWrites(b *testing.B, s mfad.Store) {
	a, _ := newAccount(b, s, false)
	var worker atomic.Int64
	parallel64(b, "login", func(pb *testing.PB) {
		ctx := b.Context()
		u, err := makeUser(ctx, s, a.ID, withTOTP(1))
		if err != nil {
			b.Error(err)
			return
		}
		key := fmt.Sprintf("addr:bench-%d", worker.Add(1))
		for step := int64(1); pb.Next(); step++ {
			lim, err := makeSession(ctx, s, u.ID, mfad.SessionLimited, mfad.StepTOTP)
			if err != nil {
				b.Error(err)
				return
			}
			next := fullNext(u.ID)
			err = s.AdvanceLogin(ctx, mfad.Advance{LimitedHash: lim.Hash, UserID: u.ID, TOTPStep: step, TOTPGen: 1,
				Next: next, Now: t0, CheckKey: "email:" + u.ID, ResetKey: key,
				Audit: []*mfad.AuditEvent{{AccountID: a.ID, ActorID: u.ID, UserID: u.ID, Event: "login", Outcome: "success", Addr: "127.0.0.1", Time: t0}}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchSessionUser measures the read every authenticated request makes: a
// session with its user and account (Store.SessionUser), from 64 goroutines
// at once, in random order over the sessions of the given number of users
// (one full session each, seeded from 64 goroutines first). It reports
// lookups per second and, on Unix systems, the CPU time per lookup of the
// whole process.
func BenchSessionUser(b *testing.B, s mfad.Store, users int) {
	a, _ := newAccount(b, s, false)
	hashes := make([][]byte, users)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(users); i = next.Add(1) - 1 {
				u, err := makeUser(b.Context(), s, a.ID, withTOTP(1))
				if err != nil {
					b.Error(err)
					return
				}
				se, err := makeSession(b.Context(), s, u.ID, mfad.SessionFull, mfad.StepNone)
				if err != nil {
					b.Error(err)
					return
				}
				hashes[i] = se.Hash
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	var worker atomic.Int64
	parallel64(b, "lookup", func(pb *testing.PB) {
		r := mrand.New(mrand.NewPCG(uint64(worker.Add(1)), 1))
		for pb.Next() {
			se, u, _, err := s.SessionUser(b.Context(), hashes[r.IntN(users)])
			if err != nil {
				b.Error(err)
				return
			}
			if se.UserID != u.ID {
				b.Errorf("session of user %s read with user %s", se.UserID, u.ID)
				return
			}
		}
	})
}

// parallel64 runs body from 64 goroutines at once, as the benchmark
// harness's concurrency 64 does, and reports the rate as "<unit>s/s" and,
// on Unix systems, the CPU time per iteration as "cpu-µs/<unit>".
func parallel64(b *testing.B, unit string, body func(*testing.PB)) {
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // RunParallel starts parallelism x GOMAXPROCS goroutines
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(body)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit+"s/s")
	if cpu1 := cpuTime(); cpu1 > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/"+unit)
	}
}
