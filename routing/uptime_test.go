package routing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// spec is one endpoint of a test fleet: its model, its simulated provider
// and what the router knows of it.
type spec struct {
	model   string
	profile sim.Profile // Name is the provider
	price   float64
	context int
	prefill bool
}

// specFleet starts a simulated provider per spec and routes to them; the
// first spec's model falls back to the models of the others, in order.
func specFleet(t *testing.T, specs ...spec) (*fleet, map[string]*sim.Server) {
	t.Helper()
	f := &fleet{clk: monitortest.NewClock()}
	srvs := map[string]*sim.Server{}
	var reps []Endpoint
	var meps []monitor.Endpoint
	var fallbacks []string
	for _, s := range specs {
		p := s.profile
		p.Models = []string{s.model}
		srv := simtest.Start(t, p)
		srvs[p.Name] = srv
		id := s.model + "@" + p.Name
		reps = append(reps, Endpoint{ID: id, Provider: p.Name, Model: s.model, UpstreamModel: s.model, PriceIn: s.price,
			ContextLength: s.context, Prefill: s.prefill, Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})})
		meps = append(meps, monitor.Endpoint{ID: id, Provider: p.Name, Model: s.model})
		if s.model != specs[0].model && !strings.Contains(strings.Join(fallbacks, " "), s.model) {
			fallbacks = append(fallbacks, s.model)
		}
	}
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clk}, meps); err != nil {
		t.Fatal(err)
	}
	if f.router, err = New(Options{Endpoints: reps, Health: f.mon, Clock: f.clk, Seed: 3,
		Defaults: map[string]ModelDefaults{specs[0].model: {Models: fallbacks}}}); err != nil {
		t.Fatal(err)
	}
	return f, srvs
}

// words is a prompt of n two-byte words: the router's estimate counts a
// token for every 6 bytes, the simulator one for every word.
func words(n int) []provider.Message {
	return []provider.Message{{Role: "user", Content: strings.Repeat("a ", n)}}
}

// A prompt that fits the router's estimate but not the endpoint gets the
// provider's context-length error; the request then moves to a larger
// endpoint of the same model, skipping those no larger, before any
// fallback model, and the provider is not blamed.
func TestContextLengthMovesToALargerEndpointFirst(t *testing.T) {
	f, srvs := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "small", ContextLength: 150}, price: 0.1, context: 150},
		spec{model: "m", profile: sim.Profile{Name: "same", ContextLength: 150}, price: 0.2, context: 150},
		spec{model: "m", profile: sim.Profile{Name: "large"}, price: 5, context: 100000},
		spec{model: "other", profile: sim.Profile{Name: "elsewhere"}, price: 0.01, context: 100000},
	)
	// 130 words: the router estimates at least 3+3+260/6+30 = 79 tokens,
	// which fit 150; the simulator counts 3+3+130+30 = 166, which do not.
	req := Request{Model: "m", MaxTokens: 30, Messages: words(130)}
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	// small and same are drawn in either order: whichever came first,
	// the other, no larger, is skipped.
	first, other := "small", "same"
	if res.Trace != nil && len(res.Trace.Attempts) > 0 && res.Trace.Attempts[0].Provider == "same" {
		first, other = other, first
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != first+":context_length large:ok" || res.Model != "m" {
		t.Fatalf("attempts %s, served %s: want the same model's larger endpoint", got, res.Model)
	}
	for name, want := range map[string]uint64{first: 1, other: 0, "large": 1, "elsewhere": 0} {
		if got := srvs[name].Stats().Requests; got != want {
			t.Errorf("%s got %d requests, want %d", name, got, want)
		}
	}
	if st, _ := f.mon.Snapshot().Endpoint("m@" + first); st.ProviderErrors != 0 || st.UserErrors != 1 {
		t.Errorf("a too-long prompt was held against the provider: %d provider errors, %d the caller's", st.ProviderErrors, st.UserErrors)
	}
	// Nothing of the model large enough: the fallback model takes it.
	srvs["large"].SetMode(sim.ModeDown)
	res, err = f.router.Send(t.Context(), req, nil)
	if err != nil || res.Model != "other" {
		t.Fatalf("model %s, attempts %v, err %v", res.Model, outcomes(res.Trace), err)
	}
}

// A prompt the router can tell will not fit is planned around: the
// endpoint is excluded with the estimate, and when no endpoint of any
// model can take it, the caller's error says so without a single attempt.
func TestContextLengthPlannedAround(t *testing.T) {
	f, srvs := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "small"}, price: 0.1, context: 100},
		spec{model: "m", profile: sim.Profile{Name: "large"}, price: 5, context: 1000},
	)
	req := Request{Model: "m", MaxTokens: 10, Messages: words(300)} // at least 3+3+100+10 = 116 tokens
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil || res.Provider != "large" || srvs["small"].Stats().Requests != 0 {
		t.Fatalf("served by %s, attempts %v, err %v", res.Provider, outcomes(res.Trace), err)
	}
	if c := candidate(t, res.Trace, "small"); c.Tier != TierSkipped || !strings.Contains(c.Why, "context of 100 tokens is too short: the prompt (at least 116 tokens") {
		t.Fatalf("small: %s, %q", c.Tier, c.Why)
	}
	req.Messages = words(3000)
	res, err = f.router.Send(t.Context(), req, nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindContextLength || len(res.Trace.Attempts) != 0 {
		t.Fatalf("err %v, attempts %v", err, outcomes(res.Trace))
	}
}

// allow_fallbacks false without order pins the request to its first
// choice: when that fails, its error is the answer.
func TestNoFallbacksPinsTheFirstChoice(t *testing.T) {
	f, srvs := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "cheap"}, price: 0.01},
		spec{model: "m", profile: sim.Profile{Name: "dear"}, price: 10},
	)
	srvs["cheap"].SetMode(sim.ModeDown)
	no := false
	req := ask("hello")
	req.Provider.AllowFallbacks = &no
	res, err := f.router.Send(t.Context(), req, nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindExhausted || strings.Join(outcomes(res.Trace), " ") != "cheap:overloaded cheap:overloaded" {
		t.Fatalf("attempts %v, err %v", outcomes(res.Trace), err)
	}
	if srvs["dear"].Stats().Requests != 0 {
		t.Fatal("a request without fallbacks went to a second provider")
	}
	if c := candidate(t, res.Trace, "dear"); c.Tier != TierSkipped || c.Why != "allow_fallbacks is false: only the first choice is tried" {
		t.Fatalf("dear: %s, %q", c.Tier, c.Why)
	}
}

// recordSpeed has an endpoint answer n times with this time to first token.
func recordSpeed(mon *monitor.Monitor, id string, n int, ttft time.Duration) {
	for range n {
		mon.Record(id, provider.Outcome{Class: provider.ClassOK, TTFT: ttft, Duration: ttft + time.Second, OutputTokens: 100})
	}
}

// A sort is strict among the endpoints that are not out: a degraded
// endpoint keeps its place by the key, and one with a recent outage comes
// after them, its reason the sort's figure, not the outage's age; a sort
// across models (partition none) follows the same rule.
func TestSortIsStrict(t *testing.T) {
	f := newFleet(t, nil, map[string]float64{"degraded": 1, "healthy": 1, "recovered": 1}, "degraded", "healthy", "recovered")
	// degraded: fastest, but one answer in eleven fails: 200 answers at
	// 91% leave no doubt it is under 95%, and no three fail in a row.
	for range 20 {
		recordSpeed(f.mon, "m@degraded", 10, 100*time.Millisecond)
		f.fail("degraded", 1)
	}
	recordSpeed(f.mon, "m@healthy", 20, 300*time.Millisecond)
	// recovered: down, then its trial succeeded a moment ago.
	f.fail("recovered", 3)
	f.clk.Advance(f.mon.Options().BreakerBackoff)
	gen, ok := f.mon.Admit("m@recovered")
	if !ok {
		t.Fatal("no trial")
	}
	f.mon.Record("m@recovered", provider.Outcome{Class: provider.ClassOK, TTFT: 50 * time.Millisecond, Duration: time.Second, OutputTokens: 100, Gen: gen})
	recordSpeed(f.mon, "m@recovered", 10, 50*time.Millisecond)

	snap := f.mon.Snapshot()
	if st, _ := snap.Endpoint("m@degraded"); st.State != monitor.Degraded {
		t.Fatalf("degraded is %s: %s", st.State, st.Reason)
	}
	tr, err := f.router.PlanRequest(&Request{Model: "m", Provider: Preferences{Sort: Sort{By: SortLatency}}}, snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(providers(tr), " "); got != "degraded healthy recovered" {
		t.Fatalf("order %s, want degraded healthy recovered", got)
	}
	for _, c := range tr.Candidates {
		if c.Weight != 0 || strings.Contains(c.Why, "outage") && !strings.Contains(c.Why, "after those without a recent outage") ||
			!strings.HasPrefix(c.Why, "sorted by latency: first token ") {
			t.Errorf("%s: why %q, weight %v", c.Provider, c.Why, c.Weight)
		}
	}
	if c := candidate(t, tr, "degraded"); c.Tier != TierPreferred {
		t.Errorf("degraded is %s under a sort", c.Tier)
	}
}

// Across models, a sort with partition "none" orders every endpoint by the
// key, those that are out after the rest.
func TestSortAcrossModelsIsStrict(t *testing.T) {
	f, _ := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "slow"}, price: 1},
		spec{model: "m", profile: sim.Profile{Name: "down"}, price: 1},
		spec{model: "other", profile: sim.Profile{Name: "fast"}, price: 1},
		spec{model: "other", profile: sim.Profile{Name: "degraded"}, price: 1},
	)
	recordSpeed(f.mon, "m@slow", 10, 800*time.Millisecond)
	recordSpeed(f.mon, "m@down", 10, 10*time.Millisecond)
	f.fail("down", 3)
	recordSpeed(f.mon, "other@fast", 10, 200*time.Millisecond)
	for range 20 {
		recordSpeed(f.mon, "other@degraded", 10, 100*time.Millisecond)
		f.mon.Record("other@degraded", provider.Outcome{Class: provider.ClassServer})
	}
	req := ask("hello")
	req.Provider.Sort = Sort{By: SortLatency, Partition: "none"}
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, id := range res.Trace.Order {
		order = append(order, id[strings.LastIndex(id, "@")+1:])
	}
	if got := strings.Join(order, " "); got != "degraded fast slow down" {
		t.Fatalf("order %s, want degraded fast slow down", got)
	}
}

// A request whose last attempt was rate limited, but not its others, is
// not told that every provider is rate limited: the others failed.
func TestLastRateLimitedIsNotAllRateLimited(t *testing.T) {
	f, _ := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "a", ErrorRate: 1, ErrorStatuses: []int{503}}, price: 1},
		spec{model: "m", profile: sim.Profile{Name: "b", RateLimitRate: 1, RetryAfter: 30 * time.Second}, price: 2},
	)
	_, err := f.router.Send(t.Context(), ask("hello"), nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindExhausted || strings.Contains(re.Message, "rate limited") ||
		!strings.Contains(re.Message, "a: overloaded") || !strings.Contains(re.Message, "b: rate_limited") {
		t.Fatalf("err %#v", err)
	}
}

// Every rate-limited endpoint: the caller is told to come back when the
// first cooldown ends.
func TestAllRateLimitedSaysWhenToComeBack(t *testing.T) {
	f, _ := specFleet(t,
		spec{model: "m", profile: sim.Profile{Name: "a", RateLimitRate: 1, RetryAfter: 30 * time.Second}, price: 1},
		spec{model: "m", profile: sim.Profile{Name: "b", RateLimitRate: 1, RetryAfter: 20 * time.Second}, price: 2},
	)
	_, err := f.router.Send(t.Context(), ask("hello"), nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindRateLimited || re.RetryAfter != 20*time.Second {
		t.Fatalf("err %#v", err)
	}
}
