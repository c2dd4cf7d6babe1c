package uptime

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"switchboard/routing"
	"switchboard/sim"
)

// ---- 1. the chaos fleet ----

// Chaos is the chaos fleet's record: every strategy on the fleet with its
// faults, and Switchboard (plain and hedged) at the same time on the same
// fleet without them, for the latency faults cost.
type Chaos struct {
	Rate       float64       // requests per second, per strategy
	Length     time.Duration // how long they were sent
	Strategies []Tally
	Calm       []Tally
	// Providers are each provider's own record over the run: its whole
	// answers among the chat requests it got, across the baselines'
	// fleets (which send nothing but the requests; those a client gave up
	// on left out).
	Providers []ProviderTally
}

// ProviderTally is one provider's own record.
type ProviderTally struct {
	Name     string
	Faults   string // what its profile does, in words, as played
	Requests uint64
	OK       uint64
}

// Availability is the share of its requests the provider answered whole.
func (p ProviderTally) Availability() float64 { return ratio(float64(p.OK), float64(p.Requests)) }

func runChaos(ctx context.Context, o Options) (*Chaos, error) {
	o.Length, o.Rate = cmp.Or(o.ChaosLength, o.Length), cmp.Or(o.ChaosRate, o.Rate)
	var entries []entry
	for _, calm := range []bool{false, true} {
		for _, s := range strategies {
			if calm && !s.gateway {
				continue
			}
			cfg, err := fleetConfig("chaos.toml", chaosFleet, o, s.hedge, calm)
			if err != nil {
				return nil, err
			}
			entries = append(entries, entry{s, cfg})
		}
	}
	progress(o, "1/4 the chaos fleet: %d strategies at %g requests a second each, for %s (and Switchboard on the fleet without faults, for comparison)",
		len(strategies), o.Rate, o.Length)
	runs, err := runAll(ctx, o, entries, nil)
	if err != nil {
		return nil, err
	}
	c := &Chaos{Rate: o.Rate, Length: o.Length}
	providers := map[string]*ProviderTally{}
	for _, p := range entries[0].cfg.Providers {
		providers[p.Name] = &ProviderTally{Name: p.Name, Faults: faultWords(entries[0].cfg, p)}
	}
	if err := writeTraces(o, runs, func(i int) string {
		if i >= len(strategies) {
			return "chaos fleet without faults"
		}
		return "chaos fleet"
	}); err != nil {
		return nil, err
	}
	for i, r := range runs {
		t := tallyOf(r, o)
		if i >= len(strategies) {
			c.Calm = append(c.Calm, t)
			continue
		}
		c.Strategies = append(c.Strategies, t)
		if r.s.gateway {
			continue
		}
		for _, srv := range r.t.fleet().Servers() {
			st := srv.Stats()
			p := providers[srv.Name()]
			p.Requests += st.Chats - st.Canceled
			p.OK += st.OK
		}
	}
	for _, p := range providers {
		c.Providers = append(c.Providers, *p)
	}
	slices.SortFunc(c.Providers, func(a, b ProviderTally) int { return strings.Compare(a.Name, b.Name) })
	return c, nil
}

// writeTraces writes to o.Traces (if set) every request sent through
// Switchboard in runs, one JSON object a line: the scenario (run i's is
// scenario(i)), the strategy, when the request was sent and how long it took
// (seconds), its first token (seconds, 0 if none), whether the answer was
// whole, the error its client saw, and the routing trace its answer (or
// error) carried.
func writeTraces(o Options, runs []run, scenario func(i int) string) error {
	if o.Traces == nil {
		return nil
	}
	o.tracesMu.Lock()
	defer o.tracesMu.Unlock()
	enc := json.NewEncoder(o.Traces)
	for i, r := range runs {
		if !r.s.gateway {
			continue
		}
		for _, res := range r.results {
			if err := enc.Encode(struct {
				Scenario string          `json:"scenario"`
				Strategy string          `json:"strategy"`
				Sent     float64         `json:"sent_s"`
				Took     float64         `json:"took_s"`
				TTFT     float64         `json:"ttft_s"`
				Whole    bool            `json:"whole"`
				Error    string          `json:"error,omitempty"`
				Trace    json.RawMessage `json:"trace,omitempty"`
			}{scenario(i), r.s.name, res.at.Seconds(), res.took.Seconds(), res.ttft.Seconds(), res.whole, res.why, res.trace}); err != nil {
				return fmt.Errorf("writing the traces: %w", err)
			}
		}
	}
	return nil
}

// Tally is one strategy's record on the chaos fleet.
type Tally struct {
	Name, About string
	Switchboard bool // Switchboard itself, not a baseline
	Requests    int
	Whole       int
	Partial     int // reported as a success, cut short
	Latency     [2]time.Duration
	TTFT        [2]time.Duration    // p50, p99 of the whole answers
	Upstream    uint64              // chat requests its providers got, in all
	WhileDown   uint64              // of them, refused because the provider was down
	Errors      map[string]int      // the errors clients got, by their words
	Hedges      routing.HedgeCounts // Switchboard's, from the traces of its answers
	// Over time: whole answers and requests in each bucket of
	// Options.Bucket, by when they were sent.
	WholeAt, SentAt []int
}

// Availability is the share of requests answered whole.
func (t Tally) Availability() float64 { return ratio(float64(t.Whole), float64(t.Requests)) }

// PerRequest is the chat requests its providers got per request sent.
func (t Tally) PerRequest() float64 { return ratio(float64(t.Upstream), float64(t.Requests)) }

func tallyOf(r run, o Options) Tally {
	t := Tally{Name: r.s.name, About: r.s.about, Switchboard: r.s.gateway, Requests: len(r.results), Errors: map[string]int{}}
	buckets := int(math.Ceil(float64(o.Length) / float64(o.Bucket)))
	t.WholeAt, t.SentAt = make([]int, buckets), make([]int, buckets)
	var took, ttft []time.Duration
	for _, res := range r.results {
		b := min(int(res.at/o.Bucket), buckets-1)
		t.SentAt[b]++
		t.Hedges.Add(res.hedges)
		switch {
		case res.whole:
			t.Whole++
			t.WholeAt[b]++
			took, ttft = append(took, res.took), append(ttft, res.ttft)
		case res.partial:
			t.Partial++
		default:
			t.Errors[res.why]++
		}
	}
	t.Latency = [2]time.Duration{quantile(took, 0.5), quantile(took, 0.99)}
	t.TTFT = [2]time.Duration{quantile(ttft, 0.5), quantile(ttft, 0.99)}
	for _, srv := range r.t.fleet().Servers() {
		st := srv.Stats()
		t.Upstream += st.Chats
		t.WhileDown += st.ChatsDown
	}
	return t
}

// ---- 2. failover: the cheapest provider dies ----

// dead is the provider the trio's scripts break: the cheapest, the one
// every strategy starts with.
const dead = "alpha"

// FailoverRun is the record of one way of dying.
type FailoverRun struct {
	Death string        // how it died
	At    time.Duration // when, from the start
	Rows  []FailoverRow
}

// FailoverRow is one strategy's record of a death.
type FailoverRow struct {
	Name     string
	Requests int
	Errors   int
	// Touched counts the requests sent after the death that tried the dead
	// provider, as the strategy reports its attempts (Switchboard: the
	// trace of each whole answer).
	Touched int
	// Reached counts the chat requests the dead provider got after its
	// death, on its own side; -1 when it could not count them (a refused
	// connection reaches no server).
	Reached int64
	// Waited counts the requests sent after the death that took longer
	// than waitedOnTheDead: each waited on the dead provider.
	Waited  int
	Longest time.Duration
}

// waitedOnTheDead is how long a request of the failover runs takes only
// if it waited on the dead provider: an answer of the trio takes under a
// second, a failover at once a little more, and waiting out a first-token
// deadline (Switchboard's norm: 3s; the baselines' cap: 20s) longer.
const waitedOnTheDead = 2 * time.Second

func runFailover(ctx context.Context, o Options) ([]FailoverRun, error) {
	deaths := []struct {
		name string
		kill func(*sim.Server)
	}{
		{"connection refused (the server is gone)", func(s *sim.Server) { _ = s.Close() }},
		{"accepts, never answers", func(s *sim.Server) { s.SetMode(sim.ModeSilentClose) }},
	}
	entries, err := trioEntries(o, len(deaths), nil)
	if err != nil {
		return nil, err
	}
	when := (o.Length / 3).Round(100 * time.Millisecond)
	progress(o, "2/4 failover: the cheapest of three providers dies %s in (its server gone; and, apart, it accepts and never answers)", when)
	before := make([]uint64, len(entries))
	runs, err := runAll(ctx, o, entries, func(ctx context.Context, begin time.Time, fleets []*sim.Fleet) {
		if !at(ctx, begin, when) {
			return
		}
		for i, f := range fleets {
			srv, _ := f.Server(dead)
			before[i] = srv.Stats().Chats
			deaths[i/len(strategies)].kill(srv)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := writeTraces(o, runs, func(i int) string { return "failover: " + deaths[i/len(strategies)].name }); err != nil {
		return nil, err
	}
	out := make([]FailoverRun, len(deaths))
	for i, r := range runs {
		d := i / len(strategies)
		out[d].Death, out[d].At = deaths[d].name, when
		row := FailoverRow{Name: r.s.name, Requests: len(r.results), Reached: -1}
		for _, res := range r.results {
			if !res.whole {
				row.Errors++
			}
			if res.at >= when && res.touched(dead) {
				row.Touched++
			}
			if res.at >= when && res.took > waitedOnTheDead {
				row.Waited++
			}
			row.Longest = max(row.Longest, res.took)
		}
		if d == 1 {
			srv, _ := r.t.fleet().Server(dead)
			row.Reached = int64(srv.Stats().Chats - before[i])
		}
		out[d].Rows = append(out[d].Rows, row)
	}
	return out, nil
}

// ---- 3. recovery: the cheapest provider heals ----

// Recovered is one strategy's record of a recovery.
type Recovered struct {
	Name   string
	Healed time.Duration // when the provider came back, from the start
	// Back is how long after it healed the first request sent was answered
	// by it; -1 if none was.
	Back   time.Duration
	Errors int
}

func runRecovery(ctx context.Context, o Options) ([]Recovered, error) {
	entries, err := trioEntries(o, 1, func(_ int, p *sim.Profile) { p.Mode = sim.ModeDown }) // from the start
	if err != nil {
		return nil, err
	}
	heal := (o.Length / 3).Round(100 * time.Millisecond)
	progress(o, "3/4 recovery: the cheapest of three providers is down for the first %s, then heals", heal)
	runs, err := runAll(ctx, o, entries, func(ctx context.Context, begin time.Time, fleets []*sim.Fleet) {
		if !at(ctx, begin, heal) {
			return
		}
		for _, f := range fleets {
			srv, _ := f.Server(dead)
			srv.SetMode(sim.ModeNormal)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := writeTraces(o, runs, func(int) string { return "recovery" }); err != nil {
		return nil, err
	}
	var out []Recovered
	for _, r := range runs {
		rec := Recovered{Name: r.s.name, Healed: heal, Back: -1}
		for _, res := range r.results {
			if !res.whole {
				rec.Errors++
			}
			if res.at >= heal && res.servedBy == dead && rec.Back < 0 {
				rec.Back = res.at - heal
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// ---- 4. stream faults ----

// StreamFault is every strategy's record of one fault that breaks the
// cheapest provider's every stream mid-answer.
type StreamFault struct {
	Fault string
	Rows  []StreamRow
}

// StreamRow is one strategy's record of a stream fault.
type StreamRow struct {
	Name                     string
	Requests, Whole, Partial int
}

func runStreamFaults(ctx context.Context, o Options) ([]StreamFault, error) {
	faults := []struct {
		name string
		mode sim.Mode
	}{
		{"cut (the connection drops)", sim.ModeCut},
		{"stall (silence until the stall limit)", sim.ModeStall},
		{"a malformed event (a garbage line, nothing lost)", sim.ModeMalformed},
		{"an error event (finish_reason \"error\")", sim.ModeStreamError},
	}
	entries, err := trioEntries(o, len(faults), func(k int, p *sim.Profile) { p.Mode = faults[k].mode }) // from the start
	if err != nil {
		return nil, err
	}
	// Four faults at once: half the rate, for half as long.
	o.Rate, o.Length = o.Rate/2, o.Length/2
	progress(o, "4/4 stream faults: the cheapest of three providers breaks every stream mid-answer, one fault per fleet, %g requests a second for %s", o.Rate, o.Length)
	runs, err := runAll(ctx, o, entries, nil)
	if err != nil {
		return nil, err
	}
	if err := writeTraces(o, runs, func(i int) string { return "stream fault: " + faults[i/len(strategies)].name }); err != nil {
		return nil, err
	}
	out := make([]StreamFault, len(faults))
	for i, r := range runs {
		f := i / len(strategies)
		out[f].Fault = faults[f].name
		row := StreamRow{Name: r.s.name, Requests: len(r.results)}
		for _, res := range r.results {
			switch {
			case res.whole:
				row.Whole++
			case res.partial:
				row.Partial++
			}
		}
		out[f].Rows = append(out[f].Rows, row)
	}
	return out, nil
}

// trioEntries are copies of every strategy over the trio fleet, copy k's
// dead provider changed by kill (if not nil) before it starts.
func trioEntries(o Options, copies int, kill func(k int, p *sim.Profile)) ([]entry, error) {
	var entries []entry
	for k := range copies {
		for _, s := range strategies {
			cfg, err := fleetConfig("trio.toml", trioFleet, o, s.hedge, false)
			if err != nil {
				return nil, err
			}
			if kill != nil {
				kill(k, cfg.Provider(dead).Sim)
			}
			entries = append(entries, entry{s, cfg})
		}
	}
	return entries, nil
}

func progress(o Options, format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}
