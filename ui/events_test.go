package ui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
	"testing"
	"time"

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
	}}, later)
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

func TestErrorsByClassSparklines(t *testing.T) {
	st := newStyles(true)
	var ms []monitor.MinutePoint
	for i := range 4 {
		var p monitor.MinutePoint
		p.Errors[provider.ClassStall] = i       // 0 1 2 3
		p.Errors[provider.ClassServer] = 4 - i  // 4 3 2 1
		p.Errors[provider.ClassRateLimited] = 1 // 1 1 1 1
		p.Errors[provider.ClassAuth] = i % 2    // the fourth class: left out
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
