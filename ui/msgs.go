package ui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/monitor"
	"switchboard/routing"
)

// renderEvery is the period of the render tick, on which the costly parts of
// the view (the sparklines) are redrawn from the latest state.
const renderEvery = 250 * time.Millisecond

// dataEvery is how often new health figures reach the screen: twice a
// second is live to the eye, and an idle dashboard composes no more often.
// Keys, clicks and streamed answers show at once.
const dataEvery = 500 * time.Millisecond

// FPS caps how often the program flushes frames to the terminal. The data
// moves on the render tick, keys echo within 1/FPS s, and an unchanged frame
// costs a comparison; fewer flushes are fewer wake-ups of an idle dashboard.
const FPS = 20

// snapshotMsg carries a health snapshot from the monitor.
type snapshotMsg struct{ snap *monitor.Snapshot }

// snapshotsClosedMsg says the subscription ended (its context is done).
type snapshotsClosedMsg struct{}

// renderTickMsg asks for the cached drawings to be rebuilt if stale.
type renderTickMsg struct{}

// enabledMsg reports the end of a SetEnabled call, with the snapshot taken
// right after it so that the table shows the change at once.
type enabledMsg struct {
	id   string
	on   bool
	snap *monitor.Snapshot
	err  error
}

// streamMsg is news from the request in flight: text streamed since the
// last message, and once done, the result. id tells apart a request the
// user has since cancelled or replaced.
type streamMsg struct {
	id    int
	delta string
	done  bool
	res   *routing.Result
	err   error
}

// waitForSnapshot blocks on the subscription and delivers the next snapshot.
// The root model re-arms it after each one, as glow does with its channels.
func waitForSnapshot(ch <-chan *monitor.Snapshot) tea.Cmd {
	return func() tea.Msg {
		s, ok := <-ch
		if !ok {
			return snapshotsClosedMsg{}
		}
		return snapshotMsg{snap: s}
	}
}

// tracedMsg is the trace of a request that came through the API.
type tracedMsg struct{ Routed }

func traced(r Routed) tea.Msg { return tracedMsg{r} }

// loggedMsg is a line the process logged.
type loggedMsg struct{ line string }

func logged(line string) tea.Msg { return loggedMsg{line: line} }

// waitFor waits for the next value on ch (a trace of an API request, a
// logged line) and delivers it as msg makes it, until ctx ends.
func waitFor[T any](ctx context.Context, ch <-chan T, msg func(T) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		select {
		case v, ok := <-ch:
			if ok {
				return msg(v)
			}
		case <-ctx.Done():
		}
		return nil
	}
}

// renderTick schedules the next render tick.
func renderTick() tea.Cmd {
	return tea.Tick(renderEvery, func(time.Time) tea.Msg { return renderTickMsg{} })
}
