package ui

import (
	"testing"

	"switchboard/sim"
)

// Every forced mode but normal (shown as "·") fits the fault column
// whole, and no two look the same there.
func TestShortModesFit(t *testing.T) {
	width := layoutTable(200, 14, true).width[colFault]
	seen := map[string]sim.Mode{}
	for _, m := range sim.Modes()[1:] {
		short := shortMode(m.String())
		if len([]rune(short)) > width {
			t.Errorf("mode %s shows as %q, wider than the fault column (%d)", m, short, width)
		}
		if other, dup := seen[short]; dup {
			t.Errorf("modes %s and %s both show as %q", other, m, short)
		}
		seen[short] = m
	}
}
