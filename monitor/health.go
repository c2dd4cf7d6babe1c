package monitor

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"switchboard/human"
	"switchboard/provider"
)

// minuteSlot is one minute of outcomes: counters for availability and
// history, distributions for percentiles.
type minuteSlot struct {
	c counts
	d dists
}

func (m *minuteSlot) add(o sample)           { m.c.add(o); m.d.add(o) }
func (m *minuteSlot) merge(o *minuteSlot)    { m.c.merge(&o.c); m.d.merge(&o.d) }
func (m *minuteSlot) subtract(o *minuteSlot) { m.c.subtract(&o.c); m.d.subtract(&o.d) }

// The minute ring's last-k tail that gives 5-minute percentiles.
const fiveMinutes = 5

// ewmaWeight is the weight of the newest success in the EWMAs: about the
// last seven successes count.
const ewmaWeight = 0.25

// degradedMargin is the hysteresis of the degraded state: an endpoint whose
// availability bound fell under DegradedBelow recovers only once the bound
// reaches DegradedBelow+degradedMargin, so that one answer more or less at
// the threshold does not flip it in and out of the weighted draw.
const degradedMargin = 0.01

// confidenceZ is the normal quantile of the Wilson bound the degraded rule
// reads: 1.96, the upper end of the two-sided 95% interval. As a one-sided
// bound it is 97.5% sure, so "95% confidence" in a reason errs on the side
// of not calling an endpoint degraded.
const confidenceZ = 1.96

// wilsonUpper is the upper bound of the Wilson score interval (z =
// confidenceZ) for a success probability seen as successes out of n: the
// highest availability the sample still leaves plausible. Unlike the plain
// ratio it knows how few the answers are (19 of 20 leaves 99% plausible,
// 190 of 200 only 97%), and unlike the normal approximation it stays in
// [0, 1] and holds at 0 and at n successes. With n = 0 it is 1: no
// evidence rules anything out.
func wilsonUpper(successes, n int) float64 {
	if n <= 0 {
		return 1
	}
	nf := float64(n)
	p := float64(successes) / nf
	z2 := confidenceZ * confidenceZ
	d := 1 + z2/nf
	center := (p + z2/(2*nf)) / d
	half := confidenceZ / d * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return min(max(center+half, 0), 1)
}

// health is the mutable record of one endpoint, guarded by Monitor.mu.
type health struct {
	ep      Endpoint
	enabled bool
	offBy   string // who turned it off (SetEnabledBy), while it is

	// owed is how long the endpoint has kept attempts waiting for an
	// answer. Kept apart from the monitor's lock: every attempt moves it.
	owed owed

	fine   *rolling[counts, *counts]         // Options.Bucket slots over Options.Window; tail: the outage window
	minute *rolling[minuteSlot, *minuteSlot] // 1-minute slots over 30 minutes; tail: 5 minutes
	hour   *rolling[counts, *counts]         // 1-hour slots over a day

	consecutive   int  // provider errors since the last success, in the current generation
	silent        bool // a timeout since the last check: trips the breaker at once
	look          bool // the prober is to send a completion now: an attempt was given up unanswered at its norm (probeLook)
	lastError     provider.Class
	lastErrorAt   time.Time
	cooldownUntil time.Time
	ewmaLatency   float64 // milliseconds; 0 before the first success
	ewmaTTFT      float64

	brk      breaker
	closedAt time.Time // when the breaker last closed: an availability trip counts only what came after
	downWhy  string
	// downCause is the outage's cause without where it was seen, and
	// downOrigin the replica it was seen on ("" here): what the fleet is
	// told of it.
	downCause, downOrigin string
	outageSince           time.Time
	lastOutage            time.Time
	// outages are the ended outages the series may still show, oldest
	// first; forgetOutages drops those older than the series.
	outages     []span
	degraded    bool
	degradedWhy string
	state       State

	// The 30-minute percentiles barely move in a second, so they are read
	// at most once a second (refresh30m), for the slow rule and the
	// snapshot alike.
	ttft30m, latency30m, gap30m Percentiles
	throughput30m               Rates
	at30m                       time.Time
	// The 5-minute distributions change only when the minute window does,
	// so a snapshot reads them again only then (see rolling.changes): most
	// endpoints saw no outcome since the last snapshot.
	latency5m, ttft5m Percentiles
	throughput5m      Rates
	fiveAt            uint64  // the minute window's changes when they were read
	points            []Point // series points of the completed fine buckets before pointsAt
	pointsAt          int64

	doneMinutes []MinutePoint // the finished minutes before minutesAt
	minutesAt   int64

	// statusOf is what its last status in a snapshot was computed from,
	// statusAt when: while neither changes (statusStands), the next
	// snapshot copies that status instead of computing it again.
	statusOf statusKey
	statusAt time.Time

	// One of a fleet (Monitor.JoinFleet): the outcomes this replica
	// recorded itself, over Options.Window; those not yet handed out
	// (TakeTally); how long it holds the fleet's trial lease; and when
	// the endpoint was last turned on or off, so that an older toggle from
	// elsewhere does not undo a newer one.
	here       *rolling[counts, *counts]
	kick       chan struct{} // wakes the prober: a trial may be due before its next probe
	pend       []tallySlot
	leaseUntil time.Time
	toggledAt  time.Time
	// who toggled it last, and on which replica ("" this one)
	toggledBy, toggledOrigin string
}

func newHealth(o Options, ep Endpoint) *health {
	return &health{
		ep: ep, enabled: true,
		fine:   newRolling[counts](o.Bucket, int(o.Window/o.Bucket), int(max(o.OutageWindow/o.Bucket, 1))),
		minute: newRolling[minuteSlot](time.Minute, 30, fiveMinutes),
		hour:   newRolling[counts](time.Hour, 24),
		brk:    breaker{gen: 1}, // 0 is the Gen of outcomes whose caller did not ask
		// No data until the first read.
		throughput30m: Rates{NoData, NoData, NoData, NoData, NoData},
		latency30m:    noDurations, ttft30m: noDurations, gap30m: noDurations,
		fiveAt: ^uint64(0), // never read
		kick:   make(chan struct{}, 1),
	}
}

// wakeProber tells the endpoint's prober, if it sleeps, to look when the
// next trial is due, or at once when a look is asked for.
func (h *health) wakeProber() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// noDurations are the percentiles of a distribution without data.
var noDurations = Percentiles{NoData, NoData, NoData, NoData, NoData}

// span is a stretch of time, from and to included.
type span struct{ from, to time.Time }

// downDuring reports whether the endpoint was down at some time in [from,
// to): during an ended outage the series still shows, or the current one,
// which lasts until now, later than any bucket's start.
func (h *health) downDuring(from, to time.Time) bool {
	if !h.outageSince.IsZero() && h.outageSince.Before(to) {
		return true
	}
	for _, o := range h.outages {
		if o.from.Before(to) && !o.to.Before(from) {
			return true
		}
	}
	return false
}

// forgetOutages drops the ended outages that ended before t.
func (h *health) forgetOutages(t time.Time) {
	i := 0
	for i < len(h.outages) && h.outages[i].to.Before(t) {
		i++
	}
	h.outages = h.outages[i:]
}

// record counts one outcome and moves the breaker, recording the events it
// causes, and returns the outcome as the windows counted it; the caller
// runs update after it.
func (h *health) record(m *Monitor, now time.Time, o provider.Outcome) sample {
	// Real answers in the last 30 minutes speak for the endpoint's speed;
	// until there are some, its probes do.
	c30 := &h.minute.total.c
	sm := sample{Outcome: o, timed: !o.Probe || c30.requests == c30.probes}
	h.fine.add(now, sm)
	h.minute.add(now, sm)
	h.hour.add(now, sm)
	current := o.Gen == 0 || o.Gen == h.brk.gen
	switch c := o.Class; {
	case c == provider.ClassOK && o.Shallow:
		// The host answered; the model was not asked. That ends neither an
		// outage nor a run of errors (else a models probe every few seconds
		// would keep a failing model from ever reaching DownAfter), and a
		// trial it took is free again for a request that asks the model.
		// But while the breaker is open it is news: the host answers
		// again, so the backoff has nothing left to wait for, and the
		// trial (which asks the model) may go now.
		switch {
		case current && o.Probe && h.brk.state == BreakerOpen:
			h.brk.set(BreakerHalfOpen)
			m.event(h, now, EventBreakerHalfOpen, "the host answers again; one trial may go")
		case current:
			h.brk.release()
		}
	case c == provider.ClassOK:
		if sm.timed { // as the distributions: a probe's speed counts only for an endpoint without real answers
			h.ewmaLatency = ewma(h.ewmaLatency, o.Duration)
			if o.TTFT > 0 {
				h.ewmaTTFT = ewma(h.ewmaTTFT, o.TTFT)
			}
		}
		if current {
			h.consecutive, h.silent = 0, false
			// A probe that got an answer while the breaker was open ends
			// the outage as a trial does: the model answered.
			if h.brk.state == BreakerHalfOpen || o.Probe && h.brk.state == BreakerOpen {
				what := "the trial succeeded"
				if h.brk.state == BreakerOpen {
					what = "a probe got an answer before the backoff ended"
				}
				h.brk.close()
				h.closedAt = now
				m.event(h, now, EventBreakerClosed, what)
				m.event(h, now, EventOutageEnded, fmt.Sprintf("back after %s", human.Duration(now.Sub(h.outageSince))))
				h.outages = append(h.outages, span{h.outageSince, now})
				h.outageSince = time.Time{}
			}
		}
	case c.ProviderError():
		h.lastError, h.lastErrorAt = c, now
		if current {
			h.consecutive++
			// A provider that takes a request and never answers costs one
			// timeout, once: the breaker opens at the first.
			h.silent = h.silent || c == provider.ClassTimeout && !o.Slow
			// Given up at its norm, far past its usual first token but
			// before the cap: slow or silent, a completion the prober
			// sends at once tells which, while the endpoint owes it an
			// answer and stays passed over, rather than the next caller
			// when the suspicion lapses (see Monitor.admit).
			if c == provider.ClassTimeout && o.Slow && !o.Probe && h.brk.state == BreakerClosed {
				h.look = true
				h.wakeProber()
			}
			if h.brk.state == BreakerHalfOpen {
				h.brk.open(now, m.opts.BreakerBackoff, m.opts.BreakerMaxBackoff)
				m.event(h, now, EventBreakerOpened, fmt.Sprintf("the trial failed (%s); next in %s", c, human.Duration(h.brk.backoff)))
			}
		}
	case c == provider.ClassRateLimited:
		h.lastError, h.lastErrorAt = c, now
		pause := o.RetryAfter
		if pause <= 0 {
			pause = m.opts.RateLimitPause
		}
		m.coolUntil(h, now, now.Add(pause), fmt.Sprintf("429, retry after %s", human.Duration(pause)))
		if current {
			h.brk.release() // a rate-limited trial says nothing of the outage
		}
	case c == provider.ClassCanceled, c.UserError():
		if current {
			h.brk.release()
		}
	}
	return sm
}

func ewma(prev float64, d time.Duration) float64 {
	v := float64(d) / float64(time.Millisecond)
	if prev == 0 {
		return v
	}
	return ewmaWeight*v + (1-ewmaWeight)*prev
}

// update makes the cheap changes that follow from the counts and from time
// passing: windows move on, the breaker opens or turns half-open.
func (h *health) update(m *Monitor, now time.Time) {
	o := m.opts
	h.fine.advance(now)
	h.minute.advance(now)
	h.hour.advance(now)
	if h.here != nil {
		h.here.advance(now)
	}

	if h.brk.tick(now) {
		m.event(h, now, EventBreakerHalfOpen, "one trial may go")
	}
	if h.brk.state == BreakerClosed {
		if why, down := h.tripped(o, now); down {
			h.brk.open(now, o.BreakerBackoff, o.BreakerMaxBackoff)
			h.downWhy, h.downCause, h.downOrigin, h.outageSince = why, why, "", now
			m.event(h, now, EventOutageStarted, why)
			m.event(h, now, EventBreakerOpened, fmt.Sprintf("first trial in %s", human.Duration(h.brk.backoff)))
		}
	}
	if h.brk.state != BreakerClosed {
		h.lastOutage = now
	}
}

// settle decides the state: update's changes, plus the degraded condition,
// which reads percentiles and so is left to snapshot time, off the path of
// every recorded outcome.
func (h *health) settle(m *Monitor, now time.Time) {
	h.update(m, now)
	if h.brk.state == BreakerClosed {
		// Degraded says how a working endpoint works; during an outage it
		// would only echo it.
		h.settleDegraded(m, now)
	}
	switch {
	case !h.enabled:
		h.state = Disabled
	case h.brk.state != BreakerClosed:
		h.state = Down
	case now.Before(h.cooldownUntil):
		h.state = CoolingDown
	case h.degraded:
		h.state = Degraded
	default:
		h.state = Healthy
	}
}

// tripped applies the outage rule to a closed breaker: DownAfter provider
// errors in a row, or availability under DownBelow over the outage window
// (counting only what came after the breaker last closed) with 95%
// confidence, as the degraded rule judges it (the Wilson bound): the raw
// ratio over a window's few answers opened the breaker of an endpoint
// answering 93% of the time whenever two of nine failed; or silence: a
// timeout, or attempts owed an answer for longer in all than a probe may
// take and three times the endpoint's 30-minute p99 first token (the
// attempts a silent provider gets can all end as lost races, which never
// time out).
func (h *health) tripped(o Options, now time.Time) (string, bool) {
	if h.silent {
		h.silent = false
		return "no answer in time", true
	}
	if owed := h.owed.at(now); h.ttft30m.P99 > 0 && owed > max(o.ProbeTimeout, 3*h.ttft30m.P99) {
		h.owed.heard(now)
		return fmt.Sprintf("no answer for %s to requests in flight", human.Duration(owed.Round(time.Second))), true
	}
	if h.consecutive >= o.DownAfter {
		return fmt.Sprintf("%d errors in a row (last %s)", h.consecutive, h.lastError), true
	}
	recent, ok := h.sinceClosed(now, o.OutageWindow)
	if !ok {
		recent = h.fine.tails[0].sum
	}
	if n := recent.answered(); n >= o.MinRequests {
		if upper := wilsonUpper(int(recent.successes), n); upper < o.DownBelow {
			return fmt.Sprintf("availability %.0f%% over %s (%d answers: at most %s with 95%% confidence)",
				100*recent.availability(), human.Duration(o.OutageWindow), n, percentApart(upper, o.DownBelow)), true
		}
	}
	return "", false
}

// sinceClosed sums what came after the breaker last closed, if that was
// within horizon; ok is false when it closed longer ago, or never. An
// outage's failures were judged by the outage rule and ended with it: the
// availability rules judge a recovered endpoint by what it did since.
func (h *health) sinceClosed(now time.Time, horizon time.Duration) (c counts, ok bool) {
	if h.closedAt.IsZero() || now.Sub(h.closedAt) >= horizon {
		return c, false
	}
	for id := h.fine.id(h.closedAt) + 1; id <= h.fine.cur; id++ {
		if s := h.fine.at(id); s != nil {
			c.merge(s)
		}
	}
	return c, true
}

// settleDegraded enters or leaves the degraded condition, with hysteresis:
// availability must climb a margin above the threshold, and latency fall
// well below the slow threshold, before the endpoint counts as healthy again.
// Slow is a ratio to the endpoint's own median and an absolute margin over
// it (Options.SlowFactor, SlowMargin): the ratio alone would call a 1ms
// endpoint slow at 3ms, which the gateway's own queueing under overload
// adds to every upstream alike.
//
// Availability is judged with the uncertainty of its sample: degraded only
// when the upper Wilson bound over Options.Window is under DegradedBelow,
// that is when even the best availability the answers leave plausible (at
// 95% confidence) is too low. One error in 20 answers is not evidence of
// that; 10 in 60 is. The same bound decides the way back, at the margin
// above the threshold: asking its lower bound to clear the threshold
// instead would keep a recovered endpoint out of the draw for long, since a
// degraded endpoint gets little traffic to gather evidence from, while the
// bad answers leave the window anyway. Fewer than MinRequests answers are
// no evidence either way: not degraded.
func (h *health) settleDegraded(m *Monitor, now time.Time) {
	o := m.opts
	win, afterOutage := &h.fine.total, false
	if since, ok := h.sinceClosed(now, o.Window); ok {
		win, afterOutage = &since, true
	}
	// over is the span the availability is of, in words: written only
	// when a reason needs it (this runs on every answer).
	over := func() string {
		if afterOutage {
			return "since its outage ended " + human.Duration(now.Sub(h.closedAt).Round(time.Second)) + " ago"
		}
		return "over " + human.Duration(o.Window)
	}
	avail, n := win.availability(), win.answered()
	upper := wilsonUpper(int(win.successes), n)
	h.refresh30m(now)
	baseline := float64(h.ttft30m.P50) / float64(time.Millisecond)
	samples := h.minute.total.d.ttft.n
	// How many times the usual first token the recent one is, and how many
	// milliseconds later: slow takes both (see Options.SlowMargin).
	slowBy, lateBy := 0.0, 0.0
	if baseline > 0 && samples >= uint64(o.MinRequests) {
		slowBy, lateBy = h.ewmaTTFT/baseline, h.ewmaTTFT-baseline
	}
	margin := float64(o.SlowMargin) / float64(time.Millisecond)
	bar := o.DegradedBelow
	slow := slowBy >= o.SlowFactor && lateBy >= margin
	if h.degraded {
		// Hysteresis: leaving takes a margin above the thresholds.
		bar += degradedMargin
		slow = slowBy >= o.SlowFactor*2/3 && lateBy >= margin*2/3
	}
	lowAvail := n >= o.MinRequests && upper < bar
	// The reason is written anew each time, so it tells the figures of now.
	switch {
	case lowAvail && upper < o.DegradedBelow:
		h.degradedWhy = fmt.Sprintf("availability %.0f%% %s (%d answers: at most %s with 95%% confidence, under %s)",
			100*avail, over(), n, percentApart(upper, o.DegradedBelow), percent(o.DegradedBelow))
	case lowAvail:
		h.degradedWhy = fmt.Sprintf("availability %.0f%% %s (%d answers: at most %s with 95%% confidence, not yet back to %s)",
			100*avail, over(), n, percentApart(upper, bar), percent(bar))
	case slow:
		h.degradedWhy = fmt.Sprintf("slow: first token %s, usually %s",
			human.Duration(time.Duration(h.ewmaTTFT*float64(time.Millisecond))), human.Duration(time.Duration(baseline*float64(time.Millisecond))))
	}
	bad := lowAvail || slow
	switch {
	case bad && !h.degraded:
		h.degraded = true
		m.event(h, now, EventDegradedStarted, h.degradedWhy)
	case !bad && h.degraded:
		h.degraded = false
		m.event(h, now, EventDegradedEnded, "back to normal")
	}
}

// refresh30m reads the 30-minute percentiles if a second has passed since
// they were last read.
func (h *health) refresh30m(now time.Time) {
	if !h.at30m.IsZero() && now.Sub(h.at30m) < time.Second && !now.Before(h.at30m) {
		return
	}
	d := &h.minute.total.d
	h.ttft30m, h.latency30m, h.gap30m = durations(&d.ttft), durations(&d.latency), durations(&d.gap)
	h.throughput30m, h.at30m = rates(&d.throughput), now
}

// reason says why the endpoint is in its state.
func (h *health) reason(now time.Time) string {
	switch h.state {
	case Disabled:
		return "turned off by " + h.offBy
	case Down:
		if h.brk.state == BreakerHalfOpen {
			return fmt.Sprintf("down: %s; trial under way", h.downWhy)
		}
		// Countdowns in whole seconds: the reason is read again at every
		// snapshot, and hundredths would only flicker.
		return fmt.Sprintf("down: %s; next trial in %s", h.downWhy, human.Duration(h.brk.until.Sub(now).Round(time.Second)))
	case CoolingDown:
		return fmt.Sprintf("rate limited, cooling down %s", human.Duration(h.cooldownUntil.Sub(now).Round(time.Second)))
	case Degraded:
		return "degraded: " + h.degradedWhy
	}
	return "healthy"
}

// percentApart writes the fraction v as a percentage with as few decimals
// (up to two) as tell it apart from the threshold it is set against, so
// that a reason never reads "95%, under 95%" for 94.96%.
func percentApart(v, threshold float64) string {
	for dec := 0; ; dec++ {
		s := strconv.FormatFloat(100*v, 'f', dec, 64)
		if dec == 2 || s != strconv.FormatFloat(100*threshold, 'f', dec, 64) {
			return s + "%"
		}
	}
}

// percent writes a threshold given as a fraction as a percentage, to two
// decimals at most and without trailing zeros: 0.95+0.01 reads 96%.
func percent(t float64) string {
	return strconv.FormatFloat(math.Round(1e4*t)/100, 'f', -1, 64) + "%"
}

// statusKey is everything of an endpoint's health that its status is
// computed from and that changes other than with the clock: what its
// windows hold (their changes and their newest slots), its state and
// why, its breaker, its switch, its last error, its cooldown and its
// outages. Equal keys, read a moment apart, give equal statuses.
type statusKey struct {
	fine, minute, hour          uint64 // the windows' changes
	fineCur, minuteCur, hourCur int64
	state                       State
	degradedWhy                 string
	enabled                     bool
	offBy, toggledOrigin        string
	brk                         breaker
	consecutive                 int
	lastError                   provider.Class
	lastErrorAt, cooldownUntil  time.Time
	outageSince, lastOutage     time.Time
	ewmaLatency, ewmaTTFT       float64
	at30m                       time.Time // the 30-minute figures' reading (settling may read them again)
}

func (h *health) statusKey() statusKey {
	return statusKey{fine: h.fine.changes, minute: h.minute.changes, hour: h.hour.changes,
		fineCur: h.fine.cur, minuteCur: h.minute.cur, hourCur: h.hour.cur,
		state: h.state, degradedWhy: h.degradedWhy, enabled: h.enabled, offBy: h.offBy, toggledOrigin: h.toggledOrigin,
		brk: h.brk, consecutive: h.consecutive, lastError: h.lastError, lastErrorAt: h.lastErrorAt,
		cooldownUntil: h.cooldownUntil, outageSince: h.outageSince, lastOutage: h.lastOutage,
		ewmaLatency: h.ewmaLatency, ewmaTTFT: h.ewmaTTFT, at30m: h.at30m}
}

// statusStands reports whether the endpoint's last status is still what
// computing it at now gives: nothing it is computed from changed (k is
// the key now), its 30-minute figures are not due again (refresh30m), no
// cooldown it showed has ended, its state's reason counts nothing down
// (down, cooling down), and it is less than snapshotMaxAge old, as a
// whole snapshot may be.
func (h *health) statusStands(k statusKey, now time.Time) bool {
	return !h.statusAt.IsZero() && k == h.statusOf && h.state != Down && h.state != CoolingDown &&
		!now.Before(h.statusAt) && now.Sub(h.statusAt) < snapshotMaxAge &&
		!now.Before(h.at30m) && now.Sub(h.at30m) < time.Second &&
		(!h.statusAt.Before(h.cooldownUntil) || now.Before(h.cooldownUntil))
}
