package ui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// updateGolden reports whether the tests run with -update. The flag is
// defined by x/exp/golden, which teatest brings in; it means the same there.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// render sizes the dashboard, runs one render tick (which draws the
// sparklines) and returns the frame without its styling.
func render(m *model, w, h int) string {
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(renderTickMsg{})
	return ansi.Strip(m.View().Content)
}

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updateGolden() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./ui -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// checkFrame fails if the frame does not fit the terminal.
func checkFrame(t *testing.T, frame string, w, h int) {
	t.Helper()
	if frame == "" {
		return
	}
	lines := strings.Split(frame, "\n")
	if len(lines) > h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%dx%d: line %d is %d cells wide: %q", w, h, i, n, ansi.Strip(l))
		}
	}
}

func TestDashboardGolden(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{
		{"dashboard_80x24", 80, 24},
		{"dashboard_120x40", 120, 40},
		{"dashboard_200x60", 200, 60},
	} {
		t.Run(size.name, func(t *testing.T) {
			s := newStack(t, fleetModels)
			s.history(t)
			s.outage(t, 30*time.Second)
			m, _ := newTestDashboard(t, s)
			frame := render(m, size.w, size.h)
			checkFrame(t, frame, size.w, size.h)
			golden(t, size.name, frame)
			// The outage shows as a run of failed cells in fireworks'
			// availability sparkline: three of its cells at least (the
			// cells are 10s wide at every size here).
			avail := ansi.Strip(m.providers.sparks[endpointID(fleetModels[0].name, "fireworks")][0])
			if r := row(t, frame, "fireworks"); !strings.Contains(avail, "▁▁▁") || !strings.Contains(r, avail) {
				t.Errorf("no run of failures in fireworks' availability %q, in its row %q", avail, r)
			}
			for _, title := range []string{"avail", "err", "lat", "last 2m"} {
				if !strings.Contains(frame, title) {
					t.Errorf("no sparkline titled %q", title)
				}
			}
		})
	}
}

func TestDashboardShowsEveryState(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	m, _ := newTestDashboard(t, s)
	frame := render(m, 160, 48)
	for _, want := range []string{
		"● healthy", "◐ degraded", "◔ cooling 11s", "✕ down", "○ off (you)", // every state
		"slow",                                // the fault forced on cerebras
		"Llama 3.3 70B Instruct", "model 1/2", // the header
		"0.59/0.79", // groq's prices
		"▁", "█",    // sparklines
	} {
		if !strings.Contains(frame, want) {
			t.Errorf("frame lacks %q:\n%s", want, frame)
		}
	}
}

// BenchmarkView is the cost of one frame, which Bubble Tea asks for after
// every message; the sparklines are drawn once, as the render tick would.
func BenchmarkView(b *testing.B) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			s := newStack(b, fleetModels)
			s.history(b)
			m, _ := newTestDashboard(b, s)
			render(m, size[0], size[1])
			for b.Loop() {
				m.View()
			}
		})
	}
}

// BenchmarkRenderTick is the cost of redrawing every sparkline.
func BenchmarkRenderTick(b *testing.B) {
	s := newStack(b, fleetModels)
	s.history(b)
	m, _ := newTestDashboard(b, s)
	render(m, 160, 48)
	for b.Loop() {
		m.providers.redraw()
	}
}

// TestFrameWaitsForTheTick: Bubble Tea asks for the view after every
// message, but new health figures reach the screen only on the render tick,
// at most every dataEvery; a key shows at once.
func TestFrameWaitsForTheTick(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	before := render(m, 120, 30)
	if err := s.mon.SetEnabled(endpointID(fleetModels[0].name, "groq"), false); err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	if ansi.Strip(m.View().Content) != before {
		t.Error("a snapshot redrew the screen before the render tick")
	}
	s.clock.Advance(dataEvery / 5)
	m.Update(renderTickMsg{})
	if ansi.Strip(m.View().Content) != before {
		t.Errorf("new figures showed %v after the last frame; the least is %v", dataEvery/5, dataEvery)
	}
	s.clock.Advance(dataEvery)
	m.Update(renderTickMsg{})
	shown := m.View().Content
	if r := row(t, ansi.Strip(shown), "groq"); !strings.Contains(r, "off (you)") {
		t.Errorf("after %v the groq row reads %q", dataEvery, r)
	}
	m.Update(keyPress("down"))
	if m.View().Content == shown {
		t.Error("a key press did not show until the next tick")
	}
}

// Frames composed for other reasons (keys, a request in flight) do not hold
// new figures back: they still show within dataEvery.
func TestFiguresShowWhileFramesKeepComing(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	render(m, 120, 30)
	if err := s.mon.SetEnabled(endpointID(fleetModels[0].name, "groq"), false); err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	for range 2 * int(dataEvery/renderEvery) { // a key between every two ticks, each composing a frame
		s.clock.Advance(renderEvery)
		m.Update(keyPress("down"))
		m.View()
		m.Update(renderTickMsg{})
	}
	// The rows' text is read at each frame; the sparklines are what the
	// tick draws, and must have been.
	if m.providers.dirty {
		t.Errorf("after %v of steady keys the sparklines still wait for their redraw", 2*dataEvery)
	}
	if r := row(t, ansi.Strip(m.View().Content), "groq"); !strings.Contains(r, "off (you)") {
		t.Errorf("after %v of steady keys the groq row still reads %q", 2*dataEvery, r)
	}
}
