package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// The providers of the models tests, by price: cheap answers, mid is
// down, dear is turned off.
const (
	provCheap = "cheap"
	provMid   = "mid"
	provDear  = "dear"
)

func endpointID(provider string) string { return testModel + "@" + provider }

// newModelsFixture serves testModel from three simulated providers at 1,
// 2 and 3 USD per million tokens, without any health data yet.
func newModelsFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, Options{}, map[string]upstream{
		provCheap: {profile: &sim.Profile{}, price: 1},
		provMid:   {profile: &sim.Profile{}, price: 2},
		provDear:  {profile: &sim.Profile{}, price: 3},
	})
}

// answered200ms is a success with its first token after 200ms and 40 tokens in
// the whole second: 40 tokens per second, as OpenRouter counts throughput.
var answered200ms = provider.Outcome{Class: provider.ClassOK, TTFT: 200 * time.Millisecond, Duration: time.Second, OutputTokens: 40}

// giveHealth makes cheap fail once 46 minutes ago and once 6 minutes ago,
// then answer five times (so its uptime is 100% over 5 minutes, 5/6 over
// 30, 5/7 over a day); makes mid fail three times in a row (an outage);
// and turns dear off.
func giveHealth(t *testing.T, f *fixture) {
	t.Helper()
	failure := provider.Outcome{Class: provider.ClassServer, Status: 500}
	f.mon.Record(endpointID(provCheap), failure)
	f.clock.Advance(40 * time.Minute)
	f.mon.Record(endpointID(provCheap), failure)
	f.clock.Advance(6 * time.Minute)
	for range 5 {
		f.mon.Record(endpointID(provCheap), answered200ms)
		f.clock.Advance(time.Second)
	}
	for range 3 {
		f.mon.Record(endpointID(provMid), failure)
	}
	if err := f.mon.SetEnabled(endpointID(provDear), false); err != nil {
		t.Fatal(err)
	}
	// The 30-minute percentiles are read at most once a second.
	f.clock.Advance(time.Second)
}

// endpointSpec is an endpoint with what the shared fixture leaves unset.
type endpointSpec struct {
	name, variant, quantization string
	price                       float64
	context                     int
	modalities                  []string // besides text
}

// newFixtureWith serves testModel from a simulated provider per spec, with
// the specs' context lengths, variants and quantizations.
func newFixtureWith(t *testing.T, specs []endpointSpec) *fixture {
	t.Helper()
	f := &fixture{clock: monitortest.NewClock(), sims: map[string]*sim.Server{}}
	var eps []routing.Endpoint
	var meps []monitor.Endpoint
	for _, s := range specs {
		f.sims[s.name] = simtest.Start(t, sim.Profile{Name: s.name, Models: []string{"up-" + s.name}})
		client := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: f.sims[s.name].URL()})
		t.Cleanup(client.CloseIdleConnections)
		eps = append(eps, routing.Endpoint{ID: endpointID(s.name), Provider: s.name, Model: testModel,
			UpstreamModel: "up-" + s.name, PriceIn: s.price, PriceOut: s.price, Upstream: client,
			Variant: s.variant, Quantization: s.quantization, ContextLength: s.context, InputModalities: s.modalities})
		meps = append(meps, monitor.Endpoint{ID: endpointID(s.name), Provider: s.name, Model: testModel})
	}
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clock}, meps); err != nil {
		t.Fatal(err)
	}
	if f.router, err = routing.New(routing.Options{Endpoints: eps, Health: f.mon, Clock: f.clock, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(New(Options{Router: f.router, Health: f.mon}))
	t.Cleanup(f.srv.Close)
	return f
}

// getJSON fetches path, wants a 200 with JSON, and decodes it into v.
func getJSON(t *testing.T, f *fixture, path string, v any) {
	t.Helper()
	resp, b := f.get(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200: %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// wireEndpoint is an endpoint of the endpoints API as a client reads it.
type wireEndpoint struct {
	Name         string   `json:"name"`
	ProviderName string   `json:"provider_name"`
	Tag          string   `json:"tag"`
	Quantization *string  `json:"quantization"`
	Context      int      `json:"context_length"`
	Parameters   []string `json:"supported_parameters"`
	Pricing      struct {
		Prompt     string `json:"prompt"`
		Completion string `json:"completion"`
	} `json:"pricing"`
	Uptime5m   *float64         `json:"uptime_last_5m"`
	Uptime30m  *float64         `json:"uptime_last_30m"`
	Uptime1d   *float64         `json:"uptime_last_1d"`
	Latency    *wirePercentiles `json:"latency_last_30m"`
	Throughput *wirePercentiles `json:"throughput_last_30m"`
	Status     *int             `json:"status"`
	State      string           `json:"state"`
	Reason     string           `json:"reason"`
	Enabled    *bool            `json:"enabled"`
}

type wirePercentiles struct {
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// byProvider indexes endpoints by provider, failing on a duplicate.
func byProvider(t *testing.T, eps []wireEndpoint) map[string]wireEndpoint {
	t.Helper()
	m := map[string]wireEndpoint{}
	for _, e := range eps {
		if _, dup := m[e.ProviderName]; dup {
			t.Errorf("provider %q listed twice", e.ProviderName)
		}
		m[e.ProviderName] = e
	}
	return m
}

// show writes what a pointer field holds, or null.
func show[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// GET /v1/models lists the model once, with how many endpoints serve it
// and how many of them answer now, and the cheapest one's price in
// OpenRouter's unit: USD per token, as a string.
func TestModelsListsTheModelWithItsEndpointsAndPrice(t *testing.T) {
	f := newModelsFixture(t)
	giveHealth(t, f)
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID        string `json:"id"`
			Object    string `json:"object"`
			Endpoints int    `json:"endpoints"`
			Answering int    `json:"answering"`
			Pricing   struct {
				Prompt     string `json:"prompt"`
				Completion string `json:"completion"`
			} `json:"pricing"`
		} `json:"data"`
	}
	for _, path := range []string{"/v1/models", "/api/v1/models"} {
		getJSON(t, f, path, &list)
		if list.Object != "list" || len(list.Data) != 1 {
			t.Fatalf("GET %s: %+v, want a list of one model", path, list)
		}
		m := list.Data[0]
		if m.ID != testModel || m.Object != "model" {
			t.Errorf("GET %s: model %q (object %q), want %q (model)", path, m.ID, m.Object, testModel)
		}
		// mid is down and dear turned off: only cheap answers.
		if m.Endpoints != 3 || m.Answering != 1 {
			t.Errorf("GET %s: %d endpoints, %d answering; want 3 and 1", path, m.Endpoints, m.Answering)
		}
		if m.Pricing.Prompt != "0.000001" || m.Pricing.Completion != "0.000001" {
			t.Errorf("GET %s: pricing %+v, want the cheapest's 0.000001 per token", path, m.Pricing)
		}
	}
}

// The context length of a model is the longest of its endpoints', and it
// takes images when one of them does; no simulated fleet sets these, so
// this builds its own router.
func TestModelsContextLengthIsTheLongestEndpoints(t *testing.T) {
	f := newFixtureWith(t, []endpointSpec{
		{name: "long", price: 2, context: 131072, variant: "turbo", quantization: "fp8", modalities: []string{"image"}},
		{name: "short", price: 1, context: 8192},
	})
	var list struct {
		Data []struct {
			ContextLength int `json:"context_length"`
			Architecture  struct {
				InputModalities []string `json:"input_modalities"`
			} `json:"architecture"`
		} `json:"data"`
	}
	getJSON(t, f, "/v1/models", &list)
	if len(list.Data) != 1 || list.Data[0].ContextLength != 131072 || strings.Join(list.Data[0].Architecture.InputModalities, " ") != "text image" {
		t.Errorf("models %+v, want one with context_length 131072 taking text and images", list.Data)
	}
	var a struct {
		Data struct {
			Endpoints []wireEndpoint `json:"endpoints"`
		} `json:"data"`
	}
	getJSON(t, f, "/api/v1/models/"+testModel+"/endpoints", &a)
	eps := byProvider(t, a.Data.Endpoints)
	if e := eps["long"]; e.Tag != "long/turbo" || e.Quantization == nil || *e.Quantization != "fp8" || e.Context != 131072 {
		t.Errorf("long: tag %q, quantization %s, context %d; want long/turbo, fp8, 131072", e.Tag, show(e.Quantization), e.Context)
	}
	if e := eps["short"]; e.Tag != "short" || e.Quantization != nil || e.Context != 8192 {
		t.Errorf("short: tag %q, quantization %s, context %d; want short, null, 8192", e.Tag, show(e.Quantization), e.Context)
	}
}

// The endpoints API gives each endpoint's live health in OpenRouter's
// names and units: uptime in percent (null without data), latency in
// milliseconds, throughput in tokens per second, and status 0 when well,
// negative when not, with Switchboard's state and why.
func TestEndpointsGiveEachEndpointsLiveHealth(t *testing.T) {
	f := newModelsFixture(t)
	path := "/api/v1/models/" + testModel + "/endpoints"
	var a struct {
		Data struct {
			ID        string         `json:"id"`
			Endpoints []wireEndpoint `json:"endpoints"`
		} `json:"data"`
	}

	// Before any outcome: every uptime is null, not 0 or 100.
	getJSON(t, f, path, &a)
	if a.Data.ID != testModel || len(a.Data.Endpoints) != 3 {
		t.Fatalf("%+v, want the 3 endpoints of %s", a.Data, testModel)
	}
	for _, e := range a.Data.Endpoints {
		if e.Uptime5m != nil || e.Uptime30m != nil || e.Uptime1d != nil || e.Latency != nil {
			t.Errorf("%s without data: uptime %s/%s/%s, latency %s; want all null",
				e.ProviderName, show(e.Uptime5m), show(e.Uptime30m), show(e.Uptime1d), show(e.Latency))
		}
	}

	f.clock.Advance(time.Second)
	giveHealth(t, f)
	getJSON(t, f, path, &a)
	eps := byProvider(t, a.Data.Endpoints)
	if len(eps) != 3 {
		t.Fatalf("endpoints %+v, want cheap, mid and dear", a.Data.Endpoints)
	}
	for name, price := range map[string]string{provCheap: "0.000001", provMid: "0.000002", provDear: "0.000003"} {
		e := eps[name]
		if e.Tag != name || e.Pricing.Prompt != price || e.Pricing.Completion != price {
			t.Errorf("%s: tag %q, pricing %+v; want tag %s and %s per token", name, e.Tag, e.Pricing, name, price)
		}
		if e.Parameters == nil {
			t.Errorf("%s: supported_parameters is null, want a list", name)
		}
	}

	c := eps[provCheap]
	if c.Status == nil || *c.Status != 0 || c.State != "healthy" || c.Enabled == nil || !*c.Enabled {
		t.Errorf("cheap: status %s, state %q, enabled %s; want 0, healthy, true", show(c.Status), c.State, show(c.Enabled))
	}
	for _, u := range []struct {
		name string
		got  *float64
		want float64
	}{{"5m", c.Uptime5m, 100}, {"30m", c.Uptime30m, 100 * 5 / 6.0}, {"1d", c.Uptime1d, 100 * 5 / 7.0}} {
		if u.got == nil || !within(*u.got, u.want, 1e-9) {
			t.Errorf("cheap: uptime_last_%s %s, want %.2f (percent)", u.name, show(u.got), u.want)
		}
	}
	// A TTFT of 200ms reads 200, in milliseconds, within the histogram's
	// precision; 40 tokens in 1s, first token included, read 40 tokens per
	// second.
	if c.Latency == nil || !within(c.Latency.P50, 200, 0.02) {
		t.Errorf("cheap: latency_last_30m %s, want p50 within 2%% of 200 (ms)", show(c.Latency))
	}
	if c.Throughput == nil || !within(c.Throughput.P50, 40, 0.02) {
		t.Errorf("cheap: throughput_last_30m %s, want p50 within 2%% of 40 (tokens/s)", show(c.Throughput))
	}

	m := eps[provMid]
	if m.Status == nil || *m.Status != -3 || m.State != "down" {
		t.Errorf("mid: status %s, state %q; want -3, down", show(m.Status), m.State)
	}
	if !strings.Contains(m.Reason, "3 errors in a row") {
		t.Errorf("mid: reason %q does not say why it is down", m.Reason)
	}
	if m.Uptime5m == nil || *m.Uptime5m != 0 {
		t.Errorf("mid: uptime_last_5m %s, want 0", show(m.Uptime5m))
	}
	if m.Latency != nil {
		t.Errorf("mid: latency_last_30m %s without a success, want null", show(m.Latency))
	}

	d := eps[provDear]
	if d.Status == nil || *d.Status != -5 || d.State != "disabled" || d.Enabled == nil || *d.Enabled || d.Reason == "" {
		t.Errorf("dear: status %s, state %q, enabled %s, reason %q; want -5, disabled, false, why", show(d.Status), d.State, show(d.Enabled), d.Reason)
	}
	if d.Uptime5m != nil || d.Latency != nil || d.Throughput != nil {
		t.Errorf("dear without data: uptime %s, latency %s, throughput %s; want null", show(d.Uptime5m), show(d.Latency), show(d.Throughput))
	}
}

// A model that is not served is a 404 in the API's error shape.
func TestEndpointsOfAnUnknownModelIsNotFound(t *testing.T) {
	f := newModelsFixture(t)
	resp, b := f.get(t, "/api/v1/models/acme/none/endpoints")
	if e := decodeError(t, resp, b, http.StatusNotFound); e.Error.Type != "model_not_found" || !strings.Contains(e.Error.Message, "acme/none") {
		t.Errorf("error %+v; want model_not_found naming acme/none", e.Error)
	}
}

// GET /api/v1/health sets what routing delivered against the best single
// endpoint; delivered is null until a request was routed.
func TestHealthSetsDeliveredAgainstTheBestEndpoint(t *testing.T) {
	f := newModelsFixture(t)
	giveHealth(t, f)
	type answer struct {
		Models []struct {
			ID         string         `json:"id"`
			Delivered  *float64       `json:"delivered_uptime_5m"`
			BestSingle *float64       `json:"best_single_uptime_5m"`
			Endpoints  []wireEndpoint `json:"endpoints"`
		} `json:"models"`
	}
	var a answer
	getJSON(t, f, "/api/v1/health", &a)
	if len(a.Models) != 1 || a.Models[0].ID != testModel {
		t.Fatalf("models %+v, want %s alone", a.Models, testModel)
	}
	m := a.Models[0]
	if len(m.Endpoints) != 3 {
		t.Errorf("%d endpoints, want 3", len(m.Endpoints))
	}
	if states := byProvider(t, m.Endpoints); states[provMid].State != "down" || states[provDear].State != "disabled" {
		t.Errorf("mid %q, dear %q; want down and disabled", states[provMid].State, states[provDear].State)
	}
	if m.Delivered != nil {
		t.Errorf("delivered %v before any routed request, want null", *m.Delivered)
	}
	if m.BestSingle == nil || *m.BestSingle != 100 {
		t.Errorf("best single %s, want cheap's 100", show(m.BestSingle))
	}

	if resp, b := f.post(t, "/v1/chat/completions", chatBody(false)); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat: status %d: %s", resp.StatusCode, b)
	}
	a = answer{}
	getJSON(t, f, "/api/v1/health", &a)
	if d := a.Models[0].Delivered; d == nil || *d != 100 {
		t.Errorf("delivered %s after one answered request, want 100", show(d))
	}
}

// /healthz answers while the process serves; /readyz only while every
// model has an endpoint that takes requests, and otherwise names the
// models that have none, for a load balancer to act on.
func TestReadyOnlyWhileEveryModelHasAnAnsweringEndpoint(t *testing.T) {
	f := newModelsFixture(t)
	if resp, b := f.get(t, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: status %d: %s", resp.StatusCode, b)
	}
	if resp, b := f.get(t, "/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz without data: status %d, want 200: %s", resp.StatusCode, b)
	}
	giveHealth(t, f) // cheap still answers
	if resp, b := f.get(t, "/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with one endpoint answering: status %d, want 200: %s", resp.StatusCode, b)
	}
	// Rate limited, cheap is cooling down but still tried when nothing
	// else is left: the model can be served.
	f.mon.Record(endpointID(provCheap), provider.Outcome{Class: provider.ClassRateLimited, Status: 429, RetryAfter: 30 * time.Second})
	if resp, b := f.get(t, "/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the last endpoint cooling down: status %d, want 200: %s", resp.StatusCode, b)
	}
	if err := f.mon.SetEnabled(endpointID(provCheap), false); err != nil {
		t.Fatal(err)
	}
	resp, b := f.get(t, "/readyz")
	var r struct {
		Status string   `json:"status"`
		Models []string `json:"models_without_endpoints"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, b)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !slices.Equal(r.Models, []string{testModel}) {
		t.Errorf("/readyz with every endpoint off or down: status %d, %s; want 503 naming %s", resp.StatusCode, b, testModel)
	}
	if resp, b := f.get(t, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while not ready: status %d, want 200: %s", resp.StatusCode, b)
	}
}

// Prices per million tokens read as OpenRouter's per-token strings,
// without the float division's noise.
func TestPerTokenWritesUSDPerToken(t *testing.T) {
	for _, c := range []struct {
		perMillion float64
		want       string
	}{
		{0.79, "0.00000079"},
		{1.2, "0.0000012"},
		{0, "0"},
		{1, "0.000001"},
		{0.06, "0.00000006"},
		{15, "0.000015"},
		{3.3, "0.0000033"},
		{0.1, "0.0000001"},
		{2.5, "0.0000025"},
	} {
		if got := perToken(c.perMillion); got != c.want {
			t.Errorf("perToken(%v) = %q, want %q", c.perMillion, got, c.want)
		}
	}
}

// throughput_last_30m reads as OpenRouter's: p90 is the speed 90% of
// requests reach, so p99 <= p90 <= p75 <= p50.
func TestEndpointsThroughputFromTheSlowSide(t *testing.T) {
	f := newModelsFixture(t)
	for tokens := 10; tokens <= 100; tokens += 10 { // ten requests at each of 10, 20, ..., 100 tokens/s
		for range 10 {
			f.mon.Record(endpointID(provCheap), provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond,
				Duration: time.Second, OutputTokens: tokens})
		}
	}
	f.clock.Advance(time.Second) // the 30-minute percentiles are read at most once a second
	var a struct {
		Data struct {
			Endpoints []wireEndpoint `json:"endpoints"`
		} `json:"data"`
	}
	getJSON(t, f, "/api/v1/models/"+testModel+"/endpoints", &a)
	tp := byProvider(t, a.Data.Endpoints)[provCheap].Throughput
	if tp == nil || !within(tp.P50, 60, 0.02) || !within(tp.P75, 30, 0.02) || !within(tp.P90, 20, 0.02) || !within(tp.P99, 10, 0.02) {
		t.Fatalf("throughput_last_30m %s, want p50 60, p75 30, p90 20, p99 10 (tokens/s)", show(tp))
	}
}

// The endpoints API lists only the parameters Switchboard can carry: an
// endpoint configured with functions or audio is not advertised with them,
// since a request that sets them is refused; tools and logprobs are carried.
func TestSupportedParametersAreWhatSwitchboardCarries(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{
		"p": {profile: &sim.Profile{}, price: 1, params: []string{"max_tokens", "tools", "functions", "tool_choice", "logprobs", "audio", "response_format"}}})
	resp, b := f.get(t, "/api/v1/models/"+testModel+"/endpoints")
	var got struct {
		Data struct {
			Endpoints []struct {
				Parameters []string `json:"supported_parameters"`
			} `json:"endpoints"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || len(got.Data.Endpoints) != 1 {
		t.Fatalf("status %d: %s (%v)", resp.StatusCode, b, err)
	}
	if p := strings.Join(got.Data.Endpoints[0].Parameters, " "); p != "max_tokens tools tool_choice logprobs response_format" {
		t.Errorf("supported_parameters %q, want only what a request may set: max_tokens tools tool_choice logprobs response_format", p)
	}
}
