package ui

import (
	"strings"
	"testing"

	"switchboard/monitor"
	"switchboard/routing"
)

// routedModels has prices far apart, so that the weighted pick all but
// always starts with the cheapest enabled provider (and the seeded router
// makes it always).
var routedModels = []testModel{
	{name: "test/routed", display: "Routed", endpoints: []testEndpoint{
		{"cheap", 0.01, 0.01}, {"mid", 0.05, 0.05}, {"steady", 5, 5},
	}},
}

// row is the screen line of a provider's row.
func row(t *testing.T, screen, provider string) string {
	t.Helper()
	for _, l := range strings.Split(screen, "\n") {
		if f := strings.Fields(strings.TrimPrefix(l, "▸")); len(f) > 0 && f[0] == provider {
			return l
		}
	}
	t.Fatalf("no row for %s on screen:\n%s", provider, screen)
	return ""
}

// flat joins the words of s with single spaces, so that a check does not
// depend on where a line wrapped.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// ask focuses the console, sends prompt and waits for the answer or failure.
func (d *driver) ask(prompt string) *exchange {
	d.t.Helper()
	if d.m.focus != focusConsole {
		d.press("/")
	}
	d.typeText(prompt)
	d.press("enter")
	d.waitFor("the answer to "+prompt, func(m *model) bool {
		return m.console.ex.prompt == prompt && !m.console.busy()
	})
	return &d.m.console.ex
}

func candidate(t *testing.T, tr *routing.Trace, provider string) routing.Candidate {
	t.Helper()
	for _, c := range tr.Candidates {
		if c.Provider == provider {
			return c
		}
	}
	t.Fatalf("no candidate %s in trace", provider)
	return routing.Candidate{}
}

// TestToggleThenFaultThenFallback drives the dashboard with keys only: turn
// the cheapest provider off, ask, and see another serve with the first
// skipped as turned off by the user; then force the next one down, ask,
// and see the router fall back.
func TestToggleThenFaultThenFallback(t *testing.T) {
	s := newStack(t, routedModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 30)
	cheapID := endpointID("test/routed", "cheap")

	// space on the first row: the row says so at once, before any command ran.
	d.press("space")
	if r := row(t, d.screen(), "cheap"); !strings.Contains(r, "off (you)") || !strings.Contains(r, " off ") {
		t.Fatalf("after space the cheap row reads %q, want it off (you)", r)
	}
	d.waitFor("the monitor to disable cheap", func(*model) bool {
		st, _ := s.mon.Snapshot().Endpoint(cheapID)
		return st.State == monitor.Disabled && !st.Enabled
	})
	d.waitFor("the dashboard's snapshot to agree", func(m *model) bool {
		st, _ := m.snap.Endpoint(cheapID)
		return !st.Enabled && len(m.providers.wantEnabled) == 0
	})

	ex := d.ask("which provider answers?")
	if ex.err != nil {
		t.Fatalf("send failed: %v", ex.err)
	}
	if ex.res.Provider == "cheap" || ex.res.Provider == "" {
		t.Fatalf("served by %q, want another provider than the one turned off", ex.res.Provider)
	}
	if c := candidate(t, ex.res.Trace, "cheap"); c.Tier != routing.TierSkipped || c.Why != "turned off by the user" {
		t.Errorf("cheap in the trace: tier %s, why %q", c.Tier, c.Why)
	}
	screen := flat(d.screen())
	for _, want := range []string{
		"served by " + ex.res.Provider,
		"cheap skipped: turned off by the user", // the summary, in plain words
		"candidate", "attempt",                  // both tables
		ex.res.Provider + " ›", // the answer, under who served it
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}

	// Back to the table, down to mid, force it down.
	d.press("esc")
	d.press("down")
	d.press("f")
	if r := row(t, d.screen(), "mid"); !strings.Contains(r, "down") {
		t.Fatalf("after f the mid row reads %q, want its fault shown", r)
	}
	d.waitFor("the simulator of mid to be down", func(*model) bool {
		mode, _ := s.faults.Mode("mid")
		return mode == "down"
	})

	ex = d.ask("and now?")
	if ex.err != nil {
		t.Fatalf("send failed: %v", ex.err)
	}
	tr := ex.res.Trace
	if len(tr.Attempts) < 2 || tr.Attempts[0].Provider != "mid" || tr.Attempts[0].Outcome == "ok" {
		t.Fatalf("attempts %+v: want mid tried first and failing", tr.Attempts)
	}
	if ex.res.Provider != "steady" {
		t.Errorf("served by %q, want the fallback steady", ex.res.Provider)
	}
	screen = flat(d.screen())
	for _, want := range []string{"steady served after mid failed (" + tr.Attempts[0].Outcome + ")", "served by steady"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if !strings.Contains(tr.Summary(), "mid failed") {
		t.Errorf("summary %q does not tell of the failure", tr.Summary())
	}

	// Two more failures are three in a row: the monitor's rule makes mid
	// down, its row says so, and the next request does not wait on it.
	for _, p := range []string{"again?", "and again?"} {
		if ex := d.ask(p); ex.err != nil {
			t.Fatalf("send failed: %v", ex.err)
		}
	}
	d.waitFor("the row of mid to read down", func(m *model) bool {
		m.Update(snapshotMsg{snap: s.mon.Snapshot()})
		st, _ := m.snap.Endpoint(endpointID("test/routed", "mid"))
		return st.State == monitor.Down
	})
	if r := row(t, d.screen(), "mid"); !strings.Contains(r, "✕ down") {
		t.Errorf("the mid row reads %q, want it down", r)
	}
	if screen := flat(d.screen()); !strings.Contains(screen, "down: 3 errors in a row (last overloaded); next trial in") {
		t.Errorf("the detail line does not give the breaker's next trial:\n%s", screen)
	}
	ex = d.ask("and now, with mid down?")
	if ex.err != nil {
		t.Fatal(ex.err)
	}
	tr = ex.res.Trace
	if got := len(tr.Attempts); got != 1 || tr.Attempts[0].Provider != "steady" {
		t.Fatalf("attempts %+v: mid is down, its breaker open: it must not be tried while steady answers", tr.Attempts)
	}
	if c := candidate(t, tr, "mid"); c.Tier != routing.TierFallback || !strings.Contains(c.Why, "down: 3 errors in a row") {
		t.Errorf("mid in the trace: tier %s, why %q", c.Tier, c.Why)
	}
	if screen := flat(d.screen()); !strings.Contains(screen, "down: 3 errors in a row") {
		t.Errorf("the trace on screen does not say why mid was passed over:\n%s", screen)
	}
}

// TestSecondSendIsRefused: one request at a time; the second is refused
// with a message, and the first still completes.
func TestSecondSendIsRefused(t *testing.T) {
	s := newStack(t, routedModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 30)
	d.press("/")
	d.typeText("first")
	d.press("enter")
	if !m.console.busy() {
		t.Fatal("no request in flight after enter")
	}
	d.typeText("second")
	d.press("enter")
	if !strings.Contains(m.notice, "still running") {
		t.Errorf("notice %q, want a refusal", m.notice)
	}
	if got := m.console.input.Value(); got != "second" {
		t.Errorf("the refused prompt was lost: input %q", got)
	}
	d.waitFor("the first answer", func(m *model) bool { return !m.console.busy() })
	if m.console.ex.prompt != "first" || m.console.ex.phase != phaseDone {
		t.Errorf("exchange %q in phase %d, want first done", m.console.ex.prompt, m.console.ex.phase)
	}
}

// TestStreamShowsThenEscCancels: a stalled stream shows its first tokens
// while still in flight; esc cancels it, leaves the console, and the trace
// still arrives.
func TestStreamShowsThenEscCancels(t *testing.T) {
	s := newStack(t, []testModel{{name: "test/stall", display: "Stall", endpoints: []testEndpoint{{"stuck", 1, 1}}}})
	if err := s.faults.SetMode("stuck", "stall"); err != nil {
		t.Fatal(err)
	}
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 30)
	d.press("/")
	d.typeText("tell me")
	d.press("enter")
	d.waitFor("the first tokens", func(m *model) bool {
		return m.console.ex.phase == phaseStreaming && m.console.ex.answer.Len() > 0
	})
	partial := m.console.ex.answer.String()
	screen := d.screen()
	if !strings.Contains(screen, "answer › ") || !strings.Contains(screen, "▍") || !strings.Contains(screen, "streaming") {
		t.Errorf("the partial answer does not show as streaming:\n%s", screen)
	}
	if !strings.Contains(flat(screen), flat(partial)) {
		t.Errorf("the partial answer %q is not on screen:\n%s", partial, screen)
	}

	d.press("esc")
	if m.console.busy() || m.focus != focusProviders || m.console.ex.phase != phaseCanceled {
		t.Fatalf("after esc: busy %v, focus %d, phase %d", m.console.busy(), m.focus, m.console.ex.phase)
	}
	d.waitFor("the cancelled request's trace", func(m *model) bool { return m.console.ex.res != nil })
	if a := m.console.ex.res.Trace.Attempts; len(a) != 1 || a[0].Outcome != "canceled" {
		t.Errorf("attempts %+v, want one canceled", a)
	}
	if !strings.Contains(d.screen(), "canceled") {
		t.Errorf("screen does not say canceled:\n%s", d.screen())
	}
}

// TestNoProviderLeftShowsError: with every provider off, the routing error
// shows in the console.
func TestNoProviderLeftShowsError(t *testing.T) {
	s := newStack(t, routedModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 30)
	for range 3 {
		d.press("space")
		d.press("down")
	}
	d.waitFor("all three off", func(*model) bool {
		n := 0
		for _, e := range s.mon.Snapshot().Endpoints {
			if !e.Enabled {
				n++
			}
		}
		return n == 3
	})
	ex := d.ask("anyone?")
	if ex.phase != phaseFailed {
		t.Fatalf("phase %d, want failed", ex.phase)
	}
	msg := errorText(ex.err)
	if !strings.Contains(msg, "no provider of test/routed meets the request's requirements") {
		t.Errorf("error %q", msg)
	}
	if screen := flat(d.screen()); !strings.Contains(screen, "✕ no provider of test/routed") || !strings.Contains(screen, "failed after") {
		t.Errorf("screen lacks the error:\n%s", screen)
	}
}

// TestConsoleGolden pins the console's rendering of an answer and its
// trace: the cheapest provider off, the next forced down, the answer from
// the fallback. Everything runs on the fake clock, so timings read "—".
func TestConsoleGolden(t *testing.T) {
	s := newStack(t, routedModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 100, 40)
	d.press("space")
	d.press("down")
	d.press("f")
	d.waitFor("cheap off and mid down", func(*model) bool {
		mode, _ := s.faults.Mode("mid")
		st, _ := s.mon.Snapshot().Endpoint(endpointID("test/routed", "cheap"))
		return mode == "down" && !st.Enabled
	})
	d.ask("why is the sky blue?")
	d.press("esc")
	frame := d.screen()
	checkFrame(t, frame, 100, 40)
	golden(t, "console_100x40", frame)
}

// Before the first answer, the console says when the fleet is simulated,
// so that the sample text of its answers is not taken for a bug.
func TestIdleSaysTheFleetIsSimulated(t *testing.T) {
	for _, simulated := range []bool{false, true} {
		c := newConsole(&programContext{styles: newStyles(true), simulated: simulated})
		c.setSize(100, 10)
		said := strings.Contains(flat(c.out.GetContent()), "Every provider here is simulated: the answers are sample text.")
		if said != simulated {
			t.Errorf("simulated %v: the idle text says so: %v\n%s", simulated, said, c.out.GetContent())
		}
	}
}

// /help, typed in the dashboard, opens the list of commands in the
// console's room (an idle console otherwise gives it to the detail chart);
// esc closes it; a provider the model has not is a notice that suggests
// the nearest.
func TestHelpAndSuggestionsInTheDashboard(t *testing.T) {
	s := newStack(t, routedModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 120, 40)
	idle := m.screen.console.h
	d.press("/")
	d.typeText("/help")
	d.press("enter")
	if screen := d.screen(); !strings.Contains(screen, "/order") || !strings.Contains(screen, "/ignore") || m.screen.console.h <= idle {
		t.Errorf("console %d lines (idle %d); the screen after /help:\n%s", m.screen.console.h, idle, screen)
	}
	d.press("esc")
	if m.console.help || m.screen.console.h != idle {
		t.Errorf("after esc: help open %v, console %d lines, want closed and %d", m.console.help, m.screen.console.h, idle)
	}
	d.typeText("/order stedy")
	d.press("enter")
	if !strings.Contains(m.notice, "did you mean steady?") {
		t.Errorf("notice %q, want a suggestion", m.notice)
	}
}
