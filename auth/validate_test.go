package auth

import (
	"strings"
	"testing"

	"github.com/mfad/mfad"
)

// A password's length is counted in code points; its cap in bytes.
func TestValidPassword(t *testing.T) {
	for _, c := range []struct {
		name, password string
		ok             bool
	}{
		{"eight ASCII", "abcdefgh", true},
		{"seven ASCII", "abcdefg", false},
		{"four umlauts, eight bytes", "äöüß", false},
		{"eight umlauts", "äöüßäöüß", true},
		{"four emoji, sixteen bytes", "😀😀😀😀", false},
		{"seven letters and a combining mark", "abcdefg\u0301", true},
		{"1024 bytes", strings.Repeat("a", 1024), true},
		{"1025 bytes", strings.Repeat("a", 1025), false},
		{"512 two-byte characters", strings.Repeat("é", 512), true},
		{"513 two-byte characters", strings.Repeat("é", 513), false},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"empty", "", false},
	} {
		err := ValidPassword(c.password, 1024)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && mfad.ErrorCode(err) != mfad.CodeInvalid {
			t.Errorf("%s: code %d, want %d", c.name, mfad.ErrorCode(err), mfad.CodeInvalid)
		}
	}
}

// The password policy: length, not the email or its local part, not a
// common password; each refusal names its rule.
func TestCheckPassword(t *testing.T) {
	for _, c := range []struct {
		password, email, rule string // rule: a word of the msg, "" for accepted
	}{
		{"a quite private phrase", "ann@example.com", ""},
		{"short", "ann@example.com", "at least"},
		{"ann@example.com", "ann@example.com", "email"},
		{"ANN@Example.COM", "ann@example.com", "email"},
		{"annabelle", "annabelle@example.com", "email"},
		{"Annabelle", "annabelle@example.com", "email"},
		{"annabelle1", "annabelle@example.com", ""},
		{"password", "ann@example.com", "common"},
		{"Password1", "ann@example.com", "common"},
		{"iloveyou", "ann@example.com", "common"},
		{"qwertyuiop", "", "common"},
		{"1qaz2wsx3edc", "", "common"},
		{strings.Repeat("x", 1025), "", "at most"},
	} {
		err := CheckPassword(c.password, c.email, 1024)
		switch {
		case c.rule == "" && err != nil:
			t.Errorf("CheckPassword(%q, %q) = %v, want accepted", c.password, c.email, err)
		case c.rule != "" && (err == nil || !strings.Contains(err.Error(), c.rule)):
			t.Errorf("CheckPassword(%q, %q) = %v, want a refusal naming %q", c.password, c.email, err, c.rule)
		case err != nil && mfad.ErrorCode(err) != mfad.CodeInvalid:
			t.Errorf("CheckPassword(%q): code %d", c.password, mfad.ErrorCode(err))
		}
	}
	if n := strings.Count(commonPasswords, "\n") + 1; n < 10_000 {
		t.Fatalf("%d common passwords shipped, want at least 10,000", n)
	}
}

// BenchmarkCheckPassword is the policy's cost per new password, once the
// set of common passwords is built (a map lookup after the length and
// email rules).
func BenchmarkCheckPassword(b *testing.B) {
	if CheckPassword("a long phrase of mine", "someone@example.com", 1024) != nil {
		b.Fatal("a good password refused")
	}
	for b.Loop() {
		_ = CheckPassword("a long phrase of mine", "someone@example.com", 1024)
	}
}

// BenchmarkCommonPasswordSet is the one-time cost of building the set of
// the 30,000 common passwords, on the first password checked.
func BenchmarkCommonPasswordSet(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if len(commonSet()) != 30000 {
			b.Fatal("the list does not hold 30,000 passwords")
		}
	}
}
