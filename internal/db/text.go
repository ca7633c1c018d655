package db

import (
	"strings"
	"unicode"
)

// HasUnsafeText reports whether a name a person typed holds a character that makes it
// show as something other than what it is (see UnsafeTextRune). Every name the
// product stores (inboxes, accounts) is checked with it.
func HasUnsafeText(s string) bool { return strings.IndexFunc(s, UnsafeTextRune) >= 0 }

// UnsafeTextRune refuses control characters, the bidirectional overrides and isolates
// that reorder what follows them (U+202A–U+202E, U+2066–U+2069), and invisible format
// characters that hide text or make two names look the same: zero-width space, joiners
// and direction marks (U+200B–U+200F), word joiner and invisible operators
// (U+2060–U+2064), the byte-order mark / zero-width no-break space (U+FEFF) and the
// Arabic letter mark (U+061C).
func UnsafeTextRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	case r >= '\u200b' && r <= '\u200f', r >= '\u2060' && r <= '\u2064', r == '\ufeff', r == '\u061c':
		return true
	}
	return false
}
