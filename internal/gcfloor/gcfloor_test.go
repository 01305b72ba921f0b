package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 64 * mib, MaxPercent},
		{1 * mib, 64 * mib, MaxPercent}, // 6300 capped
		{8 * mib, 64 * mib, 700},        // next collection at 64 MiB
		{16 * mib, 64 * mib, 300},
		{31 * mib, 64 * mib, 106},
		{32 * mib, 64 * mib, 100}, // twice the live heap is the floor: the default
		{48 * mib, 64 * mib, 100},
		{500 * mib, 64 * mib, 100},
	} {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("Percent(%d MiB live, %d MiB floor) = %d, want %d", c.live/mib, c.floor/mib, got, c.want)
		}
	}
}

func TestOverridden(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if Overridden(getenv) {
		t.Fatal("overridden with neither GOGC nor GOMEMLIMIT set")
	}
	env["GOGC"] = "200"
	if !Overridden(getenv) {
		t.Fatal("GOGC set, not seen")
	}
	delete(env, "GOGC")
	env["GOMEMLIMIT"] = "1GiB"
	if !Overridden(getenv) {
		t.Fatal("GOMEMLIMIT set, not seen")
	}
}

// After collections, Start has set GOGC for this process's small live heap
// (the test's), and stop puts back the default.
func TestStartSetsPercentAfterCollections(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	const floor = 256 << 20 // far above this test's live heap
	tu := Start(floor)
	defer tu.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		// The cleanup that adjusts runs after the collection, on the
		// runtime's cleanup goroutine.
		time.Sleep(10 * time.Millisecond)
		if p := current(); p > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d after collections; want it raised for a live heap far under the floor", current())
		}
	}
	tu.Stop()
	if p := current(); p != 100 {
		t.Fatalf("GOGC %d after stop, want 100", p)
	}
	// Stopped: collections no longer change it.
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if p := current(); p != 100 {
		t.Fatalf("GOGC %d after stop and collections, want 100", p)
	}
}

// current is the GOGC in force.
func current() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// Cap sets a memory limit of at least the live heap plus need and at least
// what the runtime holds; Uncap and Stop lift it; after Stop, Cap does
// nothing.
func TestCap(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tu := Start(32 << 20)
	defer tu.Stop()

	const need = 64 << 20
	s := make([]metrics.Sample, len(capMetrics)) // total, released, live
	for i, n := range capMetrics {
		s[i].Name = n
	}
	runtime.GC()
	metrics.Read(s)
	held, live := s[0].Value.Uint64()-s[1].Value.Uint64(), s[2].Value.Uint64()
	got := tu.Cap(need)
	if got < int64(live+need) || got+1<<20 < int64(held) || got == math.MaxInt64 {
		t.Fatalf("Cap(64 MiB) = %d with %d live and %d held; want at least live+need and what is held", got, live, held)
	}
	if lim := debug.SetMemoryLimit(-1); lim != got {
		t.Fatalf("memory limit %d after Cap, want the %d it returned", lim, got)
	}

	tu.Uncap()
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Fatalf("memory limit %d after Uncap, want none", lim)
	}
	tu.Cap(need)
	tu.Stop()
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Fatalf("memory limit %d after Stop, want none", lim)
	}
	if got := tu.Cap(need); got != math.MaxInt64 {
		t.Fatalf("Cap after Stop = %d, want math.MaxInt64 (nothing set)", got)
	}
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Fatalf("memory limit %d after Cap on a stopped tuner, want none", lim)
	}
}
