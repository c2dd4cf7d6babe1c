package monitor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

func kinds(s *Snapshot, id string) []string {
	var out []string
	for _, e := range s.Events {
		if e.Endpoint == id {
			out = append(out, e.Kind.String())
		}
	}
	return out
}

func trip(m *Monitor, id string) {
	for range m.Options().DownAfter {
		m.Record(id, fail(provider.ClassServer))
	}
}

// An outage is detected at the DownAfter-th failure in a row; the endpoint
// comes back through exactly one half-open trial.
func TestBreakerRecoversThroughOneTrial(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for i := 1; i <= m.Options().DownAfter; i++ {
		if st := status(t, m, "a"); st.Breaker != BreakerClosed {
			t.Fatalf("open after %d failures", i-1)
		}
		m.Record("a", fail(provider.ClassServer))
	}
	st := status(t, m, "a")
	if st.State != Down || st.Breaker != BreakerOpen || !st.NextTrial.Equal(clk.Now().Add(5*time.Second)) {
		t.Fatalf("after %d failures: %s, breaker %s, next trial %v", m.Options().DownAfter, st.State, st.Breaker, st.NextTrial)
	}
	if _, ok := m.Admit("a"); ok {
		t.Fatal("an open breaker admitted a request")
	}
	clk.Advance(5 * time.Second)
	gen, ok := m.Admit("a")
	if !ok {
		t.Fatal("the half-open breaker refused its one trial")
	}
	if _, ok := m.Admit("a"); ok {
		t.Fatal("the half-open breaker admitted a second trial")
	}
	if st := status(t, m, "a"); st.Breaker != BreakerHalfOpen || st.State != Down || !strings.Contains(st.Reason, "trial under way") {
		t.Fatalf("during the trial: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
	o := ok200()
	o.Gen = gen
	m.Record("a", o)
	st = status(t, m, "a")
	if st.Breaker != BreakerClosed || st.State == Down || !st.OutageSince.IsZero() {
		t.Fatalf("after a successful trial: %s, breaker %s", st.State, st.Breaker)
	}
	if _, ok := m.Admit("a"); !ok {
		t.Fatal("a closed breaker refused")
	}
	want := "outage_started breaker_opened breaker_half_open breaker_closed outage_ended"
	if got := strings.Join(kinds(m.Snapshot(), "a"), " "); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// A failed trial re-opens the breaker for twice as long, up to the cap.
func TestBreakerBackoffDoublesAndCaps(t *testing.T) {
	clk := monitortest.NewClock()
	m, err := New(Options{Clock: clk, BreakerBackoff: time.Second, BreakerMaxBackoff: 5 * time.Second},
		[]Endpoint{{ID: "a", Provider: "a", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	trip(m, "a")
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		st := status(t, m, "a")
		if got := st.NextTrial.Sub(clk.Now()); st.Breaker != BreakerOpen || got != want {
			t.Fatalf("breaker %s, next trial in %s; want open for %s", st.Breaker, got, want)
		}
		clk.Advance(want - time.Millisecond)
		if _, ok := m.Admit("a"); ok {
			t.Fatalf("admitted before the %s backoff ended", want)
		}
		clk.Advance(time.Millisecond)
		gen, ok := m.Admit("a")
		if !ok {
			t.Fatalf("no trial after the %s backoff", want)
		}
		o := fail(provider.ClassTimeout)
		o.Gen = gen
		m.Record("a", o)
	}
}

// Outcomes admitted in an older generation count in the windows but do not
// move the breaker: a slow request from before the outage cannot end it.
func TestBreakerIgnoresOlderGenerations(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	oldGen, _ := m.Admit("a") // a request goes out while all is well
	trip(m, "a")
	clk.Advance(5 * time.Second)
	trialGen, ok := m.Admit("a")
	if !ok || trialGen == oldGen {
		t.Fatalf("trial admitted %v in generation %d (old %d)", ok, trialGen, oldGen)
	}
	late := ok200()
	late.Gen = oldGen
	m.Record("a", late) // the old request finally succeeds
	st := status(t, m, "a")
	if st.Breaker != BreakerHalfOpen || st.Successes != 1 {
		t.Fatalf("a stale success moved the breaker to %s (successes %d)", st.Breaker, st.Successes)
	}
	lateFail := fail(provider.ClassServer)
	lateFail.Gen = oldGen
	m.Record("a", lateFail)
	if st := status(t, m, "a"); st.Breaker != BreakerHalfOpen {
		t.Fatalf("a stale failure moved the breaker to %s", st.Breaker)
	}
}

// A trial whose caller went away gives its budget back; one that never
// reports is given up on after the trial timeout.
func TestBreakerTrialBudgetIsReturned(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	trip(m, "a")
	clk.Advance(5 * time.Second)
	gen, _ := m.Admit("a")
	c := fail(provider.ClassCanceled)
	c.Gen = gen
	m.Record("a", c)
	if _, ok := m.Admit("a"); !ok {
		t.Fatal("a canceled trial kept the budget")
	}
	if _, ok := m.Admit("a"); ok {
		t.Fatal("two trials out at once")
	}
	clk.Advance(m.trialTimeout())
	if _, ok := m.Admit("a"); !ok {
		t.Fatal("a trial that never reported still holds the budget")
	}
}

// After the breaker closes, the availability rule looks only at what came
// after: the failures that caused the outage do not trip it again at once.
func TestBreakerDoesNotRetripOnOldFailures(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for range 5 { // 50% over the last 30s, never 3 in a row
		m.Record("a", fail(provider.ClassServer))
		m.Record("a", ok200())
	}
	if st := status(t, m, "a"); st.State != Down {
		t.Fatalf("50%% availability: %s", st.State)
	}
	clk.Advance(5 * time.Second)
	m.Record("a", ok200()) // the trial
	clk.Advance(2 * time.Second)
	m.Record("a", ok200())
	if st := status(t, m, "a"); st.Breaker != BreakerClosed {
		t.Fatalf("re-tripped on the old failures: %s (%s)", st.Breaker, st.Reason)
	}
}

func ok200() provider.Outcome {
	return provider.Outcome{Class: provider.ClassOK, Duration: 400 * time.Millisecond, TTFT: 100 * time.Millisecond, OutputTokens: 30}
}

func TestOneTimeoutTripsTheBreaker(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	m.Record("a", ok200())
	m.Record("a", fail(provider.ClassTimeout))
	st := status(t, m, "a")
	if st.State != Down || st.Breaker != BreakerOpen || !strings.Contains(st.Reason, "no answer in time") {
		t.Fatalf("after one timeout: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
}

// An outage is one event, not also a degradation.
func TestNoDegradedEventsDuringAnOutage(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	for range 10 {
		m.Record("a", ok200())
	}
	trip(m, "a")
	if got := strings.Join(kinds(m.Snapshot(), "a"), " "); got != "outage_started breaker_opened" {
		t.Fatalf("events %q", got)
	}
}

// An open breaker's trial probe goes the moment its backoff ends, however
// long the probe interval: a recovered endpoint is back within one backoff,
// and each failed trial doubles the wait to the next.
func TestTrialProbesFollowTheBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		probe := func(context.Context) provider.Outcome {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Since(start))
			return fail(provider.ClassServer)
		}
		m, err := New(Options{ProbeInterval: time.Hour, BreakerBackoff: 5 * time.Second},
			[]Endpoint{{ID: "a", Provider: "a", Model: "m", Probe: probe}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait() // the prober waits for its first turn
		trip(m, "a")
		advance(36 * time.Second)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		// Tripped at 0s: the prober's first turn looks while the breaker is
		// open (and finds it failing), then trials at 5s, 5+10 = 15s and
		// 15+20 = 35s, though the interval is an hour.
		want := []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second}
		if len(at) != len(want)+1 || at[0] > firstProbeSpread {
			t.Fatalf("probes at %v; want a look in the first %s, then trials at %v", at, firstProbeSpread, want)
		}
		at = at[1:]
		for i, w := range want {
			if got := at[i]; got < w || got > w+time.Second {
				t.Errorf("trial %d at %s, want %s", i+1, got, w)
			}
		}
	})
}
