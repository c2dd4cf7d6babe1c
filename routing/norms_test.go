package routing

import (
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// Each limit is min(cap, max(floor, factor x p99)) while something else
// could take over and the endpoint has a norm; the cap otherwise. The why
// names the limit and what it came from.
func TestNormDeadline(t *testing.T) {
	ms := time.Millisecond
	caps := Timeouts{FirstToken: 30 * time.Second, Stall: 15 * time.Second}
	n := norm{factor: 3, floor: 3 * time.Second}
	known := &monitor.EndpointStatus{TTFT30m: monitor.Percentiles{P99: 1400 * ms}, Gap30m: monitor.Percentiles{P99: 80 * ms}}
	tests := []struct {
		name            string
		st              *monitor.EndpointStatus
		caps            Timeouts
		others, carryOn bool
		first, stall    time.Duration
		norm            bool
		why             string
	}{
		{"its norms", known, caps, true, true, 4200 * ms, 3 * time.Second, true,
			"first token within 4.2s: 3× its p99 1.4s (30m); silence at most 3s: the floor, over 3× its p99 gap between tokens 80ms (30m)"},
		{"nothing else could take over", known, caps, false, false, caps.FirstToken, caps.Stall, false,
			"the caps: nothing else could take over"},
		{"nothing could carry on after a stall", known, caps, true, false, 4200 * ms, caps.Stall, true,
			"first token within 4.2s: 3× its p99 1.4s (30m)"},
		{"no history", &monitor.EndpointStatus{}, caps, true, true, caps.FirstToken, caps.Stall, false,
			"the caps: no history in 30m"},
		{"unknown to the monitor", nil, caps, true, true, caps.FirstToken, caps.Stall, false,
			"the caps: no history in 30m"},
		{"a norm past the cap", &monitor.EndpointStatus{TTFT30m: monitor.Percentiles{P99: 12 * time.Second}}, caps, true, true,
			caps.FirstToken, caps.Stall, false,
			"the caps: not shorter than 3× its p99 12s (30m) (first token), no history in 30m (stall)"},
		{"a floor past the cap", known, Timeouts{FirstToken: 2 * time.Second, Stall: 2 * time.Second}, true, true,
			2 * time.Second, 2 * time.Second, false, "the caps: the floor 3s is not shorter"},
	}
	for _, tt := range tests {
		d := inputsOf(tt.st, tt.caps, n, tt.others, tt.carryOn).deadline()
		if d.FirstToken != tt.first || d.Stall != tt.stall || d.Norm != tt.norm || d.Why != tt.why {
			t.Errorf("%s: %+v\nwant first %s, stall %s, norm %v, why %q", tt.name, d, tt.first, tt.stall, tt.norm, tt.why)
		}
	}
	huge := norm{factor: 1e300, floor: time.Second}
	if d := inputsOf(known, caps, huge, true, true).deadline(); d.FirstToken != caps.FirstToken || d.Stall != caps.Stall {
		t.Errorf("a huge factor: %+v, want the caps", d)
	}
}

// normFleet routes model "m" to a simulated provider per profile, in the
// order given (provider.order), with the norms given.
func normFleet(t *testing.T, factor float64, floor time.Duration, profiles ...sim.Profile) (*fleet, map[string]*sim.Server) {
	t.Helper()
	f := &fleet{clk: monitortest.NewClock()}
	srvs := map[string]*sim.Server{}
	var meps []monitor.Endpoint
	var reps []Endpoint
	var order []string
	for _, p := range profiles {
		srv := simtest.Start(t, p)
		srvs[p.Name] = srv
		meps = append(meps, monitor.Endpoint{ID: "m@" + p.Name, Provider: p.Name, Model: "m"})
		reps = append(reps, Endpoint{ID: "m@" + p.Name, Provider: p.Name, Model: "m", UpstreamModel: "m",
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})})
		order = append(order, p.Name)
	}
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clk}, meps); err != nil {
		t.Fatal(err)
	}
	if f.router, err = New(Options{Endpoints: reps, Health: f.mon, Clock: f.clk, Seed: 1, NormFactor: factor, NormFloor: floor,
		Defaults: map[string]ModelDefaults{"m": {Provider: Preferences{Order: order}}}}); err != nil {
		t.Fatal(err)
	}
	return f, srvs
}

// history sends n requests to provider p alone, so that the monitor learns
// its norms from real answers, and moves the monitor's clock past the
// second for which its 30-minute figures are kept. They stream, with no
// endpoint to carry them on: a slow moment on a busy machine cannot cut
// one at a stall norm learnt from the ones before.
func (f *fleet) history(t *testing.T, p string, n int) {
	t.Helper()
	for range n {
		req := ask("hello")
		req.MaxTokens = 5
		req.Provider.Only = []string{p}
		if _, err := f.router.Send(t.Context(), req, func(Delta) {}); err != nil {
			t.Fatalf("history of %s: %v", p, err)
		}
	}
	f.clk.Advance(2 * time.Second)
}

// An endpoint far past its own normal time to first token is abandoned at
// its norm, well before the cap, while another can answer; without
// history, the cap applies and the slow endpoint is waited for.
func TestFirstTokenDeadlineFromTheNorm(t *testing.T) {
	// The factor leaves room for a busy machine: a's p99 may come out at
	// three times its 40ms before the norm reaches the slowed 400ms.
	const factor, floor = 3, 100 * time.Millisecond
	fast := sim.Latency{P50: 40 * time.Millisecond, P95: 40 * time.Millisecond} // 400ms in sim.ModeSlow
	req := ask("hello")
	req.MaxTokens = 5
	req.Timeouts.FirstToken = 2 * time.Second // the cap: far above the slowed first token

	f, srvs := normFleet(t, factor, floor, sim.Profile{Name: "a", TTFT: fast}, sim.Profile{Name: "b"})
	f.history(t, "a", 3)
	srvs["a"].SetMode(sim.ModeSlow)
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:timeout b:ok" {
		t.Fatalf("attempts %s, want a abandoned at its norm and b answering", got)
	}
	a := res.Trace.Attempts[0]
	if d := a.Deadline; d == nil || !d.Norm || d.FirstToken < 3*40*time.Millisecond || d.FirstToken >= 400*time.Millisecond ||
		!strings.HasPrefix(d.Why, "first token within ") || !strings.Contains(d.Why, "3× its p99 ") {
		t.Fatalf("deadline %+v, want 3× a's p99 of 40ms or a little more", d)
	}
	if a.Duration >= 400*time.Millisecond || !strings.Contains(a.Notes(), a.Deadline.Why) {
		t.Errorf("a took %s (its first token comes at 400ms); notes %q", a.Duration, a.Notes())
	}
	if b := res.Trace.Attempts[1].Deadline; b == nil || b.Norm || b.Why != "the caps: nothing else could take over" {
		t.Errorf("b, the last candidate: %+v", b)
	}
	// Slow, not silent: one abandonment at the norm does not open a's
	// breaker, as a timeout at the cap would.
	if st, _ := f.mon.Snapshot().Endpoint("m@a"); st.Breaker != monitor.BreakerClosed {
		t.Errorf("a's breaker is %s after one abandonment at its norm", st.Breaker)
	}
	if got := srvs["a"].Stats().Requests; got != 3+1 {
		t.Errorf("a saw %d requests, want its 3 of history and 1", got)
	}
	if got := srvs["b"].Stats().Requests; got != 1 {
		t.Errorf("b saw %d requests, want 1", got)
	}

	// Only a may answer this request: with history, but nothing else to
	// try, a is waited for under the cap.
	only := req
	only.Provider.Only = []string{"a"}
	if res, err = f.router.Send(t.Context(), only, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:ok" || res.Trace.Attempts[0].Deadline.Norm {
		t.Fatalf("only a: attempts %s, deadline %+v; want a waited for at the cap", got, res.Trace.Attempts[0].Deadline)
	}

	// No history: the cap stands, and the slow endpoint answers.
	f, srvs = normFleet(t, factor, floor, sim.Profile{Name: "a", TTFT: fast}, sim.Profile{Name: "b"})
	srvs["a"].SetMode(sim.ModeSlow)
	res, err = f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:ok" || srvs["b"].Stats().Requests != 0 {
		t.Fatalf("attempts %s, b saw %d: want a waited for under the cap", got, srvs["b"].Stats().Requests)
	}
	if d := res.Trace.Attempts[0].Deadline; d == nil || d.Norm || d.FirstToken != 2*time.Second || d.Why != "the caps: no history in 30m" {
		t.Errorf("deadline %+v, want the cap", d)
	}
	if n := res.Trace.Attempts[0].Notes(); n != "" {
		t.Errorf("notes %q: the caps are not news", n)
	}
}

// A stream that goes silent far longer than its endpoint's longest gaps
// between tokens is abandoned at its norm when another endpoint can take
// over; reasoning tokens count as tokens for the norm. A streaming caller
// with no endpoint to carry on its answer keeps the cap: abandoning early
// would only lose the answer.
func TestStallDeadlineFromTheNorm(t *testing.T) {
	const factor, floor = 5, 200 * time.Millisecond
	paced := sim.Profile{Name: "a", TokensPerSecond: 50, ReasoningTokens: 3} // a chunk every 20ms
	req := ask("hello")
	req.MaxTokens = 5
	req.Timeouts.Stall = 5 * time.Second

	f, srvs := normFleet(t, factor, floor, paced, sim.Profile{Name: "b"})
	f.history(t, "a", 3)
	st, _ := f.mon.Snapshot().Endpoint("m@a")
	// A busy machine stretches the gaps it measures: up to 150ms is a
	// chunk every 20ms seen through load, and still far under the cap.
	if st.Gap30m.P99 < 15*time.Millisecond || st.Gap30m.P99 > 150*time.Millisecond {
		t.Fatalf("a's p99 gap between tokens is %s; it sends a chunk every 20ms", st.Gap30m.P99)
	}
	srvs["a"].SetMode(sim.ModeStall)
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:stall b:ok" {
		t.Fatalf("attempts %s, want a abandoned at its norm and b answering", got)
	}
	a := res.Trace.Attempts[0]
	if d := a.Deadline; d == nil || !d.Norm || d.Stall < floor || d.Stall > factor*150*time.Millisecond || !strings.Contains(d.Why, "silence at most ") {
		t.Fatalf("deadline %+v, want a's norm", d)
	}
	if a.Duration >= 2*time.Second {
		t.Errorf("a took %s: the cap (5s), not the norm", a.Duration)
	}
	if srvs["a"].Stats().Requests != 3+1 || srvs["b"].Stats().Requests != 1 {
		t.Errorf("a saw %d requests, b %d; want 3+1 and 1", srvs["a"].Stats().Requests, srvs["b"].Stats().Requests)
	}

	// Streaming, with no endpoint that takes a prefill: the cap.
	f, srvs = normFleet(t, factor, floor, paced, sim.Profile{Name: "b"})
	f.history(t, "a", 3)
	srvs["a"].SetMode(sim.ModeStall)
	req.Timeouts.Stall = 300 * time.Millisecond
	var streamed strings.Builder
	res, _ = f.router.Send(t.Context(), req, func(d Delta) { streamed.WriteString(d.Content) })
	a = res.Trace.Attempts[0]
	if d := a.Deadline; d == nil || d.Stall != 300*time.Millisecond || strings.Contains(d.Why, "silence") {
		t.Fatalf("deadline %+v, want the stall cap", d)
	}
	if a.Outcome != "stall" || a.Duration < 300*time.Millisecond || srvs["b"].Stats().Requests != 0 {
		t.Errorf("a: %s after %s; b saw %d requests", a.Outcome, a.Duration, srvs["b"].Stats().Requests)
	}
}

// TestDeadlineMemo: an endpoint's Deadline is worked out again only when
// what it comes from changed, and read from the memo, without allocating,
// when not.
func TestDeadlineMemo(t *testing.T) {
	mon, err := monitor.New(monitor.Options{Clock: monitortest.NewClock()}, []monitor.Endpoint{{ID: "m@p", Provider: "p", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	up := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: "http://127.0.0.1:1/v1"}) // never called
	r, err := New(Options{Health: mon, Endpoints: []Endpoint{{ID: "m@p", Provider: "p", Model: "m", UpstreamModel: "m", Upstream: up}}})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	caps := Timeouts{FirstToken: 30 * time.Second, Stall: 15 * time.Second}
	n := norm{factor: 3, floor: 3 * time.Second}
	st := &monitor.EndpointStatus{TTFT30m: monitor.Percentiles{P99: 1400 * ms}, Gap30m: monitor.Percentiles{P99: 80 * ms}}
	first := r.deadline("m@p", inputsOf(st, caps, n, true, true))
	if want := inputsOf(st, caps, n, true, true).deadline(); first != want {
		t.Fatalf("from the memo %+v, worked out %+v", first, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { r.deadline("m@p", inputsOf(st, caps, n, true, true)) }); allocs != 0 {
		t.Errorf("%v allocations a memo hit", allocs)
	}
	st.TTFT30m.P99 = 2 * time.Second // a minute of history later
	if d := r.deadline("m@p", inputsOf(st, caps, n, true, true)); d.FirstToken != 6*time.Second || !strings.Contains(d.Why, "6s") {
		t.Errorf("after the p99 changed: %+v", d)
	}
	if d := r.deadline("m@p", inputsOf(st, caps, n, false, true)); d.FirstToken != caps.FirstToken {
		t.Errorf("with nothing else to take over: %+v", d)
	}
}
