package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// Result is a routed answer and how it came about. Send returns one even on
// failure, so the caller can always show the trace.
type Result struct {
	Endpoint     string // id of the endpoint that served, "" on failure
	Provider     string
	Model        string
	Content      string // the whole answer (on a failure after commit: what was streamed)
	Reasoning    string // a reasoning model's thinking before the answer, from the endpoint that served
	FinishReason string // "stop", "length", ... or "error"
	Usage        provider.Usage
	Trace        *Trace
}

// Error is a routing failure in the terms of an OpenAI-style error answer.
type Error struct {
	Code    int            `json:"code"` // HTTP status to answer with
	Type    string         `json:"type"` // stable machine-readable kind, e.g. "no_endpoints", "provider_unavailable"
	Message string         `json:"message"`
	Class   provider.Class `json:"-"` // class of the last attempt's failure, if any
	// Previous lists every failed attempt before this error, as OpenRouter's
	// metadata.previous_errors does.
	Previous []PreviousError `json:"previous_errors,omitempty"`

	nextModel bool // the request's next fallback model may still answer
}

// PreviousError is one failed attempt, as an error answer lists it.
type PreviousError struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Class    string `json:"code"`
	Status   int    `json:"status,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// OnDelta receives content as it streams. Send calls it only after it has
// committed to an endpoint (the first content arrived), so a failure before
// that is a silent fallback the caller never sees.
type OnDelta func(content string)

// Send routes one request: it plans, then tries the endpoints in order until
// one answers, then the fallback models in turn. With onDelta nil the caller
// wants only a complete answer, so a stream that breaks after its first
// token is retried elsewhere from the start; with onDelta set, the answer
// streams and a break after commit ends the request with an error (the
// partial content stays in Result.Content).
func (r *Router) Send(ctx context.Context, req Request, onDelta OnDelta) (*Result, error) {
	res, err := r.send(ctx, req, onDelta)
	name, _ := ModelSuffix(req.Model)
	if err == nil {
		r.opts.Health.RecordRequest(name, provider.ClassOK)
	} else if c := finalClass(err); c != provider.ClassCanceled && !c.UserError() {
		r.opts.Health.RecordRequest(name, c)
	}
	var re *Error
	if errors.As(err, &re) {
		for _, a := range res.Trace.Attempts {
			if a.Outcome != "ok" {
				re.Previous = append(re.Previous, PreviousError{Provider: a.Provider, Model: a.Model, Class: a.Outcome, Status: a.Status})
			}
		}
	}
	return res, err
}

func (r *Router) send(ctx context.Context, req Request, onDelta OnDelta) (*Result, error) {
	name, _ := ModelSuffix(req.Model)
	req.Timeouts = req.Timeouts.or(r.opts.Defaults[name].Timeouts).or(r.opts.Timeouts)
	ctx, cancel := context.WithTimeout(ctx, req.Timeouts.Total)
	defer cancel()
	snap := r.opts.Health.Snapshot()
	t := &Trace{Model: req.Model, At: snap.At}
	res := &Result{Model: req.Model, Trace: t}
	fallbacks := req.Models
	if len(fallbacks) == 0 {
		name, _ := ModelSuffix(req.Model)
		fallbacks = r.opts.Defaults[name].Models
	}
	t.Options.Models, t.Options.Timeouts = fallbacks, req.Timeouts
	if t.Options.Hedge = req.Hedge; t.Options.Hedge == nil {
		t.Options.Hedge = r.opts.Defaults[name].Hedge
	}
	var last error
	models := append([]string{req.Model}, fallbacks...)
	if p := r.prefsFor(name, &req.Provider, ""); len(fallbacks) > 0 && p.Sort.By != "" && p.Sort.Partition == "none" {
		return res, r.sendUnpartitioned(ctx, t, models, &req, snap, onDelta, res)
	}
	for i, model := range models {
		if n, _ := ModelSuffix(model); slices.Contains(t.Models, n) {
			continue // never the same model again
		}
		from := len(t.Order)
		if err := r.planModel(t, model, &req, snap); err != nil {
			last = err
			var re *Error
			if errors.As(err, &re) && re.Code == 400 {
				return res, err // the request itself is wrong: no model will do better
			}
			continue
		}
		name, _ := ModelSuffix(model)
		err := r.tryModel(ctx, t, t.Order[from:], []string{name}, &req, onDelta, res, i < len(models)-1)
		if err == nil {
			return res, nil
		}
		last = err
		if !err.nextModel {
			return res, err
		}
	}
	return res, last
}

// finalClass is the class a failed request counts as for its model: what
// it ran into, a provider failure when the error does not say.
func finalClass(err error) provider.Class {
	var re *Error
	if errors.As(err, &re) {
		switch {
		case re.Code == 400 || re.Code == 403 || re.Code == 404:
			return provider.ClassBadRequest
		case re.Class != provider.ClassOK:
			return re.Class
		}
	}
	return provider.ClassServer
}

// tryModel tries the endpoints of one model in order. more says whether the
// request has a further model to fall back to. Its error says whether that
// next model may still answer.
func (r *Router) tryModel(ctx context.Context, t *Trace, order []string, models []string, req *Request, onDelta OnDelta, res *Result, more bool) *Error {
	byID := map[string]Endpoint{}
	for _, m := range models {
		for _, e := range r.byModel[m] {
			byID[e.ID] = e
		}
	}
	model := strings.Join(models, " or ")
	var last *provider.Error
	var partial string // what a streaming caller has received of an answer that broke
	tries := r.admitted(order)
	var hedgedWith string // the endpoint a hedge already tried
	for n, try := range tries {
		e, gen := byID[try.id], try.gen
		if partial != "" && !e.Prefill || try.id == hedgedWith {
			continue // cannot carry on an answer it did not start; or the hedge had its go
		}
		for again := false; ; again = true {
			if len(t.Attempts) == r.opts.MaxAttempts {
				return r.interrupted(partial, res, exhausted(t, model, last))
			}
			areq := *req
			if partial != "" {
				areq.Messages = append(slices.Clip(req.Messages), provider.Message{Role: "assistant", Content: partial})
			}
			var ar attemptResult
			if h := r.hedgeWith(req, t, tries[n+1:], byID, again || partial != ""); h != nil {
				var hedged bool
				if ar, hedged = r.race(ctx, t, [2]Endpoint{e, h.e}, [2]uint64{gen, h.gen}, h.after, areq, onDelta); hedged {
					hedgedWith = h.e.ID
				}
			} else {
				ar = r.attempt(ctx, e, gen, areq, onDelta, nil)
				ar.a.LastResort, ar.a.Retry, ar.a.Resumed = !try.ok, again, partial != ""
				t.Attempts = append(t.Attempts, ar.a)
			}
			content, committed, aerr := ar.content, ar.committed, ar.err
			if aerr == nil {
				e = ar.e
				t.Served, res.Endpoint, res.Provider, res.Content = e.ID, e.ID, e.Provider, partial+content
				res.Model = e.Model
				res.FinishReason, res.Usage, res.Reasoning = ar.finish, ar.usage, ar.reasoning
				return nil
			}
			last = aerr
			if committed && onDelta != nil && resumable(ctx, aerr) {
				// The caller already has these tokens: carry on from them
				// on an endpoint that accepts an assistant prefill.
				partial += content
				if !r.canResume(tries[n+1:], byID) {
					return r.interrupted(partial, res, &Error{Code: 502, Type: "stream_interrupted", Class: aerr.Class,
						Message: fmt.Sprintf("%s failed mid-answer (%s) and no other provider of %s can continue it", e.Provider, aerr.Class, model)})
				}
				break
			}
			if stop := r.stop(ctx, aerr, e, model, committed, onDelta, res, content); stop != nil {
				return r.interrupted(partial, res, stop)
			}
			if again || committed {
				break
			}
			wait, retry := r.retryAfter(aerr, n == len(tries)-1 && !more)
			if !retry {
				break
			}
			if !sleep(ctx, wait) {
				return r.interrupted(partial, res, &Error{Code: 499, Type: "canceled", Message: "the request was canceled", Class: provider.ClassCanceled})
			}
			gen, _ = r.opts.Health.Admit(e.ID)
		}
	}
	return r.interrupted(partial, res, exhausted(t, model, last))
}

// resumable reports whether a failure after the first token is the
// provider's (a cut, a stall, a malformed chunk, an in-band error) and so
// worth carrying on elsewhere.
func resumable(ctx context.Context, e *provider.Error) bool {
	return ctx.Err() == nil && e.Class.ProviderError()
}

// canResume reports whether any of the endpoints left accepts a prefill.
func (r *Router) canResume(tries []admission, byID map[string]Endpoint) bool {
	for _, try := range tries {
		if byID[try.id].Prefill {
			return true
		}
	}
	return false
}

// interrupted marks a request whose answer had begun streaming as ended by
// an error, never as complete: the caller has partial text, which stays in
// Result.Content, and the error says so. Without partial text, err is as is.
func (r *Router) interrupted(partial string, res *Result, err *Error) *Error {
	if partial == "" {
		return err
	}
	res.Content, res.FinishReason = partial, "error"
	err.nextModel = false // the caller has part of this model's answer
	if err.Type != "stream_interrupted" {
		err.Message = "the answer broke off after streaming had begun: " + err.Message
		err.Type, err.Code = "stream_interrupted", 502
	}
	return err
}

// sendUnpartitioned serves a sort with partition "none": the endpoints of
// every model of the request are tried in one order, by the sort's live
// figures, down and cooling-down endpoints still last.
func (r *Router) sendUnpartitioned(ctx context.Context, t *Trace, models []string, req *Request, snap *monitor.Snapshot, onDelta OnDelta, res *Result) error {
	var last error
	var planned []string
	for _, m := range models {
		if n, _ := ModelSuffix(m); slices.Contains(t.Models, n) {
			continue
		}
		if err := r.planModel(t, m, req, snap); err != nil {
			last = err
			var re *Error
			if errors.As(err, &re) && re.Code == 400 {
				return err
			}
			continue
		}
		n, _ := ModelSuffix(m)
		planned = append(planned, n)
	}
	if len(t.Order) == 0 {
		return last
	}
	cands := map[string]*Candidate{}
	for i := range t.Candidates {
		cands[t.Candidates[i].Endpoint] = &t.Candidates[i]
	}
	late := func(c *Candidate) bool { return c.State == monitor.Down || c.State == monitor.CoolingDown }
	slices.SortStableFunc(t.Order, func(a, b string) int {
		ca, cb := cands[a], cands[b]
		if la, lb := late(ca), late(cb); la != lb {
			if la {
				return 1
			}
			return -1
		}
		return cmp.Compare(ca.value, cb.value)
	})
	if err := r.tryModel(ctx, t, t.Order, planned, req, onDelta, res, false); err != nil {
		return err
	}
	return nil
}

// stop returns the error that ends the request (or moves it to the next
// model) after a failed attempt, or nil to go on to the next endpoint.
func (r *Router) stop(ctx context.Context, aerr *provider.Error, e Endpoint, model string, committed bool, onDelta OnDelta, res *Result, content string) *Error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Code: 408, Type: "timeout", Class: provider.ClassTimeout,
			Message: "the request took longer than its total timeout; raise timeouts.total if answers are long"}
	case aerr.Class == provider.ClassCanceled:
		return &Error{Code: 499, Type: "canceled", Message: "the request was canceled", Class: aerr.Class}
	case aerr.Class == provider.ClassContextLength:
		// Too long for this model; another model of the request may take it.
		return &Error{Code: 400, Type: "context_length_exceeded", Class: aerr.Class, nextModel: true,
			Message: fmt.Sprintf("the prompt is too long for %s (%s): %s", model, e.Provider, aerr.Message)}
	case aerr.Class.UserError():
		// The caller's input was refused, with the provider's reason;
		// another provider would refuse it too.
		return &Error{Code: userStatus(aerr), Type: aerr.Class.String(),
			Message: fmt.Sprintf("%s refused the request: %s", e.Provider, aerr.Message), Class: aerr.Class}
	case committed && onDelta != nil:
		res.Content, res.FinishReason = content, "error"
		return &Error{Code: 502, Type: "stream_interrupted", Class: aerr.Class,
			Message: fmt.Sprintf("%s failed mid-answer (%s) after streaming had begun", e.Provider, aerr.Class)}
	}
	return nil
}

// retryAfter decides whether a failed attempt is tried once more on the same
// endpoint, and after how long. A connection failure or a plain 500 is often
// a blip: once more after a short, jittered pause. A 429 is waited out only
// when its Retry-After is short and there is nothing else to fall back to;
// otherwise falling back is faster. Everything else falls back at once.
func (r *Router) retryAfter(e *provider.Error, lastChance bool) (time.Duration, bool) {
	switch {
	case e.Class == provider.ClassConnect, e.Class == provider.ClassServer && e.Status == 500:
		r.mu.Lock()
		j := 0.5 + r.rng.Float64()
		r.mu.Unlock()
		return time.Duration(j * float64(r.opts.RetryBackoff)), true
	case e.Class == provider.ClassRateLimited && lastChance && e.RetryAfter > 0 && e.RetryAfter <= r.opts.MaxRetryWait:
		return e.RetryAfter, true
	}
	return 0, false
}

// sleep waits d, or until ctx ends; it reports whether the wait was whole.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// flagFor says what a person should look at after a failure that is the
// configuration's, not the moment's.
func flagFor(c provider.Class) string {
	switch c {
	case provider.ClassAuth:
		return "the provider refused the key: check its api_key_env"
	case provider.ClassNotFound:
		return "the provider does not know this model: check upstream_model"
	}
	return ""
}

// admission is the circuit breaker's answer for one endpoint of the order.
type admission struct {
	id  string
	gen uint64
	ok  bool
}

// admitted asks each endpoint's breaker in order. Those it refuses (open, or
// half-open with its one trial out) move to the end: tried only when every
// admitted endpoint has failed, as a last resort.
func (r *Router) admitted(order []string) []admission {
	out := make([]admission, 0, len(order))
	var refused []admission
	for _, id := range order {
		gen, ok := r.opts.Health.Admit(id)
		if ok {
			out = append(out, admission{id, gen, true})
		} else {
			refused = append(refused, admission{id, gen, false})
		}
	}
	return append(out, refused...)
}

// attemptResult is what one attempt came to.
type attemptResult struct {
	e         Endpoint
	a         Attempt
	content   string // what arrived; on a failure after commit, the part before it
	reasoning string // the thinking that came before it
	committed bool   // content arrived
	finish    string
	usage     provider.Usage
	err       *provider.Error
}

// attempt tries one endpoint, handing content to onDelta as it arrives, and
// records the outcome in the monitor. onFirst, if set, is called at the
// first token of any kind: a reasoning model's thinking counts, though only
// content commits the request.
func (r *Router) attempt(ctx context.Context, e Endpoint, gen uint64, req Request, onDelta OnDelta, onFirst func()) attemptResult {
	ar := attemptResult{e: e, a: Attempt{Endpoint: e.ID, Provider: e.Provider, Model: e.Model, Start: r.opts.Clock.Now()}}
	var content, reasoning strings.Builder
	var stats provider.Stats
	if onDelta != nil && req.OnCommit != nil {
		onDelta = committing(req.OnCommit, e, onDelta)
	}
	s, err := e.Upstream.Stream(ctx, provider.Request{
		Model: e.UpstreamModel, Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature,
		User: req.User, Extra: req.Extra,
		ConnectTimeout: req.Timeouts.Connect, FirstTokenTimeout: req.Timeouts.FirstToken, StallTimeout: req.Timeouts.Stall,
	})
	if err == nil {
		err = drain(s, func(c provider.Chunk) {
			if onFirst != nil && (c.Content != "" || c.Reasoning != "") {
				onFirst()
				onFirst = nil
			}
			reasoning.WriteString(c.Reasoning)
			if c.Content != "" {
				ar.committed = true
				content.WriteString(c.Content)
				if onDelta != nil {
					onDelta(c.Content)
				}
			}
			if c.FinishReason != "" {
				ar.finish = c.FinishReason
			}
			if c.Usage != nil {
				ar.usage = *c.Usage
			}
		})
		stats = s.Stats()
		s.Close()
	} else {
		stats = provider.Stats{Start: ar.a.Start, Duration: r.opts.Clock.Now().Sub(ar.a.Start)}
	}
	o := provider.OutcomeOf(stats, err)
	o.Gen = gen
	if err != nil && ctx.Err() != nil {
		// The request's own deadline, its caller, or a won hedge ended it:
		// not the provider's failure.
		o.Class = provider.ClassCanceled
		err = &provider.Error{Class: provider.ClassCanceled, Err: context.Cause(ctx)}
	}
	r.opts.Health.Record(e.ID, o)
	ar.a.TTFT, ar.a.Duration, ar.a.Outcome, ar.a.Status = o.TTFT, o.Duration, o.Class.String(), o.Status
	ar.content, ar.reasoning = content.String(), reasoning.String()
	if ar.err = provider.AsError(err); ar.err != nil {
		ar.a.Error = ar.err.Error()
		ar.a.Flag = flagFor(ar.err.Class)
	}
	return ar
}

// committing tells onCommit that e serves before handing on e's first
// content.
func committing(onCommit func(Endpoint), e Endpoint, onDelta OnDelta) OnDelta {
	told := false
	return func(s string) {
		if !told {
			told = true
			onCommit(e)
		}
		onDelta(s)
	}
}

// drain reads a stream to its end, handing every chunk to f.
func drain(s provider.Stream, f func(provider.Chunk)) error {
	for {
		c, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		f(c)
	}
}

func userStatus(e *provider.Error) int {
	if e.Status >= 400 && e.Status < 500 {
		return e.Status
	}
	if e.Class == provider.ClassContentPolicy {
		return 403
	}
	return 400
}

// exhausted is the error when every endpoint of a model tried failed.
func exhausted(t *Trace, model string, last *provider.Error) *Error {
	parts := make([]string, len(t.Attempts))
	for i, a := range t.Attempts {
		parts[i] = fmt.Sprintf("%s: %s", a.Provider, a.Outcome)
	}
	e := &Error{Code: 502, Type: "provider_unavailable", nextModel: true,
		Message: fmt.Sprintf("every provider of %s failed (%s)", model, strings.Join(parts, "; "))}
	if last != nil {
		e.Class = last.Class
		if last.Class == provider.ClassRateLimited {
			e.Code, e.Type = 429, "rate_limit_exceeded"
		}
	}
	return e
}

// ago renders a duration for a trace: whole seconds, or milliseconds under one.
func ago(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
