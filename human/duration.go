// Package human writes figures the way people read them in prose: in the
// reasons of a trace, the health of an endpoint, error messages and the
// configuration's messages.
package human

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration writes d for a sentence, to the precision a reader compares at
// its size:
//
//   - under a second, whole milliseconds: "459ms"; under a millisecond,
//     whole microseconds ("250µs"), and under a microsecond nanoseconds
//     ("12ns"), so that a configured value is never shown as something else;
//   - under a minute, seconds to at most two decimals without trailing
//     zeros: "2.08s", "9.5s", "30s";
//   - from a minute, whole seconds in hours, minutes and seconds, leaving
//     out the units that are zero: "5m", "1m30s", "2h", "1h5s".
//
// d is rounded before its unit is chosen, so 999.6ms reads "1s", not
// "1000ms". Zero reads "0s" and a negative duration reads as its size after
// a minus sign. Every result is valid input to time.ParseDuration, so a
// message can suggest a value that the configuration accepts as written.
func Duration(d time.Duration) string {
	if d < 0 {
		if d == math.MinInt64 {
			d++ // -d would overflow; a nanosecond is lost at 292 years
		}
		return "-" + Duration(-d)
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
	if r := d.Round(time.Microsecond); r < time.Millisecond {
		return strconv.FormatInt(int64(r/time.Microsecond), 10) + "µs"
	}
	if r := d.Round(time.Millisecond); r < time.Second {
		return strconv.FormatInt(int64(r/time.Millisecond), 10) + "ms"
	}
	if r := d.Round(10 * time.Millisecond); r < time.Minute {
		s := strconv.FormatInt(int64(r/time.Second), 10)
		if cents := r % time.Second / (10 * time.Millisecond); cents > 0 {
			s += strings.TrimRight("."+strconv.FormatInt(100+int64(cents), 10)[1:], "0")
		}
		return s + "s"
	}
	r := d.Round(time.Second)
	h, m, s := r/time.Hour, r%time.Hour/time.Minute, r%time.Minute/time.Second
	var b strings.Builder
	for _, u := range []struct {
		n    time.Duration
		unit string
	}{{h, "h"}, {m, "m"}, {s, "s"}} {
		if u.n > 0 {
			b.WriteString(strconv.FormatInt(int64(u.n), 10) + u.unit)
		}
	}
	return b.String()
}
