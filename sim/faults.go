package sim

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"sync"
	"time"
)

// defaultErrorStatuses are the failures of Profile.ErrorRate when the
// profile names none: the three a real provider most often answers.
var defaultErrorStatuses = []int{
	http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
}

// slowFactor is how much ModeSlow stretches the time to first token.
const slowFactor = 10

// A slow start (Profile.SlowStart, ModeSlowStart) is a first token far past
// the profile's normal: slowStartFactor times its TTFT p95, and at least
// minSlowStart, past the floor of a few seconds under which a router would
// not call a first token late. For every profile of the shipped fleet it
// stays under the usual first-token caps (30 s), so the answer does come,
// late: what should leave it is a router that knows the endpoint's normal,
// not the cap.
const (
	slowStartFactor = 8
	minSlowStart    = 10 * time.Second
)

// slowStartOf is the default slow start of a profile with TTFT l.
func slowStartOf(l Latency) time.Duration {
	return max(slowStartFactor*max(l.P95, l.P50), minSlowStart)
}

// defaultSilentClose is how long a silent close (Profile.SilentClose,
// ModeSilentClose) holds a request: long enough that no client takes it
// for a quick reset, under the usual first-token caps so that the client
// sees the close rather than its own limit.
const defaultSilentClose = 10 * time.Second

// shortRetryAfter is the Retry-After of ModeRateLimitedShort: short enough
// that waiting it out is worth it to a caller who asked for this model.
const shortRetryAfter = 2 * time.Second

// shortLimiter is ModeRateLimitedShort's state: a window opened by a 429,
// and whether a request was let through since it closed.
type shortLimiter struct {
	mu       sync.Mutex
	until    time.Time // the end of the last window; zero before the first
	answered bool      // a request went through since until
}

// admit decides one request at now: 0 lets it through, else it is
// answered 429 with the returned Retry-After.
func (l *shortLimiter) admit(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case now.Before(l.until):
		return l.until.Sub(now)
	case !l.until.IsZero() && !l.answered:
		l.answered = true
		return 0
	}
	l.until, l.answered = now.Add(shortRetryAfter), false
	return shortRetryAfter
}

// reset forgets the window, so that the next request is limited.
func (l *shortLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until, l.answered = time.Time{}, false
}

// breakKind is what happens to an answer after its first tokens.
type breakKind uint8

const (
	breakNone  breakKind = iota // the answer runs to its end
	breakCut                    // the connection is dropped mid-answer
	breakStall                  // the server goes silent until the client leaves
	breakError                  // an error event ends the stream (Profile.StreamErrorRate)
)

// plan is every random choice for one chat request. All of it is drawn at
// once, with the same number of draws whatever the outcome, so the sequence
// of outcomes depends only on the seed and the order of requests.
type plan struct {
	limited    bool          // answer 429 with Retry-After, before any header
	retryAfter time.Duration // that Retry-After, if not the profile's
	status     int           // else, if not 0, answer this error status before any header
	// silentClose, if not 0, is how long the request is held before its
	// connection is closed with nothing written.
	silentClose time.Duration
	ttft        time.Duration // wait before the first token
	brk         breakKind
	breakAt     float64 // fraction of the answer's tokens sent before a break
	// garbled puts one garbage event in the stream, after garbleAt of the
	// answer's tokens (as a fraction, like breakAt).
	garbled  bool
	garbleAt float64
}

// decide draws the plan of one valid chat request in mode; continuation
// is whether it continues a prefill.
func (s *Server) decide(mode Mode, continuation bool) plan {
	s.rngMu.Lock()
	failDraw := s.rng.Float64()
	statusDraw := s.rng.IntN(len(s.statuses))
	breakDraw := s.rng.Float64()
	breakAt := s.rng.Float64()
	z := s.rng.NormFloat64()
	// The later faults draw from a stream of their own, so that adding
	// them changed no outcome of an existing seed.
	slowDraw := s.rng2.Float64()
	closeDraw := s.rng2.Float64()
	garbleDraw := s.rng2.Float64()
	garbleAt := s.rng2.Float64()
	s.rngMu.Unlock()

	p := &s.profile
	pl := plan{ttft: p.TTFT.sample(z), breakAt: breakAt, garbleAt: garbleAt}
	switch {
	case mode == ModeRateLimitedShort:
		pl.retryAfter = s.short.admit(s.opts.Now())
		pl.limited = pl.retryAfter > 0
	case mode == ModeRateLimited || failDraw < p.RateLimitRate:
		pl.limited = true
	case failDraw < p.RateLimitRate+p.ErrorRate:
		pl.status = s.statuses[statusDraw]
	}
	if mode == ModeSilentClose || closeDraw < p.SilentCloseRate {
		pl.silentClose = cmp.Or(p.SilentClose, defaultSilentClose)
	}
	switch {
	case mode == ModeStall:
		pl.brk = breakStall
	case mode == ModeCut && !continuation:
		pl.brk = breakCut
	case mode == ModeStreamError && !continuation:
		pl.brk = breakError
	case breakDraw < p.CutRate:
		pl.brk = breakCut
	case breakDraw < p.CutRate+p.StallRate:
		pl.brk = breakStall
	case breakDraw < p.CutRate+p.StallRate+p.StreamErrorRate:
		pl.brk = breakError
	}
	switch {
	case mode == ModeSlow:
		pl.ttft *= slowFactor
	case mode == ModeSlowStart || slowDraw < p.SlowStartRate:
		pl.ttft = cmp.Or(p.SlowStart, slowStartOf(p.TTFT))
	}
	pl.garbled = mode == ModeMalformed || garbleDraw < p.MalformedRate
	return pl
}

// broken carries out the plan's cut or stall (an error event is the
// caller's to send), once what goes before it is
// out, and says how the request ended; ok is false for an answer that runs
// to its end.
func (pl plan) broken(ctx context.Context) (out outcome, ok bool) {
	switch pl.brk {
	case breakCut:
		return outcomeCut, true
	case breakStall:
		<-ctx.Done()
		return outcomeStalled, true
	case breakError:
		return outcomeErrored, true
	}
	return outcomeOK, false
}

// refusal is the error the plan answers with, in dialect d; nil for none.
func (pl plan) refusal(d dialect, p *Profile) *httpError {
	switch {
	case pl.limited:
		return d.rateLimited(p.Name, cmp.Or(pl.retryAfter, p.RetryAfter))
	case pl.status != 0:
		return d.injected(pl.status)
	}
	return nil
}

// unavailable reports whether the server is down right now, forced or
// scripted. It reads Options.Now so tests can move through a schedule.
func (s *Server) unavailable() bool {
	if s.Mode() == ModeDown {
		return true
	}
	return outageAt(s.profile.Outages, s.opts.Now().Sub(s.started))
}

// outageAt reports whether any scripted outage covers the given time since
// the server started.
func outageAt(outages []Outage, elapsed time.Duration) bool {
	for _, o := range outages {
		since := elapsed - o.Offset
		if since < 0 {
			continue
		}
		if o.Every > 0 {
			since %= o.Every
		}
		if since < o.For {
			return true
		}
	}
	return false
}

// z95 is the standard normal quantile of 0.95.
const z95 = 1.6448536269514722

// maxZ bounds a draw so a wide distribution cannot ask for an absurd wait;
// four standard deviations is past the 99.99th percentile.
const maxZ = 4

// sample maps a standard normal draw z onto the log-normal distribution with
// the given median and 95th percentile. A P95 at or below P50 means a fixed
// latency, which keeps tests exact.
func (l Latency) sample(z float64) time.Duration {
	if l.P50 <= 0 {
		return 0
	}
	if l.P95 <= l.P50 {
		return l.P50
	}
	z = math.Max(-maxZ, math.Min(maxZ, z))
	sigma := math.Log(float64(l.P95)/float64(l.P50)) / z95
	return time.Duration(float64(l.P50) * math.Exp(sigma*z))
}
