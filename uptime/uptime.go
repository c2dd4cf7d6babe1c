// Package uptime is Switchboard's uptime scorecard: what a caller gets when
// providers misbehave, through Switchboard and through the simpler
// strategies other gateways use, on the same fault script and seed, in the
// same run.
//
// Every strategy gets a simulated fleet of its own, started from the same
// profiles at the same moment, so that each sees the same faults at the
// same times and none disturbs another's. Switchboard runs as shipped (its
// gateway on loopback, driven through its HTTP API); the baselines send
// through the same provider clients Switchboard uses, with the same
// timeouts. What reached each provider is counted on the provider's side.
package uptime

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"text/template"
	"time"

	"switchboard/config"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

var (
	//go:embed chaos.toml
	chaosFleet string
	//go:embed trio.toml
	trioFleet string
)

// Gateway is Switchboard as shipped over cfg: it starts cfg's simulated
// fleet, the monitor, the router and the HTTP API on loopback, and returns
// the API's base URL (ending in /v1), the fleet, and how to stop it all.
type Gateway func(ctx context.Context, cfg *config.Config) (url string, fleet *sim.Fleet, stop func(), err error)

// Client is the client Switchboard builds for a provider whose API is at
// base.
type Client func(p config.Provider, base string) provider.Upstream

// Options configure a run.
type Options struct {
	Gateway Gateway
	Client  Client
	Seed    int64         // seeds every provider's faults and the router's draws
	Length  time.Duration // how long requests are sent, per scenario
	Rate    float64       // requests per second, for each strategy
	// ChaosLength and ChaosRate, if set, are the chaos fleet's own: long
	// enough for its availability to be read to a hundredth of a percent.
	ChaosLength time.Duration
	ChaosRate   float64
	// Scale is the pace of the fault script: 1 plays it as written (an
	// outage of 30 s lasts 30 s), 0.2 five times faster.
	Scale     float64
	MaxTokens int           // of each answer
	Bucket    time.Duration // availability over time is counted in buckets of this width
	// Together runs the scenarios at once rather than one after the
	// other: quicker, and each disturbs the others' latencies.
	Together bool
	// Progress, if set, is told what runs, as it starts.
	Progress func(string)
	// Traces, if set, gets every request of every scenario sent through
	// Switchboard, with its routing trace, as a line of JSON (see
	// writeTraces); the scenarios write it one at a time.
	Traces   io.Writer
	tracesMu *sync.Mutex // held by the scenario writing to Traces
}

// Quick are the options of a run short enough for CI: 20 s of requests
// for each scenario, the chaos fleet's fault script at a sixth of its
// pace.
func Quick(o Options) Options {
	o.Length, o.Scale, o.Bucket, o.Rate, o.MaxTokens, o.Together = 20*time.Second, 1.0/6, 5*time.Second, 5, 24, true
	return o
}

// Full are the options of the published run.
func Full(o Options) Options {
	o.Length, o.Scale, o.Bucket, o.Rate, o.MaxTokens = 3*time.Minute, 1, 30*time.Second, 10, 24
	o.ChaosLength, o.ChaosRate = 10*time.Minute, 20 // 12,000 requests per strategy
	return o
}

// model is the one model of the scorecard's fleets.
const model = "chaos/model"

// fleetConfig parses a fleet's config template for o, with hedging on or
// off, the faults left out if calm.
func fleetConfig(name, text string, o Options, hedge, calm bool) (*config.Config, error) {
	t, err := template.New(name).Funcs(template.FuncMap{
		"add": func(a int64, b int) int64 { return a + int64(b) },
		"at": func(s float64) string {
			return (time.Duration(s * o.Scale * float64(time.Second))).Round(time.Millisecond).String()
		},
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct {
		Seed        int64
		Hedge, Calm bool
	}{o.Seed, hedge, calm}); err != nil {
		return nil, err
	}
	cfg, err := config.Parse(name, b.Bytes(), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// Run runs every scenario, in turn or at once (Options.Together), and
// tallies them.
func Run(ctx context.Context, o Options) (*Scorecard, error) {
	if o.Rate <= 0 || o.Length <= 0 || o.MaxTokens <= 0 || o.Bucket <= 0 || o.Scale <= 0 {
		return nil, fmt.Errorf("uptime: rate %g, length %s, max tokens %d, bucket %s and scale %g must all be above 0", o.Rate, o.Length, o.MaxTokens, o.Bucket, o.Scale)
	}
	o.tracesMu = new(sync.Mutex)
	card := &Scorecard{Options: o, Started: time.Now()}
	scenarios := []func() error{
		func() (err error) { card.Chaos, err = runChaos(ctx, o); return err },
		func() (err error) { card.Failover, err = runFailover(ctx, o); return err },
		func() (err error) { card.Recovery, err = runRecovery(ctx, o); return err },
		func() (err error) { card.StreamFaults, err = runStreamFaults(ctx, o); return err },
	}
	errs := make([]error, len(scenarios))
	var wg sync.WaitGroup
	for i, run := range scenarios {
		if o.Together {
			wg.Go(func() { errs[i] = run() })
		} else if errs[i] = run(); errs[i] != nil {
			break
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	card.Took = time.Since(card.Started)
	return card, ctx.Err()
}

// Scorecard is what a run found.
type Scorecard struct {
	Options      Options
	Started      time.Time
	Took         time.Duration
	Chaos        *Chaos
	Failover     []FailoverRun
	Recovery     []Recovered
	StreamFaults []StreamFault
}

// entry is one strategy to run over one config.
type entry struct {
	s   strategy
	cfg *config.Config
}

// run is what one strategy did in a scenario.
type run struct {
	s       strategy
	t       target
	results []result // in the order sent
}

// runAll starts every entry's target, then sends o.Rate requests a second
// to each at once for o.Length, while script (if any) plays the faults on
// the fleets from begin; it stops every target before it returns.
func runAll(ctx context.Context, o Options, entries []entry, script func(ctx context.Context, begin time.Time, fleets []*sim.Fleet)) ([]run, error) {
	runs := make([]run, 0, len(entries))
	defer func() {
		for _, r := range runs {
			r.t.stop()
		}
	}()
	for _, e := range entries {
		t, err := e.s.start(ctx, o, e.cfg)
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", e.s.name, err)
		}
		runs = append(runs, run{s: e.s, t: t})
	}
	var wg sync.WaitGroup
	begin := time.Now()
	if script != nil {
		fleets := make([]*sim.Fleet, len(runs))
		for i, r := range runs {
			fleets[i] = r.t.fleet()
		}
		wg.Go(func() { script(ctx, begin, fleets) })
	}
	for i := range runs {
		wg.Go(func() { runs[i].results = drive(ctx, runs[i].t, o, begin) })
	}
	wg.Wait()
	return runs, ctx.Err()
}

// at waits until d after begin, or ctx's end.
func at(ctx context.Context, begin time.Time, d time.Duration) bool {
	t := time.NewTimer(time.Until(begin.Add(d)))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drive sends o.Rate requests a second to t from begin for o.Length, each
// on its own goroutine when it falls due (an open loop: a slow answer holds
// no later request back), and returns their results in the order sent.
func drive(ctx context.Context, t target, o Options, begin time.Time) []result {
	n := int(o.Rate * o.Length.Seconds())
	out := make([]result, n)
	every := time.Duration(float64(time.Second) / o.Rate)
	var wg sync.WaitGroup
	for i := range n {
		due := time.Duration(i) * every
		if !at(ctx, begin, due) {
			wg.Wait()
			return out[:i]
		}
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			start := time.Now()
			r := t.send(rctx, i, o.MaxTokens, start)
			r.took, r.at = time.Since(start), due
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// result is one request's fate, as its client saw it.
type result struct {
	at       time.Duration   // when it was sent, from the run's start
	whole    bool            // a whole answer: content, a finish reason, a clean end
	partial  bool            // taken for a success with the answer cut short (never expected)
	took     time.Duration   // to the end of the answer, or of the error
	ttft     time.Duration   // to the first content; 0 if none came
	why      string          // the error, if any
	servedBy string          // the provider of the answer, if whole
	tried    []string        // the providers tried, in order, as the strategy reports them
	trace    json.RawMessage // Switchboard's routing trace of it, as its answer carried it
	hedges   routing.HedgeCounts
}

func (r result) touched(p string) bool { return slices.Contains(r.tried, p) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// quantile is the q-quantile of ds (nearest rank), 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[max(0, min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1))]
}

// prompt is request n's prompt: each its own conversation.
func prompt(n int) string {
	return fmt.Sprintf("Request %d: name three things a lighthouse keeper does each day.", n)
}

func percent(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}
