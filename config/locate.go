package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Where keys and values are written.
//
// BurntSushi/toml reports the position of a syntax error, but MetaData keeps
// key positions private, and even internally it files them by dotted name, so
// the third [[provider]]'s "name" overwrites the first one's. A configuration
// error must point at the exact key or value, so this file scans the document
// a second time, only after the library has accepted it, and records the byte
// offset of every key and value under its full path, array indices included.
// Because the input is known to be valid TOML the scan only has to follow the
// structure (headers, keys, strings, arrays, inline tables); it never has to
// judge it. Anything it does not find falls back to the nearest ancestor.

// path names a value in the document: the keys from the root, with an index
// after each array step. Segments are joined with control characters, which
// cannot appear in a bare key, so paths built from real keys never collide.
type path string

func (p path) key(k string) path { return p + "\x00" + path(k) }
func (p path) index(i int) path  { return p + "\x01" + path(strconv.Itoa(i)) }

// parent is the path one step up, or "" at the root.
func (p path) parent() path {
	i := strings.LastIndexAny(string(p), "\x00\x01")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// span is where one entry is written: the key (or, for a table header, the
// header's last key segment) and the value (or the header's opening bracket).
type span struct{ key, val int }

// locator maps paths to offsets and offsets to line and column.
type locator struct {
	file       string
	size       int // length of the document in bytes
	lineStarts []int
	spans      map[path]span
}

// newLocator indexes the lines of src; it knows no keys yet.
func newLocator(file, src string) *locator {
	l := &locator{file: file, size: len(src), lineStarts: []int{0}, spans: map[path]span{}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			l.lineStarts = append(l.lineStarts, i+1)
		}
	}
	return l
}

// locate indexes the lines and keys of a valid TOML document.
func locate(file, src string) *locator {
	l := newLocator(file, src)
	s := &scanner{src: src, loc: l, arrays: map[path]int{}}
	s.document()
	return l
}

// pos turns a byte offset into a position.
func (l *locator) pos(off int) Pos {
	line := sort.Search(len(l.lineStarts), func(i int) bool { return l.lineStarts[i] > off })
	return Pos{File: l.file, Line: line, Col: off - l.lineStarts[line-1] + 1}
}

// keyPos is where the key of p is written, or its nearest ancestor's.
func (l *locator) keyPos(p path) Pos {
	for ; p != ""; p = p.parent() {
		if s, ok := l.spans[p]; ok {
			return l.pos(s.key)
		}
	}
	return Pos{File: l.file, Line: 1, Col: 1}
}

// valPos is where the value of p starts (a table's header), or its nearest
// ancestor's.
func (l *locator) valPos(p path) Pos {
	for ; p != ""; p = p.parent() {
		if s, ok := l.spans[p]; ok {
			return l.pos(s.val)
		}
	}
	return Pos{File: l.file, Line: 1, Col: 1}
}

func (l *locator) set(p path, s span) { l.spans[p] = s }

func (l *locator) setIfAbsent(p path, s span) {
	if _, ok := l.spans[p]; !ok {
		l.spans[p] = s
	}
}

// scanner walks the document. Every loop checks for the end of the input and
// for progress, so even an input the library would reject cannot hang it.
type scanner struct {
	src    string
	i      int
	loc    *locator
	arrays map[path]int // length of each array of tables seen so far
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *scanner) at(prefix string) bool { return strings.HasPrefix(s.src[s.i:], prefix) }

// skipSpace skips blanks on the current line.
func (s *scanner) skipSpace() {
	for !s.eof() && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlank skips blanks, newlines and comments.
func (s *scanner) skipBlank() {
	for !s.eof() {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *scanner) document() {
	table := path("")
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.i
		switch {
		case s.at("[["):
			table = s.header(2)
		case s.peek() == '[':
			table = s.header(1)
		default:
			s.keyValue(table)
		}
		if s.i == start { // not valid TOML; stop rather than loop
			return
		}
	}
}

// header reads [a.b] (brackets 1) or [[a.b]] (brackets 2) and returns the
// path of the table it opens.
func (s *scanner) header(brackets int) path {
	open := s.i
	s.i += brackets
	segs, offs := s.dottedKey()
	s.skipSpace()
	s.i += brackets // "]" or "]]"
	p := path("")
	for n, seg := range segs {
		p = p.key(seg)
		sp := span{key: offs[n], val: open}
		last := n == len(segs)-1
		switch {
		case last && brackets == 2:
			l := s.arrays[p]
			s.arrays[p] = l + 1
			s.loc.setIfAbsent(p, sp)
			p = p.index(l)
			s.loc.set(p, sp)
		case last:
			s.loc.set(p, sp) // an explicit header beats an implicit mention
		default:
			s.loc.setIfAbsent(p, sp)
			if l, ok := s.arrays[p]; ok && l > 0 {
				p = p.index(l - 1) // [a.b] under [[a]] means the last a
			}
		}
	}
	return p
}

// keyValue reads key = value relative to the table at base.
func (s *scanner) keyValue(base path) {
	segs, offs := s.dottedKey()
	if len(segs) == 0 {
		s.i++ // not valid TOML; make progress
		return
	}
	s.skipSpace()
	if s.peek() == '=' {
		s.i++
	}
	s.skipSpace()
	p := base
	for n, seg := range segs[:len(segs)-1] {
		p = p.key(seg)
		s.loc.setIfAbsent(p, span{key: offs[n], val: offs[n]})
	}
	p = p.key(segs[len(segs)-1])
	s.loc.set(p, span{key: offs[len(offs)-1], val: s.i})
	s.value(p)
}

// dottedKey reads a key such as a, "a b" or a . 'b' . c and returns its
// segments and where each starts.
func (s *scanner) dottedKey() (segs []string, offs []int) {
	for {
		s.skipSpace()
		start := s.i
		seg, ok := s.simpleKey()
		if !ok {
			return segs, offs
		}
		segs, offs = append(segs, seg), append(offs, start)
		s.skipSpace()
		if s.peek() != '.' {
			return segs, offs
		}
		s.i++
	}
}

func (s *scanner) simpleKey() (string, bool) {
	switch c := s.peek(); {
	case c == '"':
		start := s.i + 1
		s.skipBasicString()
		end := max(start, s.i-1)
		return unescapeBasic(s.src[start:end]), true
	case c == '\'':
		start := s.i + 1
		s.skipLiteralString()
		end := max(start, s.i-1)
		return s.src[start:end], true
	case isBareKeyByte(c):
		start := s.i
		for !s.eof() && isBareKeyByte(s.src[s.i]) {
			s.i++
		}
		return s.src[start:s.i], true
	}
	return "", false
}

func isBareKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under p.
func (s *scanner) value(p path) {
	switch {
	case s.at(`"""`):
		s.skipMultiline(`"""`, '"', true)
	case s.at("'''"):
		s.skipMultiline("'''", '\'', false)
	case s.peek() == '"':
		s.skipBasicString()
	case s.peek() == '\'':
		s.skipLiteralString()
	case s.peek() == '[':
		s.i++
		for n := 0; ; n++ {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == ']' {
				s.i++
				return
			}
			start := s.i
			s.loc.set(p.index(n), span{key: start, val: start})
			s.value(p.index(n))
			s.skipBlank()
			if s.peek() == ',' {
				s.i++
			} else if s.i == start {
				return
			}
		}
	case s.peek() == '{':
		s.i++
		for {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == '}' {
				s.i++
				return
			}
			start := s.i
			s.keyValue(p)
			s.skipBlank()
			if s.peek() == ',' {
				s.i++
			} else if s.i == start {
				return
			}
		}
	default:
		s.scalar()
	}
}

// scalar skips a number, boolean or date-time.
func (s *scanner) scalar() {
	start := s.i
	for !s.eof() {
		switch s.src[s.i] {
		case ' ':
			// A date and a time may be separated by one space:
			// 1979-05-27 07:32:00Z.
			if isDate(s.src[start:s.i]) && s.i+1 < len(s.src) && isDigit(s.src[s.i+1]) {
				s.i++
				continue
			}
			return
		case '\t', '\r', '\n', ',', ']', '}', '#':
			return
		}
		s.i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isDate reports whether v is a full date, YYYY-MM-DD.
func isDate(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(v[i]) {
			return false
		}
	}
	return true
}

// skipBasicString skips "..." including its quotes.
func (s *scanner) skipBasicString() {
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return
		case '\n':
			return // not valid TOML
		}
		s.i++
	}
	s.i = min(s.i, len(s.src))
}

// skipLiteralString skips '...' including its quotes.
func (s *scanner) skipLiteralString() {
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\'':
			s.i++
			return
		case '\n':
			return // not valid TOML
		}
		s.i++
	}
}

// skipMultiline skips a multi-line string, basic or literal, delimited by
// three quotes. Up to two more quotes may directly precede the closing
// delimiter: `"""a"""""` is the string `a""`.
func (s *scanner) skipMultiline(delim string, quote byte, escapes bool) {
	s.i += len(delim)
	for !s.eof() {
		if escapes && s.src[s.i] == '\\' {
			s.i += 2
			continue
		}
		if s.at(delim) {
			s.i += len(delim)
			for extra := 0; extra < 2 && s.peek() == quote; extra++ {
				s.i++
			}
			return
		}
		s.i++
	}
	s.i = min(s.i, len(s.src))
}

// unescapeBasic decodes the escapes of a TOML basic string (TOML 1.1,
// as BurntSushi/toml v1.6 accepts them), so that quoted keys match the
// decoded document.
func unescapeBasic(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		hex := 0
		switch v[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(v[i])
		case 'x':
			hex = 2
		case 'u':
			hex = 4
		case 'U':
			hex = 8
		default:
			b.WriteByte('\\')
			b.WriteByte(v[i])
		}
		if hex > 0 && i+hex < len(v) {
			if r, err := strconv.ParseUint(v[i+1:i+1+hex], 16, 32); err == nil {
				b.WriteRune(rune(r))
				i += hex
				continue
			}
		}
		if hex > 0 {
			b.WriteByte('\\')
			b.WriteByte(v[i])
		}
	}
	if !utf8.ValidString(b.String()) {
		return v
	}
	return b.String()
}
