package monitor

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"switchboard/human"
)

// A fleet is several monitors, one per replica of a gateway, that share
// what each sees (package cluster carries it between them). Each replica
// counts its own outcomes, hands them out as tallies (TakeTally) and merges
// the others' (MergeTally), so that its windows, percentiles and states
// are the fleet's; its own figures stay apart, as EndpointStatus.Here. The
// changes a replica makes to an endpoint (a breaker opening or closing, a
// cooldown, a toggle) go out as Changes (TakeChanges) and are applied by
// the others (Apply) without going out again. While the link to the fleet
// is up, a half-open breaker's one trial is the fleet's: it may go only
// from the replica that holds the trial's lease (WantTrials, GrantTrial).
// Nothing here waits on the fleet: every call is local and quick.

// ChangeKind is what a Change does to an endpoint.
type ChangeKind string

// The changes a replica shares.
const (
	ChangeOpened   ChangeKind = "opened"   // the breaker opened: Until, Backoff, Why
	ChangeClosed   ChangeKind = "closed"   // the breaker closed: the outage is over
	ChangeCooldown ChangeKind = "cooldown" // rate limited until Until
	ChangeToggled  ChangeKind = "toggled"  // turned On or off, By whom, At when
)

// Change is one change a replica made to an endpoint, for the others.
type Change struct {
	Kind     ChangeKind    `json:"kind"`
	Endpoint string        `json:"endpoint"`
	Until    time.Time     `json:"until,omitzero"`
	Backoff  time.Duration `json:"backoff,omitzero"`
	Why      string        `json:"why,omitzero"`
	On       bool          `json:"on,omitzero"`
	By       string        `json:"by,omitzero"`
	At       time.Time     `json:"at"`
	// Origin is the replica the change was first made on, when it is not
	// the one that sends it (a replica rejoining shares what it was told).
	Origin string `json:"origin,omitzero"`
}

// FleetStatus is how this replica stands in its fleet, for the dashboard,
// the admin API and /readyz.
type FleetStatus struct {
	Replica string `json:"replica"` // this replica's name
	Linked  bool   `json:"linked"`  // the link to the fleet is up: figures and states are the fleet's
	// Detail says what is wrong with the link while it is down ("redis at
	// 127.0.0.1:6379 unreachable since 12:00:01: ..."), "" while it is up.
	Detail   string          `json:"detail,omitzero"`
	Replicas []ReplicaStatus `json:"replicas"` // every replica seen lately, this one included, by name
}

// ReplicaStatus is one replica as the fleet last heard of it.
type ReplicaStatus struct {
	Name     string    `json:"name"`
	Seen     time.Time `json:"seen"`     // its last heartbeat
	Requests int       `json:"requests"` // requests it sent over the window, probes included
	// Availability is its own over the window, NoData without answers.
	Availability float64 `json:"availability"`
}

// Here are one endpoint's figures as this replica alone saw them over the
// window, while the others in EndpointStatus are the fleet's.
type Here struct {
	Requests       int     `json:"requests"`
	Successes      int     `json:"successes"`
	ProviderErrors int     `json:"provider_errors"`
	Availability   float64 `json:"availability"` // NoData without answers
	ErrorRate      float64 `json:"error_rate"`   // NoData without requests
}

// fleet is the monitor's side of its fleet, guarded by Monitor.mu.
type fleet struct {
	status   FleetStatus
	shown    *FleetStatus // status as snapshots show it: made once per change
	changes  []Change
	applying bool          // Apply is at work: what it changes does not go out again
	origin   string        // while it is, the replica the change was first made on
	wake     chan struct{} // a change waits to go out
	// routed are the routed requests of each model not yet handed out
	// (TakeTally), by bucket.
	routed map[string][]countsAt
	// probers are the replicas linked in the fleet, this one among them:
	// each endpoint is probed by one of them (prober).
	probers []string
}

// leaseWait is how soon a prober asks again for a trial whose lease
// another replica holds, or which was not yet asked for.
const leaseWait = 250 * time.Millisecond

// JoinFleet makes the monitor one replica of a fleet, named replica; it
// must be called before any outcome is recorded. The channel it returns
// receives when a change waits to go out (TakeChanges). Until SetLinked
// says the link is up, the monitor works as alone.
func (m *Monitor) JoinFleet(replica string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fleet = &fleet{status: FleetStatus{Replica: replica, Detail: "not yet linked"}, wake: make(chan struct{}, 1),
		routed: map[string][]countsAt{}}
	for _, h := range m.health {
		h.here = newRolling[counts](m.opts.Bucket, int(m.opts.Window/m.opts.Bucket))
	}
	m.version++
	m.marked = m.version
	return m.fleet.wake
}

// SetFleet sets how this replica stands in its fleet. While the link is
// down, a half-open breaker's trial goes without a lease, as alone.
func (m *Monitor) SetFleet(st FleetStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fleet == nil {
		return
	}
	st.Replica = m.fleet.status.Replica
	if st.Linked != m.fleet.status.Linked || st.Detail != m.fleet.status.Detail {
		m.marked = m.version + 1
	}
	m.fleet.status, m.fleet.shown = st, nil
	m.fleet.probers = m.fleet.probers[:0]
	if st.Linked {
		for _, r := range st.Replicas {
			m.fleet.probers = append(m.fleet.probers, r.Name)
		}
		if !slices.Contains(m.fleet.probers, st.Replica) {
			m.fleet.probers = append(m.fleet.probers, st.Replica)
		}
	}
	m.version++
}

// probesHere reports whether this replica probes the endpoint: alone or
// cut off, it probes every one; in a fleet, only those it is the prober
// of (see prober), and any whose half-open breaker's trial it holds. The
// fleet shares the outcomes, so one probe an interval is enough for all,
// and a provider that is down is not looked at by every replica in turn.
// The caller holds m.mu.
func (m *Monitor) probesHere(h *health, now time.Time) bool {
	if !m.linked() || len(m.fleet.probers) < 2 {
		return true
	}
	if h.brk.state == BreakerHalfOpen && now.Before(h.leaseUntil) {
		return true
	}
	return prober(h.ep.ID, m.fleet.probers) == m.fleet.status.Replica
}

// prober picks the replica that probes an endpoint among replicas, by
// rendezvous hashing: the same on every replica that sees the same
// replicas, and a replica leaving moves only its own endpoints.
func prober(endpoint string, replicas []string) string {
	var best string
	var bestScore uint64
	for _, r := range replicas {
		h := fnv.New64a()
		h.Write([]byte(endpoint))
		h.Write([]byte{0})
		h.Write([]byte(r))
		if score := h.Sum64(); best == "" || score > bestScore || score == bestScore && r < best {
			best, bestScore = r, score
		}
	}
	return best
}

// linked reports whether the fleet decides trials; the caller holds m.mu.
func (m *Monitor) linked() bool { return m.fleet != nil && m.fleet.status.Linked }

// share queues a change for the fleet, unless it came from the fleet; the
// caller holds m.mu.
func (m *Monitor) share(c Change) {
	if m.fleet == nil || m.fleet.applying {
		return
	}
	m.fleet.changes = append(m.fleet.changes, c)
	select {
	case m.fleet.wake <- struct{}{}:
	default:
	}
}

// TakeChanges returns the changes made here since the last call, oldest
// first.
func (m *Monitor) TakeChanges() []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fleet == nil {
		return nil
	}
	c := m.fleet.changes
	m.fleet.changes = nil
	return c
}

// Apply makes a change another replica (from) made. What it changes is
// not shared again. Unknown endpoints are ignored: replicas may run
// different configurations for a while.
func (m *Monitor) Apply(from string, c Change) {
	i, ok := m.index[c.Endpoint]
	if !ok {
		return
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fleet == nil {
		return
	}
	h := m.health[i]
	h.update(m, now) // before applying: what it changes is this replica's own, and goes out
	origin := cmp.Or(c.Origin, from)
	m.fleet.applying, m.fleet.origin = true, origin
	defer func() { m.fleet.applying, m.fleet.origin = false, "" }()
	by := "replica " + origin
	switch c.Kind {
	case ChangeOpened:
		b := &h.brk
		switch {
		case b.state == BreakerClosed:
			b.backoff = c.Backoff
			b.set(BreakerOpen)
			b.until = c.Until
			h.downCause, h.downOrigin = c.Why, origin
			h.downWhy, h.outageSince = c.Why+" (seen by "+by+")", now
			m.event(h, now, EventOutageStarted, h.downWhy)
			m.event(h, now, EventBreakerOpened, fmt.Sprintf("by %s; first trial in %s", by, human.Duration(c.Until.Sub(now).Round(time.Second))))
		case c.Until.After(now) && (b.state == BreakerHalfOpen || c.Until.After(b.until)):
			// The fleet's trial failed, or another replica opened it
			// later: the next trial goes when the later says.
			half := b.state == BreakerHalfOpen
			b.backoff = max(b.backoff, c.Backoff)
			if half {
				b.set(BreakerOpen)
			}
			b.until = c.Until
			if half {
				m.event(h, now, EventBreakerOpened, fmt.Sprintf("by %s: %s; next trial in %s", by, c.Why, human.Duration(c.Until.Sub(now).Round(time.Second))))
			}
		}
		h.leaseUntil = time.Time{}
	case ChangeClosed:
		if h.brk.state != BreakerClosed {
			h.consecutive, h.silent = 0, false
			h.brk.close()
			h.closedAt, h.leaseUntil = now, time.Time{}
			m.event(h, now, EventBreakerClosed, "by "+by+": "+c.Why)
			m.event(h, now, EventOutageEnded, fmt.Sprintf("back after %s", human.Duration(now.Sub(h.outageSince))))
			h.outages = append(h.outages, span{h.outageSince, now})
			h.outageSince = time.Time{}
		}
	case ChangeCooldown:
		m.coolUntil(h, now, c.Until, "by "+by+": "+c.Why)
	case ChangeToggled:
		if c.At.After(h.toggledAt) {
			m.toggle(h, now, c.On, c.By, origin, c.At)
			h.toggledAt = c.At // even if it changed nothing here: an older toggle heard later must not undo it
		}
	}
	m.version++
}

// coolUntil starts or lengthens a cooldown; the caller holds m.mu. A
// cooldown only ever grows: a later, shorter Retry-After must not let
// traffic back in early.
func (m *Monitor) coolUntil(h *health, now, until time.Time, why string) {
	if !until.After(h.cooldownUntil) {
		return
	}
	if !now.Before(h.cooldownUntil) {
		m.event(h, now, EventCooldownStarted, why)
	}
	h.cooldownUntil = until
	m.share(Change{Kind: ChangeCooldown, Endpoint: h.ep.ID, Until: until, Why: why, At: now})
}

// toggle turns an endpoint on or off, as by did at when on replica origin
// ("" for this one); the caller holds m.mu.
func (m *Monitor) toggle(h *health, now time.Time, on bool, by, origin string, when time.Time) {
	if h.enabled == on {
		return
	}
	who := by
	if origin != "" {
		who += " on replica " + origin
	}
	h.enabled, h.offBy, h.toggledAt, h.toggledBy, h.toggledOrigin = on, "", when, by, origin
	if !on {
		h.offBy = who
	}
	if on {
		m.event(h, now, EventTurnedOn, "turned on by "+who)
	} else {
		m.event(h, now, EventTurnedOff, "turned off by "+who)
	}
	m.share(Change{Kind: ChangeToggled, Endpoint: h.ep.ID, On: on, By: by, At: when})
}

// Standing returns the changes that describe where this replica's
// endpoints stand now away from the usual (breakers open, cooldowns,
// endpoints turned off or on by hand), for a fleet that may have lost
// them: a replica (re)joining shares them again.
func (m *Monitor) Standing() []Change {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Change
	for _, h := range m.health {
		h.update(m, now)
		if h.brk.state != BreakerClosed { // half-open is down too, its trial yet to go
			out = append(out, Change{Kind: ChangeOpened, Endpoint: h.ep.ID, Until: h.brk.until, Backoff: h.brk.backoff,
				Why: h.downCause, Origin: h.downOrigin, At: now})
		}
		if now.Before(h.cooldownUntil) {
			out = append(out, Change{Kind: ChangeCooldown, Endpoint: h.ep.ID, Until: h.cooldownUntil, Why: "rate limited", At: now})
		}
		if !h.toggledAt.IsZero() {
			out = append(out, Change{Kind: ChangeToggled, Endpoint: h.ep.ID, On: h.enabled, By: h.toggledBy,
				Origin: h.toggledOrigin, At: h.toggledAt})
		}
	}
	return out
}

// Trial names one half-open period of an endpoint's breaker: its trial is
// leased by the fleet under this name, so that a lease of an earlier
// period (kept until it runs out) cannot let a second trial go in a later
// one, nor a replica that has not yet heard of a failed trial take one more.
type Trial struct {
	Endpoint string
	Round    int64 // the end of the backoff before it, Unix milliseconds: the same on every replica
}

func trialOf(h *health) Trial { return Trial{h.ep.ID, h.brk.until.UnixMilli()} }

// WantTrials returns the trials this replica's half-open breakers would
// let go but for their lease: it should ask the fleet for them.
func (m *Monitor) WantTrials() []Trial {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Trial
	for _, h := range m.health {
		h.update(m, now)
		if h.brk.state == BreakerHalfOpen && !h.brk.trial && !now.Before(h.leaseUntil) {
			out = append(out, trialOf(h))
		}
	}
	return out
}

// TrialsOut returns the fleet trials this replica holds and has sent:
// their lease must be kept until they report back.
func (m *Monitor) TrialsOut() []Trial {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Trial
	for _, h := range m.health {
		if h.brk.state == BreakerHalfOpen && h.brk.trial && !h.leaseUntil.IsZero() {
			out = append(out, trialOf(h))
		}
	}
	return out
}

// GrantTrial says this replica holds the fleet's lease of trial t until
// then: if its breaker is still in that half-open period, the trial may go.
func (m *Monitor) GrantTrial(t Trial, until time.Time) {
	i, ok := m.index[t.Endpoint]
	if !ok {
		return
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.health[i]
	h.update(m, now) // a backoff that just ended makes the breaker half-open
	if h.brk.state == BreakerHalfOpen && trialOf(h) == t {
		h.leaseUntil = until
		m.version++
		h.wakeProber()
	}
}

// leased reports whether a half-open breaker may let its trial go as the
// fleet sees it: always alone or unlinked, else while this replica holds
// the lease; the caller holds m.mu.
func (m *Monitor) leased(h *health, now time.Time) bool {
	return !m.linked() || now.Before(h.leaseUntil)
}

// offOn is the replica of the fleet the endpoint was turned off on, while
// it is off and that was another replica; "" otherwise.
func (h *health) offOn() string {
	if h.enabled {
		return ""
	}
	return h.toggledOrigin
}

// hereOf reads an endpoint's own figures.
func hereOf(h *health) Here {
	c := &h.here.total
	return Here{Requests: int(c.requests), Successes: int(c.successes), ProviderErrors: int(c.provErrors),
		Availability: c.availability(), ErrorRate: c.errorRate()}
}

// fleetStatus is the fleet's status for a snapshot, shared by the
// snapshots until it changes; nil alone. The caller holds m.mu.
func (m *Monitor) fleetStatus() *FleetStatus {
	if m.fleet == nil {
		return nil
	}
	if m.fleet.shown == nil {
		st := m.fleet.status
		st.Replicas = slices.Clone(st.Replicas) // the caller's slice stays the caller's
		m.fleet.shown = &st
	}
	return m.fleet.shown
}

// OwnFigures sums this replica's own requests and availability over the
// window, every endpoint together, for its heartbeat.
func (m *Monitor) OwnFigures() (requests int, availability float64) {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum counts
	for _, h := range m.health {
		if h.here != nil {
			h.here.advance(now)
			sum.merge(&h.here.total)
		}
	}
	return int(sum.requests), sum.availability()
}
