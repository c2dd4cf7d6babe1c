package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// Throughput is output tokens over the whole answer, the time to the first
// token included, as OpenRouter counts it.
func TestThroughputDefinition(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		tokens   int
		ttft     time.Duration
		duration time.Duration
		want     float64 // tokens per second; -1: not timed
	}{
		{"first token included", 100, 200 * ms, 1200 * ms, 100 / 1.2},
		{"no first token measured", 100, 0, time.Second, 100},
		{"a fast provider's 8-token probe", 8, 180 * ms, 184 * ms, 8 / 0.184},
		{"all tokens in one write after the first", 8, 200 * ms, 200 * ms, 40},
		{"a short answer on loopback", 8, ms, 1500 * time.Microsecond, 8 / 0.0015},
		{"one token is a latency, not a speed", 1, 100 * ms, 100 * ms, -1},
		{"no tokens", 0, 100 * ms, 300 * ms, -1},
		{"no duration", 50, 0, 0, -1},
	}
	for _, tt := range tests {
		got, ok := throughput(provider.Outcome{Class: provider.ClassOK, OutputTokens: tt.tokens, TTFT: tt.ttft, Duration: tt.duration})
		if !ok {
			got = -1
		}
		if math.Abs(got-tt.want) > 1e-9*max(1, tt.want) {
			t.Errorf("%s: %d tokens, ttft %s, duration %s: %v tokens/s, want %v", tt.name, tt.tokens, tt.ttft, tt.duration, got, tt.want)
		}
	}
}

// speed records a success of tokens over one second.
func speed(tokens int) provider.Outcome {
	return provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: time.Second, OutputTokens: tokens}
}

// Throughput percentiles are read from the slow side, as OpenRouter's p90
// means "the speed 90% of requests reach": p99 <= p90 <= p50.
func TestThroughputPercentilesFromTheSlowSide(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	for v := 10; v <= 100; v += 10 { // ten requests at each of 10, 20, ..., 100 tokens/s
		for range 10 {
			m.Record("a", speed(v))
		}
	}
	st := status(t, m, "a")
	// 90 of the 100 reach 20 tokens/s, all reach 10, 75 reach 30, half 60.
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", st.Throughput.P50, 60}, {"p75", st.Throughput.P75, 30}, {"p90", st.Throughput.P90, 20},
		{"p95", st.Throughput.P95, 10}, {"p99", st.Throughput.P99, 10},
		{"p90 over 30m", st.Throughput30m.P90, 20},
	} {
		if math.Abs(c.got-c.want) > 0.02*c.want {
			t.Errorf("%s = %v tokens/s, want %v", c.name, c.got, c.want)
		}
	}
}

// On a realistic spread of speeds each percentile is within the histogram's
// precision of the exact "speed that share of requests reaches".
func TestThroughputPercentilesCloseToExact(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	r := rand.New(rand.NewPCG(3, 4))
	var vs []float64
	for range 5000 {
		tokens := int(200 * math.Exp(r.NormFloat64()*0.5)) // log-normal around 200 tokens/s
		vs = append(vs, float64(tokens))
		m.Record("a", speed(tokens))
	}
	slices.Sort(vs)
	slices.Reverse(vs) // fastest first: the k-th is what k requests reach
	st := status(t, m, "a")
	r5 := st.Throughput
	if !(r5.P99 <= r5.P95 && r5.P95 <= r5.P90 && r5.P90 <= r5.P75 && r5.P75 <= r5.P50) {
		t.Fatalf("throughput %+v: want p99 <= p95 <= p90 <= p75 <= p50", r5)
	}
	for _, c := range []struct {
		got   float64
		share float64
	}{{r5.P50, 0.5}, {r5.P75, 0.75}, {r5.P90, 0.9}, {r5.P95, 0.95}, {r5.P99, 0.99}} {
		exact := vs[int(math.Ceil(c.share*float64(len(vs))))-1]
		if rel := math.Abs(c.got-exact) / exact; rel > 0.02 {
			t.Errorf("speed %.0f%% of requests reach = %v, exact %v (off by %.1f%%)", 100*c.share, c.got, exact, 100*rel)
		}
	}
}

// An idle endpoint's speed comes from its probes; once real answers
// arrive, they alone speak for it (its distributions and its EWMAs): an 8-token probe is mostly its time to
// first token and would pull throughput far under a real answer's, and
// its latency under what a real answer takes; a look, sent when an
// attempt went unanswered past its norm, comes when the endpoint is
// slowest, and its first token would raise the norm past the late first
// tokens it is there to cut.
func TestProbesTimeOnlyAnIdleEndpoint(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	probe := provider.Outcome{Class: provider.ClassOK, Probe: true, OutputTokens: 8, TTFT: 190 * time.Millisecond, Duration: 200 * time.Millisecond}
	for range 5 {
		m.Record("a", probe) // 40 tokens/s
	}
	// near: the histograms' buckets are a few percent wide.
	near := func(d, want time.Duration) bool { return math.Abs(float64(d-want)) < 0.05*float64(want) }
	if st := status(t, m, "a"); math.Abs(st.Throughput.P50-40) > 1 || !near(st.TTFT.P50, 190*time.Millisecond) || !near(st.Latency.P50, 200*time.Millisecond) {
		t.Fatalf("idle, probed: throughput p50 %v, first token %s, latency %s; want 40, 190ms and 200ms from the probes",
			st.Throughput.P50, st.TTFT.P50, st.Latency.P50)
	}
	clk.Advance(5 * time.Minute) // the probes' minutes leave the 5-minute figures
	late := probe
	late.TTFT, late.Duration = 8*time.Second, 8*time.Second+10*time.Millisecond
	for range 12 { // enough for the EWMAs to come within 5% of the answers' figures
		m.Record("a", provider.Outcome{Class: provider.ClassOK, OutputTokens: 400, TTFT: 200 * time.Millisecond, Duration: time.Second})
		m.Record("a", probe)
		m.Record("a", late)
	}
	st := status(t, m, "a")
	if math.Abs(st.Throughput.P50-400) > 8 || math.Abs(st.Throughput.P99-400) > 8 {
		t.Fatalf("with real answers: throughput p50 %v, p99 %v; want 400 from the answers alone", st.Throughput.P50, st.Throughput.P99)
	}
	if !near(st.TTFT.P99, 200*time.Millisecond) || !near(st.Latency.P50, time.Second) || !near(st.TTFT30m.P99, 200*time.Millisecond) {
		t.Fatalf("with real answers: first token p99 %s (30m %s), latency p50 %s; want 200ms and 1s from the answers alone",
			st.TTFT.P99, st.TTFT30m.P99, st.Latency.P50)
	}
	// The EWMAs too: a late look, counted, made the endpoint "slow" at once
	// (its EWMA 2.1s against a 200ms median), on a first token no real
	// answer had.
	if !near(st.EWMATTFT, 200*time.Millisecond) || !near(st.EWMALatency, time.Second) || st.State != Healthy {
		t.Fatalf("with real answers: EWMA first token %s, latency %s, state %s (%s); want 200ms and 1s from the answers alone, healthy",
			st.EWMATTFT, st.EWMALatency, st.State, st.Reason)
	}
}
