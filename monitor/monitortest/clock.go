// Package monitortest helps tests of the monitor and of the packages that
// read it, as net/http/httptest helps tests of HTTP code.
package monitortest

import (
	"sync"
	"time"
)

// Start is where every Clock begins: a fixed instant, so views rendered from
// it are the same on every run.
var Start = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// Clock is a monitor.Clock that moves only when the test moves it. It is
// safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at Start.
func NewClock() *Clock { return &Clock{t: Start} }

// NewClockAt returns a clock standing at t.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
