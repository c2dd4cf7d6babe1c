package sim

import (
	"context"
	"math"
	"net/http"
	"time"
)

// defaultErrorStatuses are the failures of Profile.ErrorRate when the
// profile names none: the three a real provider most often answers.
var defaultErrorStatuses = []int{
	http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
}

// slowFactor is how much ModeSlow stretches the time to first token.
const slowFactor = 10

// breakKind is what happens to an answer after its first tokens.
type breakKind uint8

const (
	breakNone  breakKind = iota // the answer runs to its end
	breakCut                    // the connection is dropped mid-answer
	breakStall                  // the server goes silent until the client leaves
)

// plan is every random choice for one chat request. All of it is drawn at
// once, with the same number of draws whatever the outcome, so the sequence
// of outcomes depends only on the seed and the order of requests.
type plan struct {
	limited bool          // answer 429 with Retry-After, before any header
	status  int           // else, if not 0, answer this error status before any header
	ttft    time.Duration // wait before the first token
	brk     breakKind
	breakAt float64 // fraction of the answer's tokens sent before a break
}

// decide draws the plan of one valid chat request.
func (s *Server) decide(mode Mode) plan {
	s.rngMu.Lock()
	failDraw := s.rng.Float64()
	statusDraw := s.rng.IntN(len(s.statuses))
	breakDraw := s.rng.Float64()
	breakAt := s.rng.Float64()
	z := s.rng.NormFloat64()
	s.rngMu.Unlock()

	p := &s.profile
	pl := plan{ttft: p.TTFT.sample(z), breakAt: breakAt}
	switch {
	case mode == ModeRateLimited || failDraw < p.RateLimitRate:
		pl.limited = true
	case failDraw < p.RateLimitRate+p.ErrorRate:
		pl.status = s.statuses[statusDraw]
	}
	switch {
	case mode == ModeStall:
		pl.brk = breakStall
	case breakDraw < p.CutRate:
		pl.brk = breakCut
	case breakDraw < p.CutRate+p.StallRate:
		pl.brk = breakStall
	}
	if mode == ModeSlow {
		pl.ttft *= slowFactor
	}
	return pl
}

// broken carries out the plan's cut or stall, once what goes before it is
// out, and says how the request ended; ok is false for an answer that runs
// to its end.
func (pl plan) broken(ctx context.Context) (out outcome, ok bool) {
	switch pl.brk {
	case breakCut:
		return outcomeCut, true
	case breakStall:
		<-ctx.Done()
		return outcomeStalled, true
	}
	return outcomeOK, false
}

// refusal is the error the plan answers with, in dialect d; nil for none.
func (pl plan) refusal(d dialect, p *Profile) *httpError {
	switch {
	case pl.limited:
		return d.rateLimited(p.Name, p.RetryAfter)
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
