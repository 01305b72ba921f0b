// Package passhash hashes passwords and PINs with argon2id in a bounded pool.
//
// argon2id is memory-hard by design: each hash holds Params.Memory KiB for
// its duration. The pool caps how many run at once and how many may wait, so
// a flood of logins queues or is refused (ErrBusy) instead of exhausting
// memory.
package passhash

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// The most a stored hash may ask for: 256 MiB, 16 passes, 16 lanes.
const (
	MaxMemory  = 256 << 10 // KiB
	MaxTime    = 16
	MaxThreads = 16
)

// Default follows OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrBusy means the pool's queue is full or the wait ran past MaxWait.
var ErrBusy = errors.New("passhash: hashing pool busy")

// Hasher runs argon2id with at most Workers hashes at once and at most Queue
// callers waiting for a slot.
type Hasher struct {
	params  Params
	slots   chan struct{}
	queue   int64
	maxWait time.Duration
	waiting atomic.Int64
	dummy   string
	onWait  func(time.Duration)

	garbage atomic.Int64 // KiB of hashing memory dropped since the last collection
	budget  int64        // KiB of dropped hashing memory that triggers a collection (see collect)

	busyMu sync.Mutex
	active int             // hashes running
	onBusy func(busy bool) // see OnBusy
}

// OnWait makes f see how long each hash waited for a slot (for metrics);
// call it before use.
func (h *Hasher) OnWait(f func(time.Duration)) { h.onWait = f }

// OnBusy makes f learn when the hasher becomes busy (f(true), before the
// first of the hashes running at once starts) and idle again (f(false),
// after the last one ends). The calls alternate, one at a time, and a hash
// waits for them. Call it before use.
func (h *Hasher) OnBusy(f func(busy bool)) { h.onBusy = f }

// busy counts a hash in (d = 1) or out (d = -1) for OnBusy.
func (h *Hasher) busy(d int) {
	if h.onBusy == nil {
		return
	}
	h.busyMu.Lock()
	defer h.busyMu.Unlock()
	h.active += d
	switch {
	case d > 0 && h.active == 1:
		h.onBusy(true)
	case d < 0 && h.active == 0:
		h.onBusy(false)
	}
}

// New returns a Hasher. workers < 1 means 1; queue < 0 means 0; maxWait <= 0
// means 10 seconds.
func New(p Params, workers, queue int, maxWait time.Duration) *Hasher {
	if workers < 1 {
		workers = 1
	}
	if queue < 0 {
		queue = 0
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	h := &Hasher{params: p, slots: make(chan struct{}, workers), queue: int64(queue), maxWait: maxWait,
		budget: max(int64(p.Memory), minBudget)}
	h.dummy = h.encode(make([]byte, saltLen), h.key([]byte("mfad dummy secret"), make([]byte, saltLen), p))
	return h
}

// Saturated reports whether a hash asked for now would be refused: every
// slot busy and the queue full. It is a cheap early check; Hash and Verify
// still decide for themselves.
func (h *Hasher) Saturated() bool {
	return len(h.slots) == cap(h.slots) && h.waiting.Load() >= h.queue
}

// Waiting is the number of callers queued for a slot.
func (h *Hasher) Waiting() int64 { return h.waiting.Load() }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		if h.onWait != nil {
			h.onWait(0)
		}
		return nil
	default:
	}
	start := time.Now()
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		if h.onWait != nil {
			h.onWait(time.Since(start))
		}
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// minBudget keeps cheap hashes (small memory costs, as in tests) from
// collecting often: 16 MiB.
const minBudget = 16 << 10

func (h *Hasher) key(secret, salt []byte, p Params) []byte {
	h.busy(1)
	defer h.busy(-1)
	k := argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, keyLen)
	h.collect(int64(p.Memory))
	return k
}

// collect runs a garbage collection once hashes have dropped budget KiB of
// memory since the last one: after every hash at the default cost, also
// when two end at once (each collects before its slot is free for the next
// hash, so no third block is allocated while a dropped one awaits its
// collection).
//
// Each argon2id hash allocates Params.Memory KiB and drops it when done.
// Left to the Go runtime's pacer, which collects once the heap has grown by
// as much as the live heap, those blocks piled up during a burst of logins:
// at the default 19 MiB with two workers the server's RSS went from 55 MB to
// 120-160 MB. A collection costs little here (the blocks hold no pointers,
// so marking skips them), and the next hash reuses the freed memory instead
// of faulting in fresh pages. Measured with mfabench --spawn (10,000 users,
// 1, 16 and 64 concurrent password logins, interleaved runs): peak RSS
// 61-85 MB instead of 76-142 MB, logins per second and CPU per login the
// same within this machine's noise (from 8% fewer to 20% more logins/s).
// Collecting after every other hash instead kept the peak at 101-104 MB.
func (h *Hasher) collect(kib int64) {
	if h.garbage.Add(kib) >= h.budget {
		h.garbage.Store(0)
		runtime.GC()
	}
}

func (h *Hasher) encode(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Hash returns the PHC-format argon2id hash of secret.
func (h *Hasher) Hash(ctx context.Context, secret string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.encode(salt, h.key([]byte(secret), salt, h.params)), nil
}

// Verify reports whether secret matches encoded, comparing in constant time.
// An empty encoded hash is checked against a dummy hash of the same cost, so
// a missing user costs the same time as a wrong password; it never matches.
func (h *Hasher) Verify(ctx context.Context, encoded, secret string) (bool, error) {
	real := encoded != ""
	if !real {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := h.key([]byte(secret), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1 && real, nil
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("passhash: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("passhash: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("passhash: bad argon2 parameters")
	}
	// A stored hash chooses the cost of its own verification: bound it, so
	// one planted or corrupted row cannot make a worker take gigabytes.
	if p.Memory < 8 || p.Memory > MaxMemory || p.Time < 1 || p.Time > MaxTime || p.Threads < 1 || p.Threads > MaxThreads {
		return p, nil, nil, errors.New("passhash: argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("passhash: bad salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errors.New("passhash: bad key")
	}
	// Only the canonical spelling is accepted: no junk around the numbers,
	// no leading zeros, no line breaks in the base64.
	b64 := base64.RawStdEncoding
	canon := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
	if canon != encoded {
		return p, nil, nil, errors.New("passhash: not a canonical argon2id hash")
	}
	return p, salt, key, nil
}
