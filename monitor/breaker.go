package monitor

import "time"

// BreakerState is the state of an endpoint's circuit breaker.
type BreakerState uint8

// The breaker's states.
const (
	BreakerClosed   BreakerState = iota // traffic flows
	BreakerOpen                         // an outage: no traffic until the backoff ends
	BreakerHalfOpen                     // the backoff ended: exactly one trial may go
)

var breakerNames = [...]string{"closed", "open", "half-open"}

// String returns the state's name.
func (b BreakerState) String() string {
	if int(b) < len(breakerNames) {
		return breakerNames[b]
	}
	return "unknown"
}

// breaker is one endpoint's circuit breaker. Every change of state starts a
// new generation; an outcome carries the generation it was admitted in, and
// only outcomes of the current generation move the breaker, so a slow
// request admitted before the breaker opened cannot close it again. The
// caller passes the time in and holds the monitor's lock.
type breaker struct {
	state   BreakerState
	gen     uint64
	backoff time.Duration // the current open period
	until   time.Time     // open: when the next trial may go
	trial   bool          // half-open: the one trial is out
	trialBy time.Time     // half-open: when an unanswered trial is given up on
}

// open trips the breaker. From half-open (a failed trial) the backoff
// doubles, up to max; from closed it starts at initial.
func (b *breaker) open(now time.Time, initial, max time.Duration) {
	if b.state == BreakerHalfOpen && b.backoff > 0 {
		b.backoff = min(2*b.backoff, max)
	} else {
		b.backoff = initial
	}
	b.set(BreakerOpen)
	b.until = now.Add(b.backoff)
}

// close ends an outage after a successful trial.
func (b *breaker) close() {
	b.set(BreakerClosed)
	b.backoff = 0
}

// tick makes the time-driven changes: an open breaker whose backoff has
// ended becomes half-open, and a trial that never reported back is given up
// on, so that another may go. It reports whether the state changed.
func (b *breaker) tick(now time.Time) bool {
	switch {
	case b.state == BreakerOpen && !now.Before(b.until):
		b.set(BreakerHalfOpen)
		return true
	case b.state == BreakerHalfOpen && b.trial && !now.Before(b.trialBy):
		b.trial = false
	}
	return false
}

// admit asks to send one request or probe. A closed breaker admits all; a
// half-open one admits exactly one trial until that trial reports back (or
// is given up on at now+trialTimeout); an open one admits none.
func (b *breaker) admit(now time.Time, trialTimeout time.Duration) (gen uint64, ok bool) {
	switch b.state {
	case BreakerClosed:
		return b.gen, true
	case BreakerHalfOpen:
		if !b.trial {
			b.trial, b.trialBy = true, now.Add(trialTimeout)
			return b.gen, true
		}
	}
	return b.gen, false
}

// release returns an unfinished trial's budget (its caller went away).
func (b *breaker) release() {
	if b.state == BreakerHalfOpen {
		b.trial = false
	}
}

func (b *breaker) set(s BreakerState) {
	b.state = s
	b.gen++
	b.trial = false
}
