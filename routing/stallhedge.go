package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"switchboard/human"
	"switchboard/provider"
)

// StallHedgeFloor is the shortest silence in the middle of a streamed
// answer that starts a stall hedge: a pause of a few hundred milliseconds
// is a busy moment on the provider's side, not yet a stall.
const StallHedgeFloor = 500 * time.Millisecond

// errCarriedOnElsewhere ends an attempt whose answer a stall hedge carried
// on first: not the provider's failure (the monitor counts it canceled),
// though it was silent for far longer than it usually is.
var errCarriedOnElsewhere = errors.New("went silent mid-answer, and a stall hedge carried the answer on first")

// stallHedge races a continuation against a streamed answer that went
// silent mid-answer, for a caller who streams with hedging on. When no
// piece of the answer has reached the caller for after, the next endpoint
// that takes a prefill (and whose breaker admits it) carries the answer on
// from the text the caller has, while the silent one may still go on; the
// first to hand on a piece keeps the answer, and the others are ended.
// While the answer stays silent, another after brings another hedge (one
// can be slow to its first token too), up to maxStallHedges; a hedge that
// fails before it hands on anything is replaced at once, and not counted
// among them. A stall limit cuts a silent stream only after seconds (it
// must not cut one that is merely slow); a stall hedge bounds what a stall
// costs the caller at about after plus another endpoint's first token, and
// costs requests only when a stream goes silent. One a request; each of
// its hedges comes out of the router's hedge budget, as first-token hedges
// do.
type stallHedge struct {
	x           *run
	legIdx, pos int // where the watched endpoint is in the order
	after       time.Duration
	deliver     OnDelta                 // the caller's
	parent      context.Context         // the request's: the hedges run in it
	cancel      context.CancelCauseFunc // ends the watched attempt (a race's two included)
	done        chan struct{}           // closed when the watched attempt has ended

	mu       sync.Mutex
	sofar    strings.Builder // the content the watched attempt handed on
	pieces   int             // how many pieces it handed on: its tokens, near enough
	last     time.Time       // when it last handed one on
	watching bool            // the watch goroutine runs
	called   bool            // it handed on a tool call: no prefill carries that on
	over     bool            // the watched attempt ended: no hedge may begin
	// Once a hedge began: who hands on pieces (unclaimed, watched, or
	// hedge i), the hedges in the order they began, when the last began,
	// and how many run.
	claimed   int
	hedges    []hedgeTry
	lastBegin time.Time
	running   int
	failed    int            // hedges that failed before anyone handed on anything: replaced, not counted
	refused   refusals       // asks for a hedge that started none
	wg        sync.WaitGroup // the hedges' goroutines
}

// Who has the answer once a stall hedge began: nobody yet, the watched
// attempt, or a hedge (its index).
const (
	unclaimed = -2
	watched   = -1
)

// maxStallHedges is how many hedges one silence may begin, those that
// failed at once (and were replaced) left out.
const maxStallHedges = 3

// hedgeTry is one hedge of a stall hedge.
type hedgeTry struct {
	e      Endpoint
	cancel context.CancelCauseFunc
	ar     attemptResult // once it ended
}

// stallHedge returns the stall hedge for the attempt at e (pos of leg
// legIdx), and the context to run the attempt in; nil and ctx when none
// can go: the caller does not stream, hedging is off, the request had its
// stall hedge, or the attempt is a last resort.
func (x *run) stallHedge(ctx context.Context, e *Endpoint, legIdx, pos int, lastResort bool) (*stallHedge, context.Context) {
	h := x.req.Hedge
	if x.onDelta == nil || h == nil || !h.Enabled || x.stallHedged || lastResort || legIdx >= len(x.legs) ||
		!x.anyAfter(legIdx, pos, x.canCarryOn) {
		return nil, ctx
	}
	after := StallHedgeFloor
	if st := x.snap.Status(e.ID); st != nil && st.Gap30m.P99 > 0 {
		// The endpoint's own normal: its gaps are long, so a long one is
		// no stall (a reasoning model's).
		after = max(after, time.Duration(x.r.norm().factor*float64(st.Gap30m.P99)))
	}
	s := &stallHedge{x: x, legIdx: legIdx, pos: pos, after: after, deliver: x.onDelta, parent: ctx, done: make(chan struct{}), claimed: unclaimed}
	ctx, s.cancel = context.WithCancelCause(ctx)
	return s, ctx
}

// onDelta hands on a piece of the watched attempt, unless a hedge has
// the answer; the first piece after a hedge began wins it back.
func (s *stallHedge) onDelta(d Delta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hedges) > 0 {
		if s.claimed == unclaimed {
			s.claimed = watched
			s.cancelHedges(watched, errLostRace)
		}
		if s.claimed != watched {
			return
		}
	} else {
		s.sofar.WriteString(d.Content)
		s.pieces++
		s.called = s.called || len(d.ToolCalls) > 0
		s.last = s.x.r.opts.Clock.Now()
		if !s.watching {
			s.watching = true
			go s.watch()
		}
	}
	s.deliver(d)
}

// cancelHedges ends every hedge but hedge except. s.mu is held.
func (s *stallHedge) cancelHedges(except int, cause error) {
	for i := range s.hedges {
		if i != except {
			s.hedges[i].cancel(cause)
		}
	}
}

// watch waits for a silence of after since the last piece, begins a hedge,
// and another after each further after of silence, while it may; it ends
// when the watched attempt does, or when it may begin no more.
func (s *stallHedge) watch() {
	clk := s.x.r.opts.Clock
	for {
		s.mu.Lock()
		if !s.mayBegin() {
			s.mu.Unlock()
			return
		}
		due := s.last.Add(s.after)
		if len(s.hedges) > 0 {
			due = s.lastBegin.Add(s.after)
		}
		s.mu.Unlock()
		if wait := due.Sub(clk.Now()); wait > 0 {
			timer, stop := clk.NewTimer(wait)
			select {
			case <-timer:
			case <-s.done:
				stop()
				return
			}
			continue
		}
		if !s.more() {
			return
		}
	}
}

// mayBegin reports whether another hedge may begin: nobody has the answer
// yet, the watched attempt has not ended, nothing stands in the way of a
// prefill, and the silence has not had all its hedges. s.mu is held.
func (s *stallHedge) mayBegin() bool {
	return !s.over && !s.called && s.claimed == unclaimed && len(s.hedges)-s.failed < maxStallHedges
}

// more begins the next hedge if the answer is still silent, and reports
// whether to watch on: false once the budget or the order has no more.
func (s *stallHedge) more() bool {
	x := s.x
	x.mu.Lock() // tried and refused, which a first-token hedge's race may change at the same time
	defer x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	since := s.last
	if len(s.hedges) > 0 {
		since = s.lastBegin
	}
	switch {
	case !s.mayBegin():
		return false
	case x.r.opts.Clock.Now().Sub(since) < s.after:
		return true // a piece came after all: watch on
	}
	return s.next()
}

// next begins a hedge at the next endpoint that can carry the answer on, if
// the budget has one; x.mu and s.mu are held.
func (s *stallHedge) next() bool {
	x := s.x
	return x.r.askHedge(func() (Endpoint, uint64, bool) { return x.carryOnPartner(s.legIdx, s.pos) },
		func(_ int, e Endpoint, gen uint64) { s.begin(e, gen) }, &s.refused) == hedgeStarted
}

// begin begins a hedge at e: the request's answer carried on from what the
// caller has, as a resumed attempt is. x.mu and s.mu are held.
func (s *stallHedge) begin(e Endpoint, gen uint64) {
	x := s.x
	prefill := x.partial + s.sofar.String()
	req := x.carryingOn(prefill, x.sentTokens+s.pieces)
	req.OnCommit = nil // told when the hedge wins, not when it streams
	req.next = takeover{snap: x.snap, others: true, carryOn: x.anyAfter(s.legIdx, s.pos, x.canCarryOn)}
	ctx, cancel := context.WithCancelCause(s.parent)
	i := len(s.hedges)
	s.hedges = append(s.hedges, hedgeTry{e: e, cancel: cancel})
	s.lastBegin = x.r.opts.Clock.Now()
	s.running++
	cont := newContinuation(prefill, func(d Delta) { s.hedgeDelta(i, d) }, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ar := x.r.attempt(ctx, e, gen, req, cont.onDelta, nil)
		cont.settle(&ar)
		cancel(nil)
		s.ended(i, ar)
	}()
}

// ended keeps hedge i's result and, if it failed before anyone handed on
// anything and no other hedge runs, begins the next at once.
func (s *stallHedge) ended(i int, ar attemptResult) {
	x := s.x
	x.mu.Lock()
	defer x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hedges[i].ar = ar
	s.running--
	if ar.err == nil || ar.err.Class == provider.ClassCanceled || s.claimed != unclaimed {
		return
	}
	s.failed++
	if ar.a.Duration < s.after {
		x.r.hedges.giveBack() // failed at once: as a first-token hedge's, no load worth a hedge
	}
	if s.running == 0 && s.mayBegin() {
		s.next()
	}
}

// hedgeDelta hands on a piece of hedge i's, unless another has the
// answer; its first piece, if it is first, ends the watched attempt and
// the other hedges and tells the caller who serves now.
func (s *stallHedge) hedgeDelta(i int, d Delta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed == unclaimed {
		s.claimed = i
		s.cancel(errCarriedOnElsewhere)
		s.cancelHedges(i, errLostRace)
		if s.x.req.OnCommit != nil {
			s.x.req.OnCommit(s.hedges[i].e)
		}
	}
	if s.claimed == i {
		s.deliver(d)
	}
}

// carryOnPartner finds the endpoint a stall hedge carries the answer on
// at: the first in hedgeOrder of the rest of the leg, then of the later
// legs, that has not had its turn, takes a prefill and whose breaker
// admits it now. Those it refuses join the last resort. x.mu is held.
func (x *run) carryOnPartner(legIdx, pos int) (Endpoint, uint64, bool) {
	if e, gen, ok := x.admitFirst(x.hedgeOrder(&x.legs[legIdx], pos+1), x.canCarryOn); ok {
		return e, gen, true
	}
	for i := range x.legs[legIdx+1:] {
		if e, gen, ok := x.admitFirst(x.hedgeOrder(&x.legs[legIdx+1+i], 0), x.canCarryOn); ok {
			return e, gen, true
		}
	}
	return Endpoint{}, 0, false
}

// settle ends the watch once the watched attempt ended with ar, waits for
// the hedges, if any began, and returns what they all came to: the
// watched attempt's result, unless a hedge won, whose result then carries
// the whole of what the caller was handed in this turn. Every attempt is
// in the trace. A nil s returns ar.
func (s *stallHedge) settle(ar attemptResult) attemptResult {
	if s == nil {
		return ar
	}
	s.mu.Lock()
	s.over = true // no hedge is asked for from here on
	close(s.done)
	s.x.t.HedgesDenied += s.refused.budget
	began := len(s.hedges) > 0
	if began && s.claimed == unclaimed && ar.err == nil {
		// It finished (its last pieces held nothing to hand on) before a
		// hedge handed on anything.
		s.claimed = watched
		s.cancelHedges(watched, errLostRace)
	}
	s.mu.Unlock()
	if !began {
		s.cancel(nil)
		if s.refused != (refusals{}) {
			why := fmt.Sprintf("silent %s mid-answer; no hedge: %s", human.Duration(s.after), s.refused.words())
			s.x.t.noteUnhedged(ar.a.Endpoint, why)
			ar.a.Unhedged = joinNotes(ar.a.Unhedged, why)
		}
		return ar
	}
	s.wg.Wait()
	s.cancel(nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.x
	x.stallHedged = true
	for i := range s.hedges {
		h := &s.hedges[i].ar
		h.a.Hedge, h.a.Resumed, h.hedged = true, true, true
		if i != s.claimed && h.err != nil && h.err.Class == provider.ClassCanceled && s.claimed != unclaimed {
			h.a.Error = errLostRace.Error()
		}
		x.t.Attempts = append(x.t.Attempts, h.a)
	}
	if s.claimed < 0 {
		return ar
	}
	h := s.hedges[s.claimed].ar
	h.content = s.sofar.String() + h.content
	h.tokens += ar.tokens
	h.committed = true
	return h
}
