package totp_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	ptotp "github.com/pquerna/otp/totp"

	"github.com/mfad/mfad/totp"
)

// rfcSecret is the RFC 6238 Appendix B SHA1 seed, base32 without padding.
var rfcSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

var rfcVectors = []struct {
	unix int64
	code string // 8 digits
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

func TestRFC6238VectorsEightDigits(t *testing.T) {
	for _, v := range rfcVectors {
		got, err := ptotp.GenerateCodeCustom(rfcSecret, time.Unix(v.unix, 0), ptotp.ValidateOpts{
			Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			t.Fatalf("t=%d: %v", v.unix, err)
		}
		if got != v.code {
			t.Errorf("t=%d: got %s, want %s", v.unix, got, v.code)
		}
	}
}

func TestCodeAtIsLastSixDigitsOfRFCVectors(t *testing.T) {
	for _, v := range rfcVectors {
		// RFC 4226 truncation: a d-digit code is the same 31-bit number mod
		// 10^d, so the 6-digit code is the 8-digit one mod 10^6.
		n, err := strconv.ParseInt(v.code, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%06d", n%1_000_000)
		if want != v.code[2:] {
			t.Fatalf("mod 10^6 of %s is %s, not its last 6 digits", v.code, want)
		}
		step := totp.StepAt(time.Unix(v.unix, 0))
		if step != v.unix/30 {
			t.Errorf("StepAt(%d) = %d, want %d", v.unix, step, v.unix/30)
		}
		got, err := totp.CodeAt(rfcSecret, step)
		if err != nil {
			t.Fatalf("t=%d: %v", v.unix, err)
		}
		if got != want {
			t.Errorf("CodeAt(t=%d) = %s, want %s", v.unix, got, want)
		}
	}
}

func TestStepAt(t *testing.T) {
	for _, c := range []struct {
		unix, step int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {1111111109, 37037036}} {
		if got := totp.StepAt(time.Unix(c.unix, 999_999_999)); got != c.step {
			t.Errorf("StepAt(%d) = %d, want %d", c.unix, got, c.step)
		}
	}
}

func mustCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	c, err := totp.CodeAt(secret, step)
	if err != nil {
		t.Fatal(err)
	}
	if !totp.ValidFormat(c) {
		t.Fatalf("CodeAt returned %q, not 6 digits", c)
	}
	return c
}

// distinctWindow returns a time whose steps cur-2..cur+2 all have distinct
// codes for secret, so a match cannot come from a coincidence.
func distinctWindow(t *testing.T, secret string) time.Time {
	t.Helper()
	base := time.Unix(1_700_000_000, 0)
	for i := 0; i < 100; i++ {
		now := base.Add(time.Duration(i) * 10 * totp.Period * time.Second)
		cur := totp.StepAt(now)
		seen := map[string]bool{}
		for s := cur - 2; s <= cur+2; s++ {
			seen[mustCode(t, secret, s)] = true
		}
		if len(seen) == 5 {
			return now.Add(7 * time.Second) // not on a step boundary
		}
	}
	t.Fatal("no window with distinct codes")
	return time.Time{}
}

func TestMatchWindow(t *testing.T) {
	now := distinctWindow(t, rfcSecret)
	cur := totp.StepAt(now)
	for _, d := range []int64{-1, 0, 1} {
		code := mustCode(t, rfcSecret, cur+d)
		r, err := totp.Match(rfcSecret, code, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Replay || r.Step != cur+d {
			t.Errorf("step now%+d: got %+v, want OK at step %d", d, r, cur+d)
		}
	}
	for _, d := range []int64{-2, 2} {
		code := mustCode(t, rfcSecret, cur+d)
		r, err := totp.Match(rfcSecret, code, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || r.Replay {
			t.Errorf("step now%+d: got %+v, want rejected", d, r)
		}
	}
}

func TestMatchReplay(t *testing.T) {
	now := distinctWindow(t, rfcSecret)
	cur := totp.StepAt(now)
	for _, d := range []int64{-1, 0, 1} {
		code := mustCode(t, rfcSecret, cur+d)
		r, err := totp.Match(rfcSecret, code, now, 0)
		if err != nil || !r.OK {
			t.Fatalf("first use: %+v, %v", r, err)
		}
		// The same code again, with after = the step just accepted.
		r2, err := totp.Match(rfcSecret, code, now, r.Step)
		if err != nil {
			t.Fatal(err)
		}
		if r2.OK || !r2.Replay {
			t.Errorf("step now%+d reused: got %+v, want Replay", d, r2)
		}
		// Steps only move forward: a later accepted step also blocks it.
		r3, err := totp.Match(rfcSecret, code, now, cur+1)
		if err != nil {
			t.Fatal(err)
		}
		if r3.OK || !r3.Replay {
			t.Errorf("step now%+d after cur+1: got %+v, want Replay", d, r3)
		}
	}
	// A later step than after is still accepted.
	code := mustCode(t, rfcSecret, cur+1)
	r, err := totp.Match(rfcSecret, code, now, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Replay || r.Step != cur+1 {
		t.Errorf("step cur+1 with after=cur: got %+v", r)
	}
	// A wrong code is neither OK nor a replay.
	wrong := "000000"
	for mustCode(t, rfcSecret, cur-1) == wrong || mustCode(t, rfcSecret, cur) == wrong || mustCode(t, rfcSecret, cur+1) == wrong {
		wrong = "999999"
	}
	r, err = totp.Match(rfcSecret, wrong, now, cur)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Replay {
		t.Errorf("wrong code: got %+v", r)
	}
}

func TestMatchLeadingZero(t *testing.T) {
	// Find a step whose code starts with '0'.
	base := totp.StepAt(time.Unix(1_700_000_000, 0))
	var step int64 = -1
	var code string
	for s := base; s < base+2000; s++ {
		if c := mustCode(t, rfcSecret, s); c[0] == '0' {
			step, code = s, c
			break
		}
	}
	if step < 0 {
		t.Fatal("no code with a leading zero found")
	}
	now := time.Unix(step*totp.Period+1, 0)
	r, err := totp.Match(rfcSecret, code, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Step != step {
		t.Fatalf("code %s at its step: got %+v", code, r)
	}
	trimmed := strings.TrimLeft(code, "0")
	r, err = totp.Match(rfcSecret, trimmed, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Replay {
		t.Errorf("code %s without leading zeros (%q) accepted: %+v", code, trimmed, r)
	}
}

func TestValidFormat(t *testing.T) {
	good := []string{"000000", "123456", "999999", "012345"}
	for _, c := range good {
		if !totp.ValidFormat(c) {
			t.Errorf("ValidFormat(%q) = false", c)
		}
	}
	bad := []string{
		"", "12345", "1234567", "12345 ", " 12345", "123 456", "+12345", "-12345",
		"1e5000", "1e5", "12345a", "abcdef", "١٢٣٤٥٦", "１２３４５６", "12345\x00",
		"0x1234", "12.345", strings.Repeat("1", 10*1024),
	}
	for _, c := range bad {
		if totp.ValidFormat(c) {
			t.Errorf("ValidFormat(%q) = true", c)
		}
		r, err := totp.Match(rfcSecret, c, time.Unix(1_700_000_000, 0), 0)
		if err != nil || r.OK || r.Replay {
			t.Errorf("Match(%q) = %+v, %v; want rejected", c, r, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	e1, err := totp.Generate("mfad", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e1.Secret)
	if err != nil {
		t.Fatalf("secret %q is not unpadded base32: %v", e1.Secret, err)
	}
	if len(raw) != 20 {
		t.Errorf("secret is %d bytes, want 20", len(raw))
	}
	if strings.Contains(e1.Secret, "=") {
		t.Errorf("secret %q is padded", e1.Secret)
	}
	if !strings.HasPrefix(e1.URI, "otpauth://totp/") {
		t.Errorf("URI %q does not start with otpauth://totp/", e1.URI)
	}
	if !strings.Contains(e1.URI, "issuer=mfad") {
		t.Errorf("URI %q has no issuer", e1.URI)
	}
	if !strings.Contains(e1.URI, "secret="+e1.Secret) {
		t.Errorf("URI %q does not carry the secret", e1.URI)
	}
	if !bytes.HasPrefix(e1.PNG, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("PNG does not start with the PNG signature: % x", e1.PNG[:min(8, len(e1.PNG))])
	}
	// The generated secret works with CodeAt/Match.
	now := time.Unix(1_700_000_000, 0)
	code := mustCode(t, e1.Secret, totp.StepAt(now))
	if r, err := totp.Match(e1.Secret, code, now, 0); err != nil || !r.OK {
		t.Errorf("Match with generated secret: %+v, %v", r, err)
	}

	e2, err := totp.Generate("mfad", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if e1.Secret == e2.Secret {
		t.Errorf("two Generate calls gave the same secret %q", e1.Secret)
	}
}

// Again shows the same secret: same base32, same URI, codes that match.
func TestAgainKeepsTheSecret(t *testing.T) {
	e, err := totp.Generate("mfad", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a, err := totp.Again("mfad", "alice@example.com", e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if a.Secret != e.Secret || a.URI != e.URI || len(a.PNG) == 0 {
		t.Fatalf("Again: %q %q, want %q %q", a.Secret, a.URI, e.Secret, e.URI)
	}
	if _, err := totp.Again("mfad", "alice@example.com", "not base32!"); err == nil {
		t.Fatal("Again took a secret that is not base32")
	}
}
