package mfad

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// canonicalUUID is the spelling ParseUUID accepts: 36 characters, hex digits
// in either case, hyphens at 8, 13, 18 and 23.
var canonicalUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var lowerUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FuzzParseUUID checks that ParseUUID accepts exactly the canonical
// 36-character form (any case) and returns it in lower case, idempotently.
// It is what session tokens and user ids go through.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{
		"123e4567-e89b-12d3-a456-426614174000",
		"123E4567-E89B-12D3-A456-426614174000",
		"00000000-0000-0000-0000-000000000000",
		"{123e4567-e89b-12d3-a456-426614174000}",
		"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
		"123e4567e89b12d3a456426614174000",
		"123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"123e4567+e89b-12d3-a456-426614174000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := ParseUUID(s)

		_, perr := uuid.Parse(s)
		hyphens := len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
		if want := perr == nil && hyphens; ok != want {
			t.Fatalf("ParseUUID(%q) ok = %v; uuid.Parse err = %v, canonical hyphens = %v", s, ok, perr, hyphens)
		}
		if want := canonicalUUID.MatchString(s); ok != want {
			t.Fatalf("ParseUUID(%q) ok = %v; canonical form = %v", s, ok, want)
		}
		if !ok {
			if out != "" {
				t.Fatalf("ParseUUID(%q) refused but returned %q", s, out)
			}
			return
		}
		if !lowerUUID.MatchString(out) {
			t.Fatalf("ParseUUID(%q) = %q: not lower-case canonical", s, out)
		}
		if out != strings.ToLower(s) {
			t.Fatalf("ParseUUID(%q) = %q: not the input in lower case", s, out)
		}
		if again, ok := ParseUUID(out); !ok || again != out {
			t.Fatalf("ParseUUID(%q) = %q, %v: not idempotent", out, again, ok)
		}
		if upper, ok := ParseUUID(strings.ToUpper(s)); !ok || upper != out {
			t.Fatalf("ParseUUID(upper %q) = %q, %v; want %q", s, upper, ok, out)
		}
	})
}
