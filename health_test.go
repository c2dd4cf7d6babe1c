package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
)

// Each event is logged once, at its own time, however many snapshots
// repeat it; events that fell out of the monitor's ring between two
// snapshots are counted as missed.
func TestLogHealth(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	ev := func(seq uint64, k monitor.EventKind, detail string) monitor.Event {
		return monitor.Event{Seq: seq, At: at.Add(time.Duration(seq) * time.Second), Endpoint: "m@p", Provider: "p", Kind: k, Detail: detail}
	}
	snaps := make(chan *monitor.Snapshot, 3)
	snaps <- &monitor.Snapshot{Events: []monitor.Event{ev(0, monitor.EventOutageStarted, "3 errors in a row")}}
	snaps <- &monitor.Snapshot{Events: []monitor.Event{ev(0, monitor.EventOutageStarted, "3 errors in a row"), ev(1, monitor.EventBreakerOpened, "")}}
	snaps <- &monitor.Snapshot{Events: []monitor.Event{ev(5, monitor.EventOutageEnded, "back after 5s")}}
	close(snaps)
	var b strings.Builder
	h := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			a.Value = slog.StringValue(a.Value.Time().Format(time.TimeOnly))
		}
		return a
	}})
	logHealth(t.Context(), snaps, slog.New(h))
	want := `time=15:00:00 level=WARN msg="endpoint down" provider=p endpoint=m@p event=outage_started detail="3 errors in a row"
time=15:00:01 level=WARN msg="breaker opened" provider=p endpoint=m@p event=breaker_opened
level=WARN msg="health events missed" count=3
time=15:00:05 level=INFO msg="endpoint back" provider=p endpoint=m@p event=outage_ended detail="back after 5s"
`
	got := b.String()
	// The missed line is stamped now; its time is not the test's.
	lines := strings.Split(got, "\n")
	if len(lines) > 2 {
		_, lines[2], _ = strings.Cut(lines[2], " ")
	}
	if got = strings.Join(lines, "\n"); got != want {
		t.Errorf("logged:\n%s\nwant:\n%s", got, want)
	}
}
