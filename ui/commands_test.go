package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestSlashCommands(t *testing.T) {
	var o consoleOptions
	for _, tc := range []struct{ line, want string }{
		{"/sort latency", "options: sort latency"},
		{"/only groq, together", "options: sort latency · only groq,together"},
		{"/fallbacks off", "no fallbacks"},
		{"/max-price 0.5 0.8", "max $0.5/M in, $0.8/M out"},
		{"/max-latency 1.5", "prefer first token ≤1.5s"},
		{"/hedge 800ms", "hedge after 800ms"},
		{"/models anthropic/claude-sonnet-4", "then anthropic/claude-sonnet-4"},
		{"/sort off", "options: no fallbacks · only groq,together"},
		{"/reset", "options cleared"},
		{"/options", "no options"},
	} {
		got, err := o.apply(tc.line)
		if err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/sort speed", "/fallbacks maybe", "/max-price cheap", "/hedge soon", "/quant fp7", "/frobnicate"} {
		if _, err := o.apply(bad); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// A slash command sets options that the next prompt's trace shows in force,
// and ↑ brings back what was sent.
func TestConsoleOptionsReachTheRouter(t *testing.T) {
	s := newStack(t, fleetModels)
	m, cancel := newTestDashboard(t, s)
	d := drive(t, m, cancel, 140, 40)
	d.press("/")
	d.typeText("/ignore groq,cerebras,together,deepinfra,fireworks")
	d.press("enter")
	if !strings.Contains(d.m.notice, "ignore groq") || d.m.noticeBad {
		t.Fatalf("notice %q", d.m.notice)
	}
	ex := d.ask("hello")
	if ex.err != nil {
		t.Fatal(ex.err)
	}
	if ex.res.Provider != "novita" || len(ex.res.Trace.Options.Provider.Ignore) != 5 {
		t.Fatalf("served by %s with options %+v", ex.res.Provider, ex.res.Trace.Options.Provider)
	}
	if screen := d.screen(); !strings.Contains(screen, "Console (ignore groq,cerebras") {
		t.Errorf("the console title does not show the options:\n%s", screen)
	}
	d.m.Update(tea.KeyPressMsg{Code: tea.KeyUp})
	if got := d.m.console.input.Value(); got != "hello" {
		t.Errorf("↑ brought back %q", got)
	}
	d.m.Update(tea.KeyPressMsg{Code: tea.KeyUp})
	if got := d.m.console.input.Value(); !strings.HasPrefix(got, "/ignore") {
		t.Errorf("↑↑ brought back %q", got)
	}
	d.m.Update(tea.KeyPressMsg{Code: tea.KeyDown})
	d.m.Update(tea.KeyPressMsg{Code: tea.KeyDown})
	if got := d.m.console.input.Value(); got != "" {
		t.Errorf("↓↓ should be back at the empty line, have %q", got)
	}
}
