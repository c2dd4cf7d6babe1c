package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"switchboard/monitor"
	"switchboard/routing"
)

// eventsMinWidth and eventsMaxWidth bound the event log beside the console;
// it shows only where the console keeps room for its answer.
const (
	eventsMinWidth   = 40
	eventsMaxWidth   = 64
	eventsFromWidth  = 130 // terminals at least this wide get the event log
	eventsFromHeight = 6   // and a console at least this tall
)

// logEntry is one line of the event log: a health event from the monitor,
// what the console saw a request go through (a fallback, a hedge), or a
// line the process logged.
type logEntry struct {
	at       time.Time
	via      string // where a routed request came from, when not the console: "API", "demo"
	provider string
	text     string
	bad      bool // an outage, a failure: drawn in the error colour
	good     bool // a recovery
}

// eventsPane is the event log: health events of the selected model's
// endpoints and the routing events of the console's requests, newest first.
type eventsPane struct {
	ctx           *programContext
	width, height int
	routed        []logEntry // from the console's traces, newest last, bounded
	logged        []logEntry // lines the process logged, newest last, bounded; shown for every model

	// Scrolled back with the wheel, the log keeps still while new entries
	// arrive: its top is counted from the oldest entry, which they do not move.
	scrolled bool
	below    int // entries older than the top one shown
}

// top is the index, newest first, of the first entry shown.
func (p *eventsPane) top(n int) int {
	if !p.scrolled {
		return 0
	}
	return min(max(n-1-p.below, 0), p.lastTop(n))
}

// lastTop is the deepest top: the oldest entries fill the pane.
func (p *eventsPane) lastTop(n int) int { return max(n-(p.height-1), 0) }

// scroll moves the log an entry older (down) or newer; back at the newest
// it follows new entries again.
func (p *eventsPane) scroll(down bool, n int) {
	top := p.top(n)
	if down {
		top = min(top+1, p.lastTop(n))
	} else {
		top = max(top-1, 0)
	}
	p.scrolled, p.below = top > 0, n-1-top
}

// follow goes back to the newest entries.
func (p *eventsPane) follow() { p.scrolled = false }

// maxRouted bounds the routing events kept from the console.
const maxRouted = 100

// addTrace notes what a request went through, if it was more than one
// attempt's worth; via says where it came from when not the console.
func (p *eventsPane) addTrace(t *routing.Trace, at time.Time, via string) {
	if t == nil {
		return
	}
	for _, a := range t.Attempts {
		var e logEntry
		switch {
		case a.Hedge && a.Endpoint == t.Served:
			e = logEntry{text: "won a hedged race", good: true}
		case a.Hedge:
			e = logEntry{text: "raced as a hedge, lost"}
		case a.Resumed && a.Outcome == "ok":
			e = logEntry{text: "resumed a broken stream", good: true}
		case a.Outcome != "ok" && a.Outcome != "canceled":
			e = logEntry{text: "failed (" + a.Outcome + "): fell back", bad: true}
		default:
			continue
		}
		e.at, e.provider, e.via = at, a.Provider, via
		p.routed = append(p.routed, e)
	}
	if n := len(p.routed); n > maxRouted {
		p.routed = slices.Delete(p.routed, 0, n-maxRouted)
	}
}

// addLog notes a line the process logged.
func (p *eventsPane) addLog(line string, at time.Time) {
	p.logged = append(p.logged, logEntry{at: at, via: "log", text: line, bad: true})
	if n := len(p.logged); n > maxRouted {
		p.logged = slices.Delete(p.logged, 0, n-maxRouted)
	}
}

// entries merges the monitor's events for these endpoints with the routing
// events of their providers and the lines logged, newest first.
func (p *eventsPane) entries(snap *monitor.Snapshot, eps []routing.Endpoint) []logEntry {
	ids := map[string]bool{}
	providers := map[string]bool{}
	for _, e := range eps {
		ids[e.ID], providers[e.Provider] = true, true
	}
	var out []logEntry
	if snap != nil {
		for _, e := range snap.Events {
			if !ids[e.Endpoint] {
				continue
			}
			out = append(out, logEntry{at: e.At, provider: e.Provider, text: eventText(e),
				bad:  e.Kind == monitor.EventOutageStarted || e.Kind == monitor.EventBreakerOpened || e.Kind == monitor.EventDegradedStarted,
				good: e.Kind == monitor.EventOutageEnded || e.Kind == monitor.EventBreakerClosed || e.Kind == monitor.EventDegradedEnded})
		}
	}
	for _, e := range p.routed {
		if providers[e.provider] {
			out = append(out, e)
		}
	}
	out = append(out, p.logged...)
	slices.SortStableFunc(out, func(a, b logEntry) int { return b.at.Compare(a.at) })
	return out
}

// eventText says what a health event was, in a few words.
func eventText(e monitor.Event) string {
	what := map[monitor.EventKind]string{
		monitor.EventOutageStarted: "down", monitor.EventOutageEnded: "back",
		monitor.EventDegradedStarted: "degraded", monitor.EventDegradedEnded: "recovered",
		monitor.EventBreakerOpened: "breaker open", monitor.EventBreakerHalfOpen: "breaker half-open",
		monitor.EventBreakerClosed: "breaker closed", monitor.EventCooldownStarted: "cooling down",
		monitor.EventTurnedOff: "turned off", monitor.EventTurnedOn: "turned on",
	}[e.Kind]
	switch {
	case e.Kind != monitor.EventTurnedOff && e.Kind != monitor.EventTurnedOn:
		if e.Detail != "" {
			what += ": " + e.Detail
		}
	default:
		// A toggle another replica of the fleet made says where and who,
		// where first, for a narrow log: "turned off by the admin API,
		// from … on replica gw-2" reads "turned off at replica gw-2 by the
		// admin API, from …". One made here is the reader's own, or the
		// admin API's.
		if e.Replica != "" {
			if who, ok := strings.CutSuffix(strings.TrimPrefix(e.Detail, what+" by "), " on replica "+e.Replica); ok {
				what += " at replica " + e.Replica + " by " + who
			}
		}
	}
	return what
}

// view draws the log in its box: a title, then one line per entry.
func (p *eventsPane) view(snap *monitor.Snapshot, eps []routing.Endpoint) string {
	st := p.ctx.styles
	entries := p.entries(snap, eps)
	top, more := p.top(len(entries)), ""
	if top > 0 {
		more = fmt.Sprintf("%d newer ↑", top)
	}
	lines := []string{rule(st, "Events", more, p.width)}
	entries = entries[top:]
	if len(entries) == 0 {
		lines = append(lines, st.muted.Render(fit("nothing yet: outages, breakers, fallbacks and toggles show here", p.width, false)))
	}
	for _, e := range entries {
		if len(lines) >= p.height {
			break
		}
		text := fmt.Sprintf("%s %s %s", e.at.Format("15:04:05"), e.provider, e.text)
		switch {
		case e.via != "" && e.provider == "": // a logged line
			text = fmt.Sprintf("%s %s: %s", e.at.Format("15:04:05"), e.via, e.text)
		case e.via != "": // first, so that a narrow pane still shows it
			text = fmt.Sprintf("%s %s: %s %s", e.at.Format("15:04:05"), e.via, e.provider, e.text)
		}
		style := lipgloss.NewStyle()
		switch {
		case e.bad:
			style = st.errText
		case e.good:
			style = st.okText
		}
		lines = append(lines, style.Render(fit(text, p.width, false)))
	}
	for len(lines) < p.height {
		lines = append(lines, strings.Repeat(" ", p.width))
	}
	return strings.Join(lines, "\n")
}

// hourlyBars draws a day of hourly availability, oldest first, one cell an
// hour: green at 95% and above, yellow at 85%, red below, a dot without data.
func hourlyBars(st *styles, hourly [24]float64) string {
	var b strings.Builder
	for _, a := range hourly {
		switch {
		case a < 0:
			b.WriteString(st.muted.Render("·"))
		case a >= 0.95:
			b.WriteString(st.okText.Render("█"))
		case a >= 0.85:
			b.WriteString(st.warn.Render("▆"))
		default:
			b.WriteString(st.errText.Render("▃"))
		}
	}
	return b.String()
}
