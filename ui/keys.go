package ui

import "charm.land/bubbles/v2/key"

// keyMap holds every key binding of the dashboard, in one place, with the
// words the help shows for each.
type keyMap struct {
	// On the dashboard (the console is not focused).
	Move      key.Binding // Up and Down as one entry of the short help
	Up        key.Binding
	Down      key.Binding
	Toggle    key.Binding
	NextModel key.Binding
	PrevModel key.Binding
	Fault     key.Binding
	Demo      key.Binding
	Replicas  key.Binding // in a fleet only
	Focus     key.Binding
	Help      key.Binding
	Quit      key.Binding

	// In the console.
	History, Commands key.Binding // help for the console's own keys
	Send              key.Binding
	Leave             key.Binding

	// Anywhere.
	ScrollUp   key.Binding
	ScrollDown key.Binding
	ForceQuit  key.Binding
}

func newKeyMap(faults, demo bool) keyMap {
	k := keyMap{
		Move:      key.NewBinding(key.WithKeys("up", "down", "k", "j"), key.WithHelp("↑↓", "move")),
		Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Toggle:    key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "on/off")),
		NextModel: key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "next model")),
		PrevModel: key.NewBinding(key.WithKeys("M"), key.WithHelp("M", "previous model")),
		Fault:     key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "fault")),
		Demo:      key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "demo traffic on/off")),
		Replicas:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "fleet's replicas")),
		Focus:     key.NewBinding(key.WithKeys("/", "i", "enter", "tab", "shift+tab"), key.WithHelp("/ i enter tab", "ask")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),

		Send: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		// Help only: the console handles ↑↓ itself, and a line starting with /
		// is a command rather than a prompt.
		History:  key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓", "history")),
		Commands: key.NewBinding(key.WithKeys("/"), key.WithHelp("/sort latency…", "options (/help)")),
		Leave:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back (cancels a request)")),

		ScrollUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scroll answer up")),
		ScrollDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scroll answer down")),
		ForceQuit:  key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
	// Without simulated providers there is nothing to force; a disabled
	// binding neither matches nor shows in the help.
	k.Fault.SetEnabled(faults)
	k.Demo.SetEnabled(demo)
	k.Replicas.SetEnabled(false) // until a snapshot says this is a replica in a fleet
	return k
}

// bindingHelp is the help of one focus: the short line and the full columns.
// It satisfies help.KeyMap.
type bindingHelp struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h bindingHelp) ShortHelp() []key.Binding  { return h.short }
func (h bindingHelp) FullHelp() [][]key.Binding { return h.full }

// terse is a copy of b with a shorter help label, for the one-line help.
func terse(b key.Binding, keys, desc string) key.Binding {
	b.SetHelp(keys, desc)
	return b
}

// dashboardHelp is the help while the provider table has the keys.
func (k keyMap) dashboardHelp() bindingHelp {
	return bindingHelp{
		short: []key.Binding{k.Move, k.Toggle, k.Fault, terse(k.Demo, "d", "demo"), terse(k.NextModel, "m", "model"),
			terse(k.Replicas, "r", "replicas"), terse(k.Focus, "/", "ask"), k.Help, k.Quit},
		full: [][]key.Binding{
			{k.Up, k.Down, k.Toggle, k.Fault, k.Demo},
			{k.NextModel, k.PrevModel, k.Replicas, k.Focus},
			{k.ScrollUp, k.ScrollDown, k.Help, k.Quit},
		},
	}
}

// consoleHelp is the help while the prompt is being typed.
func (k keyMap) consoleHelp() bindingHelp {
	return bindingHelp{
		short: []key.Binding{k.Send, k.Leave, k.ScrollUp, k.ForceQuit},
		full: [][]key.Binding{
			{k.Send, k.Leave, k.History},
			{k.Commands, k.ScrollUp, k.ScrollDown, k.ForceQuit},
		},
	}
}
