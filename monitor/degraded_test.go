package monitor

import (
	"math"
	"strings"
	"testing"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// Known Wilson score bounds at z = 1.96: the first five are Newcombe's
// (Statistics in Medicine 17, 1998, table I, method 3); a lower bound is
// read as one minus the upper bound of the failures.
func TestWilsonUpper(t *testing.T) {
	tests := []struct {
		successes, n int
		want         float64
	}{
		{81, 263, 0.3662},
		{15, 148, 0.1605},
		{0, 20, 0.1611},
		{1, 29, 0.1718},
		{29, 29, 1},
		{263 - 81, 263, 1 - 0.2553}, // Newcombe's lower bounds
		{148 - 15, 148, 1 - 0.0624},
		{29 - 1, 29, 1 - 0.0061},
		{0, 29, 1 - 0.8830},
		{0, 10, 0.2775},
		{5, 10, 0.7634},
		{19, 20, 0.9911}, // one error in 20: 99% is still plausible
		{50, 60, 0.9069}, // ten in 60: even the best case is under 95%
		{0, 0, 1},        // no answers rule nothing out
	}
	for _, tt := range tests {
		if got := wilsonUpper(tt.successes, tt.n); math.Abs(got-tt.want) > 5e-5 {
			t.Errorf("wilsonUpper(%d, %d) = %.5f, want %.4f", tt.successes, tt.n, got, tt.want)
		}
	}
}

// recordMix records successes and server errors in one instant, the errors
// spread evenly, so that neither outage rule (errors in a row, availability
// over the outage window) applies on the way.
func recordMix(m *Monitor, id string, successes, errors int) {
	n := successes + errors
	for i := range n {
		o := ok200()
		if (i+1)*errors/n > i*errors/n {
			o = fail(provider.ClassServer)
		}
		m.Record(id, o)
	}
}

// One error among a few answers is no evidence that availability is under
// 95%: the endpoint stays healthy and in the weighted draw.
func TestOneErrorOnThinEvidenceIsNotDegraded(t *testing.T) {
	for _, n := range []int{10, 20, 40} {
		m := newTestMonitor(t, monitortest.NewClock(), "a")
		recordMix(m, "a", n-1, 1)
		if st := status(t, m, "a"); st.State != Healthy {
			t.Errorf("one error in %d answers: %s (%s), want healthy", n, st.State, st.Reason)
		}
	}
}

// Ten errors in 60 answers are: even the best the sample leaves plausible
// (91%) is under 95%. The reason says so with the figures.
func TestClearlyBadSampleIsDegraded(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	recordMix(m, "a", 50, 10)
	st := status(t, m, "a")
	want := "degraded: availability 83% over 5m (60 answers: at most 91% with 95% confidence, under 95%)"
	if st.State != Degraded || st.Reason != want {
		t.Fatalf("10 errors in 60: %s (%q), want degraded (%q)", st.State, st.Reason, want)
	}
	if ev := m.Snapshot().Events; len(ev) != 1 || ev[0].Kind != EventDegradedStarted || "degraded: "+ev[0].Detail != want {
		t.Errorf("events %+v, want one degraded event with the reason", ev)
	}
}

// A degraded endpoint recovers once its bound climbs a margin above the
// threshold, not as soon as it touches it: between the two it stays
// degraded, and says what it waits for.
func TestDegradedRecoversWithHysteresis(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	recordMix(m, "a", 50, 10)
	o := m.Options()
	successes, band := 50, false
	for st := status(t, m, "a"); st.State == Degraded; st = status(t, m, "a") {
		upper := wilsonUpper(successes, successes+10)
		if upper >= o.DegradedBelow+degradedMargin {
			t.Fatalf("still degraded at a bound of %.4f, over %v (%s)", upper, o.DegradedBelow+degradedMargin, st.Reason)
		}
		if upper >= o.DegradedBelow {
			band = true
			if !strings.Contains(st.Reason, "with 95% confidence, not yet back to 96%") {
				t.Errorf("in the margin, the reason %q does not say what recovery waits for", st.Reason)
			}
		}
		m.Record("a", ok200())
		successes++
	}
	if upper := wilsonUpper(successes, successes+10); !band || upper < o.DegradedBelow+degradedMargin {
		t.Fatalf("healthy at a bound of %.4f (margin seen: %v); want it at %v or more, after a stay in the margin",
			upper, band, o.DegradedBelow+degradedMargin)
	}
	if got := kinds(m.Snapshot(), "a"); strings.Join(got, " ") != "degraded recovered" {
		t.Errorf("events %v, want one degraded and one recovered", got)
	}
}

func TestPercentFigures(t *testing.T) {
	for _, tt := range []struct {
		v, threshold float64
		want         string
	}{
		{0.9311, 0.95, "93%"},
		{0.9496, 0.95, "94.96%"}, // not "95%, under 95%"
		{0.95, 0.9496, "95.00%"},
		{0.955, 0.96, "95.5%"},
		{0.94999, 0.95, "95.00%"}, // two decimals at most
	} {
		if got := percentApart(tt.v, tt.threshold); got != tt.want {
			t.Errorf("percentApart(%v, %v) = %q, want %q", tt.v, tt.threshold, got, tt.want)
		}
	}
	for _, tt := range []struct {
		threshold float64
		want      string
	}{{0.95, "95%"}, {0.95 + 0.01, "96%"}, {0.955, "95.5%"}, {0.8, "80%"}} {
		if got := percent(tt.threshold); got != tt.want {
			t.Errorf("percent(%v) = %q, want %q", tt.threshold, got, tt.want)
		}
	}
}
