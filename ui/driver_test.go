package ui

import (
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// driver runs a model the way Bubble Tea does, without a terminal: every
// command runs in its own goroutine and its message comes back to Update on
// the test's goroutine. The test decides when to take messages, so it can
// act between any two of them, and waits for conditions on the model
// instead of sleeping.
type driver struct {
	t      *testing.T
	m      *model
	cancel func()
	w, h   int
	msgs   chan tea.Msg
	done   chan struct{}
	wg     sync.WaitGroup
	quit   bool
}

// drive starts m at w x h. At the end of the test it cancels the
// dashboard's context and waits for every command it ran to return.
func drive(t *testing.T, m *model, cancel func(), w, h int) *driver {
	d := &driver{t: t, m: m, cancel: cancel, w: w, h: h, msgs: make(chan tea.Msg), done: make(chan struct{})}
	t.Cleanup(d.stop)
	d.exec(m.Init())
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	return d
}

func (d *driver) stop() {
	d.cancel()
	close(d.done)
	d.wg.Wait()
}

func (d *driver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		msg := cmd()
		select {
		case d.msgs <- msg:
		case <-d.done:
		}
	}()
}

// send hands msg to Update, or to the runtime's own handling as Bubble Tea
// would: batches run, quit ends the program.
func (d *driver) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
		return
	case tea.QuitMsg:
		d.quit = true
		return
	}
	if d.quit {
		return
	}
	_, cmd := d.m.Update(msg)
	d.exec(cmd)
}

// press sends one key by its name: "enter", "esc", "space", "ctrl+c", or a
// single character.
func (d *driver) press(name string) {
	d.send(keyPress(name))
}

// typeText types s one character at a time.
func (d *driver) typeText(s string) {
	for _, r := range s {
		d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func keyPress(name string) tea.KeyPressMsg {
	switch name {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(name)
	if len(r) != 1 {
		panic("keyPress: unknown key " + name)
	}
	return tea.KeyPressMsg{Code: r[0], Text: name}
}

// waitFor handles messages until cond holds. The deadline only turns a
// hang into a failure with the screen attached; nothing waits on it.
func (d *driver) waitFor(what string, cond func(m *model) bool) {
	d.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !cond(d.m) {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-deadline.C:
			d.t.Fatalf("timed out waiting for %s; screen:\n%s", what, d.screen())
		}
	}
}

// screen is the current frame without styling, sparklines drawn.
func (d *driver) screen() string {
	if d.m.providers.dirty {
		d.m.providers.redraw()
	}
	return ansi.Strip(d.m.View().Content)
}
