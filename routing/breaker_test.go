package routing

import (
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// halfOpen trips an endpoint's breaker with three failures and lets its
// backoff pass, so that its one trial is free.
func (f *fleet) halfOpen(t *testing.T, n string) {
	t.Helper()
	f.fail(n, 3)
	f.clk.Advance(f.mon.Options().BreakerBackoff)
	if st, _ := f.mon.Snapshot().Endpoint("m@" + n); st.Breaker != monitor.BreakerHalfOpen {
		t.Fatalf("%s: breaker %s, want half-open", n, st.Breaker)
	}
}

// trialFree reports whether a half-open endpoint's one trial is still free,
// taking and giving it back.
func (f *fleet) trialFree(n string) bool {
	gen, ok := f.mon.Admit("m@" + n)
	if ok {
		f.mon.Release("m@"+n, gen)
	}
	return ok
}

// A half-open endpoint that a request merely lists is not admitted: its one
// trial stays free for a probe or the next request, on every way the
// request can end before reaching it.
func TestUnreachedEndpointKeepsItsTrial(t *testing.T) {
	prices := map[string]float64{"first": 0.01, "second": 1, "mended": 10}
	tests := []struct {
		name  string
		setup func(f *fleet, srvs map[string]*sim.Server) (context.Context, Request)
		want  string
	}{
		{"the first choice answers", func(f *fleet, _ map[string]*sim.Server) (context.Context, Request) {
			return t.Context(), ask("hello")
		}, "first:ok"},
		{"a fallback answers", func(f *fleet, srvs map[string]*sim.Server) (context.Context, Request) {
			srvs["first"].SetMode(sim.ModeDown)
			return t.Context(), ask("hello")
		}, "first:overloaded second:ok"},
		{"the caller's input is refused", func(f *fleet, _ map[string]*sim.Server) (context.Context, Request) {
			return t.Context(), Request{Model: "m"} // no messages: a 400
		}, "first:bad_request"},
		{"the caller is gone", func(f *fleet, _ map[string]*sim.Server) (context.Context, Request) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx, ask("hello")
		}, "first:canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srvs := simFleet(t, prices, provider.OpenAIOptions{}, sim.Profile{Name: "first"}, sim.Profile{Name: "second"}, sim.Profile{Name: "mended"})
			f.halfOpen(t, "mended")
			ctx, req := tt.setup(f, srvs)
			res, _ := f.router.Send(ctx, req, nil)
			if got := strings.Join(outcomes(res.Trace), " "); got != tt.want {
				t.Fatalf("attempts %s, want %s", got, tt.want)
			}
			if n := srvs["mended"].Stats().Requests; n != 0 {
				t.Fatalf("the half-open endpoint got %d requests", n)
			}
			if !f.trialFree("mended") {
				t.Fatal("the request took the half-open endpoint's trial without using it")
			}
		})
	}
}

// A half-open endpoint that races as a hedge and loses gives its trial back.
func TestHedgeLoserGivesItsTrialBack(t *testing.T) {
	prices := map[string]float64{"first": 0.01, "mended": 10}
	f, srvs := simFleet(t, prices, provider.OpenAIOptions{},
		sim.Profile{Name: "first", TTFT: sim.Latency{P50: 300 * time.Millisecond, P95: 300 * time.Millisecond}},
		sim.Profile{Name: "mended", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}})
	f.halfOpen(t, "mended")
	req := ask("hello")
	req.Hedge = &Hedge{Enabled: true, After: 10 * time.Millisecond}
	res, _ := sendAtHedge(t, f, req, nil)
	if got := strings.Join(outcomes(res.Trace), " "); got != "first:ok mended:canceled" || !res.Trace.Attempts[1].Hedge {
		t.Fatalf("attempts %+v", res.Trace.Attempts)
	}
	if srvs["mended"].Stats().Requests != 1 {
		t.Fatal("the hedge did not reach the half-open endpoint")
	}
	if !f.trialFree("mended") {
		t.Fatal("the hedge that lost kept the half-open endpoint's trial")
	}
}

// The failure that opens an endpoint's breaker ends its turn: no retry
// goes through the breaker it just opened.
func TestRetryAsksTheBreakerAgain(t *testing.T) {
	prices := map[string]float64{"a": 0.01, "b": 10}
	f, srvs := simFleet(t, prices, provider.OpenAIOptions{},
		sim.Profile{Name: "a", ErrorRate: 1, ErrorStatuses: []int{500}}, sim.Profile{Name: "b"})
	f.fail("a", f.mon.Options().DownAfter-1) // the next failure opens a's breaker
	res, err := f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:server b:ok" {
		t.Fatalf("attempts %s: a retry went through the breaker its own failure opened", got)
	}
	if n := srvs["a"].Stats().Requests; n != 1 {
		t.Fatalf("a got %d requests, want 1", n)
	}
	// With the breaker closed, a 500 is still worth one more try.
	g, srvs2 := simFleet(t, prices, provider.OpenAIOptions{},
		sim.Profile{Name: "a", ErrorRate: 1, ErrorStatuses: []int{500}}, sim.Profile{Name: "b"})
	res, err = g.router.Send(t.Context(), ask("hello"), nil)
	if err != nil || strings.Join(outcomes(res.Trace), " ") != "a:server a:server b:ok" || srvs2["a"].Stats().Requests != 2 {
		t.Fatalf("attempts %v, err %v", outcomes(res.Trace), err)
	}
}

// A retry's pause is timed by the router's clock, not the wall's.
func TestRetryPauseIsOnTheRoutersClock(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"a": 0.01, "b": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "a", ErrorRate: 1, ErrorStatuses: []int{500}}, sim.Profile{Name: "b"})
	f.router.opts.RetryBackoff = time.Hour // a wall-clock pause would outlast the test
	before := f.clk.Now()
	// A pause taken on the wall clock would end the request at this
	// deadline, as a timeout, rather than hang the test.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := f.router.Send(ctx, ask("hello"), nil)
	if err != nil || strings.Join(outcomes(res.Trace), " ") != "a:server a:server b:ok" {
		t.Fatalf("attempts %v, err %v", outcomes(res.Trace), err)
	}
	// The pause is the backoff jittered by ±50%, all of it on the clock.
	if moved := f.clk.Now().Sub(before); moved < 30*time.Minute || moved > 90*time.Minute {
		t.Fatalf("the clock moved %s during a pause of about an hour", moved)
	}
}

// oneEndpointModels routes model "first" to provider a and model "second"
// to b, "first" falling back to "second"; the monitor's clock is clk.
func oneEndpointModels(t *testing.T, clk Clock) (*Router, *monitor.Monitor, map[string]*sim.Server) {
	t.Helper()
	srvs := map[string]*sim.Server{
		"first":  simtest.Start(t, sim.Profile{Name: "a", Models: []string{"first"}}),
		"second": simtest.Start(t, sim.Profile{Name: "b", Models: []string{"second"}}),
	}
	var reps []Endpoint
	var meps []monitor.Endpoint
	for _, model := range []string{"first", "second"} {
		srv := srvs[model]
		id := model + "@" + srv.Name()
		reps = append(reps, Endpoint{ID: id, Provider: srv.Name(), Model: model, UpstreamModel: model, PriceIn: 1,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})})
		meps = append(meps, monitor.Endpoint{ID: id, Provider: srv.Name(), Model: model})
	}
	mon, err := monitor.New(monitor.Options{Clock: clk}, meps)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Endpoints: reps, Health: mon, Clock: clk, Seed: 1,
		Defaults: map[string]ModelDefaults{"first": {Models: []string{"second"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return r, mon, srvs
}

// An endpoint whose breaker is open is tried as a last resort only when
// nothing else is left across every model of the request: while the
// fallback model answers, the dead endpoint gets nothing.
func TestOpenBreakerWaitsForTheFallbackModels(t *testing.T) {
	clk := monitortest.NewClock()
	r, mon, srvs := oneEndpointModels(t, clk)
	srvs["first"].SetMode(sim.ModeDown)
	for range 3 {
		mon.Record("first@a", provider.Outcome{Class: provider.ClassOverloaded})
	}
	for i := range 15 {
		res, err := r.Send(t.Context(), Request{Model: "first", Messages: []provider.Message{{Role: "user", Content: "hi"}}}, nil)
		if err != nil || res.Model != "second" {
			t.Fatalf("request %d: model %s, err %v", i, res.Model, err)
		}
		clk.Advance(time.Second / 10)
	}
	if n := srvs["first"].Stats().Requests; n != 0 {
		t.Fatalf("the endpoint with an open breaker got %d of 15 requests", n)
	}
	// With the fallback model down too, the last resort is the dead one;
	// a second round goes to the fallback's only (its breaker still
	// closed), not to the dead one (its breaker open).
	srvs["second"].SetMode(sim.ModeDown)
	res, _ := r.Send(t.Context(), Request{Model: "first", Messages: []provider.Message{{Role: "user", Content: "hi"}}}, nil)
	if got := strings.Join(outcomes(res.Trace), " "); got != "b:overloaded a:overloaded b:overloaded" || !res.Trace.Attempts[1].LastResort {
		t.Fatalf("attempts %+v", res.Trace.Attempts)
	}
}
