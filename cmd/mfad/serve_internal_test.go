package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/gcfloor"
)

func TestSpareProcessor(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if n, ok := spareProcessor(getenv, 2); !ok || n != 3 {
		t.Fatalf("spareProcessor(unset, 2) = %d, %v; want 3, true", n, ok)
	}
	env["GOMAXPROCS"] = "2"
	if n, ok := spareProcessor(getenv, 2); ok || n != 2 {
		t.Fatalf("spareProcessor(GOMAXPROCS=2, 2) = %d, %v; want 2, false", n, ok)
	}
}

// The spare processor is there while serve serves and no hash has run for
// idleAfter, taken back as soon as a hash runs, and gone once serve stops.
func TestProcessorsSwitch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const idle = 50 * time.Millisecond
	p := &processors{cores: 2, spare: 3, idleAfter: idle}
	runtime.GOMAXPROCS(2)
	want := func(name string, n int) {
		t.Helper()
		if got := runtime.GOMAXPROCS(0); got != n {
			t.Fatalf("%s: GOMAXPROCS %d, want %d", name, got, n)
		}
	}
	eventually := func(name string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.GOMAXPROCS(0) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GOMAXPROCS %d after 10 s, want %d", name, runtime.GOMAXPROCS(0), n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	p.hashing(true)
	want("a hash before serving", 2)
	p.hashing(false)
	p.start()
	want("serving, the hasher idle for less than idleAfter", 2)
	eventually("serving, the hasher idle", 3)

	p.hashing(true)
	want("serving, a hash running", 2)
	p.hashing(false)
	time.Sleep(idle / 5)
	p.hashing(true) // within idleAfter: the earlier idle stretch's timer must not switch
	time.Sleep(2 * idle)
	want("serving, a hash running after a short idle stretch", 2)
	p.hashing(false)
	eventually("serving, the hasher idle again", 3)

	p.hashing(true)
	p.stop()
	want("stopped while hashing", 2)
	p.hashing(false)
	time.Sleep(2 * idle)
	want("stopped, the hasher idle", 2)
}

// While hashes run, onHashing caps Go's memory at room for the hashes'
// blocks above the live heap at least, and takes the spare processor back;
// once none runs, the cap goes at once and the spare after the idle wait.
func TestOnHashingCapsMemory(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if onHashing(nil, nil, 0) != nil {
		t.Fatal("onHashing with neither processors nor a tuner: want no OnBusy function")
	}
	runtime.GOMAXPROCS(2)
	p := &processors{cores: 2, spare: 3, idleAfter: 20 * time.Millisecond}
	p.start()
	defer p.stop()
	tu := gcfloor.Start(gcHeapFloor)
	defer tu.Stop()
	room := hashingRoom(2)
	if want := uint64(2*19+16) << 20; room != want {
		t.Fatalf("hashingRoom(2) = %d, want %d (two 19 MiB blocks and 16 MiB)", room, want)
	}
	f := onHashing(p, tu, room)

	f(true)
	if lim := debug.SetMemoryLimit(-1); lim == math.MaxInt64 || lim < int64(room) {
		t.Fatalf("memory limit %d while hashing, want one of at least %d", lim, room)
	}
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("GOMAXPROCS %d while hashing, want 2", n)
	}
	f(false)
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Fatalf("memory limit %d once no hash runs, want none", lim)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS %d 10 s after the last hash, want 3", runtime.GOMAXPROCS(0))
		}
		time.Sleep(time.Millisecond)
	}

	// GOGC or GOMEMLIMIT in the environment: no tuner, the limit untouched.
	g := onHashing(p, nil, room)
	g(true)
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Fatalf("memory limit %d while hashing without a tuner, want none", lim)
	}
	g(false)
}
