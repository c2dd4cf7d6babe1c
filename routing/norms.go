package routing

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/provider"
)

// The defaults of Options.NormFactor and Options.NormFloor.
const (
	// DefaultNormFactor: an attempt is abandoned at three times its
	// endpoint's own 30-minute p99, a wait that fewer than one answer in a
	// hundred comes near, so that only an endpoint far off its normal pays.
	DefaultNormFactor = 3.0
	// DefaultNormFloor: no deadline from a norm is shorter than 3s, so that
	// an endpoint whose norm is a few hundred milliseconds is not cut off
	// by a hiccup of the network or a longer prompt than usual.
	DefaultNormFloor = 3 * time.Second
)

// Deadline is the first-token and stall limits one attempt ran under, and
// why: the caps (the request's, its model's or the router's timeouts, else
// the provider's own), or shorter ones from the endpoint's norms (see
// Options.NormFactor).
type Deadline struct {
	FirstToken time.Duration `json:"first_token_ns"`
	Stall      time.Duration `json:"stall_ns"`
	// Norm is set when either limit is shorter than its cap: the endpoint
	// was held to its own normal.
	Norm bool   `json:"norm,omitempty"`
	Why  string `json:"why"`
}

// deadlines returns the first-token and stall limits to send for an attempt
// at e under the request's timeouts t, and the Deadline to put in the
// trace. A limit comes from the endpoint's norm only when it is shorter
// than the cap; otherwise t's own goes (0 leaves the provider its own), as
// when norms did not exist. others says whether another endpoint could
// answer if this one is abandoned before its first token, carryOn whether
// one could take over after a stall.
func (r *Router) deadlines(e Endpoint, t Timeouts, n takeover) (first, stall time.Duration, d Deadline) {
	caps := t.or(e.Timeouts).or(Timeouts{FirstToken: provider.DefaultFirstTokenTimeout, Stall: provider.DefaultStallTimeout})
	var st *monitor.EndpointStatus
	if n.snap != nil {
		st = n.snap.Status(e.ID)
	}
	d = r.deadline(e.ID, inputsOf(st, caps, r.norm(), n.others, n.carryOn))
	first, stall = t.FirstToken, t.Stall
	if d.FirstToken < caps.FirstToken {
		first = d.FirstToken
	}
	if d.Stall < caps.Stall {
		stall = d.Stall
	}
	return first, stall, d
}

// norm is the router's factor and floor, defaults filled in.
func (r *Router) norm() norm {
	return norm{factor: cmp.Or(r.opts.NormFactor, DefaultNormFactor), floor: cmp.Or(r.opts.NormFloor, DefaultNormFloor)}
}

// norm is how far past its own normal an endpoint may go: factor times its
// 30-minute p99, and never less than floor.
type norm struct {
	factor float64
	floor  time.Duration
}

// inputsOf is what an attempt's limits are decided from: its endpoint's
// status st (nil: unknown to the monitor), the caps, the norm, and whether
// another endpoint could take over (see deadlineInputs.deadline).
func inputsOf(st *monitor.EndpointStatus, caps Timeouts, n norm, others, carryOn bool) deadlineInputs {
	in := deadlineInputs{caps: caps, n: n, others: others, carryOn: carryOn}
	if st != nil {
		in.ttft, in.gap = st.TTFT30m.P99, st.Gap30m.P99
	}
	return in
}

// deadlineInputs is all an attempt's Deadline is worked out from: the
// caps, the norm, the endpoint's 30-minute p99s (0: none), and whether
// another endpoint could take over.
type deadlineInputs struct {
	caps            Timeouts
	n               norm
	ttft, gap       time.Duration
	others, carryOn bool
}

// deadlineMemo is a Deadline and what it was worked out from.
type deadlineMemo struct {
	in deadlineInputs
	d  Deadline
}

// deadline is in.deadline() for endpoint id, from the endpoint's memo when
// the inputs are the same as last time: they change when a minute of
// history does, while the words of the Deadline (in every answer's trace)
// took 18 allocations an attempt to write.
func (r *Router) deadline(id string, in deadlineInputs) Deadline {
	memo := r.deadlineMemo[id]
	if memo == nil { // an endpoint the router was not built with (tests)
		return in.deadline()
	}
	if m := memo.Load(); m != nil && m.in == in {
		return m.d
	}
	d := in.deadline()
	memo.Store(&deadlineMemo{in: in, d: d})
	return d
}

// deadline decides an attempt's limits. Each limit is min(cap, max(floor,
// factor x p99)), the p99 being the endpoint's 30-minute time to first
// token for the first, and its longest gap between tokens for the stall
// limit. The cap stands when nothing else could take over (abandoning the
// only hope early would only lose the answer) and when the endpoint has no
// history: without a normal, nothing is far past it, and a new or idle
// endpoint must not be cut off on a guess. Hedging, where it is on, is what
// keeps such an endpoint from holding a request.
func (in deadlineInputs) deadline() Deadline {
	caps, n := in.caps, in.n
	f, fWhy := n.limit(caps.FirstToken, in.ttft, in.others, "its p99")
	s, sWhy := n.limit(caps.Stall, in.gap, in.carryOn, "its p99 gap between tokens")
	d := Deadline{FirstToken: f, Stall: s, Norm: f < caps.FirstToken || s < caps.Stall}
	var why []string
	switch {
	case d.Norm:
		// Only what the norms shortened: the rest are the caps, as ever.
		if f < caps.FirstToken {
			why = append(why, fmt.Sprintf("first token within %s: %s", human.Duration(f), fWhy))
		}
		if s < caps.Stall {
			why = append(why, fmt.Sprintf("silence at most %s: %s", human.Duration(s), sWhy))
		}
	case fWhy == sWhy:
		why = append(why, "the caps: "+fWhy)
	default:
		why = append(why, "the caps: "+fWhy+" (first token), "+sWhy+" (stall)")
	}
	d.Why = strings.Join(why, "; ")
	return d
}

// limit is one limit: the cap, or min(cap, max(floor, factor x p99)) when
// another could take over and p99 (0: no data) is known; and why.
func (n norm) limit(cap, p99 time.Duration, others bool, what string) (time.Duration, string) {
	switch {
	case !others:
		return cap, "nothing else could take over"
	case p99 <= 0:
		return cap, "no history in 30m"
	}
	times := fmt.Sprintf("%s× %s %s (30m)", strconv.FormatFloat(n.factor, 'f', -1, 64), what, human.Duration(p99))
	switch d := n.factor * float64(p99); { // a float: a huge factor must not overflow into a short limit
	case n.floor >= cap:
		return cap, fmt.Sprintf("the floor %s is not shorter", human.Duration(n.floor))
	case d >= float64(cap):
		return cap, "not shorter than " + times
	case d < float64(n.floor):
		return n.floor, "the floor, over " + times
	default:
		return time.Duration(d), times
	}
}

// takeover is what an attempt's norms go by, as the run knows it when the
// attempt starts: the request's snapshot of health (the norms are
// 30-minute figures: asking the monitor for a fresh snapshot at every
// attempt would rebuild one after every outcome, on the hot path);
// others, whether another endpoint could answer one abandoned before its
// first token; carryOn, whether one could carry the answer on (for a
// whole-answer caller, any other; for a streaming one, one that takes a
// prefill) after a stall.
type takeover struct {
	snap            *monitor.Snapshot // nil: no norms known
	others, carryOn bool
}
