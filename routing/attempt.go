package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"switchboard/provider"
)

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

// attemptResult is what one attempt came to.
type attemptResult struct {
	e         Endpoint
	a         Attempt
	content   string // what arrived (kept only when the run needs it: see attempt)
	reasoning string // the thinking that came before it, for a caller that does not stream
	committed bool   // content arrived
	hedged    bool   // it raced a hedge (or was one)
	finish    string
	usage     provider.Usage
	tokens    int // the answer's tokens as the upstream counted them (usage), else its chunks
	err       *provider.Error
}

// attempt tries one endpoint, handing content to onDelta as it arrives, and
// records the outcome in the monitor. It keeps the text only as long as
// the run may need it: the whole answer of a caller that does not stream,
// and, for one that does, the content an endpoint that takes a prefill
// would carry on from if the stream broke; never a second copy of a
// streamed answer that nothing could resume. onFirst, if set, is called at the
// first token of any kind: a reasoning model's thinking counts, though only
// content commits the request.
func (r *Router) attempt(ctx context.Context, e Endpoint, gen uint64, req Request, onDelta OnDelta, onFirst func()) attemptResult {
	ar := attemptResult{e: e, a: Attempt{Endpoint: e.ID, Provider: e.Provider, Model: e.Model, Start: r.opts.Clock.Now()}}
	var content, reasoning strings.Builder
	keepContent := onDelta == nil || r.mayResume(e.Model, req.Models)
	var stats provider.Stats
	if onDelta != nil && req.OnCommit != nil {
		onDelta = committing(req.OnCommit, e, onDelta)
	}
	first, stall, d := r.deadlines(e, req.Timeouts, req.next)
	ar.a.Deadline = &d
	s, err := e.Upstream.Stream(ctx, provider.Request{
		Model: e.UpstreamModel, Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature,
		User: req.User, Extra: req.Extra, MaxAnswer: req.MaxAnswer,
		ConnectTimeout: req.Timeouts.Connect, FirstTokenTimeout: first, StallTimeout: stall,
	})
	if err == nil {
		err = drain(s, func(c provider.Chunk) {
			if onFirst != nil && (c.Content != "" || c.Reasoning != "") {
				onFirst()
				onFirst = nil
			}
			if onDelta == nil {
				reasoning.WriteString(c.Reasoning)
			}
			if c.Content != "" {
				ar.committed = true
				if keepContent {
					content.WriteString(c.Content)
				}
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
	ar.tokens, ar.a.Skipped = stats.OutputTokens, stats.SkippedEvents
	o := provider.OutcomeOf(stats, err)
	o.Gen = gen
	// Abandoned at its own norm, before the cap: slow, not silent.
	o.Slow = d.Norm && o.Class == provider.ClassTimeout
	switch {
	case err == nil || ctx.Err() == nil:
	case errors.Is(context.Cause(ctx), errRestarted):
		// It ignored the prefill: its failure, the answer's to resume.
		o.Class = provider.ClassMalformed
		err = &provider.Error{Class: provider.ClassMalformed, Err: errRestarted}
	case stats.TTFT > 0 && errors.Is(context.Cause(ctx), errTotalTimeout):
		// The request's total time ran out while this endpoint was
		// answering: it was too slow to finish, which is its failure.
		o.Class = provider.ClassTimeout
		err = &provider.Error{Class: provider.ClassTimeout, Err: fmt.Errorf("%w while it was answering", errTotalTimeout)}
	default:
		// The request's time ran out before this endpoint began, its
		// caller went away, or a won hedge ended it: not the provider's
		// failure.
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
