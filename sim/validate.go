package sim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Validate reports every problem with the profile at once, so a config file
// can be fixed in one pass.
func (p Profile) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("sim profile %q: "+format, append([]any{p.Name}, args...)...))
	}
	if p.Name == "" {
		bad("name is empty; give every simulated provider a unique name")
	}
	if len(p.Models) == 0 {
		bad("serves no model; list at least one model id")
	}
	for i, m := range p.Models {
		if m == "" {
			bad("model %d is an empty id", i)
		}
	}
	if p.ContextLength < 0 {
		bad("context length %d is negative", p.ContextLength)
	}
	for _, m := range slices.Sorted(maps.Keys(p.ContextLengths)) {
		switch n := p.ContextLengths[m]; {
		case !slices.Contains(p.Models, m):
			bad("context length given for model %q, which it does not serve", m)
		case n <= 0:
			bad("context length of model %q is %d; it must be positive", m, n)
		}
	}
	for i, m := range p.ImageModels {
		if !slices.Contains(p.Models, m) {
			bad("image model %d, %q, is not a model it serves", i, m)
		}
	}
	if p.TTFT.P50 < 0 || p.TTFT.P95 < 0 {
		bad("ttft percentiles must not be negative (p50 %v, p95 %v)", p.TTFT.P50, p.TTFT.P95)
	}
	if p.TTFT.P95 != 0 && p.TTFT.P95 < p.TTFT.P50 {
		bad("ttft p95 %v is below p50 %v", p.TTFT.P95, p.TTFT.P50)
	}
	if p.TokensPerSecond < 0 {
		bad("tokens per second %v is negative", p.TokensPerSecond)
	}
	if p.ReasoningTokens < 0 {
		bad("reasoning tokens %d is negative", p.ReasoningTokens)
	}
	rates := []struct {
		name string
		v    float64
	}{
		{"error rate", p.ErrorRate}, {"rate limit rate", p.RateLimitRate},
		{"cut rate", p.CutRate}, {"stall rate", p.StallRate}, {"stream error rate", p.StreamErrorRate},
		{"slow start rate", p.SlowStartRate}, {"silent close rate", p.SilentCloseRate}, {"malformed rate", p.MalformedRate},
	}
	for _, r := range rates {
		if r.v < 0 || r.v > 1 {
			bad("%s %v is outside [0, 1]", r.name, r.v)
		}
	}
	// The rates partition one draw each, so their sums must fit in it.
	if p.ErrorRate+p.RateLimitRate > 1 {
		bad("error rate + rate limit rate = %v exceeds 1", p.ErrorRate+p.RateLimitRate)
	}
	if sum := p.CutRate + p.StallRate + p.StreamErrorRate; sum > 1 {
		bad("cut rate + stall rate + stream error rate = %v exceeds 1", sum)
	}
	for i, s := range p.ErrorStatuses {
		if s < 400 || s > 599 {
			bad("error status %d (index %d) is not an HTTP error status", s, i)
		}
	}
	if p.RetryAfter < 0 {
		bad("retry-after %v is negative", p.RetryAfter)
	}
	if p.SlowStart < 0 {
		bad("slow start %v is negative", p.SlowStart)
	}
	if p.SilentClose < 0 {
		bad("silent close %v is negative", p.SilentClose)
	}
	if p.Mode >= numModes {
		bad("mode %d is unknown; want one of %s", p.Mode, strings.Join(modeNames[:], ", "))
	}
	for i, o := range p.Outages {
		switch {
		case o.For <= 0:
			bad("outage %d lasts %v; it must last a positive duration", i, o.For)
		case o.Offset < 0:
			bad("outage %d has negative offset %v", i, o.Offset)
		case o.Every < 0:
			bad("outage %d repeats every %v; use zero for a one-off outage", i, o.Every)
		case o.Every > 0 && o.For > o.Every:
			bad("outage %d lasts %v but repeats every %v", i, o.For, o.Every)
		}
	}
	return errors.Join(errs...)
}
