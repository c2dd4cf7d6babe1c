package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// optFleet is one model "m" served by endpoints of different kinds, with a
// monitor on a test clock that has seen each endpoint answer at its own
// speed. The upstreams are never called.
type optFleet struct {
	clk    *monitortest.Clock
	mon    *monitor.Monitor
	router *Router
}

var optEndpoints = []Endpoint{
	// provider, variant, price in/out, quantization, params, data policies, context
	{Provider: "cheap", PriceIn: 0.1, PriceOut: 0.2, Quantization: "fp8", Parameters: []string{"max_tokens"}, StoresData: true,
		Distillable: true, PriceRequest: 0.002},
	{Provider: "fast", ProviderName: "Fast Inc", PriceIn: 0.6, PriceOut: 0.8, Quantization: "fp16", Parameters: []string{"max_tokens", "temperature", "tools"},
		ZDR: true, PriceImage: 0.01, ContextLength: 2000},
	{Provider: "mid", PriceIn: 0.3, PriceOut: 0.4, Quantization: "bf16", Parameters: []string{"max_tokens", "temperature"},
		ZDR: true, Distillable: true},
	{Provider: "mid", Variant: "turbo", PriceIn: 0.5, PriceOut: 0.5, Quantization: "fp8", Parameters: []string{"max_tokens", "temperature"},
		ContextLength: 200},
	{Provider: "slow", PriceIn: 0.2, PriceOut: 0.3, Parameters: []string{"max_tokens", "temperature", "tools"}},
}

// speeds: time to first token and tokens per second each endpoint showed.
var speeds = map[string]struct {
	ttft time.Duration
	tps  int
}{
	"m@cheap": {400 * time.Millisecond, 80}, "m@fast": {100 * time.Millisecond, 900},
	"m@mid": {300 * time.Millisecond, 200}, "m@mid/turbo": {200 * time.Millisecond, 400},
	"m@slow": {2 * time.Second, 30},
}

func newOptFleet(t *testing.T, defaults map[string]ModelDefaults) *optFleet {
	t.Helper()
	f := &optFleet{clk: monitortest.NewClock()}
	up := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: "http://127.0.0.1:1/v1"})
	var meps []monitor.Endpoint
	var reps []Endpoint
	for _, e := range optEndpoints {
		e.ID, e.Model, e.UpstreamModel, e.Upstream = "m@"+e.Provider, "m", "m", up
		if e.Variant != "" {
			e.ID += "/" + e.Variant
		}
		reps = append(reps, e)
		meps = append(meps, monitor.Endpoint{ID: e.ID, Provider: e.Provider, Model: "m"})
	}
	// A second model, to fall back to.
	reps = append(reps, Endpoint{ID: "big@fast", Provider: "fast", Model: "big", UpstreamModel: "big", PriceIn: 3, PriceOut: 15, Upstream: up})
	meps = append(meps, monitor.Endpoint{ID: "big@fast", Provider: "fast", Model: "big"})
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clk}, meps); err != nil {
		t.Fatal(err)
	}
	if f.router, err = New(Options{Endpoints: reps, Health: f.mon, Clock: f.clk, Seed: 7, Defaults: defaults}); err != nil {
		t.Fatal(err)
	}
	for id, s := range speeds {
		for range 5 {
			f.mon.Record(id, provider.Outcome{Class: provider.ClassOK, TTFT: s.ttft,
				Duration: s.ttft + time.Second, OutputTokens: s.tps})
		}
	}
	return f
}

func (f *optFleet) plan(t *testing.T, req Request) ([]string, *Trace, error) {
	t.Helper()
	if req.Model == "" {
		req.Model = "m"
	}
	tr, err := f.router.PlanRequest(&req, f.mon.Snapshot())
	var order []string
	for _, id := range tr.Order {
		order = append(order, strings.TrimPrefix(id, "m@"))
	}
	return order, tr, err
}

func ptr[T any](v T) *T { return &v }

func TestPreferences(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		want     string            // the whole order, or its start when wantHead
		wantHead bool              // want is only the beginning of the order
		why      map[string]string // endpoint -> part of its why
	}{
		{name: "order: a slug matches all its endpoints, then the rest",
			req: Request{Provider: Preferences{Order: []string{"mid", "slow"}}}, want: "mid mid/turbo slow", wantHead: true,
			why: map[string]string{"mid": "listed in provider.order", "cheap": "not in provider.order: cheapest first"}},
		{name: "order: slug/variant matches only that endpoint",
			req: Request{Provider: Preferences{Order: []string{"mid/turbo"}}}, want: "mid/turbo", wantHead: true},
		{name: "order without fallbacks",
			req:  Request{Provider: Preferences{Order: []string{"fast", "mid/turbo"}, AllowFallbacks: ptr(false)}},
			want: "fast mid/turbo",
			why:  map[string]string{"cheap": "not in provider.order, and allow_fallbacks is false"}},
		{name: "only", req: Request{Provider: Preferences{Only: []string{"fast", "slow"}, Sort: Sort{By: SortPrice}}},
			want: "slow fast", why: map[string]string{"mid": "not in provider.only"}},
		{name: "ignore", req: Request{Provider: Preferences{Ignore: []string{"cheap", "mid"}, Sort: Sort{By: SortPrice}}},
			want: "slow fast", why: map[string]string{"cheap": "in provider.ignore"}},
		{name: "only and ignore take slug/variant too", req: Request{Provider: Preferences{
			Only: []string{"mid", "fast"}, Ignore: []string{"mid/turbo"}, Sort: Sort{By: SortPrice}}},
			want: "mid fast", why: map[string]string{"mid/turbo": "in provider.ignore"}},
		{name: "sort by price", req: Request{Provider: Preferences{Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid mid/turbo fast", why: map[string]string{"cheap": "sorted by price: $0.10/$0.20 per M"}},
		{name: "sort by throughput", req: Request{Provider: Preferences{Sort: Sort{By: SortThroughput}}},
			want: "fast mid/turbo mid cheap slow"},
		{name: "sort by latency", req: Request{Provider: Preferences{Sort: Sort{By: "latency", Partition: "none"}}},
			want: "fast mid/turbo mid cheap slow", why: map[string]string{"fast": "sorted by latency: first token 10"}},
		{name: ":nitro sorts by throughput", req: Request{Model: "m:nitro"}, want: "fast mid/turbo mid cheap slow"},
		{name: ":floor sorts by price", req: Request{Model: "m:floor"}, want: "cheap slow mid mid/turbo fast"},
		{name: "max_price", req: Request{Provider: Preferences{MaxPrice: MaxPrice{Prompt: ptr(0.5), Completion: ptr(0.4)}, Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid", why: map[string]string{
				"fast": "prompt price over max_price.prompt ($0.60/M)", "mid/turbo": "completion price over max_price.completion ($0.50/M)"}},
		{name: "quantizations", req: Request{Provider: Preferences{Quantizations: []string{"fp8", "unknown"}, Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid/turbo", why: map[string]string{"fast": "quantization fp16 not in provider.quantizations"}},
		{name: "require_parameters", req: Request{Params: []string{"tools"}, Temperature: ptr(0.5),
			Provider: Preferences{RequireParameters: true, Sort: Sort{By: SortPrice}}},
			want: "slow fast", why: map[string]string{"mid": "does not support every parameter"}},
		{name: "parameters not required: all stay", req: Request{Params: []string{"seed"}, Provider: Preferences{Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid mid/turbo fast"},
		// tools and response_format are soft filters, as OpenRouter has
		// them: without require_parameters, the endpoints that list them
		// take the request when any does.
		{name: "tools, a soft filter", req: Request{Params: []string{"tools"}, Provider: Preferences{Sort: Sort{By: SortPrice}}},
			want: "slow fast", why: map[string]string{"mid": "does not list tools or response_format", "cheap": "does not list tools"}},
		{name: "a soft filter no endpoint lists", req: Request{Params: []string{"response_format"}, Provider: Preferences{Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid mid/turbo fast"},
		{name: "data_collection deny", req: Request{Provider: Preferences{DataCollection: "deny", Sort: Sort{By: SortPrice}}},
			want: "slow mid mid/turbo fast", why: map[string]string{"cheap": "may store or train on prompts"}},
		{name: "preferred_max_latency moves the slow to the end, never out",
			req:  Request{Provider: Preferences{PreferredMaxLatency: Cutoffs{P50: ptr(0.35)}, Sort: Sort{By: SortPrice}}},
			want: "mid mid/turbo fast cheap slow", why: map[string]string{"slow": "misses a preferred throughput or latency cutoff"}},
		{name: "zdr", req: Request{Provider: Preferences{ZDR: ptr(true), Sort: Sort{By: SortPrice}}},
			want: "mid fast", why: map[string]string{"cheap": "keeps request data (zdr"}},
		{name: "zdr false filters nothing", req: Request{Provider: Preferences{ZDR: ptr(false), Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid mid/turbo fast"},
		{name: "enforce_distillable_text", req: Request{Provider: Preferences{EnforceDistillableText: ptr(true), Sort: Sort{By: SortPrice}}},
			want: "cheap mid", why: map[string]string{"fast": "may not be used for distillation"}},
		{name: "max_price.request and .image", req: Request{Provider: Preferences{
			MaxPrice: MaxPrice{Request: ptr(0.001), Image: ptr(0.005)}, Sort: Sort{By: SortPrice}}},
			want: "slow mid mid/turbo", why: map[string]string{
				"cheap": "price per request over max_price.request ($0.002)", "fast": "price per image over max_price.image ($0.01)"}},
		{name: "allow_fallbacks false without order: the first choice only",
			req: Request{Provider: Preferences{AllowFallbacks: ptr(false), Sort: Sort{By: SortPrice}}}, want: "cheap",
			why: map[string]string{"slow": "allow_fallbacks is false: only the first choice is tried"}},
		{name: "a prompt that cannot fit is planned around, with the estimate",
			req: Request{MaxTokens: 100, Messages: []provider.Message{{Role: "user", Content: strings.Repeat("word ", 120)}},
				Provider: Preferences{Sort: Sort{By: SortPrice}}},
			want: "cheap slow mid fast", why: map[string]string{
				"mid/turbo": "context of 200 tokens is too short: the prompt (at least 206 tokens with max_tokens) does not fit"}},
		{name: "provider names in any case, and display names",
			req: Request{Provider: Preferences{Order: []string{"FAST INC", "Mid/Turbo"}}}, want: "fast mid/turbo", wantHead: true},
		{name: "preferred_min_throughput",
			req:  Request{Provider: Preferences{PreferredMinThroughput: Cutoffs{P50: ptr(150.0)}, Sort: Sort{By: SortPrice}}},
			want: "mid mid/turbo fast cheap slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newOptFleet(t, nil)
			order, tr, err := f.plan(t, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(order, " ")
			if tt.wantHead {
				got = strings.Join(order[:min(len(order), len(strings.Fields(tt.want)))], " ")
			}
			if got != tt.want {
				t.Errorf("order %v, want %s", order, tt.want)
			}
			for id, want := range tt.why {
				found := false
				for _, c := range tr.Candidates {
					if c.Endpoint == "m@"+id {
						found = true
						if !strings.Contains(c.Why, want) {
							t.Errorf("%s: why %q, want %q", id, c.Why, want)
						}
					}
				}
				if !found {
					t.Errorf("no candidate %s", id)
				}
			}
		})
	}
}

func TestNothingEligibleNamesEveryEndpoint(t *testing.T) {
	f := newOptFleet(t, nil)
	_ = f.mon.SetEnabled("m@slow", false)
	_, _, err := f.plan(t, Request{Provider: Preferences{Only: []string{"cheap", "slow", "mid"},
		MaxPrice: MaxPrice{Prompt: ptr(0.25)}, DataCollection: "deny"}})
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindNoEndpoints {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"cheap (may store or train on prompts", "fast (not in provider.only)",
		"mid (prompt price over max_price.prompt ($0.30/M))", "slow (turned off by the user)"} {
		if !strings.Contains(re.Message, want) {
			t.Errorf("%q does not say %q", re.Message, want)
		}
	}
}

func TestBadPreferencesAreTheCallersError(t *testing.T) {
	f := newOptFleet(t, nil)
	for _, p := range []Preferences{
		{Sort: Sort{By: "speed"}}, {DataCollection: "maybe"}, {Quantizations: []string{"fp7"}},
		{MaxPrice: MaxPrice{Prompt: ptr(-1.0)}}, {Sort: Sort{By: "price", Partition: "all"}},
	} {
		_, _, err := f.plan(t, Request{Provider: p})
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindBadRequest || !strings.HasPrefix(re.Message, "provider.") {
			t.Errorf("%+v: err = %v", p, err)
		}
	}
}

// A provider name that names nothing the request's models have is the
// caller's error, naming the field and what was probably meant.
func TestUnknownProviderNames(t *testing.T) {
	f := newOptFleet(t, nil)
	for _, tt := range []struct {
		p          Preferences
		models     []string
		param, msg string
	}{
		{Preferences{Order: []string{"fast", "chaep"}}, nil, "provider.order[1]", `"chaep" is not a provider of m; did you mean "cheap"?`},
		{Preferences{Only: []string{"Fast Incc"}}, nil, "provider.only[0]", `did you mean "Fast Inc"?`},
		{Preferences{Ignore: []string{"groq"}}, nil, "provider.ignore[0]", `"groq" is not a provider of m (providers: cheap, fast, Fast Inc, mid, slow)`},
		{Preferences{Order: []string{"mid/fp8"}}, nil, "provider.order[0]", `"mid/fp8" names no endpoint: mid has no variant "fp8"; it has mid/turbo`},
		{Preferences{Only: []string{"cheap"}}, []string{"big"}, "", ""}, // cheap serves m, the first model
		{Preferences{Only: []string{"fast"}}, []string{"big"}, "", ""},
	} {
		_, _, err := f.plan(t, Request{Provider: tt.p, Models: tt.models})
		var re *Error
		switch {
		case tt.param == "" && err != nil:
			t.Errorf("%+v: %v", tt.p, err)
		case tt.param != "" && (!errors.As(err, &re) || re.Kind != KindBadRequest || re.Param != tt.param || !strings.Contains(re.Message, tt.msg)):
			t.Errorf("%+v: err = %#v, want %s: ...%s", tt.p, err, tt.param, tt.msg)
		}
	}
}

// A huge name is repeated clipped, and not compared with every provider's
// for a "did you mean": the error stays short and cheap.
func TestHugeNamesAreClipped(t *testing.T) {
	f := newOptFleet(t, nil)
	huge := strings.Repeat("chaep", 200_000)
	for _, p := range []Preferences{{Only: []string{huge}}, {Order: []string{"mid/" + huge}}} {
		_, _, err := f.plan(t, Request{Provider: p})
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindBadRequest || len(re.Message) > 400 || strings.Contains(re.Message, "did you mean") {
			t.Errorf("err %.300v (%d bytes)", err, len(fmt.Sprint(err)))
		}
	}
	if _, err := f.router.Send(t.Context(), Request{Model: huge}, nil); err == nil || len(err.Error()) > 400 {
		t.Errorf("unknown model: %d bytes of error", len(fmt.Sprint(err)))
	}
}

func TestModelDefaultsApplyUnlessTheRequestSaysOtherwise(t *testing.T) {
	f := newOptFleet(t, map[string]ModelDefaults{"m": {Provider: Preferences{Sort: Sort{By: SortPrice}, Ignore: []string{"cheap"}}}})
	order, _, _ := f.plan(t, Request{})
	if got := strings.Join(order, " "); got != "slow mid mid/turbo fast" {
		t.Errorf("defaults: %s", got)
	}
	order, _, _ = f.plan(t, Request{Provider: Preferences{Sort: Sort{By: SortLatency}}})
	if got := strings.Join(order, " "); got != "fast mid/turbo mid slow" {
		t.Errorf("request's sort over the default, default ignore kept: %s", got)
	}
}

func TestPreferencesJSON(t *testing.T) {
	var p Preferences
	doc := `{"order": ["groq"], "allow_fallbacks": false, "sort": "latency",
		"max_price": {"prompt": 1, "completion": 2}, "preferred_min_throughput": 50,
		"preferred_max_latency": {"p50": 1.5, "p99": 4}, "quantizations": ["fp8"], "data_collection": "deny"}`
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if p.Fallbacks() || p.Sort.By != "latency" || *p.MaxPrice.Completion != 2 || *p.PreferredMinThroughput.P50 != 50 ||
		*p.PreferredMaxLatency.P99 != 4 || p.PreferredMaxLatency.P75 != nil || p.DataCollection != "deny" {
		t.Fatalf("%+v", p)
	}
	if err := json.Unmarshal([]byte(`{"sort": {"by": "throughput", "partition": "none"}}`), &p); err != nil || p.Sort.Partition != "none" {
		t.Fatalf("sort object: %+v %v", p.Sort, err)
	}
	if err := json.Unmarshal([]byte(`{"preferred_max_latency": "fast"}`), &p); err == nil {
		t.Fatal("a string cutoff was accepted")
	}
}

// A sort with partition "none" orders the endpoints of every model of the
// request together; the default partition sorts within each model in turn.
func TestSortPartition(t *testing.T) {
	for _, tc := range []struct {
		partition string
		first     string
	}{{"model", "big@fast"}, {"none", "m@cheap"}} {
		f := newOptFleet(t, nil)
		f.router.opts.RetryBackoff = time.Millisecond
		req := Request{Model: "big", Models: []string{"m"}, Messages: []provider.Message{{Role: "user", Content: "hi"}},
			Provider: Preferences{Sort: Sort{By: SortPrice, Partition: tc.partition}}}
		res, _ := f.router.Send(t.Context(), req, nil) // the upstreams are closed ports: only the order matters here
		if got := res.Trace.Order[0]; got != tc.first {
			t.Errorf("partition %q: order %v, want %s first", tc.partition, res.Trace.Order, tc.first)
		}
		if len(res.Trace.Order) != 6 {
			t.Errorf("partition %q: %d endpoints in the order, want all 6 of both models", tc.partition, len(res.Trace.Order))
		}
	}
}
