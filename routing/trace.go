package routing

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// Trace is the decision trace of one routed request: every candidate with
// its state, weight and skip reason, the order chosen, and every attempt.
type Trace struct {
	Model      string      `json:"model"`            // as requested, suffix included
	Models     []string    `json:"models,omitempty"` // the models planned, in order (fallback models after the first)
	At         time.Time   `json:"at"`
	Candidates []Candidate `json:"candidates"`
	Order      []string    `json:"order"` // endpoint ids, in the order they were to be tried
	Attempts   []Attempt   `json:"attempts"`
	Served     string      `json:"served,omitempty"` // endpoint id that answered; "" on failure
	// HedgesDenied counts the hedges this request asked for (for a slow
	// first token, or for a stream gone silent) that the router's hedge
	// budget had none to spare for, at that moment.
	HedgesDenied int `json:"hedges_denied,omitempty"`
	// Options are the options in force for the first model: the request's
	// own over the model's defaults.
	Options TraceOptions `json:"options"`
}

// TraceOptions are the routing options a request ran with.
type TraceOptions struct {
	Provider Preferences `json:"provider"`
	Models   []string    `json:"models,omitempty"` // fallback models
	Timeouts Timeouts    `json:"timeouts"`
	Hedge    *Hedge      `json:"hedge,omitempty"`
}

// Tier is how a candidate ranks before price is considered.
type Tier uint8

// The tiers, best first.
const (
	TierPreferred Tier = iota // no significant outage in the recent window
	TierFallback              // recently down or degraded: tried only after the preferred
	TierSkipped               // not tried at all
)

var tierNames = [...]string{"preferred", "fallback", "skipped"}

func (t Tier) String() string { return tierNames[t] }

// MarshalText makes a tier read as its name in JSON. Every answer's trace
// has one per candidate, so the names are made bytes once: the encoder
// copies what it is given, and nobody else may change them.
func (t Tier) MarshalText() ([]byte, error) { return tierText[t], nil }

var tierText = func() (b [len(tierNames)][]byte) {
	for i, n := range tierNames {
		b[i] = []byte(n)
	}
	return b
}()

// UnmarshalText reads a tier's name, so that a trace read back from JSON
// says the same.
func (t *Tier) UnmarshalText(b []byte) error {
	i, err := monitor.NameIndex(tierNames[:], b, "tier")
	*t = Tier(i)
	return err
}

// Candidate is one endpoint of the requested model as the planner saw it.
type Candidate struct {
	Endpoint string        `json:"endpoint"`
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	State    monitor.State `json:"-"`
	StateStr string        `json:"state"`
	Price    float64       `json:"price"`  // USD per million tokens, input + output
	Weight   float64       `json:"weight"` // share of first picks among the preferred (0 for others)
	Tier     Tier          `json:"tier"`
	Why      string        `json:"why"` // why it was placed or skipped, in plain words

	reason        reason  // Why, before it is written
	group         group   // its health group as planned: to merge the orders of several models
	detail        string  // the monitor's reason for the state
	value         float64 // the figure the reason speaks of
	quant         string
	priceIn       float64
	priceOut      float64
	priceWords    string // the prices as appendPrices writes them, when written beforehand
	need          int    // the context the request takes, at least (tokens)
	contextLength int
}

// Attempt is one try of one endpoint.
type Attempt struct {
	Endpoint string        `json:"endpoint"`
	Provider string        `json:"provider"`
	Start    time.Time     `json:"start"`
	TTFT     time.Duration `json:"ttft_ns"`
	Duration time.Duration `json:"duration_ns"`
	Outcome  string        `json:"outcome"` // "ok" or the provider.Class name
	Status   int           `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
	// LastResort is set when the endpoint's circuit breaker refused the
	// attempt and it was tried only because everything else had failed.
	LastResort bool `json:"last_resort,omitempty"`
	// Retry is set on the second try of the same endpoint (after a
	// connection failure, a 500, or a 429 with a short Retry-After; or in
	// the second round, once every endpoint had failed).
	Retry bool `json:"retry,omitempty"`
	// Resumed is set when the attempt carried on an answer that broke off
	// on another endpoint, from the text already streamed (a prefill).
	Resumed bool `json:"resumed,omitempty"`
	// Hedge is set on an attempt started alongside a slow first one; the
	// one that streamed second was canceled.
	Hedge bool `json:"hedge,omitempty"`
	// Waited says how long the attempt waited before it began, and why
	// ("waited 2s: Retry-After, on the requested model").
	Waited string `json:"waited,omitempty"`
	// Unhedged says why an attempt that was slow to its first token, or
	// went silent mid-answer, with hedging on, raced no hedge: the budget
	// had none to spare, or no other endpoint could take one.
	Unhedged string `json:"unhedged,omitempty"`
	// Skipped counts the upstream's events that were not chunks and held
	// no text, skipped with the answer going on without them.
	Skipped int `json:"skipped_events,omitempty"`
	// Flag says what to fix when the failure is the configuration's (a key
	// refused, a model unknown to the provider).
	Flag  string `json:"flag,omitempty"`
	Model string `json:"model"`
	// Deadline is the first-token and stall limits the attempt ran under,
	// and why: the caps, or shorter ones from the endpoint's own norms.
	Deadline *Deadline `json:"deadline,omitempty"`
}

// HedgeCounts are hedges by how each went.
type HedgeCounts struct {
	Won    int // its answer went to the caller
	Lost   int // the other streamed first (or the caller left): an upstream request spent for nothing
	Failed int
	Denied int // asks for a hedge that the hedge budget had none to spare for
}

// Hedges counts the request's hedges by how each went (a race's first
// attempt is no hedge, whichever way it went), and the asks the budget
// denied.
func (t *Trace) Hedges() HedgeCounts {
	c := HedgeCounts{Denied: t.HedgesDenied}
	for _, a := range t.Attempts {
		switch {
		case !a.Hedge:
		case a.Outcome == "ok":
			c.Won++
		case a.Outcome == provider.ClassCanceled.String():
			c.Lost++
		default:
			c.Failed++
		}
	}
	return c
}

// Add adds o's counts to c.
func (c *HedgeCounts) Add(o HedgeCounts) {
	c.Won, c.Lost, c.Failed, c.Denied = c.Won+o.Won, c.Lost+o.Lost, c.Failed+o.Failed, c.Denied+o.Denied
}

// Notes says in a few words what was special about the attempt, and what
// to fix if the failure is the configuration's: "retry", "hedge",
// "resumed", "last resort", the flag, and the error, joined by " · ".
// A deadline from the endpoint's norms comes before the error, when the
// attempt ran into it (the error's text is long, and a narrow column cuts
// it); the caps are the rule, and a norm met is not news (the trace keeps
// both in Deadline).
func (a *Attempt) Notes() string {
	norm := "" // the norm's deadline, when the attempt ran into it
	if d := a.Deadline; d != nil && d.Norm && (a.Outcome == provider.ClassTimeout.String() || a.Outcome == provider.ClassStall.String()) {
		norm = d.Why
	}
	var ns []string
	for _, n := range []struct {
		on   bool
		text string
	}{{a.Retry, "retry"}, {a.Waited != "", a.Waited}, {a.Hedge, "hedge"}, {a.Unhedged != "", a.Unhedged}, {a.Resumed, "resumed"}, {a.LastResort, "last resort"},
		{a.Skipped > 0, fmt.Sprintf("skipped %d bad event", a.Skipped)}, {a.Flag != "", a.Flag},
		{norm != "", norm}, {a.Error != "", a.Error}} {
		if n.on {
			ns = append(ns, n.text)
		}
	}
	return strings.Join(ns, " · ")
}

// Ranked returns the candidates in the order they were to be tried, then
// the skipped ones in configuration order.
func (t *Trace) Ranked() []Candidate {
	pos := make(map[string]int, len(t.Order))
	for i, id := range t.Order {
		pos[id] = i
	}
	out := append([]Candidate(nil), t.Candidates...)
	sort.SliceStable(out, func(a, b int) bool {
		pa, oka := pos[out[a].Endpoint]
		pb, okb := pos[out[b].Endpoint]
		if oka != okb {
			return oka
		}
		return pa < pb
	})
	return out
}

// Summary says in one line who served and why, and what failed or was
// skipped, e.g. "groq: drawn at random among 5 healthy: 61% chance,
// $0.59/$0.79 per M; novita skipped: turned off by the user", or "together
// served after groq failed (overloaded)".
func (t *Trace) Summary() string {
	var failed, notes []string
	for _, a := range t.Attempts {
		switch {
		case a.Hedge && a.Resumed && a.Endpoint == t.Served:
			notes = append(notes, fmt.Sprintf("%s carried the answer on as a hedge: the other went silent mid-answer", a.Provider))
		case a.Hedge && a.Endpoint == t.Served:
			notes = append(notes, fmt.Sprintf("%s won the race as a hedge: the first was slow to its first token", a.Provider))
		case a.Hedge:
			notes = append(notes, fmt.Sprintf("%s raced as a hedge and lost", a.Provider))
		case a.Outcome == "canceled" && t.Served != "":
			// the first attempt, beaten by its hedge: not a failure
		case strings.HasSuffix(a.Error, errCarriedOnElsewhere.Error()) && t.Served != "":
			// the stall its hedge carried the answer on from: the note says so
		case a.Outcome != "ok":
			failed = append(failed, fmt.Sprintf("%s failed (%s)", a.Provider, a.Outcome))
		}
	}
	var b strings.Builder
	switch {
	case t.Served == "":
		b.WriteString("no provider answered")
		notes = failed
	case len(failed) > 0:
		fmt.Fprintf(&b, "%s served after %s", t.provider(t.Served), strings.Join(failed, ", "))
	default: // nearly every answer's: in one allocation
		c := t.candidate(t.Served)
		b.Grow(len(c.Provider) + len(": ") + len(c.Why))
		b.WriteString(c.Provider)
		b.WriteString(": ")
		b.WriteString(c.Why)
	}
	for _, c := range t.Candidates {
		if c.Tier == TierSkipped {
			notes = append(notes, fmt.Sprintf("%s skipped: %s", c.Provider, c.Why))
		}
	}
	if len(notes) > 0 {
		b.WriteString("; ")
		b.WriteString(strings.Join(notes, "; "))
	}
	return b.String()
}

func (t *Trace) candidate(id string) Candidate {
	for _, c := range t.Candidates {
		if c.Endpoint == id {
			return c
		}
	}
	return Candidate{Endpoint: id, Provider: id}
}

func (t *Trace) provider(id string) string { return t.candidate(id).Provider }

// noteUnhedged adds why to the Unhedged of the trace's last attempt at
// endpoint id.
func (t *Trace) noteUnhedged(id, why string) {
	for i := len(t.Attempts) - 1; i >= 0; i-- {
		if a := &t.Attempts[i]; a.Endpoint == id {
			a.Unhedged = joinNotes(a.Unhedged, why)
			return
		}
	}
}

// joinNotes is a note and another, "; " between them when both are
// there.
func joinNotes(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}
