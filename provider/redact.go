package provider

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Every string an upstream sends that can reach an error, a chunk's label,
// a trace, a log or the screen passes through scrub (or one of its
// variants below): it removes the API key, control characters and
// terminal escapes, and bounds the length.
const (
	// maxMessage bounds the upstream's words kept in an Error: enough for
	// any real explanation, short enough for a dashboard line and a log.
	maxMessage = 512
	// maxLabel bounds a machine-readable label: an error's code or type, a
	// finish reason. Real ones are a word or two.
	maxLabel = 64
	// maxName bounds a tool call's id and name, and a listed model's id:
	// real ones are under a hundred bytes.
	maxName = 256
	// maxQuote bounds the start of a malformed answer quoted in an error.
	maxQuote = 120
)

// redacted replaces a secret wherever it appears in an upstream's text. Some
// servers echo the key they were given in a 401 body.
const redacted = "[redacted]"

// scrub makes upstream text fit to show, in at most maxMessage bytes.
func scrub(s, key string) string { return scrubTo(s, key, maxMessage) }

// scrubLabel is scrub for a label, in at most maxLabel bytes.
func scrubLabel(s, key string) string { return scrubTo(s, key, maxLabel) }

// scrubTo makes upstream text fit to show: without control characters and
// terminal escape sequences (which would move the dashboard's cursor or
// forge a log line), with each run of white space, line breaks included,
// one space, without the key, and clipped to n bytes (plus the mark of the
// cut).
func scrubTo(s, key string, n int) string {
	if plain(s, key, n) {
		return s
	}
	// Only the start of s can reach the first n bytes of the result: every
	// byte kept gives one byte, except a key, which gives len(redacted).
	// Cleaning no more than that bounds the work and the memory a huge
	// field costs. Two more bytes decide whether the result was cut.
	per := 1
	if len(key) > len(redacted) {
		per = (len(key) + len(redacted) - 1) / len(redacted)
	}
	t := printable(s, len(key)+(n+2)*per)
	if key != "" {
		t = strings.ReplaceAll(t, key, redacted)
	}
	return Clip(t, n)
}

// plain reports whether s is already fit to show as it is: short, printable
// ASCII with single spaces inside, and no key. It is the common case, and
// costs no allocation.
func plain(s, key string, n int) bool {
	if len(s) > n || key != "" && strings.Contains(s, key) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' ') || c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// printable returns s without control characters, terminal escape
// sequences and bidirectional overrides, with each run of white space one
// space (none at the ends) and each run of bytes that are not UTF-8 one
// U+FFFD. It stops once the result has limit bytes.
func printable(s string, limit int) string {
	var b strings.Builder
	space := false // white space seen since the last rune written
	for i := 0; i < len(s) && b.Len() < limit; {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			for i < len(s) {
				if r, w := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || w != 1 {
					break
				}
				i++
			}
			r, w = utf8.RuneError, 0 // written below, as one
		case r == 0x1b:
			i = skipEscape(s, i+1)
			continue
		case r == ' ', r == '\t', r == '\n', r == '\r', r == '\v', r == '\f', r == 0x85, r == 0x2028, r == 0x2029:
			space = true
			i += w
			continue
		case r < 0x20, r >= 0x7f && r < 0xa0, // the other C0 and C1 controls, DEL
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi overrides and isolates
			i += w
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		i += w
	}
	return b.String()
}

// skipEscape returns the index just past the escape sequence whose ESC came
// right before s[i]: a CSI sequence (ESC [ ... final), a string (OSC, DCS,
// SOS, PM, APC: ESC ] ... up to BEL or ESC \, or to the end), or a short
// sequence (ESC, intermediates, one final byte). An ESC before anything
// else is dropped alone.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		i++
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f { // parameters, intermediates
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e { // the final byte
			i++
		}
		return i
	case c == ']', c == 'P', c == 'X', c == '^', c == '_':
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	case c >= 0x20 && c <= 0x7e:
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
	}
	return i
}

// redactKey removes the key from text that is shown as it came (an
// answer's content and reasoning): a server that echoes its request, or a
// base URL that points at an echo service, must not show the key to the
// user. A key split over two chunks is not seen.
func redactKey(s, key string) string {
	if key == "" || !strings.Contains(s, key) {
		return s
	}
	return strings.ReplaceAll(s, key, redacted)
}

// scrubChunk returns c with its labels scrubbed and the key out of its
// content, reasoning, tool calls, signature and logprobs, whichever
// protocol it was decoded from.
func scrubChunk(c Chunk, key string) Chunk {
	c.FinishReason = scrubLabel(c.FinishReason, key)
	c.Content, c.Reasoning = redactKey(c.Content, key), redactKey(c.Reasoning, key)
	for i := range c.ToolCalls {
		tc := &c.ToolCalls[i]
		tc.ID, tc.Name = scrubTo(tc.ID, key, maxName), scrubTo(tc.Name, key, maxName)
		tc.Arguments = redactKey(tc.Arguments, key)
	}
	c.Signature = redactKey(c.Signature, key)
	// The logprobs' tokens are the content's, and are treated as it is;
	// their bytes could spell the key as well, as numbers.
	for i := range c.Logprobs {
		lp := &c.Logprobs[i]
		lp.Token, lp.Bytes = redactKey(lp.Token, key), redactBytes(lp.Bytes, key)
		for j := range lp.Top {
			t := &lp.Top[j]
			t.Token, t.Bytes = redactKey(t.Token, key), redactBytes(t.Bytes, key)
		}
	}
	return c
}

// redactBytes is redactKey for a token's bytes, given as numbers: if they
// hold the key, they become the bytes of the redacted text (a number that
// is not a byte counts as a zero byte, which no key has).
func redactBytes(b []int, key string) []int {
	if key == "" || len(b) < len(key) {
		return b
	}
	s := make([]byte, len(b))
	for i, v := range b {
		if v >= 0 && v <= 0xff {
			s[i] = byte(v)
		}
	}
	if !bytes.Contains(s, []byte(key)) {
		return b
	}
	s = []byte(redactKey(string(s), key))
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

// Clip shortens s to at most n bytes, cutting on a rune boundary and marking
// the cut with "…".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// displayURL returns u without credentials, query or fragment, for error
// texts: some gateways take a key in the query string.
func displayURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.ForceQuery = "", false
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}
