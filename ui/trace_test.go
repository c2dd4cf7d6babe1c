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
