// Package routing turns a chat request into a plan (which endpoints, in what
// order, and why) and carries it out: it streams from the first choice, falls
// back on provider errors, records every outcome in the monitor, and returns
// the answer with its decision trace.
package routing

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"switchboard/monitor"
	"switchboard/provider"
)

// Endpoint is one model served by one provider, as the router uses it.
type Endpoint struct {
	ID            string  // unique across the fleet; the monitor knows it by this id
	Provider      string  // provider slug
	Model         string  // public model name clients ask for
	UpstreamModel string  // the provider's own id for the model
	PriceIn       float64 // USD per million prompt tokens
	PriceOut      float64 // USD per million completion tokens
	Upstream      provider.Upstream
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
}

// Options configure a router.
type Options struct {
	Endpoints   []Endpoint
	Health      Health
	Clock       monitor.Clock // default monitor.SystemClock
	Seed        uint64        // seeds the weighted pick; 0 picks a random seed
	MaxAttempts int           // endpoints tried per request at most; default 5
}

// Router plans and carries out requests. It is safe for concurrent use.
type Router struct {
	opts    Options
	models  []string
	byModel map[string][]Endpoint

	mu  sync.Mutex // guards rng
	rng *rand.Rand
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
	Model       string
	Messages    []provider.Message
	MaxTokens   int
	Temperature *float64
}

// Plan decides the order in which the model's endpoints will be tried, from
// one snapshot of their health, following OpenRouter's default: endpoints
// without a significant outage in the recent window first, ordered by a
// random draw weighted by the inverse square of their price; the others after
// them as fallbacks, best state and lowest price first; endpoints turned off
// by the user are skipped.
func (r *Router) Plan(model string, snap *monitor.Snapshot) (*Trace, error) {
	eps, ok := r.byModel[model]
	if !ok {
		return nil, &Error{Code: 404, Type: "model_not_found",
			Message: fmt.Sprintf("model %q is not served here; models: %s", model, strings.Join(r.models, ", "))}
	}
	t := &Trace{Model: model, At: snap.At, Candidates: make([]Candidate, len(eps))}
	var preferred, fallback []int
	for i, e := range eps {
		st, _ := snap.Endpoint(e.ID)
		c := Candidate{Endpoint: e.ID, Provider: e.Provider, State: st.State, StateStr: st.State.String(), Price: e.Price()}
		switch {
		case !st.Enabled || st.State == monitor.Disabled:
			c.Tier, c.Why = TierSkipped, "turned off by the user"
		case st.State == monitor.Healthy || st.State == monitor.Degraded:
			if st.RecentOutage(snap.At, snap.OutageWindow) {
				c.Tier, c.Why = TierFallback, fmt.Sprintf("outage %s ago", ago(snap.At.Sub(st.LastOutage)))
				fallback = append(fallback, i)
			} else {
				c.Tier = TierPreferred
				preferred = append(preferred, i)
			}
		default:
			c.Tier, c.Why = TierFallback, st.Reason
			fallback = append(fallback, i)
		}
		t.Candidates[i] = c
	}

	r.weigh(t.Candidates, preferred)
	order := r.weightedOrder(t.Candidates, preferred)
	for k, i := range order {
		c := &t.Candidates[i]
		if k == 0 {
			c.Why = fmt.Sprintf("picked among %d without recent outage (weight %.2f, $%.2f/M)", len(preferred), c.Weight, c.Price)
		} else {
			c.Why = fmt.Sprintf("backup #%d: no recent outage", k+1)
		}
	}
	sort.SliceStable(fallback, func(a, b int) bool {
		ca, cb := t.Candidates[fallback[a]], t.Candidates[fallback[b]]
		if ca.State != cb.State {
			return ca.State < cb.State
		}
		return ca.Price < cb.Price
	})
	for _, i := range append(order, fallback...) {
		t.Order = append(t.Order, t.Candidates[i].Endpoint)
	}
	if len(t.Order) == 0 {
		return t, &Error{Code: 503, Type: "no_endpoints",
			Message: fmt.Sprintf("no provider of %s can take the request: %s", model, excluded(t.Candidates))}
	}
	return t, nil
}

// minPrice keeps free endpoints (a local model) finite in the inverse square.
const minPrice = 0.001

func invSquare(price float64) float64 {
	p := max(price, minPrice)
	return 1 / (p * p)
}

// weigh sets each preferred candidate's Weight to its chance of being picked
// first: its inverse-square price over the sum of them.
func (r *Router) weigh(cs []Candidate, idx []int) {
	var sum float64
	for _, i := range idx {
		sum += invSquare(cs[i].Price)
	}
	for _, i := range idx {
		cs[i].Weight = invSquare(cs[i].Price) / sum
	}
}

// weightedOrder draws the preferred candidates one by one without
// replacement, each draw weighted by the inverse square of price.
func (r *Router) weightedOrder(cs []Candidate, idx []int) []int {
	left := append([]int(nil), idx...)
	order := make([]int, 0, len(idx))
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(left) > 0 {
		var sum float64
		for _, i := range left {
			sum += invSquare(cs[i].Price)
		}
		x := r.rng.Float64() * sum
		k := len(left) - 1 // float rounding can leave x just above the last sum
		for j, i := range left {
			if x -= invSquare(cs[i].Price); x < 0 {
				k = j
				break
			}
		}
		order = append(order, left[k])
		left = append(left[:k], left[k+1:]...)
	}
	return order
}

func excluded(cs []Candidate) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Provider + " (" + c.Why + ")"
	}
	return strings.Join(parts, ", ")
}
