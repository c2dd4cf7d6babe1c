package monitor

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"switchboard/provider"
)

// Monitor keeps the health of a fixed set of endpoints. Record, Admit and
// SetEnabled are cheap and safe for concurrent use; Snapshot computes the
// published view lazily and caches it; Run drives the probers and publishes
// snapshots to subscribers until its context ends.
type Monitor struct {
	opts  Options
	eps   []Endpoint
	index map[string]int // immutable after New

	mu      sync.Mutex
	health  []*health
	events  eventLog
	version uint64
	// marked is the version of the last change that the next snapshot must
	// show at once (an event, an endpoint turned on or off); changes of
	// counts alone may wait up to Options.SnapshotLag.
	marked uint64
	snap   *Snapshot // the last snapshot computed; immutable
	subs   map[chan *Snapshot]struct{}

	models     []string    // model names in first-seen order
	providers  []string    // provider names in first-seen order
	providerOf []int       // endpoint index -> index in providers
	rollSums   [][3]counts // scratch for rollUp: 5m, 30m and 1d sums per provider

	routed map[string]*rolling[counts, *counts] // routed requests per model: what routing delivered

	fleet *fleet // nil alone: see JoinFleet

	historyErr string // why history is off, after a failure
	flushed    int64  // the minute the last flush reached; it is written again next time
}

// New returns a monitor of these endpoints, all enabled and without data.
func New(opts Options, eps []Endpoint) (*Monitor, error) {
	opts = opts.withDefaults()
	m := &Monitor{opts: opts, eps: eps, index: make(map[string]int, len(eps)),
		subs: map[chan *Snapshot]struct{}{}, events: eventLog{ring: make([]Event, opts.EventLog)}}
	for i, e := range eps {
		if _, dup := m.index[e.ID]; dup {
			return nil, fmt.Errorf("monitor: endpoint id %q is used twice", e.ID)
		}
		m.index[e.ID] = i
		m.health = append(m.health, newHealth(opts, e))
		p := slices.Index(m.providers, e.Provider)
		if p < 0 {
			p = len(m.providers)
			m.providers = append(m.providers, e.Provider)
		}
		m.providerOf = append(m.providerOf, p)
	}
	m.rollSums = make([][3]counts, len(m.providers))
	m.routed = map[string]*rolling[counts, *counts]{}
	for _, e := range eps {
		if m.routed[e.Model] == nil {
			m.routed[e.Model] = newRolling[counts](opts.Bucket, int(opts.Window/opts.Bucket), int(max(time.Minute/opts.Bucket, 1)))
			m.models = append(m.models, e.Model)
		}
	}
	if opts.History != nil {
		if err := m.restore(); err != nil {
			m.historyErr = fmt.Sprintf("history is off: %v", err)
		}
	}
	return m, nil
}

// Options returns the options in force, defaults filled in.
func (m *Monitor) Options() Options { return m.opts }

// Record counts one finished attempt or probe of an endpoint. Unknown ids
// are ignored: an outcome must never fail a request.
func (m *Monitor) Record(id string, o provider.Outcome) {
	i, ok := m.index[id]
	if !ok {
		return
	}
	now := m.opts.Clock.Now()
	// Whatever came back, even an error, settles what the endpoint owed;
	// silence does not, nor an attempt given up on before it answered (a
	// lost race, a caller gone), nor a host that lists its models while
	// the model says nothing.
	w := &m.health[i].owed
	switch heard := o.Class != provider.ClassTimeout && o.Class != provider.ClassCanceled && !o.Shallow; {
	case heard && o.Waiting:
		w.answered(now)
	case heard:
		w.heard(now)
	case o.Waiting:
		w.gaveUp(now)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	h.update(m, now) // a breaker due to turn half-open does so before this outcome
	sm := h.record(m, now, o)
	if h.here != nil { // one of a fleet: this replica's own, and news for the others
		h.here.add(now, sm)
		h.tally(h.fine.id(now), sm)
	}
	h.update(m, now)
	m.version++
}

// Sent notes that an attempt went to an endpoint now and waits for its
// first answer: Unanswered adds up such waits. The attempt's outcome, when
// recorded, says whether it was still waiting (provider.Outcome.Waiting).
// It takes the endpoint's own lock, not the monitor's: it is on every
// attempt's path.
func (m *Monitor) Sent(id string) {
	if i, ok := m.index[id]; ok {
		m.health[i].owed.sent(m.opts.Clock.Now())
	}
}

// Answered notes that an attempt marked Sent had its first token: the
// endpoint owes nothing from then on, but for the other attempts still
// waiting, from now.
func (m *Monitor) Answered(id string) {
	if i, ok := m.index[id]; ok {
		m.health[i].owed.answered(m.opts.Clock.Now())
	}
}

// Unanswered is how long, at now, the endpoint has kept attempts waiting
// without any answer since it last answered anything, counting only the
// time some attempt was waiting (see owed); 0 when it owes none. A
// provider that takes requests and goes silent shows here long before the
// first of them reaches its first-token deadline, while one that answers
// other requests meanwhile does not.
func (m *Monitor) Unanswered(id string, now time.Time) time.Duration {
	i, ok := m.index[id]
	if !ok {
		return 0
	}
	return m.health[i].owed.at(now)
}

// Admit asks whether a request (or probe) may be sent to an endpoint now, as
// its circuit breaker sees it: always while closed; exactly one trial while
// half-open; never while open. The generation goes into the outcome's Gen,
// so that a late outcome of an older generation cannot move the breaker.
func (m *Monitor) Admit(id string) (gen uint64, ok bool) {
	gen, ok, _ = m.admit(id, false)
	return gen, ok
}

// probeKind is what a probe the prober sends is for.
type probeKind uint8

const (
	probeRoutine probeKind = iota // the endpoint's probe, at its interval
	probeTrial                    // the half-open breaker's one trial
	// probeLook: a real attempt was given up at the endpoint's norm with
	// no first token (health.look). The completion goes at once, whoever
	// probes the endpoint in a fleet (the wait was this replica's), and
	// counts as an attempt waiting (Sent): the endpoint owes it an answer,
	// so the router passes it over (routing.Silent) until it answers, or
	// until the probe times out and the breaker opens for the silence.
	probeLook
)

// admit is Admit, and also reports, for a probe (probe set), what it is
// for: the half-open breaker's one trial, or a look (health.look), each
// of which asks the model (the endpoint's Trial probe, if it has one). A
// probe is admitted while the breaker is open as well: it only looks
// whether the endpoint answers again (see health.record), and is no
// trial.
func (m *Monitor) admit(id string, probe bool) (gen uint64, ok bool, kind probeKind) {
	i, found := m.index[id]
	if !found {
		return 0, true, probeRoutine
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	h.update(m, now)
	if probe && h.look {
		h.look = false
		if h.brk.state == BreakerClosed {
			return h.brk.gen, true, probeLook
		}
	}
	if probe && !m.probesHere(h, now) {
		return h.brk.gen, false, probeRoutine // another replica of the fleet probes it
	}
	if probe && h.brk.state == BreakerOpen {
		return h.brk.gen, true, probeRoutine
	}
	if h.brk.state == BreakerHalfOpen && !h.brk.trial && !m.leased(h, now) {
		return h.brk.gen, false, probeRoutine // the fleet's trial is another replica's, or not yet asked for
	}
	before := h.brk.trial
	gen, ok = h.brk.admit(now, m.trialTimeout())
	if h.brk.trial != before {
		m.version++
	}
	if ok && h.brk.state == BreakerHalfOpen {
		return gen, true, probeTrial
	}
	return gen, ok, probeRoutine
}

// Release gives back an admission that was not used: the request went
// elsewhere before it reached this endpoint, so a half-open breaker's one
// trial is free again at once rather than after the trial timeout. A
// generation that is no longer current releases nothing.
func (m *Monitor) Release(id string, gen uint64) {
	i, found := m.index[id]
	if !found {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	if gen == h.brk.gen && h.brk.trial {
		h.brk.release()
		m.version++
	}
}

// trialTimeout is how long a half-open trial may stay out before another is
// allowed: long enough for a slow probe or a long answer.
func (m *Monitor) trialTimeout() time.Duration { return 2*m.opts.ProbeTimeout + time.Minute }

// RecordRequest counts the final outcome of one routed request for a model
// (ClassOK if some endpoint answered): what routing delivered, to set
// against what any single endpoint would have. The caller's own errors do
// not count against it, as for availability.
func (m *Monitor) RecordRequest(model string, c provider.Class) {
	r, ok := m.routed[model]
	if !ok {
		return
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	sm := sample{Outcome: provider.Outcome{Class: c}}
	r.add(now, sm)
	if m.fleet != nil { // what the fleet delivered is the fleet's
		m.fleet.routed[model] = tallyCounts(m.fleet.routed[model], r.id(now), sm)
	}
	m.version++
}

// SetEnabled turns an endpoint on or off for routing. The change is in the
// very next snapshot, whatever Options.SnapshotLag.
func (m *Monitor) SetEnabled(id string, on bool) error {
	return m.SetEnabledBy(id, on, ByUser)
}

// ByUser is who turns an endpoint off or on with SetEnabled: the person at
// the dashboard.
const ByUser = "the user"

// SetEnabledBy is SetEnabled by someone the event names ("the admin API,
// from 10.0.0.7:51234").
func (m *Monitor) SetEnabledBy(id string, on bool, by string) error {
	i, ok := m.index[id]
	if !ok {
		return fmt.Errorf("monitor: no endpoint %q", id)
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toggle(m.health[i], now, on, by, "", now)
	m.version++
	m.marked = m.version
	return nil
}

// event records an event, which the next snapshot shows whatever
// Options.SnapshotLag; the caller holds m.mu.
func (m *Monitor) event(h *health, now time.Time, k EventKind, detail string) {
	ev := Event{At: now, Endpoint: h.ep.ID, Provider: h.ep.Provider, Kind: k, Detail: detail}
	if m.fleet != nil && m.fleet.applying {
		ev.Replica = m.fleet.origin
	}
	m.events.add(ev)
	if k == EventBreakerOpened {
		h.wakeProber()
	}
	switch k { // the breaker's moves are the fleet's
	case EventBreakerOpened:
		h.leaseUntil = time.Time{}
		m.share(Change{Kind: ChangeOpened, Endpoint: h.ep.ID, Until: h.brk.until, Backoff: h.brk.backoff,
			Why: h.downCause, Origin: h.downOrigin, At: now})
	case EventBreakerClosed:
		h.leaseUntil = time.Time{}
		m.share(Change{Kind: ChangeClosed, Endpoint: h.ep.ID, Why: detail, At: now})
	}
	m.version++
	m.marked = m.version
}

// snapshotMaxAge bounds how stale a cached snapshot may be when nothing was
// recorded: states also change with time alone (cooldowns end, outages age).
const snapshotMaxAge = 250 * time.Millisecond

// Snapshot returns the current view of every endpoint: the last one
// computed while it is fresh enough, else a new one. It is fresh enough when
// nothing changed since and it is younger than 250ms (states that change
// with time alone, a cooldown ending, may show that much late), or when
// only counts changed (outcomes recorded that made no event) and it is
// younger than Options.SnapshotLag. Every event (a breaker opening or
// closing, a cooldown starting, an endpoint turned off) is in the very next
// snapshot.
//
// The lag is what makes a snapshot per request affordable: the router plans
// every request on a snapshot, and every outcome changes the counts, so
// without it each request would build the whole view anew (tens of
// microseconds at 50 endpoints). Planning on figures a few milliseconds old
// orders endpoints no worse, and it cannot send a request where it must
// not go: the router asks Admit, which reads the breaker as it is now,
// before every attempt.
func (m *Monitor) Snapshot() *Snapshot {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.snap; s != nil && !now.Before(s.At) {
		age := now.Sub(s.At)
		if s.Version == m.version && age < snapshotMaxAge || s.Version >= m.marked && age < m.opts.SnapshotLag {
			return s
		}
	}
	m.snap = m.compute(now)
	return m.snap
}

// compute builds a snapshot at now. Settling states may record events, so it
// runs under m.mu.
func (m *Monitor) compute(now time.Time) *Snapshot {
	for _, h := range m.health {
		h.settle(m, now)
	}
	prev := m.snap
	s := &Snapshot{Version: m.version, At: now, OutageWindow: m.opts.OutageWindow,
		Endpoints: make([]EndpointStatus, len(m.eps)), index: m.index, Events: m.events.recent(),
		HistoryError: m.historyErr, Fleet: m.fleetStatus()}
	var heres []Here // one allocation for all, in a fleet
	if m.fleet != nil {
		heres = make([]Here, len(m.health))
	}
	for i, h := range m.health {
		if k := h.statusKey(); prev != nil && h.statusStands(k, now) {
			s.Endpoints[i] = prev.Endpoints[i]
		} else {
			m.status(&s.Endpoints[i], h, now)
			h.statusOf, h.statusAt = h.statusKey(), now
		}
		if heres != nil {
			heres[i] = hereOf(h)
			s.Endpoints[i].Here = &heres[i]
		}
	}
	s.Providers = m.rollUp()
	s.Models = m.modelStatus(s, now)
	return s
}

var quantileSet = []float64{0.5, 0.75, 0.9, 0.95, 0.99}

func durations(h *histogram) Percentiles {
	var q [5]float64
	h.quantiles(quantileSet, q[:])
	return Percentiles{millis(q[0]), millis(q[1]), millis(q[2]), millis(q[3]), millis(q[4])}
}

// millis is a figure of milliseconds (as the histograms and EWMAs keep
// them) as a duration: NoData for a negative one, which is none.
func millis(v float64) time.Duration {
	if v < 0 {
		return NoData
	}
	return time.Duration(v * float64(time.Millisecond))
}

// rateShares are the shares of requests whose speed Rates' P99, P95, P90,
// P75 and P50 give, in that order: the slow side first, as reached wants.
var rateShares = []float64{0.99, 0.95, 0.9, 0.75, 0.5}

// rates reads a throughput distribution the way OpenRouter states it: each
// percentile is the speed that share of requests reaches (see Rates).
func rates(h *histogram) Rates {
	var v [5]float64
	h.reached(rateShares, v[:])
	return Rates{P50: v[4], P75: v[3], P90: v[2], P95: v[1], P99: v[0]}
}

// status writes the status of h's endpoint at now into st, in place: a
// status is a kilobyte, and a snapshot holds one for every endpoint.
func (m *Monitor) status(st *EndpointStatus, h *health, now time.Time) {
	h.refresh30m(now) // in every state: an open breaker does not freeze them
	if h.fiveAt != h.minute.changes {
		five := &h.minute.tails[0].sum.d
		h.latency5m, h.ttft5m, h.throughput5m = durations(&five.latency), durations(&five.ttft), rates(&five.throughput)
		h.fiveAt = h.minute.changes
	}
	win := &h.fine.total
	*st = EndpointStatus{
		ID: h.ep.ID, Provider: h.ep.Provider, Model: h.ep.Model, Enabled: h.enabled, OffBy: h.offBy, owed: &h.owed,
		OffOn: h.offOn(),
		State: h.state, Reason: h.reason(now),
		Requests: int(win.requests), Probes: int(win.probes), ProbeFailures: int(win.probeFails), Successes: int(win.successes),
		ProviderErrors: int(win.provErrors), UserErrors: int(win.userErrors), RateLimited: int(win.rateLimited),
		Availability: win.availability(), Availability30m: h.minute.total.c.availability(),
		Availability1d: h.hour.total.availability(), ErrorRate: win.errorRate(),
		Latency: h.latency5m, TTFT: h.ttft5m, Throughput: h.throughput5m,
		Latency30m: h.latency30m, TTFT30m: h.ttft30m, Gap30m: h.gap30m, Throughput30m: h.throughput30m,
		EWMALatency: millis(cmp.Or(h.ewmaLatency, NoData)), // 0 before the first success
		EWMATTFT:    millis(cmp.Or(h.ewmaTTFT, NoData)),
		Breaker:     h.brk.state, Generation: h.brk.gen,
		ConsecutiveErrors: h.consecutive, LastError: h.lastError, LastErrorAt: h.lastErrorAt,
		OutageSince: h.outageSince, LastOutage: h.lastOutage,
	}
	if h.brk.state == BreakerOpen {
		st.NextTrial = h.brk.until
	}
	for i, n := range win.errors {
		st.Errors[i] = int(n)
	}
	if now.Before(h.cooldownUntil) {
		st.CooldownUntil = h.cooldownUntil
	}
	st.Series = m.series(h)
}

func pointOf(b *counts) Point {
	if b == nil {
		return Point{Latency: NoData, TTFT: NoData, ErrorRate: NoData, Availability: NoData}
	}
	return Point{Requests: int(b.requests), Latency: mean(b.latencySum, b.successes),
		TTFT: mean(b.ttftSum, b.ttftN), ErrorRate: b.errorRate(), Availability: b.availability(),
		Successes: int(b.successes), ProviderErrors: int(b.provErrors)}
}

// pointAt is the point of fine bucket id, marked down if an outage
// overlapped it.
func (m *Monitor) pointAt(h *health, id int64) Point {
	p := pointOf(h.fine.at(id))
	start := time.Unix(0, id*int64(m.opts.Bucket))
	p.Down = h.downDuring(start, start.Add(m.opts.Bucket))
	return p
}

// series reads the last SeriesLen fine buckets and the day's hours. Only the
// current bucket can still change, so the points of the others are computed
// once per bucket, into a new slice that every snapshot of that bucket
// shares.
func (m *Monitor) series(h *health) Series {
	n := m.opts.SeriesLen
	cur := h.fine.cur
	if h.pointsAt != cur || h.points == nil {
		pts := make([]Point, n-1)
		for k := range pts {
			pts[k] = m.pointAt(h, cur-int64(n-1-k))
		}
		h.points, h.pointsAt = pts, cur
		h.forgetOutages(time.Unix(0, (cur-int64(n))*int64(m.opts.Bucket)))
	}
	s := Series{Done: h.points, Current: m.pointAt(h, cur), Bucket: m.opts.Bucket}
	for k := range s.Hourly {
		s.Hourly[k] = -1
		if b := h.hour.at(h.hour.cur - int64(len(s.Hourly)-1-k)); b != nil {
			s.Hourly[k] = b.availability()
		}
	}
	return s
}

// modelStatus is what routing delivered for each model, next to the best
// single endpoint of the model over the same window.
func (m *Monitor) modelStatus(s *Snapshot, now time.Time) []ModelStatus {
	out := make([]ModelStatus, len(m.models))
	for i, name := range m.models {
		r := m.routed[name]
		r.advance(now)
		ms := ModelStatus{Name: name, Requests: int(r.total.requests), Delivered: r.total.availability(), BestSingle: -1}
		ms.PerSecond = float64(r.tails[0].sum.requests) / min(time.Minute, m.opts.Window).Seconds()
		for j := range s.Endpoints {
			if e := &s.Endpoints[j]; e.Model == name && e.Availability > ms.BestSingle {
				ms.BestSingle, ms.BestProvider = e.Availability, e.Provider
			}
		}
		out[i] = ms
	}
	return out
}

// minuteQuantiles are the quantiles a minute point shows.
var minuteQuantiles = []float64{0.5, 0.99}

// minutePoint reads one minute slot.
func minutePoint(id int64, sl *minuteSlot) MinutePoint {
	p := MinutePoint{At: time.Unix(0, id*int64(time.Minute)).UTC(), ErrorRate: NoData,
		LatencyP50: NoData, LatencyP99: NoData, TTFTP50: NoData, TTFTP99: NoData}
	if sl == nil || sl.c.requests == 0 {
		return p
	}
	p.Requests, p.ErrorRate = int(sl.c.requests), sl.c.errorRate()
	for i, n := range sl.c.errors {
		p.Errors[i] = int(n)
	}
	var q [2]float64
	sl.d.latency.quantiles(minuteQuantiles, q[:])
	p.LatencyP50, p.LatencyP99 = millis(q[0]), millis(q[1])
	sl.d.ttft.quantiles(minuteQuantiles, q[:])
	p.TTFTP50, p.TTFTP99 = millis(q[0]), millis(q[1])
	return p
}

// Minutes returns the last 30 minutes of an endpoint, oldest first, the
// current one last, for a detail chart: asked for one endpoint at a time,
// so snapshots do not carry them for all. Finished minutes are read once
// and kept; nil for an unknown endpoint.
func (m *Monitor) Minutes(id string) []MinutePoint {
	i, ok := m.index[id]
	if !ok {
		return nil
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	h.minute.advance(now)
	cur := h.minute.cur
	n := len(h.minute.slots)
	if h.minutesAt != cur || h.doneMinutes == nil {
		done := make([]MinutePoint, n-1)
		for k := range done {
			id := cur - int64(n-1-k)
			done[k] = minutePoint(id, h.minute.at(id))
		}
		h.doneMinutes, h.minutesAt = done, cur
	}
	return append(append(make([]MinutePoint, 0, n), h.doneMinutes...), minutePoint(cur, h.minute.at(cur)))
}

// rollUp sums each provider's endpoints, in the order providers first
// appear. It runs under m.mu and reuses m.rollSums.
func (m *Monitor) rollUp() []ProviderStatus {
	out := make([]ProviderStatus, len(m.providers))
	clear(m.rollSums)
	for i, name := range m.providers {
		out[i].Name = name
	}
	for i, h := range m.health {
		p, sum := &out[m.providerOf[i]], &m.rollSums[m.providerOf[i]]
		p.Endpoints++
		if h.state != Down && h.state != Disabled {
			p.Answering++
		}
		sum[0].merge(&h.fine.total)
		sum[1].merge(&h.minute.total.c)
		sum[2].merge(&h.hour.total)
	}
	for i := range out {
		c := &m.rollSums[i]
		out[i].Requests = int(c[0].requests)
		out[i].Availability, out[i].ErrorRate = c[0].availability(), c[0].errorRate()
		out[i].Availability30m, out[i].Availability1d = c[1].availability(), c[2].availability()
	}
	return out
}

// Subscribe returns a channel on which Run publishes snapshots, newest only:
// a subscriber that falls behind loses the snapshots in between and never
// blocks the monitor. The channel is closed when ctx ends.
func (m *Monitor) Subscribe(ctx context.Context) <-chan *Snapshot {
	ch := make(chan *Snapshot, 1)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, ch)
		close(ch)
	})
	return ch
}

// publish sends s to every subscriber, replacing any snapshot not yet taken.
func (m *Monitor) publish(s *Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs {
		select {
		case <-ch: // drop the stale one
		default:
		}
		ch <- s // cannot block: the buffer was just emptied, and only we send
	}
}

// Run probes every endpoint that has a probe, publishes a snapshot every
// Options.Publish and writes history every minute, until ctx ends. It returns once every goroutine it started
// has stopped.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range m.eps {
		if e.Probe != nil {
			wg.Go(func() { m.probeLoop(ctx, e) })
		}
	}
	t := time.NewTicker(m.opts.Publish)
	defer t.Stop()
	f := time.NewTicker(flushEvery)
	defer f.Stop()
	for {
		m.publish(m.Snapshot())
		select {
		case <-ctx.Done():
			wg.Wait()
			m.Flush()
			return
		case <-f.C:
			m.Flush()
		case <-t.C:
		}
	}
}

// firstProbeSpread spreads the first probes of all endpoints over a short
// time, soon enough that the dashboard has figures within moments of starting.
const firstProbeSpread = 250 * time.Millisecond

// probeLoop probes one endpoint at its probe interval, with jitter so that
// probers started together do not stay in step, and at once when the
// breaker lets a trial go. While the breaker is open, the probe looks
// whether the endpoint answers again, and a probe that finds it answering
// ends the backoff early (health.record): a provider that heals is tried
// within a probe interval, not at the end of a backoff that has doubled
// through a long outage. Once the breaker is half-open the probe is the one
// trial, for which the endpoint's Trial probe goes if it has one, as it
// does, at once, for a look (probeLook).
func (m *Monitor) probeLoop(ctx context.Context, e Endpoint) {
	interval, jitter, timeout := m.probeSettings(e)
	h := m.health[m.index[e.ID]] // its kick and owed clock are its own, lock-free
	due := m.opts.Clock.Now().Add(time.Duration(rand.Int64N(int64(min(interval, firstProbeSpread)))))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		t.Reset(max(due.Sub(m.opts.Clock.Now()), 0))
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
			// The breaker moved (it opened, or the fleet leased its trial
			// here), or a look is asked for: the trial or the look may be
			// due before the next probe.
			if at := m.nextTrial(e.ID); !at.IsZero() && at.Before(due) {
				due = at
			}
			continue
		case <-t.C:
		}
		if gen, ok, kind := m.admit(e.ID, true); ok {
			probe := e.Probe
			if kind != probeRoutine && e.Trial != nil {
				probe = e.Trial
			}
			if kind == probeLook { // the look waits for an answer as an attempt does (see Sent)
				h.owed.sent(m.opts.Clock.Now())
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			o := probe(pctx)
			cancel()
			if ctx.Err() != nil {
				if kind == probeLook { // the wait ends unanswered, and is not an outcome
					h.owed.gaveUp(m.opts.Clock.Now())
				}
				return // a probe cut short by shutdown says nothing about the endpoint
			}
			o.Probe, o.Gen, o.Waiting = true, gen, kind == probeLook
			m.Record(e.ID, o)
		}
		iv := float64(interval)
		now := m.opts.Clock.Now()
		due = now.Add(time.Duration(iv + (rand.Float64()*2-1)*jitter*iv))
		if at := m.nextTrial(e.ID); !at.IsZero() && at.Before(due) {
			// A trial goes the moment the breaker lets it, not up to an
			// interval later.
			due = at
		}
	}
}

// nextTrial is when the endpoint's breaker lets its next trial go: the end
// of an open breaker's backoff, or now for a half-open one whose trial is
// not out, or for a look asked for; zero when there is none to send.
func (m *Monitor) nextTrial(id string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[m.index[id]]
	switch b, now := &h.brk, m.opts.Clock.Now(); {
	case h.look:
		return now
	case b.state == BreakerOpen:
		return b.until
	case b.state == BreakerHalfOpen && !b.trial && !m.leased(h, now):
		return now.Add(leaseWait) // the fleet's lease decides: look again soon
	case b.state == BreakerHalfOpen && !b.trial:
		return now
	}
	return time.Time{}
}

// probeSettings are the endpoint's own probe settings, or the monitor's.
func (m *Monitor) probeSettings(e Endpoint) (interval time.Duration, jitter float64, timeout time.Duration) {
	interval, jitter, timeout = e.ProbeInterval, e.ProbeJitter, e.ProbeTimeout
	if interval <= 0 {
		interval = m.opts.ProbeInterval
	}
	if jitter <= 0 {
		jitter = m.opts.ProbeJitter
	}
	if timeout <= 0 {
		timeout = m.opts.ProbeTimeout
	}
	return interval, min(jitter, 0.9), timeout
}
