package routing

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fleet is a router over endpoints of one model "m", named by provider, with
// the given prices, and a monitor on a test clock. The upstreams are never
// called by the planning tests.
type fleet struct {
	clk    *monitortest.Clock
	mon    *monitor.Monitor
	router *Router
}

func newFleet(t *testing.T, ups map[string]provider.Upstream, prices map[string]float64, names ...string) *fleet {
	t.Helper()
	f := &fleet{clk: monitortest.NewClock()}
	var meps []monitor.Endpoint
	var reps []Endpoint
	for _, n := range names {
		up := ups[n]
		if up == nil {
			up = provider.NewOpenAI(provider.OpenAIOptions{BaseURL: "http://127.0.0.1:1/v1"})
		}
		meps = append(meps, monitor.Endpoint{ID: "m@" + n, Provider: n, Model: "m"})
		reps = append(reps, Endpoint{ID: "m@" + n, Provider: n, Model: "m", UpstreamModel: "m", PriceIn: prices[n], Upstream: up})
	}
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clk}, meps); err != nil {
		t.Fatal(err)
	}
	if f.router, err = New(Options{Endpoints: reps, Health: f.mon, Clock: f.clk, Seed: 42}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fleet) fail(n string, times int) {
	for range times {
		f.mon.Record("m@"+n, provider.Outcome{Class: provider.ClassServer})
	}
}

func (f *fleet) plan(t *testing.T) *Trace {
	t.Helper()
	tr, err := f.router.Plan("m", f.mon.Snapshot())
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return tr
}

func candidate(t *testing.T, tr *Trace, n string) Candidate {
	t.Helper()
	for _, c := range tr.Candidates {
		if c.Provider == n {
			return c
		}
	}
	t.Fatalf("no candidate %s", n)
	return Candidate{}
}

func TestPlanSkipsAndFallbacks(t *testing.T) {
	prices := map[string]float64{"a": 1, "b": 2, "c": 3, "d": 0.5}
	tests := []struct {
		name      string
		setup     func(f *fleet)
		wantLast  []string // the tail of the order, in order
		wantOut   []string // not in the order at all
		wantWhy   map[string]string
		wantTiers map[string]Tier
	}{
		{
			name:      "all healthy are preferred",
			setup:     func(*fleet) {},
			wantTiers: map[string]Tier{"a": TierPreferred, "b": TierPreferred, "c": TierPreferred, "d": TierPreferred},
		},
		{
			name:      "down goes last",
			setup:     func(f *fleet) { f.fail("d", 3) },
			wantLast:  []string{"d"},
			wantTiers: map[string]Tier{"d": TierFallback},
			wantWhy:   map[string]string{"d": "down: 3 errors in a row"},
		},
		{
			name: "recent outage is a fallback even after recovery",
			setup: func(f *fleet) {
				f.fail("a", 3)
				f.mon.Snapshot()               // the monitor sees it down
				f.clk.Advance(6 * time.Second) // past the breaker's backoff
				f.mon.Record("m@a", provider.Outcome{Class: provider.ClassOK})
				f.clk.Advance(10 * time.Second)
			},
			wantLast:  []string{"a"},
			wantTiers: map[string]Tier{"a": TierFallback},
			wantWhy:   map[string]string{"a": "outage 10s ago"},
		},
		{
			name: "turned off is skipped",
			setup: func(f *fleet) {
				_ = f.mon.SetEnabled("m@b", false)
			},
			wantOut:   []string{"b"},
			wantTiers: map[string]Tier{"b": TierSkipped},
			wantWhy:   map[string]string{"b": "turned off by the user"},
		},
		{
			name: "cooling down after a 429 comes last of all, after down",
			setup: func(f *fleet) {
				f.mon.Record("m@c", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 8 * time.Second})
				f.fail("d", 3)
			},
			wantLast: []string{"d", "c"},
			wantWhy:  map[string]string{"c": "rate limited, cooling down 8s"},
		},
		{
			name: "fallbacks of one state go cheapest first",
			setup: func(f *fleet) {
				f.fail("c", 3)
				f.fail("a", 3)
			},
			wantLast: []string{"a", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, nil, prices, "a", "b", "c", "d")
			tt.setup(f)
			tr := f.plan(t)
			order := providers(tr)
			if len(tt.wantLast) > 0 {
				tail := order[len(order)-len(tt.wantLast):]
				if strings.Join(tail, ",") != strings.Join(tt.wantLast, ",") {
					t.Errorf("order %v, want it to end with %v", order, tt.wantLast)
				}
			}
			for _, n := range tt.wantOut {
				for _, o := range order {
					if o == n {
						t.Errorf("%s is in the order %v", n, order)
					}
				}
			}
			if want := 4 - len(tt.wantOut); len(order) != want {
				t.Errorf("order has %d endpoints, want %d", len(order), want)
			}
			for n, why := range tt.wantWhy {
				if c := candidate(t, tr, n); !strings.Contains(c.Why, why) {
					t.Errorf("%s: why %q, want it to say %q", n, c.Why, why)
				}
			}
			for n, tier := range tt.wantTiers {
				if c := candidate(t, tr, n); c.Tier != tier {
					t.Errorf("%s: tier %s, want %s", n, c.Tier, tier)
				}
			}
			var sum float64
			for _, c := range tr.Candidates {
				sum += c.Weight
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("weights of the preferred sum to %v", sum)
			}
		})
	}
}

func providers(tr *Trace) []string {
	var out []string
	for _, id := range tr.Order {
		out = append(out, strings.TrimPrefix(id, "m@"))
	}
	return out
}

func TestPlanNothingEligibleSaysWhy(t *testing.T) {
	f := newFleet(t, nil, map[string]float64{"a": 1, "b": 1}, "a", "b")
	_ = f.mon.SetEnabled("m@a", false)
	_ = f.mon.SetEnabled("m@b", false)
	_, err := f.router.Plan("m", f.mon.Snapshot())
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindNoEndpoints {
		t.Fatalf("err = %v, want a 503 routing error", err)
	}
	for _, want := range []string{"a (turned off by the user)", "b (turned off by the user)"} {
		if !strings.Contains(re.Message, want) {
			t.Errorf("message %q does not say %q", re.Message, want)
		}
	}
}

func TestPlanUnknownModel(t *testing.T) {
	f := newFleet(t, nil, map[string]float64{"a": 1}, "a")
	_, err := f.router.Plan("gpt-9", f.mon.Snapshot())
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindUnknownModel || !strings.Contains(re.Message, "models: m") {
		t.Fatalf("err = %v, want a 404 naming the served models", err)
	}
}

// TestInverseSquareWeighting checks OpenRouter's rule statistically: the first
// pick among healthy endpoints is drawn with probability proportional to
// 1/price², so a $1 provider is 9x as likely as a $3 one.
func TestInverseSquareWeighting(t *testing.T) {
	prices := map[string]float64{"a": 1, "b": 2, "c": 3}
	f := newFleet(t, nil, prices, "a", "b", "c")
	const n = 30000
	first, orders := map[string]int{}, map[string]int{}
	snap := f.mon.Snapshot()
	for range n {
		tr, err := f.router.Plan("m", snap)
		if err != nil {
			t.Fatal(err)
		}
		order := providers(tr)
		first[order[0]]++
		orders[strings.Join(order, "")]++
	}
	// The whole order is a draw without replacement: each next pick with
	// the chance of its weight among those left (a, then b: 36/49 × 9/13).
	for order, p := range map[string]float64{"abc": 36.0 / 49 * 9 / 13, "acb": 36.0 / 49 * 4 / 13, "bac": 9.0 / 49 * 36 / 40,
		"bca": 9.0 / 49 * 4 / 40, "cab": 4.0 / 49 * 36 / 45, "cba": 4.0 / 49 * 9 / 45} {
		got, sigma := float64(orders[order])/n, math.Sqrt(p*(1-p)/n)
		if math.Abs(got-p) > 5*sigma {
			t.Errorf("order %s in %.4f of plans, want %.4f ± %.4f", order, got, p, 5*sigma)
		}
	}
	want := map[string]float64{"a": 36.0 / 49, "b": 9.0 / 49, "c": 4.0 / 49}
	tr := f.plan(t)
	for name, p := range want {
		got := float64(first[name]) / n
		sigma := math.Sqrt(p * (1 - p) / n)
		if math.Abs(got-p) > 5*sigma {
			t.Errorf("%s first in %.4f of plans, want %.4f ± %.4f", name, got, p, 5*sigma)
		}
		if w := candidate(t, tr, name).Weight; math.Abs(w-p) > 1e-9 {
			t.Errorf("%s weight %v, want %v", name, w, p)
		}
	}
	if ratio := float64(first["a"]) / float64(first["c"]); ratio < 8 || ratio > 10 {
		t.Errorf("$1 picked %.1fx as often as $3, want about 9x", ratio)
	}
}

// The worked example of OpenRouter's docs: A $1, B $2 with a recent outage,
// C $3. A is first most often, then C; B is always last.
func TestOpenRouterExample(t *testing.T) {
	f := newFleet(t, nil, map[string]float64{"A": 1, "B": 2, "C": 3}, "A", "B", "C")
	f.fail("B", 3)
	f.mon.Snapshot()
	f.clk.Advance(5 * time.Second)
	f.mon.Record("m@B", provider.Outcome{Class: provider.ClassOK})
	counts := map[string]int{}
	for range 2000 {
		order := providers(f.plan(t))
		if order[2] != "B" {
			t.Fatalf("order %v: B should be last", order)
		}
		counts[strings.Join(order, "")]++
	}
	if counts["ACB"] < counts["CAB"]*5 {
		t.Errorf("ACB %d times, CAB %d: A should lead about 9 times in 10", counts["ACB"], counts["CAB"])
	}
}

// BenchmarkPlan10 is issue 4's target: planning a request over 10 endpoints
// with a warm, reused plan, none of them excluded, with fresh health figures.
// "explained" adds writing the trace's words, done once per request.
func BenchmarkPlan10(b *testing.B) {
	prices := map[string]float64{}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for i, n := range names {
		prices[n] = 0.1 * float64(i+1)
	}
	f := newFleet(&testing.T{}, nil, prices, names...)
	for i, n := range names {
		f.mon.Record("m@"+n, provider.Outcome{Class: provider.ClassOK, TTFT: time.Duration(100+10*i) * time.Millisecond,
			Duration: time.Second, OutputTokens: 100})
	}
	f.fail("j", 3)
	snap := f.mon.Snapshot()
	eps := f.router.byModel["m"]
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"default", Request{Model: "m"}},
		{"sorted", Request{Model: "m", Provider: Preferences{Sort: Sort{By: SortLatency}, Ignore: []string{"c"}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var p plan
			prefs := f.router.prefsFor("m", &tc.req.Provider, "")
			b.ReportAllocs()
			for b.Loop() {
				f.router.planInto(&p, eps, &tc.req, &prefs, snap)
			}
		})
	}
	b.Run("explained", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.router.Plan("m", snap)
		}
	})
}

func TestAttemptNotes(t *testing.T) {
	a := Attempt{Retry: true, LastResort: true, Flag: "check the key", Error: "auth (HTTP 401)"}
	if got := a.Notes(); got != "retry · last resort · check the key · auth (HTTP 401)" {
		t.Fatalf("notes %q", got)
	}
	if got := (&Attempt{}).Notes(); got != "" {
		t.Fatalf("notes of a plain success %q", got)
	}
}

// TestWhyWords checks the reasons a reader compares across candidates: a
// draw's chance as a percentage (a tiny one not rounded to nothing), the
// prices input and output apart, and a sort's own figure.
func TestWhyWords(t *testing.T) {
	latency := &Preferences{Sort: Sort{By: SortLatency}}
	throughput := &Preferences{Sort: Sort{By: SortThroughput}}
	for _, tc := range []struct {
		c     Candidate
		prefs *Preferences
		want  string
	}{
		{Candidate{reason: placedPicked, Weight: 0.061, priceIn: 0.59, priceOut: 0.79}, &Preferences{},
			"drawn at random among 7 healthy: 6% chance, $0.59/$0.79 per M"},
		{Candidate{reason: placedBackup, Weight: 0.004, priceIn: 3, priceOut: 15}, &Preferences{},
			"backup: <1% chance to be drawn first, $3.00/$15.00 per M"},
		{Candidate{reason: placedByPrice, priceIn: 0.23, priceOut: 0.4}, &Preferences{Order: []string{"x"}},
			"not in provider.order: cheapest first, $0.23/$0.40 per M"},
		{Candidate{reason: placedSorted, value: 0.32}, latency, "sorted by latency: first token 320ms"},
		{Candidate{reason: placedSorted, value: 2.0843}, latency, "sorted by latency: first token 2.08s"},
		{Candidate{reason: placedSorted, value: -251.4}, throughput, "sorted by throughput: 251 tokens/s"},
		{Candidate{reason: placedSortedLate, value: math.Inf(1)}, throughput,
			"sorted by throughput: no data yet, after those without a recent outage"},
	} {
		if got := tc.c.why(tc.prefs, 7); got != tc.want {
			t.Errorf("why = %q, want %q", got, tc.want)
		}
	}
}

// BenchmarkPlanWithHealth is the budget for the request path's
// planning: at 10 and 50 endpoints, what each request pays to read health
// and order the endpoints, under a steady stream of outcomes (one recorded
// and 100µs passing per request, 10,000 requests a second), with the
// monitor's snapshot lag as serve runs it. "explained" adds the trace's
// words, which every answer carries.
func BenchmarkPlanWithHealth(b *testing.B) {
	for _, n := range []int{10, 50} {
		clk := monitortest.NewClock()
		var meps []monitor.Endpoint
		var reps []Endpoint
		for i := range n {
			id := fmt.Sprintf("m@p%02d", i)
			meps = append(meps, monitor.Endpoint{ID: id, Provider: id[2:], Model: "m"})
			reps = append(reps, Endpoint{ID: id, Provider: id[2:], Model: "m", UpstreamModel: "m", PriceIn: 0.1 * float64(i+1),
				Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: "http://127.0.0.1:1/v1"})})
		}
		mon, err := monitor.New(monitor.Options{Clock: clk, SnapshotLag: monitor.DefaultSnapshotLag}, meps)
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(Options{Endpoints: reps, Health: mon, Clock: clk, Seed: 42})
		if err != nil {
			b.Fatal(err)
		}
		ok := provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: time.Second, OutputTokens: 100}
		for _, e := range meps {
			mon.Record(e.ID, ok)
		}
		req := Request{Model: "m"}
		prefs := r.prefsFor("m", &req.Provider, "")
		eps := r.byModel["m"]
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			var p plan
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				clk.Advance(100 * time.Microsecond)
				mon.Record(meps[k%n].ID, ok)
				r.planInto(&p, eps, &req, &prefs, mon.Snapshot())
				k++
			}
		})
		b.Run(fmt.Sprintf("endpoints=%d/explained", n), func(b *testing.B) {
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				clk.Advance(100 * time.Microsecond)
				mon.Record(meps[k%n].ID, ok)
				if _, err := r.PlanRequest(&Request{Model: "m"}, mon.Snapshot()); err != nil {
					b.Fatal(err)
				}
				k++
			}
		})
	}
}

// TestEachFilterAlone sets each of the preferences' filters on its own: the
// endpoint that fails it is left out with its words, the one that passes it
// is not. Planning skips the filters when a request sets none of them
// (Preferences.filters), so each must count as set on its own.
func TestEachFilterAlone(t *testing.T) {
	yes, no := true, false
	pass := Endpoint{ID: "m@a", Provider: "a", Model: "m", Quantization: "fp8", Parameters: []string{"temperature"},
		ZDR: true, Distillable: true, PriceIn: 1, PriceOut: 1}
	fail := Endpoint{ID: "m@b", Provider: "b", Model: "m", Quantization: "fp4", StoresData: true,
		PriceIn: 5, PriceOut: 5, PriceRequest: 0.1, PriceImage: 0.1}
	for _, tc := range []struct {
		prefs Preferences
		words string
	}{
		{Preferences{Only: []string{"a"}}, "not in provider.only"},
		{Preferences{Ignore: []string{"b"}}, "in provider.ignore"},
		{Preferences{Quantizations: []string{"fp8"}}, "quantization fp4 not in provider.quantizations"},
		{Preferences{DataCollection: "deny"}, "may store or train on prompts"},
		{Preferences{ZDR: &yes}, "keeps request data"},
		{Preferences{EnforceDistillableText: &yes}, "may not be used for distillation"},
		{Preferences{MaxPrice: MaxPrice{Prompt: ptr(2.0)}}, "over max_price.prompt"},
		{Preferences{MaxPrice: MaxPrice{Completion: ptr(2.0)}}, "over max_price.completion"},
		{Preferences{MaxPrice: MaxPrice{Request: ptr(0.01)}}, "over max_price.request"},
		{Preferences{MaxPrice: MaxPrice{Image: ptr(0.01)}}, "over max_price.image"},
		{Preferences{Order: []string{"a"}, AllowFallbacks: &no}, "not in provider.order, and allow_fallbacks is false"},
	} {
		if got := tc.prefs.Excludes(&fail); !strings.Contains(got, tc.words) {
			t.Errorf("%+v: the failing endpoint's words %q, want %q", tc.prefs, got, tc.words)
		}
		if got := tc.prefs.Excludes(&pass); got != "" {
			t.Errorf("%+v: the passing endpoint is left out: %q", tc.prefs, got)
		}
	}
	// require_parameters needs the request's parameters: planned.
	f := newFleet(t, nil, map[string]float64{"a": 1, "b": 5}, "a", "b")
	f.router.byModel["m"][1].Parameters = []string{"max_tokens"}
	f.router.byModel["m"][0].Parameters = []string{"temperature"}
	temp := 0.5
	tr, err := f.router.PlanRequest(&Request{Model: "m", Temperature: &temp, Provider: Preferences{RequireParameters: true}}, f.mon.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Order) != 1 || tr.Order[0] != "m@a" {
		t.Fatalf("require_parameters: order %v, want only m@a", tr.Order)
	}
}
