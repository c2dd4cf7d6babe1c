package monitor

import (
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// fuzzOutcomes records on m, on endpoint x, the outcomes that the bytes of
// b spell, two bytes each: the first picks a class (and a probe, and a
// pause between buckets), the second a duration.
func fuzzOutcomes(m *Monitor, clk *monitortest.Clock, b []byte) {
	for ; len(b) >= 2; b = b[2:] {
		k, d := b[0], time.Duration(b[1])*20*time.Millisecond
		o := provider.Outcome{Class: provider.Class(k % byte(provider.NumClasses)), Probe: k&0x40 != 0}
		switch o.Class {
		case provider.ClassOK:
			o.Duration, o.TTFT, o.MaxGap, o.OutputTokens = d, d/3, d/10, int(b[1]/4)
		case provider.ClassRateLimited:
			o.RetryAfter = d
		}
		m.Record("x", o)
		if k&0x80 != 0 {
			clk.Advance(m.Options().Bucket + d)
		}
	}
}

// FuzzMergeTally feeds MergeTally what another replica might send, or
// what a network might make of it: it never panics, and the monitor
// still reads out. And whatever a replica records, its tally merges
// without error into another, which then counts it all.
func FuzzMergeTally(f *testing.F) {
	clk := monitortest.NewClock()
	a := joined(f, clk, "a", "x", "y")
	fuzzOutcomes(a, clk, []byte{0, 10, 0, 20, 5, 0, 0x83, 1, 3, 0, 0x40, 4, 0, 200})
	a.Record("y", answer(time.Second))
	seed := a.TakeTally()
	b := joined(f, clk, "b", "x", "y")
	if err := b.MergeTally(seed); err != nil {
		f.Fatalf("the seed tally: %v", err)
	}
	for _, id := range []string{"x", "y"} {
		if got, want := b.Snapshot().Status(id).Requests, a.Snapshot().Status(id).Requests; got != want {
			f.Fatalf("the seed tally brought %d requests of %s, want %d", got, id, want)
		}
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{tallyVersion})
	f.Add([]byte{tallyVersion, 0})
	f.Add([]byte{2, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		clk := monitortest.NewClock()
		m := joined(t, clk, "m", "x", "y")
		_ = m.MergeTally(b) // an error is fine; a panic is not
		m.Snapshot()
		m.Minutes("x")
		if n, _ := m.OwnFigures(); n != 0 {
			t.Fatalf("a merged tally counts %d requests as this replica's own", n)
		}

		// A real tally of outcomes the input spells merges whole.
		src, dst := joined(t, clk, "src", "x"), joined(t, clk, "dst", "x")
		fuzzOutcomes(src, clk, b)
		if err := dst.MergeTally(src.TakeTally()); err != nil {
			t.Fatalf("a replica's own tally: %v", err)
		}
		if got, want := status(t, dst, "x"), status(t, src, "x"); got.Requests != want.Requests ||
			got.Successes != want.Successes || got.ProviderErrors != want.ProviderErrors || got.TTFT != want.TTFT {
			t.Fatalf("merged %d requests, %d successes, %d provider errors, TTFT %v; recorded %d, %d, %d, %v",
				got.Requests, got.Successes, got.ProviderErrors, got.TTFT, want.Requests, want.Successes, want.ProviderErrors, want.TTFT)
		}
	})
}
