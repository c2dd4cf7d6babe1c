package ui

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest waits for a SIGINT for the life of the process, by design.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest/v2.NewTestModel.func2"),
	)
}

// testModel is a public model and the providers that serve it.
type testModel struct {
	name, display string
	endpoints     []testEndpoint
}

type testEndpoint struct {
	provider          string
	priceIn, priceOut float64
}

// fleetModels mirror the shipped configuration: Llama served by six
// providers at different prices, Claude by three at one price.
var fleetModels = []testModel{
	{name: "meta-llama/llama-3.3-70b-instruct", display: "Llama 3.3 70B Instruct", endpoints: []testEndpoint{
		{"groq", 0.59, 0.79}, {"cerebras", 0.85, 1.20}, {"together", 0.88, 0.88},
		{"deepinfra", 0.23, 0.40}, {"fireworks", 0.90, 0.90}, {"novita", 0.13, 0.39},
	}},
	{name: "anthropic/claude-sonnet-4", display: "Claude Sonnet 4", endpoints: []testEndpoint{
		{"anthropic", 3, 15}, {"google-vertex", 3, 15}, {"amazon-bedrock", 3, 15},
	}},
}

// stack is a real monitor and a real router over simulated providers on
// loopback, all on one fake clock.
type stack struct {
	clock   *monitortest.Clock
	mon     *monitor.Monitor
	router  *routing.Router
	faults  *simFaults
	demo    *testDemo
	display map[string]string
}

func endpointID(model, provider string) string { return model + "@" + provider }

func newStack(t testing.TB, models []testModel) *stack {
	t.Helper()
	clk := monitortest.NewClock()
	s := &stack{clock: clk, faults: &simFaults{servers: map[string]*sim.Server{}}, display: map[string]string{},
		demo: &testDemo{rate: 0.5}}
	s.demo.on.Store(true)
	upstreams := map[string]*provider.OpenAI{}
	var meps []monitor.Endpoint
	var reps []routing.Endpoint
	for _, m := range models {
		s.display[m.name] = m.display
		for _, e := range m.endpoints {
			up, ok := upstreams[e.provider]
			if !ok {
				srv, err := sim.Start(sim.Profile{
					Name: e.provider, Seed: 7, Models: []string{"up-" + e.provider},
					TTFT: sim.Latency{P50: time.Millisecond},
				}, sim.Options{Now: clk.Now})
				if err != nil {
					t.Fatalf("start simulated %s: %v", e.provider, err)
				}
				t.Cleanup(func() {
					if err := srv.Close(); err != nil {
						t.Errorf("close simulated %s: %v", e.provider, err)
					}
				})
				s.faults.servers[e.provider] = srv
				up = provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL(), Now: clk.Now})
				t.Cleanup(up.CloseIdleConnections)
				upstreams[e.provider] = up
			}
			id := endpointID(m.name, e.provider)
			meps = append(meps, monitor.Endpoint{ID: id, Provider: e.provider, Model: m.name})
			reps = append(reps, routing.Endpoint{ID: id, Provider: e.provider, Model: m.name,
				UpstreamModel: "up-" + e.provider, PriceIn: e.priceIn, PriceOut: e.priceOut, Upstream: up})
		}
	}
	var err error
	if s.mon, err = monitor.New(monitor.Options{Clock: clk}, meps); err != nil {
		t.Fatal(err)
	}
	if s.router, err = routing.New(routing.Options{Endpoints: reps, Health: s.mon, Clock: clk, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return s
}

// options are the dashboard's options over the stack.
func (s *stack) options() Options {
	return Options{Health: s.mon, Router: s.router, Faults: s.faults, Display: s.display, Now: s.clock.Now, Demo: s.demo}
}

// testDemo is demo traffic that sends nothing: the dashboard only shows
// and switches it; main's sends through the router.
type testDemo struct {
	on   atomic.Bool
	rate float64
}

func (d *testDemo) On() bool      { return d.on.Load() }
func (d *testDemo) SetOn(on bool) { d.on.Store(on) }
func (d *testDemo) Rate() float64 { return d.rate }
func (d *testDemo) Sent() uint64  { return 0 }

// simFaults forces faults on the simulated servers, as main does.
type simFaults struct{ servers map[string]*sim.Server }

func (f *simFaults) Modes() []string {
	var names []string
	for _, m := range []sim.Mode{sim.ModeNormal, sim.ModeDown, sim.ModeSlow, sim.ModeRateLimited, sim.ModeStall} {
		names = append(names, m.String())
	}
	return names
}

func (f *simFaults) Mode(name string) (string, bool) {
	srv, ok := f.servers[name]
	if !ok {
		return "", false
	}
	return srv.Mode().String(), true
}

func (f *simFaults) SetMode(name, mode string) error {
	srv, ok := f.servers[name]
	if !ok {
		return fmt.Errorf("%s is not simulated", name)
	}
	m, err := sim.ParseMode(mode)
	if err != nil {
		return err
	}
	srv.SetMode(m)
	return nil
}

// history records two minutes of deterministic traffic, one bucket at a
// time, so that every state and both sparklines have something to show:
// steady providers, a slow one, one with errors, one rate limited, one down,
// one turned off by the user.
func (s *stack) history(t testing.TB) {
	t.Helper()
	ok := func(ttft, total time.Duration) provider.Outcome {
		return provider.Outcome{Class: provider.ClassOK, TTFT: ttft, Duration: total}
	}
	fail := func(c provider.Class) provider.Outcome { return provider.Outcome{Class: c, Status: 500} }
	llama := func(p string) string { return endpointID(fleetModels[0].name, p) }
	claude := func(p string) string { return endpointID(fleetModels[1].name, p) }
	ms := time.Millisecond
	for k := range 40 {
		wave := time.Duration((k*37)%11) * 40 * ms // a deterministic wobble
		s.mon.Record(llama("groq"), ok(120*ms+wave/4, 500*ms+2*wave))
		s.mon.Record(llama("groq"), ok(110*ms, 450*ms+2*wave))
		s.mon.Record(llama("cerebras"), ok(90*ms, 300*ms+wave/3))
		s.mon.Record(llama("together"), ok(400*ms+wave, 1800*ms+2*wave))
		if k%6 == 3 { // 7 errors in 47: degraded with confidence, never 80% or less over 30s
			s.mon.Record(llama("together"), fail(provider.ClassServer))
		}
		s.mon.Record(llama("deepinfra"), ok(350*ms, 1400*ms+wave))
		if k < 30 {
			s.mon.Record(llama("fireworks"), ok(250*ms, 900*ms+wave))
		}
		s.mon.Record(llama("novita"), ok(500*ms+wave, 2200*ms+wave))
		s.mon.Record(claude("anthropic"), ok(700*ms+wave, 3*time.Second+wave))
		s.mon.Record(claude("google-vertex"), ok(900*ms, 3200*ms+wave/2))
		if k%2 == 0 {
			s.mon.Record(claude("amazon-bedrock"), ok(1600*ms, 4*time.Second+wave))
		}
		s.clock.Advance(2 * time.Second)
	}
	// fireworks goes down: errors in a row.
	for range 3 {
		s.mon.Record(llama("fireworks"), fail(provider.ClassServer))
	}
	// deepinfra is rate limited for the next 12 seconds.
	s.mon.Record(llama("deepinfra"), provider.Outcome{Class: provider.ClassRateLimited, Status: 429, RetryAfter: 12 * time.Second})
	// the user turned novita off.
	if err := s.mon.SetEnabled(llama("novita"), false); err != nil {
		t.Fatal(err)
	}
	// cerebras has a fault forced on its simulator.
	if err := s.faults.SetMode("cerebras", "slow"); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(1500 * time.Millisecond)
}

// outage goes on from history for d, a bucket at a time: fireworks stays
// down (its breaker lets a trial through every backoff, and the trial
// fails), while groq and cerebras keep answering, so that the sparklines
// show an outage as a run of failed cells beside steady ones.
func (s *stack) outage(t testing.TB, d time.Duration) {
	t.Helper()
	llama := func(p string) string { return endpointID(fleetModels[0].name, p) }
	ms := time.Millisecond
	for range d / (2 * time.Second) {
		s.mon.Record(llama("groq"), provider.Outcome{Class: provider.ClassOK, TTFT: 120 * ms, Duration: 600 * ms})
		s.mon.Record(llama("cerebras"), provider.Outcome{Class: provider.ClassOK, TTFT: 90 * ms, Duration: 320 * ms})
		s.mon.RecordRequest(fleetModels[0].name, provider.ClassOK) // routed, for the header's routed-vs-best
		if gen, ok := s.mon.Admit(llama("fireworks")); ok {
			s.mon.Record(llama("fireworks"), provider.Outcome{Class: provider.ClassServer, Status: 500, Gen: gen})
		}
		s.clock.Advance(2 * time.Second)
	}
	if st, _ := s.mon.Snapshot().Endpoint(llama("fireworks")); st.State != monitor.Down {
		t.Fatalf("fireworks is %s after the outage, want down", st.State)
	}
}

// newTestDashboard builds the dashboard over the stack and returns it with
// the cancel of its context.
func newTestDashboard(t testing.TB, s *stack) (*model, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return New(ctx, s.options()).(*model), cancel
}

// Compile-time checks that the real types satisfy the dashboard's needs.
var (
	_ Health = (*monitor.Monitor)(nil)
	_ Router = (*routing.Router)(nil)
	_ Faults = (*simFaults)(nil)
	_ Demo   = (*testDemo)(nil)
)
