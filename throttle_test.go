package mfad

import (
	"testing"
	"time"
)

func TestThrottleReserve(t *testing.T) {
	p := Throttle{Limit: 3, Window: time.Minute, Lock: 10 * time.Minute}
	t0 := time.Unix(1_700_000_000, 0)
	var c Counter
	var r Reservation
	for i := 1; i <= 3; i++ {
		c, r = p.Reserve(c, t0.Add(time.Duration(i)*time.Second))
		if c.Count != i || r.RetryAfter != 0 || r.Locks != (i == 3) || !c.WindowStart.Equal(t0.Add(time.Second)) {
			t.Fatalf("attempt %d: %+v %+v", i, c, r)
		}
	}
	if !c.LockedUntil.Equal(t0.Add(3*time.Second + 10*time.Minute)) {
		t.Fatalf("locked until %v", c.LockedUntil)
	}
	// Locked: nothing counted, the time left.
	if c2, r := p.Reserve(c, t0.Add(time.Minute)); c2 != c || r.RetryAfter != 3*time.Second+9*time.Minute || r.Locks {
		t.Fatalf("while locked: %+v %+v", c2, r)
	}
	// The lock ends exactly at LockedUntil; the window has passed: a new one.
	c, r = p.Reserve(c, c.LockedUntil)
	if c.Count != 1 || r != (Reservation{}) || !c.LockedUntil.IsZero() {
		t.Fatalf("after the lock: %+v %+v", c, r)
	}
	// Failures older than the window are forgotten.
	c, _ = p.Reserve(c, c.WindowStart.Add(30*time.Second))
	if c.Count != 2 {
		t.Fatalf("inside the window: %+v", c)
	}
	c, _ = p.Reserve(c, c.WindowStart.Add(time.Minute))
	if c.Count != 1 {
		t.Fatalf("a window later: %+v", c)
	}
	// A limit of one locks on the first attempt.
	if _, r := (Throttle{Limit: 1, Window: time.Minute, Lock: time.Minute}).Reserve(Counter{}, t0); !r.Locks {
		t.Fatal("limit 1 did not lock")
	}
}

func TestForced(t *testing.T) {
	for _, c := range []struct {
		t                  AuthType
		f2, fPIN, account2 bool
		want               bool
	}{
		{AuthTOTP, false, false, false, false},
		{AuthTOTP, true, false, false, true},
		{AuthTOTP, false, false, true, true},
		{AuthTOTP, false, true, false, false},
		{AuthPIN, false, true, false, true},
		{AuthPIN, true, false, true, false},
		{"TOTP", true, true, true, false},
	} {
		if got := Forced(c.t, c.f2, c.fPIN, c.account2); got != c.want {
			t.Errorf("Forced(%q, %v, %v, %v) = %v", c.t, c.f2, c.fPIN, c.account2, got)
		}
	}
}
