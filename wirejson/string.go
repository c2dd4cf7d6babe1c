package wirejson

import (
	"math/bits"
	"unicode/utf8"
)

// AppendString appends s to dst as json.Marshal writes a string: quoted,
// with '<', '>' and '&' escaped as \u003c, \u003e and \u0026, control
// characters escaped, invalid UTF-8 replaced by \ufffd, and U+2028 and
// U+2029 escaped. It is encoding/json's own appendString (Go 1.26,
// escapeHTML set), for the stream's pieces written without an encoder;
// FuzzAppendString holds the two to the same bytes.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time up to the first that needs a look, then
		// one at a time.
		for ; i+8 <= len(s); i += 8 {
			if m := escaped(le64(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
		}
		for i < len(s) && copied[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// escaped marks, as special does, the bytes of x that AppendString does
// not copy as they are: special's, and '<', '>' and '&'. '<' and '>'
// differ in one bit: masking it tests both at once. The lowest mark is
// always right.
func escaped(x uint64) uint64 {
	ab := (x ^ (ones * '<')) &^ (ones * ('<' ^ '>'))
	amp := x ^ (ones * '&')
	return special(x) | ((ab-ones)&^ab|(amp-ones)&^amp)&highs
}

// copied marks the bytes AppendString copies as they are: plain's, but
// '<', '>' and '&'.
var copied = func() (t [256]bool) {
	t = plain
	t['<'], t['>'], t['&'] = false, false, false
	return t
}()

// le64 is the eight bytes of s from i, the first lowest.
func le64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
