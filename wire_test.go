package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/config"
	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// brokenModel is a simulated provider behind a front that fails every chat
// completion with a 500 while broken is set, and passes the rest (GET
// /models above all) through: a host that answers, with a model that does not.
func brokenModel(t *testing.T) (base string, broken *atomic.Bool) {
	t.Helper()
	srv := simtest.Start(t, sim.Profile{Models: []string{"m"}})
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	proxy.Transport = tr
	broken = new(atomic.Bool)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() && r.Method == http.MethodPost {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"the model crashed","type":"server_error"}}`))
			return
		}
		// The request body is read whole before the proxy streams the
		// answer: once the answer's first bytes are flushed, the server
		// closes a request body not yet read to its end, and a proxy still
		// sending it upstream would drop the connection mid-answer.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL + "/v1", broken
}

// An endpoint probed with GET /models goes down on chat failures even with
// the models probe succeeding in between, stays down while only the host
// answers, and comes back through its chat trial once the model answers.
func TestModelsProbeDoesNotVouchForTheModel(t *testing.T) {
	base, broken := brokenModel(t)
	up := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base})
	probe, trial := probeFor(config.ProbeModels, up, "m")
	if trial == nil {
		t.Fatal("a models probe has no chat trial: an endpoint probed so could only recover through real traffic")
	}
	clk := monitortest.NewClock()
	mon, err := monitor.New(monitor.Options{Clock: clk},
		[]monitor.Endpoint{{ID: "m@p", Provider: "p", Model: "m", Probe: probe, Trial: trial}})
	if err != nil {
		t.Fatal(err)
	}
	status := func() monitor.EndpointStatus {
		st, _ := mon.Snapshot().Endpoint("m@p")
		return st
	}
	send := func(f monitor.ProbeFunc, gen uint64) provider.Outcome {
		o := f(t.Context())
		o.Probe, o.Gen = true, gen
		mon.Record("m@p", o)
		return o
	}

	broken.Store(true)
	for i := range mon.Options().DownAfter {
		if o := send(probe, 0); o.Class != provider.ClassOK || !o.Shallow {
			t.Fatalf("models probe: %s, shallow %v; want ok and shallow", o.Class, o.Shallow)
		}
		if o := send(trial, 0); o.Class != provider.ClassServer || o.Shallow {
			t.Fatalf("chat %d: %s, shallow %v; want server, not shallow", i+1, o.Class, o.Shallow)
		}
	}
	if st := status(); st.State != monitor.Down || st.Availability != 0 {
		t.Fatalf("chat failing, models answering: %s, availability %v (%s); want down, 0", st.State, st.Availability, st.Reason)
	}

	clk.Advance(mon.Options().BreakerBackoff)
	gen, ok := mon.Admit("m@p")
	if !ok {
		t.Fatal("no trial after the backoff")
	}
	send(probe, gen)
	if st := status(); st.Breaker != monitor.BreakerHalfOpen {
		t.Fatalf("a models probe as the trial left the breaker %s (%s); want half-open", st.Breaker, st.Reason)
	}

	broken.Store(false)
	gen, ok = mon.Admit("m@p")
	if !ok {
		t.Fatal("the models probe kept the trial")
	}
	if o := send(trial, gen); o.Class != provider.ClassOK || o.OutputTokens == 0 {
		t.Fatalf("chat trial: %s with %d tokens", o.Class, o.OutputTokens)
	}
	if st := status(); st.Breaker != monitor.BreakerClosed || st.State == monitor.Down {
		t.Fatalf("after the chat trial answered: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
}

// A chat probe asks the model itself: it is its own trial.
func TestChatProbeIsItsOwnTrial(t *testing.T) {
	base, _ := brokenModel(t)
	probe, trial := probeFor(config.ProbeChat, provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base}), "m")
	if trial != nil {
		t.Error("a chat probe comes with a separate trial")
	}
	if o := probe(t.Context()); o.Class != provider.ClassOK || o.Shallow || o.OutputTokens == 0 || o.Duration <= 0 {
		t.Errorf("chat probe: %+v", o)
	}
}

// A fast provider's 8-token chat probes give it a throughput: timed from the
// request, as OpenRouter times it, a short answer is no longer too short to
// time (the fast simulated cerebras showed "no data" for ever).
func TestFastProviderProbesGiveAThroughput(t *testing.T) {
	base, _ := brokenModel(t) // not broken: 1ms to the first token, 20,000 tokens/s
	probe, _ := probeFor(config.ProbeChat, provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base}), "m")
	mon, err := monitor.New(monitor.Options{Clock: monitortest.NewClock()}, []monitor.Endpoint{{ID: "m@fast", Provider: "fast", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	var o provider.Outcome
	for range 5 {
		o = probe(t.Context())
		mon.Record("m@fast", o)
	}
	if o.Class != provider.ClassOK || o.OutputTokens < 2 {
		t.Fatalf("probe: %s with %d tokens", o.Class, o.OutputTokens)
	}
	st, _ := mon.Snapshot().Endpoint("m@fast")
	if st.Throughput.P50 <= 0 || st.Throughput30m.P50 <= 0 {
		t.Fatalf("throughput %+v, 30m %+v after %d-token answers in %s: want figures", st.Throughput, st.Throughput30m, o.OutputTokens, o.Duration)
	}
}

// What the configuration says of an endpoint and its provider reaches the
// router: a filter that config checks but the router never sees would
// quietly let everything through.
func TestBuildCarriesEndpointFields(t *testing.T) {
	doc := strings.Replace(fastConfig, "name = \"alpha\"\n", "name = \"alpha\"\ndisplay = \"Alpha AI\"\n", 1) + `
price_request = 0.001
price_image = 0.002
zdr = true
distillable = true
context_length = 4096
`
	s := buildFrom(t, doc)
	eps := s.router.Endpoints("test/model")
	if len(eps) != 2 {
		t.Fatalf("endpoints %+v", eps)
	}
	a, b := eps[0], eps[1]
	if a.ProviderName != "Alpha AI" || a.ZDR || a.Distillable || a.PriceRequest != 0 || a.Upstream == nil {
		t.Errorf("alpha = %+v", a)
	}
	if b.ProviderName != "" || !b.ZDR || !b.Distillable || b.PriceRequest != 0.001 || b.PriceImage != 0.002 ||
		b.ContextLength != 4096 || b.PriceIn != 5 || b.Upstream == nil {
		t.Errorf("beta = %+v", b)
	}
	srv, _ := s.fleet.Server("beta")
	if got := srv.Profile().ContextLengths["test/model"]; got != 4096 {
		t.Errorf("beta's simulator limits test/model to %d tokens, want 4096", got)
	}
}

// The dashboard's fault cycle offers every mode of the simulator, once
// each, normal first, so that each fault can be shown against real HTTP.
func TestFaultCycleHasEveryMode(t *testing.T) {
	names := faults{}.Modes()
	if len(names) == 0 || names[0] != "normal" {
		t.Fatalf("modes %q do not start with normal", names)
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for _, m := range sim.Modes() {
		if seen[m.String()] != 1 {
			t.Errorf("mode %s appears %d times in the cycle %q", m, seen[m.String()], names)
		}
	}
	if len(names) != len(sim.Modes()) {
		t.Errorf("the cycle %q has %d modes, the simulator %d", names, len(names), len(sim.Modes()))
	}
}

// A model's aliases in the config reach the router: a request naming one
// is the model's.
func TestBuildCarriesAliases(t *testing.T) {
	doc := strings.Replace(fastConfig, "name = \"test/model\"\n", "name = \"test/model\"\naliases = [\"claude-test-1\"]\n", 1)
	s := buildFrom(t, doc)
	if got := s.router.Canonical("claude-test-1:floor"); got != "test/model:floor" {
		t.Errorf("claude-test-1:floor stands for %q, want test/model:floor", got)
	}
}

// buildFrom builds the stack of the configuration doc, closed at the test's
// end.
func buildFrom(t *testing.T, doc string) *stack {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
