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

// hedgePlan is a hedge that will run: the endpoint that races, and when.
type hedgePlan struct {
	e     Endpoint
	gen   uint64
	after time.Duration
}

// hedgeWith decides whether the first attempt of a request gets a hedge, and
// with which endpoint: the next admitted one. There is at most one hedge per
// request, none for retries or resumed streams, and no more hedges a second
// than Options.HedgesPerSecond allows.
func (r *Router) hedgeWith(req *Request, t *Trace, rest []admission, byID map[string]Endpoint, repeat bool) *hedgePlan {
	h := req.Hedge
	if h == nil {
		name, _ := ModelSuffix(req.Model)
		h = r.opts.Defaults[name].Hedge
	}
	if h == nil || !h.Enabled || repeat || len(t.Attempts) > 0 || len(rest) == 0 || !rest[0].ok {
		return nil
	}
	first := t.Order[0]
	after := h.After
	if after <= 0 {
		after = defaultHedgeAfter
		if st := r.opts.Health.Snapshot().Status(first); st != nil {
			switch {
			case st.TTFT.P95 > 0:
				after = st.TTFT.P95
			case st.TTFT30m.P95 > 0:
				after = st.TTFT30m.P95
			}
		}
	}
	return &hedgePlan{e: byID[rest[0].id], gen: rest[0].gen, after: after}
}

// hedgeBudget is a token bucket of hedges: a hedge doubles the load on the
// fleet for a moment, so a burst of slow answers must not double all of it.
type hedgeBudget struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

func (b *hedgeBudget) take(now time.Time, perSecond float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() {
		b.tokens = min(b.tokens+now.Sub(b.at).Seconds()*perSecond, max(perSecond, 1))
	} else {
		b.tokens = max(perSecond, 1)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// race runs the first endpoint and, if it has streamed no token by after,
// the second as well. The first to stream a token (of its answer or of its
// reasoning) wins the caller's stream and the other is canceled. Both attempts go into the trace (the second
// marked as a hedge); the result is the winner's, or, if neither streamed,
// the one that failed last.
func (r *Router) race(ctx context.Context, t *Trace, eps [2]Endpoint, gens [2]uint64, after time.Duration, req Request, onDelta OnDelta) (attemptResult, bool) {
	var mu sync.Mutex
	winner := -1
	var cancels [2]context.CancelFunc
	results := make(chan struct {
		i  int
		ar attemptResult
	}, 2)
	// Only the winner's content reaches the caller, so only the winner
	// commits: the attempts themselves are not told.
	onCommit := req.OnCommit
	req.OnCommit = nil
	start := func(i int) {
		actx, cancel := context.WithCancel(ctx)
		deliver := onDelta
		if onDelta != nil && onCommit != nil {
			deliver = committing(onCommit, eps[i], onDelta)
		}
		mu.Lock()
		cancels[i] = cancel
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
			ar := r.attempt(actx, eps[i], gens[i], req, func(s string) {
				if claim() && deliver != nil {
					deliver(s)
				}
			}, func() { claim() })
			cancel()
			results <- struct {
				i  int
				ar attemptResult
			}{i, ar}
		}()
	}

	start(0)
	timer := time.NewTimer(after)
	defer timer.Stop()
	var got [2]*attemptResult
	running, hedged := 1, false
	for running > 0 {
		select {
		case <-timer.C:
			mu.Lock()
			streaming := winner >= 0
			mu.Unlock()
			if !streaming && got[0] == nil && r.hedges.take(r.opts.Clock.Now(), r.opts.HedgesPerSecond) {
				start(1)
				hedged, running = true, running+1
			}
		case res := <-results:
			running--
			got[res.i] = &res.ar
		}
	}
	if !hedged {
		t.Attempts = append(t.Attempts, got[0].a)
		return *got[0], false
	}
	got[1].a.Hedge = true
	if winner >= 0 && got[1-winner].err != nil && got[1-winner].err.Class == provider.ClassCanceled {
		got[1-winner].a.Error = "lost the race: the other streamed first"
	}
	t.Attempts = append(t.Attempts, got[0].a, got[1].a)
	switch {
	case winner >= 0:
		return *got[winner], true
	case got[0].a.Start.Add(got[0].a.Duration).After(got[1].a.Start.Add(got[1].a.Duration)):
		return *got[0], true
	}
	return *got[1], true
}
