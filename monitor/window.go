package monitor

import (
	"time"

	"switchboard/provider"
)

// counts are the outcome counters of one time slot, or of a sum of slots.
type counts struct {
	requests    uint32
	probes      uint32
	probeFails  uint32 // probes that ended in a provider error
	successes   uint32
	provErrors  uint32
	userErrors  uint32
	rateLimited uint32
	errors      [provider.NumClasses]uint32
	latencySum  time.Duration // of successes
	ttftSum     time.Duration // of successes that had a first token
	ttftN       uint32
	tokens      uint64
}

// sample is an outcome as a window counts it.
type sample struct {
	provider.Outcome
	// timed says whether its timings count for the endpoint's speed (its
	// latency, first token, gaps and throughput): a real answer's always;
	// a probe's only while the endpoint has no real answers to go by. A
	// probe's few tokens are mostly its time to first token and would drag
	// throughput far below what a real answer gets, and latency below what
	// one takes; and a look (sent because an attempt went unanswered past
	// its norm) is sent when the endpoint is slowest: its first token,
	// counted, raised the norm an endpoint's late first tokens are cut at
	// to past them.
	timed bool
}

func (c *counts) add(o sample) {
	c.requests++
	if o.Probe {
		c.probes++
	}
	if o.Probe && o.Class.ProviderError() {
		c.probeFails++
	}
	switch k := o.Class; {
	case k == provider.ClassOK && o.Shallow:
		// Only the host answered: a request and a probe, not an answer, so
		// availability and the latency means leave it out.
		return
	case k == provider.ClassOK:
		c.successes++
		c.latencySum += o.Duration
		if o.TTFT > 0 {
			c.ttftSum += o.TTFT
			c.ttftN++
		}
		c.tokens += uint64(max(o.OutputTokens, 0))
		return
	case k == provider.ClassRateLimited:
		c.rateLimited++
	case k.UserError():
		c.userErrors++
	case k.ProviderError():
		c.provErrors++
	}
	if int(o.Class) < len(c.errors) {
		c.errors[o.Class]++
	}
}

func (c *counts) merge(o *counts) {
	c.requests += o.requests
	c.probes += o.probes
	c.probeFails += o.probeFails
	c.successes += o.successes
	c.provErrors += o.provErrors
	c.userErrors += o.userErrors
	c.rateLimited += o.rateLimited
	for i := range c.errors {
		c.errors[i] += o.errors[i]
	}
	c.latencySum += o.latencySum
	c.ttftSum += o.ttftSum
	c.ttftN += o.ttftN
	c.tokens += o.tokens
}

func (c *counts) subtract(o *counts) {
	c.requests -= o.requests
	c.probes -= o.probes
	c.probeFails -= o.probeFails
	c.successes -= o.successes
	c.provErrors -= o.provErrors
	c.userErrors -= o.userErrors
	c.rateLimited -= o.rateLimited
	for i := range c.errors {
		c.errors[i] -= o.errors[i]
	}
	c.latencySum -= o.latencySum
	c.ttftSum -= o.ttftSum
	c.ttftN -= o.ttftN
	c.tokens -= o.tokens
}

// availability is successes / (successes + provider errors), NoData
// without either.
func (c *counts) availability() float64 {
	n := c.successes + c.provErrors
	if n == 0 {
		return NoData
	}
	return float64(c.successes) / float64(n)
}

// answered is how many outcomes availability is computed from.
func (c *counts) answered() int { return int(c.successes + c.provErrors) }

// errorRate is provider errors / requests, NoData without requests.
func (c *counts) errorRate() float64 {
	if c.requests == 0 {
		return NoData
	}
	return float64(c.provErrors) / float64(c.requests)
}

// mean is a sum of durations over n, NoData when n is 0.
func mean(sum time.Duration, n uint32) time.Duration {
	if n == 0 {
		return NoData
	}
	return sum / time.Duration(n)
}

// dists are the distributions of one slot: whole-answer latency, time to
// first token and the longest gap between tokens of an answer in
// milliseconds, and throughput (see throughput) in tokens per second.
type dists struct {
	latency, ttft, gap, throughput histogram
}

func (d *dists) add(o sample) {
	// A model list's timing is not the model's; a probe's is not once
	// real answers speak for it (sample.timed).
	if o.Class != provider.ClassOK || o.Shallow || !o.timed {
		return
	}
	d.latency.add(uint64(o.Duration / time.Millisecond))
	if o.TTFT > 0 {
		d.ttft.add(uint64(o.TTFT / time.Millisecond))
	}
	if o.MaxGap > 0 {
		// Rounded up: a gap under a millisecond (a fast stream's, or
		// chunks that came in one read) is a gap of 1ms, not one of 0,
		// which Percentiles would read as no data.
		d.gap.add(uint64((o.MaxGap + time.Millisecond - 1) / time.Millisecond))
	}
	if tps, ok := throughput(o.Outcome); ok {
		d.throughput.add(uint64(tps + 0.5))
	}
}

// throughput is output tokens per second over the whole answer, time to
// first token included, as OpenRouter counts it; false when it cannot be
// told: fewer than two tokens (one token's rate is only the inverse of its
// latency) or no duration.
//
// No shortest duration is asked for. Timing from the first token on, a
// short answer that came in one network write read as the wire's speed
// (8 tokens in 0.1ms: 80,000 tokens/s), so generations under 50ms were
// dropped, and with them every 8-token probe of a fast provider. Counted
// from the request, the duration holds the round trip and the provider's
// work before its first token: a short one is a fast answer, not an
// artefact of the wire.
func throughput(o provider.Outcome) (float64, bool) {
	if o.OutputTokens < 2 || o.Duration <= 0 {
		return 0, false
	}
	return float64(o.OutputTokens) / o.Duration.Seconds(), true
}

func (d *dists) merge(o *dists) {
	d.latency.merge(&o.latency)
	d.ttft.merge(&o.ttft)
	d.gap.merge(&o.gap)
	d.throughput.merge(&o.throughput)
}

func (d *dists) subtract(o *dists) {
	d.latency.subtract(&o.latency)
	d.ttft.subtract(&o.ttft)
	d.gap.subtract(&o.gap)
	d.throughput.subtract(&o.throughput)
}

// slot is what a rolling window can hold: something outcomes are added to,
// and that sums and subtracts.
type slot[T any] interface {
	*T
	add(o sample)
	merge(o *T)
	subtract(o *T)
}

// rolling is a window of fixed time slots in a ring, with a running total of
// the live slots and running totals of the last k slots (tails), so that
// reading any horizon costs nothing however long the window. Slots expire
// as time moves on: nothing runs in the background.
type rolling[T any, P slot[T]] struct {
	width time.Duration
	slots []T
	ids   []int64 // the slot id each position holds; -1 for none
	cur   int64   // the newest slot id seen
	total T
	tails []tail[T]
	// changes grows with every change of what the window holds (an
	// outcome added or merged, a slot expired), so that figures read from
	// it can be kept until it changes.
	changes uint64
}

type tail[T any] struct {
	k   int64
	sum T
}

func newRolling[T any, P slot[T]](width time.Duration, n int, tails ...int) *rolling[T, P] {
	r := &rolling[T, P]{width: width, slots: make([]T, n), ids: make([]int64, n), cur: -1}
	for i := range r.ids {
		r.ids[i] = -1
	}
	for _, k := range tails {
		r.tails = append(r.tails, tail[T]{k: int64(k)})
	}
	return r
}

func (r *rolling[T, P]) id(t time.Time) int64 { return t.UnixNano() / int64(r.width) }

// advance moves the window to the slot of now, expiring the slots that fall
// out of it and out of each tail.
func (r *rolling[T, P]) advance(now time.Time) {
	s := r.id(now)
	if s <= r.cur {
		return
	}
	r.changes++
	n := int64(len(r.slots))
	if r.cur < 0 || s-r.cur >= n {
		r.reset(s)
		return
	}
	for id := r.cur + 1; id <= s; id++ {
		for i := range r.tails {
			t := &r.tails[i]
			if old := id - t.k; old >= 0 {
				if p := old % n; r.ids[p] == old {
					P(&t.sum).subtract(&r.slots[p])
				}
			}
		}
		p := id % n
		if r.ids[p] >= 0 {
			P(&r.total).subtract(&r.slots[p])
			clear(r.slots[p : p+1])
		}
		r.ids[p] = id
	}
	r.cur = s
}

// reset empties the window, which now ends in slot s.
//
// Every T is zeroed in place, never from a zero T of the function's own: a
// minute slot holds four histograms, and a zero one on the stack made
// advance's frame 9 KiB, so that nearly every goroutine recording an
// outcome had its stack grown and copied.
func (r *rolling[T, P]) reset(s int64) {
	clear(r.slots)
	for i := range r.ids {
		r.ids[i] = -1
	}
	r.total = r.slots[0] // a cleared slot: zero
	for i := range r.tails {
		r.tails[i].sum = r.slots[0]
	}
	r.cur = s
}

// add counts o in the slot of now.
func (r *rolling[T, P]) add(now time.Time, o sample) {
	r.advance(now)
	r.changes++
	p := r.cur % int64(len(r.slots))
	r.ids[p] = r.cur
	P(&r.slots[p]).add(o)
	P(&r.total).add(o)
	for i := range r.tails {
		P(&r.tails[i].sum).add(o)
	}
}

// merge adds a whole slot's worth (restored from history) into the slot that
// holds time at, if it is still inside the window.
func (r *rolling[T, P]) merge(now, at time.Time, v *T) {
	r.advance(now)
	id := r.id(at)
	n := int64(len(r.slots))
	if id > r.cur || id <= r.cur-n {
		return
	}
	p := id % n
	if r.ids[p] != id {
		clear(r.slots[p : p+1])
		r.ids[p] = id
	}
	r.changes++
	P(&r.slots[p]).merge(v)
	P(&r.total).merge(v)
	for i := range r.tails {
		if id > r.cur-r.tails[i].k {
			P(&r.tails[i].sum).merge(v)
		}
	}
}

// at returns the slot with id s, or nil if the window holds nothing for it.
func (r *rolling[T, P]) at(s int64) *T {
	if s < 0 || s > r.cur || s <= r.cur-int64(len(r.slots)) {
		return nil
	}
	p := s % int64(len(r.slots))
	if r.ids[p] != s {
		return nil
	}
	return &r.slots[p]
}
