package routing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"switchboard/provider"
)

// Preferences are OpenRouter's per-request provider preferences (the
// "provider" object of a request), with the same names and meanings.
type Preferences struct {
	// Order lists providers to try first, in this order. A provider slug
	// ("google-vertex") matches all of its endpoints; "slug/variant" only
	// the endpoint whose Variant is variant.
	Order []string `json:"order,omitempty"`
	// AllowFallbacks false restricts the request to the endpoints in Order
	// (or, without Order, to the first choice). Nil means true.
	AllowFallbacks *bool `json:"allow_fallbacks,omitempty"`
	// RequireParameters restricts the request to endpoints that support
	// every parameter the request uses.
	RequireParameters bool `json:"require_parameters,omitempty"`
	// DataCollection "deny" restricts the request to endpoints that do not
	// store or train on prompts; "allow" (or empty) allows all.
	DataCollection string   `json:"data_collection,omitempty"`
	Only           []string `json:"only,omitempty"`   // allow-list of providers
	Ignore         []string `json:"ignore,omitempty"` // deny-list of providers
	// Quantizations restricts the request to endpoints of these
	// quantizations (int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, unknown).
	Quantizations []string `json:"quantizations,omitempty"`
	// Sort tries endpoints strictly in order of price, throughput or
	// latency, from the monitor's live figures, instead of the weighted pick.
	Sort Sort `json:"sort,omitzero"`
	// ZDR true restricts the request to endpoints with zero data retention.
	ZDR *bool `json:"zdr,omitempty"`
	// EnforceDistillableText true restricts the request to endpoints whose
	// output may be used to train other models.
	EnforceDistillableText *bool `json:"enforce_distillable_text,omitempty"`
	// MaxPrice is a hard filter on price, in USD per million tokens (and per
	// request, and per image).
	MaxPrice MaxPrice `json:"max_price,omitzero"`
	// PreferredMinThroughput and PreferredMaxLatency move endpoints that
	// miss any cutoff to the end of the order, never out of it. Throughput is
	// in output tokens per second, latency (time to first token) in seconds.
	PreferredMinThroughput Cutoffs `json:"preferred_min_throughput,omitzero"`
	PreferredMaxLatency    Cutoffs `json:"preferred_max_latency,omitzero"`
}

// Fallbacks reports whether endpoints outside Order may be tried.
func (p *Preferences) Fallbacks() bool { return p.AllowFallbacks == nil || *p.AllowFallbacks }

// The sort keys.
const (
	SortPrice      = "price"
	SortThroughput = "throughput"
	SortLatency    = "latency"
)

// Sort is a sort key and its partition: "model" (the default) sorts within
// each model of a fallback list; "none" sorts across all of them.
type Sort struct {
	By        string `json:"by,omitempty"`
	Partition string `json:"partition,omitempty"`
}

// UnmarshalJSON takes "latency" or {"by": "latency", "partition": "none"}.
func (s *Sort) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s.Partition = ""
		return json.Unmarshal(b, &s.By)
	}
	type plain Sort
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, (*plain)(s)) != nil {
		return fmt.Errorf(`sort must be "price", "throughput" or "latency", or {"by": ..., "partition": "model" or "none"}, not %s`, Clip(string(b), EchoLimit))
	}
	return nil
}

// MaxPrice caps what a request may cost; nil fields do not cap.
type MaxPrice struct {
	Prompt     *float64 `json:"prompt,omitempty"`     // USD per million prompt tokens
	Completion *float64 `json:"completion,omitempty"` // USD per million completion tokens
	Request    *float64 `json:"request,omitempty"`    // USD per request
	Image      *float64 `json:"image,omitempty"`      // USD per input image
}

// UnmarshalJSON takes each price as a number or as a numeric string:
// OpenRouter's schema types them as strings ("0.5"), and its examples
// write numbers.
func (m *MaxPrice) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return fmt.Errorf("max_price must be an object such as {\"prompt\": 1, \"completion\": 2}, not %s", Clip(string(b), EchoLimit))
	}
	*m = MaxPrice{}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var dst **float64
		switch k {
		case "prompt":
			dst = &m.Prompt
		case "completion":
			dst = &m.Completion
		case "request":
			dst = &m.Request
		case "image":
			dst = &m.Image
		default:
			return fmt.Errorf("max_price.%s is not a price; the prices are prompt, completion, request and image", Clip(k, EchoLimit))
		}
		v, err := priceValue(raw[k])
		if err != nil {
			return fmt.Errorf("max_price.%s: %w", k, err)
		}
		*dst = v
	}
	return nil
}

// priceValue reads a price written as a number, a numeric string, or null.
func priceValue(b json.RawMessage) (*float64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil, nil
	}
	num := b
	var s string
	if json.Unmarshal(b, &s) == nil {
		num = []byte(strings.TrimSpace(s)) // a numeric string: its number
	}
	var v float64
	if err := json.Unmarshal(num, &v); err != nil {
		return nil, fmt.Errorf("%s is not a price; write a number of USD, e.g. 0.5 or \"0.5\"", Clip(string(b), EchoLimit))
	}
	return &v, nil
}

// Cutoffs are thresholds on percentiles of a live figure; nil fields do not
// apply. A bare number in JSON means P50.
type Cutoffs struct {
	P50 *float64 `json:"p50,omitempty"`
	P75 *float64 `json:"p75,omitempty"`
	P90 *float64 `json:"p90,omitempty"`
	P99 *float64 `json:"p99,omitempty"`
}

// IsZero reports whether no cutoff is set.
func (c Cutoffs) IsZero() bool { return c.P50 == nil && c.P75 == nil && c.P90 == nil && c.P99 == nil }

// UnmarshalJSON takes 30 (meaning p50) or {"p50": 30, "p90": 10}.
func (c *Cutoffs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*c = Cutoffs{} // absent, as JSON's null is elsewhere
		return nil
	}
	bad := fmt.Errorf("a performance cutoff must be a number (for p50) or {p50, p75, p90, p99} of numbers, not %s", Clip(string(b), EchoLimit))
	if len(b) > 0 && b[0] != '{' {
		var v float64
		if json.Unmarshal(b, &v) != nil {
			return bad
		}
		*c = Cutoffs{P50: &v}
		return nil
	}
	// An unknown percentile (p95) is refused, not ignored: the cutoff the
	// caller meant would silently not apply.
	type plain Cutoffs
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode((*plain)(c)) != nil {
		return bad
	}
	return nil
}

// named lists the cutoffs in the order of their names.
func (c *Cutoffs) named() [4]namedCutoff {
	return [4]namedCutoff{{"p50", c.P50}, {"p75", c.P75}, {"p90", c.P90}, {"p99", c.P99}}
}

// namedCutoff is a cutoff with its field's name; v is nil when not set.
type namedCutoff struct {
	name string
	v    *float64
}

// Check reports what is wrong with the preferences, in the words of the
// error a client gets: which field, what value, what is allowed. The error
// is an *Error of KindBadRequest whose Param names the field, and whose
// message starts with it.
func (p *Preferences) Check() error {
	if e := p.check(); e != nil {
		return e
	}
	return nil
}

func (p *Preferences) check() *Error {
	switch p.Sort.By {
	case "", SortPrice, SortThroughput, SortLatency:
	default:
		return fieldError("provider.sort", `%q is not a sort; use "price", "throughput" or "latency"`, Clip(p.Sort.By, EchoLimit))
	}
	switch p.Sort.Partition {
	case "", "model", "none":
	default:
		return fieldError("provider.sort.partition", `%q is not a partition; use "model" or "none"`, Clip(p.Sort.Partition, EchoLimit))
	}
	switch p.DataCollection {
	case "", "allow", "deny":
	default:
		return fieldError("provider.data_collection", `%q is not a policy; use "allow" or "deny"`, Clip(p.DataCollection, EchoLimit))
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"prompt", p.MaxPrice.Prompt}, {"completion", p.MaxPrice.Completion}, {"request", p.MaxPrice.Request}, {"image", p.MaxPrice.Image}} {
		if f.v != nil && (*f.v < 0 || math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			return fieldError("provider.max_price."+f.name, "%v is not a price; prices are USD, 0 or more", *f.v)
		}
	}
	for _, q := range p.Quantizations {
		if !knownQuantization(q) {
			return fieldError("provider.quantizations", "%q is not a quantization; use %s", Clip(q, EchoLimit), strings.Join(quantizations, ", "))
		}
	}
	// In the order of their names, as an error about several would list them.
	for _, c := range [...]struct {
		name    string
		cutoffs *Cutoffs
	}{{"preferred_max_latency", &p.PreferredMaxLatency}, {"preferred_min_throughput", &p.PreferredMinThroughput}} {
		for _, k := range c.cutoffs.named() {
			if v := k.v; v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
				return fieldError("provider."+c.name+"."+k.name, "%v is not a cutoff; a cutoff is 0 or more", *v)
			}
		}
	}
	return nil
}

// EchoLimit is how many bytes of a value the caller sent an error message
// repeats: enough to recognise it, never the whole of a huge one.
const EchoLimit = 100

// Clip cuts s to at most n bytes, on a rune boundary, marking a cut with
// "…": provider.Clip, the module's one. Every error message that repeats
// what a caller sent repeats Clip(value, EchoLimit).
func Clip(s string, n int) string { return provider.Clip(s, n) }

// fieldError is the caller's error about one field: its message starts
// with the field, as config and clients alike read it.
func fieldError(param, format string, args ...any) *Error {
	return badRequest(param, "%s: %s", param, fmt.Sprintf(format, args...))
}

var quantizations = []string{"int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown"}

func knownQuantization(q string) bool {
	for _, k := range quantizations {
		if q == k {
			return true
		}
	}
	return false
}

// ModelSuffix splits OpenRouter's shortcut suffixes off a model name:
// ":nitro" sorts by throughput, ":floor" by price.
func ModelSuffix(model string) (name, sort string) {
	switch {
	case strings.HasSuffix(model, ":nitro"):
		return strings.TrimSuffix(model, ":nitro"), SortThroughput
	case strings.HasSuffix(model, ":floor"):
		return strings.TrimSuffix(model, ":floor"), SortPrice
	}
	return model, ""
}
