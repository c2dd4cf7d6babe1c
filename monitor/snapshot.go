package monitor

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"switchboard/provider"
)

// State is the health state of an endpoint as the router and the dashboard see it.
type State uint8

// The states, from best to worst for routing.
const (
	Healthy     State = iota // answering, availability at or above the degraded threshold
	Degraded                 // answering, but availability or latency below its threshold
	CoolingDown              // rate limited: skipped until its Retry-After ends
	Down                     // an outage: the breaker is open or half-open
	Disabled                 // turned off by the user
)

var stateNames = [...]string{"healthy", "degraded", "cooling", "down", "disabled"}

// String returns the state's lower-case name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText makes a state read as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name, so that a snapshot or a trace read
// back from JSON says the same.
func (s *State) UnmarshalText(b []byte) error {
	i, err := NameIndex(stateNames[:], b, "state")
	*s = State(i)
	return err
}

// NameIndex finds name among the names of an enumeration, for the
// UnmarshalText of types that marshal as their names.
func NameIndex(names []string, name []byte, what string) (int, error) {
	if i := slices.Index(names, string(name)); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("%q is not a %s; one of %s", name, what, strings.Join(names, ", "))
}

// Snapshot is an immutable view of every endpoint's health at one instant.
// Nobody may modify a snapshot after the monitor publishes it.
type Snapshot struct {
	Version uint64    // grows with every change the monitor has seen
	At      time.Time // the monitor's clock when the snapshot was taken
	// OutageWindow is the horizon of a "recent" outage (Options.OutageWindow).
	OutageWindow time.Duration
	Endpoints    []EndpointStatus
	Providers    []ProviderStatus // one per provider, rolled up from its endpoints, in first-seen order
	Models       []ModelStatus    // one per model: what routing delivered
	Events       []Event          // the most recent events, oldest first; shared by snapshots until the next event
	HistoryError string           // why history is off after a failure; "" while it works or was never asked for
	// Fleet is how this replica stands in its fleet; nil alone. In a
	// fleet, every figure is the fleet's but EndpointStatus.Here.
	Fleet *FleetStatus `json:",omitempty"`
	index map[string]int
}

// UnmarshalJSON reads a snapshot as encoding/json writes it (the gateway's
// admin API streams them), its lookups by endpoint working as the
// monitor's own.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	type fields Snapshot // the same, without this method
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Snapshot(f)
	s.index = make(map[string]int, len(s.Endpoints))
	for i := range s.Endpoints {
		s.index[s.Endpoints[i].ID] = i
	}
	return nil
}

// Endpoint returns the status of the endpoint with this id.
func (s *Snapshot) Endpoint(id string) (EndpointStatus, bool) {
	if s == nil {
		return EndpointStatus{}, false
	}
	i, ok := s.index[id]
	if !ok {
		return EndpointStatus{}, false
	}
	return s.Endpoints[i], true
}

// Status returns the status of the endpoint with this id without copying
// it, or nil. The snapshot is immutable: never modify what it points to.
func (s *Snapshot) Status(id string) *EndpointStatus {
	if s == nil {
		return nil
	}
	if i, ok := s.index[id]; ok {
		return &s.Endpoints[i]
	}
	return nil
}

// StatusNear is Status, looking first at index i of Endpoints: a caller
// that lists the endpoints in the order the monitor was given them finds
// each at its own index without a lookup by id.
func (s *Snapshot) StatusNear(i int, id string) *EndpointStatus {
	if s != nil && i >= 0 && i < len(s.Endpoints) && s.Endpoints[i].ID == id {
		return &s.Endpoints[i]
	}
	return s.Status(id)
}

// NoData is what every figure of a snapshot holds when nothing was
// measured to give it: the ratios (availability, error rate, delivered),
// the rates (throughput) and the durations (percentiles, means, EWMAs),
// as -1 of their unit (a duration of -1ns). Counts are never without data:
// zero is a count. So "no data" reads one way everywhere: a figure below
// zero.
const NoData = -1

// Percentiles are a distribution's quantiles; NoData without data.
type Percentiles struct {
	P50, P75, P90, P95, P99 time.Duration
}

// Rates are percentiles of throughput, in output tokens per second over the
// whole answer, time to first token included, as OpenRouter measures it.
// They are read from the slow side, as OpenRouter's endpoints API and its
// preferred_min_throughput mean them: P90 is the speed that 90% of requests
// reach or beat (the 10th percentile of the ascending distribution), so
// P99 <= P95 <= P90 <= P75 <= P50. NoData without data.
type Rates struct {
	P50, P75, P90, P95, P99 float64
}

// EndpointStatus is one endpoint's health in a snapshot. Counts cover the
// last Options.Window (5 minutes by default) unless a field says otherwise.
type EndpointStatus struct {
	ID       string // the endpoint's id, unique across the fleet
	Provider string // the provider slug
	Model    string // the public model name

	State   State
	Enabled bool   // false when the user turned the endpoint off
	OffBy   string // who turned it off, while it is: ByUser (the dashboard), or whom SetEnabledBy named
	// OffOn is the replica of the fleet it was turned off on, when another
	// (OffBy then ends "on replica" and its name); "" otherwise.
	OffOn string `json:",omitempty"`
	// Here are this replica's own figures over the window, in a fleet
	// (the others are the fleet's); nil alone.
	Here   *Here  `json:",omitempty"`
	Reason string // why the state is what it is, in a few plain words

	// Requests are the attempts and probes finished in the window; Probes
	// are those of them that were probes, so real traffic is Requests -
	// Probes. A probe that reached only the host (provider.Outcome.Shallow)
	// and succeeded counts in these two and nowhere else: it is no answer.
	Requests       int
	Probes         int
	ProbeFailures  int // probes that ended in a provider error
	Successes      int
	ProviderErrors int // failures that count against availability
	UserErrors     int // 400/413-style failures: not the provider's fault
	RateLimited    int // 429s: counted apart, not against availability

	// Availability is Successes / (Successes + ProviderErrors) over the
	// window, NoData when neither happened; likewise over 30 minutes and a
	// day.
	Availability    float64
	Availability30m float64
	Availability1d  float64
	// ErrorRate is ProviderErrors / Requests, NoData without requests.
	ErrorRate float64
	Errors    [provider.NumClasses]int // failures in the window, indexed by provider.Class

	// Distributions of successes over the last 5 minutes and 30 minutes
	// (minute granularity; the 30-minute ones are read at most once a
	// second), a probe's only while the endpoint had no real answer in the
	// last 30 minutes; latency is the whole answer, TTFT the time to the first
	// token, throughput output tokens per second of the whole answer (see
	// Rates: its percentiles count from the slow side).
	Latency, TTFT             Percentiles
	Latency30m, TTFT30m       Percentiles
	Throughput, Throughput30m Rates
	// Gap30m is the distribution over 30 minutes of each success's longest
	// gap between two chunks with tokens (provider.Outcome.MaxGap): its
	// P99 is a silence that 99% of answers never reached, the norm the
	// router's stall deadline is set from. Answers of fewer than two token
	// chunks have no gap and are left out; a gap under a millisecond
	// counts as 1ms.
	Gap30m Percentiles
	// EWMALatency and EWMATTFT follow each success at once, for fast
	// reaction; NoData before the first.
	EWMALatency, EWMATTFT time.Duration

	Breaker           BreakerState
	Generation        uint64         // the breaker's generation
	NextTrial         time.Time      // open breaker: when the next trial may go
	ConsecutiveErrors int            // provider errors since the last success
	LastError         provider.Class // the class of the most recent failure
	LastErrorAt       time.Time      // zero if none in memory
	OutageSince       time.Time      // when the current outage began; zero when not down
	LastOutage        time.Time      // when the endpoint was last seen down; zero if never
	CooldownUntil     time.Time      // end of the current rate-limit cooldown; zero if none
	Series            Series         // the last Options.SeriesLen buckets, oldest first
	owed              *owed          // the monitor's live mark behind Unanswered; nil when read from JSON
}

// Unanswered is Monitor.Unanswered for this endpoint, read live rather than
// as of the snapshot (an answer owed grows by the millisecond, and the
// planner reads it for every endpoint of every request, where a lookup by
// id costs as much as the rest of the endpoint's planning); 0 for a
// snapshot read back from JSON.
func (s *EndpointStatus) Unanswered(now time.Time) time.Duration {
	if s.owed == nil {
		return 0
	}
	return s.owed.at(now)
}

// Idle is how long, at now, the endpoint has had no attempt waiting on it
// while it still owes an answer (Unanswered stands still meanwhile): since
// the last attempt it kept waiting ended without one (a lost race, a caller
// gone); 0 while an attempt waits, when it owes nothing, and for a snapshot
// read back from JSON. Times is how often every attempt waiting on it has
// so ended since it last answered anything.
func (s *EndpointStatus) Idle(now time.Time) (idle time.Duration, times int) {
	if s.owed == nil {
		return 0, 0
	}
	return s.owed.standing(now)
}

// ModelStatus is what routing delivered for one model over the window, set
// against the best any single endpoint of it did over the same window
// (OpenRouter's "with routing / without").
type ModelStatus struct {
	Name         string
	Requests     int     // routed requests that ended
	PerSecond    float64 // routed requests per second over the last minute
	Delivered    float64 // answered / (answered + failed not by the caller's fault); NoData without requests
	BestSingle   float64 // the best availability of one endpoint of the model; NoData without data
	BestProvider string  // whose it is
}

// Model returns the status of a model, or false.
func (s *Snapshot) Model(name string) (ModelStatus, bool) {
	for _, m := range s.Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelStatus{}, false
}

// ProviderStatus is a provider's health rolled up from its endpoints.
type ProviderStatus struct {
	Name            string
	Endpoints       int
	Answering       int // endpoints not down and not turned off
	Requests        int
	Availability    float64 // over all its endpoints; NoData without data
	Availability30m float64
	Availability1d  float64
	ErrorRate       float64 // NoData without requests
}

// Series holds the per-bucket figures the dashboard plots, oldest first.
type Series struct {
	// Done holds the finished buckets before the current one. It is shared
	// by every snapshot taken during the same bucket: never modify it.
	Done    []Point
	Current Point // the bucket in progress
	// Hourly is availability per hour over the last day, oldest first,
	// NoData for an hour without data.
	Hourly [24]float64
	// Bucket is the time one point covers (Options.Bucket), so that a
	// plot can say what span it shows and merge points into wider cells.
	Bucket time.Duration
}

// MinutePoint is one minute of an endpoint's outcomes (see Monitor.Minutes).
type MinutePoint struct {
	At                     time.Time     // the minute's start
	Requests               int           // outcomes, probes included
	LatencyP50, LatencyP99 time.Duration // of successes; NoData without any
	TTFTP50, TTFTP99       time.Duration
	ErrorRate              float64                  // provider errors / requests; NoData without requests
	Errors                 [provider.NumClasses]int // failures by class
}

// Point is one bucket's figures; a figure without data is NoData.
type Point struct {
	Requests     int           // outcomes, probes included
	Latency      time.Duration // mean whole-answer duration of successes
	TTFT         time.Duration // mean time to first token of successes
	ErrorRate    float64       // provider errors / requests, 0..1
	Availability float64       // successes / (successes + provider errors), 0..1
	// Successes and ProviderErrors are the counts behind Availability and
	// ErrorRate, so that points merge into wider ones exactly.
	Successes, ProviderErrors int
	// Down says the endpoint was down (its breaker not closed) at some time
	// during the bucket. An outage sends no traffic, so its buckets hold no
	// outcomes; this is what shows them as the failures they are.
	Down bool
}

// Points returns every bucket, the current one last, in a new slice.
func (s Series) Points() []Point {
	return append(s.Done[:len(s.Done):len(s.Done)], s.Current)
}

// RecentOutage reports whether the endpoint was down at any time in the last d
// before the snapshot (OpenRouter's "significant outage in the last 30 s").
func (e *EndpointStatus) RecentOutage(at time.Time, d time.Duration) bool {
	return !e.LastOutage.IsZero() && at.Sub(e.LastOutage) < d
}
