package main

import (
	"runtime"
	"testing"
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

// The spare processor is there while serve serves and no hash runs, taken
// back while hashes run, and gone once serve stops.
func TestProcessorsSwitch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	p := &processors{cores: 2, spare: 3}
	runtime.GOMAXPROCS(2)
	for _, step := range []struct {
		do   func()
		name string
		want int
	}{
		{func() { p.hashing(true) }, "a hash before serving", 2},
		{func() { p.hashing(false) }, "no hash before serving", 2},
		{p.start, "serving", 3},
		{func() { p.hashing(true) }, "serving, hashes running", 2},
		{func() { p.hashing(false) }, "serving, hashes done", 3},
		{func() { p.hashing(true) }, "serving, hashes again", 2},
		{p.stop, "stopped while hashing", 2},
		{func() { p.hashing(false) }, "hashes done after stop", 2},
	} {
		step.do()
		if got := runtime.GOMAXPROCS(0); got != step.want {
			t.Fatalf("%s: GOMAXPROCS %d, want %d", step.name, got, step.want)
		}
	}
}
