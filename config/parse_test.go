package config

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/routing"
	"switchboard/sim"
)

func mustParse(t *testing.T, doc string, lookup func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse("test.toml", []byte(doc), lookup)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return cfg
}

// Everything left out takes its documented default.
func TestParseDefaults(t *testing.T) {
	cfg := mustParse(t, okRest, nil)
	if cfg.Source != "test.toml" {
		t.Errorf("Source = %q", cfg.Source)
	}
	if !reflect.DeepEqual(cfg.Monitor, monitor.Options{}) || !reflect.DeepEqual(cfg.Routing, routing.Options{}) {
		t.Errorf("monitor %+v routing %+v, want zero values (the packages' defaults)", cfg.Monitor, cfg.Routing)
	}
	want := Provider{
		Name:     "ok",
		Protocol: ProtocolOpenAI,
		Probe:    ProbeChat,
		Sim:      &sim.Profile{Name: "ok", Seed: defaultSeed("ok"), Models: []string{"m"}},
	}
	if got := cfg.Providers; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("providers = %#v\nwant %#v", got, want)
	}
	wantModel := Model{Name: "m", Display: "m", Endpoints: []Endpoint{{ID: "m@ok", Provider: "ok", UpstreamModel: "m"}}}
	if got := cfg.Models; len(got) != 1 || !reflect.DeepEqual(got[0], wantModel) {
		t.Errorf("models = %+v", got)
	}
	if cfg.Models[0].HasDefaults() {
		t.Errorf("a model without [model.routing] has defaults %+v", cfg.Models[0].Defaults)
	}
}

// The default seed is a stable function of the name: runs repeat across
// builds and machines.
func TestDefaultSeedIsStable(t *testing.T) {
	if got := defaultSeed("groq"); got != 9054156343210650676 {
		t.Errorf("defaultSeed(groq) = %d", got)
	}
	if defaultSeed("groq") == defaultSeed("together") {
		t.Error("two names share a seed")
	}
	cfg := mustParse(t, lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `seed = 0`)+okModel, nil)
	if cfg.Providers[0].Sim.Seed != 0 {
		t.Errorf("an explicit seed 0 was replaced by %d", cfg.Providers[0].Sim.Seed)
	}
}

func TestParseEverything(t *testing.T) {
	doc := lines(
		`[monitor]`,
		`bucket = "1s"`,
		`window = "2m"`,
		`outage_window = "20s"`,
		`down_after = 4`,
		`down_below = 0.7`,
		`degraded_below = 0.9`,
		`min_requests = 8`,
		`rate_limit_pause = "7s"`,
		`probe_interval = "3s"`,
		`probe_jitter = 0.1`,
		`probe_timeout = "4s"`,
		`publish = "250ms"`,
		`series_len = 90`,
		`breaker_backoff = "2s"`,
		`breaker_max_backoff = "1m"`,
		`slow_factor = 4`,
		`slow_margin = "100ms"`,
		`snapshot_lag = "5ms"`,
		`event_log = 50`,
		`[routing]`,
		`max_attempts = 3`,
		`seed = 42`,
		`retry_backoff = "300ms"`,
		`max_retry_wait = "20s"`,
		`max_answer_mib = 8`,
		`hedges_per_second = 2.5`,
		`norm_factor = 4.5`,
		`norm_floor = "2s"`,
		`timeouts = { first_token = "15s", stall = "5s", total = "2m" }`,
		`[gateway]`,
		`listen = "127.0.0.1:0"`,
		`api_key_env = "SB_KEYS"`,
		`keep_alive = "10s"`,
		`max_connections = 2000`,
		`metrics_public = true`,
		`[[provider]]`,
		`name = "sim-a"`,
		`display = "Sim A"`,
		`protocol = "openai"`,
		`timeouts = { connect = "1s", first_token = "2s", stall = "3s" }`,
		`probe = "models"`,
		`probe_interval = "9s"`,
		`probe_jitter = 0.3`,
		`probe_timeout = "6s"`,
		`[provider.sim]`,
		`seed = 7`,
		`ttft = { p50 = "120ms", p95 = "400ms" }`,
		`tokens_per_second = 280.5`,
		`reasoning_tokens = 400`,
		`error_rate = 0.01`,
		`error_statuses = [500, 502, 503]`,
		`rate_limit_rate = 0.1`,
		`retry_after = "5s"`,
		`cut_rate = 0.02`,
		`stall_rate = 0.03`,
		`slow_start_rate = 0.04`,
		`slow_start = "12s"`,
		`silent_close_rate = 0.05`,
		`silent_close = "9s"`,
		`malformed_rate = 0.06`,
		`refuse_prefill = true`,
		`mode = "rate-limited-short"`,
		`[[provider.sim.outages]]`, // the long way to write outages = [{...}, {...}]
		`every = "4m"`,
		`for = "40s"`,
		`offset = "30s"`,
		`[[provider.sim.outages]]`,
		`for = "10s"`,
		`[[provider]]`,
		`name = "real"`,
		`base_url = "https://api.example.com/v1/"`,
		`api_key_env = "REAL_KEY"`,
		`[[model]]`,
		`name = "big"`,
		`display = "Big Model"`,
		`[[model.endpoint]]`,
		`provider = "sim-a"`,
		`upstream_model = "big-v1"`,
		`price_in = 1`,
		`price_out = 2.5`,
		`price_request = 0.002`,
		`price_image = 0.001`,
		`variant = "turbo"`,
		`quantization = "fp8"`,
		`context_length = 131072`,
		`supported_parameters = ["temperature", "max_tokens", "tools", "x-custom"]`, // unknown names are fine
		`stores_data = true`,
		`distillable = true`,
		`prefill = true`,
		`[[model.endpoint]]`,
		`provider = "real"`,
		`quantization = "unknown"`,  // the same as leaving it out
		`supported_parameters = []`, // known: none
		`stores_data = false`,
		`zdr = true`,
		`distillable = false`,
		`prefill = false`,
		`[model.routing]`, // after the endpoints, still the model's
		`order = ["sim-a/turbo", "real"]`,
		`allow_fallbacks = false`,
		`require_parameters = true`,
		`data_collection = "deny"`,
		`only = ["sim-a", "real"]`,
		`ignore = []`,
		`quantizations = ["fp8", "unknown"]`,
		`sort = { by = "throughput", partition = "none" }`,
		`max_price = { prompt = 1.5, completion = 3, request = 0.01, image = 0.002 }`,
		`zdr = false`, // written, so a request's own cannot be told from a default
		`enforce_distillable_text = false`,
		`preferred_min_throughput = { p50 = 50, p75 = 40, p90 = 20.5, p99 = 5 }`,
		`preferred_max_latency = { p50 = 1, p99 = 4 }`,
		`fallback_models = ["small", "alias"]`,
		`timeouts = { first_token = "10s", stall = "4s", total = "1m" }`,
		`hedge = { after = "1.5s" }`,
		`[[model]]`,
		`name = "alias"`,
		`routing = { sort = "latency", preferred_min_throughput = 50, preferred_max_latency = 1.5, data_collection = "allow", hedge = true, timeouts = { total = "30s" } }`,
		`[[model.endpoint]]`,
		`provider = "sim-a"`,
		`upstream_model = "big-v1"`, // the same upstream id twice is served once
		`[[model]]`,
		`name = "small"`,
		`[[model.endpoint]]`,
		`provider = "sim-a"`,
	)
	cfg := mustParse(t, doc, env("REAL_KEY", "k-123", "SB_KEYS", " key-one, key-two ,"))
	wantGateway := Gateway{Listen: "127.0.0.1:0", APIKeyEnv: "SB_KEYS", APIKeys: []string{"key-one", "key-two"}, KeepAlive: 10 * time.Second,
		MaxConnections: 2000, MetricsPublic: true}
	if !reflect.DeepEqual(cfg.Gateway, wantGateway) {
		t.Errorf("gateway = %+v\nwant %+v", cfg.Gateway, wantGateway)
	}

	wantMonitor := monitor.Options{
		Bucket: time.Second, Window: 2 * time.Minute, OutageWindow: 20 * time.Second,
		DownAfter: 4, DownBelow: 0.7, DegradedBelow: 0.9, MinRequests: 8, RateLimitPause: 7 * time.Second,
		ProbeInterval: 3 * time.Second, ProbeJitter: 0.1, ProbeTimeout: 4 * time.Second,
		Publish: 250 * time.Millisecond, SeriesLen: 90,
		BreakerBackoff: 2 * time.Second, BreakerMaxBackoff: time.Minute, SlowFactor: 4, EventLog: 50,
		SlowMargin: 100 * time.Millisecond, SnapshotLag: 5 * time.Millisecond,
	}
	if !reflect.DeepEqual(cfg.Monitor, wantMonitor) {
		t.Errorf("monitor = %+v\nwant %+v", cfg.Monitor, wantMonitor)
	}
	wantRouting := routing.Options{
		MaxAttempts: 3, Seed: 42,
		RetryBackoff: 300 * time.Millisecond, MaxRetryWait: 20 * time.Second, HedgesPerSecond: 2.5, MaxAnswer: 8 << 20,
		NormFactor: 4.5, NormFloor: 2 * time.Second,
		Timeouts: routing.Timeouts{FirstToken: 15 * time.Second, Stall: 5 * time.Second, Total: 2 * time.Minute},
	}
	if !reflect.DeepEqual(cfg.Routing, wantRouting) {
		t.Errorf("routing = %+v\nwant %+v", cfg.Routing, wantRouting)
	}

	wantSim := &sim.Profile{
		Name: "sim-a", Seed: 7, Models: []string{"big-v1", "small"},
		ContextLengths:  map[string]int{"big-v1": 131072}, // alias leaves it out: not known there, not a conflict
		TTFT:            sim.Latency{P50: 120 * time.Millisecond, P95: 400 * time.Millisecond},
		TokensPerSecond: 280.5, ReasoningTokens: 400, ErrorRate: 0.01, ErrorStatuses: []int{500, 502, 503},
		RateLimitRate: 0.1, RetryAfter: 5 * time.Second,
		Outages: []sim.Outage{
			{Every: 4 * time.Minute, For: 40 * time.Second, Offset: 30 * time.Second},
			{For: 10 * time.Second},
		},
		CutRate: 0.02, StallRate: 0.03,
		SlowStartRate: 0.04, SlowStart: 12 * time.Second, SilentCloseRate: 0.05, SilentClose: 9 * time.Second,
		MalformedRate: 0.06, RefusePrefill: true, Mode: sim.ModeRateLimitedShort,
	}
	a := cfg.Provider("sim-a")
	if !reflect.DeepEqual(a.Sim, wantSim) {
		t.Errorf("sim = %+v\nwant %+v", a.Sim, wantSim)
	}
	if a.ProbeInterval != 9*time.Second || a.ProbeJitter != 0.3 || a.ProbeTimeout != 6*time.Second {
		t.Errorf("sim-a probes every %s ± %v, timeout %s", a.ProbeInterval, a.ProbeJitter, a.ProbeTimeout)
	}
	if a.Display != "Sim A" || cfg.Provider("real").Display != "" {
		t.Errorf("display names %q and %q, want \"Sim A\" and none", a.Display, cfg.Provider("real").Display)
	}
	if a.Timeouts != (Timeouts{Connect: time.Second, FirstToken: 2 * time.Second, Stall: 3 * time.Second}) || a.Probe != ProbeModels {
		t.Errorf("sim-a = %v", a)
	}
	r := cfg.Provider("real")
	if r.Sim != nil || r.BaseURL != "https://api.example.com/v1" || r.APIKeyEnv != "REAL_KEY" || r.APIKey != "k-123" || r.Probe != ProbeModels {
		t.Errorf("real = %v", r)
	}

	if names := []string{cfg.Models[0].Name, cfg.Models[1].Name, cfg.Models[2].Name}; !slices.Equal(names, []string{"big", "alias", "small"}) {
		t.Errorf("models out of file order: %v", names)
	}
	no := false
	wantBig := Model{Name: "big", Display: "Big Model", Endpoints: []Endpoint{
		{ID: "big@sim-a", Provider: "sim-a", UpstreamModel: "big-v1", PriceIn: 1, PriceOut: 2.5,
			PriceRequest: 0.002, PriceImage: 0.001, Variant: "turbo", Quantization: "fp8", ContextLength: 131072,
			Parameters: []string{"temperature", "max_tokens", "tools", "x-custom"}, StoresData: true,
			Distillable: true, Prefill: true},
		{ID: "big@real", Provider: "real", UpstreamModel: "big", Parameters: []string{}, ZDR: true},
	}, Defaults: routing.ModelDefaults{
		Provider: routing.Preferences{
			Order:                  []string{"sim-a/turbo", "real"},
			AllowFallbacks:         &no,
			RequireParameters:      true,
			DataCollection:         "deny",
			Only:                   []string{"sim-a", "real"},
			Quantizations:          []string{"fp8", "unknown"},
			Sort:                   routing.Sort{By: routing.SortThroughput, Partition: "none"},
			MaxPrice:               routing.MaxPrice{Prompt: ptr(1.5), Completion: ptr(3.0), Request: ptr(0.01), Image: ptr(0.002)},
			ZDR:                    &no,
			EnforceDistillableText: &no,
			PreferredMinThroughput: routing.Cutoffs{P50: ptr(50.0), P75: ptr(40.0), P90: ptr(20.5), P99: ptr(5.0)},
			PreferredMaxLatency:    routing.Cutoffs{P50: ptr(1.0), P99: ptr(4.0)},
		},
		Models:   []string{"small", "alias"},
		Timeouts: routing.Timeouts{FirstToken: 10 * time.Second, Stall: 4 * time.Second, Total: time.Minute},
		Hedge:    &routing.Hedge{Enabled: true, After: 1500 * time.Millisecond},
	}}
	if !reflect.DeepEqual(cfg.Models[0], wantBig) {
		t.Errorf("big = %+v\nwant %+v", cfg.Models[0], wantBig)
	}
	if err := cfg.Models[0].Defaults.Provider.Check(); err != nil {
		t.Errorf("big's defaults fail routing's check: %v", err)
	}

	// The short forms: a sort key alone, a number for the p50 cutoff, and
	// hedge = true for a hedge after the endpoint's own p95.
	wantAlias := routing.ModelDefaults{Provider: routing.Preferences{
		DataCollection:         "allow",
		Sort:                   routing.Sort{By: routing.SortLatency},
		PreferredMinThroughput: routing.Cutoffs{P50: ptr(50.0)},
		PreferredMaxLatency:    routing.Cutoffs{P50: ptr(1.5)},
	}, Timeouts: routing.Timeouts{Total: 30 * time.Second}, Hedge: &routing.Hedge{Enabled: true}}
	if alias := cfg.Models[1]; !reflect.DeepEqual(alias.Defaults, wantAlias) || !alias.HasDefaults() {
		t.Errorf("alias defaults = %+v\nwant %+v", alias.Defaults, wantAlias)
	}
	if small := cfg.Models[2]; small.HasDefaults() || small.Endpoints[0].Parameters != nil {
		t.Errorf("small has defaults %+v or parameters %v it never set", small.Defaults, small.Endpoints[0].Parameters)
	}
}

func ptr[T any](v T) *T { return &v }

// Each way of writing hedge, and timeouts alone, is a default of its own:
// the model goes into the router's Defaults for it.
func TestHedgeAndTimeoutDefaults(t *testing.T) {
	for _, tt := range []struct {
		routing string
		want    routing.ModelDefaults
	}{
		{`hedge = true`, routing.ModelDefaults{Hedge: &routing.Hedge{Enabled: true}}},
		{`hedge = false`, routing.ModelDefaults{Hedge: &routing.Hedge{}}},
		{`hedge = { after = "250ms" }`, routing.ModelDefaults{Hedge: &routing.Hedge{Enabled: true, After: 250 * time.Millisecond}}},
		{`timeouts = { stall = "7s" }`, routing.ModelDefaults{Timeouts: routing.Timeouts{Stall: 7 * time.Second}}},
		{`timeouts = {}`, routing.ModelDefaults{}},
	} {
		cfg := mustParse(t, okProvider+lines(`[[model]]`, `name = "m"`, `routing = { `+tt.routing+` }`, `[[model.endpoint]]`, `provider = "ok"`), nil)
		m := cfg.Models[0]
		if !reflect.DeepEqual(m.Defaults, tt.want) {
			t.Errorf("%s: defaults = %+v, want %+v", tt.routing, m.Defaults, tt.want)
		}
		if m.HasDefaults() != !reflect.DeepEqual(tt.want, routing.ModelDefaults{}) {
			t.Errorf("%s: HasDefaults = %v", tt.routing, m.HasDefaults())
		}
	}
}

func TestTTFTP95DefaultsToP50(t *testing.T) {
	cfg := mustParse(t, lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `ttft = { p50 = "300ms" }`)+okModel, nil)
	if got := cfg.Providers[0].Sim.TTFT; got.P95 != 300*time.Millisecond {
		t.Errorf("ttft = %+v", got)
	}
}

// A byte order mark is skipped and does not shift columns on line 1.
func TestByteOrderMark(t *testing.T) {
	mustParse(t, "\ufeff"+okRest, nil)
	es := parseErrors(t, "\ufeffbogus = 1\n"+okRest, nil)
	checkErrors(t, es, []string{"1:1 unknown key bogus"})
	es = parseErrors(t, "\ufeffx = 3s\n", nil)
	checkErrors(t, es, []string{"1:6 TOML syntax"})
}

func TestEndpointID(t *testing.T) {
	if got := EndpointID("meta-llama/llama-3.3-70b-instruct", "groq"); got != "meta-llama/llama-3.3-70b-instruct@groq" {
		t.Errorf("EndpointID = %q", got)
	}
}

func TestConnectTimeoutReachesTheRouter(t *testing.T) {
	cfg := mustParse(t, lines(`[routing]`, `timeouts = { connect = "2s" }`)+okRest, nil)
	if cfg.Routing.Timeouts.Connect != 2*time.Second {
		t.Fatalf("routing timeouts %+v", cfg.Routing.Timeouts)
	}
}

// Both wire protocols are accepted, and OpenAI's is the default.
func TestParseProtocols(t *testing.T) {
	cfg := mustParse(t, lines(`[[provider]]`, `name = "claude-direct"`, `protocol = "anthropic"`, `[provider.sim]`,
		`[[provider]]`, `name = "plain"`, `[provider.sim]`,
		`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "claude-direct"`, `[[model.endpoint]]`, `provider = "plain"`), nil)
	if a, o := cfg.Provider("claude-direct").Protocol, cfg.Provider("plain").Protocol; a != ProtocolAnthropic || o != ProtocolOpenAI {
		t.Errorf("protocols %q and %q; want anthropic and openai", a, o)
	}
}

// The data policies filter on the endpoints' own, and every endpoint field
// reaches the router's endpoint, the provider's display name included.
func TestDataPoliciesAndRoutingEndpoint(t *testing.T) {
	cfg := mustParse(t, lines(
		`[[provider]]`, `name = "keeps"`, `[provider.sim]`,
		`[[provider]]`, `name = "clean"`, `display = "Clean AI"`, `timeouts = { first_token = "9s", stall = "4s" }`, `[provider.sim]`,
		`[[model]]`, `name = "m"`,
		`routing = { zdr = true, enforce_distillable_text = true, max_price = { request = 0.01, image = 0.002 } }`,
		`[[model.endpoint]]`, `provider = "keeps"`, `price_request = 0.02`, `stores_data = true`,
		`[[model.endpoint]]`, `provider = "clean"`, `upstream_model = "m-1"`, `price_in = 1`, `price_out = 2`,
		`price_request = 0.005`, `price_image = 0.001`, `variant = "v"`, `quantization = "fp8"`, `context_length = 8192`,
		`supported_parameters = ["tools"]`, `zdr = true`, `distillable = true`, `prefill = true`, `input_modalities = ["text", "image"]`), nil)
	m := &cfg.Models[0]
	yes := true
	want := routing.Preferences{ZDR: &yes, EnforceDistillableText: &yes, MaxPrice: routing.MaxPrice{Request: ptr(0.01), Image: ptr(0.002)}}
	if !reflect.DeepEqual(m.Defaults.Provider, want) {
		t.Errorf("defaults %+v\nwant %+v", m.Defaults.Provider, want)
	}
	got := cfg.RoutingEndpoint(m, &m.Endpoints[1])
	wantEp := routing.Endpoint{ID: "m@clean", Provider: "clean", ProviderName: "Clean AI", Model: "m", UpstreamModel: "m-1",
		PriceIn: 1, PriceOut: 2, PriceRequest: 0.005, PriceImage: 0.001, Variant: "v", Quantization: "fp8",
		ContextLength: 8192, Parameters: []string{"tools"}, ZDR: true, Distillable: true, Prefill: true,
		InputModalities: []string{"image"}, Timeouts: routing.Timeouts{FirstToken: 9 * time.Second, Stall: 4 * time.Second}}
	if !reflect.DeepEqual(got, wantEp) {
		t.Errorf("routing endpoint %+v\nwant %+v", got, wantEp)
	}
	// Every field but the connection is set above: a field added to
	// routing.Endpoint and not converted shows up here.
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && f.Name != "Upstream" && f.Name != "StoresData" && v.Field(i).IsZero() {
			t.Errorf("routing.Endpoint.%s is not converted from the configuration", f.Name)
		}
	}
	keeps := cfg.RoutingEndpoint(m, &m.Endpoints[0])
	if !keeps.StoresData || keeps.ProviderName != "" {
		t.Errorf("keeps: stores data %v, display name %q", keeps.StoresData, keeps.ProviderName)
	}
	if why := m.Defaults.Provider.Excludes(&keeps); why == "" {
		t.Error("the defaults do not exclude the endpoint that keeps data")
	}
}

// The dashboard opens on default_model, an alias standing for its model;
// left out, on the model with the most endpoints, the first of those.
func TestDefaultModel(t *testing.T) {
	two := okProvider + lines(`[[provider]]`, `name = "ok2"`, `[provider.sim]`,
		`[[model]]`, `name = "one"`, `[[model.endpoint]]`, `provider = "ok"`,
		`[[model]]`, `name = "two"`, `aliases = ["deux"]`, `[[model.endpoint]]`, `provider = "ok"`, `[[model.endpoint]]`, `provider = "ok2"`,
		`[[model]]`, `name = "also-two"`, `[[model.endpoint]]`, `provider = "ok"`, `[[model.endpoint]]`, `provider = "ok2"`)
	for _, tc := range []struct{ head, want string }{
		{"", "two"},
		{`default_model = "one"` + "\n", "one"},
		{`default_model = "deux"` + "\n", "two"},
	} {
		if got := mustParse(t, tc.head+two, nil).DefaultModel; got != tc.want {
			t.Errorf("%q: DefaultModel %q, want %q", tc.head, got, tc.want)
		}
	}
}

// TestSnapshotLagOfZeroIsNone: "0s" asks for a fresh view of health for
// every request, which the monitor's options say with a negative lag (their
// zero is the default).
func TestSnapshotLagOfZeroIsNone(t *testing.T) {
	cfg, err := Load("", []byte(lines(`[monitor]`, `snapshot_lag = "0s"`)+okRest))
	if err != nil {
		t.Fatal(err)
	}
	if lag := cfg.Monitor.SnapshotLag; lag >= 0 {
		t.Errorf("snapshot_lag \"0s\" gave a lag of %v; want none (negative)", lag)
	}
}

// [cluster] is read whole; the password comes from the environment.
func TestParseCluster(t *testing.T) {
	env := func(k string) (string, bool) { return "pw,with,commas", k == "SB_REDIS_PW" }
	cfg := mustParse(t, lines(`[cluster]`, `redis_url = "rediss://user@redis.internal:6380/2"`, `password_env = "SB_REDIS_PW"`,
		`username = "sb"`, `replica = "gw-1"`, `prefix = "prod"`)+okRest, env)
	want := Cluster{RedisURL: "rediss://user@redis.internal:6380/2", PasswordEnv: "SB_REDIS_PW", Password: "pw,with,commas",
		Username: "sb", Replica: "gw-1", Prefix: "prod"}
	if cfg.Cluster != want {
		t.Errorf("cluster = %+v\nwant %+v", cfg.Cluster, want)
	}
	if cfg := mustParse(t, okRest, nil); cfg.Cluster != (Cluster{}) {
		t.Errorf("without [cluster]: %+v, want none", cfg.Cluster)
	}
}
