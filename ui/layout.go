package ui

// rect is a rectangle of the screen, in cells: x, y its top left corner.
type rect struct{ x, y, w, h int }

// contains reports whether the cell at x, y is inside r.
func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// below is the rectangle of height h under r, as wide as the screen w.
func below(r rect, w, h int) rect { return rect{0, r.y + r.h, w, h} }

// screenLayout is where every part of the dashboard goes at one size,
// computed once per resize (or when what it depends on changes) and used
// both to draw and to find what the mouse points at. A part that does not
// show has height 0.
type screenLayout struct {
	header    rect // the headline, and a blank line under it on tall terminals alone
	fleet     rect // in a fleet: its line, and the replicas when shown, in place of that blank line
	providers rect // the title, the column titles, the rows and the detail line
	rows      rect // the provider rows, one line each, inside providers
	hourly    rect // the selected provider's day, hour by hour
	detail    rect // the selected provider's last 30 minutes
	console   rect
	events    rect // beside the console, on wide terminals
	help      rect // the help, or a notice in its place
}

// The layout's rules.
const (
	// consoleMin is the fewest lines the console gets: title, prompt, and
	// one line of answer.
	consoleMin = 3
	// consoleIdleLines is what an idle console shows: title, prompt and
	// its two lines of hint, and a blank line. A console with an answer
	// keeps detailAnswerMin when the detail chart takes the room below the
	// providers, since an answer and its routing decision run to twenty
	// lines and more.
	consoleIdleLines = 5
	detailAnswerMin  = 20
	detailMin        = detailLines + detailChartMin
	detailMax        = detailLines + detailChartMax
	headerGapFrom    = 20 // terminals at least this tall get a blank line under the header
	hourlyFrom       = 30 // and at least this tall the hourly line
)

// layoutInput is what the layout depends on besides the size.
type layoutInput struct {
	width, height int
	endpoints     int  // rows the providers table would like
	fleet         int  // lines under the header about the fleet: none alone
	helpHeight    int  // lines the help takes (more when the full help is open)
	consoleIdle   bool // the console shows no exchange: it needs few lines
}

// planLayout lays the screen out: the header, the fleet's lines, the
// provider rows (all of them if they fit, leaving the console its
// minimum), the hourly line, the detail chart where it leaves the console
// room enough, then the console (with the event log beside it on wide
// terminals) and the help.
func planLayout(in layoutInput) screenLayout {
	w, h := in.width, in.height
	var l screenLayout
	l.header = rect{0, 0, w, 1}
	if h >= headerGapFrom && in.fleet == 0 {
		l.header.h++
	}
	l.fleet = below(l.header, w, in.fleet)
	hourly := 0
	if h >= hourlyFrom {
		hourly = 1
	}
	fixed := l.header.h + l.fleet.h + 3 + hourly + in.helpHeight // providers title, column titles and detail line
	rows := max(min(max(in.endpoints, 1), h-fixed-consoleMin), 1)
	l.providers = below(l.fleet, w, rows+3)
	l.rows = rect{0, l.providers.y + 2, w, rows}
	l.hourly = below(l.providers, w, hourly)
	rest := max(h-fixed-rows, 0)
	l.detail = below(l.hourly, w, 0)
	keep := detailAnswerMin
	if in.consoleIdle {
		keep = consoleIdleLines
	}
	if rest >= detailMin+keep {
		l.detail.h = min(rest-keep, detailMax)
		rest -= l.detail.h
	}
	l.console = below(l.detail, w, rest)
	switch {
	case w >= eventsFromWidth && rest >= eventsFromHeight:
		ew := min(max(w/3, eventsMinWidth), eventsMaxWidth)
		l.console.w = w - ew - 1 // a space between them
		l.events = rect{l.console.w + 1, l.console.y, ew, rest}
	case in.consoleIdle && rest-consoleIdleLines >= eventsFromHeight:
		// Too narrow to share the width: the log takes the lines the idle
		// console leaves, under it.
		l.console.h = consoleIdleLines
		l.events = below(l.console, w, rest-consoleIdleLines)
	}
	l.help = below(l.console, w, in.helpHeight)
	if l.events.y > l.console.y {
		l.help = below(l.events, w, in.helpHeight)
	}
	return l
}
