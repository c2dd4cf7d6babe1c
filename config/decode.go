package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder turns the generic tree BurntSushi/toml produces into typed values,
// collecting every problem with its position instead of stopping at the first.
type decoder struct {
	loc  *locator
	errs Errors
}

func (d *decoder) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Msg: clip(fmt.Sprintf(format, args...))})
}

// table is one TOML table being read. Every key the code asks for, present or
// not, becomes a known key; whatever is left at the end is unknown.
type table struct {
	d     *decoder
	path  path
	name  string // dotted name for messages: "provider.sim"
	m     map[string]any
	known []string
	// hints explains unknown keys people are likely to write here, e.g.
	// OpenRouter's spelling of a key this table names differently.
	hints map[string]string
}

func (t *table) childName(key string) string {
	if t.name == "" {
		return key
	}
	return t.name + "." + key
}

// pos is where the table itself is written: its header, the opening brace of
// an inline table, or the key that created it.
func (t *table) pos() Pos { return t.d.loc.valPos(t.path) }

func (t *table) keyPos(key string) Pos { return t.d.loc.keyPos(t.path.key(key)) }
func (t *table) valPos(key string) Pos { return t.d.loc.valPos(t.path.key(key)) }

func (t *table) get(key string) (any, bool) {
	if !slices.Contains(t.known, key) {
		t.known = append(t.known, key)
	}
	v, ok := t.m[key]
	return v, ok
}

// has reports whether key is present, and makes it known.
func (t *table) has(key string) bool {
	_, ok := t.get(key)
	return ok
}

// bad reports a problem with the value of key.
func (t *table) bad(key, format string, args ...any) {
	t.d.errorf(t.valPos(key), "%s %s", t.childName(key), fmt.Sprintf(format, args...))
}

// finish reports every key that no code asked for.
func (t *table) finish() {
	var unknown []string
	for k := range t.m {
		if !slices.Contains(t.known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := fmt.Sprintf("unknown key %s", t.childName(k))
		if h, ok := t.hints[k]; ok {
			msg += "; " + h
		} else if s := suggest(k, t.known); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		} else {
			msg += fmt.Sprintf("; the keys allowed here are %s", strings.Join(t.known, ", "))
		}
		t.d.errorf(t.keyPos(k), "%s", msg)
	}
}

// str reads a string.
func (t *table) str(key string) (string, bool) {
	v, ok := t.get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.bad(key, "must be a string in double quotes, not %s; write %s = \"...\"", typeName(v), key)
		return "", false
	}
	return s, true
}

// boolean reads true or false.
func (t *table) boolean(key string) (bool, bool) {
	v, ok := t.get(key)
	if !ok {
		return false, false
	}
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		if w := strings.ToLower(strings.TrimSpace(v)); w == "true" || w == "false" {
			t.bad(key, "must be true or false, not a string; remove the quotes: %s = %s", key, w)
			return false, false
		}
	}
	t.bad(key, "must be true or false, not %s; write %s = true or %s = false", typeName(v), key, key)
	return false, false
}

// strs reads an array of strings and calls each with every string element
// and its index, in order; elements of another type are reported. It returns
// false when key is absent or not an array.
func (t *table) strs(key, example string, each func(i int, s string)) bool {
	v, ok := t.get(key)
	if !ok {
		return false
	}
	arr, isArr := v.([]any)
	if !isArr {
		if s, isStr := v.(string); isStr {
			t.bad(key, "must be an array of strings, not a string; put it in brackets: %s = [%q]", key, s)
		} else {
			t.bad(key, "must be an array of strings, not %s; write for example %s = %s", typeName(v), key, example)
		}
		return false
	}
	for i, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			t.d.errorf(t.elemPos(key, i), "%s[%d] must be a string in double quotes, not %s; write for example %s = %s",
				t.childName(key), i, typeName(e), key, example)
			continue
		}
		each(i, s)
	}
	return true
}

// names reads an array of names: strings that are neither empty nor listed
// twice. what describes one for messages, e.g. `a parameter name such as
// "tools"`. It calls each with every other name and its index.
func (t *table) names(key, example, what string, each func(i int, s string)) bool {
	seen := map[string]int{}
	return t.strs(key, example, func(i int, s string) {
		if s == "" {
			t.d.errorf(t.elemPos(key, i), "%s[%d] is empty; write %s, or remove it", t.childName(key), i, what)
			return
		}
		if first, dup := seen[s]; dup {
			t.d.errorf(t.elemPos(key, i), "%s[%d] %q is listed twice (first at [%d]); remove one", t.childName(key), i, s, first)
			return
		}
		seen[s] = i
		each(i, s)
	})
}

// duration reads a duration written as a Go duration string. Negative
// durations are refused.
func (t *table) duration(key string) (time.Duration, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	const hint = `write a Go duration such as "4m" or "250ms"`
	switch v := v.(type) {
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			t.bad(key, "%q is not a duration; %s", v, hint)
			return 0, false
		}
		if dur < 0 {
			t.bad(key, "%q is negative; write a duration of zero or more, such as \"5s\"", v)
			return 0, false
		}
		return dur, true
	case int64:
		t.bad(key, "must be a duration in quotes, with a unit; write %s = \"%ds\" for %d seconds", key, v, v)
	default:
		t.bad(key, "must be a duration string, not %s; %s", typeName(v), hint)
	}
	return 0, false
}

// float reads a finite number; integers are accepted.
func (t *table) float(key, example string) (float64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.bad(key, "must be a finite number; write for example %s = %s", key, example)
			return 0, false
		}
		return v, true
	case string:
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			t.bad(key, "must be a number, not a string; remove the quotes: %s = %s", key, strings.TrimSpace(v))
			return 0, false
		}
	}
	t.bad(key, "must be a number, not %s; write for example %s = %s", typeName(v), key, example)
	return 0, false
}

// nonNegative reads a number that is zero or more.
func (t *table) nonNegative(key, example string) (float64, bool) {
	f, ok := t.float(key, example)
	if ok && f < 0 {
		t.bad(key, "is %v but must not be negative; write for example %s = %s", f, key, example)
		return 0, false
	}
	return f, ok
}

// rate reads a fraction in [0, 1].
func (t *table) rate(key, example string) (float64, bool) {
	f, ok := t.float(key, example)
	if !ok {
		return 0, false
	}
	if f < 0 || f > 1 {
		hint := fmt.Sprintf("write a fraction between 0 and 1, for example %s = %s", key, example)
		if f > 1 && f <= 100 {
			hint = fmt.Sprintf("it is a fraction, not a percentage: write %s = %s for %v%%", key, strconv.FormatFloat(f/100, 'f', -1, 64), f)
		}
		t.bad(key, "is %v, outside [0, 1]; %s", f, hint)
		return 0, false
	}
	return f, true
}

// integer reads a whole number.
func (t *table) integer(key, example string) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	switch v := v.(type) {
	case int64:
		return v, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			t.bad(key, "must be a whole number; write %s = %d", key, int64(v))
			return 0, false
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			t.bad(key, "must be a number, not a string; remove the quotes: %s = %d", key, n)
			return 0, false
		}
	}
	t.bad(key, "must be a whole number, not %s; write for example %s = %s", typeName(v), key, example)
	return 0, false
}

// count reads a whole number that is zero or more.
func (t *table) count(key, example string) (int64, bool) {
	n, ok := t.integer(key, example)
	if ok && n < 0 {
		t.bad(key, "is %d but must not be negative; write for example %s = %s", n, key, example)
		return 0, false
	}
	return n, ok
}

// integers reads an array of whole numbers.
func (t *table) integers(key, example string) ([]int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		t.bad(key, "must be an array of whole numbers, not %s; write for example %s = %s", typeName(v), key, example)
		return nil, false
	}
	out := make([]int64, 0, len(arr))
	good := true
	for i, e := range arr {
		n, isInt := e.(int64)
		if !isInt {
			t.d.errorf(t.d.loc.valPos(t.path.key(key).index(i)),
				"%s[%d] must be a whole number, not %s; write for example %s = %s", t.childName(key), i, typeName(e), key, example)
			good = false
			continue
		}
		out = append(out, n)
	}
	return out, good
}

// elemPos is where element i of the array at key starts.
func (t *table) elemPos(key string, i int) Pos { return t.d.loc.valPos(t.path.key(key).index(i)) }

// sub reads a table (a [header] table, an inline table, or dotted keys).
func (t *table) sub(key, example string) (*table, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.bad(key, "must be a table, not %s; write for example %s", typeName(v), example)
		return nil, false
	}
	return &table{d: t.d, path: t.path.key(key), name: t.childName(key), m: m}, true
}

// tables reads an array of tables, written either as [[header]] tables or as
// an array of inline tables.
func (t *table) tables(key, example string) ([]*table, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	var ms []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		ms = v
	case []any:
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				t.d.errorf(t.elemPos(key, i), "%s[%d] must be a table, not %s; write for example %s",
					t.childName(key), i, typeName(e), example)
				return nil, false
			}
			ms = append(ms, m)
		}
	default:
		t.bad(key, "must be an array of tables, not %s; write for example %s", typeName(v), example)
		return nil, false
	}
	out := make([]*table, len(ms))
	for i, m := range ms {
		out[i] = &table{d: t.d, path: t.path.key(key).index(i), name: t.childName(key), m: m}
	}
	return out, true
}

// typeName describes a decoded TOML value for a message, without its value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "true or false"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}
