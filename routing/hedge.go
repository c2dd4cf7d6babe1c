package routing

import (
	"context"
	"sync"
	"time"

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
// figures say: no p95 to go by yet.
const defaultHedgeAfter = 2 * time.Second

// hedgeAfter decides whether this attempt at e gets a hedge, and after how
// long: only the request's first attempt, never a retry, a resumed stream
// or a last resort, at most once a request. 0 means no hedge.
func (x *run) hedgeAfter(e *Endpoint, notFirst bool) time.Duration {
	h := x.req.Hedge
	if h == nil || !h.Enabled || notFirst || x.hedged || x.begun || len(x.t.Attempts) > 0 {
		return 0
	}
	x.hedged = true
	if h.After > 0 {
		return h.After
	}
	if st := x.r.opts.Health.Snapshot().Status(e.ID); st != nil {
		switch {
		case st.TTFT.P95 > 0:
			return st.TTFT.P95
		case st.TTFT30m.P95 > 0:
			return st.TTFT30m.P95
		}
	}
	return defaultHedgeAfter
}

// race runs the first endpoint and, if it has streamed no token by after,
// the one partner finds as well (partner admits it, at that moment). A
// hedge doubles the load on the fleet for a moment, so there are at most
// Options.HedgesPerSecond of them. The first to stream a token (of its
// answer or of its reasoning) wins the caller's stream and the other is
// canceled. Both attempts go into the trace (the second marked as a
// hedge); the result is the winner's, or, if neither streamed, the one that
// failed last.
func (r *Router) race(ctx context.Context, t *Trace, first Endpoint, gen uint64, after time.Duration, req Request, onDelta OnDelta,
	partner func() (Endpoint, uint64, bool)) attemptResult {
	var mu sync.Mutex
	winner := -1
	var cancels [2]context.CancelFunc
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
		actx, cancel := context.WithCancel(ctx)
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
						c()
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
			cancel()
			results <- done{i, ar}
		}()
	}

	start(0, first, gen)
	timer, stop := r.opts.Clock.NewTimer(after)
	defer stop()
	var got [2]*attemptResult
	running, hedged := 1, false
	for running > 0 {
		select {
		case <-timer:
			mu.Lock()
			streaming := winner >= 0
			mu.Unlock()
			if !streaming && got[0] == nil && r.hedgeAllowed(partner, start) {
				hedged, running = true, running+1
			}
		case res := <-results:
			running--
			got[res.i] = &res.ar
		}
	}
	if !hedged {
		t.Attempts = append(t.Attempts, got[0].a)
		return *got[0]
	}
	got[1].a.Hedge = true
	if winner >= 0 && got[1-winner].err != nil && got[1-winner].err.Class == provider.ClassCanceled {
		got[1-winner].a.Error = "lost the race: the other streamed first"
	}
	t.Attempts = append(t.Attempts, got[0].a, got[1].a)
	w := 1
	switch {
	case winner >= 0:
		w = winner
	case got[0].a.Start.Add(got[0].a.Duration).After(got[1].a.Start.Add(got[1].a.Duration)):
		w = 0
	}
	got[w].hedged = true
	return *got[w]
}

// hedgeAllowed starts the hedge if the budget has one left and partner
// finds an endpoint; a token taken for a hedge that finds no partner goes
// back, so that no admission is taken without being used.
func (r *Router) hedgeAllowed(partner func() (Endpoint, uint64, bool), start func(int, Endpoint, uint64)) bool {
	now := r.opts.Clock.Now()
	res := r.hedges.ReserveN(now, 1)
	if !res.OK() || res.DelayFrom(now) > 0 {
		res.CancelAt(now)
		return false
	}
	e, gen, ok := partner()
	if !ok {
		res.CancelAt(now)
		return false
	}
	start(1, e, gen)
	return true
}
