package provider

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestWatchdog runs the timers on synctest's fake clock: each step sleeps to
// an instant and checks whether the request's context was canceled, and why.
func TestWatchdog(t *testing.T) {
	limits := watchdogLimits{connect: time.Second, first: 3 * time.Second, stall: 2 * time.Second, firstWhat: "no first token"}
	type step struct {
		at       time.Duration
		do       func(w *watchdog)
		canceled Class // ClassOK: not canceled at this instant
	}
	connected := func(w *watchdog) { w.connected() }
	content := func(w *watchdog) { w.progress(time.Now()) }
	// A chunk without tokens is no progress: the stream does not tell the
	// watchdog of it (stall_test.go has such streams).
	empty := func(w *watchdog) {}
	hold := func(w *watchdog) { w.hold() }
	release := func(w *watchdog) { w.release() }
	contentHeld := func(w *watchdog) { w.progress(time.Now()); w.hold() }
	tests := []struct {
		name   string
		limits watchdogLimits
		steps  []step
	}{
		{"connect limit", limits, []step{
			{at: 999 * time.Millisecond},
			{at: time.Second, canceled: ClassConnect},
		}},
		{"first token limit", limits, []step{
			{at: 500 * time.Millisecond, do: connected},
			{at: 2999 * time.Millisecond},
			{at: 3 * time.Second, canceled: ClassTimeout},
		}},
		{"empty chunks are not a first token", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: empty},
			{at: 3 * time.Second, canceled: ClassTimeout},
		}},
		{"stall limit restarts on every chunk with tokens", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: content},
			{at: 3900 * time.Millisecond, do: content},
			{at: 5800 * time.Millisecond, do: content},
			{at: 7799 * time.Millisecond},
			{at: 7800 * time.Millisecond, canceled: ClassStall},
		}},
		{"chunks without tokens do not restart the stall limit", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: content},
			{at: 3 * time.Second, do: empty},
			{at: 3900 * time.Millisecond, do: empty},
			{at: 3999 * time.Millisecond},
			{at: 4 * time.Second, canceled: ClassStall},
		}},
		{"no first-token limit", watchdogLimits{stall: time.Second}, []step{
			{at: time.Hour},
			{at: time.Hour, do: content},
			{at: time.Hour + time.Second, canceled: ClassStall},
		}},
		{"no stall limit", watchdogLimits{first: time.Second}, []step{
			{at: 500 * time.Millisecond, do: content},
			{at: time.Hour},
		}},
		// A caller that holds a chunk (a gateway's client reading slowly)
		// is not the upstream's silence.
		{"a chunk held past the stall limit puts it off to its release", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: contentHeld},
			{at: 10 * time.Second},
			{at: 12 * time.Second, do: release},
			{at: 13999 * time.Millisecond},
			{at: 14 * time.Second, canceled: ClassStall},
		}},
		{"a chunk held briefly leaves the stall limit as it was", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: contentHeld},
			{at: 3 * time.Second, do: release},
			{at: 3999 * time.Millisecond},
			{at: 4 * time.Second, canceled: ClassStall},
		}},
		{"a role held past the first-token limit puts it off to its release", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: time.Second, do: hold},
			{at: 30 * time.Second},
			{at: 31 * time.Second, do: release},
			{at: 33999 * time.Millisecond},
			{at: 34 * time.Second, canceled: ClassTimeout},
		}},
		{"held again after a release", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: contentHeld},
			{at: 5 * time.Second, do: release},
			{at: 5500 * time.Millisecond, do: hold},
			{at: 20 * time.Second, do: release},
			{at: 21999 * time.Millisecond},
			{at: 22 * time.Second, canceled: ClassStall},
		}},
		// The stall timer is armed once, at the first content; each time it
		// fires it waits out what is left of the window since the last
		// token, and only a whole window without one is a stall.
		{"a window that ran out while held, after a token since it was armed", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: 2 * time.Second, do: content},
			{at: 3500 * time.Millisecond, do: contentHeld},
			{at: 5500 * time.Millisecond},
			{at: 8 * time.Second, do: release},
			{at: 9999 * time.Millisecond},
			{at: 10 * time.Second, canceled: ClassStall},
		}},
		{"stopped while streaming", limits, []step{
			{at: 100 * time.Millisecond, do: connected},
			{at: time.Second, do: content},
			{at: 2500 * time.Millisecond, do: content},
			{at: 2600 * time.Millisecond, do: func(w *watchdog) { w.stop() }},
			{at: time.Hour},
		}},
		{"stopped", limits, []step{
			{at: 0, do: func(w *watchdog) { w.stop() }},
			{at: time.Hour},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				start := time.Now()
				w := startWatchdog(cancel, tt.limits)
				defer w.stop()
				for _, s := range tt.steps {
					<-time.After(s.at - time.Since(start)) // fake time: the bubble jumps to it
					synctest.Wait()
					if s.do != nil {
						s.do(w)
					}
					var dc *deadlineCause
					got := ClassOK
					if errors.As(context.Cause(ctx), &dc) {
						got = dc.class
					}
					if got != s.canceled {
						t.Fatalf("at %v: canceled as %v (%v), want %v", s.at, got, context.Cause(ctx), s.canceled)
					}
				}
			})
		})
	}
}

func TestDeadlineCauseIsDeadline(t *testing.T) {
	c := &deadlineCause{class: ClassStall, what: "no chunk after the last", limit: time.Second}
	if !errors.Is(c, context.DeadlineExceeded) || c.Error() != "no chunk after the last within 1s" {
		t.Errorf("cause %q", c)
	}
}
