package monitor

import (
	"math"
	"math/bits"
)

// A histogram counts values in log-linear bins, as HdrHistogram does: values
// below subBins each have a bin of their own; above, every power of two is
// split into subBins equal bins. A bin is then at most 1/subBins of its
// values wide, so its middle is within 1/(2*subBins) (1.6%) of any value in
// it, whatever the scale. Memory is fixed: histBins counters.
const (
	subBits  = 5
	subBins  = 1 << subBits // 32
	octaves  = 16           // values up to subBins<<octaves (2^21: 35 minutes in milliseconds)
	histBins = subBins * (octaves + 1)
)

type histogram struct {
	counts [histBins]uint32
	oct    [octaves + 1]uint32 // counts per octave (subBins bins each), so scans skip whole octaves
	n      uint64
	hi     int // highest bin ever used: merges stop there
}

// binOf returns the bin of value v.
func binOf(v uint64) int {
	if v < subBins {
		return int(v)
	}
	e := bits.Len64(v) - subBits // >= 1: the octave above the linear range
	if e > octaves {
		return histBins - 1
	}
	sub := int(v>>(e-1)) - subBins // the subBits bits below the leading one
	return e*subBins + sub
}

// binMid returns the middle of bin i's range of values.
func binMid(i int) float64 {
	if i < subBins {
		return float64(i)
	}
	e, sub := i/subBins, i%subBins
	lo := uint64(subBins+sub) << (e - 1)
	width := uint64(1) << (e - 1)
	return float64(lo) + float64(width-1)/2
}

func (h *histogram) add(v uint64) {
	i := binOf(v)
	h.counts[i]++
	h.oct[i/subBins]++
	h.n++
	h.hi = max(h.hi, i)
}

// merge adds o's counts to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i := 0; i <= o.hi; i++ {
		h.counts[i] += o.counts[i]
	}
	for i := 0; i <= o.hi/subBins; i++ {
		h.oct[i] += o.oct[i]
	}
	h.n += o.n
	h.hi = max(h.hi, o.hi)
}

// subtract removes o's counts from h; o must have been merged into h.
func (h *histogram) subtract(o *histogram) {
	if o.n == 0 {
		return
	}
	for i := 0; i <= o.hi; i++ {
		h.counts[i] -= o.counts[i]
	}
	for i := 0; i <= o.hi/subBins; i++ {
		h.oct[i] -= o.oct[i]
	}
	h.n -= o.n
}

// quantiles fills out[k] with the qs[k]-quantile of the counted values, in
// one pass; qs must be ascending and at most maxQuantiles long. Without
// values, out is all -1.
func (h *histogram) quantiles(qs []float64, out []float64) {
	var rank [maxQuantiles]uint64 // the k-th wanted value is the rank[k]-th smallest
	for k, q := range qs {
		rank[k] = max(uint64(math.Ceil(q*float64(h.n))), 1)
	}
	h.ranked(rank[:len(qs)], out)
}

// reached fills out[k] with the highest value that at least shares[k] of
// the counted values reach or exceed: the ceil(shares[k]*n)-th largest, so
// that 0.9 gives what 90% of them attain. It reads a distribution from the
// top, as a speed is; shares must be descending and at most maxQuantiles
// long. Without values, out is all -1.
func (h *histogram) reached(shares []float64, out []float64) {
	var rank [maxQuantiles]uint64
	for k, p := range shares {
		fromTop := min(max(uint64(math.Ceil(p*float64(h.n))), 1), h.n)
		rank[k] = h.n - fromTop + 1
	}
	h.ranked(rank[:len(shares)], out)
}

// ranked fills out[k] with the rank[k]-th smallest counted value, in one
// pass; rank must be ascending. Octaves that hold none of the wanted ranks
// are skipped whole.
func (h *histogram) ranked(rank []uint64, out []float64) {
	if h.n == 0 {
		for k := range out {
			out[k] = -1
		}
		return
	}
	k := 0
	var seen uint64
	for o := 0; o <= octaves && k < len(rank); o++ {
		if seen+uint64(h.oct[o]) < rank[k] {
			seen += uint64(h.oct[o])
			continue
		}
		for i := o * subBins; i < (o+1)*subBins && k < len(rank); i++ {
			seen += uint64(h.counts[i])
			for k < len(rank) && seen >= rank[k] {
				out[k] = binMid(i)
				k++
			}
		}
	}
	for ; k < len(rank); k++ { // unreachable while the counts add up; never leave garbage
		out[k] = binMid(h.hi)
	}
}

// maxQuantiles bounds how many quantiles one call computes.
const maxQuantiles = 8
