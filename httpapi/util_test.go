package httpapi_test

import (
	"encoding/base32"

	"github.com/mfad/mfad/auth"
)

type mfadConfig = auth.Config

func base32NoPad(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// wrongCode returns a 6-digit code that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
