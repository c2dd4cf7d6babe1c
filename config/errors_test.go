package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
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

// withRouting is a fleet of three simulated providers, and a model "llama"
// served by groq and together (variant "turbo", fp8) whose [model.routing]
// table, on line 12, holds the given lines from line 13 on; then a model
// "claude" served by cerebras.
func withRouting(ls ...string) string {
	return lines(
		`[[provider]]`, `name = "groq"`, `[provider.sim]`,
		`[[provider]]`, `name = "together"`, `[provider.sim]`,
		`[[provider]]`, `name = "cerebras"`, `[provider.sim]`,
		`[[model]]`, `name = "llama"`, `[model.routing]`) +
		lines(ls...) +
		lines(
			`[[model.endpoint]]`, `provider = "groq"`,
			`[[model.endpoint]]`, `provider = "together"`, `variant = "turbo"`, `quantization = "fp8"`,
			`[[model]]`, `name = "claude"`, `[[model.endpoint]]`, `provider = "cerebras"`)
}

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
			nil, []string{`3:1 unknown key provider.colour; the keys allowed here are name, display, protocol, base_url, api_key_env, sim, timeouts, probe`}},
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
		{"negative reasoning", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `reasoning_tokens = -5`) + okModel,
			nil, []string{`4:20 provider.sim.reasoning_tokens is -5 but must not be negative; write for example reasoning_tokens = 400`}},
		{"rates outside [0,1]", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_rate = -0.1`, `cut_rate = 5`) + okModel,
			nil, []string{
				`4:14 provider.sim.error_rate is -0.1, outside [0, 1]; write a fraction between 0 and 1, for example error_rate = 0.02`,
				`5:12 provider.sim.cut_rate is 5, outside [0, 1]; it is a fraction, not a percentage: write cut_rate = 0.05 for 5%`,
			}},
		{"rates summing above 1", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_rate = 0.6`, `rate_limit_rate = 0.5`) + okModel,
			nil, []string{`5:19 provider.sim.rate_limit_rate plus error_rate is 1.1, more than 1`}},
		{"stream faults summing above 1", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `cut_rate = 0.6`, `stall_rate = 0.6`) + okModel,
			nil, []string{`5:14 provider.sim.stall_rate plus cut_rate is 1.2, more than 1`}},
		{"stream errors with the other stream faults above 1", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `cut_rate = 0.5`, `stall_rate = 0.25`, `stream_error_rate = 0.5`) + okModel,
			nil, []string{`6:21 provider.sim.stream_error_rate plus cut_rate and stall_rate is 1.25, more than 1`}},
		{"issue 11 faults", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `slow_start_rate = 5`, `silent_close = "-1s"`,
			`malformed_rate = "0.1"`, `refuse_prefill = "yes"`, `mode = "broken"`, `slow_start = 3`) + okModel,
			nil, []string{
				`4:19 provider.sim.slow_start_rate is 5, outside [0, 1]; it is a fraction, not a percentage: write slow_start_rate = 0.05 for 5%`,
				`5:16 provider.sim.silent_close "-1s" is negative`,
				`6:18 provider.sim.malformed_rate must be a number, not a string; remove the quotes: malformed_rate = 0.1`,
				`7:18 provider.sim.refuse_prefill must be true or false, not a string`,
				`8:8 provider.sim.mode is "broken", not a simulator mode; write one of normal, down, slow, rate_limited, stall, slow_start, rate_limited_short, silent_close, cut, malformed, no_prefill`,
				`9:14 provider.sim.slow_start must be a duration in quotes, with a unit; write slow_start = "3s" for 3 seconds`,
			}},
		{"not an error status", lines(`[[provider]]`, `name = "ok"`, `[provider.sim]`, `error_statuses = [500, 200]`) + okModel,
			nil, []string{`4:24 provider.sim.error_statuses[1] is 200, not an HTTP error status; use statuses from 400 to 599`}},
		{"jitter of 1", lines(`[monitor]`, `probe_jitter = 1`) + okRest,
			nil, []string{`2:16 monitor.probe_jitter is 1; it must be below 1`}},
		{"backoff longer than its cap", lines(`[monitor]`, `breaker_backoff = "5m"`) + okRest,
			nil, []string{`2:19 monitor.breaker_backoff makes the first backoff (5m) longer than the longest (2m)`}},
		{"slow factor of 1", lines(`[monitor]`, `slow_factor = 1`) + okRest,
			nil, []string{`2:15 monitor.slow_factor is 1; an endpoint is degraded when`}},
		{"slow margin of zero", lines(`[monitor]`, `slow_margin = "0s"`) + okRest,
			nil, []string{`2:15 monitor.slow_margin is zero, which would mean the default (250ms)`}},
		{"snapshot lag of a minute", lines(`[monitor]`, `snapshot_lag = "1m"`) + okRest,
			nil, []string{`2:16 monitor.snapshot_lag is 1m; at most 1s, or the router orders endpoints on figures that are no longer so`}},
		{"provider probe jitter", lines(`[[provider]]`, `name = "ok"`, `probe_jitter = 1.5`, `[provider.sim]`) + okModel,
			nil, []string{`3:16 provider.probe_jitter is 1.5, outside [0, 1]`}},
		{"provider probe interval zero", lines(`[[provider]]`, `name = "ok"`, `probe_interval = "0s"`, `[provider.sim]`) + okModel,
			nil, []string{`3:18 provider.probe_interval is zero, which would mean the default`}},
		{"routing", lines(`[routing]`, `max_attempts = 0`, `seed = -1`) + okRest,
			nil, []string{
				`2:16 routing.max_attempts is zero, which would mean the default (5); remove the key for the default, or write max_attempts = 5`,
				`3:8 routing.seed is -1 but must not be negative`,
			}},
		{"routing retries and hedges", lines(`[routing]`, `retry_backoff = "0s"`, `max_retry_wait = 10`, `hedges_per_second = 0`) + okRest,
			nil, []string{
				`2:17 routing.retry_backoff is zero, which would mean the default (200ms); remove the key for the default, or write a positive duration such as "200ms"`,
				`3:18 routing.max_retry_wait must be a duration in quotes, with a unit; write max_retry_wait = "10s" for 10 seconds`,
				`4:21 routing.hedges_per_second is zero, which would mean the default (1); remove the key for the default, or write a positive rate such as 0.5 (only models with hedge = true, and requests that ask, are hedged at all)`,
			}},
		{"negative hedge rate", lines(`[routing]`, `hedges_per_second = -2`, `max_retry_wait = "0s"`) + okRest,
			nil, []string{
				`2:21 routing.hedges_per_second is -2 but must not be negative; write for example hedges_per_second = 1`,
				`3:18 routing.max_retry_wait is zero, which would mean the default (10s); remove the key for the default, or write a positive duration such as "10s"`,
			}},
		{"norms", lines(`[routing]`, `norm_factor = 1`, `norm_floor = "0s"`) + okRest,
			nil, []string{
				`2:15 routing.norm_factor is 1; an attempt is abandoned at this many times its endpoint's own p99, so it must be above 1, e.g. norm_factor = 3 (a large factor such as 100 leaves the timeouts in charge)`,
				`3:14 routing.norm_floor is zero, which would mean the default (3s); remove the key for the default, or write a positive duration such as "3s"`,
			}},
		{"norms of the wrong type", lines(`[routing]`, `norm_factor = "3"`, `norm_floor = 3`) + okRest,
			nil, []string{
				`2:15 routing.norm_factor must be a number, not a string; remove the quotes: norm_factor = 3`,
				`3:14 routing.norm_floor must be a duration in quotes, with a unit; write norm_floor = "3s" for 3 seconds`,
			}},
		{"answer bound zero", lines(`[routing]`, `max_answer_mib = 0`) + okRest,
			nil, []string{`2:18 routing.max_answer_mib is zero, which would mean the default (32); remove the key for the default, or write max_answer_mib = 32`}},
		{"answer bound too large", lines(`[routing]`, `max_answer_mib = 1000000000000`) + okRest,
			nil, []string{`2:18 routing.max_answer_mib is 1000000000000; an answer held in memory may be at most 4096 MiB: write for example max_answer_mib = 32`}},
		{"quoted hedge rate", lines(`[routing]`, `hedges_per_second = "0.5"`) + okRest,
			nil, []string{`2:21 routing.hedges_per_second must be a number, not a string; remove the quotes: hedges_per_second = 0.5`}},
		{"routing timeouts", lines(`[routing]`, `timeouts = { first_token = "0s", stall = "-1s", total = "0s", connect = "0s" }`) + okRest,
			nil, []string{
				`2:28 routing.timeouts.first_token is zero, which would mean the default (each provider's own first_token timeout); remove the key for the default, or write a positive duration such as "30s"`,
				`2:42 routing.timeouts.stall "-1s" is negative; write a duration of zero or more`,
				`2:57 routing.timeouts.total is zero, which would mean the default (5m); remove the key for the default, or write a positive duration such as "5m"`,
				`2:73 routing.timeouts.connect is zero, which would mean the default (each provider's own connect timeout); remove the key for the default, or write a positive duration such as "5s"`,
			}},
		{"routing timeouts in a header table", lines(`[routing.timeouts]`, `stall = "0s"`, `total = 300`) + okRest,
			nil, []string{
				`2:9 routing.timeouts.stall is zero, which would mean the default (each provider's own stall timeout)`,
				`3:9 routing.timeouts.total must be a duration in quotes, with a unit; write total = "300s" for 300 seconds`,
			}},
		{"routing timeouts not a table", lines(`[routing]`, `timeouts = "30s"`) + okRest,
			nil, []string{`2:12 routing.timeouts must be a table, not a string; write for example timeouts = { first_token = "30s", stall = "30s", total = "5m" }`}},
		{"hedge in [routing]", lines(`[routing]`, `hedge = true`) + okRest,
			nil, []string{`2:1 unknown key routing.hedge; hedging is set per model: write hedge = true in the model's [model.routing] table (hedges_per_second here caps all of them)`}},

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

		// The gateway.
		{"gateway listen not an address", lines(`[gateway]`, `listen = "8788"`) + okRest,
			nil, []string{`2:10 gateway.listen is "8788", not an address to listen on; write host:port, e.g. listen = "127.0.0.1:8788"`}},
		{"gateway port out of range", lines(`[gateway]`, `listen = "127.0.0.1:99999"`) + okRest,
			nil, []string{`2:10 gateway.listen is "127.0.0.1:99999", not an address`}},
		{"gateway keys unset", lines(`[gateway]`, `listen = ":8788"`, `api_key_env = "SB_KEYS"`) + okRest,
			nil, []string{`3:15 gateway.api_key_env names SB_KEYS, which is not set in the environment; export SB_KEYS=<key>[,<key>...]`}},
		{"gateway key in place of a name", lines(`[gateway]`, `api_key_env = "sk-123"`) + okRest,
			nil, []string{`2:15 gateway.api_key_env must be the NAME of an environment variable`}},
		{"gateway admin keys unset", lines(`[gateway]`, `admin_key_env = "SB_ADMIN"`) + okRest,
			nil, []string{`2:17 gateway.admin_key_env names SB_ADMIN, which is not set in the environment; export SB_ADMIN=<key>[,<key>...] before starting Switchboard, or remove admin_key_env to leave the admin API off`}},
		{"gateway admin key in place of a name", lines(`[gateway]`, `admin_key_env = "adm-123"`) + okRest,
			nil, []string{`2:17 gateway.admin_key_env must be the NAME of an environment variable, in capitals, such as "SWITCHBOARD_ADMIN_KEY"`}},
		// The cluster.
		{"cluster without redis_url", lines(`[cluster]`, `replica = "gw-1"`) + okRest,
			nil, []string{`1:1 [cluster] has no redis_url; write redis_url = "redis://127.0.0.1:6379", or remove [cluster] to run alone`}},
		{"cluster redis_url not redis", lines(`[cluster]`, `redis_url = "http://127.0.0.1:6379"`) + okRest,
			nil, []string{`2:13 cluster.redis_url is not a Redis address; write redis://host:port (or rediss://host:port for TLS)`}},
		{"cluster password in redis_url", lines(`[cluster]`, `redis_url = "redis://:hunter2@127.0.0.1:6379"`) + okRest,
			nil, []string{`2:13 cluster.redis_url holds a password, which never goes in this file; put it in an environment variable and name that with password_env`}},
		{"cluster password unset", lines(`[cluster]`, `redis_url = "redis://127.0.0.1:6379"`, `password_env = "SB_REDIS_PW"`) + okRest,
			nil, []string{`3:16 cluster.password_env names SB_REDIS_PW, which is not set in the environment; export SB_REDIS_PW=<password>`}},
		{"cluster password in place of a name", lines(`[cluster]`, `redis_url = "redis://127.0.0.1:6379"`, `password_env = "hunter2"`) + okRest,
			nil, []string{`3:16 cluster.password_env must be the NAME of an environment variable`}},
		{"cluster replica name", lines(`[cluster]`, `redis_url = "redis://127.0.0.1:6379"`, `replica = "gw 1"`) + okRest,
			nil, []string{`3:11 cluster.replica is "gw 1"; a replica's name is letters, digits and . _ : - (at most 64)`}},
		{"cluster tls_ca_file without TLS", lines(`[cluster]`, `redis_url = "redis://127.0.0.1:6379"`, `tls_ca_file = "errors_test.go"`) + okRest,
			nil, []string{`3:15 cluster.tls_ca_file is for TLS, which redis_url does not ask for; write rediss:// in redis_url, or remove tls_ca_file`}},
		{"cluster tls_ca_file missing", lines(`[cluster]`, `redis_url = "rediss://127.0.0.1:6379"`, `tls_ca_file = "no-such-ca.pem"`) + okRest,
			nil, []string{`3:15 cluster.tls_ca_file cannot be read: stat no-such-ca.pem: no such file or directory`}},
		{"cluster unknown key", lines(`[cluster]`, `redis_url = "redis://127.0.0.1:6379"`, `redis = "x"`) + okRest,
			nil, []string{`3:1 unknown key cluster.redis`}},
		{"gateway unknown key", lines(`[gateway]`, `port = 8788`) + okRest,
			nil, []string{`2:1 unknown key gateway.port`}},
		{"gateway max_connections zero", lines(`[gateway]`, `max_connections = 0`) + okRest,
			nil, []string{`2:19 gateway.max_connections is zero, which would refuse every client; remove the key for the default (from the open-file limit)`}},
		{"gateway max_connections negative", lines(`[gateway]`, `max_connections = -5`) + okRest,
			nil, []string{`2:19 gateway.max_connections is -5 but must not be negative`}},
		{"gateway max_connections a string", lines(`[gateway]`, `max_connections = "1000"`) + okRest,
			nil, []string{`2:19 gateway.max_connections must be a number, not a string; remove the quotes: max_connections = 1000`}},
		{"gateway max_connections too many", lines(`[gateway]`, `max_connections = 5000000`) + okRest,
			nil, []string{`2:19 gateway.max_connections is 5000000, more connections than one process can hold open; write at most 1048576`}},
		{"gateway metrics_public a string", lines(`[gateway]`, `metrics_public = "yes"`) + okRest,
			nil, []string{`2:18 gateway.metrics_public must be true or false`}},
		// Providers.
		{"unknown protocol", lines(`[[provider]]`, `name = "ok"`, `protocol = "grpc"`, `[provider.sim]`) + okModel,
			nil, []string{`3:12 provider.protocol "grpc" is not a supported protocol; write protocol = "openai" (chat completions) or "anthropic" (messages)`}},
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
			nil, []string{`3:9 provider.probe "ping" is not a probe kind; write probe = "chat" (a short completion) or probe = "models" (GET /models, free)`}},
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
		{"provider written in a model", okProvider + lines(`[[model]]`, `name = "m"`, `provider = "ok"`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`6:1 unknown key model.provider; an endpoint's provider goes in a [[model.endpoint]] table, and the model's default provider preferences (OpenRouter's provider object) in [model.routing]`}},

		// Endpoint capabilities.
		{"variant not a slug", okRest + lines(`variant = "Turbo FP8"`),
			nil, []string{`8:11 model.endpoint.variant "Turbo FP8" is not a slug; use lower-case letters, digits and dashes: variant = "turbo-fp8"`}},
		{"empty variant", okRest + lines(`variant = ""`),
			nil, []string{`8:11 model.endpoint.variant is empty; remove the key, or name the variant as in OpenRouter's "slug/variant", e.g. variant = "turbo"`}},
		{"quantization, close", okRest + lines(`quantization = "FP8"`),
			nil, []string{`8:16 model.endpoint.quantization "FP8" is not a quantization; did you mean "fp8"? use one of int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, unknown`}},
		{"quantization, far", okRest + lines(`quantization = "q4_k_m"`),
			nil, []string{`8:16 model.endpoint.quantization "q4_k_m" is not a quantization; use one of int4, int8`}},
		{"quantization not a string", okRest + lines(`quantization = 8`),
			nil, []string{`8:16 model.endpoint.quantization must be a string in double quotes, not an integer`}},
		{"zero context length", okRest + lines(`context_length = 0`),
			nil, []string{`8:18 model.endpoint.context_length is 0; write the most tokens (prompt plus completion) the endpoint takes, e.g. context_length = 131072, or remove the key if it is not known`}},
		{"negative context length", okRest + lines(`context_length = -8192`),
			nil, []string{`8:18 model.endpoint.context_length is -8192; write the most tokens`}},
		{"context length in words", okRest + lines(`context_length = "128k"`),
			nil, []string{`8:18 model.endpoint.context_length must be a whole number, not a string; write for example context_length = 131072`}},
		{"fractional context length", okRest + lines(`context_length = 8192.0`),
			nil, []string{`8:18 model.endpoint.context_length must be a whole number; write context_length = 8192`}},
		{"endpoint prices and data policies", okRest + lines(`price_request = -0.01`, `price_image = "0.001"`, `zdr = "yes"`, `distillable = 1`),
			nil, []string{
				`8:17 model.endpoint.price_request is -0.01 but must not be negative; write for example price_request = 0.005`,
				`9:15 model.endpoint.price_image must be a number, not a string; remove the quotes: price_image = 0.001`,
				`10:7 model.endpoint.zdr must be true or false, not a string; write zdr = true or zdr = false`,
				`11:15 model.endpoint.distillable must be true or false, not an integer; write distillable = true or distillable = false`,
			}},
		{"zero retention that stores data", okRest + lines(`stores_data = true`, `zdr = true`),
			nil, []string{`9:7 model.endpoint.zdr is true, and so is stores_data: an endpoint that keeps nothing of a request cannot store or train on its prompts; set one of them to false`}},
		{"two context lengths for one simulated model", okProvider + lines(
			`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "ok"`, `upstream_model = "u"`, `context_length = 8192`,
			`[[model]]`, `name = "m2"`, `[[model.endpoint]]`, `provider = "ok"`, `upstream_model = "u"`, `context_length = 4096`),
			nil, []string{`15:18 model.endpoint.context_length is 4096, but the endpoint at line 6 routes the same upstream model "u" of simulated provider "ok" with context_length = 8192, and the simulator has one limit per model; write the same context_length in both`}},
		{"bad parameters", okRest + lines(`supported_parameters = ["tools", "", "tools", 3]`),
			nil, []string{
				`8:34 model.endpoint.supported_parameters[1] is empty; write a parameter name such as "tools", or remove it`,
				`8:38 model.endpoint.supported_parameters[2] "tools" is listed twice (first at [0]); remove one`,
				`8:47 model.endpoint.supported_parameters[3] must be a string in double quotes, not an integer; write for example supported_parameters = ["temperature", "max_tokens", "tools"]`,
			}},
		{"parameters not an array", okRest + lines(`supported_parameters = "tools"`),
			nil, []string{`8:24 model.endpoint.supported_parameters must be an array of strings, not a string; put it in brackets: supported_parameters = ["tools"]`}},
		{"parameters a table", okRest + lines(`supported_parameters = { tools = true }`),
			nil, []string{`8:24 model.endpoint.supported_parameters must be an array of strings, not a table; write for example supported_parameters = ["temperature", "max_tokens", "tools"]`}},
		{"quoted boolean", okRest + lines(`stores_data = "true"`),
			nil, []string{`8:15 model.endpoint.stores_data must be true or false, not a string; remove the quotes: stores_data = true`}},
		{"number for a boolean", okRest + lines(`prefill = 1`),
			nil, []string{`8:11 model.endpoint.prefill must be true or false, not an integer; write prefill = true or prefill = false`}},
		{"misspelt capability", okRest + lines(`quantisation = "fp8"`, `supported_params = ["tools"]`),
			nil, []string{
				`8:1 unknown key model.endpoint.quantisation; did you mean quantization?`,
				`9:1 unknown key model.endpoint.supported_params; did you mean supported_parameters?`,
			}},

		// Model routing defaults: providers.
		{"routing providers", withRouting(`order = ["groqq", "cerebras", "together/turb", "groq/fp8", "", "groq", "groq", 5, "openai"]`),
			nil, []string{
				`13:10 model.routing.order[0] "groqq" is not a provider of model "llama"; did you mean "groq"?`,
				`13:19 model.routing.order[1] "cerebras": provider "cerebras" does not serve model "llama"; name one that does ("groq" or "together"), or add a [[model.endpoint]] with provider = "cerebras" to it`,
				`13:31 model.routing.order[2] "together/turb" names no endpoint: together serves model "llama" as variant "turbo"; write "together/turbo", or "together"`,
				`13:48 model.routing.order[3] "groq/fp8" names no endpoint: groq serves model "llama" without a variant; write "groq", or add variant = "fp8" to its [[model.endpoint]]`,
				`13:60 model.routing.order[4] is empty; write a provider such as "groq" or "together/turbo", or remove it`,
				`13:72 model.routing.order[6] "groq" is listed twice (first at [5]); remove one`,
				`13:80 model.routing.order[7] must be a string in double quotes, not an integer; write for example order = ["groq", "together/turbo"]`,
				`13:83 model.routing.order[8] "openai" is not a provider of model "llama"; its providers are "groq" and "together"`,
			}},
		{"variant suggested with the provider", withRouting(`only = ["togther/turbo"]`),
			nil, []string{`13:9 model.routing.only[0] "togther/turbo" is not a provider of model "llama"; did you mean "together/turbo"?`}},
		{"routing providers not an array", withRouting(`ignore = "groq"`),
			nil, []string{`13:10 model.routing.ignore must be an array of strings, not a string; put it in brackets: ignore = ["groq"]`}},
		{"ignored and allowed", withRouting(`order = ["groq"]`, `only = ["together", "groq"]`, `ignore = ["together", "groq", "together/turbo"]`),
			nil, []string{
				`15:11 model.routing.ignore[0] "together" is also in only; an ignored provider is never tried, so remove it from one of the two`,
				`15:23 model.routing.ignore[1] "groq" is also in only`,
			}},
		{"ignored and ordered", withRouting(`order = ["groq"]`, `ignore = ["groq"]`),
			nil, []string{`14:11 model.routing.ignore[0] "groq" is also in order; an ignored provider is never tried`}},

		// Model routing defaults: values.
		{"routing scalars", withRouting(`sort = "fastest"`, `data_collection = "denied"`, `allow_fallbacks = "false"`, `require_parameters = 1`),
			nil, []string{
				`13:8 model.routing.sort "fastest" is not a sort; write sort = "price", "throughput" or "latency"`,
				`14:19 model.routing.data_collection "denied" is not a data policy; write data_collection = "allow" or "deny"`,
				`15:19 model.routing.allow_fallbacks must be true or false, not a string; remove the quotes: allow_fallbacks = false`,
				`16:22 model.routing.require_parameters must be true or false, not an integer; write require_parameters = true or require_parameters = false`,
			}},
		{"sort, close", withRouting(`sort = "Latency"`),
			nil, []string{`13:8 model.routing.sort "Latency" is not a sort; did you mean "latency"? write sort = "price", "throughput" or "latency"`}},
		{"sort table", withRouting(`sort = { by = "throughputs", partition = "all", order = "asc" }`),
			nil, []string{
				`13:15 model.routing.sort.by "throughputs" is not a sort; did you mean "throughput"? write by = "price", "throughput" or "latency"`,
				`13:42 model.routing.sort.partition "all" is not a partition; write partition = "model" or "none"`,
				`13:49 unknown key model.routing.sort.order; the keys allowed here are by, partition`,
			}},
		{"sort table without by", withRouting(`sort = { partition = "none" }`),
			nil, []string{`13:8 model.routing.sort needs by, what to sort on; write sort = { by = "throughput", partition = "none" }`}},
		{"sort of another type", withRouting(`sort = ["price"]`),
			nil, []string{`13:8 model.routing.sort must be a string or a table, not an array; write sort = "latency" or sort = { by = "latency", partition = "none" }`}},
		{"max_price", withRouting(`max_price = { prompt = -1, image = -2, completion = "2", request = true, images = 1 }`),
			nil, []string{
				`13:24 model.routing.max_price.prompt is -1 but must not be negative; write for example prompt = 1`,
				`13:36 model.routing.max_price.image is -2 but must not be negative; write for example image = 0.005`,
				`13:53 model.routing.max_price.completion must be a number, not a string; remove the quotes: completion = 2`,
				`13:68 model.routing.max_price.request must be a number, not true or false; write for example request = 0.01`,
				`13:74 unknown key model.routing.max_price.images; did you mean image?`,
			}},
		{"max_price quoted, as OpenRouter's schema allows", withRouting(`max_price = { request = "0.01", image = "0.005" }`),
			nil, []string{
				`13:25 model.routing.max_price.request must be a number, not a string; remove the quotes: request = 0.01`,
				`13:41 model.routing.max_price.image must be a number, not a string; remove the quotes: image = 0.005`,
			}},
		{"data policies", withRouting(`zdr = "true"`, `enforce_distillable_text = 1`, `enforce_distilable_text = true`),
			nil, []string{
				`13:7 model.routing.zdr must be true or false, not a string; remove the quotes: zdr = true`,
				`14:28 model.routing.enforce_distillable_text must be true or false, not an integer; write enforce_distillable_text = true or enforce_distillable_text = false`,
				`15:1 unknown key model.routing.enforce_distilable_text; did you mean enforce_distillable_text?`,
			}},
		{"max_price a number", withRouting(`max_price = 3`),
			nil, []string{`13:13 model.routing.max_price must be a table, not an integer; write for example max_price = { prompt = 1, completion = 2 }`}},
		{"cutoff numbers", withRouting(`preferred_max_latency = "1.5s"`, `preferred_min_throughput = -5`),
			nil, []string{
				`13:25 model.routing.preferred_max_latency must be a number of seconds, not a duration; write preferred_max_latency = 1.5`,
				`14:28 model.routing.preferred_min_throughput is -5; a cutoff is in tokens per second and must be above zero: write for example preferred_min_throughput = 50, or remove it`,
			}},
		{"cutoff tables", withRouting(`preferred_max_latency = { p50 = "500ms", p90 = 0 }`, `preferred_min_throughput = { p50 = "50", p95 = 3 }`),
			nil, []string{
				`13:33 model.routing.preferred_max_latency.p50 must be a number of seconds, not a duration; write p50 = 0.5`,
				`13:48 model.routing.preferred_max_latency.p90 is 0; a cutoff is in seconds to the first token and must be above zero: write for example p90 = 1.5, or remove it`,
				`14:36 model.routing.preferred_min_throughput.p50 must be a number, not a string; remove the quotes: p50 = 50`,
				`14:42 unknown key model.routing.preferred_min_throughput.p95; the percentiles are p50, p75, p90 and p99, as OpenRouter reports them; write p90 or p99`,
			}},
		{"empty cutoff table", withRouting(`preferred_min_throughput = {}`),
			nil, []string{`13:28 model.routing.preferred_min_throughput sets no cutoff; write preferred_min_throughput = 50 (p50) or preferred_min_throughput = { p50 = 50, p90 = 20 }, or remove it`}},
		{"cutoff of another type", withRouting(`preferred_max_latency = true`),
			nil, []string{`13:25 model.routing.preferred_max_latency must be a number or a table of percentiles, not true or false; write preferred_max_latency = 1.5 or preferred_max_latency = { p50 = 1, p99 = 4 }`}},
		{"routing quantizations", withRouting(`quantizations = ["FP8", "fp8", "fp8", "q4_k_m"]`),
			nil, []string{
				`13:18 model.routing.quantizations[0] "FP8" is not a quantization; did you mean "fp8"? use one of int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, unknown`,
				`13:32 model.routing.quantizations[2] "fp8" is listed twice (first at [1]); remove one`,
				`13:39 model.routing.quantizations[3] "q4_k_m" is not a quantization; use one of`,
			}},
		{"fallback models", withRouting(`fallback_models = ["llama", "claud", "gpt-4", 5]`),
			nil, []string{
				`13:20 model.routing.fallback_models[0] "llama" is this model itself; name other [[model]]s, tried in order when this one fails`,
				`13:29 model.routing.fallback_models[1] "claud" is not a declared model; did you mean "claude"?`,
				`13:38 model.routing.fallback_models[2] "gpt-4" is not a declared model; the other declared models are "claude"`,
				`13:47 model.routing.fallback_models[3] must be a string in double quotes, not an integer`,
			}},
		{"fallback model when there is no other", okProvider + lines(`[[model]]`, `name = "m"`, `routing = { fallback_models = ["m2"] }`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`6:32 model.routing.fallback_models[0] "m2" is not a declared model; declare it with a [[model]] table of its own`}},
		{"OpenRouter's spellings", withRouting(`models = ["claude"]`, `provider = { order = ["groq"] }`),
			nil, []string{
				`13:1 unknown key model.routing.models; fallback models go in fallback_models, e.g. fallback_models = ["anthropic/claude-sonnet-4"]`,
				`14:1 unknown key model.routing.provider; write the keys of OpenRouter's provider object directly in [model.routing], e.g. order = ["groq"]`,
			}},
		{"model timeouts", withRouting(`timeouts = { first_token = "0s", total = "0s", stal = "1s" }`),
			nil, []string{
				`13:28 model.routing.timeouts.first_token is zero, which would mean the default ([routing] timeouts.first_token, else each provider's own); remove the key for the default, or write a positive duration such as "30s"`,
				`13:42 model.routing.timeouts.total is zero, which would mean the default ([routing] timeouts.total, else 5m); remove the key for the default, or write a positive duration such as "5m"`,
				`13:48 unknown key model.routing.timeouts.stal; did you mean stall?`,
			}},
		{"model timeouts of the wrong type", withRouting(`timeouts = ["30s"]`),
			nil, []string{`13:12 model.routing.timeouts must be a table, not an array; write for example timeouts = { first_token = "30s", stall = "30s", total = "5m" }`}},
		{"hedge after zero", withRouting(`hedge = { after = "0s" }`),
			nil, []string{`13:19 model.routing.hedge.after is zero; for the endpoint's own p95 time to first token write hedge = true, or write a positive duration such as after = "1.5s"`}},
		{"hedge after zero in a header table", withRouting(`[model.routing.hedge]`, `after = "0s"`),
			nil, []string{`14:9 model.routing.hedge.after is zero; for the endpoint's own p95 time to first token write hedge = true`}},
		{"hedge after not a duration", withRouting(`hedge = { after = 1.5 }`),
			nil, []string{`13:19 model.routing.hedge.after must be a duration string, not a number; write a Go duration such as "4m" or "250ms"`}},
		{"hedge after in words", withRouting(`hedge = { after = "a second" }`),
			nil, []string{`13:19 model.routing.hedge.after "a second" is not a duration; write a Go duration such as "4m" or "250ms"`}},
		{"hedge table without after", withRouting(`hedge = {}`),
			nil, []string{`13:9 model.routing.hedge needs after, how long the first endpoint has to stream its first token before the next one races it; write hedge = { after = "1.5s" }, or hedge = true for the endpoint's own p95`}},
		{"hedge table with enabled", withRouting(`hedge = { enabled = true }`),
			nil, []string{
				`13:9 model.routing.hedge needs after`,
				`13:11 unknown key model.routing.hedge.enabled; a hedge table is enabled: write hedge = { after = "1.5s" }, or hedge = false to turn hedging off`,
			}},
		{"quoted hedge", withRouting(`hedge = "true"`),
			nil, []string{`13:9 model.routing.hedge must be true or false, not a string; remove the quotes: hedge = true`}},
		{"hedge as a duration", withRouting(`hedge = "1.5s"`),
			nil, []string{`13:9 model.routing.hedge must be true, false or a table, not a string; for a fixed delay write hedge = { after = "1.5s" }`}},
		{"hedge of another type", withRouting(`hedge = 2`),
			nil, []string{`13:9 model.routing.hedge must be true, false or a table, not an integer; write hedge = true, or hedge = { after = "1.5s" } for a fixed delay`}},
		{"hedge after the first-token timeout", withRouting(`timeouts = { first_token = "2s" }`, `hedge = { after = "2s" }`),
			nil, []string{`14:19 model.routing.hedge.after (2s) is not shorter than timeouts.first_token (2s), so the first attempt times out before the hedge would start; make after shorter, or write hedge = true for the endpoint's own p95`}},
		{"misspelt routing key", withRouting(`allow_fallback = false`),
			nil, []string{`13:1 unknown key model.routing.allow_fallback; did you mean allow_fallbacks?`}},
		{"routing not a table", okProvider + lines(`[[model]]`, `name = "m"`, `routing = "latency"`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`6:11 model.routing must be a table, not a string; write for example a [model.routing] table, e.g. routing = { sort = "latency" }`}},
		{"routing written in an endpoint", okRest + lines(`routing = { sort = "latency" }`),
			nil, []string{`8:1 unknown key model.endpoint.routing; routing defaults belong to the model: write a [model.routing] table, or routing = { ... } before the model's first [[model.endpoint]]`}},

		// Model routing defaults that leave no endpoint.
		{"no endpoint of the quantizations", withRouting(`quantizations = ["bf16"]`),
			nil, []string{`12:1 model.routing excludes every endpoint of model "llama": groq (quantization unknown not in provider.quantizations), together (quantization fp8 not in provider.quantizations); relax one of these, or every request for it fails with 503 unless it overrides them`}},
		{"no endpoint by only and order", withRouting(`order = ["groq"]`, `allow_fallbacks = false`, `only = ["together/turbo"]`),
			nil, []string{`12:1 model.routing excludes every endpoint of model "llama": groq (not in provider.only), together (not in provider.order, and allow_fallbacks is false)`}},
		{"no endpoint by price or ignore", okProvider + lines(`[[model]]`, `name = "m"`, `routing = { ignore = ["ok"] }`, `[[model.endpoint]]`, `provider = "ok"`,
			`[[model]]`, `name = "m2"`, `routing.max_price = { completion = 1 }`, `routing.data_collection = "deny"`,
			`[[model.endpoint]]`, `provider = "ok"`, `price_out = 1.5`, `stores_data = true`),
			nil, []string{
				`6:11 model.routing excludes every endpoint of model "m": ok (in provider.ignore);`,
				`11:1 model.routing excludes every endpoint of model "m2": ok (may store or train on prompts (data_collection: deny));`,
			}},
		{"no endpoint by data policy or price", okProvider + lines(
			`[[model]]`, `name = "m"`, `routing = { zdr = true }`, `[[model.endpoint]]`, `provider = "ok"`,
			`[[model]]`, `name = "m2"`, `routing = { enforce_distillable_text = true, max_price = { request = 0.01 } }`,
			`[[model.endpoint]]`, `provider = "ok"`, `distillable = true`, `price_request = 0.02`,
			`[[model]]`, `name = "m3"`, `routing.max_price = { image = 0.001 }`, `[[model.endpoint]]`, `provider = "ok"`, `price_image = 0.002`,
			`[[model]]`, `name = "m4"`, `routing = { enforce_distillable_text = true }`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{
				`6:11 model.routing excludes every endpoint of model "m": ok (keeps request data (zdr asks for zero data retention));`,
				`11:11 model.routing excludes every endpoint of model "m2": ok (price per request over max_price.request ($0.02));`,
				`18:1 model.routing excludes every endpoint of model "m3": ok (price per image over max_price.image ($0.002));`,
				`24:11 model.routing excludes every endpoint of model "m4": ok (its output may not be used for distillation (enforce_distillable_text));`,
			}},

		// Display names.
		{"display names", lines(
			`[[provider]]`, `name = "groq"`, `display = "Groq"`, `[provider.sim]`, // its own name, in capitals: fine
			`[[provider]]`, `name = "together"`, `display = "GROQ"`, `[provider.sim]`,
			`[[provider]]`, `name = "deepinfra"`, `display = "Deep Infra"`, `[provider.sim]`,
			`[[provider]]`, `name = "novita"`, `display = "deep infra"`, `[provider.sim]`,
			`[[provider]]`, `name = "a"`, `display = ""`, `[provider.sim]`,
			`[[provider]]`, `name = "b"`, `display = " B  C "`, `[provider.sim]`,
			`[[provider]]`, `name = "c"`, `display = "Meta/Llama"`, `[provider.sim]`,
			`[[provider]]`, `name = "d"`, `display = 4`, `[provider.sim]`,
			`[[model]]`, `name = "m"`,
			`[[model.endpoint]]`, `provider = "groq"`, `[[model.endpoint]]`, `provider = "together"`,
			`[[model.endpoint]]`, `provider = "deepinfra"`, `[[model.endpoint]]`, `provider = "novita"`,
			`[[model.endpoint]]`, `provider = "a"`, `[[model.endpoint]]`, `provider = "b"`,
			`[[model.endpoint]]`, `provider = "c"`, `[[model.endpoint]]`, `provider = "d"`),
			nil, []string{
				`7:11 provider.display "GROQ" is the name of provider "groq" (line 1), compared without regard to case; a request naming it would mean either provider: write another display name`,
				`15:11 provider.display "deep infra" is already the display name of provider "deepinfra" (line 9), compared without regard to case; give each provider its own`,
				`19:11 provider.display is empty; remove the key to show the provider's name, or write the name as OpenRouter writes it, e.g. display = "DeepInfra"`,
				`23:11 provider.display " B  C " has spaces at an end, or control characters; write display = "B C"`,
				`27:11 provider.display "Meta/Llama" contains "/", which order, only and ignore read as "slug/variant"; write the name without it`,
				`31:11 provider.display must be a string in double quotes, not an integer; write display = "..."`,
			}},

		// Aliases.
		{"aliases", okProvider + lines(
			`[[model]]`, `name = "m"`, `aliases = ["a", "m2", "a", "m", "x y", "b:nitro", "", 3]`, `[[model.endpoint]]`, `provider = "ok"`,
			`[[model]]`, `name = "m2"`, `aliases = ["c", "a"]`, `[[model.endpoint]]`, `provider = "ok"`,
			`[[model]]`, `name = "m3"`, `aliases = "d"`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{
				`6:17 model.aliases[1] "m2" is the name of the model at line 9; an alias must name no other model`,
				`6:23 model.aliases[2] "a" is listed twice (first at [0]); remove one`,
				`6:28 model.aliases[3] "m" is the model's own name; remove it`,
				`6:33 model.aliases[4] "x y" is not a model id; write an id without spaces, e.g. "claude-sonnet-4-20250514"`,
				`6:40 model.aliases[5] "b:nitro" ends in a routing suffix (:nitro, :floor), which requests add to any name; write it without`,
				`6:51 model.aliases[6] is empty; write a model id such as "claude-sonnet-4-20250514", or remove it`,
				`6:55 model.aliases[7] must be a string in double quotes, not an integer; write for example aliases = ["claude-sonnet-4-20250514"]`,
				`11:17 model.aliases[1] "a" is already an alias of model "m" (line 4); give each alias to one model`,
				`16:11 model.aliases must be an array of strings, not a string; put it in brackets: aliases = ["d"]`,
			}},

		// The model the dashboard opens on.
		{"default model misspelt", lines(`default_model = "claud"`) + okProvider + lines(
			`[[model]]`, `name = "claude"`, `aliases = ["sonnet"]`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`1:17 default_model "claud" is not a model this file serves; did you mean "claude"?`}},
		{"default model unknown", lines(`default_model = "gpt-5"`) + okProvider + lines(
			`[[model]]`, `name = "claude"`, `aliases = ["sonnet"]`, `[[model.endpoint]]`, `provider = "ok"`),
			nil, []string{`1:17 default_model "gpt-5" is not a model this file serves; the models are "claude" and "sonnet"`}},
		{"default model not a string", lines(`default_model = 3`) + okRest,
			nil, []string{`1:17 default_model must be a string in double quotes, not an integer`}},

		// What an endpoint takes and gives.
		{"input modalities and anthropic logprobs", lines(`[[provider]]`, `name = "claude"`, `protocol = "anthropic"`, `[provider.sim]`,
			`[[model]]`, `name = "m"`, `[[model.endpoint]]`, `provider = "claude"`,
			`input_modalities = ["text", "audio", "image", "image"]`, `supported_parameters = ["tools", "logprobs"]`),
			nil, []string{
				`9:29 model.endpoint.input_modalities[1] is "audio"; Switchboard carries the input modalities "text" and "image"`,
				`9:47 model.endpoint.input_modalities[3] "image" is listed twice (first at [2]); remove one`,
				`10:34 model.endpoint.supported_parameters[1] is "logprobs", which provider "claude" cannot give: Anthropic's protocol has no log probabilities; remove it`,
			}},
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
		`protocol = "grpc"`,
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
		`6:12 "grpc" is not a supported protocol`,
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

// A problem quotes what the file says, and the file may say a lot: a long
// value or key name is shortened in the middle, so that the message keeps
// what is wrong and what to write instead, and stays a line, not a page.
func TestLongQuotesAreClipped(t *testing.T) {
	long := strings.Repeat("x", 4000)
	tests := map[string]struct {
		doc        string
		start, end string
	}{
		"a value": {lines(`[[provider]]`, `name = "ok"`, `protocol = "`+long+`"`, `[provider.sim]`) + okModel,
			`test.toml:3:12: provider.protocol "xxx`, `"openai"`},
		"a key": {lines(`[[provider]]`, `name = "ok"`, long+` = 1`, `[provider.sim]`) + okModel,
			`test.toml:3:1: unknown key provider.xxx`, `timeouts`},
		"TOML syntax": {"x = " + long + "\n",
			`test.toml:1:5: TOML syntax: expected value but found "xxx`, `name = "groq"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			es := parseErrors(t, tt.doc, nil)
			msg := es[0].Error()
			if len(msg) > 700 || !strings.HasPrefix(msg, tt.start) || !strings.Contains(msg, "bytes left out") ||
				!strings.Contains(msg[len(msg)-200:], tt.end) {
				t.Errorf("%d bytes: %s", len(msg), msg)
			}
		})
	}
	// Multi-byte characters are not cut in half.
	es := parseErrors(t, lines(`[[provider]]`, `name = "ok"`, `protocol = "`+strings.Repeat("é", 2000)+`"`, `[provider.sim]`)+okModel, nil)
	if msg := es[0].Msg; !utf8.ValidString(msg) || len(msg) > 700 {
		t.Errorf("%d bytes, valid UTF-8 %t: %s", len(msg), utf8.ValidString(msg), msg)
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

// A problem that routing's own Preferences.Check finds, should it find one
// the checks here do not, is reported at the key it names, or at the nearest
// one written.
func TestCheckErrorPosition(t *testing.T) {
	doc := withRouting(`sort = { by = "price" }`, `max_price = { prompt = 1 }`)
	var raw map[string]any
	if _, err := toml.Decode(doc, &raw); err != nil {
		t.Fatal(err)
	}
	model := raw["model"].([]map[string]any)[0]
	for _, tt := range []struct{ err, want string }{
		{`provider.sort.by: "x" is not a sort; use "price"`, `13:15 model.routing.sort.by "x" is not a sort; use "price"`},
		{`provider.sort.partition: "x" is not a partition`, `13:8 model.routing.sort.partition "x" is not a partition`},
		{`provider.max_price.request: -1 is negative`, `14:13 model.routing.max_price.request -1 is negative`},
		{`provider.only: too many`, `12:1 model.routing.only too many`},
		{`no field named: at all`, `12:1 model.routing: no field named: at all`},
	} {
		d := &decoder{loc: locate("test.toml", doc)}
		rt := &table{d: d, path: path("").key("model").index(0).key("routing"), name: "model.routing",
			m: model["routing"].(map[string]any)}
		checkError(rt, errors.New(tt.err))
		checkErrors(t, d.errs, []string{tt.want})
	}
}
