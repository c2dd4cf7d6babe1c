package history

import (
	"fmt"
	"math"
	"time"
)

// Minute is one endpoint's outcomes during one whole minute.
type Minute struct {
	Endpoint       string    // endpoint id, e.g. "meta-llama/llama-3.3-70b-instruct@groq" (may contain '/', '@', ':')
	Start          time.Time // the minute's start, UTC, truncated to the minute
	Requests       uint32    // all finished attempts and probes
	Probes         uint32    // of which probes
	Successes      uint32
	ProviderErrors uint32        // count against availability
	UserErrors     uint32        // 400/413-style, not against availability
	RateLimited    uint32        // 429s, not against availability
	Errors         []uint32      // failures by class index (0..n-1); an empty slice reads back as nil
	LatencySum     time.Duration // sum of durations of successes (for a mean)
	TTFTSum        time.Duration // sum of time-to-first-token of successes
	TTFTCount      uint32        // successes that had a first token
	OutputTokens   uint64
}

// maxErrorClasses bounds len(Minute.Errors). The classes are provider.Class, a uint8; the bound also keeps a
// damaged record from asking the decoder for a huge allocation.
const maxErrorClasses = 256

// unixMinute returns the minute that contains t, counted from the Unix epoch. Keys hold it in 4 bytes, which
// lasts until the year 10136; times before 1970 are refused rather than wrapped.
func unixMinute(t time.Time) (uint32, error) {
	s := t.Unix()
	if s < 0 || s/60 > math.MaxUint32 {
		return 0, fmt.Errorf("minute start %s is outside the range a history key holds (1970 to year 10136)", t.Format(time.RFC3339))
	}
	return uint32(s / 60), nil
}

// firstMinuteAtOrAfter returns the first unix minute whose start is not before t, clamped to the key range.
// Since and pruning both use it, so Prune keeps exactly what Since(Now()-Retention) returns.
func firstMinuteAtOrAfter(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	m := uint64(s / 60)
	if time.Unix(int64(m)*60, 0).Before(t) {
		m++
	}
	return m
}

// minuteStart is the inverse of unixMinute: the UTC start of unix minute m.
func minuteStart(m uint32) time.Time {
	return time.Unix(int64(m)*60, 0).UTC()
}

// validate reports why m cannot be stored, naming the endpoint so the caller can find the bad aggregate.
func (m *Minute) validate() error {
	if m.Endpoint == "" {
		return fmt.Errorf("minute at %s has no endpoint id", m.Start.Format(time.RFC3339))
	}
	if m.Start.IsZero() {
		return fmt.Errorf("minute of %q has no start time", m.Endpoint)
	}
	if _, err := unixMinute(m.Start); err != nil {
		return fmt.Errorf("minute of %q: %w", m.Endpoint, err)
	}
	if len(m.Errors) > maxErrorClasses {
		return fmt.Errorf("minute of %q has %d error classes; at most %d are stored", m.Endpoint, len(m.Errors), maxErrorClasses)
	}
	return nil
}
