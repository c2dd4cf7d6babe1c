package monitor

import "time"

// EventKind is what happened to an endpoint.
type EventKind uint8

// The kinds of event.
const (
	EventOutageStarted   EventKind = iota // the endpoint went down
	EventOutageEnded                      // a trial succeeded: the endpoint is back
	EventDegradedStarted                  // availability or latency fell below its threshold
	EventDegradedEnded                    // and recovered
	EventBreakerOpened                    // the breaker opened (or re-opened after a failed trial)
	EventBreakerHalfOpen                  // the backoff ended: one trial may go
	EventBreakerClosed                    // the trial succeeded
	EventCooldownStarted                  // rate limited: skipped until Retry-After
	EventTurnedOff                        // the user turned the endpoint off
	EventTurnedOn                         // and on again
)

var eventNames = [...]string{
	"outage_started", "outage_ended", "degraded", "recovered", "breaker_opened",
	"breaker_half_open", "breaker_closed", "cooldown_started", "turned_off", "turned_on",
}

// String returns the kind's stable snake_case name.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// MarshalText makes a kind read as its name in JSON.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *EventKind) UnmarshalText(b []byte) error {
	i, err := NameIndex(eventNames[:], b, "kind of event")
	*k = EventKind(i)
	return err
}

// Event is one change in an endpoint's health.
type Event struct {
	Seq      uint64    `json:"seq"` // grows by one per event, across all endpoints
	At       time.Time `json:"at"`
	Endpoint string    `json:"endpoint"`
	Provider string    `json:"provider"`
	Kind     EventKind `json:"kind"`
	Detail   string    `json:"detail"` // why, in a few plain words
	// Replica is the replica of the fleet the change was first made on,
	// when another one's (see Monitor.Apply); "" for this one's own.
	Replica string `json:"replica,omitempty"`
}

// eventLog keeps the most recent events in a ring.
type eventLog struct {
	ring []Event
	next uint64 // Seq of the next event
	// kept is the last copy recent made, while no event came since: every
	// snapshot until the next event shares it, which is why nobody may
	// modify a snapshot's Events.
	kept []Event
}

func (l *eventLog) add(e Event) {
	e.Seq = l.next
	l.next++
	l.ring[e.Seq%uint64(len(l.ring))] = e
	l.kept = nil
}

// recent returns a copy of the kept events, oldest first: the same copy
// until another event comes, as most snapshots see no new event and a full
// log is a few hundred events.
func (l *eventLog) recent() []Event {
	if l.kept != nil {
		return l.kept
	}
	n := min(l.next, uint64(len(l.ring)))
	out := make([]Event, 0, n)
	for s := l.next - n; s < l.next; s++ {
		out = append(out, l.ring[s%uint64(len(l.ring))])
	}
	l.kept = out
	return out
}
