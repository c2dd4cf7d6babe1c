package wirejson

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendString holds AppendString to json.Marshal's words for every
// string: HTML characters, control characters, invalid UTF-8, U+2028.
//
//	go test -run xxx -fuzz FuzzAppendString -fuzztime 1m ./wirejson
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "Hello, <world> & \"friends\"", "\u2028\u2029\x00\x1f\x7f\xff\xfe é 😀 \\ /",
		"\b\f\n\r\t", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 past U+10FFFF", "tail\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("AppendString(%q) = %s, json.Marshal %s", s, got[1:], want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := "The quick brown fox jumps over the lazy dog, <again> & again."
	b.Run("AppendString", func(b *testing.B) {
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf = AppendString(buf[:0], s)
		}
	})
	b.Run("Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = Marshal(s)
		}
	})
}
