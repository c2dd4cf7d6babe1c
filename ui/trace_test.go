package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"switchboard/routing"
)

// The chance column gives a drawn candidate's chance of being drawn first
// as a percentage, a tiny one as <1%, and — for every candidate that was
// not in the draw: placed by a sort, a fallback, or skipped.
func TestTraceChanceColumn(t *testing.T) {
	tr := &routing.Trace{
		Candidates: []routing.Candidate{
			{Endpoint: "m@a", Provider: "a", StateStr: "healthy", Weight: 0.32, Tier: routing.TierPreferred},
			{Endpoint: "m@b", Provider: "b", StateStr: "healthy", Weight: 0.004, Tier: routing.TierPreferred},
			{Endpoint: "m@c", Provider: "c", StateStr: "healthy", Tier: routing.TierPreferred, Why: "sorted by latency: first token 320ms"},
			{Endpoint: "m@d", Provider: "d", StateStr: "degraded", Tier: routing.TierFallback},
			{Endpoint: "m@e", Provider: "e", StateStr: "disabled", Tier: routing.TierSkipped},
		},
		Order:  []string{"m@a", "m@b", "m@c", "m@d"},
		Served: "m@a",
	}
	table := ansi.Strip(candidatesTable(newStyles(true), tr, 100))
	if !strings.Contains(table, "chance") {
		t.Errorf("no chance column:\n%s", table)
	}
	for provider, want := range map[string]string{"a": "32%", "b": "<1%", "c": "—", "d": "—", "e": "—"} {
		var cells []string
		for _, l := range strings.Split(table, "\n") {
			if f := strings.Fields(l); len(f) > 3 && f[1] == provider {
				cells = f
			}
		}
		if len(cells) < 4 || cells[3] != want {
			t.Errorf("%s: row %q, want chance %s", provider, cells, want)
		}
	}
}

// A trace table's last cell goes on under its row, in its own column,
// rather than being cut at the pane's edge: every word of an attempt's
// notes is there; past four lines the rest is cut, with an ellipsis.
func TestTraceNotesWrapUnderTheirColumn(t *testing.T) {
	long := "waited 600ms for charlie's first token: its p95; no hedge: the hedge budget had none to spare, asked 3 times"
	tr := &routing.Trace{Attempts: []routing.Attempt{
		{Provider: "charlie", Outcome: "ok", Unhedged: long},
		{Provider: "delta", Outcome: "server", Error: strings.Repeat("word ", 60)},
	}}
	const width = 90
	table := ansi.Strip(attemptsTable(newStyles(true), tr, width))
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	col := strings.Index(lines[0], "notes") // the titles are ASCII: bytes are cells
	var notes []string
	for _, l := range lines[1:] {
		notes = append(notes, strings.TrimSpace(ansi.Cut(l, col, width)))
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("a line of %d cells, wider than %d: %q", w, width, l)
		}
	}
	if got := strings.Join(notes[:3], " "); got != long {
		t.Errorf("charlie's notes read %q under the column, want %q whole:\n%s", got, long, table)
	}
	if n := len(lines) - 1; n != 3+maxWrapped || !strings.HasSuffix(strings.TrimSpace(lines[len(lines)-1]), "…") {
		t.Errorf("%d lines under the titles, want 3 for charlie and %d for delta, the last cut with an ellipsis:\n%s", n, maxWrapped, table)
	}
}
