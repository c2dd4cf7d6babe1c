package monitor

import "math/bits"

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
	n      uint64
	hi     int // highest bin ever used: quantile scans stop there
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
	h.n -= o.n
}

// quantiles fills out[k] with the qs[k]-quantile of the counted values, in
// one pass; qs must be ascending. Without values, out is all -1.
func (h *histogram) quantiles(qs []float64, out []float64) {
	if h.n == 0 {
		for k := range out {
			out[k] = -1
		}
		return
	}
	k := 0
	var seen uint64
	for i := 0; i <= h.hi && k < len(qs); i++ {
		seen += uint64(h.counts[i])
		for k < len(qs) && float64(seen) >= qs[k]*float64(h.n) && seen > 0 {
			out[k] = binMid(i)
			k++
		}
	}
	for ; k < len(qs); k++ {
		out[k] = binMid(h.hi)
	}
}
