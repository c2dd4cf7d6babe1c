package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// A click on any provider row, found where the frame draws it, selects that
// provider, at every size and for both models: drawing and hit-testing use
// the same rectangles.
func TestClickEveryRow(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 40}, {200, 60}} {
		s := newStack(t, fleetModels)
		s.history(t)
		m, _ := newTestDashboard(t, s)
		for range fleetModels {
			frame := render(m, size.w, size.h)
			lines := strings.Split(frame, "\n")
			clicked := 0
			for _, e := range m.providers.endpoints {
				y := -1
				for i, l := range lines {
					if strings.HasPrefix(l, "▸ "+e.Provider+" ") || strings.HasPrefix(l, "  "+e.Provider+" ") {
						y = i
						break
					}
				}
				if y < 0 {
					continue // scrolled out of view
				}
				m.Update(tea.MouseClickMsg{X: size.w / 2, Y: y, Button: tea.MouseLeft})
				if got, _ := m.providers.selected(); got.Provider != e.Provider {
					t.Errorf("%dx%d %s: a click on line %d (%q) selected %s", size.w, size.h,
						m.displayName(), y, lines[y], got.Provider)
				}
				clicked++
			}
			if clicked != len(m.providers.endpoints) {
				t.Errorf("%dx%d %s: %d of %d rows on screen", size.w, size.h, m.displayName(), clicked, len(m.providers.endpoints))
			}
			// A click on the console's title focuses it; one on a row gives
			// the keys back to the table.
			m.Update(tea.MouseClickMsg{X: 1, Y: m.screen.console.y, Button: tea.MouseLeft})
			if m.focus != focusConsole {
				t.Errorf("%dx%d: a click on the console's line %d (%q) did not focus it", size.w, size.h,
					m.screen.console.y, lines[m.screen.console.y])
			}
			if !strings.HasPrefix(lines[m.screen.console.y], "Console") {
				t.Errorf("%dx%d: the console's rectangle starts at %q", size.w, size.h, lines[m.screen.console.y])
			}
			m.Update(tea.MouseClickMsg{X: 1, Y: m.screen.rows.y, Button: tea.MouseLeft})
			if m.focus != focusProviders {
				t.Errorf("%dx%d: a click on the first row left the console focused", size.w, size.h)
			}
			m.Update(tea.KeyPressMsg{Code: 'm', Text: "m"})
		}
	}
}

// At 120x40 the rows an idle console leaves empty go to the detail chart.
func TestDetailFillsIdleRows(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	m, _ := newTestDashboard(t, s)
	frame := render(m, 120, 40)
	if m.screen.detail.h == 0 || !strings.Contains(frame, "last 30 minutes") {
		t.Fatalf("no detail chart at 120x40:\n%s", frame)
	}
	blank := 0
	for _, l := range strings.Split(frame, "\n") {
		if strings.TrimSpace(l) == "" {
			blank++
		}
	}
	if blank > 12 {
		t.Errorf("%d blank lines at 120x40:\n%s", blank, frame)
	}
}
