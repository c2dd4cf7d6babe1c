package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// lines joins its arguments as the lines of a document, so that a case's
// line numbers can be read off its source.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// A simulated provider "ok" and a model "m" served by it: appended to a case
// that needs a valid rest of the file.
var (
	okProvider = lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`)
	okModel    = lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`)
	okRest     = okProvider + okModel
)

// env returns a lookup over the given variables.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parseErrors parses doc and returns its problems; it fails the test if doc
// parses or fails with something other than Errors.
func parseErrors(t *testing.T, doc string, lookup func(string) (string, bool)) Errors {
	t.Helper()
	cfg, err := Parse("test.toml", []byte(doc), lookup)
	if err == nil {
		t.Fatalf("parsed without error: %+v", cfg)
	}
	if cfg != nil {
		t.Errorf("got a config along with an error")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	return es
}

// checkErrors compares problems with wants of the form "line:col message
// substring", in file order, one for one.
func checkErrors(t *testing.T, es Errors, wants []string) {
	t.Helper()
	for i := 0; i < max(len(es), len(wants)); i++ {
		switch {
		case i >= len(es):
			t.Errorf("missing problem %q", wants[i])
			continue
		case i >= len(wants):
			t.Errorf("unexpected problem: %v", es[i])
			continue
		}
		at, sub, _ := strings.Cut(wants[i], " ")
		e := es[i]
		if e.Pos.File != "test.toml" {
			t.Errorf("problem %d: file %q, want test.toml", i, e.Pos.File)
		}
		if got := fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col); got != at {
			t.Errorf("problem %d at %s, want %s: %v", i, got, at, e)
		}
		if !strings.Contains(e.Msg, sub) {
			t.Errorf("problem %d: %q\n\tdoes not contain %q", i, e.Msg, sub)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		env   []string
		wants []string
	}{
		// TOML syntax.
		{"unquoted duration", lines(`[monitor]`, `probe_interval = 3s`),
			nil, []string{`2:19 TOML syntax: expected a top-level item to end with a newline, comment, or EOF, but got 's' instead; put strings and durations in double quotes, e.g. probe_interval = "3s"`}},
		{"unquoted string", lines(`[[provider]]`, `name = groq`),
			nil, []string{`2:8 TOML syntax: expected value but found "groq" instead; put strings and durations in double quotes`}},
		{"duplicate key at line start", lines(`[monitor]`, `window = "5m"`, `window = "6m"`),
			nil, []string{`3:1 TOML syntax: Key 'monitor.window' has already been defined; each key may appear once per table`}},
		{"unterminated string", lines(`[[provider]]`, `name = "groq`, `protocol = "openai"`),
			nil, []string{`2:13 TOML syntax: strings cannot contain newlines; close the string on the same line`}},
		{"table header not closed", lines(`[[provider]]`, `name = "a"`, `[provider.sim`),
			nil, []string{`3:14 TOML syntax: expected '.' or ']' to end table name`}},

		// Unknown keys.
		{"misspelt sim key", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `tokens_per_sec = 280`) + okModel,
			nil, []string{`4:1 unknown key provider.sim.tokens_per_sec; did you mean tokens_per_second?`}},
		{"misspelt top-level table", lines(`[[providers]]`, `name = "x"`) + okRest,
			nil, []string{`1:3 unknown key providers; did you mean provider?`}},
		{"misspelt monitor key", lines(`[monitor]`, `  probe_intervall = "2s"`) + okRest,
			nil, []string{`2:3 unknown key monitor.probe_intervall; did you mean probe_interval?`}},
		{"unknown key without a near miss", lines(`[[provider]]`, `name = "ok"`, `colour = "red"`, `[provider.sim]`) + okModel,
			nil, []string{`3:1 unknown key provider.colour; the keys allowed here are name, protocol, base_url, api_key_env, sim, timeouts, probe`}},
		{"unknown key in an inline table", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `ttft = { p50 = "1s", p99 = "2s" }`) + okModel,
			nil, []string{`4:22 unknown key provider.sim.ttft.p99; did you mean p95?`}},
		{"unknown key in timeouts", lines(`[[provider]]`, `name = "ok"`, `timeouts = { connect = "1s", first_byte = "2s" }`, `[provider.sim]`) + okModel,
			nil, []string{`3:30 unknown key provider.timeouts.first_byte; the keys allowed here are connect, first_token, stall`}},
		{"unknown key in a dotted table", lines(`[[provider]]`, `name = "ok"`, `sim.tokens_per_sec = 1`) + okModel,
			nil, []string{`3:5 unknown key provider.sim.tokens_per_sec; did you mean tokens_per_second?`}},
		{"unknown key in an endpoint", lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`, `price = 1`) + okProvider,
			nil, []string{`5:1 unknown key model.endpoint.price; did you mean price_in?`}},

		// Wrong types.
		{"string for a number", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `tokens_per_second = "fast"`) + okModel,
			nil, []string{`4:21 provider.sim.tokens_per_second must be a number, not a string; write for example tokens_per_second = 280`}},
		{"quoted number", lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`, `price_in = "0.59"`) + okProvider,
			nil, []string{`5:12 model.endpoint.price_in must be a number, not a string; remove the quotes: price_in = 0.59`}},
		{"number for a string", lines(`[[provider]]`, `name = 5`, `[provider.sim]`) + okRest,
			nil, []string{`2:8 provider.name must be a string in double quotes, not an integer`}},
		{"fraction for a count", lines(`[monitor]`, `down_after = 2.5`) + okRest,
			nil, []string{`2:14 monitor.down_after must be a whole number, not a number; write for example down_after = 3`}},
		{"float for a count", lines(`[monitor]`, `series_len = 60.0`) + okRest,
			nil, []string{`2:14 monitor.series_len must be a whole number; write series_len = 60`}},
		{"value for a table", lines(`[[provider]]`, `name = "ok"`, `sim = 5`) + okModel,
			nil, []string{`3:7 provider.sim must be a table, not an integer; write for example a [provider.sim] table`}},
		{"value for an array of tables", lines(`model = "m"`) + okProvider,
			nil, []string{`1:9 model must be an array of tables, not a string; write for example a [[model]] table`, `2:1 simulated provider "ok" serves no model`}},
		{"string in a status list", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_statuses = [500, "502"]`) + okModel,
			nil, []string{`4:24 provider.sim.error_statuses[1] must be a whole number, not a string`}},
		{"string for an outage", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `outages = ["4m"]`) + okModel,
			nil, []string{`4:12 provider.sim.outages[0] must be a table, not a string; write for example outages = [{ every = "4m", for = "40s", offset = "30s" }]`}},

		// Durations.
		{"duration in words", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `retry_after = "4 minutes"`) + okModel,
			nil, []string{`4:15 provider.sim.retry_after "4 minutes" is not a duration; write a Go duration such as "4m" or "250ms"`}},
		{"duration as a number", lines(`[monitor]`, `window = 300`) + okRest,
			nil, []string{`2:10 monitor.window must be a duration in quotes, with a unit; write window = "300s" for 300 seconds`}},
		{"negative duration", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `retry_after = "-5s"`) + okModel,
			nil, []string{`4:15 provider.sim.retry_after "-5s" is negative`}},
		{"zero meaning default", lines(`[monitor]`, `probe_interval = "0s"`) + okRest,
			nil, []string{`2:18 monitor.probe_interval is zero, which would mean the default (5s); remove the key for the default`}},
		{"zero timeout", lines(`[[provider]]`, `name = "ok"`, `timeouts = { stall = "0s" }`, `[provider.sim]`) + okModel,
			nil, []string{`3:22 provider.timeouts.stall is zero; remove the key for the client's default`}},

		// Numbers out of range.
		{"negative price", lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`, `price_in = 0.1`, `price_out = -0.5`) + okProvider,
			nil, []string{`6:13 model.endpoint.price_out is -0.5 but must not be negative`}},
		{"negative speed", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `tokens_per_second = -1`) + okModel,
			nil, []string{`4:21 provider.sim.tokens_per_second is -1 but must not be negative`}},
		{"rates outside [0,1]", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_rate = -0.1`, `cut_rate = 5`) + okModel,
			nil, []string{
				`4:14 provider.sim.error_rate is -0.1, outside [0, 1]; write a fraction between 0 and 1, for example error_rate = 0.02`,
				`5:12 provider.sim.cut_rate is 5, outside [0, 1]; it is a fraction, not a percentage: write cut_rate = 0.05 for 5%`,
			}},
		{"rates summing above 1", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_rate = 0.6`, `rate_limit_rate = 0.5`) + okModel,
			nil, []string{`5:19 provider.sim.rate_limit_rate plus error_rate is 1.1, more than 1`}},
		{"stream faults summing above 1", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `cut_rate = 0.6`, `stall_rate = 0.6`) + okModel,
			nil, []string{`5:14 provider.sim.stall_rate plus cut_rate is 1.2, more than 1`}},
		{"not an error status", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_statuses = [500, 200]`) + okModel,
			nil, []string{`4:24 provider.sim.error_statuses[1] is 200, not an HTTP error status; use statuses from 400 to 599`}},
		{"jitter of 1", lines(`[monitor]`, `probe_jitter = 1`) + okRest,
			nil, []string{`2:16 monitor.probe_jitter is 1; it must be below 1`}},
		{"backoff longer than its cap", lines(`[monitor]`, `breaker_backoff = "5m"`) + okRest,
			nil, []string{`2:19 monitor.breaker_backoff makes the first backoff (5m) longer than the longest (2m)`}},
		{"slow factor of 1", lines(`[monitor]`, `slow_factor = 1`) + okRest,
			nil, []string{`2:15 monitor.slow_factor is 1; an endpoint is degraded when`}},
		{"provider probe jitter", lines(`[[provider]]`, `name = "ok"`, `probe_jitter = 1.5`, `[provider.sim]`) + okModel,
			nil, []string{`3:16 provider.probe_jitter is 1.5, outside [0, 1]`}},
		{"provider probe interval zero", lines(`[[provider]]`, `name = "ok"`, `probe_interval = "0s"`, `[provider.sim]`) + okModel,
			nil, []string{`3:18 provider.probe_interval is zero, which would mean the default`}},
		{"routing", lines(`[routing]`, `max_attempts = 0`, `seed = -1`) + okRest,
			nil, []string{
				`2:16 routing.max_attempts is zero, which would mean the default (5); remove the key for the default, or write max_attempts = 5`,
				`3:8 routing.seed is -1 but must not be negative`,
			}},

		// Relations between values.
		{"p95 below p50", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `ttft = { p50 = "400ms", p95 = "100ms" }`) + okModel,
			nil, []string{`4:31 provider.sim.ttft.p95 (100ms) is below p50 (400ms); the 95th percentile cannot be faster than the median: write p95 = "800ms" or more`}},
		{"ttft without p50", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `ttft = { p95 = "100ms" }`) + okModel,
			nil, []string{`4:8 provider.sim.ttft needs p50, the median time to first token`}},
		{"down above degraded", lines(`[monitor]`, `degraded_below = 0.9`, `down_below = 0.95`) + okRest,
			nil, []string{`3:14 monitor.down_below (0.95) is above degraded_below (0.9); an endpoint is down below down_below and degraded below degraded_below, so down_below must be the lower one`}},
		{"degraded below the default down", lines(`[monitor]`, `degraded_below = 0.5`) + okRest,
			nil, []string{`2:18 monitor.degraded_below (0.5) is below the default down_below (0.8)`}},
		{"window shorter than a bucket", lines(`[monitor]`, `bucket = "10s"`, `window = "5s"`) + okRest,
			nil, []string{`3:10 monitor.window (5s) is shorter than one bucket (10s)`}},
		{"outage longer than its period", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `outages = [ { every = "30s", for = "40s" } ]`) + okModel,
			nil, []string{`4:36 provider.sim.outages.for (40s) is not shorter than every (30s), so the provider would never come back`}},
		{"outage as long as its period", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `[[provider.sim.outages]]`, `every = "1m"`, `for = "1m"`) + okModel,
			nil, []string{`6:7 provider.sim.outages.for (1m) is not shorter than every (1m)`}},
		{"outage without for", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `outages = [{ every = "1m" }, { every = "2m" }]`) + okModel,
			nil, []string{`4:12 an outage needs for, how long it lasts`, `4:30 an outage needs for`}},
		{"zero-length outage", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `outages = [{ for = "0s" }]`) + okModel,
			nil, []string{`4:20 provider.sim.outages.for is zero; an outage must last a positive duration`}},

		// Providers.
		{"unknown protocol", lines(`[[provider]]`, `name = "ok"`, `protocol = "grpc"`, `[provider.sim]`) + okModel,
			nil, []string{`3:12 provider.protocol "grpc" is not a supported protocol; write protocol = "openai" (supported: "openai"; "anthropic" is planned)`}},
		{"planned protocol", lines(`[[provider]]`, `name = "ok"`, `protocol = "anthropic"`, `[provider.sim]`) + okModel,
			nil, []string{`3:12 provider.protocol "anthropic" is planned but not supported yet; write protocol = "openai"`}},
		{"both base_url and sim", lines(`[[provider]]`, `name = "ok"`, `base_url = "https://api.groq.com/openai/v1"`, `[provider.sim]`) + okModel,
			nil, []string{`3:1 provider "ok" has both base_url and a [provider.sim] table; keep base_url (and api_key_env) for a real provider, or [provider.sim] for a simulated one`}},
		{"neither base_url nor sim", lines(`[[provider]]`, `name = "ok"`, `probe = "chat"`) + okModel,
			nil, []string{`1:1 provider "ok" has neither base_url nor a [provider.sim] table; add base_url = "https://..." for a real provider, or a [provider.sim] table for a simulated one`}},
		{"key variable unset", lines(`[[provider]]`, `name = "groq"`, `base_url = "https://api.groq.com/openai/v1"`, `api_key_env = "GROQ_API_KEY"`) + okModel + okProvider,
			[]string{"OTHER_KEY", "x"}, []string{
				`4:15 provider.api_key_env names GROQ_API_KEY, which is not set in the environment; export GROQ_API_KEY=<your key> before starting Switchboard, or remove provider "groq"`,
			}},
		{"key variable empty", lines(`[[provider]]`, `name = "groq"`, `base_url = "https://api.groq.com/openai/v1"`, `api_key_env = "GROQ_API_KEY"`) + okModel + okProvider,
			[]string{"GROQ_API_KEY", ""}, []string{`4:15 provider.api_key_env names GROQ_API_KEY, which is not set`}},
		{"key variable on a simulated provider", lines(`[[provider]]`, `name = "ok"`, `api_key_env = "OK_KEY"`, `[provider.sim]`) + okModel,
			[]string{"OK_KEY", "k"}, []string{`3:1 api_key_env is only for real providers and provider "ok" is simulated; remove api_key_env`}},
		{"not a variable name", lines(`[[provider]]`, `name = "groq"`, `base_url = "https://api.groq.com/openai/v1"`, `api_key_env = "groq_key"`) + okRest,
			nil, []string{`4:15 provider.api_key_env must be the NAME of an environment variable, in capitals, such as "GROQ_API_KEY"`}},
		{"key written in the file", lines(`[[provider]]`, `name = "groq"`, `base_url = "https://api.groq.com/openai/v1"`, `api_key = "gsk_0123456789"`) + okRest,
			nil, []string{`4:1 provider.api_key: an API key must not be written in the config file; put it in an environment variable and write api_key_env = "MY_API_KEY" instead`}},
		{"bad base_url", lines(`[[provider]]`, `name = "a"`, `base_url = "api.groq.com/openai/v1"`, `[[provider]]`, `name = "b"`, `base_url = "ftp://example.com"`) + okRest,
			nil, []string{
				`3:12 provider.base_url is not an http:// or https:// URL; write the API root, e.g. base_url = "https://openrouter.ai/api/v1"`,
				`6:12 provider.base_url is not an http:// or https:// URL`,
			}},
		{"credentials in base_url", lines(`[[provider]]`, `name = "a"`, `base_url = "https://user:hunter2@example.com/v1"`) + okRest,
			nil, []string{`3:12 provider.base_url must not contain credentials`}},
		{"bad probe", lines(`[[provider]]`, `name = "ok"`, `probe = "ping"`, `[provider.sim]`) + okModel,
			nil, []string{`3:9 provider.probe "ping" is not a probe kind; write probe = "chat" (a one-token completion) or probe = "models" (GET /models, free)`}},
		{"name not a slug", lines(`[[provider]]`, `name = "Google Vertex"`, `[provider.sim]`) + okRest,
			nil, []string{`2:8 provider.name "Google Vertex" is not a slug; use lower-case letters, digits and dashes: name = "google-vertex"`}},
		{"provider without a name", lines(`[[provider]]`, `[provider.sim]`) + okRest,
			nil, []string{`1:1 this [[provider]] has no name; add name = "groq"`}},
		{"duplicate provider", okProvider + lines(`[[provider]]`, `name = "ok"`, `base_url = "http://127.0.0.1:11434/v1"`) + okModel,
			nil, []string{`5:8 provider.name "ok" is already used by the provider at line 1; give each [[provider]] a unique name`}},
		{"unused simulated provider", lines(`[[provider]]`, `name = "spare"`, `[provider.sim]`) + okRest,
			nil, []string{`1:1 simulated provider "spare" serves no model; add a [[model.endpoint]] with provider = "spare", or remove the provider`}},

		// Models and endpoints.
		{"unknown provider, close", lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "okk"`, `[[model.endpoint]]`, `provider = "ok"`) + okProvider,
			nil, []string{`4:12 model.endpoint.provider "okk" is not a declared provider; did you mean "ok"?`}},
		{"unknown provider, far", okProvider + lines(`[[provider]]`, `name = "groq"`, `[provider.sim]`) + okModel + lines(`[[model.endpoint]]`, `provider = "groq"`, `[[model.endpoint]]`, `provider = "anthropic"`),
			nil, []string{`14:12 model.endpoint.provider "anthropic" is not a declared provider; the declared providers are "ok" and "groq"`}},
		{"same provider twice in a model", okProvider + okModel + lines(`[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`9:12 model.endpoint.provider "ok" already serves model "m" (endpoint at line 6); remove one of the two endpoints`}},
		{"duplicate model", okRest + lines(`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`9:8 model.name "m" is already declared by the model at line 4; give each [[model]] a unique name`}},
		{"model without endpoints", okRest + lines(`[[model]]`, `name = "lonely"`, `display = "Lonely"`),
			nil, []string{`8:1 model "lonely" has no endpoints; add a [[model.endpoint]] table after it with provider = "..."`}},
		{"model without a name", okProvider + lines(`[[model]]`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`4:1 this [[model]] has no name; add the id clients ask for`}},
		{"model name with a space", okProvider + lines(`[[model]]`, `name = "llama 3"`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`5:8 model.name "llama 3" is not a model id; write an id without spaces`}},
		{"endpoint without a provider", okRest + lines(`[[model.endpoint]]`, `price_in = 1`),
			nil, []string{`8:1 this [[model.endpoint]] names no provider; add provider = "..."`}},
		{"no models", okProvider,
			nil, []string{`1:1 no models are configured; add a [[model]] table`, `1:1 simulated provider "ok" serves no model`}},
		{"empty arrays", lines(`provider = []`, `model = []`),
			nil, []string{`1:1 no providers are configured`, `1:1 no models are configured`}},
		{"empty file", "",
			nil, []string{`1:1 no providers are configured; add a [[provider]] table`, `1:1 no models are configured`}},
		{"no endpoints for the only model", okProvider + lines(`[[model]]`, `name = "m"`, `endpoint = []`),
			nil, []string{`1:1 simulated provider "ok" serves no model`, `4:1 model "m" has no endpoints`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, parseErrors(t, tt.doc, env(tt.env...)), tt.wants)
		})
	}
}

// A file with many problems gets them all, in file order, each on a line.
func TestParseErrorsAllAtOnce(t *testing.T) {
	doc := lines(
		`[monitor]`,
		`probe_interval = "3 seconds"`,
		`probe_jiter = 0.1`,
		`[[provider]]`,
		`name = "groq"`,
		`protocol = "anthropic"`,
		`[provider.sim]`,
		`tokens_per_sec = 280`,
		`error_rate = 1.5`,
		`[[model]]`,
		`name = "m"`,
		`[[model.endpoint]]`,
		`provider = "groqq"`,
		`price_in = -1`,
	)
	es := parseErrors(t, doc, nil)
	checkErrors(t, es, []string{
		`2:18 "3 seconds" is not a duration`,
		`3:1 did you mean probe_jitter?`,
		`4:1 simulated provider "groq" serves no model`,
		`6:12 "anthropic" is planned`,
		`8:1 did you mean tokens_per_second?`,
		`9:14 error_rate is 1.5`,
		`13:12 "groqq" is not a declared provider; did you mean "groq"?`,
		`14:12 price_in is -1`,
	})
	got := strings.Split(es.Error(), "\n")
	if len(got) != len(es) {
		t.Fatalf("Error() has %d lines for %d problems:\n%s", len(got), len(es), es.Error())
	}
	for i, line := range got {
		if !strings.HasPrefix(line, fmt.Sprintf("test.toml:%d:%d: ", es[i].Pos.Line, es[i].Pos.Col)) {
			t.Errorf("line %d = %q, want it to start with file:line:col", i, line)
		}
	}
}

func TestErrorsPrintsAtMostMaxPrinted(t *testing.T) {
	var b strings.Builder
	b.WriteString("[monitor]\n")
	for i := range 25 {
		fmt.Fprintf(&b, "unknown_%d = 1\n", i)
	}
	b.WriteString(okRest)
	es := parseErrors(t, b.String(), nil)
	if len(es) != 25 {
		t.Fatalf("got %d problems, want 25", len(es))
	}
	out := strings.Split(es.Error(), "\n")
	if len(out) != MaxPrinted+1 || out[MaxPrinted] != "(and 5 more problems)" {
		t.Errorf("Error() = %d lines ending %q", len(out), out[len(out)-1])
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"seed", "ttft", "tokens_per_second", "error_rate", "error_statuses", "rate_limit_rate", "retry_after", "outages", "cut_rate", "stall_rate"}
	tests := map[string]string{
		"tokens_per_sec":    "tokens_per_second",
		"tokens_per_secnd":  "tokens_per_second",
		"error_status":      "error_statuses",
		"retry-after":       "retry_after",
		"outage":            "outages",
		"sed":               "seed",
		"stall":             "stall_rate",
		"colour":            "",
		"latency":           "",
		"completely_random": "",
	}
	for word, want := range tests {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
