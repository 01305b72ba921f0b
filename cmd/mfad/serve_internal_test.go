package main

import "testing"

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
