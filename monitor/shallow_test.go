package monitor

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// reached is a successful GET /models probe: the host answered, the model
// was not asked.
func reached() provider.Outcome {
	return provider.Outcome{Class: provider.ClassOK, Duration: 30 * time.Millisecond, Probe: true, Shallow: true}
}

// A models probe that succeeds while the breaker is half-open proves the
// host is reachable, not that the model answers: the breaker stays
// half-open and the trial is free again for a request that asks the model.
// Only a completion closes it.
func TestShallowProbeDoesNotEndAnOutage(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	trip(m, "a")
	clk.Advance(5 * time.Second)
	gen, ok := m.Admit("a")
	if !ok {
		t.Fatal("the half-open breaker refused its trial")
	}
	o := reached()
	o.Gen = gen
	m.Record("a", o)
	st := status(t, m, "a")
	if st.Breaker != BreakerHalfOpen || st.State != Down || st.OutageSince.IsZero() {
		t.Fatalf("after a models probe succeeded: %s, breaker %s (%s); want down, half-open", st.State, st.Breaker, st.Reason)
	}
	if st.Successes != 0 || st.Availability != 0 || st.Probes != 1 {
		t.Errorf("a models probe counted as an answer: %d successes, availability %v, %d probes", st.Successes, st.Availability, st.Probes)
	}
	gen, ok = m.Admit("a")
	if !ok {
		t.Fatal("the models probe kept the trial: nothing else may go")
	}
	chat := ok200()
	chat.Gen = gen
	m.Record("a", chat)
	if st := status(t, m, "a"); st.Breaker != BreakerClosed || st.State == Down {
		t.Fatalf("after a completion succeeded: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
}

// Models probes every few seconds must not keep a failing model from ever
// reaching DownAfter errors in a row, nor dilute its availability.
func TestShallowSuccessesDoNotBreakAnErrorRun(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	for range 20 { // enough answers that availability alone does not trip it
		m.Record("a", ok200())
	}
	for i := range m.Options().DownAfter {
		if i > 0 {
			m.Record("a", reached())
		}
		m.Record("a", fail(provider.ClassNotFound))
	}
	st := status(t, m, "a")
	if st.State != Down || st.ConsecutiveErrors != m.Options().DownAfter {
		t.Fatalf("%d chat errors with models successes between: %s, %d in a row (%s)",
			m.Options().DownAfter, st.State, st.ConsecutiveErrors, st.Reason)
	}
	n := m.Options().DownAfter
	if want := 20.0 / float64(20+n); st.Availability != want || st.Requests != 20+2*n-1 {
		t.Errorf("availability %v over %d requests; want %v over %d", st.Availability, st.Requests, want, 20+2*n-1)
	}
}

// A models probe that fails is the provider error it is: the host did not
// answer, so the model cannot either. (So it was before Shallow existed;
// this keeps it so.)
func TestShallowFailureCounts(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	failed := provider.Outcome{Class: provider.ClassConnect, Probe: true, Shallow: true}
	for range m.Options().DownAfter {
		m.Record("a", failed)
	}
	st := status(t, m, "a")
	if st.State != Down || st.ProviderErrors != m.Options().DownAfter || st.ProbeFailures != m.Options().DownAfter {
		t.Fatalf("after %d failed models probes: %s, %d provider errors, %d probe failures",
			m.Options().DownAfter, st.State, st.ProviderErrors, st.ProbeFailures)
	}
	clk.Advance(5 * time.Second)
	gen, _ := m.Admit("a")
	failed.Gen = gen
	m.Record("a", failed)
	if st := status(t, m, "a"); st.Breaker != BreakerOpen {
		t.Fatalf("a trial that could not reach the host left the breaker %s", st.Breaker)
	}
}

// While the breaker is open, the prober goes on looking at its interval.
// A models probe that finds the host answering again ends the backoff at
// once, and the prober sends a completion as the trial, so that the
// endpoint recovers within a probe interval and without real traffic;
// once it is closed, the cheap probe goes again.
func TestProberBringsTheTrialForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var calls []string
		probe := func(name string, o provider.Outcome) ProbeFunc {
			return func(context.Context) provider.Outcome {
				mu.Lock()
				calls = append(calls, name)
				mu.Unlock()
				return o
			}
		}
		m, err := New(Options{ProbeInterval: time.Second, BreakerBackoff: time.Minute},
			[]Endpoint{{ID: "a", Provider: "a", Model: "m", Probe: probe("models", reached()), Trial: probe("chat", ok200())}})
		if err != nil {
			t.Fatal(err)
		}
		trip(m, "a") // real traffic found the model failing
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()

		advance(firstProbeSpread) // the prober's first turn: a minute before the backoff ends
		synctest.Wait()
		st := status(t, m, "a")
		if st.Breaker != BreakerClosed {
			t.Fatalf("breaker %s after the host answered a probe (%s); calls %v", st.Breaker, st.Reason, calls)
		}
		var said []string
		for _, e := range m.Snapshot().Events {
			said = append(said, e.Detail)
		}
		if !slices.Contains(said, "the host answers again; one trial may go") || !slices.Contains(said, "the trial succeeded") {
			t.Errorf("events %q; want the host answering again, then the trial succeeding", said)
		}
		advance(3 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(calls) < 3 || calls[0] != "models" || calls[1] != "chat" {
			t.Fatalf("probes sent %v; want a models probe, the chat trial at once, then models probes", calls)
		}
		for _, c := range calls[2:] {
			if c != "models" {
				t.Fatalf("probes sent %v; a chat probe once the breaker closed", calls)
			}
		}
	})
}

// An endpoint probed with completions needs no trial after its probe: a
// probe answered while the breaker is open ends the outage by itself. One
// that fails leaves the breaker as it was.
func TestProbeAnsweredWhileOpenEndsTheOutage(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	trip(m, "a")
	look := func(o provider.Outcome) {
		gen, ok, kind := m.admit("a", true)
		if !ok || kind != probeRoutine {
			t.Fatalf("the open breaker admitted a probe: %v, as %d; want a routine probe", ok, kind)
		}
		o.Probe, o.Gen = true, gen
		m.Record("a", o)
	}
	look(fail(provider.ClassServer))
	if st := status(t, m, "a"); st.Breaker != BreakerOpen || st.NextTrial != clk.Now().Add(5*time.Second) {
		t.Fatalf("after a failed look: breaker %s, next trial %s; want open, the backoff unchanged", st.Breaker, st.NextTrial)
	}
	if _, ok := m.Admit("a"); ok {
		t.Fatal("a request was admitted to an open breaker")
	}
	look(ok200())
	if st := status(t, m, "a"); st.Breaker != BreakerClosed || st.State == Down || !st.OutageSince.IsZero() {
		t.Fatalf("after a probe got an answer: %s, breaker %s (%s); want the outage over", st.State, st.Breaker, st.Reason)
	}
}
