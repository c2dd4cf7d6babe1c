package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tallySlot is what one endpoint recorded in one fine bucket (at, a bucket
// id) and has not yet handed to the fleet: counts and distributions, as a
// minute slot holds them.
type tallySlot struct {
	at int64
	s  minuteSlot
}

// tally adds a recorded outcome to what waits to go out; the caller holds
// m.mu. The slots are kept from one TakeTally to the next: a minute slot is
// 9 KiB of histograms.
func (h *health) tally(at int64, sm sample) {
	for i := range h.pend {
		if p := &h.pend[i]; p.at == at {
			p.s.add(sm)
			return
		}
	}
	for i := range h.pend { // a slot emptied by TakeTally
		if p := &h.pend[i]; p.s.c.requests == 0 {
			p.at = at
			p.s.add(sm)
			return
		}
	}
	h.pend = append(h.pend, tallySlot{at: at})
	h.pend[len(h.pend)-1].s.add(sm)
}

// countsAt are the counts of one bucket (at, a bucket id) not yet handed
// out: a model's routed requests.
type countsAt struct {
	at int64
	c  counts
}

// tallyCounts adds a sample to the counts of bucket at in pend.
func tallyCounts(pend []countsAt, at int64, sm sample) []countsAt {
	for i := range pend {
		if pend[i].at == at {
			pend[i].c.add(sm)
			return pend
		}
	}
	pend = append(pend, countsAt{at: at})
	pend[len(pend)-1].c.add(sm)
	return pend
}

// modelMark starts the name of a tally's entry for a model's routed
// requests, where an endpoint's id would be: no id starts with it.
const modelMark = "\x00model\x00"

// tallyVersion starts every encoded tally: a replica of another version
// of the format is refused, not misread.
const tallyVersion = 1

// TakeTally returns, encoded, what this replica recorded since the last
// call, per endpoint and bucket: nil when it recorded nothing. Any
// replica's MergeTally reads it.
func (m *Monitor) TakeTally() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	// entry writes one (name, bucket, slot): the header first, before the
	// first entry.
	entry := func(name string, at int64, s *minuteSlot) {
		if b == nil {
			b = append(b, tallyVersion)
			b = binary.AppendVarint(b, int64(m.opts.Bucket))
		}
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendVarint(b, at)
		b = appendSlot(b, s)
	}
	for _, h := range m.health {
		for i := range h.pend {
			if p := &h.pend[i]; p.s.c.requests > 0 {
				entry(h.ep.ID, p.at, &p.s)
				p.s.c = counts{}
				p.s.d.reset()
			}
		}
	}
	if m.fleet != nil {
		var routed minuteSlot // the routed requests have counts only
		for _, model := range m.models {
			for _, p := range m.fleet.routed[model] {
				routed.c = p.c
				entry(modelMark+model, p.at, &routed)
			}
			m.fleet.routed[model] = m.fleet.routed[model][:0]
		}
	}
	return b
}

// MergeTally adds another replica's tally to this one's windows (not to
// its own figures, Here), so that both count the fleet's outcomes. Buckets
// already out of a window are left out of it; endpoints unknown here are
// skipped.
func (m *Monitor) MergeTally(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != tallyVersion {
		return fmt.Errorf("monitor: a tally of format %d, not %d", b[0], tallyVersion)
	}
	r := tallyReader{b: b[1:]}
	width := time.Duration(r.varint())
	if r.err == nil && width <= 0 {
		return errors.New("monitor: a tally without its bucket width")
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var s minuteSlot
	for r.err == nil && len(r.b) > 0 {
		id := r.bytes()
		// A bucket ahead of this replica's clock (the sender's runs a
		// little ahead) counts in the current one rather than not at all.
		at := time.Unix(0, r.varint()*int64(width))
		if at.After(now) {
			at = now
		}
		s.c, s.d = counts{}, dists{}
		r.slot(&s)
		if r.err != nil {
			break
		}
		if model, ok := strings.CutPrefix(string(id), modelMark); ok {
			if r := m.routed[model]; r != nil {
				r.merge(now, at, &s.c)
				m.version++
			}
			continue
		}
		i, ok := m.index[string(id)]
		if !ok {
			continue
		}
		h := m.health[i]
		h.update(m, now)
		h.fine.merge(now, at, &s.c)
		h.minute.merge(now, at, &s)
		h.hour.merge(now, at, &s.c)
		// The points of finished buckets and minutes are kept once read
		// (series, Minutes): one that just grew is read again.
		if h.fine.id(at) < h.fine.cur {
			h.points = nil
		}
		if h.minute.id(at) < h.minute.cur {
			h.doneMinutes = nil
		}
		m.version++
	}
	return r.err
}

func appendSlot(b []byte, s *minuteSlot) []byte {
	c := &s.c
	for _, v := range []uint64{uint64(c.requests), uint64(c.probes), uint64(c.probeFails), uint64(c.successes),
		uint64(c.provErrors), uint64(c.userErrors), uint64(c.rateLimited), uint64(c.latencySum),
		uint64(c.ttftSum), uint64(c.ttftN), c.tokens, uint64(len(c.errors))} {
		b = binary.AppendUvarint(b, v)
	}
	for _, n := range c.errors {
		b = binary.AppendUvarint(b, uint64(n))
	}
	for _, h := range s.d.all() {
		b = appendHistogram(b, h)
	}
	return b
}

// appendHistogram writes the bins in use as (gap from the last, count)
// pairs, ended by a zero count.
func appendHistogram(b []byte, h *histogram) []byte {
	last := 0
	if h.n > 0 {
		for i := 0; i <= h.hi; i++ {
			if n := h.counts[i]; n > 0 {
				b = binary.AppendUvarint(b, uint64(i-last))
				b = binary.AppendUvarint(b, uint64(n))
				last = i
			}
		}
	}
	return binary.AppendUvarint(binary.AppendUvarint(b, 0), 0)
}

// all are the distributions, in the order a tally writes them.
func (d *dists) all() [4]*histogram { return [4]*histogram{&d.latency, &d.ttft, &d.gap, &d.throughput} }

// reset empties the distributions in place (see rolling.reset: never from a
// zero one of the function's own).
func (d *dists) reset() {
	for _, h := range d.all() {
		if h.n > 0 {
			clear(h.counts[:h.hi+1])
			clear(h.oct[:])
			h.n, h.hi = 0, 0
		}
	}
}

// tallyReader reads an encoded tally, keeping the first error.
type tallyReader struct {
	b   []byte
	err error
}

func (r *tallyReader) fail() { r.err, r.b = errors.New("monitor: a tally cut short or garbled"), nil }

func (r *tallyReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *tallyReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *tallyReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *tallyReader) slot(s *minuteSlot) {
	c := &s.c
	u32 := func() uint32 { return uint32(r.uvarint()) }
	c.requests, c.probes, c.probeFails, c.successes = u32(), u32(), u32(), u32()
	c.provErrors, c.userErrors, c.rateLimited = u32(), u32(), u32()
	c.latencySum, c.ttftSum = time.Duration(r.uvarint()), time.Duration(r.uvarint())
	c.ttftN, c.tokens = u32(), r.uvarint()
	classes := r.uvarint()
	for k := range classes {
		n := u32()
		if k < uint64(len(c.errors)) { // a class this version does not know counts only in the totals
			c.errors[k] = n
		}
		if r.err != nil {
			return
		}
	}
	for _, h := range s.d.all() {
		r.histogram(h)
	}
}

func (r *tallyReader) histogram(h *histogram) {
	i := 0
	for r.err == nil {
		gap, n := r.uvarint(), r.uvarint()
		if n == 0 {
			return
		}
		if gap >= histBins || i+int(gap) >= histBins || n > 1<<32-1 {
			r.fail()
			return
		}
		i += int(gap)
		h.counts[i] += uint32(n)
		h.oct[i/subBins] += uint32(n)
		h.n += n
		h.hi = max(h.hi, i)
	}
}
