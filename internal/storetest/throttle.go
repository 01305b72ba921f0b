package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad"
)

func testThrottle(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}
	key := "email:a@example.com"
	for i := 1; i <= 5; i++ {
		r, err := s.Reserve(ctx, key, p, t0)
		if err != nil || r.RetryAfter != 0 || r.Locks != (i == 5) {
			t.Fatalf("reservation %d: %+v, %v; want counted, locking the key on the 5th only", i, r, err)
		}
	}
	r, err := s.Reserve(ctx, key, p, t0)
	if err != nil || r.RetryAfter != 15*time.Minute || r.Locks {
		t.Fatalf("6th reservation: %+v, %v; want refused for 15m, locking nothing", r, err)
	}
	retry, err := retryOf(s.Reserve(ctx, key, p, t0.Add(time.Minute)))
	if err != nil || retry != 14*time.Minute {
		t.Fatalf("a minute later: %v, %v; want 14m", retry, err)
	}
	// Other keys are not affected.
	if retry, err := retryOf(s.Reserve(ctx, "email:b@example.com", p, t0)); err != nil || retry != 0 {
		t.Errorf("other key: %v, %v", retry, err)
	}
	// Free again after the lock; the count starts over.
	later := t0.Add(15*time.Minute + time.Millisecond)
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key, p, later)); err != nil || retry != 0 {
			t.Fatalf("after lock, reservation %d: %v, %v; want 0", i, retry, err)
		}
	}

	// The window slides: failures older than Window are forgotten.
	key2 := "email:window@example.com"
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key2, p, t0)); err != nil || retry != 0 {
			t.Fatal(retry, err)
		}
	}
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key2, p, t0.Add(15*time.Minute))); err != nil || retry != 0 {
			t.Fatalf("new window, reservation %d: %v, %v", i, retry, err)
		}
	}
}

func testThrottleReleaseAndReset(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}

	key := "email:release@example.com"
	for i := range 20 {
		if retry, err := retryOf(s.Reserve(ctx, key, p, t0)); err != nil || retry != 0 {
			t.Fatalf("reserve %d: %v, %v", i, retry, err)
		}
		if err := s.Release(ctx, key, p); err != nil {
			t.Fatal(err)
		}
	}
	// Four released attempts plus 4 failures: still under the limit.
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key, p, t0)); err != nil || retry != 0 {
			t.Fatalf("reserve after releases %d: %v, %v", i, retry, err)
		}
	}
	if retry, err := retryOf(s.Reserve(ctx, key, p, t0)); err != nil || retry != 0 {
		t.Fatalf("5th failure: %v, %v", retry, err)
	}
	if retry, err := retryOf(s.Reserve(ctx, key, p, t0)); err != nil || retry <= 0 {
		t.Fatalf("6th: %v, %v; want locked", retry, err)
	}
	// Release of an unknown key is harmless.
	if err := s.Release(ctx, "email:none@example.com", p); err != nil {
		t.Fatal(err)
	}

	key2 := "email:reset@example.com"
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key2, p, t0)); err != nil || retry != 0 {
			t.Fatal(retry, err)
		}
	}
	if err := s.ResetThrottle(ctx, key2); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if retry, err := retryOf(s.Reserve(ctx, key2, p, t0)); err != nil || retry != 0 {
			t.Fatalf("after reset, reservation %d: %v, %v", i, retry, err)
		}
	}
	// Reset also lifts a lock.
	if retry, err := retryOf(s.Reserve(ctx, key2, p, t0)); err != nil || retry != 0 {
		t.Fatal(retry, err)
	}
	if retry, _ := retryOf(s.Reserve(ctx, key2, p, t0)); retry <= 0 {
		t.Fatal("not locked after 5 failures")
	}
	if err := s.ResetThrottle(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if retry, err := retryOf(s.Reserve(ctx, key2, p, t0)); err != nil || retry != 0 {
		t.Fatalf("after reset of a lock: %v, %v", retry, err)
	}
}

func testThrottleConcurrent(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	p := mfad.Throttle{Limit: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}
	const n = 300
	retries := make([]time.Duration, n)
	errs := atOnce(n, func(i int) (err error) {
		retries[i], err = retryOf(s.Reserve(ctx, "email:flood@example.com", p, t0))
		return err
	})
	free := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if retries[i] == 0 {
			free++
		} else if retries[i] != 15*time.Minute {
			t.Errorf("goroutine %d: retry %v, want 15m", i, retries[i])
		}
	}
	if free != 5 {
		t.Errorf("%d reservations passed, want exactly 5", free)
	}
}

// Reservations racing with resets (a success elsewhere deleting the row)
// never fail.
func testThrottleReserveRacesReset(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	p := mfad.Throttle{Limit: 1000, Window: time.Hour, Lock: time.Hour}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := 0; i < 200; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := retryOf(s.Reserve(ctx, "email:race@example.com", p, now)); err != nil {
				errs <- fmt.Errorf("reserve: %w", err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := s.ResetThrottle(ctx, "email:race@example.com"); err != nil {
				errs <- fmt.Errorf("reset: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// retryOf is the RetryAfter of a reservation, for the tests that ask only
// whether the key was locked.
func retryOf(r mfad.Reservation, err error) (time.Duration, error) { return r.RetryAfter, err }

// ResetThrottles clears the listed keys only.
func testResetThrottles(t *testing.T, s mfad.Store) {
	ctx := t.Context()
	p := mfad.Throttle{Limit: 1, Window: time.Hour, Lock: time.Hour}
	for _, k := range []string{"email:a", "email:b", "email:c"} {
		if _, err := s.Reserve(ctx, k, p, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ResetThrottles(ctx, []string{"email:a", "email:b", "email:none"}); err != nil {
		t.Fatal(err)
	}
	for k, locked := range map[string]bool{"email:a": false, "email:b": false, "email:c": true} {
		if retry, err := retryOf(s.Reserve(ctx, k, p, t0)); err != nil || (retry > 0) != locked {
			t.Errorf("%s after the reset: retry %v, %v; want locked %v", k, retry, err, locked)
		}
	}
	if err := s.ResetThrottles(ctx, nil); err != nil {
		t.Errorf("no keys: %v", err)
	}
}
