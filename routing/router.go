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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// InputModalities are the kinds of input it takes besides text
	// (OpenRouter's word; ModalityImage): a prompt with images goes only
	// to endpoints that list "image".
	InputModalities []string
	// Timeouts are the connect, first-token and stall limits its Upstream
	// client was built with (Total is not used): the caps of a deadline
	// from the endpoint's norms when no request, model or router sets
	// them. Zero fields are the provider package's defaults.
	Timeouts Timeouts

	// at is its index among the router's endpoints: where its status is
	// in a snapshot of a monitor given the endpoints in the same order.
	at int
	// cand is its candidate as every plan begins it: what comes from the
	// endpoint alone, written once (see New), not for every request.
	cand Candidate
}

// Price is the endpoint's price for weighting: input plus output, USD per
// million tokens.
func (e Endpoint) Price() float64 { return e.PriceIn + e.PriceOut }

// Health is what the router needs of the monitor: the current snapshot, the
// circuit breaker's admission of each attempt (and the return of one not
// used), and a place to record every outcome.
type Health interface {
	Snapshot() *monitor.Snapshot
	Admit(endpointID string) (gen uint64, ok bool)
	Release(endpointID string, gen uint64)
	Record(endpointID string, o provider.Outcome)
	// RecordRequest counts a routed request's final outcome for its model.
	RecordRequest(model string, c provider.Class)
	// Sent and Answered mark an attempt going out and its first token
	// coming in; a snapshot's EndpointStatus.Unanswered reads how long an
	// endpoint has left attempts without any answer.
	Sent(endpointID string)
	Answered(endpointID string)
}

// Clock tells the time and times the router's waits (a retry's pause, a
// hedge's delay), so that tests can move both by hand
// (monitortest.Clock). monitor.SystemClock is the wall clock.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// Options configure a router.
type Options struct {
	Endpoints []Endpoint
	Health    Health
	Clock     Clock  // default monitor.SystemClock
	Seed      uint64 // seeds the weighted pick; 0 picks a random seed
	// MaxAttempts is how many endpoints a request tries in turn at most,
	// the first choice included; default DefaultMaxAttempts. Each is tried
	// at most twice: once more after a blip (a refused connection, a 500)
	// or a short Retry-After, to carry on an answer it cut, or in a second
	// round once every endpoint failed (see run.secondGoes). Hedges are
	// not counted: the hedge budget bounds them.
	MaxAttempts int
	// RetryBackoff is the pause before trying an endpoint once more after a
	// connection failure or a 500, and before a second round once every
	// endpoint failed, jittered by ±50%; default 200ms.
	RetryBackoff time.Duration
	// MaxRetryWait is the longest Retry-After worth waiting for when
	// nothing else is left to fall back to; default 10s.
	MaxRetryWait time.Duration
	// HedgesPerSecond is how many hedges a second may start across all
	// requests, on top of one for every five requests that may be hedged
	// (see hedgeBudget); default 1.
	HedgesPerSecond float64
	// MaxAnswer bounds a request's answer, in bytes of content and
	// reasoning: an attempt that goes past it fails as malformed, and a
	// resumed stream gets what is left of it. 0 means
	// provider.DefaultMaxAnswer.
	MaxAnswer int
	// Timeouts apply to requests whose model and request set none. Zero
	// connect, first-token and stall limits leave each provider's own (see
	// provider.OpenAIOptions: 5s, 30s and 30s by default); Total defaults
	// to 5m.
	Timeouts Timeouts
	// Aliases are other names a model answers to (Anthropic's own model
	// ids, for one), each to the public model name it stands for: a
	// request naming an alias is the model's request (see Canonical). An
	// alias is not a model's name.
	Aliases map[string]string
	// Defaults are per-model defaults for requests that do not say
	// otherwise, by public model name.
	Defaults map[string]ModelDefaults
	// NormFactor and NormFloor set deadlines from each endpoint's own
	// norms: while something else could take over, an attempt waits for
	// its first token at most NormFactor times the endpoint's 30-minute
	// p99 time to first token, and between tokens at most NormFactor times
	// its p99 gap between tokens, never less than NormFloor, never more
	// than the timeouts (see deadlines). Defaults DefaultNormFactor and
	// DefaultNormFloor.
	NormFactor float64
	NormFloor  time.Duration
	// ShareSticky, if set, is told each conversation's endpoint when it
	// changes, and again now and then while the conversation goes on, for
	// the other replicas of a fleet (see Router.Stick). It is called on the
	// request's path, so it must not block.
	ShareSticky func(model, conversation, endpoint string)
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
	opts     Options
	models   []string
	byModel  map[string][]Endpoint
	byID     map[string]*Endpoint // into byModel, which never changes
	prefill  map[string]bool      // models with an endpoint that takes a prefill: a broken stream may resume there
	stickies stickies             // the endpoint that served each conversation last

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	// plans holds planning's scratch between requests: growing it for
	// every request was most of planning's garbage.
	plans sync.Pool

	// hedges is the budget of hedges across all requests.
	hedges *hedgeBudget
	// waits are the attempts waiting for their first token, per endpoint.
	waits waiters

	names map[string]string // lower-cased slug or display name -> slug

	// deadlineMemo keeps each endpoint's last Deadline with what it was
	// worked out from (see Router.deadlines); its keys are byID's.
	deadlineMemo map[string]*atomic.Pointer[deadlineMemo]
}

// The defaults of Options, where New applies them (a configuration that
// leaves a key out refers to these).
const (
	DefaultMaxAttempts     = 5
	DefaultRetryBackoff    = 200 * time.Millisecond
	DefaultMaxRetryWait    = 10 * time.Second
	DefaultHedgesPerSecond = 1.0
	DefaultTotalTimeout    = 5 * time.Minute
)

// New checks the endpoints and returns a router over them.
func New(o Options) (*Router, error) {
	if o.Health == nil {
		return nil, fmt.Errorf("routing: no health source")
	}
	if o.Clock == nil {
		o.Clock = monitor.SystemClock{}
	}
	o.MaxAttempts = cmp.Or(max(o.MaxAttempts, 0), DefaultMaxAttempts)
	o.RetryBackoff = cmp.Or(max(o.RetryBackoff, 0), DefaultRetryBackoff)
	o.MaxRetryWait = cmp.Or(max(o.MaxRetryWait, 0), DefaultMaxRetryWait)
	o.HedgesPerSecond = cmp.Or(max(o.HedgesPerSecond, 0), DefaultHedgesPerSecond)
	o.Timeouts.Total = cmp.Or(max(o.Timeouts.Total, 0), DefaultTotalTimeout)
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Router{opts: o, byModel: map[string][]Endpoint{}, prefill: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		hedges: newHedgeBudget(o.HedgesPerSecond), names: map[string]string{}}
	r.plans.New = func() any { return new(plan) }
	seen := map[string]bool{}
	for i, e := range o.Endpoints {
		if e.ID == "" || e.Model == "" || e.Upstream == nil {
			return nil, fmt.Errorf("routing: endpoint %q needs an id, a model and an upstream", e.ID)
		}
		e.at, e.cand = i, candidateOf(&e)
		if seen[e.ID] {
			return nil, fmt.Errorf("routing: endpoint id %q is used twice", e.ID)
		}
		seen[e.ID] = true
		if _, ok := r.byModel[e.Model]; !ok {
			r.models = append(r.models, e.Model)
		}
		r.byModel[e.Model] = append(r.byModel[e.Model], e)
		r.prefill[e.Model] = r.prefill[e.Model] || e.Prefill
		r.names[strings.ToLower(e.Provider)] = e.Provider
		if e.ProviderName != "" {
			r.names[strings.ToLower(e.ProviderName)] = e.Provider
		}
	}
	r.byID = make(map[string]*Endpoint, len(o.Endpoints))
	r.deadlineMemo = make(map[string]*atomic.Pointer[deadlineMemo], len(o.Endpoints))
	for _, eps := range r.byModel {
		for i := range eps {
			r.byID[eps[i].ID] = &eps[i]
			r.deadlineMemo[eps[i].ID] = new(atomic.Pointer[deadlineMemo])
		}
	}
	for alias, model := range o.Aliases {
		if _, ok := r.byModel[alias]; ok {
			return nil, fmt.Errorf("routing: alias %q is a model's name", alias)
		}
		if _, ok := r.byModel[model]; !ok {
			return nil, fmt.Errorf("routing: alias %q stands for %q, which is not a model", alias, model)
		}
	}
	return r, nil
}

// Models lists the public model names in configuration order.
func (r *Router) Models() []string { return append([]string(nil), r.models...) }

// Endpoints lists the endpoints of a model in configuration order.
func (r *Router) Endpoints(model string) []Endpoint {
	return append([]Endpoint(nil), r.byModel[model]...)
}

// Endpoint returns the endpoint with this id, without copying the list
// Endpoints copies: what the request path asks after an answer (its
// prices, for the cost).
func (r *Router) Endpoint(id string) (Endpoint, bool) {
	if e, ok := r.byID[id]; ok {
		return *e, true
	}
	return Endpoint{}, false
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
	// MaxAnswer bounds the answer in bytes of content and reasoning; 0
	// takes the router's. A stream resumed elsewhere gets what is left.
	MaxAnswer int
	// Session names the conversation the request belongs to, for sticky
	// routing (OpenRouter's session_id); "" names it by its first system
	// and first user message.
	Session string
	// Extra are further OpenAI parameters (top_p, stop, seed, ...) passed
	// to the upstream as they are; see provider.Request.
	Extra map[string]json.RawMessage
	// Tools, ToolChoice, ParallelToolCalls and Reasoning go to the
	// upstream as provider.Request has them.
	Tools             []provider.Tool
	ToolChoice        provider.ToolChoice
	ParallelToolCalls *bool
	Reasoning         *provider.Reasoning
	// next is what could take over from the attempt: the run sets it for
	// each one (see takeover).
	next takeover
	// OnCommit, if set, is told which endpoint serves a streamed answer,
	// just before its first content goes to onDelta, and again if a broken
	// stream resumes on another endpoint.
	OnCommit func(Endpoint)
	// OnWait, if set, is called whenever an attempt's stream is about to
	// wait on its upstream, having handed on all it had (see
	// provider.Request.OnWait); on the attempt's goroutine, which a hedged
	// race runs two of.
	OnWait func()
}

// Plan orders the endpoints of one model for a request with no options,
// from one snapshot of their health; see PlanRequest.
func (r *Router) Plan(model string, snap *monitor.Snapshot) (*Trace, error) {
	return r.PlanRequest(&Request{Model: model}, snap)
}

// PlanRequest orders the endpoints of the request's model, from one
// snapshot of their health, and explains every placement and exclusion. The
// order follows OpenRouter: the model's endpoints that pass the request's
// filters (only, ignore, quantizations, require_parameters, data policies,
// max_price, context length, and order without fallbacks); those listed in
// provider.order first; then by provider.sort if given (strictly, among
// those without a recent outage), else healthy endpoints drawn at random
// weighted by the inverse square of price, then degraded, then recently
// down; endpoints missing a preferred cutoff after those; endpoints that
// are down, and cooling-down ones, last.
func (r *Router) PlanRequest(req *Request, snap *monitor.Snapshot) (*Trace, error) {
	req.Model, req.Models = r.Canonical(req.Model), r.canonicals(req.Models)
	t := &Trace{Model: req.Model, At: snap.At}
	if _, err := r.planAll(t, []string{req.Model}, req, snap); err != nil {
		return t, err
	}
	return t, nil
}

// planAll plans every model of a request, in order, from one snapshot: the
// candidates and the order go into t, and the legs to try come back. A
// sort with partition "none" makes one leg across all the models. An
// unknown model, a wrong option or a provider name that names nothing is
// the caller's error; a model with nothing eligible is skipped, and if no
// model has anything, the error says what excluded every endpoint.
func (r *Router) planAll(t *Trace, models []string, req *Request, snap *monitor.Snapshot) ([]leg, *Error) {
	var names, sorts []string // each model once, and the sort its suffix asks for
	for _, m := range models {
		name, suffixSort := ModelSuffix(m)
		if _, ok := r.byModel[name]; !ok {
			return nil, errorf(KindUnknownModel, provider.ClassOK, "model %q is not served here; models: %s", Clip(name, EchoLimit), strings.Join(r.models, ", "))
		}
		if !slices.Contains(names, name) {
			names, sorts = append(names, name), append(sorts, suffixSort)
		}
	}
	own, err := r.resolve(names, req.Provider)
	if err != nil {
		return nil, err
	}
	legs := make([]leg, 0, len(names))
	p := r.plans.Get().(*plan) // scratch: the trace keeps copies of what it needs
	defer r.plans.Put(p)
	defer p.reset()
	var why []string
	n := len(r.byModel[names[0]])
	t.Candidates = make([]Candidate, 0, n*len(names))
	for i, name := range names {
		prefs := r.prefsFor(name, &own, sorts[i])
		if i == 0 {
			t.Options.Provider = prefs
		}
		if err := prefs.check(); err != nil {
			return nil, err
		}
		r.planInto(p, r.byModel[name], req, &prefs, snap)
		base := len(t.Candidates)
		for i := range p.slots {
			t.Candidates = p.slots[i].appendCandidate(t.Candidates, p.need)
		}
		cands := t.Candidates[base:]
		healthy := 0
		for _, c := range cands {
			if c.reason == placedPicked || c.reason == placedBackup {
				healthy++
			}
		}
		l := leg{models: []string{name}, order: make([]*Endpoint, 0, len(p.order)),
			bySpeed: len(prefs.Order) == 0 && prefs.Sort.By == "" && prefs.PreferredMinThroughput.IsZero() && prefs.PreferredMaxLatency.IsZero()}
		// Every candidate's reason in one string, each its slice of it:
		// one allocation for all of them.
		p.words, p.ends = p.words[:0], p.ends[:0]
		for i := range cands {
			p.words = cands[i].appendWhy(p.words, &prefs, healthy)
			p.ends = append(p.ends, len(p.words))
		}
		words, start := string(p.words), 0
		for i, end := range p.ends {
			cands[i].Why, start = words[start:end], end
		}
		for _, i := range p.order {
			l.order = append(l.order, &r.byModel[name][i])
		}
		t.Models = append(t.Models, name)
		if len(l.order) == 0 {
			why = append(why, fmt.Sprintf("no provider of %s meets the request's requirements: %s", name, excludedList(cands)))
			continue
		}
		legs = append(legs, l)
	}
	if p := t.Options.Provider; len(legs) > 1 && p.Sort.By != "" && p.Sort.Partition == "none" {
		legs = []leg{mergeLegs(t, legs)}
	}
	total := 0
	for _, l := range legs {
		total += len(l.order)
	}
	if total > 0 {
		t.Order = make([]string, 0, total) // one allocation, not one per doubling
	}
	for _, l := range legs {
		for _, e := range l.order {
			t.Order = append(t.Order, e.ID)
		}
	}
	if len(legs) == 0 {
		if e := incapable(t.Candidates, t.Models); e != nil {
			return nil, e
		}
		k := KindNoEndpoints
		if slices.ContainsFunc(t.Candidates, func(c Candidate) bool { return c.reason == excludedContext }) {
			k = KindContextLength // the prompt is what stands in the way
		}
		return nil, errorf(k, provider.ClassOK, "%s", strings.Join(why, "; "))
	}
	return legs, nil
}

// mergeLegs is the one leg of a sort across models: every endpoint by the
// sort's value, those that are out (a recent outage, down, cooling) after
// the rest.
func mergeLegs(t *Trace, legs []leg) leg {
	cands := map[string]*Candidate{}
	for i := range t.Candidates {
		cands[t.Candidates[i].Endpoint] = &t.Candidates[i]
	}
	var all leg
	for _, l := range legs {
		all.models = append(all.models, l.models...)
		all.order = append(all.order, l.order...)
	}
	slices.SortStableFunc(all.order, func(a, b *Endpoint) int {
		ca, cb := cands[a.ID], cands[b.ID]
		if oa, ob := ca.group != groupHealthy, cb.group != groupHealthy; oa != ob {
			if oa {
				return 1
			}
			return -1
		}
		return cmp.Compare(ca.value, cb.value)
	})
	return all
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
	if req.ZDR != nil {
		p.ZDR = req.ZDR
	}
	if req.EnforceDistillableText != nil {
		p.EnforceDistillableText = req.EnforceDistillableText
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

// mayResume reports whether a stream of model that breaks off could carry
// on somewhere: an endpoint of it, or of one of the request's fallback
// models, takes a prefill.
func (r *Router) mayResume(model string, fallbacks []string) bool {
	return r.prefill[model] || slices.ContainsFunc(fallbacks, func(m string) bool {
		name, _ := ModelSuffix(m)
		return r.prefill[name]
	})
}
