package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/NimbleMarkets/ntcharts/v2/linechart/timeserieslinechart"

	"switchboard/monitor"
	"switchboard/provider"
)

// The detail pane shows where it leaves the console room enough (see
// planLayout), with a chart detailChartMin to detailChartMax lines high.
const (
	detailChartMin = 9
	detailChartMax = 16
	detailLines    = 3               // besides the chart: title, errors, events
	detailEvery    = 2 * time.Second // looks for new figures this often: minutes move slowly
)

// detailSeries are the chart's lines: name, what it plots, and colour.
var detailSeries = []struct {
	name  string
	value func(monitor.MinutePoint) time.Duration
	color string
}{
	{"ttft p50", func(p monitor.MinutePoint) time.Duration { return p.TTFTP50 }, "#3fb950"},
	{"ttft p99", func(p monitor.MinutePoint) time.Duration { return p.TTFTP99 }, "#d29922"},
	{"latency p50", func(p monitor.MinutePoint) time.Duration { return p.LatencyP50 }, "#58a6ff"},
	{"latency p99", func(p monitor.MinutePoint) time.Duration { return p.LatencyP99 }, "#bc8cff"},
}

// detailPane is the selected provider's last 30 minutes: a chart of p50 and
// p99 of time to first token and latency, and the errors by class. The
// chart is drawn on the render tick, never in View.
type detailPane struct {
	ctx    *programContext
	width  int    // 0: hidden
	height int    // the whole pane, detailLines of it besides the chart
	chart  string // the drawing, cached
	errors string

	// What the drawing shows, so that unchanged figures are not drawn again.
	endpoint    string
	drawnAt     time.Time
	drawnWidth  int
	drawnHeight int
	drawnIn     *styles
	drawn       []monitor.MinutePoint
}

// chartHeight is the lines the chart gets; never under the least a chart
// reads at, nor zero for ntcharts.
func (d *detailPane) chartHeight() int { return max(d.height-detailLines, detailChartMin) }

// due reports whether the pane should look for new figures now: another
// endpoint, size or palette at once, new minutes every detailEvery.
func (d *detailPane) due(endpoint string, now time.Time) bool {
	return d.width > 0 && (d.stale(endpoint) || now.Sub(d.drawnAt) >= detailEvery)
}

func (d *detailPane) stale(endpoint string) bool {
	return endpoint != d.endpoint || d.width != d.drawnWidth || d.height != d.drawnHeight || d.drawnIn != d.ctx.styles
}

// redraw draws the chart of these minutes unless it shows them already,
// and reports whether it drew. A fresh chart each time, fixed ranges and
// our own points: ntcharts' auto-range keeps and rescales every point ever
// pushed.
func (d *detailPane) redraw(endpoint string, minutes []monitor.MinutePoint, now time.Time) bool {
	d.drawnAt = now
	if !d.stale(endpoint) && slices.Equal(minutes, d.drawn) {
		return false
	}
	d.endpoint, d.drawnWidth, d.drawnHeight, d.drawnIn, d.drawn = endpoint, d.width, d.height, d.ctx.styles, minutes
	if len(minutes) == 0 {
		d.chart, d.errors = "", ""
		return true
	}
	var top time.Duration
	for _, p := range minutes {
		top = max(top, p.LatencyP99, p.TTFTP99)
	}
	yMax := max(top.Seconds()*1.1, 0.1)
	start, end := minutes[0].At, minutes[len(minutes)-1].At.Add(time.Minute)
	c := timeserieslinechart.New(max(d.width, 10), d.chartHeight(),
		timeserieslinechart.WithTimeRange(start, end), timeserieslinechart.WithYRange(0, yMax),
		timeserieslinechart.WithXLabelFormatter(timeserieslinechart.HourTimeLabelFormatter()),
		timeserieslinechart.WithYLabelFormatter(func(_ int, v float64) string { return fmt.Sprintf("%.1fs", v) }))
	c.AutoMinX, c.AutoMaxX, c.AutoMinY, c.AutoMaxY = false, false, false, false
	var names []string
	for _, s := range detailSeries {
		n := 0
		for _, p := range minutes {
			if v := s.value(p); p.Requests > 0 && v > 0 {
				c.PushDataSet(s.name, timeserieslinechart.TimePoint{Time: p.At.Add(30 * time.Second), Value: v.Seconds()})
				n++
			}
		}
		if n > 0 { // drawing stops at the first empty data set
			c.SetDataSetStyle(s.name, lipgloss.NewStyle().Foreground(lipgloss.Color(s.color)))
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		d.chart = d.ctx.styles.muted.Render("no answers in the last 30 minutes yet")
	} else {
		c.DrawBrailleDataSets(names)
		d.chart = c.View()
	}
	d.errors = errorsByClass(d.ctx.styles, minutes)
	return true
}

// errorsByClass draws, for the three commonest failure classes of these
// minutes, a sparkline of that class a minute (scaled to its busiest
// minute) and its total. Attempts ended as canceled (a lost race, a caller
// gone, a wait given up on a silent endpoint) are no failure of the
// endpoint's and are left out.
func errorsByClass(st *styles, minutes []monitor.MinutePoint) string {
	var sum [provider.NumClasses]int
	for _, p := range minutes {
		for c, n := range p.Errors {
			sum[c] += n
		}
	}
	sum[provider.ClassCanceled] = 0
	var classes []provider.Class
	for c, n := range sum {
		if n > 0 {
			classes = append(classes, provider.Class(c))
		}
	}
	if len(classes) == 0 {
		return st.muted.Render("errors (30m): none")
	}
	slices.SortStableFunc(classes, func(a, b provider.Class) int { return sum[b] - sum[a] })
	bars := []rune("▁▂▃▄▅▆▇█")
	var parts []string
	for _, c := range classes[:min(len(classes), 3)] {
		top := 0
		for _, p := range minutes {
			top = max(top, p.Errors[c])
		}
		var b strings.Builder
		for _, p := range minutes {
			if n := p.Errors[c]; n == 0 {
				b.WriteRune(' ')
			} else {
				b.WriteRune(bars[(n*(len(bars)-1)+top-1)/top])
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s %d", c, st.errText.Render(b.String()), sum[c]))
	}
	return st.muted.Render("errors (30m): ") + strings.Join(parts, st.muted.Render(" · "))
}

// recentEvents is one line of the provider's latest health events, newest
// first.
func recentEvents(st *styles, snap *monitor.Snapshot, endpoint string) string {
	var parts []string
	if snap != nil {
		for i := len(snap.Events) - 1; i >= 0 && len(parts) < 3; i-- {
			if e := snap.Events[i]; e.Endpoint == endpoint {
				parts = append(parts, e.At.Format("15:04:05")+" "+eventText(e))
			}
		}
	}
	if len(parts) == 0 {
		return st.muted.Render("events: none lately")
	}
	return st.muted.Render("events: ") + strings.Join(parts, st.muted.Render(" · "))
}

// view is the pane: a title with the legend, the chart, the errors, and
// the provider's recent events.
func (d *detailPane) view(provider string, snap *monitor.Snapshot) string {
	st := d.ctx.styles
	var legend []string
	for _, s := range detailSeries {
		legend = append(legend, lipgloss.NewStyle().Foreground(lipgloss.Color(s.color)).Render("━ "+s.name))
	}
	title := provider + ", last 30 minutes"
	if snap != nil && snap.Fleet != nil && snap.Fleet.Linked {
		title += ", the fleet's"
	}
	lines := []string{rule(st, title, strings.Join(legend, "  "), d.width)}
	lines = append(lines, fitBlock(d.chart, d.width, d.chartHeight()), clip(d.errors, d.width),
		clip(recentEvents(st, snap, d.endpoint), d.width))
	return strings.Join(lines, "\n")
}
