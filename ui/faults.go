package ui

import (
	"fmt"
	"slices"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// faultForcer is the fault modes forced on simulated providers: what each
// shows, the user's wishes not confirmed yet, and the periodic read that
// notices changes made elsewhere (the simulator's control API). It talks
// to Faults only in commands, and takes their answers in its own messages.
type faultForcer struct {
	f         Faults // nil: nothing is simulated
	modes     []string
	providers []string // every provider of every model, once each

	shown map[string]string // provider -> mode as shown, simulated providers only
	want  map[string]string // provider -> mode asked for, until confirmed

	// Forced faults run in commands, which Bubble Tea may run in any order;
	// a sequence number lets only the latest wish win, and a generation,
	// grown with every wish, marks a read begun before it as stale.
	seq       uint64
	latest    *latestWins
	gen       uint64
	lastFetch time.Time
	fetching  bool
}

// faultModesMsg carries the forced fault of every simulated provider.
type faultModesMsg struct {
	modes map[string]string // provider -> mode, simulated providers only
	gen   uint64            // the forcer's gen when the read began
}

// faultSetMsg reports the end of a SetMode call.
type faultSetMsg struct {
	provider, mode string
	err            error
}

// newFaultForcer reads the current modes of these providers from f, which
// may be nil.
func newFaultForcer(f Faults, providers []string, now time.Time) *faultForcer {
	ff := &faultForcer{f: f, providers: providers, shown: map[string]string{}, want: map[string]string{},
		latest: &latestWins{applied: map[string]uint64{}}, lastFetch: now}
	if f != nil {
		ff.modes = f.Modes()
		ff.shown = readFaults(f, providers)
	}
	return ff
}

// mode returns the provider's mode as shown, and whether it is simulated.
func (ff *faultForcer) mode(provider string) (string, bool) {
	if ff == nil {
		return "", false
	}
	m, ok := ff.shown[provider]
	return m, ok
}

// cycle forces the next mode on provider. It returns the command that does
// it and what to tell the user; bad says the wish was refused.
func (ff *faultForcer) cycle(provider string) (cmd tea.Cmd, notice string, bad bool) {
	if ff.f == nil {
		return nil, "", false
	}
	cur, simulated := ff.shown[provider]
	if !simulated {
		return nil, provider + " is a real provider: faults can only be forced on simulated ones", true
	}
	next := nextMode(ff.modes, cur)
	ff.gen++
	ff.shown[provider] = next
	ff.want[provider] = next
	ff.seq++
	seq, f, latest := ff.seq, ff.f, ff.latest
	return func() tea.Msg {
		var err error
		if !latest.do("fault/"+provider, seq, func() { err = f.SetMode(provider, next) }) {
			return nil // a later wish already went through
		}
		return faultSetMsg{provider: provider, mode: next, err: err}
	}, fmt.Sprintf("%s forced to %s", provider, next), false
}

// set takes the end of a SetMode call; on failure it returns what to tell
// the user and a command that reads the modes again.
func (ff *faultForcer) set(msg faultSetMsg, now time.Time) (tea.Cmd, string) {
	if want, ok := ff.want[msg.provider]; ok && want == msg.mode {
		delete(ff.want, msg.provider)
	}
	if msg.err == nil {
		return nil, ""
	}
	return ff.fetch(now), fmt.Sprintf("could not force %s on %s: %v", msg.mode, msg.provider, msg.err)
}

// read takes freshly read modes, unless a wish was made since the read
// began, and keeps the user's wishes not confirmed yet. It reports whether
// it took them.
func (ff *faultForcer) read(msg faultModesMsg) bool {
	ff.fetching = false
	if msg.gen != ff.gen {
		return false
	}
	modes := msg.modes
	for p, want := range ff.want {
		if modes[p] == want {
			delete(ff.want, p)
		} else if _, sim := modes[p]; sim {
			modes[p] = want
		}
	}
	ff.shown = modes
	return true
}

// faultRefresh is how often forced modes are read again, in case something
// else (the simulator's control API) changed them.
const faultRefresh = 2 * time.Second

// refetch reads the modes again if faultRefresh has passed since the last
// read and none is under way.
func (ff *faultForcer) refetch(now time.Time) tea.Cmd {
	if ff.f == nil || ff.fetching || now.Sub(ff.lastFetch) < faultRefresh {
		return nil
	}
	return ff.fetch(now)
}

func (ff *faultForcer) fetch(now time.Time) tea.Cmd {
	if ff.f == nil {
		return nil
	}
	ff.fetching, ff.lastFetch = true, now
	f, ps, gen := ff.f, ff.providers, ff.gen
	return func() tea.Msg { return faultModesMsg{modes: readFaults(f, ps), gen: gen} }
}

// nextMode is the mode after cur in modes, wrapping to the first.
func nextMode(modes []string, cur string) string {
	if len(modes) == 0 {
		return "normal"
	}
	i := slices.Index(modes, cur)
	return modes[(i+1)%len(modes)]
}

// readFaults asks f for the mode of each provider; only simulated ones are
// in the result.
func readFaults(f Faults, providers []string) map[string]string {
	modes := make(map[string]string, len(providers))
	for _, p := range providers {
		if mode, sim := f.Mode(p); sim {
			modes[p] = mode
		}
	}
	return modes
}

// latestWins runs, per key, only calls newer than the last one run, so
// that commands finishing out of order cannot undo a later wish.
type latestWins struct {
	mu      sync.Mutex
	applied map[string]uint64
}

func (l *latestWins) do(key string, seq uint64, f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.applied[key] {
		return false
	}
	l.applied[key] = seq
	f()
	return true
}
