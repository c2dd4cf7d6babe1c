package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/provider"
)

// Result is a routed answer and how it came about. Send returns one even on
// failure, so the caller can always show the trace.
type Result struct {
	Endpoint string // id of the endpoint that served, "" on failure
	Provider string
	Model    string
	// Content and Reasoning (a reasoning model's thinking before the
	// answer) are the whole answer of a caller that does not stream. A
	// streaming caller was handed the content as it came, so the router
	// does not hold a second copy: both are empty.
	Content   string
	Reasoning string
	// Signature is the upstream's seal over Reasoning (Anthropic's), and
	// ToolCalls and Logprobs the rest of a whole answer: the calls, each
	// whole, in order, and the content's log probabilities when asked for.
	Signature    string
	ToolCalls    []provider.ToolCall
	Logprobs     []provider.Logprob
	FinishReason string // "stop", "length", "tool_calls", ... or "error"
	Usage        provider.Usage
	Trace        *Trace
}

// Delta is a piece of a streamed answer: content, a reasoning model's
// thinking (and its seal), pieces of tool calls (each naming its call by
// Index, as provider.ToolCall says), and the content's log probabilities.
type Delta struct {
	Content   string
	Reasoning string
	Signature string
	ToolCalls []provider.ToolCall
	Logprobs  []provider.Logprob
}

// commits reports whether the delta commits the request to its endpoint:
// answer content or a tool call does, thinking does not.
func (d *Delta) commits() bool { return d.Content != "" || len(d.ToolCalls) > 0 }

func (d *Delta) empty() bool {
	return !d.commits() && d.Reasoning == "" && d.Signature == "" && len(d.Logprobs) == 0
}

// OnDelta receives the answer as it streams. Send calls it only after it
// has committed to an endpoint (the first content or tool call arrived),
// so a failure before that is a silent fallback the caller never sees: the
// thinking that came before is held until then, and handed on first.
type OnDelta func(Delta)

// Send routes one request: it plans every model of the request from one
// snapshot of health, then tries the endpoints of each model in order until
// one answers; endpoints whose circuit breakers refuse them are tried only
// when nothing else is left across all the models. With onDelta nil the
// caller wants only a complete answer, so a stream that breaks after its
// first token is retried elsewhere from the start; with onDelta set, the
// answer streams and a break after commit carries on at an endpoint that
// takes a prefill, or ends the request with an error (FinishReason "error":
// what the caller was handed is not the whole answer).
func (r *Router) Send(ctx context.Context, req Request, onDelta OnDelta) (*Result, error) {
	req.Model, req.Models = r.Canonical(req.Model), r.canonicals(req.Models)
	x := r.newRun(req, onDelta)
	err := x.run(ctx)
	x.remember(r.opts.Clock.Now())
	res := x.result(err)
	name, _ := ModelSuffix(req.Model)
	if err == nil {
		r.opts.Health.RecordRequest(name, provider.ClassOK)
		return res, nil
	}
	if !err.Kind.CallersFault() {
		r.opts.Health.RecordRequest(name, err.countAs())
	}
	return res, err
}

// countAs is the class a failed request counts as for its model: what its
// last attempt ran into, a provider failure when there was none.
func (e *Error) countAs() provider.Class {
	if e.Class != provider.ClassOK {
		return e.Class
	}
	if e.Kind == KindTimeout {
		return provider.ClassTimeout
	}
	return provider.ClassServer
}

// leg is one stretch of a request's order: the endpoints of one model, or,
// for a sort across models (partition "none"), of all of them.
type leg struct {
	models []string
	order  []*Endpoint // into Router.byModel, which never changes
	// bySpeed: the order is the default policy's (price, health), which
	// no provider order, sort or cutoff of the caller's shaped, so a hedge
	// may take the quickest of it (see run.hedgeOrder).
	bySpeed bool
}

// run is one request on its way through the router: the one owner of its
// state, from the plan to the result. Its methods are the attempt loop.
type run struct {
	r       *Router
	req     Request
	onDelta OnDelta
	t       *Trace
	legs    []leg

	// What the attempts came to so far.
	answer      *attemptResult // the attempt that answered
	begun       bool           // a streaming caller has part of an answer that broke off
	partial     string         // its text, kept only when an endpoint of the model could carry it on
	last        *provider.Error
	refused     []*Endpoint // breakers refused these: the last resort, in order
	again       []*Endpoint // lost the request's race before they answered: see anotherGo
	final       []*Endpoint // what is tried once nothing else is left, as it is tried: the last resort (again, then refused), then the second round
	tried       ids         // endpoints that had their turn, a hedge's included
	hedges      int         // of them, those that were hedges: not counted against max_attempts
	triedRoom   [4]string   // tried's first home: most requests try one
	hedged      bool        // the request's one first-token hedge started
	stallHedged bool        // the request's one stall hedge went
	capped      bool        // max_attempts kept an endpoint from its turn
	// mu guards tried and refused while an attempt runs: a first-token
	// hedge's race and a stall hedge's watch may look for a partner at
	// the same time.
	mu           sync.Mutex
	ctxFloor     int               // after a context-length failure: only endpoints of a longer context
	waited       string            // why the next attempt waited before it began, for its trace
	sentTokens   int               // tokens of the answer the caller has, from the attempts that broke off
	snap         *monitor.Snapshot // health as the request was planned
	conversation string            // names the request's conversation for sticky routing; "" for none
	// resumedAt holds the endpoints that had their one go at carrying on
	// an answer that broke off there.
	resumedAt ids
}

func (r *Router) newRun(req Request, onDelta OnDelta) *run {
	name, _ := ModelSuffix(req.Model)
	d := r.opts.Defaults[name]
	req.Timeouts = req.Timeouts.or(d.Timeouts).or(r.opts.Timeouts)
	if len(req.Models) == 0 {
		req.Models = d.Models
	}
	if req.Hedge == nil {
		req.Hedge = d.Hedge
	}
	if req.Hedge != nil && req.Hedge.Enabled {
		r.hedges.request(r.opts.Clock.Now())
	}
	req.MaxAnswer = cmp.Or(req.MaxAnswer, r.opts.MaxAnswer, provider.DefaultMaxAnswer)
	x := &run{r: r, req: req, onDelta: onDelta, t: &Trace{Model: req.Model}}
	x.t.Options.Models, x.t.Options.Timeouts, x.t.Options.Hedge = req.Models, req.Timeouts, req.Hedge
	x.tried = x.triedRoom[:0]
	return x
}

// run plans and tries the request until it is answered or nothing is left
// to try, under its total time limit.
func (x *run) run(ctx context.Context) *Error {
	ctx, cancel := context.WithTimeoutCause(ctx, x.req.Timeouts.Total, errTotalTimeout)
	defer cancel()
	snap := x.r.opts.Health.Snapshot()
	x.snap, x.t.At = snap, snap.At
	legs, err := x.r.planAll(x.t, append([]string{x.req.Model}, x.req.Models...), &x.req, snap)
	if err != nil {
		return err
	}
	x.legs = legs
	// An endpoint found silent: the attempts waiting on it but the
	// oldest go on elsewhere (see waiters).
	for i := range x.t.Candidates {
		if c := &x.t.Candidates[i]; c.group == groupUnanswered {
			x.r.waits.giveUp(c.Endpoint, time.Duration(c.value*float64(time.Second)))
		}
	}
	x.conversation = conversation(&x.req)
	x.stick(snap)
	for i := range x.legs {
		x.ctxFloor = 0
		for pos, e := range x.legs[i].order {
			if done, stop := x.turn(ctx, e, i, pos, inOrder); done || stop != nil {
				return stop
			}
		}
	}
	// The last resort, once nothing else is left across all the models:
	// an endpoint that lost a race, then those whose breakers refused
	// them.
	x.final = slices.Concat(x.again, x.refused)
	for pos, e := range x.final {
		if x.begun && !x.canCarryOn(e) {
			continue
		}
		if done, stop := x.turn(ctx, e, len(x.legs), pos, inLastResort); done || stop != nil {
			return stop
		}
	}
	// Once more, after a pause, where a failure may have passed.
	if x.final = x.secondGoes(); len(x.final) > 0 {
		pause := x.r.retryPause()
		if !x.r.sleep(ctx, pause) {
			return x.ended(ctx)
		}
		x.waited = fmt.Sprintf("waited %s: a second round, every endpoint having failed", human.Duration(pause))
		for pos, e := range x.final {
			if done, stop := x.turn(ctx, e, len(x.legs), pos, inSecondRound); done || stop != nil {
				return stop
			}
		}
	}
	return x.failed(ctx)
}

// phase is which pass over the endpoints a turn belongs to.
type phase uint8

const (
	inOrder       phase = iota // the plan's order, across the models
	inLastResort               // once nothing else is left: a race's loser, then those breakers refused, tried anyway
	inSecondRound              // once more, where a failure may have passed (see secondGoes)
)

// secondGoes are the endpoints a request that every endpoint failed goes
// round to once more: those that had one go in it (a hedge's and a race's
// included) and failed in a way that may pass in a moment, in the order
// they were first tried: a server error, an overloaded answer, a broken
// stream (cut, malformed). Not a refused connection (the host is gone), a
// timeout or a stall (asking again would cost the same wait, and a silent
// provider gets one request for it, not two), a rate limit (its cooldown
// says when), nor the caller's or the configuration's errors. Only where
// the answer can be carried on, once one began; only those whose breakers
// admit them then.
func (x *run) secondGoes() []*Endpoint {
	var out []*Endpoint
	for i, a := range x.t.Attempts {
		switch a.Outcome {
		case provider.ClassServer.String(), provider.ClassOverloaded.String(), provider.ClassStreamCut.String(), provider.ClassMalformed.String():
		default:
			continue
		}
		once := func(o Attempt) bool { return o.Endpoint == a.Endpoint }
		if slices.ContainsFunc(x.t.Attempts[:i], once) || slices.ContainsFunc(x.t.Attempts[i+1:], once) {
			continue // it had two goes already
		}
		if e := x.endpoint(a.Endpoint); e != nil && (!x.begun || x.canCarryOn(e)) {
			out = append(out, e)
		}
	}
	return out
}

// endpoint is the request's endpoint of id, nil if none of its legs has
// it.
func (x *run) endpoint(id string) *Endpoint {
	for _, l := range x.legs {
		if i := slices.IndexFunc(l.order, func(e *Endpoint) bool { return e.ID == id }); i >= 0 {
			return l.order[i]
		}
	}
	return nil
}

// turn gives one endpoint its turn in phase ph: admitted by its breaker
// now that it is about to be tried (or, as a last resort, without), one
// attempt, and once more after a blip if the breaker admits it again (but
// in a second go, which is that). It reports whether the request is
// answered, or the error that ends it; neither means go on.
func (x *run) turn(ctx context.Context, e *Endpoint, legIdx, pos int, ph phase) (done bool, stop *Error) {
	switch {
	case ph == inOrder && (x.tried.has(e.ID) || x.isRefused(e.ID)), ph == inLastResort && x.tried.has(e.ID):
		return false, nil // a hedge already had its go, or it waits for the last resort
	case x.begun && !x.canCarryOn(e):
		return false, nil // cannot carry on an answer it did not start
	case x.ctxFloor > 0 && e.ContextLength > 0 && e.ContextLength <= x.ctxFloor:
		return false, nil // no longer than one that found the prompt too long
	case ph != inSecondRound && len(x.tried)-x.hedges >= x.r.opts.MaxAttempts:
		x.capped = true
		return false, nil // no more endpoints; those tried may have a second go
	}
	gen, ok := x.r.opts.Health.Admit(e.ID)
	switch {
	case !ok && ph == inOrder:
		x.refused = append(x.refused, e)
		return false, nil
	case !ok && ph == inSecondRound:
		return false, nil
	case ph != inSecondRound:
		x.tried = append(x.tried, e.ID)
	}
	for again := ph == inSecondRound; ; again = true {
		ar := x.try(ctx, e, gen, legIdx, pos, again, ph == inLastResort && !ok)
		if ar.err == nil {
			x.answer = &ar
			return true, nil
		}
		x.last = ar.err
		if ar.committed && x.onDelta != nil {
			// The caller has these tokens: carry on from them at an
			// endpoint that takes a prefill, if the failure was the
			// provider's and there is one.
			x.begun = true
			x.partial += ar.content
			x.sentTokens += ar.tokens
			if ar.called || !resumable(ctx, ar.err) || !x.resumeLeft(e, legIdx, pos) || len(x.partial) >= x.req.MaxAnswer {
				return false, x.interrupted(ctx, ar)
			}
			if ar.e.ID == e.ID && ph != inSecondRound && x.resumeHere(e, ar.err.Class, legIdx, pos) {
				if gen, ok = x.r.opts.Health.Admit(e.ID); ok {
					continue
				}
			}
			return false, nil
		}
		if x.begun && ar.err.Class == provider.ClassBadRequest {
			// The upstream refused to carry the answer on (a prefill it
			// does not take): the next that might.
			return false, nil
		}
		if stop := x.stopAfter(ctx, ar); stop != nil {
			return false, stop
		}
		if ar.err.Class == provider.ClassContextLength {
			x.ctxFloor = max(x.ctxFloor, ar.e.ContextLength)
			return false, nil
		}
		if again || ar.committed || ar.hedged {
			return false, nil
		}
		why := ""
		switch {
		case x.nothingAfter(legIdx, pos):
			why = "nothing else left"
		case x.requestedModelDone(e):
			why = "on the requested model"
		}
		wait, retry := x.r.retryAfter(ar.err, why != "")
		if !retry {
			return false, nil
		}
		if !x.r.sleep(ctx, wait) {
			return false, x.ended(ctx)
		}
		if ar.err.Class == provider.ClassRateLimited {
			x.waited = fmt.Sprintf("waited %s: Retry-After, %s", human.Duration(wait), why)
		}
		// Its own failure may just have opened the breaker: a refusal
		// ends the endpoint's turn.
		if gen, ok = x.r.opts.Health.Admit(e.ID); !ok {
			return false, nil
		}
	}
}

// try makes one attempt at e, or, for the request's first attempt with
// hedging on, races e against the next endpoint of the order.
func (x *run) try(ctx context.Context, e *Endpoint, gen uint64, legIdx, pos int, again, lastResort bool) attemptResult {
	req := x.req
	if x.begun {
		req = x.carryingOn(x.partial, x.sentTokens)
	}
	others := !x.nothingAfter(legIdx, pos)
	req.next = takeover{snap: x.snap, others: others, carryOn: others}
	if x.onDelta != nil {
		req.next.carryOn = x.resumeLeft(e, legIdx, pos)
	}
	deliver := x.onDelta
	sh, ctx := x.stallHedge(ctx, e, legIdx, pos, lastResort)
	if sh != nil {
		deliver = sh.onDelta
	}
	if h := x.hedgeAfter(e, legIdx >= len(x.legs)); h.after > 0 {
		first := len(x.t.Attempts)
		ar := x.r.race(ctx, x.t, *e, gen, h, req, deliver, func() (Endpoint, uint64, bool) { return x.hedgePartner(legIdx, pos) })
		x.mark(&x.t.Attempts[first], again, lastResort)
		x.hedged = x.hedged || ar.hedged
		if ar = sh.settle(ar); ar.err != nil && ar.outraced != "" {
			x.anotherGo(ar.outraced)
		}
		return ar
	}
	onDelta := deliver
	var cont *continuation
	if x.begun {
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ctx, cont = actx, newContinuation(x.partial, deliver, cancel)
		onDelta = cont.onDelta
	}
	ar := x.r.attempt(ctx, *e, gen, req, onDelta, nil)
	if cont != nil {
		cont.settle(&ar)
	}
	x.mark(&ar.a, again, lastResort)
	x.t.Attempts = append(x.t.Attempts, ar.a)
	return sh.settle(ar)
}

// mark marks a, the attempt (or the race's first attempt) try made at an
// endpoint: a retry, a last resort, a resumed stream, and the wait before
// it, which is said once.
func (x *run) mark(a *Attempt, again, lastResort bool) {
	a.LastResort, a.Retry, a.Resumed, a.Waited = lastResort, again, x.begun, x.waited
	x.waited = ""
}

// carryingOn is the request that carries on the answer the caller has
// part of, prefill, of which sent tokens were sent: prefill as an
// assistant message, within what is left of the answer's bound.
func (x *run) carryingOn(prefill string, sent int) Request {
	req := x.req
	req.Messages = append(slices.Clip(x.req.Messages), provider.Message{Role: "assistant", Content: prefill})
	req.MaxAnswer = max(1, req.MaxAnswer-len(prefill))
	if req.MaxTokens > 0 {
		// An upstream caps what it generates: the tokens already sent
		// count against the caller's max_tokens.
		req.MaxTokens = max(1, req.MaxTokens-sent)
	}
	return req
}

// hedgePartner finds the endpoint a hedge races with, when the hedge's
// delay is up: the next of the leg that has not had its turn and whose
// breaker admits it now. Those it refuses join the last resort.
func (x *run) hedgePartner(legIdx, pos int) (Endpoint, uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.admitFirst(x.hedgeOrder(&x.legs[legIdx], pos+1), func(*Endpoint) bool { return true })
}

// admitFirst admits, as a hedge, the first of es that has not had its
// turn, passes ok, is not silent to a request in flight (see Silent: a
// hedge there would only wait with it) and whose breaker admits it now,
// and counts it tried; those the breaker refuses join the last resort.
// x.mu is held.
func (x *run) admitFirst(es []*Endpoint, ok func(*Endpoint) bool) (Endpoint, uint64, bool) {
	now := x.r.opts.Clock.Now()
	for _, e := range es {
		if x.tried.has(e.ID) || x.isRefused(e.ID) || !ok(e) {
			continue
		}
		if st := x.snap.Status(e.ID); st != nil && Silent(st, now) > 0 {
			continue
		}
		gen, admitted := x.r.opts.Health.Admit(e.ID)
		if !admitted {
			x.refused = append(x.refused, e)
			continue
		}
		x.tried = append(x.tried, e.ID)
		x.hedges++
		return *e, gen, true
	}
	return Endpoint{}, 0, false
}

// anotherGo gives the endpoint (by id) that lost the request's race before
// it answered another go, once the winner failed: it did not fail, and it
// may yet answer, or carry on the answer the winner began. It goes first
// in the last resort, and it and its race count against max_attempts as
// one attempt.
func (x *run) anotherGo(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if slices.ContainsFunc(x.again, func(e *Endpoint) bool { return e.ID == id }) {
		return // it had its other go
	}
	if e := x.endpoint(id); e != nil {
		x.again = append(x.again, e)
		x.tried = slices.DeleteFunc(x.tried, func(t string) bool { return t == id })
	}
}

func (x *run) isRefused(id string) bool {
	return slices.ContainsFunc(x.refused, func(o *Endpoint) bool { return o.ID == id })
}

// nothingAfter reports whether e, at pos of leg legIdx, is the last thing
// the request can try: a 429's Retry-After is worth waiting out only then.
func (x *run) nothingAfter(legIdx, pos int) bool {
	return !x.anyAfter(legIdx, pos, func(*Endpoint) bool { return true })
}

// anyAfter reports whether an endpoint the request has yet to try after
// pos of leg legIdx (the rest of the leg, the later legs, then those kept
// for the last resort; legIdx past the legs is the last resort itself, as
// it is tried) passes ok.
func (x *run) anyAfter(legIdx, pos int, ok func(*Endpoint) bool) bool {
	var rest [][]*Endpoint
	if legIdx < len(x.legs) {
		rest = append(rest, x.legs[legIdx].order[pos+1:])
		for _, l := range x.legs[legIdx+1:] {
			rest = append(rest, l.order)
		}
		rest = append(rest, x.again, x.refused)
	} else {
		rest = append(rest, x.final[pos+1:])
	}
	for _, es := range rest {
		for _, e := range es {
			if !x.tried.has(e.ID) && ok(e) {
				return true
			}
		}
	}
	return false
}

// requestedModelDone reports whether e, an endpoint of the model the
// request asked for, is the last of that model the request can try: the
// only alternatives left are other models, and a short Retry-After on the
// one asked for is worth waiting out before moving to one it did not ask
// for.
func (x *run) requestedModelDone(e *Endpoint) bool {
	asked, _ := ModelSuffix(x.req.Model)
	if e.Model != asked {
		return false
	}
	for _, l := range x.legs {
		for _, o := range l.order {
			if o.Model == asked && !x.tried.has(o.ID) && o.ID != e.ID && !x.isRefused(o.ID) {
				return false
			}
		}
	}
	return true
}

// canCarryOn reports whether e can continue the answer the caller already
// has part of: an endpoint that takes a prefill, of the model that began it
// (earlier in the order) or of a fallback model (later).
func (x *run) canCarryOn(e *Endpoint) bool {
	return e.Prefill
}

// resumeHere reports whether the answer that just broke off at e (at pos
// of leg legIdx) with a failure of class c carries on at e itself: once,
// where e takes a prefill. After a cut, e first: a dropped connection is
// often transient, and a new one to e costs nothing. After a stall or an
// error event, e was in trouble while it answered, and asking it again is
// as likely to cost another stall limit: e only when no other endpoint can
// carry the answer on.
func (x *run) resumeHere(e *Endpoint, c provider.Class, legIdx, pos int) bool {
	if !x.canCarryOn(e) || x.resumedAt.has(e.ID) {
		return false
	}
	if c != provider.ClassStreamCut && x.anyAfter(legIdx, pos, x.canCarryOn) {
		return false
	}
	x.resumedAt = append(x.resumedAt, e.ID)
	return true
}

// resumeLeft reports whether any endpoint could carry on the answer that
// broke off at e, at pos of leg legIdx: e itself once, the rest of its
// leg, the later legs (the request's fallback models), or those kept for
// the last resort.
func (x *run) resumeLeft(e *Endpoint, legIdx, pos int) bool {
	return x.canCarryOn(e) && !x.resumedAt.has(e.ID) || x.anyAfter(legIdx, pos, x.canCarryOn)
}

// stopAfter returns the error that ends the request after a failed
// attempt, or nil to go on: the request's time ran out or its caller went
// away, or the provider refused the caller's input, which any other would
// refuse too.
func (x *run) stopAfter(ctx context.Context, ar attemptResult) *Error {
	c := ar.err.Class
	switch {
	case ctx.Err() != nil || c == provider.ClassCanceled:
		return x.ended(ctx)
	case c == provider.ClassContentPolicy:
		return errorf(KindContentPolicy, c, "%s refused the request: %s", ar.e.Provider, ar.err.Message)
	case c == provider.ClassBadRequest:
		return errorf(KindBadRequest, c, "%s refused the request: %s", ar.e.Provider, ar.err.Message)
	}
	return nil
}

// errTotalTimeout is the cause a request's context ends with when its total
// time runs out (not its caller's own deadline): an attempt that was
// streaming then is the endpoint's failure, since only an endpoint that
// trickles its answer holds a request that long.
var errTotalTimeout = fmt.Errorf("the request's total timeout ran out: %w", context.DeadlineExceeded)

// ended is the error of a request whose context ended: its total time ran
// out, or its caller went away.
func (x *run) ended(ctx context.Context) *Error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return x.withPartial(errorf(KindTimeout, provider.ClassTimeout,
			"the request took longer than its total timeout (%s); raise timeouts.total if answers are long", human.Duration(x.req.Timeouts.Total)))
	}
	return x.withPartial(errorf(KindCanceled, provider.ClassCanceled, "the request was canceled"))
}

// interrupted ends a request whose answer broke off after streaming had
// begun, with nowhere to carry it on.
func (x *run) interrupted(ctx context.Context, ar attemptResult) *Error {
	if ctx.Err() != nil {
		return x.ended(ctx)
	}
	if ar.called {
		return x.withPartial(errorf(KindInterrupted, ar.err.Class, "%s failed mid-answer (%s) after a tool call had begun, "+
			"and a tool call cannot be carried on by another provider", ar.e.Provider, ar.err.Class))
	}
	return x.withPartial(errorf(KindInterrupted, ar.err.Class, "%s failed mid-answer (%s) and no other provider of %s can continue it",
		ar.e.Provider, ar.err.Class, ar.e.Model))
}

// withPartial marks an error that ends a request whose answer had begun
// streaming: the caller has partial text, never passed off as complete.
func (x *run) withPartial(e *Error) *Error {
	if x.begun && e.Kind != KindInterrupted && e.Kind != KindCanceled {
		e.Message = "the answer broke off after streaming had begun: " + e.Message
		e.Kind = KindInterrupted
	}
	return e
}

// failed is the error when nothing is left to try: the last failure's
// kind, naming every attempt.
func (x *run) failed(ctx context.Context) *Error {
	if ctx.Err() != nil {
		return x.ended(ctx)
	}
	parts := make([]string, len(x.t.Attempts))
	for i, a := range x.t.Attempts {
		parts[i] = fmt.Sprintf("%s: %s", a.Provider, a.Outcome)
	}
	models := strings.Join(x.t.Models, " or ")
	e := errorf(KindExhausted, provider.ClassServer, "every provider of %s failed (%s)", models, strings.Join(parts, "; "))
	if x.last != nil {
		e.Class = x.last.Class
		switch x.last.Class {
		case provider.ClassRateLimited:
			if slices.ContainsFunc(x.t.Attempts, func(a Attempt) bool { return a.Outcome != provider.ClassRateLimited.String() }) {
				break // the last was, not all: the others failed otherwise
			}
			e.Kind = KindRateLimited
			e.Message = fmt.Sprintf("every provider of %s that was tried is rate limited (%s)", models, strings.Join(parts, "; "))
		case provider.ClassContextLength:
			e.Kind = KindContextLength
			e.Message = fmt.Sprintf("the prompt is too long for every provider of %s that was tried (%s): %s", models,
				strings.Join(parts, "; "), x.last.Message)
		}
	}
	if e.Kind == KindExhausted && x.capped {
		e.Message += fmt.Sprintf("; max_attempts = %d stopped it there", x.r.opts.MaxAttempts)
	}
	if e.Kind == KindExhausted && !slices.ContainsFunc(x.t.Attempts, func(a Attempt) bool { return !a.LastResort }) {
		// Nothing was admitted: every endpoint was known to be down before
		// the request, and trying them anyway did not help. The breakers
		// know when the first may take a request again.
		e.Kind = KindUnavailable
		e.Message = fmt.Sprintf("every provider of %s is down; tried anyway as a last resort (%s)", models, strings.Join(parts, "; "))
	}
	e.RetryAfter = x.r.retryAfterOf(x.t, x.last)
	return x.withPartial(e)
}

// retryAfterOf is how long until an endpoint of the order may take a
// request again, from the cooldowns and breakers that stand in the way now,
// or from the last failure's own Retry-After; 0 when none says.
func (r *Router) retryAfterOf(t *Trace, last *provider.Error) time.Duration {
	snap := r.opts.Health.Snapshot()
	var wait time.Duration
	shorter := func(d time.Duration) {
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	for _, id := range t.Order {
		st := snap.Status(id)
		if st == nil {
			continue
		}
		switch st.State {
		case monitor.CoolingDown:
			shorter(st.CooldownUntil.Sub(snap.At))
		case monitor.Down:
			shorter(st.NextTrial.Sub(snap.At))
		default:
			return 0 // one is ready now
		}
	}
	if last != nil {
		shorter(last.RetryAfter)
	}
	return wait
}

// result assembles what the caller gets, whatever the outcome.
func (x *run) result(err *Error) *Result {
	res := &Result{Model: x.req.Model, Trace: x.t}
	if a := x.answer; a != nil {
		x.t.Served = a.e.ID
		res.Endpoint, res.Provider, res.Model = a.e.ID, a.e.Provider, a.e.Model
		res.FinishReason, res.Usage = a.finish, a.usage
		if x.onDelta == nil {
			res.Content, res.Reasoning, res.Signature = a.content, string(a.whole.reasoning), string(a.whole.signature)
			res.ToolCalls, res.Logprobs = a.whole.toolCalls(), a.whole.logprobs
		}
		return res
	}
	if x.begun {
		res.FinishReason = "error"
	}
	for _, a := range x.t.Attempts {
		if a.Outcome != "ok" {
			err.Previous = append(err.Previous, PreviousError{Provider: a.Provider, Model: a.Model, Class: a.Outcome, Status: a.Status})
		}
	}
	return res
}

// resumable reports whether a failure after the first token is the
// provider's (a cut, a stall, a malformed chunk, an in-band error) and so
// worth carrying on elsewhere.
func resumable(ctx context.Context, e *provider.Error) bool {
	return ctx.Err() == nil && e.Class.ProviderError()
}

// retryAfter decides whether a failed attempt is tried once more on the same
// endpoint, and after how long. A connection failure or a plain 500 is often
// a blip: once more after a short, jittered pause. A 429 is waited out only
// when its Retry-After is short and waiting is worth it (nothing else is
// left, or only models the caller did not ask for); otherwise falling back
// is faster. Everything else falls back at once.
func (r *Router) retryAfter(e *provider.Error, worthWaiting bool) (time.Duration, bool) {
	switch {
	case e.Blip():
		return r.retryPause(), true
	case e.Class == provider.ClassRateLimited && worthWaiting && e.RetryAfter > 0 && e.RetryAfter <= r.opts.MaxRetryWait:
		return e.RetryAfter, true
	}
	return 0, false
}

// retryPause is the pause before an endpoint is tried once more after a
// failure that may pass: RetryBackoff, jittered by ±50%.
func (r *Router) retryPause() time.Duration {
	r.mu.Lock()
	j := 0.5 + r.rng.Float64()
	r.mu.Unlock()
	return time.Duration(j * float64(r.opts.RetryBackoff))
}

// sleep waits d on the router's clock, or until ctx ends; it reports
// whether the wait was whole.
func (r *Router) sleep(ctx context.Context, d time.Duration) bool {
	c, stop := r.opts.Clock.NewTimer(d)
	defer stop()
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	}
}

// ids is a set of endpoint ids, as a list: a request tries a handful of
// endpoints, and a map of them was two allocations a request.
type ids []string

func (s ids) has(id string) bool { return slices.Contains(s, id) }
