package wirejson

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner reads one JSON text a piece at a time, for decoders written by
// hand for the few shapes that come by the hundred in every answer (a
// stream's chunks), which take what they know and hand anything else back
// to Unmarshal.
//
// It is strict and never guesses: each method reports false when what
// comes next is not what was asked for, or is not valid JSON, or is valid
// but outside what the Scanner takes on (a key with an escape or a byte
// outside ASCII, nesting deeper than maxDepth). The Scanner is then of no
// further use, and the caller decodes the text with Unmarshal instead,
// whose verdict stands. What a method does return is what encoding/json
// would have made of the same bytes (FuzzScanner holds the two together).
type Scanner struct {
	data []byte
	i    int
}

// maxDepth bounds what Skip descends into; encoding/json allows 10,000,
// left to Unmarshal.
const maxDepth = 64

// NewScanner returns a Scanner at the start of data.
func NewScanner(data []byte) Scanner { return Scanner{data: data} }

// ws skips white space, as JSON defines it: small enough to be inlined
// where there is none, as between most tokens of what machines write.
func (s *Scanner) ws() {
	if s.i < len(s.data) && s.data[s.i] > ' ' {
		return
	}
	s.wsLong()
}

func (s *Scanner) wsLong() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// plainRun is how many bytes d starts with that a string holds as they
// are (see plain), read eight at a time.
func plainRun(d []byte) int {
	j := 0
	for ; j+8 <= len(d); j += 8 {
		if m := special(binary.LittleEndian.Uint64(d[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	for j < len(d) && plain[d[j]] {
		j++
	}
	return j
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special marks, in the high bit of each byte of x (eight bytes of a
// string, the first lowest), those a string does not hold as they are: a
// quote, a backslash, a control character, a byte outside ASCII. The
// lowest mark is always right; one above it may be wrong (a borrow from
// the marked byte), which does not matter to plainRun.
func special(x uint64) uint64 {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (x - ones*' ') | x) & highs
}

// plain marks the bytes a string holds as they are: neither its end, nor
// an escape, nor a control character (not allowed), nor the start of a
// multi-byte character (to be checked).
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Byte consumes c (one of {}[],:) if it comes next, after white space.
func (s *Scanner) Byte(c byte) bool {
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// Read is what the Scanner has read of its data so far, white space
// included.
func (s *Scanner) Read() []byte { return s.data[:s.i] }

// Object reads an object: each member's key goes to member, with the
// Scanner at its value, which member reads or skips; false when member
// refuses one (the Scanner then of no further use), or what comes is not
// an object.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	if !s.Byte('{') {
		return false
	}
	return s.Byte('}') || s.member(member) && s.Rest(member)
}

// Rest is Object from after one of its members: the members left, and the
// object's end. A reading resumed inside an object goes on with it.
func (s *Scanner) Rest(member func(key []byte) bool) bool {
	for !s.Byte('}') {
		if !s.Byte(',') || !s.member(member) {
			return false
		}
	}
	return true
}

func (s *Scanner) member(member func(key []byte) bool) bool {
	key, ok := s.Key()
	return ok && member(key)
}

// Array reads an array: element reads each of its elements; false when
// element refuses one, or what comes is not an array.
func (s *Scanner) Array(element func() bool) bool {
	if !s.Byte('[') {
		return false
	}
	return s.Byte(']') || element() && s.RestOfArray(element)
}

// RestOfArray is Array from after one of its elements.
func (s *Scanner) RestOfArray(element func() bool) bool {
	for !s.Byte(']') {
		if !s.Byte(',') || !element() {
			return false
		}
	}
	return true
}

// Null consumes a null if one comes next.
func (s *Scanner) Null() bool {
	s.ws()
	if len(s.data)-s.i >= 4 && string(s.data[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.ws()
	return s.i == len(s.data)
}

// Key reads an object's key and the colon after it. The key is data's own
// bytes: it holds neither an escape nor a byte outside ASCII (encoding/json
// would unescape the one and fold the case of the other in ways a caller
// comparing bytes cannot follow).
func (s *Scanner) Key() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	rest := s.data[start:]
	j := plainRun(rest)
	if j == len(rest) || rest[j] != '"' {
		return nil, false
	}
	s.i = start + j + 1
	if !s.Byte(':') {
		return nil, false
	}
	return rest[:j], true
}

// String reads a string as encoding/json decodes it: escapes resolved, a
// lone or broken surrogate and each byte of invalid UTF-8 replaced by
// U+FFFD.
func (s *Scanner) String() (string, bool) {
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	j := start + plainRun(s.data[start:])
	if j < len(s.data) && s.data[j] == '"' {
		s.i = j + 1
		return string(s.data[start:j]), true
	}
	return s.unquote(start, j)
}

// unquote is String from the first byte at j that is not plain ASCII on,
// the string having begun at start: encoding/json's unquoteBytes, with
// its scanner's checks (no control characters, only JSON's escapes).
func (s *Scanner) unquote(start, j int) (string, bool) {
	b := make([]byte, j-start, j-start+2*utf8.UTFMax+(len(s.data)-j))
	copy(b, s.data[start:j])
	d := s.data
	for j < len(d) {
		c := d[j]
		switch {
		case c == '"':
			s.i = j + 1
			return string(b), true
		case c < ' ':
			return "", false
		case c == '\\':
			if j+1 >= len(d) {
				return "", false
			}
			switch e := d[j+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(d[j+2:])
				if r < 0 {
					return "", false
				}
				j += 6
				if utf16.IsSurrogate(r) {
					if len(d)-j >= 2 && d[j] == '\\' && d[j+1] == 'u' {
						if r2 := hex4(d[j+2:]); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								b = utf8.AppendRune(b, dec)
								j += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return "", false
			}
			j += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			r, size := utf8.DecodeRune(d[j:])
			b = utf8.AppendRune(b, r)
			j += size
		}
	}
	return "", false
}

// hex4 is the value of the four hex digits p starts with, -1 if it does
// not.
func hex4(p []byte) rune {
	if len(p) < 4 {
		return -1
	}
	var r rune
	for _, c := range p[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// Int reads a number into an int as encoding/json does: an integer
// literal that fits (a fraction or an exponent it refuses for an int,
// and so does Int).
func (s *Scanner) Int() (int, bool) {
	s.ws()
	start := s.i
	if !s.number() {
		return 0, false
	}
	lit := s.data[start:s.i]
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(lit), 10, strconv.IntSize)
	return int(n), err == nil
}

// number consumes a number as JSON's grammar has it.
func (s *Scanner) number() bool {
	d, j := s.data, s.i
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && '1' <= d[j] && d[j] <= '9':
		j = digits(d, j)
	default:
		return false
	}
	if j < len(d) && d[j] == '.' {
		if k := digits(d, j+1); k > j+1 {
			j = k
		} else {
			return false
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if k := digits(d, j); k > j {
			j = k
		} else {
			return false
		}
	}
	s.i = j
	return true
}

// digits is where the run of decimal digits from j ends.
func digits(d []byte, j int) int {
	for j < len(d) && '0' <= d[j] && d[j] <= '9' {
		j++
	}
	return j
}

// Skip consumes any one value, checked as encoding/json checks it.
func (s *Scanner) Skip() bool { return s.skip(0) }

func (s *Scanner) skip(depth int) bool {
	s.ws()
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		if depth == maxDepth {
			return false
		}
		s.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if s.Byte(end) {
			return true
		}
		for {
			if c == '{' && (!s.skipString() || !s.Byte(':')) {
				return false
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.Byte(',') {
				continue
			}
			return s.Byte(end)
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	for _, lit := range [...]string{"null", "true", "false"} {
		if len(s.data)-s.i >= len(lit) && string(s.data[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// skipString consumes a string, its escapes checked.
func (s *Scanner) skipString() bool {
	s.ws()
	d := s.data
	if s.i >= len(d) || d[s.i] != '"' {
		return false
	}
	for j := s.i + 1; ; j++ {
		j += plainRun(d[j:])
		if j >= len(d) {
			return false
		}
		switch c := d[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < ' ':
			return false
		case c >= utf8.RuneSelf:
			continue
		}
		// An escape.
		if j+1 >= len(d) {
			return false
		}
		switch d[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j++
		case 'u':
			if hex4(d[j+2:]) < 0 {
				return false
			}
			j += 5
		default:
			return false
		}
	}
}
