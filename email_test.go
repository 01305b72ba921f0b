package mfad

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEmailKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"Alice@Example.COM", "alice@example.com"},
		{"  bob@example.com\t", "bob@example.com"},
		{"JÜRGEN@MÜLLER.DE", "jürgen@müller.de"},
		{"ju\u0308rgen@example.com", "jürgen@example.com"}, // decomposed ü is the composed one
		{"ΔΟΚΙΜΗ@παράδειγμα.δοκιμή", "δοκιμη@παράδειγμα.δοκιμή"},
	} {
		if EmailKey(c.a) != EmailKey(c.b) {
			t.Errorf("EmailKey(%q) = %q, EmailKey(%q) = %q: want one identity", c.a, EmailKey(c.a), c.b, EmailKey(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"ALİCE@EXAMPLE.COM", "alice@example.com"},          // U+0130
		{"\u212Aate@example.com", "kate@example.com"},       // Kelvin sign
		{"\u212Aen@example.com", "Ken@example.com"},         // Kelvin sign
		{"ſam@example.com", "sam@example.com"},              // long s
		{"ａlice@example.com", "alice@example.com"},          // full-width a
		{"alice@example\u037Ecom", "alice@example;com"},     // Greek question mark
		{"x\u1FEF@example.com", "x`@example.com"},           // Greek varia
		{"\u212Ajürgen@example.com", "kjürgen@example.com"}, // Kelvin beside other non-ASCII
	} {
		if EmailKey(c.a) == EmailKey(c.b) {
			t.Errorf("EmailKey(%q) == EmailKey(%q) == %q: a look-alike took the identity", c.a, c.b, EmailKey(c.a))
		}
	}
	if got := EmailKey("ALİCE@EXAMPLE.COM"); got != "alİce@example.com" {
		t.Errorf("EmailKey(ALİCE@EXAMPLE.COM) = %q, want the İ kept as written", got)
	}
}

// Every non-ASCII character, inside an email (white space at its ends is
// trimmed), after an ASCII letter or before a combining mark, keeps the key
// non-ASCII.
func TestEmailKeyNeverTurnsNonASCIIIntoASCII(t *testing.T) {
	n := 0
	for r := rune(utf8.RuneSelf); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		n++
		for _, s := range []string{"a" + string(r) + "@x", "K" + string(r) + "\u0301@x", "@" + string(r) + "\u0308x"} {
			if k := EmailKey(s); isASCII(k) {
				t.Fatalf("EmailKey(%q) = %q: U+%04X became ASCII", s, k, r)
			}
		}
	}
	if n < 1_000_000 {
		t.Fatalf("only %d runes tried", n)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func TestASCIILookalike(t *testing.T) {
	for _, s := range []string{"\u212Aen@example.com", "ａlice@example.com", "ſam@example.com", "ﬁsh@example.com", "x²@example.com", "a@example\uFF0Ecom"} {
		if _, ok := ASCIILookalike(s); !ok {
			t.Errorf("ASCIILookalike(%q) found nothing", s)
		}
	}
	for _, s := range []string{"alice@example.com", "ALİCE@EXAMPLE.COM", "jürgen@müller.de", "δοκιμή@παράδειγμα.δοκιμή", "用户@例子.广告", "josé@example.com"} {
		if r, ok := ASCIILookalike(s); ok {
			t.Errorf("ASCIILookalike(%q) = %U", s, r)
		}
	}
}

// FuzzEmailKey: a key is ASCII exactly when the (UTF-8) email is; an ASCII
// email's key is its ASCII lower case; the key of a key is itself.
func FuzzEmailKey(f *testing.F) {
	for _, s := range []string{"Alice@Example.COM", "ALİCE@EXAMPLE.COM", "\u212Aate@example.com", "ju\u0308rgen@example.com", "e\u0301\u212A", "ǅ@x", "ẞ@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		k := EmailKey(s)
		trimmed := strings.TrimSpace(s)
		if isASCII(trimmed) != isASCII(k) {
			t.Fatalf("EmailKey(%q) = %q: ASCII-ness changed", s, k)
		}
		if isASCII(trimmed) && k != strings.ToLower(trimmed) {
			t.Fatalf("EmailKey(%q) = %q, want %q", s, k, strings.ToLower(trimmed))
		}
		if k2 := EmailKey(k); k2 != k {
			t.Fatalf("EmailKey(%q) = %q, but EmailKey of that is %q", s, k, k2)
		}
	})
}
