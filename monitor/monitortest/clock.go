// Package monitortest helps tests of the monitor and of the packages that
// read it, as net/http/httptest helps tests of HTTP code.
package monitortest

import (
	"slices"
	"sync"
	"time"
)

// Start is where every Clock begins: a fixed instant, so views rendered from
// it are the same on every run.
var Start = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when the test moves it, with timers
// (routing.Clock). It is safe for concurrent use.
//
// By default a timer lets its time pass at once: NewTimer moves the clock
// forward by its duration and fires, so that a router's retry pauses cost
// a test nothing and still show on the clock. After HoldTimers, timers wait
// until Advance or Set reaches them, and WaitForTimers tells when code under
// test is waiting on one: a test can then step through a hedge's delay
// exactly.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	hold    bool
	timers  []*timer
	changed chan struct{} // closed and replaced when a timer is added
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a clock standing at Start.
func NewClock() *Clock { return NewClockAt(Start) }

// NewClockAt returns a clock standing at t.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t, changed: make(chan struct{})} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d, firing the timers it passes.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveTo(c.t.Add(d))
}

// Set moves the clock to t, firing the timers it passes.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveTo(t)
}

func (c *Clock) moveTo(t time.Time) {
	c.t = t
	c.timers = slices.DeleteFunc(c.timers, func(tm *timer) bool {
		if tm.at.After(t) {
			return false
		}
		tm.c <- t
		return true
	})
}

// HoldTimers makes timers wait for Advance or Set from now on.
func (c *Clock) HoldTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = true
}

// NewTimer returns a channel that receives when the clock reaches d from
// now, and a function that stops the timer; see Clock for when that is.
func (c *Clock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &timer{at: c.t.Add(d), c: make(chan time.Time, 1)}
	if !c.hold {
		c.moveTo(tm.at)
		tm.c <- c.t
		return tm.c, func() bool { return false }
	}
	c.timers = append(c.timers, tm)
	close(c.changed)
	c.changed = make(chan struct{})
	return tm.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := len(c.timers)
		c.timers = slices.DeleteFunc(c.timers, func(o *timer) bool { return o == tm })
		return len(c.timers) < n
	}
}

// WaitForTimers returns once at least n held timers are waiting.
func (c *Clock) WaitForTimers(n int) {
	for {
		c.mu.Lock()
		waiting, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if waiting >= n {
			return
		}
		<-changed
	}
}
