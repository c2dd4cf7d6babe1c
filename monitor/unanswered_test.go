package monitor

import (
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// Unanswered counts from the oldest attempt sent since the endpoint last
// answered anything: a first token or an outcome clears it, and so does a
// caller gone; a timeout, a lost race or a models list does not.
func TestUnanswered(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	owes := func(want time.Duration) {
		t.Helper()
		if got := m.Unanswered("a", clk.Now()); got != want {
			t.Fatalf("unanswered %s, want %s", got, want)
		}
	}
	owes(0)
	m.Sent("a")
	clk.Advance(300 * time.Millisecond)
	m.Sent("a") // a later one does not move the oldest
	clk.Advance(300 * time.Millisecond)
	owes(600 * time.Millisecond)
	m.Answered("a") // a first token
	owes(0)

	m.Sent("a")
	clk.Advance(time.Second)
	m.Record("a", provider.Outcome{Class: provider.ClassCanceled, Raced: true}) // a hedge that lost to another, before an answer
	m.Record("a", fail(provider.ClassTimeout))                                  // silence
	m.Record("a", reached())                                                    // the host lists its models; the model says nothing
	owes(time.Second)
	m.Record("a", fail(provider.ClassServer)) // a 500 is an answer
	owes(0)
	m.Sent("a")
	clk.Advance(time.Second)
	m.Record("a", fail(provider.ClassCanceled)) // its caller went away: nobody is owed an answer now
	owes(0)
	if m.Unanswered("nobody", clk.Now()) != 0 {
		t.Fatal("an unknown endpoint owes an answer")
	}
}

// An attempt owed an answer for longer than a probe may take (and three
// times the endpoint's p99 first token) opens the breaker, as a timeout
// would: the attempts a silent provider gets may all end as lost races.
func TestOwedAnswerOpensTheBreaker(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for range 20 {
		m.Record("a", provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	}
	clk.Advance(2 * time.Second) // the 30-minute figures are read again
	status(t, m, "a")
	m.Sent("a")
	clk.Advance(m.Options().ProbeTimeout - time.Second)
	if st := status(t, m, "a"); st.State == Down {
		t.Fatalf("down before the probe timeout passed: %s", st.Reason)
	}
	m.Record("a", provider.Outcome{Class: provider.ClassCanceled, Raced: true}) // lost a race
	clk.Advance(2 * time.Second)
	st := status(t, m, "a")
	if st.State != Down || st.Breaker != BreakerOpen || !strings.Contains(st.Reason, "no answer for 11s to a request in flight") {
		t.Fatalf("after 11s owed: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
	if m.Unanswered("a", clk.Now()) != 0 {
		t.Error("the owed answer is still counted once the breaker opened for it")
	}
}
