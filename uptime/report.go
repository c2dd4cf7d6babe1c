package uptime

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"switchboard/config"
	"switchboard/human"
	"switchboard/monitor"
	"switchboard/routing"
)

// Write writes the card as markdown, each scenario a section with its
// tables, then what ran: command is the command line that ran it; plot,
// if not "", the chaos fleet's plot's file name, to embed.
func (c *Scorecard) Write(w io.Writer, command, plot string) {
	o := c.Options
	fmt.Fprintf(w, "%s, %d CPUs, %s; seed %d; %g requests a second per strategy for %s in each scenario but the chaos fleet's (the stream faults: half as many, for half as long), answers of up to %d tokens, streamed; the chaos fleet's fault script at %.3gx its pace; took %s. Command: `%s`.\n\n",
		c.Started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), o.Seed, o.Rate, o.Length, o.MaxTokens, o.Scale,
		c.Took.Round(time.Second), command)
	fmt.Fprintln(w, "The strategies:")
	fmt.Fprintln(w)
	for _, s := range strategies {
		fmt.Fprintf(w, "- **%s**: %s.\n", s.name, s.about)
	}
	fmt.Fprintln(w)
	if c.Chaos != nil {
		c.Chaos.write(w, o, plot)
	}
	if len(c.Failover) > 0 {
		writeFailover(w, c.Failover)
	}
	if len(c.Recovery) > 0 {
		writeRecovery(w, c.Recovery)
	}
	if len(c.StreamFaults) > 0 {
		writeStreamFaults(w, c.StreamFaults)
	}
}

// withoutFaults follows the name of a strategy run on the fleet without
// its faults (Chaos.Calm).
const withoutFaults = ", the fleet without faults"

// writeHedges lists the hedges of each Switchboard that made any, read
// from the traces of its answers; nothing if none did.
func (c *Chaos) writeHedges(w io.Writer) {
	var lines []string
	for i, ts := range [][]Tally{c.Strategies, c.Calm} {
		for _, t := range ts {
			h := t.Hedges
			if h == (routing.HedgeCounts{}) {
				continue
			}
			if i == 1 {
				t.Name += withoutFaults
			}
			lines = append(lines, fmt.Sprintf("- %s: %d won, %d lost, %d failed, %d denied.", t.Name, h.Won, h.Lost, h.Failed, h.Denied))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "Hedges, from the traces of Switchboard's answers (won: the hedge's answer went to the client; lost: the first attempt streamed first, an upstream request spent for nothing; denied: the hedge budget had none to spare when asked):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w)
}

func (c *Chaos) write(w io.Writer, o Options, plot string) {
	fmt.Fprintf(w, "#### 1. Chaos fleet\n\n")
	fmt.Fprintf(w, "One model on six simulated providers, each failing its own way (below); every strategy over its own copy of the fleet, all at once, %g requests a second each for %s.\n", c.Rate, c.Length)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| strategy | whole answers | errors | cut short, taken as whole | latency p50 / p99 | first token p50 / p99 | upstream requests per request | sent to a provider while down |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, t := range c.Strategies {
		t.row(w)
	}
	for _, t := range c.Calm {
		t.Name += withoutFaults
		t.row(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Upstream requests count what each provider was sent on its side (Switchboard's trials after an outage included; its idle probes list models and are not chats). The errors clients got:")
	fmt.Fprintln(w)
	for _, t := range c.Strategies {
		if len(t.Errors) > 0 {
			fmt.Fprintf(w, "- %s: %s.\n", t.Name, errorList(t.Errors))
		}
	}
	fmt.Fprintln(w)
	c.writeHedges(w)
	fmt.Fprintln(w, "Each provider on its own (its whole answers among the chat requests the baselines sent it; requests a client gave up on left out):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| provider | faults | requests | whole |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, p := range c.Providers {
		fmt.Fprintf(w, "| %s | %s | %d | %s |\n", p.Name, p.Faults, p.Requests, percent(p.Availability()))
	}
	fmt.Fprintln(w)
	if plot != "" {
		fmt.Fprintf(w, "![Whole answers over time, per strategy](%s)\n\n", plot)
	}
	fmt.Fprintf(w, "Whole answers over time, by when the request was sent (%s buckets):\n\n", o.Bucket)
	fmt.Fprint(w, "| strategy |")
	for i := range c.Strategies[0].SentAt {
		fmt.Fprintf(w, " %s |", human.Duration(time.Duration(i)*o.Bucket))
	}
	fmt.Fprint(w, "\n|---|")
	fmt.Fprintln(w, strings.Repeat("---|", len(c.Strategies[0].SentAt)))
	for _, t := range c.Strategies {
		fmt.Fprintf(w, "| %s |", t.Name)
		for i, n := range t.SentAt {
			fmt.Fprintf(w, " %s |", percent(ratio(float64(t.WholeAt[i]), float64(n))))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func (t Tally) row(w io.Writer) {
	fmt.Fprintf(w, "| %s | %s (%d of %d) | %d | %d | %s / %s | %s / %s | %.2f | %d |\n", t.Name, percent(t.Availability()), t.Whole, t.Requests,
		t.Requests-t.Whole-t.Partial, t.Partial, human.Duration(t.Latency[0]), human.Duration(t.Latency[1]),
		human.Duration(t.TTFT[0]), human.Duration(t.TTFT[1]), t.PerRequest(), t.WhileDown)
}

// faultWords says what provider p of cfg does, as its profile has it: the
// faults of the fleet as played (a --quick run's outages are shorter).
func faultWords(cfg *config.Config, p config.Provider) string {
	var words []string
	pct := func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }
	cheapest := slices.MinFunc(cfg.Models[0].Endpoints, func(a, b config.Endpoint) int {
		return cmp.Compare(a.PriceIn+a.PriceOut, b.PriceIn+b.PriceOut)
	})
	if cheapest.Provider == p.Name {
		words = append(words, "the cheapest")
	}
	s := p.Sim
	if s.ErrorRate > 0 {
		words = append(words, pct(s.ErrorRate)+" errors")
	}
	for _, o := range s.Outages {
		words = append(words, fmt.Sprintf("down %s of every %s, from %s", human.Duration(o.For), human.Duration(o.Every), human.Duration(o.Offset)))
	}
	if s.SlowStartRate > 0 {
		words = append(words, fmt.Sprintf("%s of first tokens %s late", pct(s.SlowStartRate), human.Duration(s.SlowStart)))
	}
	if s.RateLimitRate > 0 {
		words = append(words, fmt.Sprintf("%s of requests answered 429, Retry-After %s", pct(s.RateLimitRate), human.Duration(s.RetryAfter)))
	}
	if s.CutRate > 0 {
		words = append(words, pct(s.CutRate)+" of streams cut mid-answer")
	}
	if s.StallRate > 0 {
		words = append(words, fmt.Sprintf("%s of streams silent mid-answer (its stall limit %s)", pct(s.StallRate), human.Duration(p.Timeouts.Stall)))
	}
	if s.StreamErrorRate > 0 {
		words = append(words, pct(s.StreamErrorRate)+" of streams ended by an error event")
	}
	return strings.Join(words, "; ")
}

func writeFailover(w io.Writer, runs []FailoverRun) {
	fmt.Fprintf(w, "#### 2. Failover\n\n")
	fmt.Fprintf(w, "Three healthy providers; the cheapest, %s, dies %s into the run. Requests that touched it: those sent after it died that tried it, as each strategy reports its attempts (Switchboard's from the trace of its answers); reached it: chat requests it got after it died, counted on its side (a refused connection reaches no server); over %s: requests sent after it died that took longer, each of which waited on it (an answer here takes under a second).\n\n",
		dead, human.Duration(runs[0].At), human.Duration(waitedOnTheDead))
	for _, r := range runs {
		fmt.Fprintf(w, "**%s**\n\n", r.Death)
		fmt.Fprintf(w, "| strategy | client-visible errors | requests that touched it | reached it | over %s | longest request |\n", human.Duration(waitedOnTheDead))
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, row := range r.Rows {
			reached := "–"
			if row.Reached >= 0 {
				reached = fmt.Sprint(row.Reached)
			}
			fmt.Fprintf(w, "| %s | %d of %d | %d | %s | %d | %s |\n", row.Name, row.Errors, row.Requests, row.Touched, reached, row.Waited, human.Duration(row.Longest))
		}
		fmt.Fprintln(w)
	}
}

func writeRecovery(w io.Writer, rs []Recovered) {
	fmt.Fprintf(w, "#### 3. Recovery\n\n")
	fmt.Fprintf(w, "The cheapest of three providers, %s, is down from the start and heals %s in; how long after that the first request sent was answered by it. "+
		"Switchboard's breaker keeps real requests away for %s at first, doubling with each failed trial, while its probes look every %s and end the outage when the provider answers; "+
		"OpenRouter's routing then keeps a provider with an outage in the last %s a fallback, so it serves again about that long after its probe found it back.\n\n",
		dead, human.Duration(rs[0].Healed), human.Duration(monitor.DefaultBreakerBackoff), human.Duration(monitor.DefaultProbeInterval), human.Duration(monitor.DefaultOutageWindow))
	fmt.Fprintln(w, "| strategy | back on it after | client-visible errors |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, r := range rs {
		back := "never"
		if r.Back >= 0 {
			back = human.Duration(r.Back)
		}
		fmt.Fprintf(w, "| %s | %s | %d |\n", r.Name, back, r.Errors)
	}
	fmt.Fprintln(w)
}

func writeStreamFaults(w io.Writer, fs []StreamFault) {
	fmt.Fprintf(w, "#### 4. Stream faults\n\n")
	fmt.Fprintf(w, "Three providers that can each continue an answer another began; the cheapest, %s, breaks every stream mid-answer, one fault per fleet. Whole answers / cut short but taken as whole / clean errors:\n\n", dead)
	fmt.Fprint(w, "| strategy |")
	for _, f := range fs {
		fmt.Fprintf(w, " %s |", f.Fault)
	}
	fmt.Fprint(w, "\n|---|")
	fmt.Fprintln(w, strings.Repeat("---|", len(fs)))
	for i, row := range fs[0].Rows {
		fmt.Fprintf(w, "| %s |", row.Name)
		for _, f := range fs {
			r := f.Rows[i]
			fmt.Fprintf(w, " %d / %d / %d |", r.Whole, r.Partial, r.Requests-r.Whole-r.Partial)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func errorList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// Check says what in the card breaks the order the strategies must keep,
// whatever the figures: Switchboard delivers at least as many whole
// answers as every baseline on the chaos fleet and under every stream
// fault, and no more errors in a failover; no strategy delivers fewer
// than sending every request to the cheapest provider; and nothing is
// taken for a success cut short, by anyone.
func (c *Scorecard) Check() []string {
	var bad []string
	if ch := c.Chaos; ch != nil {
		sb, cheapest := ch.Strategies[0], find(ch.Strategies, nameCheapest)
		for _, t := range append(slices.Clone(ch.Strategies), ch.Calm...) {
			if t.Partial > 0 {
				bad = append(bad, fmt.Sprintf("chaos: %s took %d answers cut short for whole ones", t.Name, t.Partial))
			}
		}
		for _, t := range ch.Strategies {
			if !t.Switchboard && t.Availability() > sb.Availability() {
				bad = append(bad, fmt.Sprintf("chaos: %s delivered %s, more than %s's %s", t.Name, percent(t.Availability()), sb.Name, percent(sb.Availability())))
			}
			if t.Availability() < cheapest.Availability() {
				bad = append(bad, fmt.Sprintf("chaos: %s delivered %s, less than %s's %s", t.Name, percent(t.Availability()), cheapest.Name, percent(cheapest.Availability())))
			}
		}
	}
	for _, f := range c.Failover {
		sb := f.Rows[0]
		for _, row := range f.Rows[1:] {
			if !isSwitchboard(row.Name) && row.Errors < sb.Errors {
				bad = append(bad, fmt.Sprintf("failover, %s: %s had %d errors, fewer than %s's %d", f.Death, row.Name, row.Errors, sb.Name, sb.Errors))
			}
		}
	}
	for _, f := range c.StreamFaults {
		sb := f.Rows[0]
		for _, row := range f.Rows {
			if row.Partial > 0 {
				bad = append(bad, fmt.Sprintf("stream faults, %s: %s took %d answers cut short for whole ones", f.Fault, row.Name, row.Partial))
			}
			if !isSwitchboard(row.Name) && row.Whole > sb.Whole {
				bad = append(bad, fmt.Sprintf("stream faults, %s: %s delivered %d whole answers, more than %s's %d", f.Fault, row.Name, row.Whole, sb.Name, sb.Whole))
			}
		}
	}
	return bad
}

// isSwitchboard reports whether the strategy named name is Switchboard
// itself (plain or hedged), not a baseline: the order Check holds is
// Switchboard's over the baselines', not one of its settings over another.
func isSwitchboard(name string) bool {
	i := slices.IndexFunc(strategies, func(s strategy) bool { return s.name == name })
	return i >= 0 && strategies[i].gateway
}

func find(ts []Tally, name string) Tally {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return Tally{}
}
