package routing

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	whole     answerParts
	committed bool // content or a tool call arrived
	called    bool // a tool call arrived, which no prefill can carry on
	hedged    bool // it raced a hedge (or was one)
	// outraced is the endpoint (id) that lost the race to it before
	// answering, if it won one.
	outraced string
	finish   string
	usage    provider.Usage
	tokens   int // the answer's tokens as the upstream counted them (usage), else its chunks
	err      *provider.Error
}

// answerParts are the parts of a whole answer besides its content, for a
// caller that does not stream: the thinking and its seal, the tool calls
// put together from their pieces, the log probabilities.
//
// The text is kept in byte slices, not strings.Builders: answerParts goes
// by value in an attemptResult (returned, sent from a race's goroutines),
// and a Builder written to holds a pointer to itself, one the compiler is
// told does not escape: copied out of the stack of the goroutine that wrote
// it, it points into that stack once the goroutine is gone, and the
// garbage collector, finding it there, stops the process ("found bad
// pointer in Go heap", seen under -race with hedged races ending at once).
type answerParts struct {
	reasoning, signature []byte
	calls                []provider.ToolCall
	args                 []*strings.Builder // of calls[i]
	logprobs             []provider.Logprob
}

func (w *answerParts) add(d *Delta) {
	w.reasoning = append(w.reasoning, d.Reasoning...)
	w.signature = append(w.signature, d.Signature...)
	w.logprobs = append(w.logprobs, d.Logprobs...)
	w.addCalls(d.ToolCalls)
}

// addCalls puts pieces of tool calls with the calls they belong to.
func (w *answerParts) addCalls(pieces []provider.ToolCall) {
	for _, tc := range pieces {
		i := slices.IndexFunc(w.calls, func(c provider.ToolCall) bool { return c.Index == tc.Index })
		if i < 0 {
			i = len(w.calls)
			w.calls = append(w.calls, provider.ToolCall{Index: tc.Index})
			w.args = append(w.args, &strings.Builder{})
		}
		c := &w.calls[i]
		c.ID, c.Name = cmp.Or(c.ID, tc.ID), cmp.Or(c.Name, tc.Name)
		w.args[i].WriteString(tc.Arguments)
	}
}

// badCall is the error of an answer that says it is whole (it did not
// stop at max_tokens) with a tool call whose arguments are not a JSON
// object: the upstream's failure, which no caller can run. nil when every
// call is sound; arguments left empty mean a call without any.
func (w *answerParts) badCall(finish string) *provider.Error {
	if finish == "length" {
		return nil // cut at max_tokens, and it says so
	}
	for i, c := range w.calls {
		args := bytes.TrimSpace([]byte(w.args[i].String()))
		if len(args) == 0 || args[0] == '{' && json.Valid(args) {
			continue
		}
		return &provider.Error{Class: provider.ClassMalformed,
			Message: fmt.Sprintf("tool call %q of the answer has arguments that are not a JSON object: %q", Clip(c.Name, EchoLimit), Clip(string(args), EchoLimit))}
	}
	return nil
}

// handOn hands the thinking held before the commit to onDelta, and
// forgets it.
func (w *answerParts) handOn(onDelta OnDelta) {
	if len(w.reasoning) > 0 || len(w.signature) > 0 {
		onDelta(Delta{Reasoning: string(w.reasoning), Signature: string(w.signature)})
		*w = answerParts{}
	}
}

// toolCalls are the answer's calls, each whole, in the order the model
// made them.
func (w *answerParts) toolCalls() []provider.ToolCall {
	for i := range w.calls {
		w.calls[i].Arguments = w.args[i].String()
	}
	slices.SortStableFunc(w.calls, func(a, b provider.ToolCall) int { return cmp.Compare(a.Index, b.Index) })
	return w.calls
}

// attempt tries one endpoint, handing the answer to onDelta as it arrives,
// and records the outcome in the monitor. Thinking that comes before the
// answer's first content or tool call is held until one of them commits
// the attempt, and dropped if none comes: a caller never sees thinking of
// an attempt that did not serve it. It keeps the text only as long as the
// run may need it: the whole answer of a caller that does not stream, and,
// for one that does, the content an endpoint that takes a prefill would
// carry on from if the stream broke; never a second copy of a streamed
// answer that nothing could resume. onFirst, if set, is called at the
// first token of any kind: a reasoning model's thinking counts, though
// only content and tool calls commit the request.
// answerStart is the room an answer's content is kept in at first.
const answerStart = 512

func (r *Router) attempt(ctx context.Context, e Endpoint, gen uint64, req Request, onDelta OnDelta, onFirst func()) attemptResult {
	ar := attemptResult{e: e, a: Attempt{Endpoint: e.ID, Provider: e.Provider, Model: e.Model, Start: r.opts.Clock.Now()}}
	var content strings.Builder
	var held answerParts // thinking before the commit, for a caller that streams
	keepContent := onDelta == nil || r.mayResume(e.Model, req.Models)
	var stats provider.Stats
	if onDelta != nil && req.OnCommit != nil {
		onDelta = committing(req.OnCommit, e, onDelta)
	}
	first, stall, d := r.deadlines(e, req.Timeouts, req.next)
	ar.a.Deadline = &d
	var waiting uint64 // its number among the endpoint's waiters; 0 for none
	if req.next.others {
		// Another endpoint could take over: if this one is found silent
		// while an earlier attempt waits on it too, this one gives up
		// (see waiters).
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		waiting = r.waits.add(e.ID, ar.a.Start, cancel)
		defer r.waits.remove(e.ID, waiting)
	}
	r.opts.Health.Sent(e.ID)
	answered := false
	s, err := e.Upstream.Stream(ctx, provider.Request{
		Model: e.UpstreamModel, Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature,
		User: req.User, Extra: req.Extra, MaxAnswer: req.MaxAnswer, OnWait: req.OnWait,
		Tools: req.Tools, ToolChoice: req.ToolChoice, ParallelToolCalls: req.ParallelToolCalls, Reasoning: req.Reasoning,
		ConnectTimeout: req.Timeouts.Connect, FirstTokenTimeout: first, StallTimeout: stall,
	})
	if err == nil {
		err = drain(s, func(c provider.Chunk) {
			if !answered {
				answered = true
				r.opts.Health.Answered(e.ID)
				if waiting != 0 {
					r.waits.remove(e.ID, waiting)
				}
			}
			d := Delta{Content: c.Content, Reasoning: c.Reasoning, Signature: c.Signature, ToolCalls: c.ToolCalls, Logprobs: c.Logprobs}
			if onFirst != nil && (d.commits() || d.Reasoning != "") {
				onFirst()
				onFirst = nil
			}
			ar.committed = ar.committed || d.commits()
			ar.called = ar.called || len(d.ToolCalls) > 0
			if keepContent && d.Content != "" {
				if content.Cap() == 0 {
					// A short answer in one allocation, not the five of
					// growing from nothing a few bytes at a time.
					content.Grow(answerStart)
				}
				content.WriteString(d.Content)
			}
			switch {
			case onDelta == nil:
				ar.whole.add(&d)
			case !ar.committed:
				held.add(&d)
			default:
				held.handOn(onDelta)
				if !d.empty() {
					onDelta(d)
				}
				ar.whole.addCalls(d.ToolCalls) // to check them at the end
			}
			if c.FinishReason != "" {
				ar.finish = c.FinishReason
			}
			if c.Usage != nil {
				ar.usage = *c.Usage
			}
		})
		if err == nil {
			if e := ar.whole.badCall(ar.finish); e != nil {
				err = e
			}
		}
		if err == nil && onDelta != nil {
			// A whole answer of thinking alone (cut at max_tokens while
			// the model thought) is still this endpoint's answer.
			held.handOn(onDelta)
		}
		stats = s.Stats()
		s.Close()
	} else {
		stats = provider.Stats{Start: ar.a.Start, Duration: r.opts.Clock.Now().Sub(ar.a.Start)}
	}
	ar.tokens, ar.a.Skipped = stats.OutputTokens, stats.SkippedEvents
	o := provider.OutcomeOf(stats, err)
	o.Gen, o.Waiting = gen, !answered
	// Abandoned at its own norm, before the cap: slow, not silent.
	o.Slow = d.Norm && o.Class == provider.ClassTimeout
	switch {
	case err == nil || ctx.Err() == nil:
	case errors.Is(context.Cause(ctx), errRestarted):
		// It ignored the prefill: its failure, the answer's to resume.
		o.Class = provider.ClassMalformed
		err = &provider.Error{Class: provider.ClassMalformed, Err: errRestarted}
	case errors.Is(context.Cause(ctx), errCarriedOnElsewhere):
		// It went silent mid-answer for longer than its own norm lets
		// (the stall hedge's delay), and the hedge carried the answer on
		// before it said more: a stall, cut at its norm like a norm
		// deadline's (slow, not silent). Taken for a lost race, a
		// provider that stalls would look whole to a router that hedges.
		o.Class, o.Slow = provider.ClassStall, true
		err = &provider.Error{Class: provider.ClassStall, Err: errCarriedOnElsewhere}
	case isLeftUnanswered(context.Cause(ctx)):
		// Given up while an earlier attempt waits on the same silent
		// endpoint: the request goes on (a timeout, to the run), and the
		// endpoint is not blamed once more for it (canceled, to the
		// monitor): what it owes the attempts it keeps waiting is the
		// evidence, and it runs on.
		o.Class = provider.ClassCanceled
		err = &provider.Error{Class: provider.ClassTimeout, Err: context.Cause(ctx)}
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
	ar.content = content.String()
	if ar.err = provider.AsError(err); ar.err != nil {
		ar.a.Error = ar.err.Error()
		ar.a.Flag = flagFor(ar.err.Class)
	}
	return ar
}

// committing tells onCommit that e serves before handing on e's first
// delta.
func committing(onCommit func(Endpoint), e Endpoint, onDelta OnDelta) OnDelta {
	told := false
	return func(d Delta) {
		if !told {
			told = true
			onCommit(e)
		}
		onDelta(d)
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
