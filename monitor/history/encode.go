package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// A record's key is the 4-byte big-endian unix minute followed by the uvarint endpoint number (see endpoints.go).
// Big-endian minutes first make bbolt's byte order the time order, so a time range is one seek and a forward scan.
//
// A record's value starts with a version byte. Version 1 is, in order:
//
//	uvarint Requests, Probes, Successes, ProviderErrors, UserErrors, RateLimited
//	uvarint len(Errors), uvarint count of non-zero entries, then per non-zero entry
//	        uvarint (index - previous index - 1) and uvarint count
//	varint  LatencySum, TTFTSum (nanoseconds; signed so that any Duration round-trips)
//	uvarint TTFTCount, OutputTokens
//
// Errors is sparse because a busy minute has one or two failing classes out of fifteen. A busy record is about
// 30 bytes. A new field means a new version: the decoder refuses versions it does not know instead of guessing.
const recordV1 = 1

// keyMinuteLen is the length of a key's minute prefix.
const keyMinuteLen = 4

// corruptError marks a failure caused by the file's content rather than by the system, so that the message can
// advise moving the file aside.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// corrupt formats a corruptError.
func corrupt(format string, args ...any) error {
	return &corruptError{fmt.Errorf(format, args...)}
}

// isCorrupt reports whether err comes from the file's content.
func isCorrupt(err error) bool {
	var c *corruptError
	return errors.As(err, &c)
}

// appendKey appends the key of endpoint number num at unix minute m to dst.
func appendKey(dst []byte, m uint32, num uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, m)
	return binary.AppendUvarint(dst, num)
}

// parseKey splits a key into its unix minute and endpoint number.
func parseKey(k []byte) (m uint32, num uint64, err error) {
	if len(k) <= keyMinuteLen {
		return 0, 0, corrupt("key of %d bytes is too short", len(k))
	}
	num, n := binary.Uvarint(k[keyMinuteLen:])
	if n <= 0 || keyMinuteLen+n != len(k) {
		return 0, 0, corrupt("key % x has a bad endpoint number", k)
	}
	return binary.BigEndian.Uint32(k), num, nil
}

// appendValue appends the current encoding of m's counters to dst. The endpoint and start live in the key.
func appendValue(dst []byte, m *Minute) []byte {
	dst = append(dst, recordV1)
	for _, v := range [...]uint32{m.Requests, m.Probes, m.Successes, m.ProviderErrors, m.UserErrors, m.RateLimited} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Errors)))
	nonZero := 0
	for _, v := range m.Errors {
		if v != 0 {
			nonZero++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(nonZero))
	prev := -1
	for i, v := range m.Errors {
		if v == 0 {
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(i-prev-1))
		dst = binary.AppendUvarint(dst, uint64(v))
		prev = i
	}
	dst = binary.AppendVarint(dst, int64(m.LatencySum))
	dst = binary.AppendVarint(dst, int64(m.TTFTSum))
	dst = binary.AppendUvarint(dst, uint64(m.TTFTCount))
	return binary.AppendUvarint(dst, m.OutputTokens)
}

// decodeValue fills m's counters from v. It never panics and never allocates more than maxErrorClasses entries,
// whatever v holds. Errors slices come from a when it is not nil.
func decodeValue(v []byte, m *Minute, a *arena) error {
	if len(v) == 0 {
		return corrupt("empty value")
	}
	if v[0] != recordV1 {
		if v[0] > recordV1 {
			return fmt.Errorf("record version %d is newer than this Switchboard reads (up to %d); upgrade Switchboard or move the history file aside", v[0], recordV1)
		}
		return corrupt("unknown record version %d", v[0])
	}
	r := reader{b: v[1:]}
	m.Requests = r.uint32("requests")
	m.Probes = r.uint32("probes")
	m.Successes = r.uint32("successes")
	m.ProviderErrors = r.uint32("provider errors")
	m.UserErrors = r.uint32("user errors")
	m.RateLimited = r.uint32("rate limited")
	m.Errors = r.errors(a)
	m.LatencySum = time.Duration(r.varint())
	m.TTFTSum = time.Duration(r.varint())
	m.TTFTCount = r.uint32("TTFT count")
	m.OutputTokens = r.uvarint()
	if r.err == nil && len(r.b) != 0 {
		r.err = corrupt("%d bytes after the last field", len(r.b))
	}
	return r.err
}

// reader decodes varints from a byte slice. The first failure sticks, so decodeValue reads like the layout and
// checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = corrupt("truncated or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = corrupt("truncated or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32(field string) uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 && r.err == nil {
		r.err = corrupt("%s %d does not fit 32 bits", field, v)
	}
	return uint32(v)
}

// errors decodes the sparse Errors layout, checking every index against the stored length.
func (r *reader) errors(a *arena) []uint32 {
	n := r.uvarint()
	nonZero := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxErrorClasses || nonZero > n {
		r.err = corrupt("%d error classes with %d non-zero", n, nonZero)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := a.take(int(n))
	i := uint64(0)
	for j := uint64(0); j < nonZero; j++ {
		gap := r.uvarint()
		count := r.uint32("error count")
		if r.err != nil {
			return nil
		}
		if gap >= n-i { // i <= n here, so this also keeps i+gap from overflowing
			r.err = corrupt("an error class beyond the %d stored", n)
			return nil
		}
		i += gap
		out[i] = count
		i++
	}
	return out
}

// arena hands out Errors slices carved from large blocks, so that reading a day of 72k records costs a few dozen
// allocations instead of one per record. Each slice is capped at its length, so appending to one record's Errors
// cannot overwrite its neighbour's.
type arena struct {
	block []uint32
}

// arenaBlock is the number of entries per block: about a thousand 15-class records.
const arenaBlock = 16 << 10

func (a *arena) take(n int) []uint32 {
	if a == nil {
		return make([]uint32, n)
	}
	if n > len(a.block) {
		a.block = make([]uint32, max(n, arenaBlock))
	}
	s := a.block[:n:n]
	a.block = a.block[n:]
	return s
}
