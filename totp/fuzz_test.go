package totp

import (
	"regexp"
	"testing"
	"time"
)

// fuzzSecrets are fixed secrets the fuzz target picks from: the RFC 6238
// Appendix B SHA1 seed ("12345678901234567890"), a 20-byte secret as
// Generate makes them, and one that is not base32 at all.
var fuzzSecrets = []string{
	"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
	"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	"not base32 !",
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

// FuzzTOTPCode checks the code format gate and the ±1-step, forward-only
// window of Match.
//
// Inputs: code is an arbitrary submitted code; unix is the server time;
// delta picks the step whose real code is submitted (relative to the current
// step); afterDelta places the last accepted step relative to the current
// one; secret selects one of fuzzSecrets.
func FuzzTOTPCode(f *testing.F) {
	f.Add("123456", int64(59), int8(0), int8(-5), uint8(0))
	f.Add("287082", int64(59), int8(0), int8(-5), uint8(0)) // RFC 6238, T=1
	f.Add("", int64(0), int8(1), int8(0), uint8(1))
	f.Add("12345", int64(1111111109), int8(-1), int8(-1), uint8(0))
	f.Add("1234567", int64(20000000000), int8(2), int8(-2), uint8(1))
	f.Add("１２３４５６", int64(2000000000), int8(-2), int8(1), uint8(0))
	f.Add("12345\x00", int64(-1), int8(0), int8(0), uint8(2))
	f.Add("+12345", int64(9223372036854775807), int8(1), int8(-128), uint8(1))
	f.Fuzz(func(t *testing.T, code string, unix int64, delta, afterDelta int8, secretIdx uint8) {
		secret := fuzzSecrets[int(secretIdx)%len(fuzzSecrets)]
		goodSecret := secretIdx%uint8(len(fuzzSecrets)) != 2
		now := time.Unix(unix, 0)
		cur := StepAt(now)
		after := cur + int64(afterDelta)

		// The format gate: exactly six ASCII digits.
		valid := ValidFormat(code)
		if want := sixDigits.MatchString(code); valid != want {
			t.Fatalf("ValidFormat(%q) = %v, want %v", code, valid, want)
		}
		r, err := Match(secret, code, now, after)
		if !valid {
			// Refused before any cryptography: even a bad secret gives no error.
			if err != nil || r != (Result{}) {
				t.Fatalf("Match(%q) with an invalid-format code = %+v, %v; want zero result, no error", code, r, err)
			}
		} else {
			checkMatch(t, secret, goodSecret, code, now, after, r, err)
		}

		if !goodSecret {
			if _, err := CodeAt(secret, cur); err == nil {
				t.Fatalf("CodeAt accepted the malformed secret %q", secret)
			}
			return
		}
		// The real code of step cur+delta.
		step := cur + int64(delta)
		c, err := CodeAt(secret, step)
		if err != nil {
			t.Fatalf("CodeAt(step %d): %v", step, err)
		}
		if !ValidFormat(c) {
			t.Fatalf("CodeAt(step %d) = %q: not six ASCII digits", step, c)
		}
		r, err = Match(secret, c, now, after)
		checkMatch(t, secret, true, c, now, after, r, err)
		inWindow := delta >= -1 && delta <= 1 && step > after
		if inWindow && (!r.OK || r.Step > step) {
			t.Fatalf("the code of step %d (current %d, last accepted %d) = %+v; want OK at a step <= %d", step, cur, after, r, step)
		}
		if !inWindow && r.OK && r.Step == step {
			t.Fatalf("the code of step %d (current %d, last accepted %d) accepted: %+v", step, cur, after, r)
		}
		// Otherwise OK can only come from another step of the window that
		// happens to have the same code, which checkMatch has verified.
	})
}

// checkMatch verifies r, err = Match(secret, code, now, after) against the
// definition: OK at the earliest step s of cur-1..cur+1 with s > after whose
// code is code; Replay when no such step exists but a step s <= after of the
// window has that code.
func checkMatch(t *testing.T, secret string, goodSecret bool, code string, now time.Time, after int64, r Result, err error) {
	t.Helper()
	if !goodSecret {
		if err == nil || r.OK {
			t.Fatalf("Match with a malformed secret = %+v, %v; want an error", r, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Match(%q): %v", code, err)
	}
	cur := StepAt(now)
	var want Result
	replay := false
	for s := cur - 1; s <= cur+1; s++ {
		c, err := CodeAt(secret, s)
		if err != nil {
			t.Fatalf("CodeAt(%d): %v", s, err)
		}
		if c != code {
			continue
		}
		if s > after && !want.OK {
			want = Result{Step: s, OK: true}
		} else if s <= after {
			replay = true
		}
	}
	want.Replay = replay && !want.OK
	if r != want {
		t.Fatalf("Match(%q, now step %d, after %d) = %+v, want %+v", code, cur, after, r, want)
	}
	if r.OK && (r.Step <= after || r.Step < cur-1 || r.Step > cur+1) {
		t.Fatalf("Match accepted step %d outside (after %d, window %d±1]", r.Step, after, cur)
	}
}
