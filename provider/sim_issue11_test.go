package provider_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// upstreams are the two clients of a simulated provider, with the given
// first-token limit (0: the default).
func upstreams(t *testing.T, srv *sim.Server, first time.Duration) map[string]provider.Upstream {
	oa := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL(), FirstTokenTimeout: first})
	an := provider.NewAnthropic(provider.AnthropicOptions{BaseURL: srv.URL(), FirstTokenTimeout: first})
	t.Cleanup(oa.CloseIdleConnections)
	t.Cleanup(an.CloseIdleConnections)
	return map[string]provider.Upstream{"openai": oa, "anthropic": an}
}

// answer streams req on up and returns the text, the stream's stats and
// the final error (nil for a clean end).
func answer(t *testing.T, up provider.Upstream, req provider.Request) (string, provider.Stats, error) {
	t.Helper()
	s, err := up.Stream(t.Context(), req)
	if err != nil {
		return "", provider.Stats{}, err
	}
	defer s.Close()
	text, _, err := readAll(s)
	return text, s.Stats(), err
}

// wholeThen returns the whole answer up gets from srv in normal mode, then
// forces mode.
func wholeThen(t *testing.T, srv *sim.Server, up provider.Upstream, mode sim.Mode) string {
	t.Helper()
	srv.SetMode(sim.ModeNormal)
	whole, _, err := answer(t, up, hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetMode(mode)
	return whole
}

// The faults of issue 11, as the clients see them from the simulator.
func TestClientAgainstSimulatorIssue11(t *testing.T) {
	t.Run("silent close is a timeout", func(t *testing.T) {
		t.Parallel()
		// Half of a 2s first-token limit is "long" (see silentCloseAfter);
		// the simulator holds the request past it, well under the limit.
		srv := simtest.Start(t, sim.Profile{Mode: sim.ModeSilentClose, SilentClose: 1200 * time.Millisecond})
		for name, up := range upstreams(t, srv, 2*time.Second) {
			_, _, err := answer(t, up, hello("m"))
			if e := provider.AsError(err); e == nil || e.Class != provider.ClassTimeout || e.Blip() {
				t.Errorf("%s: %v, want a timeout that is no blip", name, err)
			}
		}
		if st := srv.Stats(); st.SilentClosed != 2 {
			t.Errorf("server stats %+v, want 2 silent closes", st)
		}
	})
	t.Run("one garbage event is skipped", func(t *testing.T) {
		t.Parallel()
		srv := simtest.Start(t, sim.Profile{})
		for name, up := range upstreams(t, srv, 0) {
			whole := wholeThen(t, srv, up, sim.ModeMalformed)
			text, st, err := answer(t, up, hello("m"))
			if err != nil || text != whole || st.SkippedEvents != 1 {
				t.Errorf("%s: %q, %d skipped, %v; want the whole %q, 1 skipped", name, text, st.SkippedEvents, err, whole)
			}
		}
	})
	t.Run("a cut continued on the same endpoint", func(t *testing.T) {
		t.Parallel()
		srv := simtest.Start(t, sim.Profile{})
		for name, up := range upstreams(t, srv, 0) {
			whole := wholeThen(t, srv, up, sim.ModeCut)
			cut, _, err := answer(t, up, hello("m"))
			if provider.ClassOf(err) != provider.ClassStreamCut || cut == "" {
				t.Fatalf("%s: %q, %v; want a cut after some text", name, cut, err)
			}
			req := hello("m")
			req.Messages = append(req.Messages, provider.Message{Role: "assistant", Content: cut})
			// max_tokens counts what the continuation generates, so the
			// tokens already sent (a word each here) come off it.
			req.MaxTokens -= len(strings.Fields(cut))
			rest, _, err := answer(t, up, req)
			if err != nil || cut+rest != whole {
				t.Errorf("%s: %q + %q, %v; want %q", name, cut, rest, err, whole)
			}
		}
	})
	t.Run("an error event mid-answer", func(t *testing.T) {
		t.Parallel()
		srv := simtest.Start(t, sim.Profile{})
		for name, up := range upstreams(t, srv, 0) {
			whole := wholeThen(t, srv, up, sim.ModeStreamError)
			text, _, err := answer(t, up, hello("m"))
			e := provider.AsError(err)
			if e == nil || e.Class != provider.ClassOverloaded && e.Class != provider.ClassServer || text == "" || text == whole {
				t.Errorf("%s: %q, %v; want a server error after some text of %q", name, text, err, whole)
			}
		}
	})
	t.Run("a refused prefill", func(t *testing.T) {
		t.Parallel()
		srv := simtest.Start(t, sim.Profile{RefusePrefill: true})
		for name, up := range upstreams(t, srv, 0) {
			req := hello("m")
			req.Messages = append(req.Messages, provider.Message{Role: "assistant", Content: "Hello"})
			_, _, err := answer(t, up, req)
			e := provider.AsError(err)
			if e == nil || e.Status != 400 || !strings.Contains(e.Message, "prefill") {
				t.Errorf("%s: %v, want a 400 about the prefill", name, err)
			}
		}
	})
	t.Run("a short rate limit", func(t *testing.T) {
		t.Parallel()
		srv := simtest.Start(t, sim.Profile{Mode: sim.ModeRateLimitedShort})
		for name, up := range upstreams(t, srv, 0) {
			srv.SetMode(sim.ModeRateLimitedShort) // each protocol starts afresh
			_, _, err := answer(t, up, hello("m"))
			if e := provider.AsError(err); e == nil || e.Class != provider.ClassRateLimited || e.RetryAfter != 2*time.Second {
				t.Errorf("%s: %v, want a 429 with Retry-After 2s", name, err)
			}
		}
	})
	t.Run("a slow start", func(t *testing.T) {
		t.Parallel()
		const late = 80 * time.Millisecond
		srv := simtest.Start(t, sim.Profile{Mode: sim.ModeSlowStart, SlowStart: late})
		for name, up := range upstreams(t, srv, 0) {
			_, st, err := answer(t, up, hello("m"))
			if err != nil || st.TTFT < late {
				t.Errorf("%s: TTFT %v, %v; want at least %v", name, st.TTFT, err, late)
			}
		}
	})
}
