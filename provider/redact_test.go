package provider

import (
	"math"
	"strings"
	"testing"
)

func TestScrubText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "model not found", "model not found"},
		{"colours", "a \x1b[1;31mred\x1b[0m b", "a red b"},
		{"window title", "x\x1b]0;owned\x07y", "xy"},
		{"hyperlink", "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"unterminated string", "ok \x1bPq#0;2;0;0;0", "ok"},
		{"short escape", "a\x1b(Bb\x1bMc", "abc"},
		{"lone escape", "a\x1b", "a"},
		{"line breaks and tabs", "\r\n line1\r\nline2\t\t x \n", "line1 line2 x"},
		{"forged log line", "oops\n2025/03/01 12:00:00 INFO all fine", "oops 2025/03/01 12:00:00 INFO all fine"},
		{"other controls", "a\x00b\x07c\x7fd\u0085e\u009b31mf", "abcd e31mf"},
		{"bidi override", "abc\u202edcba\u2069", "abcdcba"},
		{"not UTF-8", "\xff\xfe\xfd bad \xc3", "\uFFFD bad \uFFFD"},
		{"unicode kept", "Überlastet – 过载 🙂", "Überlastet – 过载 🙂"},
		{"key", "bad key " + testKey + ".", "bad key [redacted]."},
		{"key split by an escape", "sk-test-4f9c\x1b[0m2b7e1d8a6035", "[redacted]"},
		{"key split by a line break", "sk-test-4f9c\n2b7e1d8a6035", "sk-test-4f9c 2b7e1d8a6035"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in, testKey); got != tt.want {
				t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// scrubTo cleans only the start of a long text: the result must be what
// cleaning all of it would give.
func TestScrubToCleansOnlyWhatItKeeps(t *testing.T) {
	full := func(s, key string, n int) string {
		return Clip(redactKey(printable(s, math.MaxInt), key), n)
	}
	for _, key := range []string{"", "k", testKey, strings.Repeat("long-key-", 20)} {
		for _, s := range []string{
			strings.Repeat(key+" ", 500),
			strings.Repeat(key, 500),
			strings.Repeat("x", maxLabel-2) + key + strings.Repeat("y", 600),
			strings.Repeat("\x1b[0m", 300) + key + strings.Repeat(" \n", 300) + key + "z",
			strings.Repeat("é", 300) + key,
		} {
			for _, n := range []int{maxLabel, maxMessage} {
				if got, want := scrubTo(s, key, n), full(s, key, n); got != want {
					t.Errorf("key %q, n %d: scrubTo = %q, cleaning all gives %q", key, n, got, want)
				}
			}
		}
	}
}
