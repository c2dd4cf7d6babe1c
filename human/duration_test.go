package human

import (
	"math"
	"testing"
	"time"
)

// TestDuration covers each range of the rule, the roundings that cross from
// one range into the next, and the edges: zero, negative, the extremes.
func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1, "1ns"},
		{999, "999ns"},
		{time.Microsecond, "1µs"},
		{250*time.Microsecond + 400, "250µs"},
		{999*time.Microsecond + 600, "1ms"}, // rounds up into milliseconds
		{time.Millisecond, "1ms"},
		{459*time.Millisecond + 400*time.Microsecond, "459ms"},
		{459*time.Millisecond + 500*time.Microsecond, "460ms"},
		{999*time.Millisecond + 600*time.Microsecond, "1s"}, // not "1000ms"
		{time.Second, "1s"},
		{2*time.Second + 80*time.Millisecond, "2.08s"},
		{2*time.Second + 84*time.Millisecond, "2.08s"},
		{2*time.Second + 85*time.Millisecond, "2.09s"},
		{9*time.Second + 500*time.Millisecond, "9.5s"},
		{2 * time.Second, "2s"},
		{30 * time.Second, "30s"},
		{59*time.Second + 994*time.Millisecond, "59.99s"},
		{59*time.Second + 995*time.Millisecond, "1m"}, // not "60s"
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{90*time.Second + 400*time.Millisecond, "1m30s"},
		{5 * time.Minute, "5m"},
		{5*time.Minute + 1*time.Second, "5m1s"},
		{2 * time.Hour, "2h"},
		{time.Hour + 5*time.Second, "1h5s"},
		{time.Hour + 2*time.Minute + 5*time.Second, "1h2m5s"},
		{90 * time.Minute, "1h30m"},
		{48 * time.Hour, "48h"},
		{-1500 * time.Millisecond, "-1.5s"},
		{-5 * time.Minute, "-5m"},
		{math.MaxInt64, "2562047h47m16s"},
		{math.MinInt64, "-2562047h47m16s"},
	} {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%d) = %q, want %q", int64(c.d), got, c.want)
		}
	}
}

// TestDurationParses checks the promise that every rendering is valid input
// to time.ParseDuration and reads back within the rounding of its range.
func TestDurationParses(t *testing.T) {
	for _, d := range []time.Duration{0, 7, 1234, 250 * time.Microsecond, 459 * time.Millisecond,
		2080 * time.Millisecond, 9500 * time.Millisecond, 90 * time.Second, time.Hour + 5*time.Second,
		-1500 * time.Millisecond, 49*time.Hour + 59*time.Minute + 59*time.Second} {
		s := Duration(d)
		back, err := time.ParseDuration(s)
		if err != nil {
			t.Errorf("Duration(%v) = %q: %v", d, s, err)
			continue
		}
		if diff := (back - d).Abs(); diff > 5*time.Millisecond {
			t.Errorf("Duration(%v) = %q reads back as %v", d, s, back)
		}
	}
}
