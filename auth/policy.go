package auth

import (
	_ "embed"
	"strings"
	"sync"

	"github.com/mfad/mfad"
)

// commonPasswords are the 30,000 most common passwords, lower case, one a
// line (provenance and licence: commonpasswords.NOTICE).
//
//go:embed commonpasswords.txt
var commonPasswords string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// isCommon reports whether password, in lower case, is one of
// commonPasswords. The set is built on first use.
func isCommon(password string) bool {
	commonOnce.Do(func() { common = commonSet() })
	_, ok := common[strings.ToLower(password)]
	return ok
}

// commonSet builds the set of commonPasswords.
func commonSet() map[string]struct{} {
	lines := strings.Split(strings.TrimSpace(commonPasswords), "\n")
	set := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		set[l] = struct{}{}
	}
	return set
}

// CheckPassword applies the password policy to a new password of the user
// whose email is email: the length rules of ValidPassword, then not the
// email or its local part (in any letter case), then not one of the most
// common passwords (NIST SP 800-63B 5.1.1.2). The error's msg names the
// rule that failed. Every place a password is set goes through it.
func CheckPassword(password, email string, maxBytes int) error {
	if err := ValidPassword(password, maxBytes); err != nil {
		return err
	}
	if email != "" {
		key := mfad.EmailKey(email)
		local := key
		if at := strings.LastIndexByte(key, '@'); at >= 0 {
			local = key[:at]
		}
		if p := mfad.EmailKey(password); p == key || p == local {
			return mfad.Errorf(mfad.CodeInvalid, "password: must not be the email or its part before the @")
		}
	}
	if isCommon(password) {
		return mfad.Errorf(mfad.CodeInvalid, "password: one of the 30,000 most common passwords; choose one that is harder to guess")
	}
	return nil
}
