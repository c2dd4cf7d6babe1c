package history

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// full returns a record with every field set, distinct, and Errors of length n with a few non-zero entries.
func full(n int) Minute {
	m := Minute{
		Requests: 120, Probes: 2, Successes: 110, ProviderErrors: 6, UserErrors: 3, RateLimited: 1,
		LatencySum: 87 * time.Second, TTFTSum: 21*time.Second + 7*time.Nanosecond, TTFTCount: 109, OutputTokens: 33_000,
	}
	if n > 0 {
		m.Errors = make([]uint32, n)
		for i := 0; i < n; i += 3 {
			m.Errors[i] = uint32(i + 1)
		}
		m.Errors[n-1] = 9
	}
	return m
}

func TestValueRoundTrip(t *testing.T) {
	extremes := Minute{
		Requests: math.MaxUint32, Probes: math.MaxUint32, Successes: math.MaxUint32, ProviderErrors: math.MaxUint32,
		UserErrors: math.MaxUint32, RateLimited: math.MaxUint32, Errors: []uint32{math.MaxUint32, 0, math.MaxUint32},
		LatencySum: math.MaxInt64, TTFTSum: math.MinInt64, TTFTCount: math.MaxUint32, OutputTokens: math.MaxUint64,
	}
	allZeroErrors := full(0)
	allZeroErrors.Errors = make([]uint32, 15)
	tests := map[string]Minute{
		"zero":               {},
		"no errors":          full(0),
		"one class":          full(1),
		"fifteen classes":    full(15),
		"grown to forty":     full(40),
		"max classes":        full(maxErrorClasses),
		"all-zero errors":    allZeroErrors,
		"extremes":           extremes,
		"negative durations": {LatencySum: -time.Second, TTFTSum: -1},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			v := appendValue(nil, &want)
			var got Minute
			for _, a := range []*arena{nil, new(arena)} {
				if err := decodeValue(v, &got, a); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
				}
			}
		})
	}
}

func TestValueSize(t *testing.T) {
	m := full(0)
	m.Errors = make([]uint32, 15)
	m.Errors[1], m.Errors[5] = 4, 2 // a busy minute: timeouts and 5xx
	if n := len(appendValue(nil, &m)); n > 30 {
		t.Errorf("a busy record encodes to %d bytes, want at most 30", n)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := appendValue(nil, new(full(15)))
	withErrors := func(fields ...uint64) []byte { // a v1 record whose Errors section is fields
		b := []byte{recordV1, 1, 0, 1, 0, 0, 0}
		for _, f := range fields {
			b = binary.AppendUvarint(b, f)
		}
		return append(b, 0, 0, 0, 0)
	}
	tests := []struct {
		name, value, want string
	}{
		{"empty", "", "empty"},
		{"newer version", "\x02\x00", "record version 2 is newer"},
		{"version zero", "\x00", "unknown record version 0"},
		{"truncated", string(good[:len(good)-1]), "truncated"},
		{"trailing", string(good) + "\x00", "after the last field"},
		{"uint32 overflow", string(binary.AppendUvarint([]byte{recordV1}, math.MaxUint32+1)), "does not fit 32 bits"},
		{"too many classes", string(withErrors(maxErrorClasses+1, 0)), "error classes"},
		{"more non-zero than classes", string(withErrors(2, 3, 0, 1, 0, 1, 0, 1)), "error classes"},
		{"class beyond length", string(withErrors(3, 1, 3, 1)), "beyond the 3 stored"},
		{"second class beyond length", string(withErrors(3, 2, 1, 1, 1, 1)), "beyond the 3 stored"},
		{"huge gap", string(withErrors(3, 1, math.MaxUint64, 1)), "beyond the 3 stored"},
		{"overlong varint", "\x01" + strings.Repeat("\xff", 11), "overlong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Minute
			err := decodeValue([]byte(tt.value), &m, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decode(% x) = %v, want an error containing %q", tt.value, err, tt.want)
			}
		})
	}
}

func TestKeyOrderAndRoundTrip(t *testing.T) {
	keys := [][]byte{
		appendKey(nil, 0, 1),
		appendKey(nil, 1, 300),
		appendKey(nil, 2, 1),
		appendKey(nil, 2, 2),
		appendKey(nil, 256, 1),
		appendKey(nil, math.MaxUint32, math.MaxUint64),
	}
	for i, k := range keys {
		if i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			t.Errorf("key %d (% x) does not sort after key %d (% x)", i, k, i-1, keys[i-1])
		}
		m, num, err := parseKey(k)
		if err != nil || !bytes.Equal(appendKey(nil, m, num), k) {
			t.Errorf("parseKey(% x) = %d, %d, %v; does not round-trip", k, m, num, err)
		}
	}
	for _, bad := range []string{"", "\x00\x00\x00\x01", "\x00\x00\x00\x01\x80", "\x00\x00\x00\x01\x01\x01"} {
		if _, _, err := parseKey([]byte(bad)); err == nil {
			t.Errorf("parseKey(% x) accepted a bad key", bad)
		}
	}
}

// FuzzDecode checks that no input makes the decoders panic or allocate without bound, and that whatever
// decodes re-encodes to something that decodes the same.
func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 15, 40} {
		f.Add(appendValue(nil, new(full(n))))
	}
	f.Add([]byte{})
	f.Add([]byte{recordV1 + 1})
	f.Add(appendKey(nil, 29_000_000, 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseKey(b)
		var m Minute
		if err := decodeValue(b, &m, new(arena)); err != nil {
			return
		}
		if len(m.Errors) > maxErrorClasses {
			t.Fatalf("decoded %d error classes", len(m.Errors))
		}
		var again Minute
		if err := decodeValue(appendValue(nil, &m), &again, nil); err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("re-encoding changed the record:\n got %+v\nwant %+v", again, m)
		}
	})
}
