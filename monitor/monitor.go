package monitor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"switchboard/provider"
)

// Monitor keeps the health of a fixed set of endpoints. Record and
// SetEnabled are cheap and safe for concurrent use; Snapshot computes the
// published view lazily and caches it; Run drives the probers and publishes
// snapshots to subscribers until its context ends.
type Monitor struct {
	opts  Options
	eps   []Endpoint
	index map[string]int // immutable after New

	mu      sync.Mutex
	health  []*health
	version uint64
	snap    *Snapshot // the last snapshot computed; immutable
	subs    map[chan *Snapshot]struct{}
}

// health is the mutable record of one endpoint, guarded by Monitor.mu.
type health struct {
	enabled       bool
	ring          ring
	consecutive   int // provider errors since the last success
	lastError     provider.Class
	lastErrorAt   time.Time
	outageSince   time.Time
	lastOutage    time.Time
	cooldownUntil time.Time
}

// New returns a monitor of these endpoints, all enabled and without data.
func New(opts Options, eps []Endpoint) (*Monitor, error) {
	opts = opts.withDefaults()
	m := &Monitor{opts: opts, eps: eps, index: make(map[string]int, len(eps)), subs: map[chan *Snapshot]struct{}{}}
	for i, e := range eps {
		if _, dup := m.index[e.ID]; dup {
			return nil, fmt.Errorf("monitor: endpoint id %q is used twice", e.ID)
		}
		m.index[e.ID] = i
		m.health = append(m.health, &health{enabled: true, ring: newRing(opts.Bucket, opts.Window)})
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
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	h.ring.at(h.ring.slot(now)).add(o)
	switch {
	case o.Class == provider.ClassOK:
		h.consecutive = 0
	case o.Class.ProviderError():
		h.consecutive++
		h.lastError, h.lastErrorAt = o.Class, now
	case o.Class == provider.ClassRateLimited:
		h.lastError, h.lastErrorAt = o.Class, now
		pause := o.RetryAfter
		if pause <= 0 {
			pause = m.opts.RateLimitPause
		}
		// A cooldown only ever grows: a later, shorter Retry-After must not
		// let traffic back in early.
		if until := now.Add(pause); until.After(h.cooldownUntil) {
			h.cooldownUntil = until
		}
	}
	m.version++
}

// SetEnabled turns an endpoint on or off for routing. The change is in the
// very next snapshot.
func (m *Monitor) SetEnabled(id string, on bool) error {
	i, ok := m.index[id]
	if !ok {
		return fmt.Errorf("monitor: no endpoint %q", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.health[i].enabled = on
	m.version++
	return nil
}

// snapshotMaxAge bounds how stale a cached snapshot may be when nothing was
// recorded: states also change with time alone (cooldowns end, outages age).
const snapshotMaxAge = 250 * time.Millisecond

// Snapshot returns the current view of every endpoint.
func (m *Monitor) Snapshot() *Snapshot {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.snap; s != nil && s.Version == m.version && now.Sub(s.At) < snapshotMaxAge && !now.Before(s.At) {
		return s
	}
	m.snap = m.compute(now)
	return m.snap
}

// compute builds a snapshot at now. It updates outage bookkeeping, so it
// runs under m.mu.
func (m *Monitor) compute(now time.Time) *Snapshot {
	s := &Snapshot{Version: m.version, At: now, OutageWindow: m.opts.OutageWindow,
		Endpoints: make([]EndpointStatus, len(m.eps)), index: m.index}
	for i, e := range m.eps {
		s.Endpoints[i] = m.status(e, m.health[i], now)
	}
	return s
}

func (m *Monitor) status(e Endpoint, h *health, now time.Time) EndpointStatus {
	o := m.opts
	slot := h.ring.slot(now)
	win := h.ring.sum(slot, len(h.ring.buckets))
	recent := h.ring.sum(slot, int(o.OutageWindow/o.Bucket))
	st := EndpointStatus{
		ID: e.ID, Provider: e.Provider, Model: e.Model, Enabled: h.enabled,
		Requests: int(win.requests), Probes: int(win.probes), Successes: int(win.successes),
		ProviderErrors: int(win.provErrors), UserErrors: int(win.userErrors), RateLimited: int(win.rateLimited),
		Availability: win.availability(), ErrorRate: win.errorRate(),
		LatencyP50: win.latency.quantile(0.5), LatencyP95: win.latency.quantile(0.95),
		TTFTP50: win.ttft.quantile(0.5), TTFTP95: win.ttft.quantile(0.95),
		ConsecutiveErrors: h.consecutive, LastError: h.lastError, LastErrorAt: h.lastErrorAt,
	}
	for i, n := range win.errors {
		st.Errors[i] = int(n)
	}

	down, why := m.isDown(h, &recent)
	if down {
		if h.outageSince.IsZero() {
			h.outageSince = now
		}
		h.lastOutage = now
	} else {
		h.outageSince = time.Time{}
	}
	st.OutageSince, st.LastOutage = h.outageSince, h.lastOutage
	if now.Before(h.cooldownUntil) {
		st.CooldownUntil = h.cooldownUntil
	}

	switch {
	case !h.enabled:
		st.State, st.Reason = Disabled, "turned off by the user"
	case down:
		st.State, st.Reason = Down, why
	case !st.CooldownUntil.IsZero():
		st.State = CoolingDown
		st.Reason = fmt.Sprintf("rate limited, cooling down %s", h.cooldownUntil.Sub(now).Round(time.Second))
	case int(win.successes+win.provErrors) >= o.MinRequests && st.Availability < o.DegradedBelow:
		st.State = Degraded
		st.Reason = fmt.Sprintf("availability %.0f%% over %s", 100*st.Availability, o.Window)
	default:
		st.State, st.Reason = Healthy, "healthy"
	}
	st.Series = m.series(h, slot)
	return st
}

// isDown applies the outage rule: DownAfter provider errors in a row, or
// availability under DownBelow over the outage window once enough answers
// were seen there.
func (m *Monitor) isDown(h *health, recent *bucket) (bool, string) {
	if h.consecutive >= m.opts.DownAfter {
		return true, fmt.Sprintf("down: %d errors in a row (last %s)", h.consecutive, h.lastError)
	}
	n := int(recent.successes + recent.provErrors)
	if a := recent.availability(); n >= m.opts.MinRequests && a < m.opts.DownBelow {
		return true, fmt.Sprintf("down: availability %.0f%% over %s", 100*a, m.opts.OutageWindow)
	}
	return false, ""
}

func (m *Monitor) series(h *health, now int64) Series {
	n := m.opts.SeriesLen
	s := Series{Latency: make([]float64, n), TTFT: make([]float64, n),
		ErrorRate: make([]float64, n), Availability: make([]float64, n)}
	for k := range n {
		b := h.ring.peek(now - int64(n-1-k))
		if b == nil {
			s.Latency[k], s.TTFT[k], s.Availability[k] = -1, -1, -1
			continue
		}
		s.Latency[k], s.TTFT[k] = millisOrNone(&b.latency), millisOrNone(&b.ttft)
		s.ErrorRate[k], s.Availability[k] = b.errorRate(), b.availability()
	}
	return s
}

func millisOrNone(h *histogram) float64 {
	d := h.quantile(0.5)
	if d == 0 {
		return -1
	}
	return float64(d) / float64(time.Millisecond)
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

// Run probes every endpoint that has a probe and publishes a snapshot every
// Options.Publish until ctx ends. It returns once every goroutine it started
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
	for {
		m.publish(m.Snapshot())
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// firstProbeSpread spreads the first probes of all endpoints over a short
// time, soon enough that the dashboard has figures within moments of starting.
const firstProbeSpread = 250 * time.Millisecond

// probeLoop probes one endpoint at the probe interval, with jitter so that
// probers started together do not stay in step.
func (m *Monitor) probeLoop(ctx context.Context, e Endpoint) {
	wait := time.Duration(rand.Int64N(int64(min(m.opts.ProbeInterval, firstProbeSpread))))
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, m.opts.ProbeTimeout)
		o := e.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return // a probe cut short by shutdown says nothing about the endpoint
		}
		o.Probe = true
		m.Record(e.ID, o)
		t.Reset(m.jittered())
	}
}

func (m *Monitor) jittered() time.Duration {
	iv := float64(m.opts.ProbeInterval)
	j := (rand.Float64()*2 - 1) * m.opts.ProbeJitter * iv
	return time.Duration(iv + j)
}
