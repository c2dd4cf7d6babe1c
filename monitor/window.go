package monitor

import (
	"math"
	"time"

	"switchboard/provider"
)

// Latencies are counted in a histogram of logarithmic bins: bin i holds
// durations in [histMin*histRatio^(i-1), histMin*histRatio^i), bin 0 all below
// histMin, the last all above. The memory per bucket is fixed whatever the
// traffic; a percentile is accurate to within half a bin (about 10%).
const (
	histBins  = 64
	histMin   = float64(time.Millisecond)
	histRatio = 1.2
)

var logRatio = math.Log(histRatio)

type histogram [histBins]uint32

func (h *histogram) add(d time.Duration) {
	h[histBin(d)]++
}

func histBin(d time.Duration) int {
	if float64(d) < histMin {
		return 0
	}
	i := 1 + int(math.Log(float64(d)/histMin)/logRatio)
	return min(i, histBins-1)
}

// histValue is the geometric middle of bin i.
func histValue(i int) time.Duration {
	if i == 0 {
		return time.Duration(histMin / 2)
	}
	return time.Duration(histMin * math.Pow(histRatio, float64(i)-0.5))
}

func (h *histogram) merge(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the q-quantile (0..1) of the counted durations, 0 if none.
func (h *histogram) quantile(q float64) time.Duration {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h {
		if seen += uint64(c); seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histBins - 1)
}

// bucket holds the outcomes of one time slot of width Options.Bucket.
type bucket struct {
	slot        int64 // which slot this bucket holds; a stale slot means empty
	requests    uint32
	probes      uint32
	successes   uint32
	provErrors  uint32
	userErrors  uint32
	rateLimited uint32
	errors      [provider.NumClasses]uint32
	latency     histogram // durations of successes
	ttft        histogram // time to first token of successes
}

func (b *bucket) add(o provider.Outcome) {
	b.requests++
	if o.Probe {
		b.probes++
	}
	switch c := o.Class; {
	case c == provider.ClassOK:
		b.successes++
		b.latency.add(o.Duration)
		if o.TTFT > 0 {
			b.ttft.add(o.TTFT)
		}
		return
	case c == provider.ClassRateLimited:
		b.rateLimited++
	case c.UserError():
		b.userErrors++
	case c.ProviderError():
		b.provErrors++
	}
	b.errors[o.Class]++
}

// merge adds o's counts to b (the slot is left alone).
func (b *bucket) merge(o *bucket) {
	b.requests += o.requests
	b.probes += o.probes
	b.successes += o.successes
	b.provErrors += o.provErrors
	b.userErrors += o.userErrors
	b.rateLimited += o.rateLimited
	for i := range b.errors {
		b.errors[i] += o.errors[i]
	}
	b.latency.merge(&o.latency)
	b.ttft.merge(&o.ttft)
}

// availability is successes / (successes + provider errors), -1 without either.
func (b *bucket) availability() float64 {
	n := b.successes + b.provErrors
	if n == 0 {
		return -1
	}
	return float64(b.successes) / float64(n)
}

func (b *bucket) errorRate() float64 {
	if b.requests == 0 {
		return 0
	}
	return float64(b.provErrors) / float64(b.requests)
}

// ring is a rolling window: a fixed ring of time buckets. A bucket whose slot
// is not the one asked for is empty; nothing is ever cleared in the background.
type ring struct {
	width   time.Duration
	buckets []bucket
}

func newRing(width, span time.Duration) ring {
	n := int(span / width)
	return ring{width: width, buckets: make([]bucket, max(n, 1))}
}

func (r *ring) slot(t time.Time) int64 { return t.UnixNano() / int64(r.width) }

// at returns the bucket for slot s, emptied if it held an older slot.
func (r *ring) at(s int64) *bucket {
	b := &r.buckets[int(s%int64(len(r.buckets)))]
	if b.slot != s {
		*b = bucket{slot: s}
	}
	return b
}

// peek returns the bucket for slot s, or nil if it holds no data for it.
func (r *ring) peek(s int64) *bucket {
	b := &r.buckets[int(s%int64(len(r.buckets)))]
	if b.slot != s {
		return nil
	}
	return b
}

// sum merges the last n slots up to and including slot now.
func (r *ring) sum(now int64, n int) bucket {
	var total bucket
	n = min(n, len(r.buckets))
	for s := now - int64(n) + 1; s <= now; s++ {
		if b := r.peek(s); b != nil {
			total.merge(b)
		}
	}
	return total
}
