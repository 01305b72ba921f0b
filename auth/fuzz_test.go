package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mfad/mfad"
)

var pinFormat = regexp.MustCompile(`^[0-9]{4,12}$`)

// hasControl reports whether s holds a control character: a C0 or C1 control
// or DEL as a rune, or any byte below 0x20 or equal to 0x7f (so invalid UTF-8
// cannot hide one).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return strings.ContainsFunc(s, unicode.IsControl)
}

// invalidErr fails unless err is an *mfad.Error with CodeInvalid.
func invalidErr(t *testing.T, what, s string, err error) {
	t.Helper()
	var e *mfad.Error
	if !errors.As(err, &e) || e.Code != mfad.CodeInvalid {
		t.Fatalf("%s(%q) = %v; want an *mfad.Error with CodeInvalid", what, s, err)
	}
}

// FuzzPIN checks the input gates of user data: ValidPIN accepts exactly 4 to
// 12 ASCII digits; ValidEmail and ValidName never accept control characters,
// invalid UTF-8 or over-long values, and refuse with CodeInvalid.
func FuzzPIN(f *testing.F) {
	for _, s := range []string{
		"1234", "012345678901", "0000", "123", "1234567890123", "12 34", "+1234", "1e5",
		"１２３４", "٣٣٣٣", "1234\x00", "\x001234", "-123", "user@example.com",
		"a@b", "@b", "a@", "a b@c", "a@b\n", "a@b\u0085", "Ann O'Neil", " ", "\t",
		"name\x7f", "\xff\xfe", "ann@exa\u202emple.com",
		strings.Repeat("9", 10240), strings.Repeat("a", 250) + "@b.cd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidPIN(s), pinFormat.MatchString(s); got != want {
			t.Fatalf("ValidPIN(%q) = %v, want %v", s, got, want)
		}

		control := hasControl(s)
		if err := ValidEmail(s); err != nil {
			invalidErr(t, "ValidEmail", s, err)
		} else {
			at := strings.LastIndexByte(s, '@')
			switch {
			case control:
				t.Fatalf("ValidEmail(%q) accepted a control character", s)
			case !utf8.ValidString(s):
				t.Fatalf("ValidEmail(%q) accepted invalid UTF-8", s)
			case len(s) > maxEmailLen:
				t.Fatalf("ValidEmail accepted %d bytes", len(s))
			case at < 1 || at == len(s)-1:
				t.Fatalf("ValidEmail(%q) accepted an address without a local part and a domain", s)
			case strings.ContainsFunc(s, unicode.IsSpace):
				t.Fatalf("ValidEmail(%q) accepted white space", s)
			}
			if strings.TrimSpace(s) != s {
				t.Fatalf("ValidEmail(%q) accepted surrounding space", s)
			}
			if k := mfad.EmailKey(s); isASCII(s) && k != strings.ToLower(s) {
				t.Fatalf("EmailKey(%q) = %q: an ASCII email's key is its lower case", s, k)
			}
		}

		if err := ValidName(s); err != nil {
			invalidErr(t, "ValidName", s, err)
		} else {
			switch {
			case control:
				t.Fatalf("ValidName(%q) accepted a control character", s)
			case !utf8.ValidString(s):
				t.Fatalf("ValidName(%q) accepted invalid UTF-8", s)
			case len(s) > maxNameLen:
				t.Fatalf("ValidName accepted %d bytes", len(s))
			case strings.TrimSpace(s) == "":
				t.Fatalf("ValidName(%q) accepted a blank name", s)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
