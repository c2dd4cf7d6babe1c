package monitor

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"switchboard/provider"
)

// An attempt given up at the endpoint's own norm with no first token
// brings a completion probe at once, not at the next probe interval, nor a
// caller once the suspicion lapses: while it waits the endpoint owes it an
// answer (the router passes the endpoint over while it owes); answered,
// the endpoint owes nothing; timed out as well, its breaker opens for the
// silence.
func TestGivenUpAtItsNormBringsALook(t *testing.T) {
	for _, answers := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			var mu sync.Mutex
			var calls []string
			called := func(what string) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, what)
			}
			sent := func() []string {
				mu.Lock()
				defer mu.Unlock()
				return slices.Clone(calls)
			}
			release := make(chan struct{})
			models := func(context.Context) provider.Outcome { called("models"); return reached() }
			chat := func(ctx context.Context) provider.Outcome {
				called("chat")
				select {
				case <-release:
					return ok200()
				case <-ctx.Done():
					return provider.Outcome{Class: provider.ClassTimeout, Duration: 10 * time.Second}
				}
			}
			m, err := New(Options{ProbeInterval: time.Minute, ProbeTimeout: 10 * time.Second},
				[]Endpoint{{ID: "a", Provider: "a", Model: "m", Probe: models, Trial: chat}})
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				m.Record("a", ok200())
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			advance(firstProbeSpread)
			synctest.Wait()
			if got := sent(); !slices.Equal(got, []string{"models"}) {
				t.Fatalf("probes %v before any attempt; want the first models probe", got)
			}

			m.Sent("a")
			advance(3 * time.Second) // the router's norm for a 100ms first token
			m.Record("a", provider.Outcome{Class: provider.ClassTimeout, Slow: true, Waiting: true, Duration: 3 * time.Second})
			synctest.Wait()
			if got := sent(); !slices.Equal(got, []string{"models", "chat"}) {
				t.Fatalf("probes %v once an attempt was given up at its norm; want a completion at once", got)
			}
			advance(5 * time.Second)
			st := status(t, m, "a")
			idle, _ := st.Idle(time.Now())
			if owed := m.Unanswered("a", time.Now()); owed != 8*time.Second || idle != 0 || st.Breaker != BreakerClosed {
				t.Fatalf("while the look waits: owed %s, idle %s, breaker %s; want 8s owed, none idle, closed", owed, idle, st.Breaker)
			}

			if answers {
				close(release)
				synctest.Wait()
				if st := status(t, m, "a"); m.Unanswered("a", time.Now()) != 0 || st.Breaker != BreakerClosed {
					t.Fatalf("the look answered: owed %s, breaker %s; want nothing owed, closed", m.Unanswered("a", time.Now()), st.Breaker)
				}
				return
			}
			advance(5 * time.Second) // past the probe's timeout (what is owed passes it first)
			synctest.Wait()
			if st := status(t, m, "a"); st.Breaker != BreakerOpen || !strings.Contains(st.Reason, "no answer") {
				t.Fatalf("the look timed out: breaker %s (%s); want open for the silence", st.Breaker, st.Reason)
			}
		})
	}
}
