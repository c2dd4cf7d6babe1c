package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/routing"
)

func readShipped(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The shipped configuration loads with no environment at all and describes
// the fleet the design promises.
func TestShippedConfig(t *testing.T) {
	cfg, err := Parse(EmbeddedName, readShipped(t), nil)
	if err != nil {
		t.Fatalf("the shipped config.toml does not parse:\n%v", err)
	}
	if cfg.Source != EmbeddedName {
		t.Errorf("Source = %q", cfg.Source)
	}
	if cfg.DefaultModel != "meta-llama/llama-3.3-70b-instruct" {
		t.Errorf("DefaultModel %q; want Llama, whose seven providers show routing at work", cfg.DefaultModel)
	}
	if iv := cfg.Monitor.ProbeInterval; iv < 2*time.Second || iv > 3*time.Second {
		t.Errorf("probe_interval %v; want 2s-3s so the sparklines move", iv)
	}

	// Display names as OpenRouter writes them, for requests that name
	// providers that way.
	displays := map[string]string{"anthropic": "Anthropic", "google-vertex": "Google Vertex", "amazon-bedrock": "Amazon Bedrock",
		"groq": "Groq", "cerebras": "Cerebras", "together": "Together", "deepinfra": "DeepInfra", "fireworks": "Fireworks",
		"novita": "Novita", "sambanova": "SambaNova"}
	for _, p := range cfg.Providers {
		if want := displays[p.Name]; p.Display != want {
			t.Errorf("provider %s: display %q, want %q", p.Name, p.Display, want)
		}
	}
	if len(cfg.Providers) != len(displays) {
		t.Errorf("%d providers, want the %d with display names", len(cfg.Providers), len(displays))
	}

	for _, p := range cfg.Providers {
		if p.Sim == nil || p.BaseURL != "" || p.APIKeyEnv != "" || p.APIKey != "" {
			t.Errorf("provider %s is not purely simulated: %v", p.Name, p)
			continue
		}
		if p.Probe != ProbeChat {
			t.Errorf("provider %s probes with %q, want chat", p.Name, p.Probe)
		}
		if err := p.Sim.Validate(); err != nil {
			t.Errorf("provider %s: %v", p.Name, err)
		}
		if p.Sim.Name != p.Name || p.Sim.Seed == 0 {
			t.Errorf("provider %s: sim name %q seed %d", p.Name, p.Sim.Name, p.Sim.Seed)
		}
	}

	// The simulator serves exactly what the config routes to it, within
	// each endpoint's context, taking images where the endpoint does.
	for _, m := range cfg.Models {
		for _, e := range m.Endpoints {
			p := cfg.Provider(e.Provider)
			if p == nil || !slices.Contains(p.Sim.Models, e.UpstreamModel) {
				t.Errorf("%s: upstream %q is not served by %s", e.ID, e.UpstreamModel, e.Provider)
				continue
			}
			if got := p.Sim.ContextLengths[e.UpstreamModel]; got != e.ContextLength {
				t.Errorf("%s: the simulator limits %q to %d tokens, the endpoint says %d", e.ID, e.UpstreamModel, got, e.ContextLength)
			}
			if sees, says := slices.Contains(p.Sim.ImageModels, e.UpstreamModel), slices.Contains(e.InputModalities, "image"); sees != says {
				t.Errorf("%s: the simulator takes images %v, the endpoint says %v", e.ID, sees, says)
			}
		}
	}
	if got := cfg.Provider("cerebras").Sim.ContextLengths["llama-3.3-70b"]; got != 8192 {
		t.Errorf("cerebras's simulated Llama takes %d tokens, want its endpoint's 8192", got)
	}

	claude := findModel(t, cfg, "anthropic/claude-sonnet-4")
	if claude.Display != "Claude Sonnet 4" {
		t.Errorf("Claude display %q", claude.Display)
	}
	if got := providersOf(claude); !slices.Equal(got, []string{"anthropic", "google-vertex", "amazon-bedrock"}) {
		t.Errorf("Claude providers %v", got)
	}
	for _, e := range claude.Endpoints {
		if e.PriceIn != 3 || e.PriceOut != 15 {
			t.Errorf("%s costs %v/%v, want 3/15", e.ID, e.PriceIn, e.PriceOut)
		}
	}
	if p := cfg.Provider("anthropic"); p.Protocol != ProtocolAnthropic || cfg.Provider("groq").Protocol != ProtocolOpenAI {
		t.Errorf("anthropic speaks %q and groq %q; the fleet should show both protocols", p.Protocol, cfg.Provider("groq").Protocol)
	}
	if !slices.Contains(cfg.Provider("anthropic").Sim.ErrorStatuses, 529) {
		t.Errorf("anthropic never answers 529 overloaded")
	}
	if a, b := cfg.Provider("anthropic").Sim.TTFT.P50, cfg.Provider("amazon-bedrock").Sim.TTFT.P50; b <= a {
		t.Errorf("amazon-bedrock first token (%v) is not slower than anthropic's (%v)", b, a)
	}

	// Claude hedges from each endpoint's own p95, and nothing else: slow
	// first tokens on every provider give the hedge something to do.
	if want := (routing.ModelDefaults{Hedge: &routing.Hedge{Enabled: true}}); !reflect.DeepEqual(claude.Defaults, want) || !claude.HasDefaults() {
		t.Errorf("Claude defaults = %+v, want only hedge = true", claude.Defaults)
	}
	for _, e := range claude.Endpoints {
		if ttft := cfg.Provider(e.Provider).Sim.TTFT; ttft.P50 < 500*time.Millisecond || ttft.P95 <= ttft.P50 {
			t.Errorf("%s first token %+v; want slow (p50 >= 500ms) with a spread, for the hedge to race", e.ID, ttft)
		}
	}

	// [routing] writes out the defaults it documents.
	want := routing.Options{MaxAttempts: defMaxAttempts, RetryBackoff: defRetryBackoff, MaxRetryWait: defMaxRetryWait,
		HedgesPerSecond: defHedgesPerSec, Timeouts: routing.Timeouts{Total: defTotalTimeout}}
	if !reflect.DeepEqual(cfg.Routing, want) {
		t.Errorf("routing = %+v\nwant %+v", cfg.Routing, want)
	}

	llama := findModel(t, cfg, "meta-llama/llama-3.3-70b-instruct")
	if llama.Display != "Llama 3.3 70B Instruct" {
		t.Errorf("Llama display %q", llama.Display)
	}
	lp := providersOf(llama)
	for _, want := range []string{"groq", "together", "deepinfra", "fireworks", "cerebras", "novita"} {
		if !slices.Contains(lp, want) {
			t.Errorf("Llama is not served by %s", want)
		}
	}
	prices := map[[2]float64]string{}
	for _, e := range llama.Endpoints {
		if e.PriceIn < 0.13 || e.PriceIn > 0.90 || e.PriceOut < 0.39 || e.PriceOut > 1.20 {
			t.Errorf("%s costs %v/%v, outside 0.13-0.90 / 0.39-1.20", e.ID, e.PriceIn, e.PriceOut)
		}
		k := [2]float64{e.PriceIn, e.PriceOut}
		if other, dup := prices[k]; dup {
			t.Errorf("%s and %s have the same prices", e.Provider, other)
		}
		prices[k] = e.Provider
	}

	// Within a minute the user sees each kind of trouble.
	var outage, slow, limited, cuts, fast bool
	for _, name := range lp {
		s := cfg.Provider(name).Sim
		for _, o := range s.Outages {
			outage = outage || (o.Offset+o.For <= time.Minute && o.Every > o.For)
		}
		slow = slow || s.TTFT.P50 >= 2*time.Second
		limited = limited || (s.RateLimitRate >= 0.2 && s.RetryAfter > 0)
		cuts = cuts || (s.CutRate > 0 && s.CutRate <= 0.1)
		fast = fast || s.TokensPerSecond >= 500
	}
	if !outage || !slow || !limited || !cuts || !fast {
		t.Errorf("Llama fleet: periodic outage in the first minute %v, slow first token %v, frequent 429s %v, mid-stream cuts %v, a fast provider %v",
			outage, slow, limited, cuts, fast)
	}
	if o := cfg.Provider("fireworks").Sim.Outages; len(o) != 1 || o[0].Every != 2*time.Minute || o[0].For != 40*time.Second {
		t.Errorf("fireworks outages %+v", o)
	}

	// Every endpoint says what it can do, and each request filter has
	// something to do on the Llama fleet.
	for _, m := range cfg.Models {
		for _, e := range m.Endpoints {
			if e.ContextLength <= 0 || len(e.Parameters) == 0 || !slices.Contains(e.Parameters, "max_tokens") {
				t.Errorf("%s: context length %d, parameters %v", e.ID, e.ContextLength, e.Parameters)
			}
		}
		if m.HasDefaults() && m.Name != claude.Name {
			t.Errorf("%s has routing defaults; the shipped ones are a commented-out example", m.Name)
		}
	}
	for _, e := range claude.Endpoints {
		if !e.Prefill || e.ContextLength != 200000 || !slices.Contains(e.Parameters, "tools") || e.StoresData {
			t.Errorf("%s: prefill %v, context %d, parameters %v, stores data %v; want prefill, 200000, tools, no storing",
				e.ID, e.Prefill, e.ContextLength, e.Parameters, e.StoresData)
		}
	}
	quants := map[string][]string{}
	var noTools, stores, prefill, shortContext []string
	for _, e := range llama.Endpoints {
		quants[e.Quantization] = append(quants[e.Quantization], e.Provider)
		if !slices.Contains(e.Parameters, "tools") {
			noTools = append(noTools, e.Provider)
		}
		if e.StoresData {
			stores = append(stores, e.Provider)
		}
		if e.Prefill {
			prefill = append(prefill, e.Provider)
		}
		if e.ContextLength < 32768 {
			shortContext = append(shortContext, e.Provider)
		}
	}
	// The data policies filter as routing applies them: each leaves some
	// endpoints, not all.
	yes := true
	for name, prefs := range map[string]routing.Preferences{
		"zdr":                      {ZDR: &yes},
		"enforce_distillable_text": {EnforceDistillableText: &yes},
		"both":                     {ZDR: &yes, EnforceDistillableText: &yes},
	} {
		var kept []string
		for i := range llama.Endpoints {
			if e := cfg.RoutingEndpoint(&llama, &llama.Endpoints[i]); prefs.Excludes(&e) == "" {
				kept = append(kept, e.Provider)
			}
		}
		if len(kept) == 0 || len(kept) == len(llama.Endpoints) {
			t.Errorf("Llama with %s keeps %v; want some, not all", name, kept)
		}
	}
	var claudeZDR []string
	for i := range claude.Endpoints {
		if e := cfg.RoutingEndpoint(&claude, &claude.Endpoints[i]); (&routing.Preferences{ZDR: &yes}).Excludes(&e) == "" {
			claudeZDR = append(claudeZDR, e.Provider)
		}
		if e := claude.Endpoints[i]; e.Distillable || e.PriceRequest != 0 || e.PriceImage != 0 {
			t.Errorf("%s: distillable %v, per request %v, per image %v; want none", e.ID, e.Distillable, e.PriceRequest, e.PriceImage)
		}
	}
	if len(claudeZDR) == 0 || len(claudeZDR) == len(claude.Endpoints) {
		t.Errorf("Claude with zdr keeps %v; want some, not all", claudeZDR)
	}

	if len(quants) < 3 || len(quants[""]) > 0 {
		t.Errorf("Llama quantizations %v; want at least three kinds, each endpoint's known", quants)
	}
	for what, got := range map[string][]string{"without tools": noTools, "storing data": stores, "with prefill": prefill, "with a short context": shortContext} {
		if len(got) == 0 || len(got) == len(llama.Endpoints) {
			t.Errorf("Llama endpoints %s: %v; want some, not all", what, got)
		}
	}
	if v := llama.Endpoints[slices.Index(lp, "together")].Variant; v != "turbo" {
		t.Errorf(`together's Llama variant %q, want "turbo" (order = ["together/turbo"] in the example)`, v)
	}
}

// The commented-out real providers are valid once uncommented, and name the
// variables their keys come from.
func TestShippedExamples(t *testing.T) {
	doc := []byte(uncomment(string(readShipped(t))))
	keys := []string{"OPENROUTER_API_KEY", "sk-or-example", "GROQ_API_KEY", "gsk_example", "TOGETHER_API_KEY", "tg-example",
		"SWITCHBOARD_API_KEYS", "key-a,key-b", "SWITCHBOARD_ADMIN_KEY", "adm-a", "SWITCHBOARD_REDIS_PASSWORD", "redis-pw"}
	cfg, err := Parse("config.toml", doc, env(keys...))
	if err != nil {
		t.Fatalf("the examples do not parse once uncommented:\n%v", err)
	}
	if c := cfg.Cluster; c.RedisURL != "redis://127.0.0.1:6379" || c.Password != "redis-pw" || c.Replica != "gw-1" {
		t.Errorf("the [cluster] example reads as %+v", c)
	}
	if g := cfg.Gateway; g.Listen != "127.0.0.1:8788" || !slices.Equal(g.APIKeys, []string{"key-a", "key-b"}) || g.KeepAlive != 3*time.Second ||
		!slices.Equal(g.AdminKeys, []string{"adm-a"}) {
		t.Errorf("gateway %+v", g)
	}
	want := map[string]struct{ url, keyEnv, key string }{
		"openrouter":   {"https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "sk-or-example"},
		"groq-api":     {"https://api.groq.com/openai/v1", "GROQ_API_KEY", "gsk_example"},
		"together-api": {"https://api.together.xyz/v1", "TOGETHER_API_KEY", "tg-example"},
		"ollama":       {"http://127.0.0.1:11434/v1", "", ""},
		"vllm":         {"http://127.0.0.1:8000/v1", "", ""},
	}
	for name, w := range want {
		p := cfg.Provider(name)
		if p == nil {
			t.Errorf("no provider %s", name)
			continue
		}
		if p.Sim != nil || p.BaseURL != w.url || p.APIKeyEnv != w.keyEnv || p.APIKey != w.key || p.Probe != ProbeModels {
			t.Errorf("provider %s = %v", name, p)
		}
	}
	llama := findModel(t, cfg, "meta-llama/llama-3.3-70b-instruct")
	for _, p := range []string{"openrouter", "groq-api", "together-api"} {
		if !slices.Contains(providersOf(llama), p) {
			t.Errorf("the %s example does not add an endpoint to Llama 3.3 70B", p)
		}
	}
	if m := findModel(t, cfg, "llama3.2"); providersOf(m)[0] != "ollama" || m.Endpoints[0].UpstreamModel != "llama3.2" {
		t.Errorf("ollama model %+v", m)
	}
	findModel(t, cfg, "meta-llama/llama-3.1-8b-instruct")

	// The [model.routing] example under Llama.
	wantDefaults := routing.ModelDefaults{Provider: routing.Preferences{
		Order:               []string{"groq", "together/turbo"},
		Sort:                routing.Sort{By: routing.SortLatency},
		MaxPrice:            routing.MaxPrice{Prompt: ptr(0.9), Completion: ptr(1.0)},
		PreferredMaxLatency: routing.Cutoffs{P50: ptr(1.0), P90: ptr(3.0)},
	}}
	if !reflect.DeepEqual(llama.Defaults, wantDefaults) {
		t.Errorf("Llama's example defaults = %+v\nwant %+v", llama.Defaults, wantDefaults)
	}
	if claude := findModel(t, cfg, "anthropic/claude-sonnet-4"); claude.Defaults.Hedge == nil || !claude.Defaults.Hedge.Enabled {
		t.Errorf("with the examples uncommented Claude no longer hedges: %+v", claude.Defaults)
	}

	// Without the keys, each missing variable is named.
	es := parseErrors(t, string(doc), nil)
	if len(es) != 6 {
		t.Errorf("got %d problems, want one per missing key:\n%v", len(es), es)
	}
	for _, v := range []string{"SWITCHBOARD_API_KEYS", "SWITCHBOARD_ADMIN_KEY", "OPENROUTER_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY", "SWITCHBOARD_REDIS_PASSWORD"} {
		if !strings.Contains(es.Error(), "names "+v+", which is not set") {
			t.Errorf("no problem names %s:\n%v", v, es)
		}
	}
}

func findModel(t *testing.T, cfg *Config, name string) Model {
	t.Helper()
	for _, m := range cfg.Models {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no model %q", name)
	return Model{}
}

func providersOf(m Model) []string {
	var out []string
	for _, e := range m.Endpoints {
		out = append(out, e.Provider)
	}
	return out
}
