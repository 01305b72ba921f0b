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
