package main

import (
	"context"
	"log/slog"

	"switchboard/monitor"
)

// healthMessages say what each kind of health event means to an operator
// reading serve's log, who has no dashboard and perhaps no /metrics.
var healthMessages = map[monitor.EventKind]string{
	monitor.EventOutageStarted:   "endpoint down",
	monitor.EventOutageEnded:     "endpoint back",
	monitor.EventDegradedStarted: "endpoint degraded",
	monitor.EventDegradedEnded:   "endpoint recovered",
	monitor.EventBreakerOpened:   "breaker opened",
	monitor.EventBreakerHalfOpen: "breaker half-open",
	monitor.EventBreakerClosed:   "breaker closed",
	monitor.EventCooldownStarted: "endpoint cooling down",
	monitor.EventTurnedOff:       "endpoint turned off",
	monitor.EventTurnedOn:        "endpoint turned on",
}

// healthLevel is how loud an event is: a warning when the endpoint stops
// taking requests or serves them worse, information otherwise.
func healthLevel(k monitor.EventKind) slog.Level {
	switch k {
	case monitor.EventOutageStarted, monitor.EventBreakerOpened, monitor.EventDegradedStarted, monitor.EventCooldownStarted:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// logHealth logs every health event on log, at the time it happened,
// until snaps is closed. It reads the events from the snapshots the
// monitor publishes (see Monitor.Subscribe), which hold the most recent
// ones: if more happened between two snapshots than those hold, it says
// how many it missed.
func logHealth(ctx context.Context, snaps <-chan *monitor.Snapshot, log *slog.Logger) {
	var next uint64 // the Seq of the first event not yet logged
	for snap := range snaps {
		for _, e := range snap.Events {
			if e.Seq < next {
				continue
			}
			if e.Seq > next {
				log.Warn("health events missed", "count", e.Seq-next)
			}
			next = e.Seq + 1
			r := slog.NewRecord(e.At, healthLevel(e.Kind), healthMessages[e.Kind], 0)
			r.AddAttrs(slog.String("provider", e.Provider), slog.String("endpoint", e.Endpoint),
				slog.String("event", e.Kind.String()))
			if e.Detail != "" {
				r.AddAttrs(slog.String("detail", e.Detail))
			}
			if log.Handler().Enabled(ctx, r.Level) {
				_ = log.Handler().Handle(ctx, r)
			}
		}
	}
}
