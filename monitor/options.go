// Package monitor tracks the health of every endpoint: rolling windows of
// outcomes from routed requests and probes, the state each endpoint is in,
// and immutable snapshots published to the router and the dashboard.
package monitor

import (
	"context"
	"time"

	"switchboard/provider"
)

// Clock tells the time. Tests pass a clock they move by hand.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a wall-clock timer's channel and its Stop.
func (SystemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// ProbeFunc checks one endpoint cheaply and returns the outcome to record.
// It must return when ctx is done.
type ProbeFunc func(ctx context.Context) provider.Outcome

// Endpoint is one model served by one provider, as the monitor knows it.
type Endpoint struct {
	ID       string    // unique across the fleet
	Provider string    // provider slug
	Model    string    // public model name
	Probe    ProbeFunc // nil: no active probing, passive health only
	// Trial, if set, goes instead of Probe when the breaker is half-open and
	// its one trial is free, and for a look (an attempt given up at its
	// norm with no first token). Only a real answer ends an outage, so an
	// endpoint whose Probe is shallow (GET /models) needs a probe that asks
	// the model (a short completion) to recover without real traffic. nil:
	// Probe goes as the trial. Without Probe there is no prober, and Trial
	// is not used.
	Trial ProbeFunc

	// Per-provider probe settings; zero takes the monitor's.
	ProbeInterval time.Duration
	ProbeJitter   float64
	ProbeTimeout  time.Duration
}

// Options tune the monitor. Zero fields take the defaults documented on each.
type Options struct {
	Clock Clock // default SystemClock

	Bucket time.Duration // width of one time bucket; default 2s
	Window time.Duration // span of the rolling window; default 5m

	OutageWindow time.Duration // "recent outage" horizon for routing; default 30s
	DownAfter    int           // consecutive provider errors that make an outage; default 3
	// DownBelow: an endpoint is down when its availability over
	// OutageWindow is under this with 95% confidence (as DegradedBelow
	// judges it). Default 0.80.
	DownBelow float64
	// DegradedBelow: an endpoint is degraded when its availability over
	// Window is under this with 95% confidence (the Wilson score interval's
	// upper bound is under it); it recovers once that bound reaches 1 point
	// above. Default 0.95.
	DegradedBelow  float64
	MinRequests    int           // answers needed before availability thresholds apply; default 5
	RateLimitPause time.Duration // cooldown after a 429 without Retry-After; default 5s

	ProbeInterval time.Duration // default 5s
	ProbeJitter   float64       // fraction of the interval added or removed at random; default 0.2
	ProbeTimeout  time.Duration // default 10s

	// The breaker opens when an endpoint goes down; after BreakerBackoff it
	// lets one trial through, and each failed trial doubles the backoff up to
	// BreakerMaxBackoff. Defaults 5s and 2m.
	BreakerBackoff    time.Duration
	BreakerMaxBackoff time.Duration
	// SlowFactor and SlowMargin: an endpoint whose recent time to first
	// token (an EWMA) is both this many times its own 30-minute median and
	// at least SlowMargin above it is degraded; defaults 3 and 250ms. It
	// recovers below two thirds of either. The margin keeps a ratio of
	// small figures from blaming a provider for what is not its doing: a
	// first token of 11ms against a usual 1ms is the gateway's own
	// queueing under load, or noise, and no caller notices 10ms; a first
	// token 250ms later than usual is felt.
	SlowFactor float64
	SlowMargin time.Duration

	Publish time.Duration // how often subscribers get a snapshot; default 500ms
	// SnapshotLag is how old a snapshot Snapshot may return when only
	// counts changed since it was taken (see Monitor.Snapshot); events are
	// never late. Default 2ms on the system clock, and none on a clock of
	// the caller's: a test's clock moves only when the test moves it, and
	// a lag would hold back every outcome recorded at a standing instant.
	// Negative: none.
	SnapshotLag time.Duration
	SeriesLen   int // buckets kept in Series for the sparklines; default 60
	EventLog    int // events kept, newest last; default 200

	// History, if set, keeps minute aggregates across restarts: New loads
	// the last day from it and Run writes to it every minute and on the way
	// out. If it fails, the monitor goes on without it and says why in
	// Snapshot.HistoryError.
	History History
}

// The defaults of Options that need no words of their own (a
// configuration that leaves a key out refers to these; the others follow).
const (
	DefaultBucket            = 2 * time.Second
	DefaultWindow            = 5 * time.Minute
	DefaultRateLimitPause    = 5 * time.Second
	DefaultProbeTimeout      = 10 * time.Second
	DefaultPublish           = 500 * time.Millisecond
	DefaultBreakerMaxBackoff = 2 * time.Minute
	DefaultSlowFactor        = 3.0
	DefaultEventLog          = 200
	DefaultDownAfter         = 3
	DefaultDownBelow         = 0.80
	DefaultDegradedBelow     = 0.95
	DefaultMinRequests       = 5
	DefaultProbeJitter       = 0.2
	DefaultSeriesLen         = 60
)

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if _, wall := o.Clock.(SystemClock); wall && o.SnapshotLag == 0 {
		o.SnapshotLag = DefaultSnapshotLag
	}
	setDur(&o.Bucket, DefaultBucket)
	setDur(&o.Window, DefaultWindow)
	setDur(&o.OutageWindow, DefaultOutageWindow)
	setDur(&o.RateLimitPause, DefaultRateLimitPause)
	setDur(&o.ProbeInterval, DefaultProbeInterval)
	setDur(&o.ProbeTimeout, DefaultProbeTimeout)
	setDur(&o.Publish, DefaultPublish)
	setDur(&o.BreakerBackoff, DefaultBreakerBackoff)
	setDur(&o.BreakerMaxBackoff, DefaultBreakerMaxBackoff)
	setDur(&o.SlowMargin, DefaultSlowMargin)
	if o.SlowFactor <= 1 {
		o.SlowFactor = DefaultSlowFactor
	}
	if o.EventLog <= 0 {
		o.EventLog = DefaultEventLog
	}
	if o.DownAfter <= 0 {
		o.DownAfter = DefaultDownAfter
	}
	if o.DownBelow <= 0 {
		o.DownBelow = DefaultDownBelow
	}
	if o.DegradedBelow <= 0 {
		o.DegradedBelow = DefaultDegradedBelow
	}
	if o.MinRequests <= 0 {
		o.MinRequests = DefaultMinRequests
	}
	if o.ProbeJitter <= 0 {
		o.ProbeJitter = DefaultProbeJitter
	}
	if o.SeriesLen <= 0 {
		o.SeriesLen = DefaultSeriesLen
	}
	if o.Window < o.Bucket {
		o.Window = o.Bucket
	}
	return o
}

// DefaultSnapshotLag is SnapshotLag's default on the system clock: at
// hundreds of requests a second and more, the view is built once every few
// requests rather than for each (about 12 us at 10 endpoints, 40 at 50),
// and figures of windows of minutes order endpoints as well 10 ms later.
// Events (an outage, a breaker) are never late.
const DefaultSnapshotLag = 10 * time.Millisecond

// MaxSnapshotLag bounds SnapshotLag: figures a second old may order
// endpoints on what is no longer so, at any load.
const MaxSnapshotLag = time.Second

// DefaultSlowMargin is SlowMargin's default: a first token a quarter of a
// second later than usual is felt by a caller; less is noise, or the
// gateway's own queueing.
const DefaultSlowMargin = 250 * time.Millisecond

// DefaultBreakerBackoff is BreakerBackoff's default: how long an open
// breaker first keeps requests away before one trial may go.
const DefaultBreakerBackoff = 5 * time.Second

// DefaultProbeInterval is ProbeInterval's default: an idle endpoint is
// probed this often, and a down one looked at.
const DefaultProbeInterval = 5 * time.Second

// DefaultOutageWindow is OutageWindow's default: OpenRouter's "no
// significant outage in the last 30 seconds".
const DefaultOutageWindow = 30 * time.Second

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
