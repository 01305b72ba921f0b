// Package gcfloor keeps Go's garbage collector from running often while
// the heap is small.
//
// With the runtime's default (GOGC=100) a collection starts when the heap
// has grown to twice what the last one left alive, and at 4 MiB at the
// least. mfad's live heap is small (2 MiB after a collection while it
// serves second-factor steps at full speed) and a busy server allocates
// for every request, so it collected about 50 times a second: 6-7% of the
// CPU of a second-factor step on 2 cores (docs/bench/2026-12-07.md).
//
// Start sets the collector's target after every collection to the larger
// of twice the live heap (the default) and a floor, but at most
// 1+MaxPercent/100 times the live heap: while the live heap is under half
// the floor the heap may grow towards the floor before the next
// collection; above that, nothing changes. The cost is memory: up to the
// floor of heap while the server is busy.
//
// That free heap has a second cost when large short-lived blocks are
// allocated (argon2id's 19 MiB per password hash): its free pages lie
// between small objects, a block seldom fits in them, and the heap grows by
// a whole block before the runtime gives as much back (RSS 15-20 MB higher
// for a few milliseconds, in about half of the runs of the password step).
// Tuner.Cap sets a memory limit while such blocks are allocated, so that
// the runtime gives free pages back as it grows the heap.
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// MaxPercent bounds the GOGC value set while the live heap is tiny, so
// that a burst of allocation starting from an idle server still triggers
// a collection in time.
const MaxPercent = 1000

// Percent is the GOGC that makes the next collection start when the heap
// reaches floor, or twice live, whichever is larger: at least 100, at most
// MaxPercent.
func Percent(live, floor uint64) int {
	if live == 0 {
		return MaxPercent
	}
	if live >= floor/2 {
		return 100
	}
	p := (floor - live) * 100 / live
	if p > MaxPercent {
		return MaxPercent
	}
	return int(p)
}

// Overridden reports whether the environment sets the collector's
// behaviour itself (GOGC or GOMEMLIMIT); Start then leaves it alone.
func Overridden(getenv func(string) string) bool {
	return getenv("GOGC") != "" || getenv("GOMEMLIMIT") != ""
}

// Start adjusts GOGC after every collection (see the package comment)
// until Stop.
func Start(floor uint64) *Tuner {
	t := &Tuner{floor: floor, last: -1}
	t.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for _, n := range capMetrics {
		t.capSample = append(t.capSample, metrics.Sample{Name: n})
	}
	t.adjust()
	t.arm()
	return t
}

// Tuner is the collector's tuning that Start began.
type Tuner struct {
	floor     uint64
	sample    []metrics.Sample // for adjust
	capSample []metrics.Sample // capMetrics, for Cap
	mu        sync.Mutex
	last      int // the GOGC last set, -1 before the first
	stopped   bool
	capped    bool
}

// Stop puts back the runtime's defaults: GOGC 100 and no memory limit.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(100)
	t.uncap()
}

// capMetrics are what a memory limit is compared with (the runtime's
// memory, less the heap given back to the system) and the live heap.
var capMetrics = [...]string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes", "/gc/heap/live:bytes"}

// Cap sets a memory limit (debug.SetMemoryLimit) until Uncap and returns
// it: the memory the runtime holds now, or the live heap plus need,
// whichever is larger. need is what the coming large allocations hold at
// once plus room for the rest of the program to grow meanwhile. With the
// limit in force, a heap that must grow to fit a block gives the system as
// much free memory back first. Cap does nothing after Stop, or on a
// runtime without those metrics (it returns math.MaxInt64).
func (t *Tuner) Cap(need uint64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return math.MaxInt64
	}
	s := t.capSample
	metrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return math.MaxInt64
		}
	}
	held := s[0].Value.Uint64() - s[1].Value.Uint64()
	limit := int64(min(max(held, s[2].Value.Uint64()+need), math.MaxInt64))
	debug.SetMemoryLimit(limit)
	t.capped = true
	return limit
}

// Uncap lifts the limit that Cap set.
func (t *Tuner) Uncap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.uncap()
}

func (t *Tuner) uncap() {
	if t.capped {
		debug.SetMemoryLimit(math.MaxInt64)
		t.capped = false
	}
}

// sentinel is allocated for its cleanup, which runs after the collection
// that finds it unreachable: once per collection. It is larger than the
// runtime's tiny-allocation size so that it is a collection's object of
// its own.
type sentinel struct{ _ [32]byte }

func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *Tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets GOGC for the live heap the last collection left, and reports
// whether the tuner still runs.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return false // a runtime without the metric: leave the default
	}
	p := Percent(t.sample[0].Value.Uint64(), t.floor)
	// Small changes are not worth the call.
	if t.last < 0 || p*20 < t.last*19 || p*20 > t.last*21 {
		debug.SetGCPercent(p)
		t.last = p
	}
	return true
}
