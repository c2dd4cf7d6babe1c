package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"switchboard/routing"
)

// renderTrace shows a decision trace in w cells: the summary in plain words,
// then the candidates (in the order they were to be tried, skipped ones
// last) and the attempts, as compact tables.
func renderTrace(st *styles, t *routing.Trace, w int) string {
	var b strings.Builder
	b.WriteString(ansi.Wrap(st.bold.Render("why ")+t.Summary(), w, ""))
	b.WriteString("\n")

	if len(t.Candidates) > 0 {
		b.WriteString("\n")
		b.WriteString(candidatesTable(st, t, w))
	}
	if len(t.Attempts) > 0 {
		b.WriteString("\n")
		b.WriteString(attemptsTable(st, t, w))
	}
	return strings.TrimRight(b.String(), "\n")
}

// traceCol is one column of a trace table: its title, and the width of its
// widest cell. The last column takes what is left of the line.
type traceCol struct {
	title string
	right bool
	width int
}

// table lays rows out under columns, styling each cell with style(row,col).
func table(st *styles, cols []traceCol, rows [][]string, style func(r, c int) lipgloss.Style, w int) string {
	for i := range cols {
		cols[i].width = lipgloss.Width(cols[i].title)
		for _, r := range rows {
			cols[i].width = max(cols[i].width, lipgloss.Width(r[i]))
		}
	}
	used := 0
	for i := range cols[:len(cols)-1] {
		used += cols[i].width + 2
	}
	last := len(cols) - 1
	cols[last].width = min(cols[last].width, max(w-used, 1))

	var b strings.Builder
	line := func(cells []string, styleOf func(c int) lipgloss.Style) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = styleOf(i).Render(fit(c, cols[i].width, cols[i].right))
		}
		b.WriteString(clip(strings.TrimRight(strings.Join(parts, "  "), " "), w))
		b.WriteString("\n")
	}
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	line(titles, func(int) lipgloss.Style { return st.colHeader })
	for r, row := range rows {
		styleOf := func(c int) lipgloss.Style { return style(r, c) }
		// The last column, the words (why, notes), goes on under the row
		// rather than being cut at the pane's edge, up to maxWrapped lines.
		words := strings.Split(ansi.Wrap(row[last], cols[last].width, " "), "\n")
		if len(words) > maxWrapped {
			words = append(words[:maxWrapped-1], strings.Join(words[maxWrapped-1:], " "))
		}
		cells := slices.Clone(row)
		for i, w := range words {
			if i > 0 {
				cells = make([]string, len(cols))
			}
			cells[last] = w
			line(cells, styleOf)
		}
	}
	return b.String()
}

// maxWrapped is how many lines a trace table's last cell may take; the
// rest of its words are cut, with an ellipsis.
const maxWrapped = 4

func candidatesTable(st *styles, t *routing.Trace, w int) string {
	pos := make(map[string]int, len(t.Order))
	for i, id := range t.Order {
		pos[id] = i + 1
	}
	// Candidates in the order they were to be tried, the skipped after.
	cands := make([]routing.Candidate, 0, len(t.Candidates))
	for _, id := range t.Order {
		for _, c := range t.Candidates {
			if c.Endpoint == id {
				cands = append(cands, c)
			}
		}
	}
	for _, c := range t.Candidates {
		if _, ok := pos[c.Endpoint]; !ok {
			cands = append(cands, c)
		}
	}

	rows := make([][]string, len(cands))
	for i, c := range cands {
		order := "-"
		if p, ok := pos[c.Endpoint]; ok {
			order = strconv.Itoa(p)
		}
		if c.Endpoint == t.Served {
			order = "✓"
		}
		// The chance of being drawn first applies only to the weighted
		// draw: a candidate placed by order, by sort or by its health was
		// never drawn, and a 0% would read as a chance it did not have.
		chance := noData
		switch {
		case c.Weight <= 0:
		case c.Weight < 0.01:
			chance = "<1%" // a real chance, however small, is not 0%
		default:
			chance = fmt.Sprintf("%.0f%%", c.Weight*100)
		}
		rows[i] = []string{order, c.Provider, c.StateStr, chance, c.Tier.String(), c.Why}
	}
	cols := []traceCol{{title: "#"}, {title: "candidate"}, {title: "state"}, {title: "chance", right: true}, {title: "tier"}, {title: "why"}}
	return table(st, cols, rows, func(r, col int) lipgloss.Style {
		c := cands[r]
		switch col {
		case 0, 1:
			if c.Endpoint == t.Served {
				return st.served
			}
		case 2:
			return st.stateStyle(c.State)
		case 4, 5:
			if c.Tier == routing.TierSkipped {
				return st.muted
			}
		}
		return lipgloss.NewStyle()
	}, w)
}

func attemptsTable(st *styles, t *routing.Trace, w int) string {
	rows := make([][]string, len(t.Attempts))
	for i, a := range t.Attempts {
		status := ""
		if a.Status != 0 {
			status = strconv.Itoa(a.Status)
		}
		rows[i] = []string{strconv.Itoa(i + 1), a.Provider, a.Outcome, status, cellDuration(a.TTFT), cellDuration(a.Duration), a.Notes()}
	}
	cols := []traceCol{{title: "#"}, {title: "attempt"}, {title: "outcome"}, {title: "http"},
		{title: "ttft", right: true}, {title: "took", right: true}, {title: "notes"}}
	return table(st, cols, rows, func(r, col int) lipgloss.Style {
		if col == 2 || col == 6 {
			if t.Attempts[r].Outcome == "ok" {
				return st.okText
			}
			return st.errText
		}
		return lipgloss.NewStyle()
	}, w)
}
