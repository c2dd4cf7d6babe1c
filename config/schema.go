package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

// The built-in defaults named in messages; they are monitor's and routing's.
const (
	defBucket         = monitor.DefaultBucket
	defWindow         = monitor.DefaultWindow
	defOutageWindow   = monitor.DefaultOutageWindow
	defDownAfter      = monitor.DefaultDownAfter
	defDownBelow      = monitor.DefaultDownBelow
	defDegradedBelow  = monitor.DefaultDegradedBelow
	defMinRequests    = monitor.DefaultMinRequests
	defRateLimitPause = monitor.DefaultRateLimitPause
	defProbeInterval  = monitor.DefaultProbeInterval
	defProbeJitter    = monitor.DefaultProbeJitter
	defProbeTimeout   = monitor.DefaultProbeTimeout
	defPublish        = monitor.DefaultPublish
	defSeriesLen      = monitor.DefaultSeriesLen
	defBreakerBackoff = monitor.DefaultBreakerBackoff
	defBreakerMax     = monitor.DefaultBreakerMaxBackoff
	defSlowFactor     = monitor.DefaultSlowFactor
	defEventLog       = monitor.DefaultEventLog
	defMaxAttempts    = routing.DefaultMaxAttempts
	defRetryBackoff   = routing.DefaultRetryBackoff
	defMaxRetryWait   = routing.DefaultMaxRetryWait
	defHedgesPerSec   = routing.DefaultHedgesPerSecond
	defTotalTimeout   = routing.DefaultTotalTimeout
)

// maxAnswerMiB is the largest [routing] max_answer_mib taken.
const maxAnswerMiB = 4096

var (
	slugRE   = regexp.MustCompile(`^[a-z0-9-]+$`)
	envVarRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// config reads the whole document.
func (d *decoder) config(root *table, env func(string) (string, bool)) *Config {
	cfg := &Config{}
	if t, ok := root.sub("monitor", "a [monitor] table"); ok {
		cfg.Monitor = readMonitor(t)
	}
	if t, ok := root.sub("routing", "a [routing] table"); ok {
		cfg.Routing = readRouting(t)
	}
	if t, ok := root.sub("gateway", `a [gateway] table, e.g. listen = "127.0.0.1:8788"`); ok {
		cfg.Gateway = readGateway(t, env)
	}
	if t, ok := root.sub("cluster", `a [cluster] table, e.g. redis_url = "redis://127.0.0.1:6379"`); ok {
		cfg.Cluster = readCluster(t, env)
	}
	defaultModel, hasDefault := root.str("default_model")
	provTables, provOK := root.tables("provider", "a [[provider]] table")
	modelTables, modelOK := root.tables("model", "a [[model]] table")
	start := Pos{File: d.loc.file, Line: 1, Col: 1}
	// Absent or an empty array; a value of the wrong type was reported already.
	if len(provTables) == 0 && (provOK || !root.has("provider")) {
		d.errorf(start, `no providers are configured; add a [[provider]] table with a name and either a [provider.sim] table or base_url`)
	}
	if len(modelTables) == 0 && (modelOK || !root.has("model")) {
		d.errorf(start, `no models are configured; add a [[model]] table with a name and at least one [[model.endpoint]]`)
	}
	root.finish()

	// Providers, then models, then the references between them.
	provAt := map[string]*table{}
	var provTableOf []*table // the table of each of cfg.Providers
	for _, t := range provTables {
		p := readProvider(t, env)
		if p.Name != "" {
			if prev, dup := provAt[p.Name]; dup {
				t.bad("name", "%q is already used by the provider at line %d; give each [[provider]] a unique name",
					p.Name, prev.pos().Line)
				continue
			}
			provAt[p.Name] = t
		}
		cfg.Providers = append(cfg.Providers, p)
		provTableOf = append(provTableOf, t)
	}
	checkDisplays(cfg.Providers, provTableOf)
	names := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		if p.Name != "" {
			names = append(names, p.Name)
		}
	}

	modelAt := map[string]*table{}
	served := map[string]bool{}
	var routingTables []*table // one per model, nil for none
	var endpointTables [][]*table
	for _, t := range modelTables {
		m, eps, rt := readModel(t)
		routingTables = append(routingTables, rt)
		endpointTables = append(endpointTables, eps)
		if m.Name != "" {
			if prev, dup := modelAt[m.Name]; dup {
				t.bad("name", "%q is already declared by the model at line %d; give each [[model]] a unique name",
					m.Name, prev.pos().Line)
			} else {
				modelAt[m.Name] = t
			}
		}
		for i, e := range m.Endpoints {
			if e.Provider == "" {
				continue
			}
			served[e.Provider] = true
			if _, ok := provAt[e.Provider]; ok {
				checkProtocolParams(cfg.Provider(e.Provider), &e, eps[i])
				continue
			}
			var hint string
			switch s := suggest(e.Provider, names); {
			case s != "":
				hint = fmt.Sprintf("did you mean %q?", s)
			case len(names) == 0:
				hint = "declare it first with a [[provider]] table"
			default:
				hint = fmt.Sprintf("the declared providers are %s", quoteList(names))
			}
			eps[i].bad("provider", "%q is not a declared provider; %s", e.Provider, hint)
		}
		cfg.Models = append(cfg.Models, m)
	}
	checkAliases(cfg.Models, modelTables)
	cfg.DefaultModel = mostServed(cfg.Models)
	if hasDefault {
		cfg.DefaultModel = readDefaultModel(root, defaultModel, cfg.Models)
	}
	display := map[string]string{}
	for _, p := range cfg.Providers {
		display[p.Name] = p.Display
	}
	for i, rt := range routingTables {
		if rt != nil {
			cfg.Models[i].Defaults = readDefaults(rt, cfg.Models[i], cfg.Models, provAt, display)
		}
	}

	// A simulated provider serves exactly the models routed to it, each
	// within the context its endpoint declares, taking images where the
	// endpoint says it does.
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		if p.Sim == nil || p.Name == "" {
			continue
		}
		limitAt := map[string]*table{} // the endpoint that set each model's limit
		for mi, m := range cfg.Models {
			for ei, e := range m.Endpoints {
				if e.Provider != p.Name {
					continue
				}
				if !slices.Contains(p.Sim.Models, e.UpstreamModel) {
					p.Sim.Models = append(p.Sim.Models, e.UpstreamModel)
				}
				if slices.Contains(e.InputModalities, routing.ModalityImage) && !slices.Contains(p.Sim.ImageModels, e.UpstreamModel) {
					p.Sim.ImageModels = append(p.Sim.ImageModels, e.UpstreamModel) // it refuses images as a text model does otherwise
				}
				if e.ContextLength == 0 {
					continue
				}
				et := endpointTables[mi][ei]
				switch prev, set := p.Sim.ContextLengths[e.UpstreamModel]; {
				case !set:
					if p.Sim.ContextLengths == nil {
						p.Sim.ContextLengths = map[string]int{}
					}
					p.Sim.ContextLengths[e.UpstreamModel] = e.ContextLength
					limitAt[e.UpstreamModel] = et
				case prev != e.ContextLength:
					et.bad("context_length", "is %d, but the endpoint at line %d routes the same upstream model %q of simulated provider %q with context_length = %d, and the simulator has one limit per model; write the same context_length in both",
						e.ContextLength, limitAt[e.UpstreamModel].pos().Line, e.UpstreamModel, p.Name, prev)
				}
			}
		}
		if t := provAt[p.Name]; t != nil && !served[p.Name] {
			d.errorf(t.pos(), "simulated provider %q serves no model; add a [[model.endpoint]] with provider = %q, or remove the provider",
				p.Name, p.Name)
		}
	}

	// The simulator checks its own profiles too; if it finds something the
	// checks above missed, report it at the [provider.sim] table rather than
	// letting the fleet fail to start later.
	if len(d.errs) == 0 {
		for _, p := range cfg.Providers {
			if p.Sim == nil {
				continue
			}
			if err := p.Sim.Validate(); err != nil {
				pos := start
				if t := provAt[p.Name]; t != nil {
					pos = d.loc.keyPos(t.path.key("sim"))
				}
				for _, line := range strings.Split(err.Error(), "\n") {
					d.errorf(pos, "%s; fix provider.sim", line)
				}
			}
		}
	}
	return cfg
}

// mostServed is the model with the most endpoints, the first of them in
// file order; "" when there is none.
func mostServed(models []Model) string {
	best := -1
	for i, m := range models {
		if best < 0 || len(m.Endpoints) > len(models[best].Endpoints) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return models[best].Name
}

// readDefaultModel checks the top-level default_model, name, against the
// models and their aliases, and returns the model it names ("" if none).
func readDefaultModel(root *table, name string, models []Model) string {
	var known []string
	for _, m := range models {
		if m.Name == name || slices.Contains(m.Aliases, name) {
			return m.Name
		}
		known = append(known, m.Name)
		known = append(known, m.Aliases...)
	}
	hint := fmt.Sprintf("the models are %s", quoteList(known))
	if s := suggest(name, known); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	}
	root.bad("default_model", "%q is not a model this file serves; %s", name, hint)
	return ""
}

// readGateway reads [gateway]: where the API listens and who may use it.
func readGateway(t *table, env func(string) (string, bool)) Gateway {
	var g Gateway
	if l, ok := t.str("listen"); ok {
		if _, port, err := net.SplitHostPort(l); err != nil || !isPort(port) {
			t.bad("listen", "is %q, not an address to listen on; write host:port, e.g. listen = \"127.0.0.1:8788\" (\":8788\" listens on every interface)", l)
		} else {
			g.Listen = l
		}
	}
	g.APIKeyEnv, g.APIKeys = keysFromEnv(t, env, "api_key_env", "SWITCHBOARD_API_KEYS", "to leave the API open")
	g.AdminKeyEnv, g.AdminKeys = keysFromEnv(t, env, "admin_key_env", "SWITCHBOARD_ADMIN_KEY", "to leave the admin API off")
	g.KeepAlive = positiveDuration(t, "keep_alive", 3*time.Second)
	switch n, ok := t.count("max_connections", "1000"); {
	case !ok:
	case n == 0:
		t.bad("max_connections", "is zero, which would refuse every client; remove the key for the default (from the open-file limit), or write for example max_connections = 1000")
	case n > maxConnections:
		t.bad("max_connections", "is %d, more connections than one process can hold open; write at most %d", n, maxConnections)
	default:
		g.MaxConnections = int(n)
	}
	g.MetricsPublic, _ = t.boolean("metrics_public")
	t.finish()
	return g
}

// readCluster reads [cluster]: where the fleet's Redis is, and this
// replica's name in it.
func readCluster(t *table, env func(string) (string, bool)) Cluster {
	var c Cluster
	if v, ok := t.str("redis_url"); ok {
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
			t.bad("redis_url", `is not a Redis address; write redis://host:port (or rediss://host:port for TLS), e.g. redis_url = "redis://127.0.0.1:6379"`)
		case u.User != nil && hasPassword(u.User):
			// Not echoed: it holds a secret.
			t.bad("redis_url", "holds a password, which never goes in this file; put it in an environment variable and name that with password_env")
		default:
			c.RedisURL = v
		}
	}
	if name, ok := t.str("password_env"); ok {
		v, set := env(name)
		switch {
		case !envVarRE.MatchString(name):
			// Not echoed: a value that is not a variable name may be the password.
			t.bad("password_env", `must be the NAME of an environment variable, in capitals, such as "SWITCHBOARD_REDIS_PASSWORD"; the password itself goes in that variable, never in this file`)
		case !set || v == "":
			t.bad("password_env", "names %s, which is not set in the environment; export %s=<password> before starting Switchboard, or remove password_env for a Redis without a password", name, name)
		default:
			c.PasswordEnv, c.Password = name, v
		}
	}
	c.Username, _ = t.str("username")
	if f, ok := t.str("tls_ca_file"); ok {
		if _, err := os.Stat(f); err != nil {
			t.bad("tls_ca_file", "cannot be read: %v", err)
		}
		if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "rediss://") {
			t.bad("tls_ca_file", "is for TLS, which redis_url does not ask for; write rediss:// in redis_url, or remove tls_ca_file")
		}
		c.TLSCAFile = f
	}
	if r, ok := t.str("replica"); ok {
		if !replicaRE.MatchString(r) {
			t.bad("replica", "is %q; a replica's name is letters, digits and . _ : - (at most 64), e.g. replica = \"gw-1\"", r)
		}
		c.Replica = r
	}
	if p, ok := t.str("prefix"); ok {
		if !replicaRE.MatchString(p) {
			t.bad("prefix", "is %q; write letters, digits and . _ : - (at most 64), e.g. prefix = \"switchboard\"", p)
		}
		c.Prefix = p
	}
	if c.RedisURL == "" && !t.has("redis_url") {
		t.d.errorf(t.pos(), `[cluster] has no redis_url; write redis_url = "redis://127.0.0.1:6379", or remove [cluster] to run alone`)
	}
	t.finish()
	return c
}

// replicaRE is what a replica's name and a key prefix may be.
var replicaRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func hasPassword(u *url.Userinfo) bool { _, set := u.Password(); return set }

// keysFromEnv reads key, the name of an environment variable, and the keys
// that variable holds, separated by commas; example is a name to suggest,
// without says what leaving the key out does.
func keysFromEnv(t *table, env func(string) (string, bool), key, example, without string) (name string, keys []string) {
	k, ok := t.str(key)
	switch {
	case !ok:
		return "", nil
	case !envVarRE.MatchString(k):
		// Not echoed: a value that is not a variable name may be a key.
		t.bad(key, `must be the NAME of an environment variable, in capitals, such as "%s"; the keys themselves go in that variable, never in this file`, example)
		return "", nil
	}
	v, set := env(k)
	if !set || strings.TrimSpace(v) == "" {
		t.bad(key, "names %s, which is not set in the environment; export %s=<key>[,<key>...] before starting Switchboard, or remove %s %s", k, k, key, without)
		return "", nil
	}
	for one := range strings.SplitSeq(v, ",") {
		if one = strings.TrimSpace(one); one != "" {
			keys = append(keys, one)
		}
	}
	return k, keys
}

// maxConnections bounds [gateway] max_connections: a million open
// connections is past what one process's open files allow anywhere.
const maxConnections = 1 << 20

// isPort reports whether s is a port number, 0 to 65535.
func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func readMonitor(t *table) monitor.Options {
	var o monitor.Options
	o.Bucket = positiveDuration(t, "bucket", defBucket)
	o.Window = positiveDuration(t, "window", defWindow)
	o.OutageWindow = positiveDuration(t, "outage_window", defOutageWindow)
	o.DownAfter = positiveCount(t, "down_after", defDownAfter)
	o.DownBelow = positiveRate(t, "down_below", defDownBelow)
	o.DegradedBelow = positiveRate(t, "degraded_below", defDegradedBelow)
	o.MinRequests = positiveCount(t, "min_requests", defMinRequests)
	o.RateLimitPause = positiveDuration(t, "rate_limit_pause", defRateLimitPause)
	o.ProbeInterval = positiveDuration(t, "probe_interval", defProbeInterval)
	o.ProbeJitter = positiveRate(t, "probe_jitter", defProbeJitter)
	if o.ProbeJitter >= 1 {
		t.bad("probe_jitter", "is %v; it must be below 1, or a probe could fire at once: write for example probe_jitter = 0.2", o.ProbeJitter)
	}
	o.ProbeTimeout = positiveDuration(t, "probe_timeout", defProbeTimeout)
	o.Publish = positiveDuration(t, "publish", defPublish)
	o.SeriesLen = positiveCount(t, "series_len", defSeriesLen)
	o.BreakerBackoff = positiveDuration(t, "breaker_backoff", defBreakerBackoff)
	o.BreakerMaxBackoff = positiveDuration(t, "breaker_max_backoff", defBreakerMax)
	if first, most := orDefault(o.BreakerBackoff, defBreakerBackoff), orDefault(o.BreakerMaxBackoff, defBreakerMax); first > most {
		key := "breaker_max_backoff"
		if !t.has(key) {
			key = "breaker_backoff"
		}
		t.bad(key, "makes the first backoff (%s) longer than the longest (%s); the backoff doubles from breaker_backoff up to breaker_max_backoff, e.g. 5s and 2m",
			human.Duration(first), human.Duration(most))
	}
	if f, ok := t.float("slow_factor", "3"); ok {
		if f <= 1 {
			t.bad("slow_factor", "is %v; an endpoint is degraded when its first token is this many times slower than its own median, so it must be above 1, e.g. slow_factor = 3", f)
		} else {
			o.SlowFactor = f
		}
	}
	o.SlowMargin = positiveDuration(t, "slow_margin", monitor.DefaultSlowMargin)
	if lag, ok := t.duration("snapshot_lag"); ok {
		switch {
		case lag == 0:
			o.SnapshotLag = -1 // none: Options' zero is the default
		case lag > monitor.MaxSnapshotLag:
			t.bad("snapshot_lag", "is %s; at most %s, or the router orders endpoints on figures that are no longer so: write for example snapshot_lag = \"2ms\", or \"0s\" for none",
				human.Duration(lag), human.Duration(monitor.MaxSnapshotLag))
		default:
			o.SnapshotLag = lag
		}
	}
	o.EventLog = positiveCount(t, "event_log", defEventLog)

	down, degraded := orDefault(o.DownBelow, defDownBelow), orDefault(o.DegradedBelow, defDegradedBelow)
	if down > degraded {
		const why = "an endpoint is down below down_below and degraded below degraded_below, so down_below must be the lower one, e.g. down_below = 0.80 and degraded_below = 0.95"
		switch {
		case !t.has("down_below"):
			t.bad("degraded_below", "(%v) is below the default down_below (%v); %s", degraded, down, why)
		case !t.has("degraded_below"):
			t.bad("down_below", "(%v) is above the default degraded_below (%v); %s", down, degraded, why)
		default:
			t.bad("down_below", "(%v) is above degraded_below (%v); %s", down, degraded, why)
		}
	}
	bucket, window := orDefault(o.Bucket, defBucket), orDefault(o.Window, defWindow)
	if o.Window != 0 && window < bucket {
		t.bad("window", "(%s) is shorter than one bucket (%s); make the window several buckets long, e.g. window = \"5m\"",
			human.Duration(window), human.Duration(bucket))
	}
	t.finish()
	return o
}

func readRouting(t *table) routing.Options {
	var o routing.Options
	o.MaxAttempts = positiveCount(t, "max_attempts", defMaxAttempts)
	if n, ok := t.count("seed", "42"); ok {
		o.Seed = uint64(n)
	}
	o.RetryBackoff = positiveDuration(t, "retry_backoff", defRetryBackoff)
	o.MaxRetryWait = positiveDuration(t, "max_retry_wait", defMaxRetryWait)
	// The bound applies to every answer in memory at once, so a few GiB is
	// already more than a gateway should hold for one request.
	if mib := positiveCount(t, "max_answer_mib", provider.DefaultMaxAnswer>>20); mib > maxAnswerMiB {
		t.bad("max_answer_mib", "is %d; an answer held in memory may be at most %d MiB: write for example max_answer_mib = %d",
			mib, maxAnswerMiB, provider.DefaultMaxAnswer>>20)
	} else {
		o.MaxAnswer = mib << 20
	}
	if f, ok := t.nonNegative("hedges_per_second", "1"); ok {
		if f == 0 {
			t.bad("hedges_per_second", "is zero, which would mean the default (%v); remove the key for the default, or write a positive rate such as 0.5 (only models with hedge = true, and requests that ask, are hedged at all)",
				defHedgesPerSec)
		} else {
			o.HedgesPerSecond = f
		}
	}
	if f, ok := t.float("norm_factor", "3"); ok {
		if f <= 1 {
			t.bad("norm_factor", "is %v; an attempt is abandoned at this many times its endpoint's own p99, so it must be above 1, e.g. norm_factor = %v (a large factor such as 100 leaves the timeouts in charge)",
				f, routing.DefaultNormFactor)
		} else {
			o.NormFactor = f
		}
	}
	o.NormFloor = positiveDuration(t, "norm_floor", routing.DefaultNormFloor)
	o.Timeouts = readTimeouts(t, func(key string) string {
		if key == "total" {
			return human.Duration(defTotalTimeout)
		}
		return "each provider's own " + key + " timeout"
	})
	t.hints = map[string]string{
		"hedge": "hedging is set per model: write hedge = true in the model's [model.routing] table (hedges_per_second here caps all of them)",
	}
	t.finish()
	return o
}

// readTimeouts reads timeouts = { connect = "5s", first_token = "30s", stall = "30s", total = "5m" },
// each key optional; def describes what leaving a key out means.
func readTimeouts(t *table, def func(key string) string) routing.Timeouts {
	tt, ok := t.sub("timeouts", `timeouts = { first_token = "30s", stall = "30s", total = "5m" }`)
	if !ok {
		return routing.Timeouts{}
	}
	o := routing.Timeouts{
		Connect:    positiveLimit(tt, "connect", def("connect"), "5s"),
		FirstToken: positiveLimit(tt, "first_token", def("first_token"), "30s"),
		Stall:      positiveLimit(tt, "stall", def("stall"), "30s"),
		Total:      positiveLimit(tt, "total", def("total"), "5m"),
	}
	tt.finish()
	return o
}

// readProvider reads one [[provider]] table. A provider whose name is missing
// or invalid is returned with an empty Name and left out of cross-checks.
func readProvider(t *table, env func(string) (string, bool)) Provider {
	var p Provider
	if !t.has("name") {
		t.d.errorf(t.pos(), `this [[provider]] has no name; add name = "groq" (lower-case letters, digits and dashes)`)
	} else if name, ok := t.str("name"); ok {
		if slugRE.MatchString(name) {
			p.Name = name
		} else {
			t.bad("name", "%q is not a slug; use lower-case letters, digits and dashes: name = %q", name, slugify(name))
		}
	}
	label := "this provider"
	if p.Name != "" {
		label = fmt.Sprintf("provider %q", p.Name)
	}
	p.Display = readDisplay(t)

	p.Protocol = ProtocolOpenAI
	if proto, ok := t.str("protocol"); ok {
		switch proto {
		case ProtocolOpenAI, ProtocolAnthropic:
			p.Protocol = proto
		default:
			t.bad("protocol", `%q is not a supported protocol; write protocol = "openai" (chat completions) or "anthropic" (messages)`, proto)
		}
	}

	hasURL := t.has("base_url")
	if u, ok := t.str("base_url"); ok {
		// The value is never echoed: a URL can carry credentials.
		pu, err := url.Parse(u)
		switch {
		case err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "":
			t.bad("base_url", `is not an http:// or https:// URL; write the API root, e.g. base_url = "https://openrouter.ai/api/v1"`)
		case pu.User != nil:
			t.bad("base_url", `must not contain credentials; put the key in an environment variable and name it with api_key_env = "MY_API_KEY"`)
		default:
			p.BaseURL = strings.TrimRight(u, "/")
		}
	}

	if _, ok := t.m["api_key"]; ok {
		// Said specially, and taken out of the unknown keys: a key written
		// here would end up in version control.
		t.d.errorf(t.keyPos("api_key"), `provider.api_key: an API key must not be written in the config file; put it in an environment variable and write api_key_env = "MY_API_KEY" instead`)
		delete(t.m, "api_key")
	}

	hasKeyEnv := t.has("api_key_env")
	hasSim := t.has("sim")
	keyEnv, keyEnvOK := t.str("api_key_env")
	if keyEnvOK && !envVarRE.MatchString(keyEnv) {
		// Not echoed either: a value that is not a variable name may be the
		// key itself.
		t.bad("api_key_env", `must be the NAME of an environment variable, in capitals, such as "GROQ_API_KEY"; the key itself goes in that variable, never in this file`)
		keyEnvOK = false
	}

	simT, simOK := t.sub("sim", "a [provider.sim] table")
	if tt, ok := t.sub("timeouts", `timeouts = { connect = "5s", first_token = "30s", stall = "30s" }`); ok {
		p.Timeouts = Timeouts{
			Connect:    positiveTimeout(tt, "connect"),
			FirstToken: positiveTimeout(tt, "first_token"),
			Stall:      positiveTimeout(tt, "stall"),
		}
		tt.finish()
	}

	p.ProbeInterval = positiveDuration(t, "probe_interval", defProbeInterval)
	p.ProbeTimeout = positiveDuration(t, "probe_timeout", defProbeTimeout)
	p.ProbeJitter = positiveRate(t, "probe_jitter", defProbeJitter)
	if p.ProbeJitter >= 1 {
		t.bad("probe_jitter", "is %v; it must be below 1, or a probe could fire at once: write for example probe_jitter = 0.2", p.ProbeJitter)
	}

	if hasSim {
		p.Probe = ProbeChat
	} else {
		p.Probe = ProbeModels
	}
	if probe, ok := t.str("probe"); ok {
		switch probe {
		case ProbeChat, ProbeModels:
			p.Probe = probe
		default:
			t.bad("probe", `%q is not a probe kind; write probe = "chat" (a short completion) or probe = "models" (GET /models, free)`, probe)
		}
	}

	switch {
	case hasURL && hasSim:
		t.d.errorf(t.keyPos("base_url"), `%s has both base_url and a [provider.sim] table; keep base_url (and api_key_env) for a real provider, or [provider.sim] for a simulated one`, label)
	case !hasURL && !hasSim:
		t.d.errorf(t.pos(), `%s has neither base_url nor a [provider.sim] table; add base_url = "https://..." for a real provider, or a [provider.sim] table for a simulated one`, label)
	case hasSim && hasKeyEnv:
		t.d.errorf(t.keyPos("api_key_env"), `api_key_env is only for real providers and %s is simulated; remove api_key_env`, label)
	case hasURL && keyEnvOK:
		p.APIKeyEnv = keyEnv
		key, set := env(keyEnv)
		if !set || key == "" {
			t.bad("api_key_env", "names %s, which is not set in the environment; export %s=<your key> before starting Switchboard, or remove %s",
				keyEnv, keyEnv, label)
		} else {
			p.APIKey = key
		}
	}

	if simOK && !hasURL {
		p.Sim = readSim(simT, p.Name)
	}
	t.finish()
	return p
}

// readDisplay reads a provider's display name, or returns "" when it is
// left out or wrong; whether it is unique is checked once all are read.
func readDisplay(t *table) string {
	d, ok := t.str("display")
	if !ok {
		return ""
	}
	trimmed := strings.TrimSpace(d)
	switch {
	case trimmed == "":
		t.bad("display", `is empty; remove the key to show the provider's name, or write the name as OpenRouter writes it, e.g. display = "DeepInfra"`)
	case trimmed != d || strings.ContainsFunc(d, unicode.IsControl):
		t.bad("display", "%q has spaces at an end, or control characters; write display = %q", d, strings.Join(strings.Fields(d), " "))
	case strings.Contains(d, "/"):
		t.bad("display", `%q contains "/", which order, only and ignore read as "slug/variant"; write the name without it`, d)
	default:
		return d
	}
	return ""
}

// checkDisplays reports display names that would name two providers: each
// must differ from every other provider's display name and name, without
// regard to case, as requests may name a provider either way.
func checkDisplays(provs []Provider, at []*table) {
	owner := map[string]int{} // lower-case name -> index of its provider
	for i, p := range provs {
		if p.Name != "" {
			owner[strings.ToLower(p.Name)] = i
		}
	}
	for i, p := range provs {
		if p.Display == "" {
			continue
		}
		key := strings.ToLower(p.Display)
		j, taken := owner[key]
		switch {
		case !taken:
			owner[key] = i
		case j == i:
			// The provider's own name, in other letters: "Groq" for groq.
		case strings.EqualFold(provs[j].Name, p.Display):
			at[i].bad("display", "%q is the name of provider %q (line %d), compared without regard to case; a request naming it would mean either provider: write another display name",
				p.Display, provs[j].Name, at[j].pos().Line)
		default:
			at[i].bad("display", "%q is already the display name of provider %q (line %d), compared without regard to case; give each provider its own",
				p.Display, provs[j].Name, at[j].pos().Line)
		}
	}
}

// slugify suggests a valid provider name for s.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	if out := strings.TrimRight(b.String(), "-"); out != "" {
		return out
	}
	return "my-provider"
}

func readSim(t *table, name string) *sim.Profile {
	p := &sim.Profile{Name: name, Seed: defaultSeed(name)}
	if n, ok := t.integer("seed", "7"); ok {
		p.Seed = n
	}
	const ttftExample = `ttft = { p50 = "120ms", p95 = "400ms" }`
	if tt, ok := t.sub("ttft", ttftExample); ok {
		p50, ok50 := tt.duration("p50")
		p95, ok95 := tt.duration("p95")
		if !tt.has("p50") {
			tt.d.errorf(tt.pos(), "%s needs p50, the median time to first token; write %s", tt.name, ttftExample)
		}
		p.TTFT = sim.Latency{P50: p50, P95: p95}
		if !tt.has("p95") {
			p.TTFT.P95 = p50 // no spread
		}
		if ok50 && ok95 && p95 < p50 {
			tt.bad("p95", "(%s) is below p50 (%s); the 95th percentile cannot be faster than the median: write p95 = %q or more",
				human.Duration(p95), human.Duration(p50), human.Duration(p50*2))
		}
		tt.finish()
	}
	p.TokensPerSecond, _ = t.nonNegative("tokens_per_second", "280")
	if n, ok := t.count("reasoning_tokens", "400"); ok {
		p.ReasoningTokens = int(n)
	}
	p.ErrorRate, _ = t.rate("error_rate", "0.02")
	if codes, ok := t.integers("error_statuses", "[500, 502, 503]"); ok {
		for i, c := range codes {
			if c < 400 || c > 599 {
				t.d.errorf(t.elemPos("error_statuses", i), "%s.error_statuses[%d] is %d, not an HTTP error status; use statuses from 400 to 599, e.g. error_statuses = [500, 502, 503]",
					t.name, i, c)
				continue
			}
			p.ErrorStatuses = append(p.ErrorStatuses, int(c))
		}
	}
	p.RateLimitRate, _ = t.rate("rate_limit_rate", "0.1")
	p.RetryAfter, _ = t.duration("retry_after")
	const outageExample = `outages = [{ every = "4m", for = "40s", offset = "30s" }]`
	if outages, ok := t.tables("outages", outageExample); ok {
		for _, o := range outages {
			if out, ok := readOutage(o); ok {
				p.Outages = append(p.Outages, out)
			}
		}
	}
	p.CutRate, _ = t.rate("cut_rate", "0.05")
	p.StallRate, _ = t.rate("stall_rate", "0.02")
	p.StreamErrorRate, _ = t.rate("stream_error_rate", "0.02")
	p.SlowStartRate, _ = t.rate("slow_start_rate", "0.05")
	p.SlowStart, _ = t.duration("slow_start")
	p.SilentCloseRate, _ = t.rate("silent_close_rate", "0.02")
	p.SilentClose, _ = t.duration("silent_close")
	p.MalformedRate, _ = t.rate("malformed_rate", "0.02")
	p.RefusePrefill, _ = t.boolean("refuse_prefill")
	if name, ok := t.str("mode"); ok {
		if m, err := sim.ParseMode(name); err != nil {
			t.bad("mode", "is %q, not a simulator mode; write one of %s", name, strings.Join(simModes(), ", "))
		} else {
			p.Mode = m
		}
	}

	// Each pair shares one random draw per request, so it must fit in 1.
	if sum := p.ErrorRate + p.RateLimitRate; sum > 1 {
		t.bad("rate_limit_rate", "plus error_rate is %v, more than 1; together they are the share of failed requests, so lower one of them", sum)
	}
	if sum := p.CutRate + p.StallRate; sum > 1 {
		t.bad("stall_rate", "plus cut_rate is %v, more than 1; together they are the share of broken streams, so lower one of them", sum)
	} else if sum := p.CutRate + p.StallRate + p.StreamErrorRate; sum > 1 {
		t.bad("stream_error_rate", "plus cut_rate and stall_rate is %v, more than 1; together they are the share of broken streams, so lower one of them", sum)
	}
	t.finish()
	return p
}

// simModes lists the simulator's mode names, for an error text.
func simModes() []string {
	var names []string
	for _, m := range sim.Modes() {
		names = append(names, m.String())
	}
	return names
}

func readOutage(t *table) (sim.Outage, bool) {
	every, okEvery := t.duration("every")
	dur, okFor := t.duration("for")
	offset, okOffset := t.duration("offset")
	good := okFor && (okEvery || !t.has("every")) && (okOffset || !t.has("offset"))
	switch {
	case !t.has("for"):
		t.d.errorf(t.pos(), `an outage needs for, how long it lasts; write for example { every = "4m", for = "40s", offset = "30s" }`)
		good = false
	case okFor && dur == 0:
		t.bad("for", `is zero; an outage must last a positive duration such as "40s"`)
		good = false
	case okFor && okEvery && every > 0 && dur >= every:
		t.bad("for", "(%s) is not shorter than every (%s), so the provider would never come back; make for shorter than every, or write every = \"0s\" for a one-off outage",
			human.Duration(dur), human.Duration(every))
		good = false
	}
	t.finish()
	return sim.Outage{Every: every, For: dur, Offset: offset}, good
}

// readModel reads one [[model]] table. It returns the endpoint tables and the
// [model.routing] table (or nil) too, so that references to providers and
// models can be checked once all are known.
func readModel(t *table) (Model, []*table, *table) {
	var m Model
	if !t.has("name") {
		t.d.errorf(t.pos(), `this [[model]] has no name; add the id clients ask for, e.g. name = "meta-llama/llama-3.3-70b-instruct"`)
	} else if name, ok := t.str("name"); ok {
		if name == "" || strings.ContainsFunc(name, isSpaceOrControl) {
			t.bad("name", `%q is not a model id; write an id without spaces, e.g. name = "meta-llama/llama-3.3-70b-instruct"`, name)
		} else {
			m.Name = name
		}
	}
	label := "this model"
	if m.Name != "" {
		label = fmt.Sprintf("model %q", m.Name)
	}
	m.Display = m.Name
	if disp, ok := t.str("display"); ok && disp != "" {
		m.Display = disp
	}
	t.names("aliases", `["claude-sonnet-4-20250514"]`, `a model id such as "claude-sonnet-4-20250514"`, func(i int, a string) {
		switch {
		case strings.ContainsFunc(a, isSpaceOrControl):
			t.d.errorf(t.elemPos("aliases", i), `%s[%d] %q is not a model id; write an id without spaces, e.g. "claude-sonnet-4-20250514"`, t.childName("aliases"), i, a)
		case a == m.Name:
			t.d.errorf(t.elemPos("aliases", i), "%s[%d] %q is the model's own name; remove it", t.childName("aliases"), i, a)
		case a != strings.TrimSuffix(strings.TrimSuffix(a, ":nitro"), ":floor"):
			t.d.errorf(t.elemPos("aliases", i), `%s[%d] %q ends in a routing suffix (:nitro, :floor), which requests add to any name; write it without`, t.childName("aliases"), i, a)
		default:
			m.Aliases = append(m.Aliases, a)
		}
	})
	eps, _ := t.tables("endpoint", "a [[model.endpoint]] table")
	if !t.has("endpoint") || len(eps) == 0 {
		t.d.errorf(t.pos(), `%s has no endpoints; add a [[model.endpoint]] table after it with provider = "..."`, label)
	}
	byProvider := map[string]*table{}
	var kept []*table
	for _, e := range eps {
		ep := Endpoint{UpstreamModel: m.Name}
		if !e.has("provider") {
			e.d.errorf(e.pos(), `this [[model.endpoint]] names no provider; add provider = "..." with the name of a [[provider]]`)
		} else if prov, ok := e.str("provider"); ok {
			if prev, dup := byProvider[prov]; dup {
				e.bad("provider", "%q already serves %s (endpoint at line %d); remove one of the two endpoints", prov, label, prev.pos().Line)
			} else {
				byProvider[prov] = e
				ep.Provider = prov
			}
		}
		if up, ok := e.str("upstream_model"); ok {
			if up == "" || strings.ContainsFunc(up, isSpaceOrControl) {
				e.bad("upstream_model", `%q is not a model id; write the provider's own id, e.g. upstream_model = "llama-3.3-70b-versatile", or remove the key to use the model's name`, up)
			} else {
				ep.UpstreamModel = up
			}
		}
		ep.PriceIn, _ = e.nonNegative("price_in", "0.59")
		ep.PriceOut, _ = e.nonNegative("price_out", "0.79")
		ep.PriceRequest, _ = e.nonNegative("price_request", "0.005")
		ep.PriceImage, _ = e.nonNegative("price_image", "0.001")
		readCapabilities(e, &ep)
		ep.ID = EndpointID(m.Name, ep.Provider)
		e.hints = map[string]string{
			"routing": "routing defaults belong to the model: write a [model.routing] table, or routing = { ... } before the model's first [[model.endpoint]]",
		}
		e.finish()
		m.Endpoints = append(m.Endpoints, ep)
		kept = append(kept, e)
	}
	// Read once every model is known: it names other models.
	rt, _ := t.sub("routing", `a [model.routing] table, e.g. routing = { sort = "latency" }`)
	if rt != nil {
		rt.hints = routingHints
	}
	t.hints = map[string]string{
		"provider": "an endpoint's provider goes in a [[model.endpoint]] table, and the model's default provider preferences (OpenRouter's provider object) in [model.routing]",
	}
	t.finish()
	return m, kept, rt
}

// modalities are the input modalities an endpoint may list, as OpenRouter
// names them: those Switchboard carries.
var modalities = []string{"text", routing.ModalityImage}

// quantizations are the values of quantization and quantizations, as
// OpenRouter names them.
var quantizations = []string{"int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown"}

// checkProtocolParams refuses supported_parameters an endpoint's protocol
// has no words for: Anthropic's Messages API gives no log probabilities,
// so an endpoint that listed them would take requests it cannot answer.
func checkProtocolParams(p *Provider, e *Endpoint, t *table) {
	if p == nil || p.Protocol != ProtocolAnthropic {
		return
	}
	for i, param := range e.Parameters {
		if param == "logprobs" || param == "top_logprobs" {
			t.d.errorf(t.elemPos("supported_parameters", i), "%s[%d] is %q, which provider %q cannot give: Anthropic's protocol has no log probabilities; remove it",
				t.childName("supported_parameters"), i, param, p.Name)
		}
	}
}

// badQuantization describes q if it is not a quantization, or returns "".
func badQuantization(q string) string {
	if slices.Contains(quantizations, q) {
		return ""
	}
	hint := ""
	if s := suggest(strings.ToLower(q), quantizations); s != "" {
		hint = fmt.Sprintf("did you mean %q? ", s)
	}
	return fmt.Sprintf("%q is not a quantization; %suse one of %s", q, hint, strings.Join(quantizations, ", "))
}

// readCapabilities reads what an endpoint is and can do.
func readCapabilities(e *table, ep *Endpoint) {
	if v, ok := e.str("variant"); ok {
		switch {
		case v == "":
			e.bad("variant", `is empty; remove the key, or name the variant as in OpenRouter's "slug/variant", e.g. variant = "turbo"`)
		case !slugRE.MatchString(v):
			e.bad("variant", "%q is not a slug; use lower-case letters, digits and dashes: variant = %q", v, slugify(v))
		default:
			ep.Variant = v
		}
	}
	if q, ok := e.str("quantization"); ok {
		if msg := badQuantization(q); msg != "" {
			e.bad("quantization", "%s", msg)
		} else if q != "unknown" {
			ep.Quantization = q
		}
	}
	if n, ok := e.integer("context_length", "131072"); ok {
		if n <= 0 {
			e.bad("context_length", "is %d; write the most tokens (prompt plus completion) the endpoint takes, e.g. context_length = 131072, or remove the key if it is not known", n)
		} else {
			ep.ContextLength = int(n)
		}
	}
	const paramsExample = `["temperature", "max_tokens", "tools"]`
	if e.names("supported_parameters", paramsExample, `a parameter name such as "tools"`, func(_ int, s string) {
		ep.Parameters = append(ep.Parameters, s)
	}) && ep.Parameters == nil {
		ep.Parameters = []string{} // known: none
	}
	e.names("input_modalities", `["text", "image"]`, `a modality, "text" or "image"`, func(i int, s string) {
		if !slices.Contains(modalities, s) {
			e.d.errorf(e.elemPos("input_modalities", i), `%s[%d] is %q; Switchboard carries the input modalities %s`,
				e.childName("input_modalities"), i, s, quoteList(modalities))
			return
		}
		if s != "text" { // every endpoint takes text
			ep.InputModalities = append(ep.InputModalities, s)
		}
	})
	ep.StoresData, _ = e.boolean("stores_data")
	ep.ZDR, _ = e.boolean("zdr")
	if ep.ZDR && ep.StoresData {
		e.bad("zdr", "is true, and so is stores_data: an endpoint that keeps nothing of a request cannot store or train on its prompts; set one of them to false")
		ep.ZDR = false
	}
	ep.Distillable, _ = e.boolean("distillable")
	ep.Prefill, _ = e.boolean("prefill")
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// positiveDuration reads a duration whose zero value means a default: writing
// zero explicitly is refused, since it would not mean what it says.
func positiveDuration(t *table, key string, def time.Duration) time.Duration {
	return positiveLimit(t, key, human.Duration(def), human.Duration(def))
}

// positiveLimit is positiveDuration for a default that is not one fixed
// duration: def describes it, and example is a duration to suggest.
func positiveLimit(t *table, key, def, example string) time.Duration {
	v, ok := t.duration(key)
	if ok && v == 0 {
		t.bad(key, "is zero, which would mean the default (%s); remove the key for the default, or write a positive duration such as %q",
			def, example)
		return 0
	}
	return v
}

// positiveTimeout is positiveDuration for a client timeout.
func positiveTimeout(t *table, key string) time.Duration {
	v, ok := t.duration(key)
	if ok && v == 0 {
		t.bad(key, `is zero; remove the key for the client's default, or write a positive duration such as "30s"`)
		return 0
	}
	return v
}

func positiveCount(t *table, key string, def int) int {
	n, ok := t.count(key, fmt.Sprint(def))
	if ok && n == 0 {
		t.bad(key, "is zero, which would mean the default (%d); remove the key for the default, or write %s = %d", def, key, def)
		return 0
	}
	return int(n)
}

func positiveRate(t *table, key string, def float64) float64 {
	f, ok := t.rate(key, fmt.Sprint(def))
	if ok && f == 0 {
		t.bad(key, "is zero, which would mean the default (%v); remove the key for the default, or write a small positive value such as 0.01", def)
		return 0
	}
	return f
}

func orDefault[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// checkAliases reports an alias that is another model's name, or an alias
// of two models (or twice one's): a request naming it would mean either.
// tables are the models' own, one each.
func checkAliases(models []Model, tables []*table) {
	name := map[string]int{} // model name -> index
	for i, m := range models {
		if m.Name != "" {
			name[m.Name] = i
		}
	}
	type at struct{ model, index int }
	seen := map[string]at{}
	for mi, m := range models {
		t := tables[mi]
		for _, a := range m.Aliases {
			// The alias's own index in the array, for its position: the
			// kept aliases skip the refused ones.
			i := slices.IndexFunc(t.aliasList(), func(s string) bool { return s == a })
			pos := t.elemPos("aliases", i)
			if other, ok := name[a]; ok {
				t.d.errorf(pos, "%s[%d] %q is the name of the model at line %d; an alias must name no other model", t.childName("aliases"), i, a, tables[other].pos().Line)
				continue
			}
			if prev, dup := seen[a]; dup {
				if prev.model != mi {
					t.d.errorf(pos, "%s[%d] %q is already an alias of model %q (line %d); give each alias to one model", t.childName("aliases"), i, a, models[prev.model].Name, tables[prev.model].pos().Line)
				}
				continue
			}
			seen[a] = at{mi, i}
		}
	}
}

// aliasList is the aliases array as written, an element of another type
// as "", for the index of an alias in it.
func (t *table) aliasList() []string {
	arr, _ := t.m["aliases"].([]any)
	out := make([]string, len(arr))
	for i, v := range arr {
		out[i], _ = v.(string)
	}
	return out
}
