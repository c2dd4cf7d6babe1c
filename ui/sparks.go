package ui

import (
	"fmt"
	"strings"
	"time"

	"switchboard/monitor"
)

// sparkCell is one column of a sparkline: the series buckets it merges.
// The monitor's buckets are short (2s by default) and a sparkline has a
// dozen or two columns, so each column merges several buckets, enough for
// the line to span the whole series (two minutes by default).
type sparkCell struct {
	requests, successes, provErrors int
	latencySum                      time.Duration // over the successes
	down                            bool          // the endpoint was down during one of the buckets
}

// availability is successes over successes and provider errors; 0 when the
// endpoint was down, since an outage's buckets hold no outcomes (no traffic
// goes to a down endpoint) and are failures all the same; NoData without
// data.
func (c sparkCell) availability() float64 {
	switch n := c.successes + c.provErrors; {
	case c.down:
		return 0
	case n == 0:
		return monitor.NoData
	default:
		return float64(c.successes) / float64(n)
	}
}

// errorRate is provider errors over requests; NoData without requests.
func (c sparkCell) errorRate() float64 {
	if c.requests == 0 {
		return monitor.NoData
	}
	return float64(c.provErrors) / float64(c.requests)
}

// latency is the mean whole-answer latency of the successes; NoData
// without any.
func (c sparkCell) latency() time.Duration {
	if c.successes == 0 {
		return monitor.NoData
	}
	return c.latencySum / time.Duration(c.successes)
}

// sparkCells merges a series into at most width cells of equal buckets,
// the newest bucket in the last cell, and says what span they show. The
// oldest cell may hold fewer buckets than the others.
func sparkCells(s monitor.Series, width int) (cells []sparkCell, span time.Duration) {
	points := s.Points()
	n := len(points)
	if width <= 0 || n == 0 {
		return nil, 0
	}
	per := (n + width - 1) / width // buckets per cell
	cells = make([]sparkCell, (n+per-1)/per)
	for i, p := range points {
		c := &cells[len(cells)-1-(n-1-i)/per]
		c.requests += p.Requests
		c.successes += p.Successes
		c.provErrors += p.ProviderErrors
		if p.Latency >= 0 {
			c.latencySum += p.Latency * time.Duration(p.Successes)
		}
		c.down = c.down || p.Down
	}
	return cells, time.Duration(n) * s.Bucket
}

// fmtSpan labels the time a sparkline spans, in its title: one whole unit
// where the span is whole minutes or hours (2m, 1h), else whole seconds
// (90s), since a label names a window rather than measuring a time.
func fmtSpan(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
}

// availBars draws availability cells, right-aligned in width: the bar's
// height is the availability, at least the lowest bar (a failure, an
// outage, still shows); green at 99.5% and above, yellow from 85%, red
// below; a blank without data.
func availBars(st *styles, cells []sparkCell, width int) string {
	bars := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", max(width-len(cells), 0)))
	for _, c := range cells[max(len(cells)-width, 0):] {
		a := c.availability()
		style := st.errText
		switch {
		case a < 0:
			b.WriteByte(' ')
			continue
		case a >= 0.995:
			style = st.okText
		case a >= 0.85:
			style = st.warn
		}
		h := int(a * float64(len(bars)-1)) // rounded down: anything short of whole is a lower bar
		if a >= 0.995 {
			h = len(bars) - 1
		}
		b.WriteString(style.Render(string(bars[h])))
	}
	return b.String()
}

// sparkNames are the names of the sparkline columns (as sparkColumns),
// long to short, for titles.
type sparkNames [len(sparkColumns)]string

// sparkTitles are the titles of the sparkline columns, each with the span
// it shows once drawn: the longest form that fits every column, so that
// they read alike, and the shortest where none does.
func sparkTitles(widths [len(sparkColumns)]int, long, short, tiny sparkNames, spans [len(sparkColumns)]time.Duration) sparkNames {
	type form struct {
		names *sparkNames
		sep   string // between the name and the span
	}
	forms := []form{{&long, ""}, {&short, ""}}
	if spans != [len(sparkColumns)]time.Duration{} {
		forms = []form{{&long, ", last "}, {&short, ", last "}, {&short, " last "}, {&tiny, " last "}, {&short, " "}}
	}
	var titles sparkNames
	for _, f := range forms {
		fit := true
		for k := range titles {
			titles[k] = f.names[k]
			if f.sep != "" {
				titles[k] += f.sep + fmtSpan(spans[k])
			}
			fit = fit && (widths[k] == 0 || len([]rune(titles[k])) <= widths[k])
		}
		if fit {
			break
		}
	}
	return titles
}
