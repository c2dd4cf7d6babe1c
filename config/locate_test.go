package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// tricky exercises every construct the locator has to step over.
const tricky = `# a comment with [brackets] and key = "value"
title = "a # not a comment"   # trailing comment
"quoted key" = 1
'literal.key' = 2
dotted . key = { a = 1, "b c" = [1, 2, [3, 4]], d = { e = "}" } }
multi = """
[not.a.table]
key = "not a key" \""" still in the string
"""""
lit = '''
it's ''here'' '''''
when = 1979-05-27 07:32:00Z
day = 1979-05-27
esc = "tab\there \u00e9 \\ \""
"esc\u00e9key" = true
empty = []

[server]
ports = [
  8001, # first
  8002,
]
inline = {
  x = 1, # newlines in inline tables are TOML 1.1
  y = [ "a", 'b' ],
}
points = [ { x = 1 }, { x = 2, y = { z = "]" } } ]

[a.b.c]
deep = 1.5e3

[a]
top = -17
b.side = true

[[fruit]]
name = "apple"
[fruit.physical]
color = "red"
[[fruit.variety]]
name = "red delicious"
[[fruit.variety]]
	name = "granny smith"
[[fruit]]
name = "banana"
[[ fruit . variety ]]
name = "plantain"
`

func TestLocateExactPositions(t *testing.T) {
	l := locate("t.toml", tricky)
	k := func(keys ...any) path {
		p := path("")
		for _, s := range keys {
			switch s := s.(type) {
			case string:
				p = p.key(s)
			case int:
				p = p.index(s)
			}
		}
		return p
	}
	tests := []struct {
		p        path
		key, val string // line:col
	}{
		{k("title"), "2:1", "2:9"},
		{k("quoted key"), "3:1", "3:16"},
		{k("literal.key"), "4:1", "4:17"},
		{k("dotted"), "5:1", "5:1"},
		{k("dotted", "key"), "5:10", "5:16"},
		{k("dotted", "key", "b c"), "5:25", "5:33"},
		{k("dotted", "key", "b c", 2), "5:40", "5:40"},
		{k("dotted", "key", "b c", 2, 1), "5:44", "5:44"},
		{k("dotted", "key", "d", "e"), "5:55", "5:59"},
		{k("multi"), "6:1", "6:9"},
		{k("lit"), "10:1", "10:7"},
		{k("when"), "12:1", "12:8"},
		{k("day"), "13:1", "13:7"},
		{k("esc"), "14:1", "14:7"},
		{k("escékey"), "15:1", "15:18"},
		{k("empty"), "16:1", "16:9"},
		{k("server"), "18:2", "18:1"},
		{k("server", "ports"), "19:1", "19:9"},
		{k("server", "ports", 1), "21:3", "21:3"},
		{k("server", "inline", "x"), "24:3", "24:7"},
		{k("server", "inline", "y", 1), "25:14", "25:14"},
		{k("server", "points", 1, "y", "z"), "27:38", "27:42"},
		{k("a"), "32:2", "32:1"}, // the explicit [a] wins over [a.b.c]
		{k("a", "b", "c"), "29:6", "29:1"},
		{k("a", "b", "c", "deep"), "30:1", "30:8"},
		{k("a", "b", "side"), "34:3", "34:10"},
		{k("fruit", 0), "36:3", "36:1"},
		{k("fruit", 0, "physical", "color"), "39:1", "39:9"},
		{k("fruit", 0, "variety", 1), "42:9", "42:1"},
		{k("fruit", 0, "variety", 1, "name"), "43:2", "43:9"},
		{k("fruit", 1, "name"), "45:1", "45:8"},
		{k("fruit", 1, "variety", 0), "46:12", "46:1"},
		{k("fruit", 1, "variety", 0, "name"), "47:1", "47:8"},
	}
	lc := func(p Pos) string { return strings.TrimPrefix(p.String(), "t.toml:") }
	for _, tt := range tests {
		if _, ok := l.spans[tt.p]; !ok {
			t.Errorf("%q: not found", tt.p)
			continue
		}
		if got := lc(l.keyPos(tt.p)); got != tt.key {
			t.Errorf("%q: key at %s, want %s", tt.p, got, tt.key)
		}
		if got := lc(l.valPos(tt.p)); got != tt.val {
			t.Errorf("%q: value at %s, want %s", tt.p, got, tt.val)
		}
	}
	// An unknown path falls back to its nearest known ancestor.
	if got := lc(l.valPos(k("fruit", 1, "variety", 0, "nope", "deeper"))); got != "46:1" {
		t.Errorf("fallback = %s", got)
	}
}

// Every value the library decodes is found by the locator, and the text at
// the recorded offset decodes to that same value.
func TestLocateAgreesWithLibrary(t *testing.T) {
	shipped, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		"tricky":              tricky,
		"shipped":             string(shipped),
		"shipped uncommented": uncomment(string(shipped)),
	}
	for _, name := range []string{"tricky", "shipped", "shipped uncommented"} {
		docs[name+" crlf"] = strings.ReplaceAll(docs[name], "\n", "\r\n")
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var tree map[string]any
			if _, err := toml.Decode(doc, &tree); err != nil {
				t.Fatal(err)
			}
			l := locate("t.toml", doc)
			n := checkTree(t, l, doc, "", tree)
			if n < 10 {
				t.Errorf("only %d values checked", n)
			}
		})
	}
}

// checkTree checks v at p and everything under it; it returns how many values
// it checked.
func checkTree(t *testing.T, l *locator, doc string, p path, v any) int {
	t.Helper()
	n := 0
	if p != "" {
		sp, ok := l.spans[p]
		if !ok {
			t.Errorf("%q: not located", p)
			return 0
		}
		n++
		checkValueText(t, doc, p, sp.val, v)
	}
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			n += checkTree(t, l, doc, p.key(k), child)
		}
	case []map[string]any:
		for i, child := range v {
			n += checkTree(t, l, doc, p.index(i), child)
		}
	case []any:
		for i, child := range v {
			n += checkTree(t, l, doc, p.index(i), child)
		}
	}
	return n
}

// checkValueText decodes the value written at off and compares it with want.
// Tables opened by a header or a dotted key have no value text to decode.
func checkValueText(t *testing.T, doc string, p path, off int, want any) {
	t.Helper()
	if doc[off] == '[' && isHeaderStart(doc, off) {
		return
	}
	if _, isTable := want.(map[string]any); isTable && doc[off] != '{' {
		return // created by a dotted key
	}
	s := &scanner{src: doc, i: off, loc: newLocator("", doc), arrays: map[path]int{}}
	s.value("")
	text := doc[off:s.i]
	var got map[string]any
	if _, err := toml.Decode("v = "+text, &got); err != nil {
		t.Errorf("%q: text %q at offset %d does not decode: %v", p, text, off, err)
		return
	}
	if m, isTable := want.(map[string]any); isTable {
		// The library lets a later dotted key add to an inline table
		// (TOML forbids it; BurntSushi/toml accepts a = {} then a.b = 1):
		// the text holds the keys written in it, each as decoded; the
		// others are checked where their dotted keys are.
		written, _ := got["v"].(map[string]any)
		for k, v := range written {
			if !reflect.DeepEqual(normalize(v), normalize(m[k])) {
				t.Errorf("%q: text %q decodes %q to %#v, want %#v", p, text, k, v, m[k])
			}
		}
		return
	}
	if !reflect.DeepEqual(normalize(got["v"]), normalize(want)) {
		t.Errorf("%q: text %q decodes to %#v, want %#v", p, text, got["v"], want)
	}
}

// isHeaderStart reports whether the '[' at off begins a table header, that
// is, only blanks precede it on its line.
func isHeaderStart(doc string, off int) bool {
	start := strings.LastIndexByte(doc[:off], '\n') + 1
	return strings.TrimLeft(doc[start:off], " \t") == ""
}

// normalize makes arrays of tables compare equal however they were written.
func normalize(v any) any {
	switch v := v.(type) {
	case []map[string]any:
		out := make([]any, len(v))
		for i, m := range v {
			out[i] = normalize(m)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

// The locator never hangs or panics, whatever it is given.
func TestLocateSurvivesBrokenInput(t *testing.T) {
	inputs := []string{"", "[", "[[", "a", "a =", `a = "`, "a = '''", `a = """`, "a = [", "a = {", "a = [1,", "a = {b", "=", "]]", "\\", "a = [{]"}
	for _, in := range inputs {
		locate("t.toml", in)
		locate("t.toml", tricky[:len(in)*3%len(tricky)]+in)
	}
}

// uncomment turns the commented-out examples of the shipped file on: a line
// of code is commented as "#code", prose as "# text".
func uncomment(doc string) string {
	ls := strings.Split(doc, "\n")
	for i, l := range ls {
		if strings.HasPrefix(l, "#") && (len(l) == 1 || l[1] != ' ') {
			ls[i] = l[1:]
		}
	}
	return strings.Join(ls, "\n")
}

// FuzzLocate checks the locator against the library on any document the
// library accepts. The seeds run as part of go test; explore further with
// go test -fuzz FuzzLocate ./config/.
func FuzzLocate(f *testing.F) {
	f.Add(tricky)
	f.Add(lines(`[[provider]]`, `name = "ok"`, `sim.ttft = { p50 = "1s" }`, `[[model]]`, `name = "m"`))
	f.Add("a = [ [ 1 ], { b = 'c' } ]\n[x.y]\nz = 1979-05-27T07:32:00\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var tree map[string]any
		if _, err := toml.Decode(doc, &tree); err != nil {
			locate("t.toml", doc) // must still terminate
			return
		}
		checkTree(t, locate("t.toml", doc), doc, "", tree)
	})
}
