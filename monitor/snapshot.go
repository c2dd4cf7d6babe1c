package monitor

import (
	"time"

	"switchboard/provider"
)

// State is the health state of an endpoint as the router and the dashboard see it.
type State uint8

// The states, from best to worst for routing.
const (
	Healthy     State = iota // answering, availability at or above the degraded threshold
	Degraded                 // answering, but availability below the degraded threshold
	CoolingDown              // rate limited: skipped until its Retry-After ends
	Down                     // an outage: consecutive provider errors or availability below the down threshold
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

// Snapshot is an immutable view of every endpoint's health at one instant.
// Nobody may modify a snapshot after the monitor publishes it.
type Snapshot struct {
	Version uint64    // grows with every change the monitor has seen
	At      time.Time // the monitor's clock when the snapshot was taken
	// OutageWindow is the horizon of a "recent" outage (Options.OutageWindow).
	OutageWindow time.Duration
	Endpoints    []EndpointStatus
	index        map[string]int
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

// EndpointStatus is one endpoint's health in a snapshot. Counts and figures
// cover the monitor's window (Options.Window) unless a field says otherwise.
type EndpointStatus struct {
	ID       string // the endpoint's id, unique across the fleet
	Provider string // the provider slug
	Model    string // the public model name

	State   State
	Enabled bool   // false when the user turned the endpoint off
	Reason  string // why the state is what it is, in a few plain words

	Requests       int // attempts and probes finished in the window
	Probes         int // of which were probes
	Successes      int
	ProviderErrors int // failures that count against availability
	UserErrors     int // 400/413-style failures: not the provider's fault
	RateLimited    int // 429s: counted apart, not against availability

	// Availability is Successes / (Successes + ProviderErrors), or -1 when
	// neither happened in the window.
	Availability float64
	// ErrorRate is ProviderErrors / Requests, or 0 without requests.
	ErrorRate float64

	LatencyP50, LatencyP95 time.Duration // whole-answer duration of successes
	TTFTP50, TTFTP95       time.Duration // time to first token of successes

	ConsecutiveErrors int                      // provider errors since the last success
	LastError         provider.Class           // the class of the most recent failure
	LastErrorAt       time.Time                // zero if none in memory
	OutageSince       time.Time                // when the current outage began; zero when not down
	LastOutage        time.Time                // when the endpoint was last seen down; zero if never
	CooldownUntil     time.Time                // end of the current rate-limit cooldown; zero if none
	Errors            [provider.NumClasses]int // failures in the window, indexed by provider.Class
	Series            Series                   // the last Options.SeriesLen buckets, oldest first
}

// Series holds the per-bucket figures the dashboard plots, oldest first. A
// bucket without data holds -1 in Latency/TTFT/Availability and 0 in ErrorRate.
type Series struct {
	Latency      []float64 // p50 duration of successes, milliseconds
	TTFT         []float64 // p50 time to first token of successes, milliseconds
	ErrorRate    []float64 // provider errors / requests, 0..1
	Availability []float64 // successes / (successes + provider errors), 0..1
}

// RecentOutage reports whether the endpoint was down at any time in the last d
// before the snapshot (OpenRouter's "significant outage in the last 30 s").
func (e EndpointStatus) RecentOutage(at time.Time, d time.Duration) bool {
	return !e.LastOutage.IsZero() && at.Sub(e.LastOutage) < d
}
