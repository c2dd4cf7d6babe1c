package ui

import (
	"context"
	"github.com/charmbracelet/x/ansi"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/provider"
)

// TestResizeSweep draws every size from 20x5 to 300x100 (in steps, plus
// the sizes around the thresholds) in every mode, and checks that nothing
// panics and every frame fits.
func TestResizeSweep(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 80, 24)
	d.ask("a prompt so the console has a trace to lay out")
	d.press("esc")

	sizes := func(from, to, step int, extra ...int) []int {
		var out []int
		for v := from; v <= to; v += step {
			out = append(out, v)
		}
		return append(out, extra...)
	}
	edgeW := []int{0, 1, 59, 60, 61, 79, 80, 81, 159, 160}
	edgeH := []int{0, 1, 14, 15, 16, 19, 20, 23, 24, 48}
	modes := []struct {
		name            string
		setup           func()
		widths, heights []int
	}{
		{"dashboard", func() {}, sizes(20, 300, 13, edgeW...), sizes(5, 100, 6, edgeH...)},
		{"full help", func() { d.press("?") }, sizes(20, 300, 47, edgeW...), sizes(5, 100, 19, edgeH...)},
		{"console", func() { d.press("?"); d.press("/") }, sizes(20, 300, 47, edgeW...), sizes(5, 100, 19, edgeH...)},
		{"other model", func() { d.press("esc"); d.press("m"); d.press("down"); d.press("down") },
			sizes(20, 300, 47, edgeW...), sizes(5, 100, 19, edgeH...)},
	}
	for _, mode := range modes {
		mode.setup()
		for _, w := range mode.widths {
			for _, h := range mode.heights {
				m.Update(tea.WindowSizeMsg{Width: w, Height: h})
				m.Update(renderTickMsg{})
				v := m.View()
				checkFrame(t, v.Content, w, h)
				if !v.AltScreen {
					t.Fatal("the view does not ask for the alt screen")
				}
				if w >= minWidth && h >= minHeight && v.Cursor != nil && (v.Cursor.Y >= h || v.Cursor.X >= w) {
					t.Errorf("%s %dx%d: cursor at %d,%d is off screen", mode.name, w, h, v.Cursor.X, v.Cursor.Y)
				}
				if t.Failed() {
					t.Fatalf("%s at %dx%d:\n%s", mode.name, w, h, v.Content)
				}
			}
		}
	}
}

func TestTooSmall(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	for _, size := range [][2]int{{59, 24}, {80, 14}, {40, 10}} {
		frame := render(m, size[0], size[1])
		if !strings.Contains(flat(frame), "terminal too small (need 60x15") {
			t.Errorf("%dx%d:\n%s", size[0], size[1], frame)
		}
	}
	if frame := render(m, 60, 15); strings.Contains(frame, "too small") || !strings.Contains(frame, "Providers") {
		t.Errorf("60x15 is enough:\n%s", frame)
	}
}

// TestKeys covers navigation, model switching, help and focus.
func TestKeys(t *testing.T) {
	s := newStack(t, fleetModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 120, 40)

	d.press("j")
	d.press("down")
	d.press("k")
	if e, _ := m.providers.selected(); e.Provider != "cerebras" {
		t.Errorf("selected %s after j, down, k; want cerebras", e.Provider)
	}
	d.press("up")
	d.press("up") // stays on the first row
	if m.providers.cursor != 0 {
		t.Errorf("cursor %d, want 0", m.providers.cursor)
	}

	d.press("m")
	screen := d.screen()
	if !strings.Contains(screen, "Claude Sonnet 4") || !strings.Contains(screen, "model 2/2") || !strings.Contains(screen, "google-vertex") {
		t.Errorf("after m:\n%s", screen)
	}
	d.press("m")
	if !strings.Contains(d.screen(), "Llama 3.3 70B Instruct") {
		t.Errorf("m did not wrap around to the first model:\n%s", d.screen())
	}
	d.press("M")
	if !strings.Contains(d.screen(), "Claude Sonnet 4") {
		t.Errorf("M did not go back:\n%s", d.screen())
	}
	// Tab cycles the focus: to the console and back, a request going on.
	d.press("tab")
	if m.focus != focusConsole {
		t.Errorf("tab did not focus the console")
	}
	d.press("tab")
	if m.focus != focusProviders {
		t.Errorf("tab in the console did not go back to the providers")
	}

	d.press("?")
	if !strings.Contains(d.screen(), "previous model") {
		t.Errorf("? did not open the full help:\n%s", d.screen())
	}
	d.press("?")
	if strings.Contains(d.screen(), "previous model") {
		t.Errorf("? did not close the full help:\n%s", d.screen())
	}

	// In the console, q and ? are text; esc leaves.
	d.press("i")
	d.typeText("q?j")
	if m.focus != focusConsole || m.console.input.Value() != "q?j" || d.quit {
		t.Fatalf("typing in the console: focus %d, value %q, quit %v", m.focus, m.console.input.Value(), d.quit)
	}
	if v := m.View(); v.Cursor == nil {
		t.Error("no cursor while typing")
	}
	d.press("esc")
	if m.focus != focusProviders {
		t.Fatal("esc did not leave the console")
	}
	if v := m.View(); v.Cursor != nil {
		t.Error("a cursor shows outside the console")
	}

	d.press("q")
	d.waitFor("q to quit", func(*model) bool { return d.quit })
	if m.run.Err() == nil {
		t.Error("quitting did not end the dashboard's context")
	}
}

func TestCtrlCQuitsWhileTyping(t *testing.T) {
	s := newStack(t, fleetModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 30)
	d.press("/")
	d.typeText("half a thought")
	d.press("ctrl+c")
	d.waitFor("ctrl+c to quit", func(*model) bool { return d.quit })
}

// TestFaultKeyWithoutSimulator: without Faults there is no fault column and
// f does nothing.
func TestFaultKeyWithoutSimulator(t *testing.T) {
	s := newStack(t, fleetModels)
	o := s.options()
	o.Faults = nil
	ctx, cancel := context.WithCancel(context.Background())
	m := New(ctx, o).(*model)
	d := drive(t, m, cancel, 160, 40)
	d.press("f")
	screen := d.screen()
	if strings.Contains(screen, "fault") {
		t.Errorf("a fault column or key shows without a simulator:\n%s", screen)
	}
	if m.notice != "" {
		t.Errorf("notice %q after f", m.notice)
	}
}

// TestFaultCycles: f walks the modes in order and back to normal, and the
// simulator follows.
func TestFaultCycles(t *testing.T) {
	s := newStack(t, fleetModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 160, 40)
	for _, want := range []string{"down", "slow", "rate_limited", "stall", "normal"} {
		d.press("f")
		d.waitFor("groq to be "+want, func(m *model) bool {
			got, _ := s.faults.Mode("groq")
			_, pending := m.faults.want["groq"]
			return got == want && !pending
		})
		if got := m.faults.shown["groq"]; got != want {
			t.Errorf("row shows %q, want %q", got, want)
		}
	}
	if r := row(t, d.screen(), "groq"); !strings.Contains(r, "·") {
		t.Errorf("back to normal, the row reads %q", r)
	}
}

// TestSnapshotsFromSubscription: with the monitor running, snapshots arrive
// through the subscription; sparklines change on the render tick only.
func TestSnapshotsFromSubscription(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	wg.Go(func() { s.mon.Run(ctx) })

	m := New(ctx, s.options()).(*model)
	d := drive(t, m, cancel, 160, 40)
	groq := endpointID(fleetModels[0].name, "groq")
	d.waitFor("the sparklines", func(m *model) bool { return m.providers.sparks[groq][2] != "" })
	before := m.providers.sparks[groq]
	v0 := m.snap.Version

	// A new bucket with a slow answer and an error.
	s.clock.Advance(2 * time.Second)
	s.mon.Record(groq, provider.Outcome{Class: provider.ClassOK, TTFT: 2 * time.Second, Duration: 5 * time.Second})
	s.mon.Record(groq, provider.Outcome{Class: provider.ClassServer, Status: 500})
	d.waitFor("a newer snapshot", func(m *model) bool { return m.snap.Version > v0 })
	if m.providers.sparks[groq] != before || !m.providers.dirty {
		t.Error("the snapshot message redrew the sparklines; only the render tick may")
	}
	d.waitFor("the render tick to redraw", func(m *model) bool { return !m.providers.dirty })
	after := m.providers.sparks[groq]
	for k, name := range []string{"availability", "error rate", "latency"} {
		if after[k] == before[k] {
			t.Errorf("the %s sparkline did not move: %q", name, after[k])
		}
	}
}

// TestStaleSnapshotIgnored: a snapshot older than the one shown (from a
// slow command) does not replace it.
func TestStaleSnapshotIgnored(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	old := s.mon.Snapshot()
	s.mon.Record(endpointID(fleetModels[0].name, "groq"), provider.Outcome{Class: provider.ClassOK, Duration: time.Second})
	s.clock.Advance(time.Second)
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	newer := m.snap
	m.Update(snapshotMsg{snap: old})
	if m.snap != newer {
		t.Errorf("an older snapshot (v%d) replaced v%d", old.Version, newer.Version)
	}
}

// TestToggleOrderIsKept: quick toggles whose commands finish in any order
// end in the state of the last key press.
func TestToggleOrderIsKept(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	groq := endpointID(fleetModels[0].name, "groq")
	var cmds []tea.Cmd
	for range 3 { // off, on, off
		_, cmd := m.Update(keyPress("space"))
		cmds = append(cmds, cmd)
	}
	for _, i := range []int{2, 0, 1} { // the last first
		if msg := cmds[i](); msg != nil {
			m.Update(msg)
		}
	}
	st, _ := s.mon.Snapshot().Endpoint(groq)
	if st.Enabled {
		t.Error("groq is on; the last press turned it off")
	}
	if r := row(t, render(m, 120, 30), "groq"); !strings.Contains(r, "off (you)") {
		t.Errorf("row reads %q", r)
	}
	if _, pending := m.providers.wantEnabled[groq]; pending {
		t.Error("the toggle is still pending after its snapshot")
	}
}

// An endpoint turned off through the admin API reads "off (admin)", and
// its detail line says by whom.
func TestOffThroughTheAdminAPI(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	if err := s.mon.SetEnabledBy(endpointID(fleetModels[0].name, "groq"), false, "the admin API, from 10.0.0.7:5123"); err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	shown := render(m, 140, 40)
	if r := row(t, shown, "groq"); !strings.Contains(r, "off (admin)") {
		t.Errorf("row reads %q", r)
	}
	if !strings.Contains(shown, "turned off by the admin API, from 10.0.0.7:5123") {
		t.Errorf("nothing says who turned it off:\n%s", shown)
	}
}

// An endpoint silent to a request in flight for far longer than its first
// tokens take reads "silent", and its reason says what the router does with
// it; once it answers, healthy again.
func TestSilentEndpointShows(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	groq := endpointID(fleetModels[0].name, "groq")
	for range 10 {
		s.mon.Record(groq, provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: time.Second, OutputTokens: 10})
	}
	s.mon.Sent(groq)
	s.clock.Advance(2 * time.Second)
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	shown := render(m, 200, 40)
	if r := row(t, shown, "groq"); !strings.Contains(r, "◐ silent 2s") || !strings.Contains(r, "no answer for 2s") {
		t.Errorf("row reads %q", r)
	}
	s.mon.Answered(groq)
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	if r := row(t, render(m, 200, 40), "groq"); !strings.Contains(r, "● healthy") || strings.Contains(r, "silent") {
		t.Errorf("once answered, the row reads %q", r)
	}
}

// The header sets what routing delivered against the best single provider.
func TestHeaderShowsRoutedAgainstBestSingle(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	model := fleetModels[0].name
	for i := range 10 {
		s.mon.Record(endpointID(model, "groq"), provider.Outcome{Class: provider.ClassOK, Duration: time.Second})
		if i < 2 {
			s.mon.Record(endpointID(model, "cerebras"), provider.Outcome{Class: provider.ClassServer})
		}
		s.mon.RecordRequest(model, provider.ClassOK)
	}
	s.mon.Record(endpointID(model, "groq"), provider.Outcome{Class: provider.ClassServer}) // groq alone: 10/11
	s.clock.Advance(time.Second)
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	header := flat(ansi.Strip(m.headerView(s.clock.Now())))
	for _, want := range []string{"0.2 req/s", "routed 100%", "vs best single 90.9% (groq)"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
}

// The header says where the API listens when there is room, and drops it
// first when there is not.
func TestHeaderShowsTheAPI(t *testing.T) {
	s := newStack(t, fleetModels)
	o := s.options()
	o.API = "127.0.0.1:8788"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := New(ctx, o).(*model)
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	for w, want := range map[int]bool{160: true, 80: false} {
		m.Update(tea.WindowSizeMsg{Width: w, Height: 40})
		header := ansi.Strip(m.headerView(s.clock.Now()))
		if got := strings.Contains(header, "API 127.0.0.1:8788"); got != want {
			t.Errorf("at %d columns the header %q shows the API: %v, want %v", w, header, got, want)
		}
		if !strings.Contains(header, "health") {
			t.Errorf("at %d columns the header lost the health age: %q", w, header)
		}
	}
}

// The mouse selects a provider row, focuses the console, and the wheel
// moves the selection.
func TestMouse(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Update(tea.MouseClickMsg{X: 5, Y: m.screen.rows.y + 2, Button: tea.MouseLeft})
	if m.providers.cursor != 2 {
		t.Fatalf("a click on the third row selected row %d", m.providers.cursor)
	}
	m.Update(tea.MouseWheelMsg{X: 5, Y: m.screen.rows.y, Button: tea.MouseWheelDown})
	if m.providers.cursor != 3 {
		t.Fatalf("the wheel moved to row %d, want 3", m.providers.cursor)
	}
	m.Update(tea.MouseClickMsg{X: 5, Y: m.screen.console.y + 1, Button: tea.MouseLeft})
	if m.focus != focusConsole {
		t.Fatal("a click on the console did not focus it")
	}
	m.Update(tea.MouseClickMsg{X: 5, Y: m.screen.rows.y, Button: tea.MouseLeft})
	if m.focus != focusProviders || m.providers.cursor != 0 {
		t.Fatalf("a click on the first row: focus %d, row %d", m.focus, m.providers.cursor)
	}
	screen := ansi.Strip(m.View().Content)
	lines := strings.Split(screen, "\n")
	if !strings.Contains(lines[m.screen.rows.y], "groq") || !strings.HasPrefix(lines[m.screen.console.y], "Console") {
		t.Fatalf("the layout's positions are off:\nrow %d: %q\nconsole %d: %q", m.screen.rows.y, lines[m.screen.rows.y], m.screen.console.y, lines[m.screen.console.y])
	}
}

// The header keeps the request rate and routed-vs-best to the last: it
// gives up the clock, the health's age, then the long form of
// routed-vs-best, in that order.
func TestHeaderGivesWayInSteps(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	s.outage(t, 30*time.Second)
	o := s.options()
	o.API = "127.0.0.1:8788"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := New(ctx, o).(*model)
	for _, c := range []struct {
		w          int
		want, lack []string
	}{
		{200, []string{"model 1/2 (m)", "req/s", "routed 100% vs best single 100% (groq)", "demo 0.5/s", "API 127.0.0.1:8788", "health just now", "12:01:51"}, nil},
		{150, []string{"req/s", "routed 100% vs best single", "demo 0.5/s", "API", "health just now"}, []string{"12:01:51", "model 1/2"}},
		{120, []string{"req/s", "routed 100% / best 100%", "demo 0.5/s", "API"}, []string{"vs best single", "12:01:51"}},
		{80, []string{"req/s", "routed 100% / best 100%"}, []string{"API", "12:01:51"}},
	} {
		m.Update(tea.WindowSizeMsg{Width: c.w, Height: 40})
		header := ansi.Strip(m.headerView(s.clock.Now()))
		if n := ansi.StringWidth(header); n > c.w {
			t.Errorf("at %d columns the header is %d wide: %q", c.w, n, header)
		}
		for _, want := range c.want {
			if !strings.Contains(header, want) {
				t.Errorf("at %d columns the header %q lacks %q", c.w, header, want)
			}
		}
		for _, lack := range c.lack {
			if strings.Contains(header, lack) {
				t.Errorf("at %d columns the header %q still has %q", c.w, header, lack)
			}
		}
	}
}

// d switches the demo traffic off and on, says so, and the header follows.
func TestDemoKey(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 40})
	if h := m.footerView(); !strings.Contains(ansi.Strip(h), "d demo") {
		t.Errorf("the help line does not offer d: %q", ansi.Strip(h))
	}
	for _, on := range []bool{false, true} {
		m.Update(tea.KeyPressMsg{Code: 'd', Text: "d"})
		if s.demo.On() != on {
			t.Fatalf("after d the demo is on: %v, want %v", s.demo.On(), on)
		}
		if want := "demo traffic " + onOff(on); m.notice != want {
			t.Errorf("notice %q, want %q", m.notice, want)
		}
		if got := strings.Contains(ansi.Strip(m.headerView(s.clock.Now())), "demo 0.5/s"); got != on {
			t.Errorf("the header shows the demo: %v, want %v", got, on)
		}
	}
	o := s.options()
	o.Demo = nil
	m2 := New(t.Context(), o).(*model)
	m2.Update(tea.WindowSizeMsg{Width: 160, Height: 40})
	m2.Update(tea.KeyPressMsg{Code: 'd', Text: "d"})
	if m2.notice != "" || strings.Contains(ansi.Strip(m2.footerView()), "demo") {
		t.Errorf("without demo traffic d did something: notice %q, help %q", m2.notice, ansi.Strip(m2.footerView()))
	}
}
