package routing

import (
	"context"
	"errors"
	"strings"

	"switchboard/provider"
)

// errRestarted is the cause a resumed attempt's context ends with when the
// upstream began the answer again instead of carrying it on: it ignored
// the prefill. Its text must not reach the caller, who would have the
// start of the answer twice.
var errRestarted = errors.New("the upstream began the answer again instead of carrying it on from the text already sent (it ignored the prefill)")

// The bytes of the answer so far that a resumed attempt's first bytes are
// compared with: enough that a continuation does not match them by
// chance; below restartMin the answer so far is too short to tell.
const (
	restartProbe = 32
	restartMin   = 16
)

// continuation stands between a resumed attempt and the caller: it holds
// back the attempt's first bytes until it can tell a continuation from a
// restart (an upstream that ignores the prefill begins the answer again,
// with the same words where the model is deterministic), then passes
// everything on, or, for a restart, nothing, and ends the attempt. A
// restart in other words than the first is not caught: nothing can tell it
// from a continuation. A tool call decides it too: the answer goes on with
// a call. Thinking the upstream does before it carries on is not passed
// on: the caller's answer, with its own thinking, is under way.
type continuation struct {
	prefix    string // the start of the answer the caller has
	held      strings.Builder
	heldProbs []provider.Logprob // of the held content
	decided   bool
	restarted bool
	deliver   OnDelta
	cancel    context.CancelCauseFunc
}

func newContinuation(sofar string, deliver OnDelta, cancel context.CancelCauseFunc) *continuation {
	c := &continuation{deliver: deliver, cancel: cancel}
	if len(sofar) >= restartMin {
		c.prefix = sofar[:min(len(sofar), restartProbe)]
	} else {
		c.decided = true
	}
	return c
}

func (c *continuation) onDelta(d Delta) {
	d.Reasoning, d.Signature = "", ""
	if !c.decided {
		c.held.WriteString(d.Content)
		c.heldProbs = append(c.heldProbs, d.Logprobs...)
		switch {
		case len(d.ToolCalls) == 0 && c.held.Len() < len(c.prefix):
			return
		case len(d.ToolCalls) == 0 && strings.HasPrefix(c.held.String(), c.prefix):
			c.decided, c.restarted = true, true
			c.cancel(errRestarted)
			return
		}
		c.decided = true
		d.Content, d.Logprobs = c.held.String(), c.heldProbs
		c.held.Reset()
		c.heldProbs = nil
	}
	if !c.restarted && !d.empty() {
		c.deliver(d)
	}
}

// settle hands on what is still held back once the attempt ended (a short
// continuation, or one that broke off before the check could decide: the
// caller has what the router counts as sent), or marks a restart as the
// attempt's failure with nothing of it sent.
func (c *continuation) settle(ar *attemptResult) {
	if c.restarted {
		ar.content = ""
		if ar.err == nil || ar.err.Class != provider.ClassMalformed {
			ar.err = &provider.Error{Class: provider.ClassMalformed, Err: errRestarted}
			ar.a.Outcome, ar.a.Error = ar.err.Class.String(), ar.err.Error()
		}
		return
	}
	if !c.decided && c.held.Len() > 0 {
		c.deliver(Delta{Content: c.held.String(), Logprobs: c.heldProbs})
	}
	c.decided = true
}
