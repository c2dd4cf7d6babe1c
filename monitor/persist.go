package monitor

import (
	"fmt"
	"time"

	"switchboard/monitor/history"
)

// History keeps minute aggregates across restarts, so that 1-day
// availability and the hourly bars survive one. *history.Store is one.
type History interface {
	Append(ms []history.Minute) error
	Since(t time.Time) ([]history.Minute, error)
}

// flushEvery is how often Run writes the minutes to history. The minute in
// progress is written too, and overwritten the next time, so at most a
// minute is lost to a crash.
const flushEvery = time.Minute

// restore loads the last day from history into the minute and hour windows.
// Percentiles are not kept on disk, so only counts come back.
func (m *Monitor) restore() error {
	now := m.opts.Clock.Now()
	ms, err := m.opts.History.Since(now.Add(-24 * time.Hour))
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rec := range ms {
		i, ok := m.index[rec.Endpoint]
		if !ok {
			continue // an endpoint no longer in the configuration
		}
		h := m.health[i]
		c := countsOf(rec)
		h.minute.merge(now, rec.Start, &minuteSlot{c: c})
		h.hour.merge(now, rec.Start, &c)
	}
	m.version++
	return nil
}

// Flush writes every endpoint's minutes since the last flush, the last one
// flushed included (it may have been written while in progress), as far back
// as the minute window reaches. A failure turns history off for the rest of
// the run, with the reason in every snapshot: health tracking goes on
// without it.
func (m *Monitor) Flush() {
	m.mu.Lock()
	if m.opts.History == nil || m.historyErr != "" {
		m.mu.Unlock()
		return
	}
	now := m.opts.Clock.Now()
	var ms []history.Minute
	var through int64
	for _, h := range m.health {
		h.minute.advance(now)
		through = h.minute.cur
		for id := max(m.flushed, h.minute.cur-int64(len(h.minute.slots))+1); id <= h.minute.cur; id++ {
			if s := h.minute.at(id); s != nil && s.c.requests > 0 {
				ms = append(ms, minuteOf(h.ep.ID, time.Unix(0, id*int64(time.Minute)).UTC(), &s.c))
			}
		}
	}
	m.flushed = through
	m.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	if err := m.opts.History.Append(ms); err != nil {
		m.mu.Lock()
		m.historyErr = fmt.Sprintf("history is off: %v", err)
		m.version++
		m.mu.Unlock()
	}
}

func countsOf(rec history.Minute) counts {
	c := counts{requests: rec.Requests, probes: rec.Probes, successes: rec.Successes,
		provErrors: rec.ProviderErrors, userErrors: rec.UserErrors, rateLimited: rec.RateLimited,
		latencySum: rec.LatencySum, ttftSum: rec.TTFTSum, ttftN: rec.TTFTCount, tokens: rec.OutputTokens}
	copy(c.errors[:], rec.Errors) // classes added since the record was written stay 0
	return c
}

func minuteOf(id string, start time.Time, c *counts) history.Minute {
	return history.Minute{Endpoint: id, Start: start, Requests: c.requests, Probes: c.probes,
		Successes: c.successes, ProviderErrors: c.provErrors, UserErrors: c.userErrors, RateLimited: c.rateLimited,
		Errors: append([]uint32(nil), c.errors[:]...), LatencySum: c.latencySum, TTFTSum: c.ttftSum,
		TTFTCount: c.ttftN, OutputTokens: c.tokens}
}
