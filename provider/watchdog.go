package provider

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// deadlineCause is the cause a watchdog cancels a request with, so that the
// failure that follows can be classified by which limit was hit.
type deadlineCause struct {
	class Class
	what  string // "no first token", ...
	limit time.Duration
}

func (c *deadlineCause) Error() string { return fmt.Sprintf("%s within %s", c.what, c.limit) }

// Unwrap makes the cause a deadline for code that only asks errors.Is.
func (c *deadlineCause) Unwrap() error { return context.DeadlineExceeded }

// watchdog enforces a request's time limits with timers that cancel its
// context, instead of a goroutine per read: a connect limit until a
// connection is had, then a first-token limit until the first content, then
// a stall limit between chunks. A limit <= 0 is not enforced.
type watchdog struct {
	cancel  context.CancelCauseFunc
	connect *time.Timer // nil when not enforced
	idle    *time.Timer // first token, then stall; nil when neither is enforced
	first   time.Duration
	stall   time.Duration

	// held says whether the stream's caller holds a chunk (between Next
	// returning it and asking for the next): heldNot, heldNow, or
	// heldMissed when the idle limit ran out meanwhile. The limits measure
	// the upstream's silence, not the caller's pace: a gateway whose client
	// reads slowly stops reading the upstream, and that must not make the
	// provider stalled. A limit that runs out while held is put off to the
	// release, with a whole window from there; the upstream's words,
	// buffered meanwhile, are read at once.
	held atomic.Int32
	// draining is set once the answer is over and its body's last bytes
	// are read: the idle timer then bounds that read (see drainFor).
	draining atomic.Bool

	// streaming is set at the first content: from then on the idle timer
	// measures stalls. The timer's function reads it to name the cause.
	streaming atomic.Bool

	// base is when the watchdog started, on the real clock; last is when
	// the last chunk with tokens came, as time since base. Once streaming,
	// a chunk only moves last: the idle timer, armed for a whole stall
	// window at the first content, looks at last when it fires and waits
	// out the rest of the window from there. Resetting the timer at every
	// chunk cost a lock of the runtime's timer heap each, hundreds of
	// times an answer.
	base time.Time
	last atomic.Int64
	// stopped is set by stop: a timer firing then arms itself no more.
	stopped atomic.Bool

	// The causes it cancels with, one per limit: held here, so that a
	// request's watchdog is one allocation, not four.
	connectCause, firstCause, stallCause deadlineCause
}

// watchdogLimits are the limits of one request.
type watchdogLimits struct {
	connect, first, stall time.Duration
	// firstWhat names what the first limit waits for, for the error text.
	firstWhat string
}

// startWatchdog arms the connect and first-token timers of a request whose
// context cancel belongs to.
func startWatchdog(cancel context.CancelCauseFunc, l watchdogLimits) *watchdog {
	w := &watchdog{
		base:         time.Now(),
		cancel:       cancel,
		first:        l.first,
		stall:        l.stall,
		connectCause: deadlineCause{class: ClassConnect, what: "no connection", limit: l.connect},
		firstCause:   deadlineCause{class: ClassTimeout, what: l.firstWhat, limit: l.first},
		stallCause:   deadlineCause{class: ClassStall, what: "no chunk after the last", limit: l.stall},
	}
	if l.connect > 0 {
		w.connect = time.AfterFunc(l.connect, func() { cancel(&w.connectCause) })
	}
	switch {
	case l.first > 0:
		w.idle = time.AfterFunc(l.first, w.fire)
	case l.stall > 0:
		// No first-token limit: arm the timer only at the first content.
		w.idle = time.AfterFunc(time.Hour, w.fire)
		w.idle.Stop()
	}
	return w
}

// The states of watchdog.held.
const (
	heldNot = iota
	heldNow
	heldMissed
)

func (w *watchdog) fire() {
	if w.draining.Load() {
		w.cancel(errRequestOver)
		return
	}
	if w.streaming.Load() && w.stall > 0 && !w.stopped.Load() {
		if rest := w.stall - (time.Since(w.base) - time.Duration(w.last.Load())); rest > 0 {
			w.idle.Reset(rest) // tokens came since the window began
			return
		}
	}
	if w.held.CompareAndSwap(heldNow, heldMissed) || w.held.Load() == heldMissed {
		return // put off to the release
	}
	if w.streaming.Load() {
		w.cancel(&w.stallCause)
	} else {
		w.cancel(&w.firstCause)
	}
}

// connected stops the connect limit; it is called from the transport when a
// connection is ready.
func (w *watchdog) connected() {
	if w.connect != nil {
		w.connect.Stop()
	}
}

// progress records that a chunk with tokens arrived at now (on the real
// clock): the first one ends the first-token limit and starts the stall
// limit, and each one restarts it. A chunk without tokens (a role, usage,
// an empty delta) is not progress, so an upstream that sends nothing else
// is stalled, however fast it sends them.
func (w *watchdog) progress(now time.Time) {
	w.last.Store(int64(now.Sub(w.base)))
	if w.streaming.Load() {
		return // the timer looks at last when it fires
	}
	w.streaming.Store(true)
	if w.idle == nil {
		return
	}
	if w.stall > 0 {
		w.idle.Reset(w.stall)
	} else {
		w.idle.Stop()
	}
}

// hold says the caller has a chunk to deal with: until release, the idle
// limit does not run out.
func (w *watchdog) hold() { w.held.Store(heldNow) }

// release says the caller waits on the upstream again. A limit that ran
// out while it held starts a whole window again.
func (w *watchdog) release() {
	if w.held.Swap(heldNot) != heldMissed || w.idle == nil {
		return
	}
	switch {
	case w.streaming.Load() && w.stall > 0:
		w.idle.Reset(w.stall)
	case !w.streaming.Load() && w.first > 0:
		w.idle.Reset(w.first)
	}
}

// drainFor turns the idle timer into the drain's: the request is over,
// and its context is canceled in d unless stop comes first. It reports
// false when there is no idle timer to turn.
func (w *watchdog) drainFor(d time.Duration) bool {
	if w.idle == nil {
		return false
	}
	w.draining.Store(true)
	w.idle.Reset(d)
	return true
}

// stop disarms every timer. A timer already firing may still cancel the
// context, which is harmless once the request is over.
func (w *watchdog) stop() {
	w.stopped.Store(true)
	if w.connect != nil {
		w.connect.Stop()
	}
	if w.idle != nil {
		w.idle.Stop()
	}
}
