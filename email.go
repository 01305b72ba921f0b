package mfad

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// EmailKey is an email's identity key: users are unique by it, found by it
// at login, and locked out by it. The rule, in order:
//
//  1. white space around the email is trimmed;
//  2. ASCII letters A-Z become a-z;
//  3. every other character becomes its lower case under Unicode's simple
//     case mapping, unless that lower case is an ASCII character: U+0130
//     (İ, LATIN CAPITAL LETTER I WITH DOT ABOVE) and U+212A (K, KELVIN
//     SIGN) stay as written, so "ALİCE@EXAMPLE.COM" is not alice;
//  4. the result is put in Unicode normalization form NFC (a "ü" typed as
//     "u" and a combining diaeresis is the "ü" of the stored email), unless
//     it holds a character that NFC turns into ASCII (the Kelvin sign,
//     U+037E GREEK QUESTION MARK, U+1FEF GREEK VARIA): then it stays as it is;
//  5. when NFC changed the text, steps 2 to 4 run again on it, until nothing
//     changes: composing can bring an upper-case letter back (U+0130 then
//     U+0330 COMBINING TILDE BELOW composes to U+1E2C, Ḭ, then U+0307), and
//     the key of a key must be itself.
//
// No step turns a non-ASCII character into an ASCII one, so the key of an
// email is ASCII exactly when the email is, and two ASCII emails share a key
// exactly when they differ only in the case of their letters: no spelling
// with look-alike characters can log in as, be locked out as, or take the
// place of an ASCII email. Bytes that are not UTF-8 are kept as they are
// (such emails are refused before they are looked up).
func EmailKey(email string) string {
	key, again := emailKeyOnce(strings.TrimSpace(email))
	// Each round lowers letters or composes characters, so a few suffice;
	// the bound only guards against a Unicode version that would cycle.
	for i := 0; again && i < 8; i++ {
		var next string
		next, again = emailKeyOnce(key)
		again = again && next != key
		key = next
	}
	return key
}

// emailKeyOnce is steps 2 to 4 of EmailKey on s; again reports that NFC
// changed the text, so that another round may change it further.
func emailKeyOnce(s string) (key string, again bool) {
	var b strings.Builder
	b.Grow(len(s))
	ascii, nfc := true, true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			ascii = false
			b.WriteByte(s[i])
			i++
			continue
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r >= utf8.RuneSelf:
			ascii = false
			if l := unicode.ToLower(r); l >= utf8.RuneSelf {
				r = l
			}
			if nfc && nfcMakesASCII(r) {
				nfc = false
			}
		}
		b.WriteRune(r)
		i += size
	}
	lowered := b.String()
	if ascii || !nfc {
		return lowered, false
	}
	key = norm.NFC.String(lowered)
	return key, key != lowered
}

// nfcMakesASCII reports whether NFC turns the non-ASCII rune r into text
// with an ASCII character in it (a singleton decomposition such as the
// Kelvin sign's "K").
func nfcMakesASCII(r rune) bool { return hasASCII(norm.NFC.String(string(r))) }

// ASCIILookalike returns the first non-ASCII character of s that Unicode
// treats as a compatibility form of ASCII text (its NFKC form holds an ASCII
// character): the Kelvin sign for "K", the full-width "ａ", the long s "ſ",
// the ligature "ﬁ", the superscript "²". New emails with such characters are
// refused, so no two users' emails differ only by one.
func ASCIILookalike(s string) (rune, bool) {
	for _, r := range s {
		if r >= utf8.RuneSelf && r != utf8.RuneError && hasASCII(norm.NFKC.String(string(r))) {
			return r, true
		}
	}
	return 0, false
}

func hasASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			return true
		}
	}
	return false
}
