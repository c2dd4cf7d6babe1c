package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"switchboard/human"
)

// waiters are the attempts waiting for their first token, per endpoint,
// that another endpoint could take over from: when the endpoint is found
// silent (see Silent), all but the oldest of them give up and the requests
// go on, so that a provider that goes silent costs the requests in flight
// one wait, the oldest's, not one each. The oldest waits on: it is the
// endpoint's chance to show it answers, and its own deadline ends it
// otherwise. Every attempt of the request path comes through here, so the
// lists keep their room and hold values: once warm, adding and taking off
// allocate nothing.
type waiters struct {
	mu   sync.Mutex
	at   map[string][]waiter
	last uint64 // the last waiter's number
}

// waiter is one attempt waiting.
type waiter struct {
	n      uint64 // its number, which takes it off again
	start  time.Time
	cancel context.CancelCauseFunc
}

// add registers an attempt at endpoint id, started at start, that cancel
// ends, and returns its number for remove.
func (ws *waiters) add(id string, start time.Time, cancel context.CancelCauseFunc) uint64 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.at == nil {
		ws.at = map[string][]waiter{}
	}
	ws.last++
	ws.at[id] = append(ws.at[id], waiter{n: ws.last, start: start, cancel: cancel})
	return ws.last
}

// remove takes waiter n off endpoint id, once it has its first token or
// has ended; again is a no-op.
func (ws *waiters) remove(id string, n uint64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	list := ws.at[id]
	if i := slices.IndexFunc(list, func(w waiter) bool { return w.n == n }); i >= 0 {
		ws.at[id] = slices.Delete(list, i, i+1)
	}
}

// giveUp ends every attempt waiting at endpoint id but the oldest, which
// has been left unanswered for silent. It ends them while they are still
// on the list, so that one taken off at its first token is not ended.
func (ws *waiters) giveUp(id string, silent time.Duration) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	list := ws.at[id]
	if len(list) < 2 {
		return
	}
	oldest := slices.MinFunc(list, func(a, b waiter) int { return a.start.Compare(b.start) }).n
	for _, w := range list {
		if w.n != oldest {
			w.cancel(&leftUnanswered{silent: silent})
		}
	}
}

// leftUnanswered is the cause an attempt gives up with when its endpoint
// is found silent to the attempts before it.
type leftUnanswered struct{ silent time.Duration }

func (l *leftUnanswered) Error() string {
	return fmt.Sprintf("gave up: the endpoint left the requests sent to it unanswered for %s, far past its usual first token; an earlier one waits on",
		human.Duration(l.silent.Round(time.Millisecond)))
}

// isLeftUnanswered reports whether err is, or wraps, a leftUnanswered.
func isLeftUnanswered(err error) bool {
	var l *leftUnanswered
	return errors.As(err, &l)
}
