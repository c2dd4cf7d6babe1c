// Package routing turns a chat request into a plan (which endpoints, in what
// order, and why) and carries it out: it streams from the first choice, falls
// back on provider errors, records every outcome in the monitor, and returns
// the answer with its decision trace.
package routing

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// Endpoint is one model served by one provider, as the router uses it.
type Endpoint struct {
	ID            string  // unique across the fleet; the monitor knows it by this id
	Provider      string  // provider slug
	ProviderName  string  // the provider's display name as OpenRouter writes it ("DeepInfra"); "" is the slug
	Model         string  // public model name clients ask for
	UpstreamModel string  // the provider's own id for the model
	PriceIn       float64 // USD per million prompt tokens
	PriceOut      float64 // USD per million completion tokens
	PriceRequest  float64 // USD per request, on top of tokens
	PriceImage    float64 // USD per input image
	Upstream      provider.Upstream

	// What the endpoint is and can do, for the request's filters.
	Variant       string   // OpenRouter's "slug/variant" part, e.g. "fp8" or "turbo"; "" for none
	Quantization  string   // int4, int8, fp4, fp6, fp8, fp16, bf16, fp32; "" is unknown
	ContextLength int      // tokens; 0 is unknown
	Parameters    []string // supported request parameters (temperature, max_tokens, tools, ...); nil is unknown
	StoresData    bool     // the provider may store or train on prompts: excluded by data_collection "deny"
	ZDR           bool     // zero data retention: nothing of a request is kept; provider.zdr asks for it
	Distillable   bool     // its output may be used to train other models; provider.enforce_distillable_text asks for it
	Prefill       bool     // continues from a partial assistant message: a broken stream can resume here
}

// Price is the endpoint's price for weighting: input plus output, USD per
// million tokens.
func (e Endpoint) Price() float64 { return e.PriceIn + e.PriceOut }

// Health is what the router needs of the monitor: the current snapshot, the
// circuit breaker's admission of each attempt, and a place to record every
// outcome.
type Health interface {
	Snapshot() *monitor.Snapshot
	Admit(endpointID string) (gen uint64, ok bool)
	Record(endpointID string, o provider.Outcome)
	// RecordRequest counts a routed request's final outcome for its model.
	RecordRequest(model string, c provider.Class)
}

// Options configure a router.
type Options struct {
	Endpoints   []Endpoint
	Health      Health
	Clock       monitor.Clock // default monitor.SystemClock
	Seed        uint64        // seeds the weighted pick; 0 picks a random seed
	MaxAttempts int           // attempts per request at most, retries included; default 5
	// RetryBackoff is the pause before trying an endpoint once more after a
	// connection failure or a 500, jittered by ±50%; default 200ms.
	RetryBackoff time.Duration
	// MaxRetryWait is the longest Retry-After worth waiting for when
	// nothing else is left to fall back to; default 10s.
	MaxRetryWait time.Duration
	// HedgesPerSecond caps how many hedges start per second across all
	// requests; default 1.
	HedgesPerSecond float64
	// Timeouts apply to requests whose model and request set none. Zero
	// connect, first-token and stall limits leave each provider's own (see
	// provider.OpenAIOptions: 5s, 30s and 30s by default); Total defaults
	// to 5m.
	Timeouts Timeouts
	// Defaults are per-model defaults for requests that do not say
	// otherwise, by public model name.
	Defaults map[string]ModelDefaults
}

// ModelDefaults are what a model's requests get unless they say otherwise.
type ModelDefaults struct {
	Provider Preferences // field by field: a request's own non-empty fields win
	Models   []string    // fallback models, tried in order after this one
	Timeouts Timeouts    // field by field, likewise
	Hedge    *Hedge      // nil: no hedging unless the request asks
}

// Timeouts bound a request. Zero fields take the next level's: the
// request's, else the model's, else the router's.
type Timeouts struct {
	Connect    time.Duration `json:"connect,omitempty"`     // to get a connection, per attempt
	FirstToken time.Duration `json:"first_token,omitempty"` // from sending to the first token, per attempt
	Stall      time.Duration `json:"stall,omitempty"`       // the longest silence between chunks, per attempt
	Total      time.Duration `json:"total,omitempty"`       // the whole request, every attempt and model included
}

// or fills t's zero fields from d.
func (t Timeouts) or(d Timeouts) Timeouts {
	t.Connect = cmp.Or(t.Connect, d.Connect)
	t.FirstToken = cmp.Or(t.FirstToken, d.FirstToken)
	t.Stall = cmp.Or(t.Stall, d.Stall)
	t.Total = cmp.Or(t.Total, d.Total)
	return t
}

// Router plans and carries out requests. It is safe for concurrent use.
type Router struct {
	opts    Options
	models  []string
	byModel map[string][]Endpoint

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	hedges hedgeBudget
}

// New checks the endpoints and returns a router over them.
func New(o Options) (*Router, error) {
	if o.Health == nil {
		return nil, fmt.Errorf("routing: no health source")
	}
	if o.Clock == nil {
		o.Clock = monitor.SystemClock{}
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 10 * time.Second
	}
	if o.HedgesPerSecond <= 0 {
		o.HedgesPerSecond = 1
	}
	if o.Timeouts.Total <= 0 {
		o.Timeouts.Total = 5 * time.Minute
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Router{opts: o, byModel: map[string][]Endpoint{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	seen := map[string]bool{}
	for _, e := range o.Endpoints {
		if e.ID == "" || e.Model == "" || e.Upstream == nil {
			return nil, fmt.Errorf("routing: endpoint %q needs an id, a model and an upstream", e.ID)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("routing: endpoint id %q is used twice", e.ID)
		}
		seen[e.ID] = true
		if _, ok := r.byModel[e.Model]; !ok {
			r.models = append(r.models, e.Model)
		}
		r.byModel[e.Model] = append(r.byModel[e.Model], e)
	}
	return r, nil
}

// Models lists the public model names in configuration order.
func (r *Router) Models() []string { return append([]string(nil), r.models...) }

// Endpoints lists the endpoints of a model in configuration order.
func (r *Router) Endpoints(model string) []Endpoint {
	return append([]Endpoint(nil), r.byModel[model]...)
}

// Request is a chat request as a client sends it to the router.
type Request struct {
	Model       string   // public model name, optionally with :nitro or :floor
	Models      []string // fallback models, tried in order after Model (OpenRouter's "models")
	Messages    []provider.Message
	MaxTokens   int
	Temperature *float64
	// User identifies the end user to the upstream, in each protocol's own
	// field (OpenAI's user, Anthropic's metadata.user_id); "" sends none.
	User     string
	Params   []string    // further parameters the request uses (tools, response_format, ...), for require_parameters
	Provider Preferences // OpenRouter's "provider" object
	Timeouts Timeouts    // zero fields: the model's, else the router's
	Hedge    *Hedge      // nil: the model's default
	// Extra are further OpenAI parameters (top_p, stop, seed, ...) passed
	// to the upstream as they are; see provider.Request.
	Extra map[string]json.RawMessage
	// OnCommit, if set, is told which endpoint serves a streamed answer,
	// just before its first content goes to onDelta, and again if a broken
	// stream resumes on another endpoint.
	OnCommit func(Endpoint)
}

// Plan orders the endpoints of one model for a request with no options,
// from one snapshot of their health; see PlanRequest.
func (r *Router) Plan(model string, snap *monitor.Snapshot) (*Trace, error) {
	return r.PlanRequest(&Request{Model: model}, snap)
}

// PlanRequest orders the endpoints of the request's model, from one
// snapshot of their health, and explains every placement and exclusion. The
// order follows OpenRouter: the model's endpoints that pass the request's
// filters (only, ignore, quantizations, require_parameters, data_collection,
// max_price, and order without fallbacks); those listed in provider.order
// first; then by provider.sort if given, else healthy endpoints drawn at
// random weighted by the inverse square of price, then degraded, then
// recently down; endpoints missing a preferred cutoff after those; endpoints
// that are down only as a last resort, and cooling-down ones only when
// nothing else is left.
func (r *Router) PlanRequest(req *Request, snap *monitor.Snapshot) (*Trace, error) {
	t := &Trace{Model: req.Model, At: snap.At}
	return t, r.planModel(t, req.Model, req, snap)
}

// planModel plans one model of a request into t: its candidates and order
// are appended. An unknown model, or one with nothing eligible, is an error
// that says why.
func (r *Router) planModel(t *Trace, model string, req *Request, snap *monitor.Snapshot) error {
	name, suffixSort := ModelSuffix(model)
	eps, ok := r.byModel[name]
	if !ok {
		return &Error{Code: 404, Type: "model_not_found",
			Message: fmt.Sprintf("model %q is not served here; models: %s", name, strings.Join(r.models, ", "))}
	}
	prefs := r.prefsFor(name, &req.Provider, suffixSort)
	if len(t.Models) == 0 {
		t.Options.Provider = prefs
	}
	if err := prefs.Check(); err != nil {
		return &Error{Code: 400, Type: "invalid_request", Message: err.Error()}
	}
	var p plan
	r.planInto(&p, eps, req, &prefs, snap)
	healthy := 0
	for _, c := range p.cands {
		if c.reason == placedPicked || c.reason == placedBackup {
			healthy++
		}
	}
	for i := range p.cands {
		p.cands[i].Why = p.cands[i].why(&prefs, healthy)
	}
	t.Models = append(t.Models, name)
	t.Candidates = append(t.Candidates, p.cands...)
	for _, i := range p.order {
		t.Order = append(t.Order, p.cands[i].Endpoint)
	}
	if len(p.order) == 0 {
		return &Error{Code: 503, Type: "no_endpoints",
			Message: fmt.Sprintf("no provider of %s meets the request's requirements: %s", name, excludedList(p.cands))}
	}
	return nil
}

// prefsFor is the request's preferences over the model's defaults, field by
// field, with a :nitro or :floor suffix deciding the sort.
func (r *Router) prefsFor(model string, req *Preferences, suffixSort string) Preferences {
	p := r.opts.Defaults[model].Provider
	set := func(dst *[]string, v []string) {
		if len(v) > 0 {
			*dst = v
		}
	}
	set(&p.Order, req.Order)
	set(&p.Only, req.Only)
	set(&p.Ignore, req.Ignore)
	set(&p.Quantizations, req.Quantizations)
	if req.AllowFallbacks != nil {
		p.AllowFallbacks = req.AllowFallbacks
	}
	if req.RequireParameters {
		p.RequireParameters = true
	}
	if req.DataCollection != "" {
		p.DataCollection = req.DataCollection
	}
	if req.Sort.By != "" {
		p.Sort = req.Sort
	}
	if req.MaxPrice != (MaxPrice{}) {
		p.MaxPrice = req.MaxPrice
	}
	if !req.PreferredMinThroughput.IsZero() {
		p.PreferredMinThroughput = req.PreferredMinThroughput
	}
	if !req.PreferredMaxLatency.IsZero() {
		p.PreferredMaxLatency = req.PreferredMaxLatency
	}
	if suffixSort != "" {
		p.Sort = Sort{By: suffixSort}
	}
	return p
}

// minPrice keeps free endpoints (a local model) finite in the inverse square.
const minPrice = 0.001

func invSquare(price float64) float64 {
	p := max(price, minPrice)
	return 1 / (p * p)
}

func excludedList(cs []Candidate) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Provider + " (" + c.Why + ")"
	}
	return strings.Join(parts, ", ")
}
