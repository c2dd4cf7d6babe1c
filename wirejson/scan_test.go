package wirejson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzScanner holds each of the Scanner's readings to encoding/json's on
// the same bytes: what it accepts is valid JSON with the value
// json.Unmarshal gives it, and it refuses nothing encoding/json takes but
// what it says it leaves to Unmarshal (keys with escapes or bytes outside
// ASCII, nesting deeper than maxDepth).
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`"plain"`, `"a\"b\\c\/d\be\ff\ng\rh\ti"`, `"\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ude00\ud83d"`, `"\uZZZZ"`, `"\x"`, "\"\xff\xfe\"", "\"é😀\"", "\"a\tb\"", `"ab`, `"\`, ` "x" `,
		`0`, `-0`, `12`, `-12`, `1.5`, `1e3`, `1E+3`, `-`, `01`, `1.`, `.5`, `9223372036854775807`, `9223372036854775808`,
		`null`, `true`, `false`, `nul`, `[]`, `{}`, `[1,2,[3,{"a":null}]]`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{1:2}`,
		`{"k\u0041":1}`, `"key" : 1`, `"ké":1`, strings.Repeat("[", 70) + strings.Repeat("]", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		valid := json.Valid(in)
		deep := bytes.Count(in, []byte("["))+bytes.Count(in, []byte("{")) > maxDepth

		s := NewScanner(in)
		skipped := s.Skip() && s.End()
		switch {
		case skipped && !valid:
			t.Fatalf("Skip took %q, which is not JSON", in)
		case !skipped && valid && !deep:
			t.Fatalf("Skip refused %q, which is JSON", in)
		}

		var str string
		strErr := json.Unmarshal(in, &str)
		s = NewScanner(in)
		got, ok := s.String()
		ok = ok && s.End()
		isString := bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte(`"`))
		switch {
		case ok && (strErr != nil || got != str):
			t.Fatalf("String read %q as %q; json.Unmarshal: %q, %v", in, got, str, strErr)
		case !ok && strErr == nil && isString:
			t.Fatalf("String refused %q, which json.Unmarshal reads as %q", in, str)
		}

		var n int
		intErr := json.Unmarshal(in, &n)
		s = NewScanner(in)
		i, ok := s.Int()
		ok = ok && s.End()
		trimmed := bytes.TrimLeft(in, " \t\r\n")
		isNumber := len(trimmed) > 0 && (trimmed[0] == '-' || '0' <= trimmed[0] && trimmed[0] <= '9')
		switch {
		case ok && (intErr != nil || i != n):
			t.Fatalf("Int read %q as %d; json.Unmarshal: %d, %v", in, i, n, intErr)
		case !ok && intErr == nil && isNumber:
			t.Fatalf("Int refused %q, which json.Unmarshal reads as %d", in, n)
		}

		s = NewScanner(in)
		if key, ok := s.Key(); ok {
			var want string
			if err := json.Unmarshal(in[:bytes.LastIndexByte(in[:s.i], ':')], &want); err != nil || want != string(key) {
				t.Fatalf("Key read %q from %q; json.Unmarshal: %q, %v", key, in, want, err)
			}
		}
	})
}
