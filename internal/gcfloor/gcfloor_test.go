package gcfloor

import (
	"runtime"
	"runtime/debug"
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
	stop := Start(floor)
	defer stop()
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
	stop()
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
