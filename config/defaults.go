package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"switchboard/human"
	"switchboard/routing"
)

// A [model.routing] table holds the model's routing defaults: OpenRouter's
// "provider" object, key for key, plus fallback_models for its "models".
// Everything it names is checked here, where all providers and models are
// known: providers must serve the model, variants must be theirs, fallback
// models must be declared.

// routingHints explain keys of an OpenRouter request that [model.routing]
// spells differently.
var routingHints = map[string]string{
	"models":   `fallback models go in fallback_models, e.g. fallback_models = ["anthropic/claude-sonnet-4"]`,
	"provider": "write the keys of OpenRouter's provider object directly in [model.routing], e.g. order = [\"groq\"]",
}

var (
	sortKeys   = []string{routing.SortPrice, routing.SortThroughput, routing.SortLatency}
	partitions = []string{"model", "none"}
	policies   = []string{"allow", "deny"}
)

// readDefaults reads the [model.routing] table t of model m.
func readDefaults(t *table, m Model, models []Model, provAt map[string]*table, display map[string]string) routing.ModelDefaults {
	before := len(t.d.errs)
	var p routing.Preferences
	label := "this model"
	if m.Name != "" {
		label = fmt.Sprintf("model %q", m.Name)
	}

	const provExample = `["groq", "together/turbo"]`
	providers := func(key string) (out []string, at []int) {
		t.names(key, provExample, `a provider such as "groq" or "together/turbo"`, func(i int, s string) {
			if msg := providerProblem(s, m, label, provAt); msg != "" {
				t.d.errorf(t.elemPos(key, i), "%s[%d] %s", t.childName(key), i, msg)
				return
			}
			out, at = append(out, s), append(at, i)
		})
		return out, at
	}
	p.Order, _ = providers("order")
	if b, ok := t.boolean("allow_fallbacks"); ok {
		p.AllowFallbacks = &b
	}
	p.RequireParameters, _ = t.boolean("require_parameters")
	if s, ok := t.str("data_collection"); ok && oneOf(t, "data_collection", s, "a data policy", policies) {
		p.DataCollection = s
	}
	p.Only, _ = providers("only")
	ignore, ignoreAt := providers("ignore")
	// Only plain contradictions: the same entry allowed and ignored.
	for j, s := range ignore {
		switch {
		case slices.Contains(p.Only, s):
			t.d.errorf(t.elemPos("ignore", ignoreAt[j]), "%s[%d] %q is also in only; an ignored provider is never tried, so remove it from one of the two",
				t.childName("ignore"), ignoreAt[j], s)
		case slices.Contains(p.Order, s):
			t.d.errorf(t.elemPos("ignore", ignoreAt[j]), "%s[%d] %q is also in order; an ignored provider is never tried, so remove it from one of the two",
				t.childName("ignore"), ignoreAt[j], s)
		default:
			p.Ignore = append(p.Ignore, s)
		}
	}
	t.names("quantizations", `["fp8", "bf16"]`, `a quantization such as "fp8"`, func(i int, s string) {
		if msg := badQuantization(s); msg != "" {
			t.d.errorf(t.elemPos("quantizations", i), "%s[%d] %s", t.childName("quantizations"), i, msg)
			return
		}
		p.Quantizations = append(p.Quantizations, s)
	})
	p.Sort = readSort(t)
	if b, ok := t.boolean("zdr"); ok {
		p.ZDR = &b
	}
	if b, ok := t.boolean("enforce_distillable_text"); ok {
		p.EnforceDistillableText = &b
	}
	if mt, ok := t.sub("max_price", `max_price = { prompt = 1, completion = 2 }`); ok {
		price := func(key, example string) *float64 {
			if f, ok := mt.nonNegative(key, example); ok {
				return &f
			}
			return nil
		}
		p.MaxPrice = routing.MaxPrice{
			Prompt:     price("prompt", "1"),
			Completion: price("completion", "2"),
			Request:    price("request", "0.01"),
			Image:      price("image", "0.005"),
		}
		mt.finish()
	}
	p.PreferredMinThroughput = readCutoffs(t, "preferred_min_throughput", "tokens per second", "50", "{ p50 = 50, p90 = 20 }")
	p.PreferredMaxLatency = readCutoffs(t, "preferred_max_latency", "seconds to the first token", "1.5", "{ p50 = 1, p99 = 4 }")

	var fallbacks, others []string
	for _, o := range models {
		if o.Name != "" && o.Name != m.Name {
			others = append(others, o.Name)
		}
	}
	t.names("fallback_models", `["anthropic/claude-sonnet-4"]`, `the name of another [[model]]`, func(i int, s string) {
		var msg string
		switch {
		case s == m.Name:
			msg = fmt.Sprintf("%q is this model itself; name other [[model]]s, tried in order when this one fails", s)
		case !slices.Contains(others, s):
			hint := fmt.Sprintf("the other declared models are %s", quoteList(others))
			if sg := suggest(s, others); sg != "" {
				hint = fmt.Sprintf("did you mean %q?", sg)
			} else if len(others) == 0 {
				hint = "declare it with a [[model]] table of its own"
			}
			msg = fmt.Sprintf("%q is not a declared model; %s", s, hint)
		default:
			fallbacks = append(fallbacks, s)
			return
		}
		t.d.errorf(t.elemPos("fallback_models", i), "%s[%d] %s", t.childName("fallback_models"), i, msg)
	})
	timeouts := readTimeouts(t, func(key string) string {
		if key == "total" {
			return fmt.Sprintf("[routing] timeouts.total, else %s", human.Duration(defTotalTimeout))
		}
		return fmt.Sprintf("[routing] timeouts.%s, else each provider's own", key)
	})
	hedge := readHedge(t)
	if hedge != nil && hedge.After > 0 && timeouts.FirstToken > 0 && hedge.After >= timeouts.FirstToken {
		t.d.errorf(t.d.loc.valPos(t.path.key("hedge").key("after")),
			"%s.hedge.after (%s) is not shorter than timeouts.first_token (%s), so the first attempt times out before the hedge would start; make after shorter, or write hedge = true for the endpoint's own p95",
			t.name, human.Duration(hedge.After), human.Duration(timeouts.FirstToken))
	}
	t.finish()

	// What routing itself refuses, should it refuse more than the checks
	// above; they leave out every value they report, so this adds nothing
	// when they did.
	if err := p.Check(); err != nil {
		checkError(t, err)
	}
	if len(t.d.errs) == before {
		if why := excludedAll(&p, m, display); why != "" {
			t.d.errorf(t.pos(), "%s excludes every endpoint of %s: %s; relax one of these, or every request for it fails with 503 unless it overrides them",
				t.name, label, why)
		}
	}
	return routing.ModelDefaults{Provider: p, Models: fallbacks, Timeouts: timeouts, Hedge: hedge}
}

// readHedge reads hedge = true (race the next endpoint once the first has
// gone its own p95 time to first token without one), hedge = { after =
// "1.5s" } (after a fixed delay) or hedge = false. It returns nil when hedge
// is left out or wrong.
func readHedge(t *table) *routing.Hedge {
	const example = `hedge = true, or hedge = { after = "1.5s" } for a fixed delay`
	v, ok := t.get("hedge")
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case bool:
		return &routing.Hedge{Enabled: v}
	case map[string]any:
		ht, _ := t.sub("hedge", example)
		ht.hints = map[string]string{
			"enabled": `a hedge table is enabled: write hedge = { after = "1.5s" }, or hedge = false to turn hedging off`,
		}
		var h *routing.Hedge
		if !ht.has("after") {
			t.d.errorf(ht.pos(), `%s needs after, how long the first endpoint has to stream its first token before the next one races it; write hedge = { after = "1.5s" }, or hedge = true for the endpoint's own p95`, ht.name)
		} else if after, ok := ht.duration("after"); ok {
			if after == 0 {
				ht.bad("after", `is zero; for the endpoint's own p95 time to first token write hedge = true, or write a positive duration such as after = "1.5s"`)
			} else {
				h = &routing.Hedge{Enabled: true, After: after}
			}
		}
		ht.finish()
		return h
	case string:
		w := strings.TrimSpace(v)
		if lw := strings.ToLower(w); lw == "true" || lw == "false" {
			t.bad("hedge", "must be true or false, not a string; remove the quotes: hedge = %s", lw)
			return nil
		}
		if d, err := time.ParseDuration(w); err == nil && d > 0 {
			t.bad("hedge", "must be true, false or a table, not a string; for a fixed delay write hedge = { after = %q }", w)
			return nil
		}
	}
	t.bad("hedge", "must be true, false or a table, not %s; write %s", typeName(v), example)
	return nil
}

// providerProblem says what is wrong with entry, written in order, only or
// ignore as "slug" or "slug/variant", or returns "" if it names an endpoint
// of model m.
func providerProblem(entry string, m Model, label string, provAt map[string]*table) string {
	slug, variant, hasVariant := strings.Cut(entry, "/")
	var serving []string
	var ep *Endpoint
	for i, e := range m.Endpoints {
		if e.Provider == "" {
			continue
		}
		serving = append(serving, e.Provider)
		if e.Provider == slug {
			ep = &m.Endpoints[i]
		}
	}
	switch {
	case ep == nil && provAt[slug] != nil:
		return fmt.Sprintf("%q: provider %q does not serve %s; name one that does (%s), or add a [[model.endpoint]] with provider = %q to it",
			entry, slug, label, orList(serving), slug)
	case ep == nil:
		hint := fmt.Sprintf("its providers are %s", quoteList(serving))
		if s := suggest(slug, serving); s != "" {
			if hasVariant {
				s += "/" + variant
			}
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		return fmt.Sprintf("%q is not a provider of %s; %s", entry, label, hint)
	case !hasVariant || variant == ep.Variant:
		return ""
	case ep.Variant == "":
		return fmt.Sprintf("%q names no endpoint: %s serves %s without a variant; write %q, or add variant = %q to its [[model.endpoint]]",
			entry, slug, label, slug, variant)
	}
	return fmt.Sprintf("%q names no endpoint: %s serves %s as variant %q; write %q, or %q",
		entry, slug, label, ep.Variant, slug+"/"+ep.Variant, slug)
}

// oneOf reports s, the value of key, unless it is one of allowed.
func oneOf(t *table, key, s, what string, allowed []string) bool {
	if slices.Contains(allowed, s) {
		return true
	}
	hint := ""
	if sg := suggest(strings.ToLower(s), allowed); sg != "" {
		hint = fmt.Sprintf("did you mean %q? ", sg)
	}
	t.bad(key, "%q is not %s; %swrite %s = %s", s, what, hint, key, orList(allowed))
	return false
}

// readSort reads sort = "latency" or sort = { by = "latency", partition = "none" }.
func readSort(t *table) routing.Sort {
	const example = `sort = "latency" or sort = { by = "latency", partition = "none" }`
	var s routing.Sort
	v, ok := t.get("sort")
	if !ok {
		return s
	}
	switch v.(type) {
	case string:
		if by, _ := t.str("sort"); oneOf(t, "sort", by, "a sort", sortKeys) {
			s.By = by
		}
	case map[string]any:
		st, _ := t.sub("sort", example)
		if !st.has("by") {
			t.d.errorf(st.pos(), `%s needs by, what to sort on; write sort = { by = "throughput", partition = "none" }`, st.name)
		} else if by, ok := st.str("by"); ok && oneOf(st, "by", by, "a sort", sortKeys) {
			s.By = by
		}
		if part, ok := st.str("partition"); ok && oneOf(st, "partition", part, "a partition", partitions) {
			s.Partition = part
		}
		st.finish()
	default:
		t.bad("sort", "must be a string or a table, not %s; write %s", typeName(v), example)
	}
	return s
}

// readCutoffs reads a number (the p50 cutoff) or a table of percentiles.
func readCutoffs(t *table, key, unit, number, tableEx string) routing.Cutoffs {
	var c routing.Cutoffs
	seconds := strings.HasPrefix(unit, "seconds")
	v, ok := t.get(key)
	if !ok {
		return c
	}
	one := func(t *table, k, example string) *float64 {
		v, _ := t.get(k)
		if s, isStr := v.(string); isStr && seconds && strings.ContainsAny(s, "hmsµun") {
			if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
				t.bad(k, "must be a number of seconds, not a duration; write %s = %v", k, d.Seconds())
				return nil
			}
		}
		f, ok := t.float(k, example)
		switch {
		case !ok:
			return nil
		case f <= 0:
			t.bad(k, "is %v; a cutoff is in %s and must be above zero: write for example %s = %s, or remove it", f, unit, k, example)
			return nil
		}
		return &f
	}
	switch v.(type) {
	case map[string]any:
		st, _ := t.sub(key, key+" = "+tableEx)
		st.hints = map[string]string{"p95": "the percentiles are p50, p75, p90 and p99, as OpenRouter reports them; write p90 or p99"}
		c = routing.Cutoffs{P50: one(st, "p50", number), P75: one(st, "p75", number), P90: one(st, "p90", number), P99: one(st, "p99", number)}
		if len(st.m) == 0 {
			t.d.errorf(st.pos(), "%s sets no cutoff; write %s = %s (p50) or %s = %s, or remove it", st.name, key, number, key, tableEx)
		}
		st.finish()
	case int64, float64, string:
		c.P50 = one(t, key, number)
	default:
		t.bad(key, "must be a number or a table of percentiles, not %s; write %s = %s or %s = %s", typeName(v), key, number, key, tableEx)
	}
	return c
}

// excludedAll says why no endpoint of m passes the filters of p that do not
// depend on the request, in the words of a trace and naming each provider,
// or returns "" if one does. Routing itself decides, so the check cannot
// drift from what requests will meet.
func excludedAll(p *routing.Preferences, m Model, display map[string]string) string {
	var why []string
	for i, e := range m.Endpoints {
		if e.Provider == "" {
			continue
		}
		re := routingEndpoint(m.Name, &m.Endpoints[i], display[e.Provider])
		r := p.Excludes(&re)
		if r == "" {
			return ""
		}
		why = append(why, fmt.Sprintf("%s (%s)", e.Provider, r))
	}
	return strings.Join(why, ", ")
}

// checkError reports an error of routing's Preferences.Check, which names
// the field as "provider.sort.partition: ...", at that key of t, or at the
// nearest one written.
func checkError(t *table, err error) {
	field, msg, ok := strings.Cut(err.Error(), ": ")
	rest, isField := strings.CutPrefix(field, "provider.")
	if !ok || !isField || rest == "" {
		t.d.errorf(t.pos(), "%s: %s", t.name, err)
		return
	}
	p := t.path
	for _, k := range strings.Split(rest, ".") {
		p = p.key(k)
	}
	t.d.errorf(t.d.loc.valPos(p), "%s.%s %s", t.name, rest, msg)
}

// orList formats names as "a", "b" or "c" for a message.
func orList(names []string) string {
	s := quoteList(names)
	if i := strings.LastIndex(s, `" and "`); i >= 0 {
		s = s[:i] + `" or "` + s[i+len(`" and "`):]
	}
	return s
}
