package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"switchboard/config"
	"switchboard/monitor"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
	"switchboard/watch"
)

// watched starts fastConfig's gateway with admin key "adm" on loopback and
// dials it as switchboard watch does.
func watched(t *testing.T) (*watch.Gateway, *sim.Fleet, string) {
	t.Helper()
	// Probes list models, so that every chat a provider gets is a prompt.
	doc := strings.ReplaceAll(fastConfig, `protocol = "openai"`, `protocol = "openai"`+"\nprobe = \"models\"") +
		"\n[gateway]\nadmin_key_env = \"SB_TEST_ADMIN\"\n"
	cfg, err := config.Parse("watch.toml", []byte(doc), func(k string) (string, bool) { return "adm", k == "SB_TEST_ADMIN" })
	if err != nil {
		t.Fatal(err)
	}
	url, fleet, stop, err := startGateway(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	base := strings.TrimSuffix(url, "/v1")
	g, err := watch.Dial(t.Context(), base, "adm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g, fleet, base
}

// The watched gateway is what the dashboard reads of the one in its own
// process: its routes, its snapshots as they are published, its faults;
// what the dashboard switches is switched on the gateway, and a prompt
// goes through it, counted on the simulated providers' side.
func TestWatchAGateway(t *testing.T) {
	g, fleet, _ := watched(t)
	if got := strings.Join(g.Models(), " "); got != "test/model" || g.DefaultModel() != "test/model" {
		t.Fatalf("models %s, the first %q", got, g.DefaultModel())
	}
	eps := g.Endpoints("test/model")
	if len(eps) != 2 || eps[0].ID != "test/model@alpha" || eps[1].PriceIn != 5 {
		t.Fatalf("endpoints %+v", eps)
	}
	if st := g.Snapshot().Status("test/model@alpha"); st == nil || !st.Enabled {
		t.Fatalf("the first snapshot has %+v", st)
	}
	if m, sim := g.Mode("alpha"); !sim || m != "normal" || !allSimulated(g) {
		t.Fatalf("alpha's mode %q, simulated %v", m, sim)
	}

	// Turned off from the watching side: the next snapshot says so, and a
	// prompt goes to beta, not to alpha.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	snaps := g.Subscribe(ctx)
	if err := g.SetEnabled("test/model@alpha", false); err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		if st := (<-snaps).Status("test/model@alpha"); st != nil && st.State == monitor.Disabled {
			break
		}
		if n == 5 {
			t.Fatal("five snapshots, and none shows alpha turned off")
		}
	}
	var streamed strings.Builder
	res, err := g.Send(t.Context(), routing.Request{Model: "test/model", MaxTokens: 20,
		Messages: []provider.Message{{Role: "user", Content: "hello"}}}, func(d routing.Delta) { streamed.WriteString(d.Content) })
	if err != nil {
		t.Fatal(err)
	}
	alpha, _ := fleet.Server("alpha")
	beta, _ := fleet.Server("beta")
	if res.Provider != "beta" || res.Trace == nil || res.Trace.Served != "test/model@beta" || streamed.Len() == 0 || res.FinishReason == "" {
		t.Fatalf("served by %q, trace %v, streamed %q, finish %q", res.Provider, res.Trace != nil, streamed.String(), res.FinishReason)
	}
	if a, b := alpha.Stats().Chats, beta.Stats().Chats; a != 0 || b != 1 {
		t.Errorf("alpha got %d chats and beta %d; want the prompt at beta only", a, b)
	}
	routed := <-g.Traces()
	if routed.Trace.Served != "test/model@beta" || routed.Via != "API" {
		t.Errorf("the trace streamed: %+v", routed)
	}

	// A fault forced from the watching side is the simulator's.
	if err := g.SetMode("beta", "down"); err != nil {
		t.Fatal(err)
	}
	if m, _ := g.Mode("beta"); m != "down" || beta.Mode() != sim.ModeDown {
		t.Errorf("beta reads %q, its simulator %s", m, beta.Mode())
	}
	if err := g.SetMode("beta", "sleepy"); err == nil || !strings.Contains(err.Error(), "sleepy") {
		t.Errorf("an unknown mode: %v", err)
	}
	// One forced on the gateway's side (its own dashboard's f) shows within
	// a few snapshots.
	alpha.SetMode(sim.ModeSlow)
	for n := 0; ; n++ {
		<-snaps
		if m, _ := g.Mode("alpha"); m == "slow" {
			break
		}
		if n == 10 {
			t.Fatal("alpha's fault, forced on the gateway's side, never showed")
		}
	}

	// Names are checked by the gateway, with the field at fault.
	p, err := g.ResolveProviders([]string{"test/model"}, routing.Preferences{Order: []string{"BETA"}})
	if err != nil || strings.Join(p.Order, ",") != "beta" {
		t.Errorf("resolved %v, %v", p.Order, err)
	}
	_, err = g.ResolveProviders([]string{"test/model"}, routing.Preferences{Order: []string{"gamma"}})
	var re *routing.Error
	if !errors.As(err, &re) || re.Param != "provider.order[0]" {
		t.Errorf("an unknown name: %v", err)
	}

	// Per-request hedging is not in the API: refused, saying where it is.
	_, err = g.Send(t.Context(), routing.Request{Model: "test/model", Hedge: &routing.Hedge{Enabled: true},
		Messages: []provider.Message{{Role: "user", Content: "hi"}}}, func(routing.Delta) {})
	if err == nil || !strings.Contains(err.Error(), "hedge = true") {
		t.Errorf("a hedged prompt: %v", err)
	}
}

// watch refuses what it cannot watch, and says why.
func TestWatchRefuses(t *testing.T) {
	t.Setenv(defaultAdminKeyEnv, "")
	if code, _, errs := runArgs(t, "watch", "http://127.0.0.1:1"); code != 2 || !strings.Contains(errs, "export SWITCHBOARD_ADMIN_KEY=") {
		t.Errorf("no key: %d %s", code, errs)
	}
	t.Setenv(defaultAdminKeyEnv, "adm")
	if code, _, errs := runArgs(t, "watch"); code != 2 || !strings.Contains(errs, "the gateway's address") {
		t.Errorf("no address: %d %s", code, errs)
	}
	if code, _, errs := runArgs(t, "watch", "127.0.0.1:8788"); code != 1 || !strings.Contains(errs, "write http://HOST:PORT") {
		t.Errorf("no scheme: %d %s", code, errs)
	}
	if code, _, errs := runArgs(t, "watch", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errs, "connection refused") {
		t.Errorf("nobody there: %d %s", code, errs)
	}
	_, _, base := watched(t)
	if _, err := watch.Dial(t.Context(), base, "wrong"); err == nil || !strings.Contains(err.Error(), "admin key") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a wrong key: %v", err)
	}
}
