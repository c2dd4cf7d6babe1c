package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
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
		got, err := o.apply(tc.line, "m", nil)
		if err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/sort speed", "/fallbacks maybe", "/max-price cheap", "/hedge soon", "/quant fp7", "/frobnicate"} {
		if _, err := o.apply(bad, "m", nil); err == nil {
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

// /order, /only and /ignore take OpenRouter's spellings of a provider (any
// case) and refuse a name that no provider of the model has, saying which
// one was meant; a refused command leaves the options as they were.
func TestSlashCommandProviderNames(t *testing.T) {
	s := newStack(t, fleetModels)
	llama := fleetModels[0].name
	var o consoleOptions
	if got, err := o.apply("/order GROQ,Together", llama, s.router.ResolveProviders); err != nil || !strings.Contains(got, "order groq,together") {
		t.Fatalf("/order GROQ,Together: %q, %v", got, err)
	}
	_, err := o.apply("/only deepinfr", llama, s.router.ResolveProviders)
	if err == nil || !strings.Contains(err.Error(), `did you mean "deepinfra"?`) {
		t.Fatalf("/only deepinfr: %v", err)
	}
	if _, err := o.apply("/ignore anthropic", llama, s.router.ResolveProviders); err == nil ||
		!strings.Contains(err.Error(), `"anthropic" is not a provider of `+llama) {
		t.Fatalf("/ignore anthropic (not a provider of Llama): %v", err)
	}
	if _, err := o.apply("/sort fastest", llama, s.router.ResolveProviders); err == nil {
		t.Fatal("/sort fastest was accepted")
	}
	if got := o.String(); !strings.Contains(got, "order groq,together") || strings.Contains(got, "only") ||
		strings.Contains(got, "ignore") || strings.Contains(got, "sort") {
		t.Fatalf("refused commands changed the options: %q", got)
	}
	// A fallback model's providers count as the request's too.
	if _, err := o.apply("/models anthropic/claude-sonnet-4", llama, s.router.ResolveProviders); err != nil {
		t.Fatal(err)
	}
	if _, err := o.apply("/ignore anthropic", llama, s.router.ResolveProviders); err != nil {
		t.Fatalf("/ignore anthropic with Claude as a fallback model: %v", err)
	}
}

// testConsole is a console of w×h cells on its own, outside a dashboard.
func testConsole(w, h int) *console {
	c := newConsole(&programContext{styles: newStyles(true), now: time.Now})
	c.setSize(w, h)
	return c
}

// /help lists every command the console takes, in the transcript's place;
// the keys scroll it and esc closes it, giving other keys back.
func TestHelpListsEveryCommand(t *testing.T) {
	c := testConsole(80, 8)
	said, err := c.command("/help", nil, "m")
	if err != nil || !strings.Contains(said, "esc closes") || !c.help {
		t.Fatalf("/help said %q, %v; the list is open: %v", said, err, c.help)
	}
	list := ansi.Strip(c.out.GetContent())
	for _, sc := range slashCommands {
		if !strings.Contains(list, "/"+sc.name) || !strings.Contains(flat(list), flat(sc.does)) {
			t.Errorf("the list has no /%s (%s):\n%s", sc.name, sc.does, list)
		}
		// Every command listed is one the console takes.
		var o consoleOptions
		if _, err := o.set("/" + sc.name + " off"); err != nil && strings.HasPrefix(err.Error(), "no command") {
			t.Errorf("/%s is listed but not taken: %v", sc.name, err)
		}
	}
	if !strings.Contains(ansi.Strip(c.view(time.Now())), "esc closes") {
		t.Errorf("the console's title does not say how to close the list:\n%s", c.view(time.Now()))
	}

	if c.helpKey(keyPress("a")) {
		t.Error("a letter was taken by the list, not typed")
	}
	for _, k := range []string{"pgdown", "down"} {
		at := c.out.YOffset()
		if !c.helpKey(keyPress(k)) || c.out.YOffset() <= at {
			t.Errorf("%s did not scroll the list down (offset %d, then %d)", k, at, c.out.YOffset())
		}
	}
	for _, k := range []string{"up", "pgup"} {
		at := c.out.YOffset()
		if !c.helpKey(keyPress(k)) || c.out.YOffset() >= at {
			t.Errorf("%s did not scroll the list up (offset %d, then %d)", k, at, c.out.YOffset())
		}
	}
	if !c.helpKey(keyPress("esc")) || c.help || strings.Contains(c.out.GetContent(), "/max-latency") {
		t.Errorf("esc left the list open: %v\n%s", c.help, c.out.GetContent())
	}
	if c.helpKey(keyPress("esc")) {
		t.Error("esc with the list closed was taken by it")
	}
}

// A provider name that is not one of the model's is refused with the name
// it is nearest to, or the names there are, and the options stay as they
// were; a command that is not one is refused with the nearest command.
func TestUnknownNamesSuggest(t *testing.T) {
	s := newStack(t, routedModels)
	c := testConsole(80, 8)
	for _, tc := range []struct{ line, want string }{
		{"/order chaep", `/order: no provider "chaep" for test/routed; did you mean cheap?`},
		{"/only mid,stedy", `/only: no provider "stedy" for test/routed; did you mean steady?`},
		{"/ignore zzz", `/ignore: no provider "zzz" for test/routed; its providers: cheap, mid, steady`},
		{"/sortt price", "no command /sortt; did you mean /sort? (/help lists them)"},
	} {
		if _, err := c.command(tc.line, s.router, "test/routed"); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.line, err, tc.want)
		}
	}
	if got := c.opts.String(); got != "no options: the model's defaults apply" {
		t.Errorf("a refused command changed the options: %s", got)
	}
	if said, err := c.command("/order Mid", s.router, "test/routed"); err != nil || said != "options: order mid" {
		t.Errorf("/order Mid: %q, %v", said, err)
	}
}
