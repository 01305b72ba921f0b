package httpapi_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/passhash"
)

// A flood of password logins beyond the hashing pool's queue is refused with
// 503 and Retry-After instead of piling up argon2id work.
func TestHashingPoolOverflow(t *testing.T) {
	e := newEnvWithHasher(t, passhash.New(passhash.Default, 1, 2, 30*time.Second), func(c *mfadConfig) {
		c.AddrThrottle.Limit = 10000
		c.EmailThrottle.Limit = 10000
	})
	const n = 40
	var mu sync.Mutex
	got := map[int]int{}
	var retryAfter string
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.passwordLogin(fmt.Sprintf("flood-%d@example.com", i), "password")
			mu.Lock()
			defer mu.Unlock()
			got[r.Status]++
			if r.Status == 503 {
				retryAfter = r.Header.Get("Retry-After")
				e.wantError(r, 503, mfad.CodeBusy)
			}
		}()
	}
	wg.Wait()
	if got[503] == 0 || got[401]+got[503] != n || retryAfter == "" {
		t.Fatalf("statuses %v, Retry-After %q: want some 503 with Retry-After, the rest 401", got, retryAfter)
	}
	// Refused logins were not evaluated, so they do not count as failures.
	e.fullLogin(adminAEmail, adminAPassword)
}

// With the database gone, requests fail cleanly with 503 and the health
// check says so.
func TestDatabaseGone(t *testing.T) {
	e := newEnv(t)
	e.wantStatus(e.get("/healthz", ""), 200)
	e.store.Close()
	e.wantError(e.get("/healthz", ""), 503, mfad.CodeUnavailable)
	e.wantError(e.get("/profile", e.adminAToken), 503, mfad.CodeUnavailable)
	e.wantError(e.passwordLogin(adminAEmail, adminAPassword), 503, mfad.CodeUnavailable)
}
