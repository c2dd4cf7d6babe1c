package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"switchboard/provider"
)

// Result is a routed answer and how it came about. Send returns one even on
// failure, so the caller can always show the trace.
type Result struct {
	Endpoint     string // id of the endpoint that served, "" on failure
	Provider     string
	Model        string
	Content      string // the whole answer (on a failure after commit: what was streamed)
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

	nextModel bool // the request's next fallback model may still answer
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
	snap := r.opts.Health.Snapshot()
	t := &Trace{Model: req.Model, At: snap.At}
	res := &Result{Model: req.Model, Trace: t}
	fallbacks := req.Models
	if len(fallbacks) == 0 {
		name, _ := ModelSuffix(req.Model)
		fallbacks = r.opts.Defaults[name].Models
	}
	var last error
	for _, model := range append([]string{req.Model}, fallbacks...) {
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
		res.Model = name
		err := r.tryModel(ctx, t, t.Order[from:], name, &req, onDelta, res)
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

// tryModel tries the endpoints of one model in order. Its error says whether
// the next model of the request may still answer.
func (r *Router) tryModel(ctx context.Context, t *Trace, order []string, model string, req *Request, onDelta OnDelta, res *Result) *Error {
	byID := map[string]Endpoint{}
	for _, e := range r.byModel[model] {
		byID[e.ID] = e
	}
	var last *provider.Error
	for _, try := range r.admitted(order) {
		if len(t.Attempts) == r.opts.MaxAttempts {
			break
		}
		e := byID[try.id]
		a, content, committed, aerr := r.attempt(ctx, e, try.gen, *req, onDelta, res)
		a.LastResort = !try.ok
		t.Attempts = append(t.Attempts, a)
		if aerr == nil {
			t.Served, res.Endpoint, res.Provider, res.Content = e.ID, e.ID, e.Provider, content
			return nil
		}
		last = aerr
		switch {
		case aerr.Class == provider.ClassCanceled:
			return &Error{Code: 499, Type: "canceled", Message: "the request was canceled", Class: aerr.Class}
		case aerr.Class == provider.ClassContextLength:
			// Too long for this model; another model of the request may take it.
			return &Error{Code: 400, Type: "context_length_exceeded", Class: aerr.Class, nextModel: true,
				Message: fmt.Sprintf("the prompt is too long for %s (%s): %s", model, e.Provider, aerr.Message)}
		case aerr.Class.UserError():
			// The caller's input was refused; another provider would refuse it too.
			return &Error{Code: userStatus(aerr), Type: aerr.Class.String(),
				Message: fmt.Sprintf("%s refused the request: %s", e.Provider, aerr.Message), Class: aerr.Class}
		case committed && onDelta != nil:
			res.Content, res.FinishReason = content, "error"
			return &Error{Code: 502, Type: "stream_interrupted", Class: aerr.Class,
				Message: fmt.Sprintf("%s failed mid-answer (%s) after streaming had begun", e.Provider, aerr.Class)}
		}
	}
	return exhausted(t, model, last)
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

// attempt tries one endpoint. It returns the attempt's record, the content
// received, whether the first content arrived, and the failure if any.
func (r *Router) attempt(ctx context.Context, e Endpoint, gen uint64, req Request, onDelta OnDelta, res *Result) (Attempt, string, bool, *provider.Error) {
	a := Attempt{Endpoint: e.ID, Provider: e.Provider, Start: r.opts.Clock.Now()}
	res.FinishReason, res.Usage = "", provider.Usage{} // a failed attempt's leave nothing behind
	var content strings.Builder
	committed := false
	var stats provider.Stats
	s, err := e.Upstream.Stream(ctx, provider.Request{
		Model: e.UpstreamModel, Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature,
	})
	if err == nil {
		err = drain(s, func(c provider.Chunk) {
			if c.Content != "" {
				committed = true
				content.WriteString(c.Content)
				if onDelta != nil {
					onDelta(c.Content)
				}
			}
			if c.FinishReason != "" {
				res.FinishReason = c.FinishReason
			}
			if c.Usage != nil {
				res.Usage = *c.Usage
			}
		})
		stats = s.Stats()
		s.Close()
	} else {
		stats = provider.Stats{Start: a.Start, Duration: r.opts.Clock.Now().Sub(a.Start)}
	}
	o := provider.OutcomeOf(stats, err)
	o.Gen = gen
	r.opts.Health.Record(e.ID, o)
	a.TTFT, a.Duration, a.Outcome, a.Status = o.TTFT, o.Duration, o.Class.String(), o.Status
	pe := provider.AsError(err)
	if pe != nil {
		a.Error = pe.Error()
	}
	return a, content.String(), committed, pe
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
