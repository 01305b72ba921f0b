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
package gcfloor

import (
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
// until stop is called, which puts back the runtime's default of 100.
func Start(floor uint64) (stop func()) {
	t := &tuner{floor: floor, last: -1}
	t.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t.adjust()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(100)
	}
}

type tuner struct {
	floor   uint64
	sample  []metrics.Sample
	mu      sync.Mutex
	last    int // the GOGC last set, -1 before the first
	stopped bool
}

// sentinel is allocated for its cleanup, which runs after the collection
// that finds it unreachable: once per collection. It is larger than the
// runtime's tiny-allocation size so that it is a collection's object of
// its own.
type sentinel struct{ _ [32]byte }

func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets GOGC for the live heap the last collection left, and reports
// whether the tuner still runs.
func (t *tuner) adjust() bool {
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
