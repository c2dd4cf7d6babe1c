package gateway

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"switchboard/routing"
	"switchboard/sim"
)

// routedTo has Options tell ch of every request the router routed: it is
// counted in /metrics before.
func routedTo(ch chan struct{}) Options {
	return Options{Routed: func(*routing.Trace) { ch <- struct{}{} }}
}

// costWant is what n prompt and m completion tokens cost at prices in and
// out (USD per million) plus req per request.
func costWant(n, m int, in, out, req float64) float64 {
	return float64(n)*in/1e6 + float64(m)*out/1e6 + req
}

func sameCost(got, want float64) bool { return math.Abs(got-want) <= 1e-12*max(1, math.Abs(want)) }

func TestUsageCostIsTheUsageAtTheServingEndpointsPrices(t *testing.T) {
	routed := make(chan struct{}, 2)
	f := newFixture(t, routedTo(routed), map[string]upstream{
		"p": {profile: &sim.Profile{}, price: 2, priceOut: 8, priceRequest: 0.001}})

	resp, body := f.post(t, "/v1/chat/completions", chatBody(false))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	a := decodeAnswer(t, string(body))
	if a.Usage == nil || a.Usage.PromptTokens == 0 || a.Usage.CompletionTokens == 0 {
		t.Fatalf("the whole answer's usage %+v: want tokens both ways", a.Usage)
	}
	whole := costWant(a.Usage.PromptTokens, a.Usage.CompletionTokens, 2, 8, 0.001)
	if !sameCost(a.Usage.Cost, whole) {
		t.Errorf("whole answer: usage.cost %v, want %v (%d in at $2/M, %d out at $8/M, $0.001 a request)",
			a.Usage.Cost, whole, a.Usage.PromptTokens, a.Usage.CompletionTokens)
	}

	resp, body = f.post(t, "/v1/chat/completions", chatBody(true))
	s := readStream(t, resp, body)
	u := s.last.Usage
	if u == nil || u.PromptTokens == 0 || u.CompletionTokens == 0 {
		t.Fatalf("the final chunk's usage %+v: want tokens both ways", u)
	}
	streamed := costWant(u.PromptTokens, u.CompletionTokens, 2, 8, 0.001)
	if !sameCost(u.Cost, streamed) {
		t.Errorf("stream: the final chunk's usage.cost %v, want %v", u.Cost, streamed)
	}
	for i, c := range s.chunks[:len(s.chunks)-1] {
		if c.Usage != nil {
			t.Errorf("chunk %d carries usage before the final chunk: %+v", i, c.Usage)
		}
	}

	<-routed
	<-routed
	// A request no endpoint serves costs nothing and counts nowhere.
	bad := chatBody(false)
	bad["model"] = "no/such-model"
	if resp, body := f.post(t, "/v1/chat/completions", bad); resp.StatusCode == http.StatusOK {
		t.Fatalf("an unknown model was answered: %s", body)
	}

	fams := scrape(t, f.srv.URL+"/metrics")
	m := series(fams, "switchboard_cost_usd_total", map[string]string{"model": testModel, "provider": "p"})
	if m == nil {
		t.Fatal("switchboard_cost_usd_total{provider=\"p\"} is missing")
	}
	if got := value(m); !sameCost(got, whole+streamed) {
		t.Errorf("switchboard_cost_usd_total = %v, want %v, the two answers' costs", got, whole+streamed)
	}
	if n := len(fams["switchboard_cost_usd_total"].GetMetric()); n != 1 {
		t.Errorf("%d cost series, want the serving endpoint's only", n)
	}
}

func TestUsageCostOfAResumedStreamIsAtTheEndpointThatFinishedIt(t *testing.T) {
	// p cuts every stream and refuses to carry one on; q carries p's on.
	// The usage is q's attempt (its prompt holds p's text), priced at q's
	// prices: p reported no usage for the attempt it cut.
	req := chatBody(true)
	req["max_tokens"] = 300
	routed := make(chan struct{}, 1)
	f := newFixture(t, routedTo(routed), map[string]upstream{
		"p": {profile: &sim.Profile{Seed: 5, RefusePrefill: true}, price: 1, prefill: true},
		"q": {profile: &sim.Profile{Seed: 5}, price: 10, priceOut: 30, priceRequest: 0.5, prefill: true}})
	f.sims["p"].SetMode(sim.ModeCut)
	resp, body := f.post(t, "/v1/chat/completions", req)
	s := readStream(t, resp, body)
	if q := f.sims["q"].Stats(); q.Prefills != 1 || s.finish != "stop" || s.last.Provider != "q" {
		t.Fatalf("q carried on %d streams, finish %q, served by %q; want 1, stop, q", q.Prefills, s.finish, s.last.Provider)
	}
	u := s.last.Usage
	if u == nil || u.PromptTokens == 0 || u.CompletionTokens == 0 {
		t.Fatalf("the final chunk's usage %+v: want q's tokens both ways", u)
	}
	want := costWant(u.PromptTokens, u.CompletionTokens, 10, 30, 0.5)
	if !sameCost(u.Cost, want) {
		t.Errorf("usage.cost %v, want %v (q's usage at q's prices)", u.Cost, want)
	}
	<-routed
	fams := scrape(t, f.srv.URL+"/metrics")
	if m := series(fams, "switchboard_cost_usd_total", map[string]string{"model": testModel, "provider": "q"}); m == nil || !sameCost(value(m), want) {
		t.Errorf("switchboard_cost_usd_total{provider=\"q\"} = %v, want %v", m, want)
	}
	if m := series(fams, "switchboard_cost_usd_total", map[string]string{"provider": "p"}); m != nil {
		t.Errorf("p, which served no answer, has a cost: %v", m)
	}
}

// Anthropic's usage has no cost field; /metrics counts what a Messages
// answer cost all the same.
func TestMessagesCostIsCountedInMetrics(t *testing.T) {
	routed := make(chan struct{}, 1)
	f := newFixture(t, routedTo(routed), map[string]upstream{"p": {profile: &sim.Profile{}, price: 3, priceOut: 15}})
	resp, body := f.post(t, "/v1/messages", messagesBody(false))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a struct {
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Usage.InputTokens == 0 || a.Usage.OutputTokens == 0 {
		t.Fatalf("answer %s (%v): want tokens both ways", body, err)
	}
	<-routed
	want := costWant(a.Usage.InputTokens, a.Usage.OutputTokens, 3, 15, 0)
	m := series(scrape(t, f.srv.URL+"/metrics"), "switchboard_cost_usd_total", map[string]string{"model": testModel, "provider": "p"})
	if m == nil || !sameCost(value(m), want) {
		t.Errorf("switchboard_cost_usd_total{provider=\"p\"} = %v, want %v", m, want)
	}
}
