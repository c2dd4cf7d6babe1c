package monitor

import (
	"sync"
	"sync/atomic"
	"time"
)

// owed is how long an endpoint has kept the attempts sent to it waiting
// without any answer since it last answered anything: the time during
// which at least one of them was waiting for its first token. An attempt
// that ends without an answer (a lost race, a timeout, a caller gone)
// stops the clock when it was the last one waiting, and the next attempt
// sent starts it again from where it stopped. So a provider that goes
// silent adds up every wait it imposes, however each ended (under hedging,
// a silent provider's attempts may all end as lost races), while one that
// lost a race once and then got no more traffic owes only what that race
// waited, however long it stays idle afterwards: idleness is no evidence
// of silence, and neither is an answer that streams on.
//
// Writers (every attempt's start, first answer and end) take mu, the
// endpoint's own, never the monitor's; the planner reads mark without it,
// for every endpoint of every request.
type owed struct {
	mu      sync.Mutex
	waiting int // attempts sent that have not answered nor ended
	// mark is > 0 while the clock runs: when it started (Unix
	// nanoseconds of the monitor's clock), that is now less what was
	// owed before; < 0 while it stands, nothing waiting: minus what is
	// owed (nanoseconds); 0 when nothing is owed.
	mark atomic.Int64
	// stood is when the clock last stood (Unix nanoseconds): read only
	// while mark says it stands, and written before mark, so that a reader
	// who sees it stand sees when.
	stood atomic.Int64
	// stops counts the times the clock has stood (every attempt waiting
	// having ended unanswered) since it last cleared.
	stops atomic.Int32
}

// sent starts an attempt's wait at now.
func (w *owed) sent(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting++
	switch v := w.mark.Load(); {
	case v == 0:
		w.mark.Store(now.UnixNano())
	case v < 0: // the clock stood: it runs on from what was owed
		w.mark.Store(now.UnixNano() + v)
	}
}

// answered ends a waiting attempt's wait with an answer (a first token,
// or an error it was answered with) at now.
func (w *owed) answered(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting = max(w.waiting-1, 0)
	w.restart(now)
}

// heard clears what is owed at now: the endpoint answered something else
// (a probe), or the breaker opened for its silence. The attempts still
// waiting wait from now.
func (w *owed) heard(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restart(now)
}

// restart clears the clock, and starts it at now for the attempts still
// waiting. w.mu is held.
func (w *owed) restart(now time.Time) {
	w.stops.Store(0)
	if w.waiting > 0 {
		w.mark.Store(now.UnixNano())
	} else {
		w.mark.Store(0)
	}
}

// gaveUp ends a waiting attempt without an answer at now; the clock
// stands once nothing waits. Ends without a start (outcomes recorded by
// hand) are ignored.
func (w *owed) gaveUp(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == 0 {
		return
	}
	w.waiting--
	if v := w.mark.Load(); w.waiting == 0 && v > 0 {
		w.stood.Store(now.UnixNano())
		w.stops.Add(1)
		w.mark.Store(min(v-now.UnixNano(), 0))
	}
}

// at is what is owed at now; lock-free.
func (w *owed) at(now time.Time) time.Duration {
	switch v := w.mark.Load(); {
	case v > 0:
		return max(now.Sub(time.Unix(0, v)), 0)
	case v < 0:
		return time.Duration(-v)
	}
	return 0
}

// standing is how long, at now, the clock has stood: nothing waiting, an
// answer still owed (0 while an attempt waits or nothing is owed); and how
// many times it has stood since it last cleared. Lock-free.
func (w *owed) standing(now time.Time) (time.Duration, int) {
	stops := int(w.stops.Load())
	if w.mark.Load() >= 0 {
		return 0, stops
	}
	return max(now.Sub(time.Unix(0, w.stood.Load())), 0), stops
}
