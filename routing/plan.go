package routing

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/provider"
)

// reason is why a candidate was placed where it was, or left out. The words
// are written only when a trace is explained, so planning allocates nothing.
type reason uint8

const (
	placedPicked     reason = iota // first of the weighted draw
	placedBackup                   // later in the weighted draw
	placedOrder                    // listed in provider.order
	placedSorted                   // placed by provider.sort
	placedSortedLate               // placed by provider.sort, after those without a recent outage
	placedByPrice                  // after the preferred, cheapest first
	placedDegraded                 // degraded: after the healthy
	placedRecovered                // recently down: after the healthy and degraded
	placedUnanswered               // silent to an attempt in flight for far longer than its first tokens take
	placedSlow                     // misses a preferred_min_throughput / preferred_max_latency cutoff
	placedDown                     // down: last resort
	placedCooling                  // cooling down: only if nothing else is left

	excludedOff       // turned off by the user
	excludedOnly      // not in provider.only
	excludedIgnored   // in provider.ignore
	excludedQuant     // quantization not allowed
	excludedParams    // does not support a parameter of the request
	excludedSoft      // does not list tools or response_format, which another endpoint of the model lists
	excludedData      // may store data, and data_collection is deny
	excludedPrompt    // over max_price.prompt
	excludedComplete  // over max_price.completion
	excludedRequest   // over max_price.request
	excludedImage     // over max_price.image
	excludedZDR       // keeps data, and zdr is asked for
	excludedDistill   // output not distillable, and enforce_distillable_text is asked for
	excludedNotInList // not in provider.order, and allow_fallbacks is false
	excludedPinned    // not the first choice, and allow_fallbacks is false without provider.order
	excludedContext   // the prompt and max_tokens do not fit its context length
	excludedNoImages  // the prompt has images, which it does not take
	excludedNoProbs   // the request asks for logprobs, which it does not give
)

// group is a candidate's health group, best first.
type group uint8

const (
	groupHealthy group = iota
	groupDegraded
	groupRecovered
	groupUnanswered
	groupDown
	groupCooling
	groupExcluded
)

// planKey is what candidates are ordered by, most significant first.
type planKey struct {
	lastResort bool    // down or cooling
	slow       bool    // misses a preferred cutoff: to the end, never out
	orderPos   int     // position in provider.order; len(order) for the unlisted
	group      group   // health
	value      float64 // sort value, draw key, or price
}

// rank is a key's fields but the value, folded into one number that
// orders as they do.
func (a *planKey) rank() uint64 {
	var r uint64
	if a.lastResort {
		r |= 1 << 63
	}
	if a.slow {
		r |= 1 << 62
	}
	return r | uint64(a.orderPos)<<8 | uint64(a.group)
}

// sortedKey is a candidate's key as the sort compares it (the rank, then
// the value), with the candidate's index.
type sortedKey struct {
	rank  uint64
	value float64
	i     int
}

func (a *sortedKey) less(b *sortedKey) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.value < b.value
}

// sort puts p.order in the keys' order, without allocating once warm.
func (p *plan) sort() {
	p.sorted = p.sorted[:0]
	for _, i := range p.order {
		k := &p.slots[i].key
		p.sorted = append(p.sorted, sortedKey{k.rank(), k.value, i})
	}
	// Insertion sort, stable: a few dozen candidates at most, compared
	// inline (slices.SortStableFunc, calling a function for each
	// comparison, measured slower at 50).
	ks := p.sorted
	for i := 1; i < len(ks); i++ {
		k := ks[i]
		j := i
		for ; j > 0 && k.less(&ks[j-1]); j-- {
			ks[j] = ks[j-1]
		}
		ks[j] = k
	}
	for j, k := range p.sorted {
		p.order[j] = k.i
	}
}

// plan is the working state of one planning: reused across plannings so
// that, once warm, planning allocates nothing.
type plan struct {
	slots  []slot      // one per endpoint, as the model lists them
	need   int         // the context the request takes, at least (tokens)
	order  []int       // indexes into slots, in the order to try
	sorted []sortedKey // scratch for sorting order
	words  []byte      // the candidates' reasons, written one after another
	ends   []int       // where each candidate's ends in words
}

// reset empties p for the next request, letting go of what its candidates
// pointed at.
func (p *plan) reset() {
	clear(p.slots)
	p.slots, p.order, p.words, p.ends = p.slots[:0], p.order[:0], p.words[:0], p.ends[:0]
}

// slot is what planning finds of one endpoint: the few fields a Candidate
// holds beyond its endpoint's (Endpoint.cand), so that a trace's Candidate
// is written once, when the trace takes it (appendCandidate), and not a
// second time along the way.
type slot struct {
	e      *Endpoint
	st     *monitor.EndpointStatus
	key    planKey // what the order is sorted by; its group is Candidate.group
	weight float64 // Candidate.Weight
	value  float64 // Candidate.value
	tier   Tier
	reason reason
}

// appendCandidate appends the trace's Candidate of s, for a request
// taking need tokens, to cs.
func (s *slot) appendCandidate(cs []Candidate, need int) []Candidate {
	cs = append(cs, s.e.cand)
	c := &cs[len(cs)-1]
	c.State, c.StateStr, c.detail, c.need = s.st.State, s.st.State.String(), s.st.Reason, need
	c.Weight, c.value, c.Tier, c.reason, c.group = s.weight, s.value, s.tier, s.reason, s.key.group
	return cs
}

// unknownStatus is the status of an endpoint the monitor does not know: off.
var unknownStatus monitor.EndpointStatus

// params lists the request parameters the endpoint must support under
// require_parameters, from what the request sets.
func (req *Request) params(buf []string) []string {
	buf = buf[:0]
	if req.MaxTokens > 0 {
		buf = append(buf, "max_tokens")
	}
	if req.Temperature != nil {
		buf = append(buf, "temperature")
	}
	return append(buf, req.Params...)
}

// planInto orders the endpoints of one model for a request, from one
// snapshot of their health, into p. Every endpoint ends up either in p.order
// or excluded with its reason.
func (r *Router) planInto(p *plan, eps []Endpoint, req *Request, prefs *Preferences, snap *monitor.Snapshot) {
	p.slots, p.order = p.slots[:0], p.order[:0]
	var pbuf [8]string
	params := req.params(pbuf[:0])
	soft := softParams(eps, params)
	a := asks{params: params, tokens: req.tokensNeeded(), images: req.hasImages(), logprobs: wantsLogprobs(params), filters: prefs.filters()}
	p.need = a.tokens
	now := r.opts.Clock.Now()
	cutoffs := !prefs.PreferredMinThroughput.IsZero() || !prefs.PreferredMaxLatency.IsZero()
	for i := range eps {
		e := &eps[i] // an Endpoint is a few hundred bytes: not copied per request
		st := snap.StatusNear(e.at, e.ID)
		if st == nil {
			st = &unknownStatus
		}
		p.slots = append(p.slots, slot{e: e, st: st})
		s := &p.slots[len(p.slots)-1]
		k := &s.key
		k.orderPos = len(prefs.Order)
		if len(prefs.Order) > 0 {
			if i := orderIndex(prefs.Order, e); i >= 0 {
				k.orderPos = i
			}
		}
		why, out := excluded(e, st, prefs, k.orderPos < len(prefs.Order), &a)
		if !out && !supportsAll(e.Parameters, soft) {
			why, out = excludedSoft, true
		}
		if out {
			s.tier, s.reason, k.group = TierSkipped, why, groupExcluded
			s.value = excludedFigure(why, e)
		} else {
			k.group = healthGroup(st, snap)
			if prefs.Sort.By != "" && k.group == groupDegraded {
				// A sort is strict among the endpoints that are not out:
				// degraded still answers, so it keeps its place by the key.
				k.group = groupHealthy
			}
			var silent time.Duration
			if k.group < groupRecovered {
				if silent = Silent(st, now); silent > 0 {
					k.group = groupUnanswered
				}
			}
			k.lastResort = k.group >= groupDown
			k.slow = cutoffs && missesCutoffs(st, prefs)
			s.tier = TierPreferred
			if k.group != groupHealthy || k.slow {
				s.tier = TierFallback
			}
			if k.group == groupRecovered {
				s.value = snap.At.Sub(st.LastOutage).Seconds()
			}
			if prefs.Sort.By != "" {
				k.value = sortValue(prefs.Sort.By, e, st)
				s.value = k.value
			} else {
				k.value = e.cand.Price
			}
			if silent > 0 {
				s.value = silent.Seconds()
			}
		}
	}
	if prefs.Sort.By == "" && len(prefs.Order) == 0 {
		r.drawHealthy(p)
	}
	for i := range p.slots {
		if p.slots[i].key.group != groupExcluded {
			p.order = append(p.order, i)
		}
	}
	p.sort()
	if !prefs.Fallbacks() && len(prefs.Order) == 0 && len(p.order) > 1 {
		// OpenRouter: without order, allow_fallbacks false pins the
		// request to its first choice.
		for _, i := range p.order[1:] {
			s := &p.slots[i]
			s.tier, s.reason, s.key.group = TierSkipped, excludedPinned, groupExcluded
		}
		p.order = p.order[:1]
	}
	for rank, i := range p.order {
		s := &p.slots[i]
		s.reason = placement(prefs, &s.key, rank)
	}
}

// promptBytesPerToken is how many bytes of prompt the context check counts
// as one token. Tokenizers in use take about 4 bytes of English a token,
// fewer of code and of other scripts; counting 6 under-counts nearly every
// prompt, so an endpoint is left out only when the prompt surely does not
// fit. A prompt that fits the estimate but not the endpoint gets the
// provider's context-length error, and the request moves to a larger
// endpoint of the same model.
const promptBytesPerToken = 6

// messageOverheadTokens are the tokens a chat format adds per message (the
// role and separators), and once for the reply's start.
const messageOverheadTokens = 3

// ModalityImage is the input modality of images (OpenRouter's word), as
// an endpoint's InputModalities lists it.
const ModalityImage = "image"

// hasImages reports whether the prompt holds an image.
func (req *Request) hasImages() bool {
	return slices.ContainsFunc(req.Messages, func(m provider.Message) bool { return m.HasImage() })
}

// wantsLogprobs reports whether the request's parameters ask for log
// probabilities.
func wantsLogprobs(params []string) bool {
	return slices.Contains(params, "logprobs") || slices.Contains(params, "top_logprobs")
}

// incapable is the caller's error when every candidate of cs is excluded
// for what its endpoint cannot do (take images, give logprobs): no
// provider of the models can serve the request, whatever their health.
// It is nil otherwise.
func incapable(cs []Candidate, models []string) *Error {
	if len(cs) == 0 || slices.ContainsFunc(cs, func(c Candidate) bool { return c.reason != excludedNoImages && c.reason != excludedNoProbs }) {
		return nil
	}
	names := strings.Join(models, " or ")
	if cs[0].reason == excludedNoImages {
		return badRequest("messages", "the prompt has images, and no provider of %s takes them; send text only, or a model "+
			`with an endpoint whose input_modalities lists "image"`, names)
	}
	return badRequest("logprobs", "no provider of %s gives log probabilities; leave logprobs and top_logprobs out, or "+
		`use a model with an endpoint whose supported_parameters lists "logprobs"`, names)
}

// tokensNeeded estimates, from below, the context a request takes: its
// prompt's tokens (see promptBytesPerToken) plus max_tokens.
func (req *Request) tokensNeeded() int {
	return PromptTokens(req.Messages, req.Tools) + req.MaxTokens
}

// PromptTokens estimates, from below, the tokens of a prompt of msgs
// offering tools, as the plan counts them against an endpoint's context
// length (see promptBytesPerToken): an estimate, not any tokenizer's
// count. A tool's name, description and schema are text the model reads.
func PromptTokens(msgs []provider.Message, tools []provider.Tool) int {
	n := messageOverheadTokens
	for _, m := range msgs {
		b := len(m.Text()) + len(m.Reasoning)
		for _, c := range m.ToolCalls {
			b += len(c.Name) + len(c.Arguments)
		}
		n += messageOverheadTokens + b/promptBytesPerToken
	}
	for _, t := range tools {
		n += (len(t.Name) + len(t.Description) + len(t.Parameters)) / promptBytesPerToken
	}
	return n
}

// drawHealthy orders the healthy, preferred candidates by OpenRouter's
// default: a draw without replacement, weighted by the inverse square of
// price. A candidate's Weight is its chance of being drawn first.
//
// The draw is Efraimidis and Spirakis': each candidate's key is an
// exponential variate over its weight, and the order is the keys' (the
// sort in planInto puts them in it). The smallest of independent
// exponentials is each one's with the chance of its rate among them all,
// and, as they have no memory, so is the next among those left: the
// order is the one drawing one at a time gives, in one pass and without
// drawing from a shrinking list (quadratic in the candidates).
func (r *Router) drawHealthy(p *plan) {
	var sum float64
	for i := range p.slots {
		if k := &p.slots[i].key; k.group == groupHealthy && !k.slow {
			k.value = invSquare(k.value) // the price, as planInto keys it: now the weight
			sum += k.value
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p.slots {
		if k := &p.slots[i].key; k.group == groupHealthy && !k.slow {
			w := k.value
			p.slots[i].weight = w / sum
			k.value = r.rng.ExpFloat64() / w
		}
	}
}

// orderIndex returns the position of the first entry of list naming e: a
// provider slug names all its endpoints, "slug/variant" only that one. It
// serves provider.order, only and ignore alike.
func orderIndex(list []string, e *Endpoint) int {
	for i, o := range list {
		slug, variant, hasVariant := strings.Cut(o, "/")
		if slug == e.Provider && (!hasVariant || variant == e.Variant) {
			return i
		}
	}
	return -1
}

// asks is what a request needs of an endpoint, read once for all of them.
type asks struct {
	params   []string // the parameters set (see Request.params)
	tokens   int      // the context it takes, at least (see tokensNeeded)
	images   bool     // the prompt has images
	logprobs bool     // log probabilities are asked for
	filters  bool     // the preferences filter by more than health and context (see Preferences.filters)
}

// filters reports whether p sets any of the filters excluded applies
// besides what every request has (the endpoint on, the context length): a
// request without them, nearly every one, skips those checks.
func (p *Preferences) filters() bool {
	m := &p.MaxPrice
	return len(p.Only) > 0 || len(p.Ignore) > 0 || len(p.Quantizations) > 0 || p.RequireParameters ||
		p.DataCollection == "deny" || (p.ZDR != nil && *p.ZDR) || (p.EnforceDistillableText != nil && *p.EnforceDistillableText) ||
		m.Prompt != nil || m.Completion != nil || m.Request != nil || m.Image != nil || (!p.Fallbacks() && len(p.Order) > 0)
}

// excluded applies the hard filters, in the order a user would look for them.
func excluded(e *Endpoint, st *monitor.EndpointStatus, p *Preferences, listed bool, a *asks) (reason, bool) {
	switch {
	// What it cannot do comes first: when that leaves nothing, the
	// request is the caller's error (see incapable).
	case a.images && !slices.Contains(e.InputModalities, ModalityImage):
		return excludedNoImages, true
	case a.logprobs && !slices.Contains(e.Parameters, "logprobs"):
		return excludedNoProbs, true
	case !st.Enabled || st.State == monitor.Disabled:
		return excludedOff, true
	case !a.filters: // none of the next: only the context is left to check
	case len(p.Only) > 0 && orderIndex(p.Only, e) < 0:
		return excludedOnly, true
	case orderIndex(p.Ignore, e) >= 0:
		return excludedIgnored, true
	case len(p.Quantizations) > 0 && !slices.Contains(p.Quantizations, quantization(e)):
		return excludedQuant, true
	case p.RequireParameters && !supportsAll(e.Parameters, a.params):
		return excludedParams, true
	case p.DataCollection == "deny" && e.StoresData:
		return excludedData, true
	case p.ZDR != nil && *p.ZDR && !e.ZDR:
		return excludedZDR, true
	case p.EnforceDistillableText != nil && *p.EnforceDistillableText && !e.Distillable:
		return excludedDistill, true
	case p.MaxPrice.Prompt != nil && e.PriceIn > *p.MaxPrice.Prompt:
		return excludedPrompt, true
	case p.MaxPrice.Completion != nil && e.PriceOut > *p.MaxPrice.Completion:
		return excludedComplete, true
	case p.MaxPrice.Request != nil && e.PriceRequest > *p.MaxPrice.Request:
		return excludedRequest, true
	case p.MaxPrice.Image != nil && e.PriceImage > *p.MaxPrice.Image:
		return excludedImage, true
	case !p.Fallbacks() && len(p.Order) > 0 && !listed:
		return excludedNotInList, true
	}
	if e.ContextLength > 0 && a.tokens > e.ContextLength {
		return excludedContext, true
	}
	return 0, false
}

// excludedFigure is the figure an exclusion's reason speaks of, if any.
func excludedFigure(why reason, e *Endpoint) float64 {
	switch why {
	case excludedRequest:
		return e.PriceRequest
	case excludedImage:
		return e.PriceImage
	}
	return 0
}

// Excludes says why the preferences leave the endpoint out whatever the
// request, in the words of a trace, or "" when they do not: the filters
// that need no health and no request (only, ignore, order without
// fallbacks, quantizations, data policies, prices). Configuration uses it
// to check a model's defaults leave some endpoint.
func (p *Preferences) Excludes(e *Endpoint) string {
	on := monitor.EndpointStatus{Enabled: true}
	why, out := excluded(e, &on, p, orderIndex(p.Order, e) >= 0, &asks{filters: p.filters()})
	if !out {
		return ""
	}
	c := candidateOf(e)
	c.reason, c.value = why, excludedFigure(why, e)
	return c.why(p, 0)
}

// candidateOf is e's Candidate as far as the endpoint alone says it:
// where every plan's begins (Endpoint.cand), its prices' words written.
func candidateOf(e *Endpoint) Candidate {
	c := Candidate{Endpoint: e.ID, Provider: e.Provider, Model: e.Model, Price: e.Price(), quant: quantization(e),
		priceIn: e.PriceIn, priceOut: e.PriceOut, contextLength: e.ContextLength}
	c.priceWords = c.prices()
	return c
}

func quantization(e *Endpoint) string {
	if e.Quantization == "" {
		return "unknown"
	}
	return e.Quantization
}

// softFiltered are the parameters that send a request only to the
// endpoints that list them, when any endpoint of the model does, even
// without require_parameters: OpenRouter's soft filters.
var softFiltered = []string{"tools", "response_format"}

// softParams returns those of params that are soft-filtered and that some
// endpoint of eps lists.
func softParams(eps []Endpoint, params []string) []string {
	var soft []string
	for _, p := range softFiltered {
		if slices.Contains(params, p) && slices.ContainsFunc(eps, func(e Endpoint) bool { return slices.Contains(e.Parameters, p) }) {
			soft = append(soft, p)
		}
	}
	return soft
}

func supportsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// healthGroup ranks an eligible endpoint by health: healthy first, degraded
// next, then recently down, then down (breaker open) as a last resort, and
// cooling down only when nothing else is left.
func healthGroup(st *monitor.EndpointStatus, snap *monitor.Snapshot) group {
	switch {
	case st.State == monitor.CoolingDown:
		return groupCooling
	case st.State == monitor.Down:
		return groupDown
	case st.RecentOutage(snap.At, snap.OutageWindow):
		return groupRecovered
	case st.State == monitor.Degraded:
		return groupDegraded
	}
	return groupHealthy
}

// unansweredFloor is the shortest silence for which an endpoint with
// attempts in flight is suspected of taking requests and not answering.
const unansweredFloor = 500 * time.Millisecond

// Silent is how long the endpoint of st has kept attempts waiting without
// any answer (see monitor.EndpointStatus.Unanswered), when that is more
// than twice its p99 time to first token (and unansweredFloor): a provider
// that went silent, found out well before the first of its requests
// reaches its deadline (the planner puts it after the others, hedges pass
// it over). Once nothing has waited on it for as long again, doubled for
// every further time all its attempts ended unanswered, it is no longer
// suspected, and the next request finds out again: placed after the
// others, an endpoint gets no attempt that could answer, and one that
// answers most requests (a few of its first tokens late, lost to hedges)
// stayed suspected until everything planned before it failed. A provider
// still silent is passed over for twice as long each time, as a breaker
// backs off. Where the monitor probes the endpoint, an attempt given up at
// its norm has the prober send a completion at once, which it owes an
// answer too: passed over while that waits, the endpoint is found out by
// the probe (answered, or timed out and its breaker open), not by the
// next caller. 0 otherwise, and for an endpoint without figures to be far
// past.
func Silent(st *monitor.EndpointStatus, now time.Time) time.Duration {
	d := st.Unanswered(now)
	if d <= unansweredFloor { // nearly always: read nothing more
		return 0
	}
	p99 := max(st.TTFT.P99, st.TTFT30m.P99)
	if p99 <= 0 || d <= 2*p99 {
		return 0
	}
	if idle, times := st.Idle(now); idle > 0 && idle >= d<<min(max(times-1, 0), 20) {
		return 0
	}
	return d
}

// missesCutoffs reports whether the endpoint's live figures miss any of the
// preferred throughput or latency cutoffs. Without data there is nothing to
// miss.
func missesCutoffs(st *monitor.EndpointStatus, p *Preferences) bool {
	tp, lat := st.Throughput, st.TTFT
	if st.Successes == 0 {
		tp, lat = st.Throughput30m, st.TTFT30m
	}
	below := func(cut *float64, v float64) bool { return cut != nil && v >= 0 && v < *cut }
	above := func(cut *float64, d time.Duration) bool { return cut != nil && d > 0 && d.Seconds() > *cut }
	t, l := &p.PreferredMinThroughput, &p.PreferredMaxLatency
	return below(t.P50, tp.P50) || below(t.P75, tp.P75) || below(t.P90, tp.P90) || below(t.P99, tp.P99) ||
		above(l.P50, lat.P50) || above(l.P75, lat.P75) || above(l.P90, lat.P90) || above(l.P99, lat.P99)
}

// sortValue is the endpoint's value for a sort, lower first; an endpoint
// without live figures sorts after those with them.
func sortValue(by string, e *Endpoint, st *monitor.EndpointStatus) float64 {
	switch by {
	case SortThroughput:
		if v := liveThroughput(st); v > 0 {
			return -v
		}
	case SortLatency:
		if d := liveTTFT(st); d > 0 {
			return d.Seconds()
		}
	default:
		return e.Price()
	}
	return math.Inf(1)
}

func liveThroughput(st *monitor.EndpointStatus) float64 {
	if st.Throughput.P50 > 0 {
		return st.Throughput.P50
	}
	return st.Throughput30m.P50
}

func liveTTFT(st *monitor.EndpointStatus) time.Duration {
	if st.TTFT.P50 > 0 {
		return st.TTFT.P50
	}
	return st.TTFT30m.P50
}

// placement says why an ordered candidate is where it is.
func placement(p *Preferences, k *planKey, rank int) reason {
	switch {
	case k.group == groupCooling:
		return placedCooling
	case k.group == groupDown:
		return placedDown
	case k.slow:
		return placedSlow
	case k.orderPos < len(p.Order):
		return placedOrder
	case k.group == groupUnanswered:
		return placedUnanswered
	case p.Sort.By != "" && k.group == groupRecovered:
		return placedSortedLate
	case p.Sort.By != "":
		return placedSorted
	case k.group == groupRecovered:
		return placedRecovered
	case k.group == groupDegraded:
		return placedDegraded
	case len(p.Order) > 0:
		return placedByPrice
	case rank == 0:
		return placedPicked
	}
	return placedBackup
}

// why writes a candidate's reason in plain words.
func (c *Candidate) why(p *Preferences, healthy int) string {
	switch c.reason {
	case placedPicked, placedBackup:
		return string(c.appendWhy(nil, p, healthy))
	case placedOrder:
		return "listed in provider.order"
	case placedSorted:
		return fmt.Sprintf("sorted by %s: %s", p.Sort.By, c.sortFigure(p.Sort.By))
	case placedSortedLate:
		return fmt.Sprintf("sorted by %s: %s, after those without a recent outage", p.Sort.By, c.sortFigure(p.Sort.By))
	case placedByPrice:
		return fmt.Sprintf("not in provider.order: cheapest first, %s", c.prices())
	case placedDegraded, placedDown, placedCooling:
		return c.detail
	case placedRecovered:
		return fmt.Sprintf("outage %s ago", human.Duration(time.Duration(c.value*float64(time.Second))))
	case placedUnanswered:
		return fmt.Sprintf("no answer for %s to requests sent to it, far past its usual first token: after the others until it answers, or is left alone as long",
			human.Duration(time.Duration(c.value*float64(time.Second)).Round(time.Millisecond)))
	case placedSlow:
		return "misses a preferred throughput or latency cutoff: moved to the end"
	case excludedOff:
		return cmp.Or(c.detail, "turned off") // the monitor's words say by whom
	case excludedOnly:
		return "not in provider.only"
	case excludedIgnored:
		return "in provider.ignore"
	case excludedQuant:
		return fmt.Sprintf("quantization %s not in provider.quantizations", c.quant)
	case excludedParams:
		return "does not support every parameter of the request (require_parameters)"
	case excludedSoft:
		return "does not list tools or response_format among its parameters, and another endpoint of the model does"
	case excludedData:
		return "may store or train on prompts (data_collection: deny)"
	case excludedPrompt:
		return fmt.Sprintf("prompt price over max_price.prompt ($%.2f/M)", c.priceIn)
	case excludedComplete:
		return fmt.Sprintf("completion price over max_price.completion ($%.2f/M)", c.priceOut)
	case excludedRequest:
		return fmt.Sprintf("price per request over max_price.request ($%g)", c.value)
	case excludedImage:
		return fmt.Sprintf("price per image over max_price.image ($%g)", c.value)
	case excludedZDR:
		return "keeps request data (zdr asks for zero data retention)"
	case excludedDistill:
		return "its output may not be used for distillation (enforce_distillable_text)"
	case excludedNotInList:
		return "not in provider.order, and allow_fallbacks is false"
	case excludedPinned:
		return "allow_fallbacks is false: only the first choice is tried"
	case excludedContext:
		return fmt.Sprintf("context of %d tokens is too short: the prompt (at least %d tokens with max_tokens) does not fit", c.contextLength, c.need)
	case excludedNoImages:
		return `does not take images (its input_modalities has no "image")`
	case excludedNoProbs:
		return "does not give logprobs (its supported_parameters has no \"logprobs\")"
	}
	return ""
}

// appendWhy appends why the candidate is where it is to b, as why says it.
// The placements of the weighted draw, which nearly every request explains
// for most of its candidates, are written straight into b: a Sprintf each,
// with its own string, was most of the trace's cost.
func (c *Candidate) appendWhy(b []byte, p *Preferences, healthy int) []byte {
	switch c.reason {
	case placedPicked:
		b = append(b, "drawn at random among "...)
		b = strconv.AppendInt(b, int64(healthy), 10)
		b = append(b, " healthy: "...)
		b = append(appendChance(b, c.Weight), " chance, "...)
		return c.appendPrices(b)
	case placedBackup:
		b = append(appendChance(append(b, "backup: "...), c.Weight), " chance to be drawn first, "...)
		return c.appendPrices(b)
	}
	return append(b, c.why(p, healthy)...)
}

// prices are the candidate's prices as a price list shows them, input
// and output apart: their sum is no price anyone pays.
func (c *Candidate) prices() string { return string(c.appendPrices(nil)) }

// appendPrices appends the prices ("$0.59/$0.79 per M") to b: written
// once per endpoint (see New), as nearly every request's trace has them
// for every candidate.
func (c *Candidate) appendPrices(b []byte) []byte {
	if c.priceWords != "" {
		return append(b, c.priceWords...)
	}
	b = strconv.AppendFloat(append(b, '$'), c.priceIn, 'f', 2, 64)
	b = strconv.AppendFloat(append(b, "/$"...), c.priceOut, 'f', 2, 64)
	return append(b, " per M"...)
}

// sortFigure is the figure a sort placed the candidate by.
func (c *Candidate) sortFigure(by string) string {
	switch v := c.value; {
	case math.IsInf(v, 1):
		return "no data yet"
	case by == SortThroughput:
		return fmt.Sprintf("%.0f tokens/s", -v)
	case by == SortLatency:
		return "first token " + human.Duration(time.Duration(v*float64(time.Second)))
	}
	return c.prices()
}

// appendChance appends a chance of being drawn first as a percentage; a
// real but tiny one is not 0%.
func appendChance(b []byte, w float64) []byte {
	if w > 0 && w < 0.01 {
		return append(b, "<1%"...)
	}
	return append(strconv.AppendFloat(b, w*100, 'f', 0, 64), '%')
}
