package passhash_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfad/mfad/passhash"
)

// fast keeps the functional tests quick; the encoding of Default is checked
// separately.
var fast = passhash.Params{Memory: 1024, Time: 1, Threads: 1}

// slowEncoded is a syntactically valid hash whose parameters make Verify
// hold a pool slot for a noticeable time (Verify uses the parameters of the
// encoded hash, not the Hasher's).
var slowEncoded = "$argon2id$v=19$m=65536,t=4,p=1$" +
	base64.RawStdEncoding.EncodeToString(make([]byte, 16)) + "$" +
	base64.RawStdEncoding.EncodeToString(make([]byte, 32))

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := passhash.New(fast, 2, 4, 0)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	m := phc.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("hash %q is not PHC argon2id", enc)
	}
	if m[1] != "1024" || m[2] != "1" || m[3] != "1" {
		t.Errorf("params in %q, want m=1024,t=1,p=1", enc)
	}
	ok, err := h.Verify(ctx, enc, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("Verify right secret = %v, %v", ok, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		ok, err := h.Verify(ctx, enc, wrong)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false", wrong, ok, err)
		}
	}
	// Salted: the same secret hashes differently.
	enc2, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Error("two hashes of the same secret are equal")
	}
	// A hash made by a Hasher with other parameters still verifies: the
	// parameters travel in the encoding.
	h2 := passhash.New(passhash.Params{Memory: 2048, Time: 2, Threads: 2}, 1, 0, 0)
	if ok, err := h2.Verify(ctx, enc, "correct horse battery staple"); err != nil || !ok {
		t.Errorf("Verify with other Hasher = %v, %v", ok, err)
	}
}

func TestDefaultEncoding(t *testing.T) {
	ctx := context.Background()
	if passhash.Default.Memory < 19*1024 || passhash.Default.Time < 2 {
		t.Errorf("Default %+v is below 19 MiB / 2 passes", passhash.Default)
	}
	h := passhash.New(passhash.Default, 1, 1, 0)
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("encoded %q, want $argon2id$v=19$m=19456,t=2,p=1$...", enc)
	}
	m := phc.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("hash %q is not PHC argon2id", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil || len(salt) != 16 {
		t.Errorf("salt %q: %d bytes, %v", m[4], len(salt), err)
	}
	key, err := base64.RawStdEncoding.DecodeString(m[5])
	if err != nil || len(key) != 32 {
		t.Errorf("key %q: %d bytes, %v", m[5], len(key), err)
	}
	if ok, err := h.Verify(ctx, enc, "pw"); err != nil || !ok {
		t.Errorf("Verify = %v, %v", ok, err)
	}
}

func TestVerifyDummyNeverMatches(t *testing.T) {
	ctx := context.Background()
	h := passhash.New(fast, 1, 1, 0)
	for _, s := range []string{"", "mfad dummy secret", "x", "password"} {
		ok, err := h.Verify(ctx, "", s)
		if err != nil || ok {
			t.Errorf("Verify(\"\", %q) = %v, %v; want false, nil", s, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	h := passhash.New(fast, 1, 1, 0)
	good, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	p := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	bad := []string{
		"x",
		"$",
		"$$$$$",
		"$argon2id$",
		"argon2id$v=19$m=1024,t=1,p=1$" + p[4] + "$" + p[5],
		join("", "argon2i", p[2], p[3], p[4], p[5]),
		join("", "argon2d", p[2], p[3], p[4], p[5]),
		join("", "bcrypt", p[2], p[3], p[4], p[5]),
		join("", "argon2id", "v=16", p[3], p[4], p[5]),
		join("", "argon2id", "v=", p[3], p[4], p[5]),
		join("", "argon2id", "19", p[3], p[4], p[5]),
		join("", "argon2id", p[2], "", p[4], p[5]),
		join("", "argon2id", p[2], "m=abc,t=1,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=0,t=1,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=7,t=1,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=-1,t=1,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=99999999999,t=1,p=1", p[4], p[5]),
		join("", "argon2id", p[2], fmt.Sprintf("m=%d,t=1,p=1", passhash.MaxMemory+1), p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=0,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=65,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=4294967296,p=1", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=1,p=0", p[4], p[5]),
		join("", "argon2id", p[2], "m=1024,t=1,p=256", p[4], p[5]),
		join("", "argon2id", p[2], p[3], "!!notbase64!!", p[5]),
		join("", "argon2id", p[2], p[3], p[4], "!!notbase64!!"),
		join("", "argon2id", p[2], p[3], p[4], ""),
		join("", "argon2id", p[2], p[3], p[4]),
		join("", "argon2id", p[2], p[3], p[4], p[5], "extra"),
		good + "=",
		strings.Repeat("$", 10000),
	}
	for _, enc := range bad {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Verify(%q) panicked: %v", enc, r)
				}
			}()
			ok, err := h.Verify(ctx, enc, "pw")
			if err == nil || ok {
				t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
			}
		}()
	}
}

// holdSlot keeps the single slot of h busy with slow Verify calls until stop
// is closed. It retries when its own call is refused, so it does not matter
// which caller got the slot first.
func holdSlot(h *passhash.Hasher, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			_, err := h.Verify(context.Background(), slowEncoded, "x")
			if err != nil && !errors.Is(err, passhash.ErrBusy) {
				done <- err
				return
			}
		}
	}()
	return done
}

// waitHeld probes h with Verify on the dummy (cheap parameters) under an
// already canceled context until the probe is refused. A probe that finds the
// slot free takes it and succeeds; one that finds it taken is refused with
// ErrBusy (queue full) or the context error (queued, then canceled), which
// proves that the holder has the slot. It returns the refusal.
func waitHeld(t *testing.T, h *passhash.Hasher) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	deadline := time.Now().Add(2 * time.Minute) // a liveness bound, not a timing assertion
	for time.Now().Before(deadline) {
		_, err := h.Verify(ctx, "", "probe")
		if errors.Is(err, passhash.ErrBusy) || errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("never saw the slot taken while a hash was in progress")
	return nil
}

func TestPoolBoundNoQueue(t *testing.T) {
	h := passhash.New(fast, 1, 0, time.Minute)
	stop := make(chan struct{})
	done := holdSlot(h, stop)
	// A concurrent call while one hash runs, with no queue: ErrBusy.
	if err := waitHeld(t, h); !errors.Is(err, passhash.ErrBusy) {
		t.Fatalf("second call with the slot taken and no queue: %v, want ErrBusy", err)
	}
	// Hash is refused the same way as Verify when the slot is taken.
	// Keep probing with Hash until it is refused once too.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := h.Hash(context.Background(), "pw")
		if errors.Is(err, passhash.ErrBusy) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Hash never refused")
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w := h.Waiting(); w != 0 {
		t.Errorf("Waiting() = %d after all calls returned", w)
	}
	// Free again.
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Errorf("Hash after the pool drained: %v", err)
	}
}

func TestPoolQueueWaiterSucceeds(t *testing.T) {
	h := passhash.New(fast, 1, 1, 2*time.Minute)
	stop := make(chan struct{})
	done := holdSlot(h, stop)
	waitHeld(t, h) // the holder has the slot now

	type res struct {
		enc string
		err error
	}
	waiter := make(chan res, 1)
	go func() {
		enc, err := h.Hash(context.Background(), "queued")
		waiter <- res{enc, err}
	}()
	// Wait until the waiter is queued (or it already got the slot).
	var r res
	got := false
	for !got && h.Waiting() == 0 {
		select {
		case r = <-waiter:
			got = true
		default:
			time.Sleep(time.Millisecond)
		}
	}
	if !got {
		t.Log("the waiter is queued")
	}
	close(stop)
	if !got {
		r = <-waiter
	}
	if r.err != nil {
		t.Fatalf("queued Hash: %v", r.err)
	}
	if ok, err := h.Verify(context.Background(), r.enc, "queued"); err != nil || !ok {
		t.Errorf("Verify of queued hash = %v, %v", ok, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w := h.Waiting(); w != 0 {
		t.Errorf("Waiting() = %d after all calls returned", w)
	}
}

func TestPoolContextCanceledWhileQueued(t *testing.T) {
	h := passhash.New(fast, 1, 1, 2*time.Minute)
	stop := make(chan struct{})
	done := holdSlot(h, stop)
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitHeld(t, h)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "pw")
		errc <- err
	}()
	for h.Waiting() == 0 {
		select {
		case err := <-errc:
			// It got the slot between two holder calls; nothing to cancel.
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	err := <-errc
	// Either the cancellation won, or the slot came free at the same time.
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("canceled queued Hash: %v", err)
	}
}

func TestConcurrentHashVerify(t *testing.T) {
	ctx := context.Background()
	h := passhash.New(fast, 2, 64, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			pw := fmt.Sprintf("pw-%d", i)
			enc, err := h.Hash(ctx, pw)
			if err != nil {
				errs <- err
				return
			}
			ok, err := h.Verify(ctx, enc, pw)
			if err != nil || !ok {
				errs <- fmt.Errorf("verify %s: %v, %v", pw, ok, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A hash's memory is collected once the hash is done, instead of piling up
// until the Go runtime's pacer gets to it: right after Hash and Verify
// return, the heap no longer holds their 16 MiB blocks.
func TestHashMemoryIsCollected(t *testing.T) {
	p := passhash.Params{Memory: 16 << 10, Time: 1, Threads: 1}
	h := passhash.New(p, 1, 0, 0)
	ctx := context.Background()
	var ms runtime.MemStats
	for i := range 3 {
		enc, err := h.Hash(ctx, "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc >= 16<<20 {
			t.Fatalf("after hash %d the heap holds %d bytes: the hash's 16 MiB were not collected", i, ms.HeapAlloc)
		}
		if ok, err := h.Verify(ctx, enc, "correct horse"); !ok || err != nil {
			t.Fatalf("Verify: %v %v", ok, err)
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc >= 16<<20 {
			t.Fatalf("after verify %d the heap holds %d bytes: the hash's 16 MiB were not collected", i, ms.HeapAlloc)
		}
	}
}

// OnBusy's function learns when hashing starts and when it stops: true
// before a hash runs, false once none runs, alternating when hashes overlap.
func TestOnBusy(t *testing.T) {
	ctx := context.Background()
	h := passhash.New(fast, 2, 64, time.Minute)
	var mu sync.Mutex
	var events []bool
	h.OnBusy(func(busy bool) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, busy)
	})
	last := func() (bool, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(events) == 0 {
			return false, 0
		}
		return events[len(events)-1], len(events)
	}

	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(events) != "[true false]" {
		t.Fatalf("one hash: OnBusy saw %v, want [true false]", events)
	}

	// Busy for as long as a slow verification runs.
	done := make(chan error, 1)
	go func() {
		_, err := h.Verify(ctx, slowEncoded, "pw")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for busy, n := last(); !busy || n != 3; busy, n = last() {
		if time.Now().After(deadline) {
			t.Fatalf("no busy call while a verification runs: %v", events)
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if busy, n := last(); busy || n != 4 {
		t.Fatalf("after the verification: OnBusy saw %v, want it ending [... true false]", events)
	}

	// Overlapping hashes: the calls alternate and end idle.
	mu.Lock()
	events = nil
	mu.Unlock()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := h.Hash(ctx, fmt.Sprintf("pw-%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(events) < 2 || len(events)%2 != 0 {
		t.Fatalf("16 hashes: OnBusy saw %d calls %v, want pairs", len(events), events)
	}
	for i, busy := range events {
		if busy != (i%2 == 0) {
			t.Fatalf("16 hashes: call %d was %v, want alternating from true: %v", i, busy, events)
		}
	}
}
