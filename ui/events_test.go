package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"switchboard/monitor"
	"switchboard/provider"
	"switchboard/routing"
)

// The event log merges the monitor's events of the model's endpoints with
// what the console's requests went through, newest first.
func TestEventLog(t *testing.T) {
	s := newStack(t, fleetModels)
	model := fleetModels[0].name
	for range 3 {
		s.mon.Record(endpointID(model, "fireworks"), provider.Outcome{Class: provider.ClassServer})
	}
	s.mon.Record(endpointID(fleetModels[1].name, "anthropic"), provider.Outcome{Class: provider.ClassTimeout}) // another model
	p := &eventsPane{ctx: &programContext{styles: newStyles(true)}, width: 60, height: 10}
	later := s.clock.Now().Add(time.Second)
	p.addTrace(&routing.Trace{Served: model + "@groq", Attempts: []routing.Attempt{
		{Endpoint: model + "@together", Provider: "together", Outcome: "stream_cut"},
		{Endpoint: model + "@groq", Provider: "groq", Outcome: "ok", Hedge: true},
	}}, later, "")
	eps := s.router.Endpoints(model)
	var got []string
	for _, e := range p.entries(s.mon.Snapshot(), eps) {
		got = append(got, e.provider+" "+e.text)
	}
	want := []string{"together failed (stream_cut): fell back", "groq won a hedged race",
		"fireworks down: 3 errors in a row (last server)", "fireworks breaker open: first trial in 5s"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := p.view(s.mon.Snapshot(), eps); strings.Count(v, "\n") != p.height-1 {
		t.Errorf("the pane is %d lines, want %d", strings.Count(v, "\n")+1, p.height)
	}
}

// The wheel scrolls the log back; scrolled back it keeps still while new
// entries arrive, and back at the top it follows them again.
func TestEventLogScrolls(t *testing.T) {
	s := newStack(t, fleetModels)
	m, _ := newTestDashboard(t, s)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	p := m.events
	if p.width == 0 {
		t.Fatal("no event log at 160x48")
	}
	model := fleetModels[0].name
	fail := func(i int) {
		p.addTrace(&routing.Trace{Attempts: []routing.Attempt{{Endpoint: model + "@groq", Provider: "groq",
			Outcome: fmt.Sprintf("server_error_%02d", i)}}}, s.clock.Now().Add(time.Duration(i)*time.Second), "")
	}
	for i := range 40 {
		fail(i)
	}
	shown := func() []string {
		return strings.Split(ansi.Strip(p.view(m.snap, m.providers.endpoints)), "\n")
	}
	wheel := func(b tea.MouseButton, n int) {
		for range n {
			m.Update(tea.MouseWheelMsg{X: m.console.width + 2, Y: m.screen.console.y + 1, Button: b})
		}
	}
	if got := shown(); !strings.Contains(got[1], "server_error_39") {
		t.Fatalf("the newest is not on top: %q", got[1])
	}
	wheel(tea.MouseWheelDown, 3)
	got := shown()
	if !strings.Contains(got[0], "3 newer") || !strings.Contains(got[1], "server_error_36") {
		t.Fatalf("after 3 turns down: %q, %q", got[0], got[1])
	}
	fail(40)
	if got := shown(); !strings.Contains(got[0], "4 newer") || !strings.Contains(got[1], "server_error_36") {
		t.Errorf("a new entry moved the scrolled log: %q, %q", got[0], got[1])
	}
	wheel(tea.MouseWheelDown, 100)
	if got := shown(); !strings.Contains(got[len(got)-1], "server_error_00") {
		t.Errorf("scrolled to the end, the last line is %q", got[len(got)-1])
	}
	wheel(tea.MouseWheelUp, 100)
	fail(41)
	if got := shown(); strings.Contains(got[0], "newer") || !strings.Contains(got[1], "server_error_41") {
		t.Errorf("back at the top the log does not follow: %q, %q", got[0], got[1])
	}
	if m.console.out.YOffset() != 0 {
		t.Error("the wheel over the event log scrolled the answer")
	}
}

func TestErrorsByClassSparklines(t *testing.T) {
	st := newStyles(true)
	var ms []monitor.MinutePoint
	for i := range 4 {
		var p monitor.MinutePoint
		p.Errors[provider.ClassStall] = i       // 0 1 2 3
		p.Errors[provider.ClassServer] = 4 - i  // 4 3 2 1
		p.Errors[provider.ClassRateLimited] = 1 // 1 1 1 1
		p.Errors[provider.ClassAuth] = i % 2    // the fourth class: left out
		p.Errors[provider.ClassCanceled] = 9    // no failure: left out
		ms = append(ms, p)
	}
	got := ansi.Strip(errorsByClass(st, ms))
	want := "errors (30m): server █▇▅▃ 10 · stall  ▄▆█ 6 · rate_limited ████ 4" // ceiling: one error still shows
	if got != want {
		t.Fatalf("%q\nwant %q", got, want)
	}
	if got := ansi.Strip(errorsByClass(st, ms[:0])); got != "errors (30m): none" {
		t.Fatalf("%q", got)
	}
}

// Requests routed outside the console (through the API, or by the demo
// traffic) show in the event log too, each marked with where it came from.
func TestEventLogShowsAPIRequests(t *testing.T) {
	s := newStack(t, fleetModels)
	o := s.options()
	traces := make(chan Routed, 2)
	o.Traces = traces
	ctx, cancel := context.WithCancel(t.Context())
	m := New(ctx, o).(*model)
	d := drive(t, m, cancel, 160, 48)
	llama := fleetModels[0].name
	m.selectModel(slices.Index(m.models, llama))
	for _, via := range []string{"API", "demo"} {
		failed := map[string]string{"API": "together", "demo": "cerebras"}[via]
		traces <- Routed{Via: via, Trace: &routing.Trace{Served: llama + "@groq", Attempts: []routing.Attempt{
			{Endpoint: llama + "@" + failed, Provider: failed, Outcome: "overloaded"},
			{Endpoint: llama + "@groq", Provider: "groq", Outcome: "ok"}}}}
		d.waitFor("the "+via+"'s fallback in the event log", func(m *model) bool {
			for _, e := range m.events.entries(m.snap, m.providers.endpoints) {
				if e.provider == failed && e.via == via && e.text == "failed (overloaded): fell back" {
					return true
				}
			}
			return false
		})
		if v := ansi.Strip(m.events.view(m.snap, m.providers.endpoints)); !strings.Contains(v, via+": "+failed+" failed (overloaded)") {
			t.Errorf("the event log does not show the %s's:\n%s", via, v)
		}
	}
}

// A line the process logged (through Options.Logs) shows in the event log
// of every model, newest first, and is kept within bounds.
func TestEventLogShowsLoggedLines(t *testing.T) {
	s := newStack(t, fleetModels)
	logs := make(chan string, 1)
	o := s.options()
	o.Logs = logs
	m := New(t.Context(), o).(*model)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	logs <- "Unsolicited response received on idle HTTP channel starting with \"HTTP/1.1 200\""
	m.Update(waitFor(t.Context(), o.Logs, logged)())
	for i := range 2 {
		m.selectModel(i)
		v := ansi.Strip(m.events.view(m.snap, m.providers.endpoints))
		if !strings.Contains(v, "log: Unsolicited response received") {
			t.Errorf("model %d: the event log lacks the logged line:\n%s", i, v)
		}
	}
	for i := range maxRouted + 5 {
		m.events.addLog(fmt.Sprint("line ", i), s.clock.Now())
	}
	if n := len(m.events.logged); n != maxRouted {
		t.Errorf("%d logged lines kept, want %d", n, maxRouted)
	}
}
