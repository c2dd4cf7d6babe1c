package ui

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/NimbleMarkets/ntcharts/v2/sparkline"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/routing"
)

// The columns of the provider table, in display order.
type column int

const (
	colMark column = iota // ▸ on the selected row
	colProvider
	colState
	colOn
	colFault
	colAvail
	colAvail30m
	colAvail1d
	colErr
	colP50
	colP99
	colTTFT
	colTPS
	colPrice
	colBreaker
	colAvailSpark
	colErrSpark
	colLatSpark
	colReason // only on wide terminals: the reason of a state other than healthy
	numColumns
)

// dropOrder is the order in which columns give way on a narrow terminal;
// what is dropped from a row still shows in the detail line of the
// selected one.
// The three sparklines go last but for the state: they tell the story at a
// glance.
var dropOrder = []column{colAvail1d, colTPS, colP99, colAvail30m, colBreaker,
	colOn, colPrice, colTTFT, colFault, colErr, colP50, colAvail, colLatSpark, colErrSpark, colAvailSpark}

// sparkColumns are the sparklines, in display order.
var sparkColumns = [...]column{colAvailSpark, colErrSpark, colLatSpark}

const (
	sparkMin = 12 // narrower, a sparkline says too little to be worth its room
	sparkMax = 24
)

// tableLayout is which columns show and how wide each is, computed once per
// resize or model switch.
type tableLayout struct {
	show  [numColumns]bool
	width [numColumns]int
}

func (l tableLayout) sparkWidth(c column) int {
	if !l.show[c] {
		return 0
	}
	return l.width[c]
}

// layoutTable fits the columns into w cells.
func layoutTable(w, providerWidth int, faults bool) tableLayout {
	var l tableLayout
	l.width = [numColumns]int{
		colMark: 1, colProvider: providerWidth, colState: 13, colOn: 3, colFault: 5,
		colAvail: 5, colAvail30m: 5, colAvail1d: 5, colErr: 5, colP50: 5, colP99: 5, colTTFT: 5, colTPS: 5,
		colPrice: 10, colBreaker: 8,
		colAvailSpark: sparkMin, colErrSpark: sparkMin, colLatSpark: sparkMin,
	}
	for c := range numColumns {
		l.show[c] = true
	}
	l.show[colFault] = faults
	l.show[colReason] = false
	total := func() int {
		n, cols := 0, 0
		for c := range numColumns {
			if l.show[c] {
				n += l.width[c]
				cols++
			}
		}
		return n + cols - 1 // one space between columns
	}
	for _, c := range dropOrder {
		if total() <= w {
			break
		}
		l.show[c] = false
	}
	// Spare room goes to the sparklines, up to their useful width.
	for spare := w - total(); spare > 0; {
		grew := false
		for _, c := range sparkColumns {
			if spare > 0 && l.show[c] && l.width[c] < sparkMax {
				l.width[c]++
				spare--
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	if spare := w - total(); spare > reasonMin {
		l.show[colReason], l.width[colReason] = true, spare-1
	}
	return l
}

// reasonMin is the room below which the reason column does not show.
const reasonMin = 16

// sparkRow is the cached drawing of one endpoint's sparklines, indexed as
// sparkColumns.
type sparkRow [len(sparkColumns)]string

// providersPane is the table of the selected model's endpoints: one row
// each, with state, figures and sparklines, and a detail line for the
// selected one. Text is composed per frame; sparklines are drawn only on
// the render tick.
type providersPane struct {
	ctx *programContext

	endpoints []routing.Endpoint
	cursor    int
	offset    int // first visible row
	rows      int // rows that fit
	width     int
	layout    tableLayout

	snap *monitor.Snapshot
	// wantEnabled holds a toggle the user made that no snapshot shows yet,
	// so that the row changes at once.
	wantEnabled map[string]bool
	faults      *faultForcer // the forced faults of simulated providers

	// Drawn on the render tick.
	dirty  bool
	sparks map[string]sparkRow
	drawn  [len(sparkColumns)]int           // widths the cached sparklines were drawn at
	spans  [len(sparkColumns)]time.Duration // and the time each spans
	latMax time.Duration                    // the latency scale of the cached sparklines
	lat    sparkline.Model
	errs   sparkline.Model
}

func newProvidersPane(ctx *programContext) *providersPane {
	p := &providersPane{
		ctx:         ctx,
		wantEnabled: map[string]bool{},
		sparks:      map[string]sparkRow{},
		lat:         sparkline.New(sparkMin, 1, sparkline.WithNoAutoMaxValue()),
		errs:        sparkline.New(sparkMin, 1, sparkline.WithNoAutoMaxValue()),
	}
	return p
}

// setEndpoints shows another model's endpoints.
func (p *providersPane) setEndpoints(eps []routing.Endpoint) {
	p.endpoints = eps
	p.cursor, p.offset = 0, 0
	p.relayout()
}

// setSize gives the pane its width and the number of rows it may use for
// endpoints.
func (p *providersPane) setSize(w, rows int) {
	p.width, p.rows = w, max(rows, 1)
	p.relayout()
	p.scrollToCursor()
}

func (p *providersPane) relayout() {
	pw := len("provider")
	for _, e := range p.endpoints {
		pw = max(pw, lipgloss.Width(e.Provider))
	}
	// The fault column only where a fault can be forced: some provider
	// of this model is simulated.
	faults := false
	for _, e := range p.endpoints {
		if _, sim := p.faults.mode(e.Provider); sim && p.ctx.faults {
			faults = true
		}
	}
	l := layoutTable(p.width, min(pw, 14), faults)
	if l != p.layout {
		p.layout = l
		p.dirty = true
	}
}

func (p *providersPane) setSnapshot(s *monitor.Snapshot) {
	p.snap = s
	for id, on := range p.wantEnabled {
		if st, ok := s.Endpoint(id); ok && st.Enabled == on {
			delete(p.wantEnabled, id)
		}
	}
	p.dirty = true
}

func (p *providersPane) move(delta int) {
	if len(p.endpoints) == 0 {
		return
	}
	p.cursor = min(max(p.cursor+delta, 0), len(p.endpoints)-1)
	p.scrollToCursor()
}

func (p *providersPane) scrollToCursor() {
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+p.rows {
		p.offset = p.cursor - p.rows + 1
	}
	p.offset = max(0, min(p.offset, len(p.endpoints)-p.rows))
}

// selected returns the endpoint under the cursor.
func (p *providersPane) selected() (routing.Endpoint, bool) {
	if p.cursor < 0 || p.cursor >= len(p.endpoints) {
		return routing.Endpoint{}, false
	}
	return p.endpoints[p.cursor], true
}

// status is an endpoint's status as shown: the snapshot's, with a toggle the
// snapshot does not show yet applied. pendingOn is set while an endpoint
// the user turned back on still reads as disabled.
func (p *providersPane) status(id string) (st monitor.EndpointStatus, ok, pendingOn bool) {
	st, ok = p.snap.Endpoint(id)
	on, pending := p.wantEnabled[id]
	switch {
	case !pending:
	case !on:
		st.Enabled, st.State, st.Reason, st.OffBy = false, monitor.Disabled, "turned off by "+monitor.ByUser, monitor.ByUser
		ok = true
	case !st.Enabled:
		st.Enabled, pendingOn = true, true
		st.Reason = "turning on"
	}
	return st, ok, pendingOn
}

// enabled reports whether the endpoint is on, as shown.
func (p *providersPane) enabled(id string) bool {
	st, ok, _ := p.status(id)
	return !ok || st.Enabled
}

// redraw rebuilds the cached sparklines from the current snapshot and
// layout. It is the costly part of a frame and runs on the render tick.
func (p *providersPane) redraw() {
	p.dirty = false
	for k, c := range sparkColumns {
		p.drawn[k] = p.layout.sparkWidth(c)
	}
	clear(p.sparks)
	p.spans = [len(sparkColumns)]time.Duration{}
	if p.snap == nil {
		return
	}
	aw, ew, lw := p.drawn[0], p.drawn[1], p.drawn[2]
	resize(&p.lat, lw)
	resize(&p.errs, ew)
	p.lat.Style, p.errs.Style = p.ctx.styles.latencySpark, p.ctx.styles.errorSpark

	// The cells of every row first: one latency scale for the whole table,
	// so that rows compare; zero while no row has data.
	type rowCells [len(sparkColumns)][]sparkCell
	cells := make(map[string]rowCells, len(p.endpoints))
	p.latMax = 0
	for _, e := range p.endpoints {
		st := p.snap.Status(e.ID)
		if st == nil {
			continue
		}
		var rc rowCells
		for k, w := range p.drawn {
			rc[k], p.spans[k] = sparkCells(st.Series, w)
		}
		for _, c := range rc[2] {
			p.latMax = max(p.latMax, c.latency())
		}
		cells[e.ID] = rc
	}
	scale := max(p.latMax.Seconds(), 1e-3) // the bars' unit: seconds

	for id, rc := range cells {
		var row sparkRow
		if aw > 0 {
			row[0] = availBars(p.ctx.styles, rc[0], aw)
		}
		if ew > 0 {
			row[1] = drawSpark(&p.errs, ew, 1, errorBars(rc[1]))
		}
		if lw > 0 {
			row[2] = drawSpark(&p.lat, lw, scale, latencyBars(rc[2], scale))
		}
		p.sparks[id] = row
	}
}

// resize sets a sparkline's width; ntcharts must never get a zero size.
func resize(m *sparkline.Model, w int) {
	w = max(w, 1)
	if m.Width() != w || m.Height() != 1 {
		m.Resize(w, 1)
	}
}

// drawSpark draws values, right-aligned, on a sparkline of width w with the
// given maximum. The maximum is set on every draw: ntcharts' own only grows.
func drawSpark(m *sparkline.Model, w int, maxValue float64, values []float64) string {
	m.Clear()
	m.SetMax(maxValue)
	for range w - len(values) {
		m.Push(0)
	}
	m.PushAll(values)
	m.Draw()
	return m.View()
}

// latencyBars turns latency cells into bar heights, in seconds as
// maxValue is: no bar where a cell has no answer, and at least the lowest
// bar where it has.
func latencyBars(cells []sparkCell, maxValue float64) []float64 {
	out := make([]float64, len(cells))
	for i, c := range cells {
		if v := c.latency(); v >= 0 {
			out[i] = max(v.Seconds(), maxValue/8)
		}
	}
	return out
}

// errorBars turns error-rate cells into bar heights: no bar without
// requests, the lowest bar for requests without errors, and at least two
// eighths for any error, so that one failure among many still shows.
func errorBars(cells []sparkCell) []float64 {
	out := make([]float64, len(cells))
	for i, c := range cells {
		switch r := c.errorRate(); {
		case r > 0:
			out[i] = max(r, 2.0/8)
		case r == 0:
			out[i] = 1.0 / 8
		}
	}
	return out
}

// headerView is the row of column titles.
func (p *providersPane) headerView() string {
	l := p.layout
	top := ""
	if p.latMax > 0 {
		top = " ≤" + cellDuration(p.latMax)
	}
	var widths [len(sparkColumns)]int
	for k, c := range sparkColumns {
		widths[k] = l.sparkWidth(c)
	}
	sparks := sparkTitles(widths, sparkNames{"availability", "error rate", "latency" + top},
		sparkNames{"avail", "errors", "latency"}, sparkNames{"avail", "err", "lat"}, p.spans)
	titles := [numColumns]string{
		colProvider: "provider", colState: "state", colOn: "on", colFault: "fault",
		colAvail: "avail", colAvail30m: "30m", colAvail1d: "1d", colErr: "err", colP50: "p50", colP99: "p99",
		colTTFT: "ttft", colTPS: "tok/s", colPrice: "$/M in/out", colBreaker: "breaker",
		colAvailSpark: sparks[0], colErrSpark: sparks[1], colLatSpark: sparks[2], colReason: "why",
	}
	var cells []string
	for c := range numColumns {
		if l.show[c] {
			cells = append(cells, p.ctx.styles.colHeader.Render(fit(titles[c], l.width[c], rightAligned(c))))
		}
	}
	return strings.Join(cells, " ")
}

func rightAligned(c column) bool {
	switch c {
	case colAvail, colAvail30m, colAvail1d, colErr, colP50, colP99, colTTFT, colTPS, colPrice:
		return true
	}
	return false
}

// rowView renders the row of endpoint i.
func (p *providersPane) rowView(i int, now time.Time) string {
	st := p.ctx.styles
	e := p.endpoints[i]
	s, ok, pendingOn := p.status(e.ID)
	sel := i == p.cursor
	base := lipgloss.NewStyle()
	if sel {
		base = st.selected
	}
	paint := func(style lipgloss.Style, text string) string {
		return style.Inherit(base).Render(text)
	}

	var cells [numColumns]string
	w := p.layout.width
	if sel {
		cells[colMark] = paint(st.marker, "▸")
	} else {
		cells[colMark] = " "
	}
	name := base
	if sel {
		name = name.Bold(true)
	}
	cells[colProvider] = name.Render(fit(e.Provider, w[colProvider], false))

	switch {
	case !ok:
		cells[colState] = paint(st.muted, fit("… no data", w[colState], false))
	case pendingOn:
		cells[colState] = paint(st.muted, fit("… turning on", w[colState], false))
	case silent(&s, now) > 0:
		cells[colState] = paint(st.stateStyle(monitor.Degraded), fit(stateText(s, now), w[colState], false))
	default:
		cells[colState] = paint(st.stateStyle(s.State), fit(stateText(s, now), w[colState], false))
	}

	on := "on"
	onStyle := base
	if ok && !s.Enabled {
		on, onStyle = "off", st.muted.Inherit(base)
	}
	cells[colOn] = onStyle.Render(fit(on, w[colOn], false))

	mode, simulated := p.faults.mode(e.Provider)
	switch {
	case !simulated:
		cells[colFault] = paint(st.muted, fit(noData, w[colFault], false))
	case mode == "" || mode == "normal":
		cells[colFault] = paint(st.muted, fit("·", w[colFault], false))
	default:
		cells[colFault] = paint(st.fault, fit(shortMode(mode), w[colFault], false))
	}

	num := func(c column, text string) {
		style := base
		if text == noData {
			style = st.muted.Inherit(base)
		}
		cells[c] = style.Render(fit(text, w[c], true))
	}
	var avail, avail30m, avail1d, errRate, tps float64 = monitor.NoData, monitor.NoData, monitor.NoData, monitor.NoData, monitor.NoData
	var p50, p99, ttft time.Duration = monitor.NoData, monitor.NoData, monitor.NoData
	if ok {
		avail, avail30m, avail1d, errRate = s.Availability, s.Availability30m, s.Availability1d, s.ErrorRate
		p50, p99, ttft, tps = s.Latency.P50, s.Latency.P99, s.TTFT.P50, s.Throughput.P50
	}
	num(colAvail, fmtPct(avail))
	num(colAvail30m, fmtPct(avail30m))
	num(colAvail1d, fmtPct(avail1d))
	num(colP99, cellDuration(p99))
	num(colTPS, fmtRate(tps))
	cells[colBreaker] = paint(st.muted, fit("·", w[colBreaker], false))
	if ok && s.Breaker != monitor.BreakerClosed {
		cells[colBreaker] = paint(st.stateStyle(monitor.Down), fit(breakerText(s, now), w[colBreaker], false))
	}
	num(colErr, fmtPct(errRate))
	if errRate > 0 {
		cells[colErr] = paint(st.errText, fit(fmtPct(errRate), w[colErr], true))
	}
	num(colP50, cellDuration(p50))
	num(colTTFT, cellDuration(ttft))
	num(colPrice, fmtPrice(e.PriceIn)+"/"+fmtPrice(e.PriceOut))

	sp, drawn := p.sparks[e.ID]
	for k, c := range sparkColumns {
		text := ""
		if drawn && p.drawn[k] == w[c] {
			text = sp[k]
		}
		if text == "" {
			text = strings.Repeat(" ", w[c]) // not drawn yet at this width: the next tick will
		}
		cells[c] = text
	}

	if why := reason(&s, now); ok && why != "" && !pendingOn {
		cells[colReason] = paint(st.muted, fit(why, w[colReason], false))
	} else {
		cells[colReason] = base.Render(fit("", w[colReason], false))
	}

	var parts []string
	for c := range numColumns {
		if p.layout.show[c] {
			parts = append(parts, cells[c])
		}
	}
	return strings.Join(parts, base.Render(" "))
}

// silent is how long an answering endpoint has left a request without any
// answer, when the router holds it against it (routing.Silent); 0
// otherwise.
func silent(s *monitor.EndpointStatus, now time.Time) time.Duration {
	if s.State != monitor.Healthy && s.State != monitor.Degraded {
		return 0 // its state says more
	}
	return routing.Silent(s, now)
}

// reason is why the endpoint is not simply healthy, in the monitor's words,
// or the router's for one silent to the requests sent to it; "" for healthy.
func reason(s *monitor.EndpointStatus, now time.Time) string {
	if d := silent(s, now); d > 0 {
		return fmt.Sprintf("no answer for %s to requests sent to it, far past its usual first token: tried after the others",
			human.Duration(d.Round(100*time.Millisecond)))
	}
	if s.State == monitor.Healthy {
		return ""
	}
	return s.Reason
}

// stateText is the state word with its glyph, the seconds left of a
// cooldown, or the seconds an answering endpoint has been silent to a
// request in flight.
func stateText(s monitor.EndpointStatus, now time.Time) string {
	if d := silent(&s, now); d > 0 {
		return fmt.Sprintf("%s silent %ds", stateGlyph(monitor.Degraded), int(d.Seconds()))
	}
	g := stateGlyph(s.State)
	switch s.State {
	case monitor.Disabled:
		// In a fleet, a dashboard's toggle on another replica: its row
		// names that replica.
		if s.OffOn != "" && strings.HasPrefix(s.OffBy, monitor.ByUser) {
			return g + " off (" + s.OffOn + ")"
		}
		if s.OffBy != "" && s.OffBy != monitor.ByUser {
			return g + " off (admin)" // through the admin API
		}
		return g + " off (you)"
	case monitor.CoolingDown:
		left := s.CooldownUntil.Sub(now)
		return fmt.Sprintf("%s cooling %ds", g, int(math.Ceil(max(left, 0).Seconds())))
	}
	return g + " " + s.State.String()
}

// breakerText is an open breaker's countdown to its next trial, or
// "trial" while the one trial is out.
func breakerText(s monitor.EndpointStatus, now time.Time) string {
	if s.Breaker == monitor.BreakerHalfOpen {
		return "trial"
	}
	return fmt.Sprintf("open %ds", int(math.Ceil(max(s.NextTrial.Sub(now), 0).Seconds())))
}

// fmtRate renders tokens per second; noData below zero.
func fmtRate(v float64) string {
	if v < 0 {
		return noData
	}
	return fmt.Sprintf("%.0f", v)
}

// shortModes are the fault modes whose names do not fit the fault column;
// the detail line of the selected row names them in full.
var shortModes = map[string]string{
	"rate_limited":       "429",
	"rate_limited_short": "429s",
	"slow_start":         "late",
	"silent_close":       "hush",
	"malformed":          "junk",
	"no_prefill":         "nopre",
	"stream_error":       "inerr",
}

// shortMode fits a fault mode's name into the fault column.
func shortMode(mode string) string {
	if s, ok := shortModes[mode]; ok {
		return s
	}
	return mode
}

// detailView is the line under the table about the selected endpoint: the
// reason for its state and what the table may have no room for.
func (p *providersPane) detailView() string {
	e, ok := p.selected()
	if !ok {
		return ""
	}
	st := p.ctx.styles
	s, known, _ := p.status(e.ID)
	parts := []string{st.bold.Render(e.Provider) + st.muted.Render(" ("+e.UpstreamModel+")")}
	if known {
		parts = append(parts, cmp.Or(reason(&s, p.ctx.now()), s.Reason))
		if s.Here != nil && (s.Requests > 0 || s.Here.Requests > 0) {
			parts = append(parts, hereFigures(st, &s, p.snap.Fleet == nil || p.snap.Fleet.Linked)) // in a fleet, first: whose figures these are
		}
		if s.Requests > 0 {
			parts = append(parts,
				fmt.Sprintf("ttft %s/%s", cellDuration(s.TTFT.P50), cellDuration(s.TTFT.P95)),
				fmt.Sprintf("latency %s/%s (p50/p95)", cellDuration(s.Latency.P50), cellDuration(s.Latency.P95)))
			if s.Here == nil {
				parts = append(parts, fmt.Sprintf("%d req, %d err", s.Requests, s.ProviderErrors))
			}
		}
	}
	parts = append(parts, fmt.Sprintf("$%s/$%s per M", fmtPrice(e.PriceIn), fmtPrice(e.PriceOut)))
	if mode, sim := p.faults.mode(e.Provider); sim && mode != "" && mode != "normal" {
		parts = append(parts, st.fault.Render("fault: "+mode))
	}
	return clip(strings.Join(parts, st.muted.Render(" · ")), p.width)
}

// view renders the header, the visible rows and the detail line.
func (p *providersPane) view() string {
	if len(p.endpoints) == 0 {
		return p.ctx.styles.muted.Render("no providers serve this model") + "\n\n" // the rows and the detail line it replaces
	}
	now := p.ctx.now()
	lines := []string{clip(p.headerView(), p.width)}
	end := min(p.offset+p.rows, len(p.endpoints))
	for i := p.offset; i < end; i++ {
		lines = append(lines, clip(p.rowView(i, now), p.width))
	}
	lines = append(lines, p.detailView())
	return strings.Join(lines, "\n")
}
