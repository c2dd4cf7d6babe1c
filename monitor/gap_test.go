package monitor

import (
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// Each success's longest gap between tokens goes into a 30-minute
// distribution, in the snapshot as Gap30m with the unit and the NoData of
// the other percentiles; failures, answers without a gap and
// outcomes older than 30 minutes are left out, and a gap under a
// millisecond counts as one.
func TestGapBetweenTokens(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	if st := status(t, m, "a"); st.Gap30m != noDurations || st.TTFT30m != noDurations || st.Latency != noDurations {
		t.Fatalf("no data: gap %+v, ttft %+v, latency %+v, want all NoData", st.Gap30m, st.TTFT30m, st.Latency)
	}
	ok := func(gap time.Duration) provider.Outcome {
		return provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: time.Second, OutputTokens: 20, MaxGap: gap}
	}
	m.Record("a", ok(200*time.Microsecond))
	clk.Advance(2 * time.Second) // the 30-minute figures are read at most once a second
	if st := status(t, m, "a"); st.Gap30m.P99 != time.Millisecond {
		t.Fatalf("a sub-millisecond gap: p99 %s, want 1ms", st.Gap30m.P99)
	}
	clk.Advance(31 * time.Minute) // out of the window
	for range 99 {
		m.Record("a", ok(50*time.Millisecond))
	}
	m.Record("a", ok(2*time.Second))
	m.Record("a", ok(0)) // one chunk of tokens: no gap
	stalled := ok(10 * time.Second)
	stalled.Class = provider.ClassStall
	m.Record("a", stalled)
	clk.Advance(2 * time.Second)
	st := status(t, m, "a")
	near := func(got, want time.Duration) bool { return got >= want*97/100 && got <= want*103/100 }
	if !near(st.Gap30m.P50, 50*time.Millisecond) || !near(st.Gap30m.P99, 50*time.Millisecond) {
		t.Errorf("99 gaps of 50ms and one of 2s: %+v, want p50 and p99 near 50ms", st.Gap30m)
	}
	m.Record("a", ok(2*time.Second))
	clk.Advance(2 * time.Second)
	if st := status(t, m, "a"); !near(st.Gap30m.P99, 2*time.Second) {
		t.Errorf("two gaps of 2s in 101: p99 %s, want near 2s", st.Gap30m.P99)
	}
}
