package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/human"
	"switchboard/provider"
)

// Hedge asks for a second attempt to race the first when the first is slow
// to its first token. Opt in per request or per model.
type Hedge struct {
	Enabled bool `json:"enabled"`
	// After is how long the first endpoint has to stream its first token
	// before the next one starts too; zero means that endpoint's own p95
	// time to first token.
	After time.Duration `json:"after,omitempty"`
}

// defaultHedgeAfter is the wait when neither the request nor the endpoint's
// figures say: no first token measured yet.
const defaultHedgeAfter = 2 * time.Second

// hedgeWait is how long a first attempt waits for its first token before
// its hedge starts, and why.
type hedgeWait struct {
	after time.Duration
	from  hedgeFrom
}

// hedgeFrom is what a hedge's wait was read from.
type hedgeFrom uint8

const (
	fromP95      hedgeFrom = iota // the endpoint's p95 time to first token
	fromRequest                   // the request's (or the model's) after
	fromNoFigure                  // nothing measured: defaultHedgeAfter
)

// why says, for the hedge's trace, how long the first attempt (at
// provider) was waited for and why: written only for a hedge that started.
func (w hedgeWait) why(provider string) string {
	switch w.from {
	case fromRequest:
		return fmt.Sprintf("waited %s for %s's first token, as asked", human.Duration(w.after), provider)
	case fromNoFigure:
		return fmt.Sprintf("waited %s for %s's first token: none measured yet", human.Duration(w.after), provider)
	}
	return fmt.Sprintf("waited %s for %s's first token: its p95", human.Duration(w.after), provider)
}

// hedgeAfter decides whether this attempt at e gets a hedge, and after how
// long: any attempt before the answer began (after a failure that came at
// once, the next is as likely to be slow as the first), never a resumed
// stream or a last resort, until a hedge has started once. A zero after
// means no hedge. The p95 is the run's snapshot's, as the hedge's partner
// and a stall hedge's wait are.
func (x *run) hedgeAfter(e *Endpoint, lastResort bool) hedgeWait {
	h := x.req.Hedge
	if h == nil || !h.Enabled || lastResort || x.hedged || x.begun {
		return hedgeWait{}
	}
	if h.After > 0 {
		return hedgeWait{after: h.After, from: fromRequest}
	}
	if st := x.snap.Status(e.ID); st != nil {
		if p95 := measured(st.TTFT.P95, st.TTFT30m.P95); p95 > 0 {
			return hedgeWait{after: p95}
		}
	}
	return hedgeWait{after: defaultHedgeAfter, from: fromNoFigure}
}

// measured is a figure of the window, d, or, when the window has none
// (monitor.NoData, below zero, which cmp.Or would take), of 30 minutes.
func measured(d, of30m time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return of30m
}

// hedgeOrder is the order in which the endpoints of leg l from from on are
// asked to take a hedge: the plan's, or, where the plan is the default
// policy's (leg.bySpeed), the quickest to a first token first (its p50,
// of the window, else of 30 minutes) among those equally healthy, the
// plan's order among equals and those not yet measured last. The plan put
// the cheapest first; a hedge is there to be quick. Hedges are few, so the
// copy and the sort cost the hedged requests alone.
//
// Equally healthy as a hedge sees it (hedgeGroup): an endpoint back from
// an outage within the outage window counts as healthy. The plan puts it
// after the degraded (OpenRouter's rule: a request's first try should not
// land where an outage may come back), but a hedge risks little there,
// as the attempt it races goes on, while a degraded endpoint fails its
// answers more often, and a hedge that won its race and then fails (a
// stall, a cut) costs the answer a third endpoint.
func (x *run) hedgeOrder(l *leg, from int) []*Endpoint {
	es := l.order[from:]
	if !l.bySpeed || len(es) < 2 {
		return es
	}
	type keyed struct {
		e     *Endpoint
		group group
		ttft  time.Duration
	}
	ks := make([]keyed, len(es))
	for i, e := range es {
		ks[i] = keyed{e: e, group: hedgeGroup(x.t.candidate(e.ID).group), ttft: time.Duration(math.MaxInt64)}
		if st := x.snap.Status(e.ID); st != nil {
			if d := measured(st.TTFT.P50, st.TTFT30m.P50); d > 0 {
				ks[i].ttft = d
			}
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.ttft, b.ttft))
	})
	out := make([]*Endpoint, len(ks))
	for i, k := range ks {
		out[i] = k.e
	}
	return out
}

// hedgeGroup is g as hedgeOrder ranks it: back from an outage is healthy.
func hedgeGroup(g group) group {
	if g == groupRecovered {
		return groupHealthy
	}
	return g
}

// errLostRace ends an attempt that lost a race (a first-token hedge's, or
// a stall hedge's) before it handed on anything: given up on by the
// router, not by its caller. It is recorded as canceled, which the monitor
// counts neither as a failure nor as an answer.
var errLostRace = errors.New("lost the race: another handed on the answer's next piece first")

// race runs the first endpoint and, if it has streamed no token by
// wait.after, the one partner finds as well (partner admits it, at that
// moment; when the budget has none, it is asked again after as long again,
// for as long as the first waits, and when partner has none, after twice
// as long as the last wait each time); a
// hedge that fails before its first token while the first still waits is
// replaced by the next partner finds. A hedge adds to the load on the fleet
// for a moment, so each comes out of the router's hedge budget. The first
// to stream a token (of its answer or of its reasoning) wins the caller's
// stream and the other is canceled. Every attempt goes into the trace (the
// hedges marked so); the result is the winner's, or, if neither streamed,
// the one that failed last.
func (r *Router) race(ctx context.Context, t *Trace, first Endpoint, gen uint64, wait hedgeWait, req Request, onDelta OnDelta,
	partner func() (Endpoint, uint64, bool)) attemptResult {
	var mu sync.Mutex
	winner := -1
	var cancels [2]context.CancelCauseFunc
	var eps [2]Endpoint
	type done struct {
		i  int
		ar attemptResult
	}
	results := make(chan done, 2)
	// Only the winner's content reaches the caller, so only the winner
	// commits: the attempts themselves are not told.
	onCommit := req.OnCommit
	req.OnCommit = nil
	start := func(i int, e Endpoint, gen uint64) {
		actx, cancel := context.WithCancelCause(ctx)
		deliver := onDelta
		if onDelta != nil && onCommit != nil {
			deliver = committing(onCommit, e, onDelta)
		}
		mu.Lock()
		cancels[i], eps[i] = cancel, e
		mu.Unlock()
		go func() {
			// The first token wins, a reasoning model's thinking included.
			claim := func() bool {
				mu.Lock()
				defer mu.Unlock()
				if winner < 0 {
					winner = i
					if c := cancels[1-i]; c != nil {
						c(errLostRace)
					}
				}
				return winner == i
			}
			// A caller that wants the whole answer gets no deltas; the
			// first token, of any kind, claims the race all the same.
			var each OnDelta
			if deliver != nil {
				each = func(d Delta) {
					if claim() {
						deliver(d)
					}
				}
			}
			ar := r.attempt(actx, e, gen, req, each, func() { claim() })
			cancel(nil)
			results <- done{i, ar}
		}()
	}

	start(0, first, gen)
	began, hedgedAt := r.opts.Clock.Now(), time.Time{}
	timer, stop := r.opts.Clock.NewTimer(wait.after)
	defer func() { stop() }()
	var refused refusals // asks for the hedge that found none (every ask but the one that started it)
	var late refusals    // those before the hedge started, if one did
	alone := 0           // asks in a row that found no endpoint to race
	streaming := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return winner >= 0
	}
	var got [2]*attemptResult
	var replaced []Attempt // hedges that failed before their first token, each replaced by the next
	running, hedged := 1, false
	for running > 0 {
		select {
		case <-timer:
			if streaming() || got[0] != nil {
				break
			}
			next := wait.after
			switch r.askHedge(partner, start, &refused) {
			case hedgeStarted:
				hedged, running, hedgedAt = true, running+1, r.opts.Clock.Now()
				late = refused
				continue
			case hedgeNoBudget:
				// The first waits on, likelier stuck the longer it waits:
				// ask again after as long again.
				alone = 0
			case hedgeNoPartner:
				// None may take one until a breaker admits one again, or
				// a cooldown ends: ask again after twice as long as the
				// last wait, not every after (a short after, with one
				// endpoint, would ask thousands of times a request).
				alone++
				next = wait.after << min(alone, maxAloneDoublings)
			}
			stop()
			timer, stop = r.opts.Clock.NewTimer(next)
		case res := <-results:
			running--
			if res.i == 1 && res.ar.err != nil && res.ar.err.Class != provider.ClassCanceled && got[0] == nil && !streaming() {
				// The hedge failed at once (a 503, a refused connection)
				// while the first still waits for its first token: the
				// next partner races in its place. One that failed sooner
				// than the first had been given cost the fleet no more than
				// a refusal, and gives its hedge back to the budget.
				if res.ar.a.Duration < wait.after {
					r.hedges.giveBack()
				}
				if r.askHedge(partner, start, &refused) == hedgeStarted {
					res.ar.a.Hedge = true
					replaced = append(replaced, res.ar.a)
					running++
					continue
				}
			}
			got[res.i] = &res.ar
		}
	}
	t.HedgesDenied += refused.budget
	if !hedged {
		if refused != (refusals{}) {
			got[0].a.Unhedged = wait.why(first.Provider) + "; no hedge: " + refused.words()
		}
		t.Attempts = append(t.Attempts, got[0].a)
		return *got[0]
	}
	got[1].a.Hedge = true
	why := wait.why(first.Provider)
	if late != (refusals{}) {
		why += fmt.Sprintf("; then %s more: %s", human.Duration(hedgedAt.Sub(began)-wait.after), late.words())
	}
	if len(replaced) > 0 {
		replaced[0].Waited = why
	} else {
		got[1].a.Waited = why
	}
	w := 1
	switch {
	case winner >= 0:
		w = winner
		if lost := got[1-winner]; lost.err != nil && lost.err.Class == provider.ClassCanceled {
			lost.a.Error = "lost the race: the other streamed first"
			if ctx.Err() == nil {
				got[w].outraced = lost.e.ID // it did not fail: it may have another go
			}
		}
	case got[0].a.Start.Add(got[0].a.Duration).After(got[1].a.Start.Add(got[1].a.Duration)):
		w = 0
	}
	got[w].hedged = true
	t.Attempts = append(t.Attempts, got[0].a)
	t.Attempts = append(t.Attempts, replaced...)
	t.Attempts = append(t.Attempts, got[1].a)
	return *got[w]
}

// maxAloneDoublings bounds how far the wait between asks for a hedge that
// found no endpoint to race grows: 64 times the hedge's after.
const maxAloneDoublings = 6

// hedgeAsk is what asking for a hedge came to.
type hedgeAsk uint8

const (
	hedgeStarted   hedgeAsk = iota
	hedgeNoBudget           // the hedge budget had none to spare
	hedgeNoPartner          // no endpoint could take one
)

// refusals counts the asks for a hedge that started none, by why.
type refusals struct{ budget, partner int }

// words says why asks for a hedge started none: "the hedge budget had
// none to spare", "no other endpoint could take one", each with how
// often when more than once.
func (f refusals) words() string {
	var ws []string
	for _, n := range []struct {
		times int
		why   string
	}{{f.budget, "the hedge budget had none to spare"}, {f.partner, "no other endpoint could take one"}} {
		switch {
		case n.times == 1:
			ws = append(ws, n.why)
		case n.times > 1:
			ws = append(ws, fmt.Sprintf("%s, asked %d times", n.why, n.times))
		}
	}
	return strings.Join(ws, "; ")
}

// askHedge starts the hedge if the budget has one left and partner finds
// an endpoint, and counts a refusal in refused; a hedge taken from the
// budget that finds no partner goes back, so that no admission is taken
// without being used.
func (r *Router) askHedge(partner func() (Endpoint, uint64, bool), start func(int, Endpoint, uint64), refused *refusals) hedgeAsk {
	now := r.opts.Clock.Now()
	if !r.hedges.take(now) {
		refused.budget++
		return hedgeNoBudget
	}
	e, gen, ok := partner()
	if !ok {
		r.hedges.giveBack()
		refused.partner++
		return hedgeNoPartner
	}
	start(1, e, gen)
	return hedgeStarted
}

// hedgeShare is the share of the requests that may be hedged that the
// hedge budget grows by: one hedge for every five such requests, on top of
// Options.HedgesPerSecond, as Finagle's retry budget allows 20% more
// requests. A hedge at an endpoint's p95 is wanted by one attempt in
// twenty where the fleet is well, several times as many where it is not;
// a fixed rate alone would stop hedging at a few requests a second.
const hedgeShare = 0.2

// hedgeBudget is the hedges the router may start, across all requests: a
// bucket that fills at perSecond, and by hedgeShare of a hedge with every
// request that may be hedged, holding at most most. (golang.org/x/time/rate,
// which this was, fills its bucket with time alone.) A fleet that turns
// slow all at once gets a few hedges at once, then at most its share more
// load, never twice the load.
type hedgeBudget struct {
	mu         sync.Mutex
	perSecond  float64
	most       float64
	tokens     float64
	at         time.Time // when tokens was last filled
	perRequest float64
}

func newHedgeBudget(perSecond float64) *hedgeBudget {
	most := max(5, perSecond)
	return &hedgeBudget{perSecond: perSecond, most: most, tokens: most, perRequest: hedgeShare}
}

// fill adds what the time since the last fill earned. b.mu is held.
func (b *hedgeBudget) fill(now time.Time) {
	if !b.at.IsZero() && now.After(b.at) {
		b.tokens = min(b.most, b.tokens+now.Sub(b.at).Seconds()*b.perSecond)
	}
	if now.After(b.at) {
		b.at = now
	}
}

// request adds a request that may be hedged's share.
func (b *hedgeBudget) request(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fill(now)
	b.tokens = min(b.most, b.tokens+b.perRequest)
}

// take takes one hedge, if there is one.
func (b *hedgeBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fill(now)
	if b.tokens < 1-1e-9 { // five fifths make a hedge, whatever their sum in floating point
		return false
	}
	b.tokens--
	return true
}

// giveBack returns a hedge taken and not used.
func (b *hedgeBudget) giveBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.most, b.tokens+1)
}
