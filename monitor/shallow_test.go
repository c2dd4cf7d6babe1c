package monitor

import (
	"context"
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

// The prober of an endpoint probed with GET /models sends a completion as
// the half-open trial, so that the endpoint recovers without real traffic;
// otherwise it sends its cheap probe.
func TestProberSendsTheTrialWhenHalfOpen(t *testing.T) {
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
		m, err := New(Options{ProbeInterval: time.Second, BreakerBackoff: 5 * time.Second},
			[]Endpoint{{ID: "a", Provider: "a", Model: "m", Probe: probe("models", reached()), Trial: probe("chat", ok200())}})
		if err != nil {
			t.Fatal(err)
		}
		trip(m, "a") // real traffic found the model failing
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()

		advance(4 * time.Second) // open: nothing goes
		synctest.Wait()
		mu.Lock()
		if len(calls) != 0 {
			t.Errorf("probes while the breaker was open: %v", calls)
		}
		mu.Unlock()
		advance(3 * time.Second) // half-open, and the next probe tick
		synctest.Wait()
		if st := status(t, m, "a"); st.Breaker != BreakerClosed {
			t.Fatalf("breaker %s after the prober's turn (%s); calls %v", st.Breaker, st.Reason, calls)
		}
		advance(3 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(calls) < 2 || calls[0] != "chat" || calls[1] != "models" {
			t.Fatalf("probes sent %v; want the chat trial first, then models probes", calls)
		}
		for _, c := range calls[1:] {
			if c != "models" {
				t.Fatalf("probes sent %v; a chat probe once the breaker closed", calls)
			}
		}
	})
}
