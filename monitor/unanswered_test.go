package monitor

import (
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// Unanswered adds up the time attempts waited for a first answer since
// the endpoint last answered anything: a first token or an answer (even an
// error) clears it; a timeout, a lost race, a caller gone or a models list
// does not, but the clock stands while no attempt waits.
func TestUnanswered(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	owes := func(want time.Duration) {
		t.Helper()
		if got := m.Unanswered("a", clk.Now()); got != want {
			t.Fatalf("unanswered %s, want %s", got, want)
		}
	}
	idle := func(want time.Duration, wantTimes int) {
		t.Helper()
		if got, times := m.Snapshot().Status("a").Idle(clk.Now()); got != want || times != wantTimes {
			t.Fatalf("idle %s, %d times; want %s, %d times", got, times, want, wantTimes)
		}
	}
	waited := func(c provider.Class) provider.Outcome { return provider.Outcome{Class: c, Waiting: true} }
	owes(0)
	m.Sent("a")
	clk.Advance(300 * time.Millisecond)
	m.Sent("a") // a later one does not move the oldest
	clk.Advance(300 * time.Millisecond)
	owes(600 * time.Millisecond)
	m.Answered("a") // the first one's first token: the second waits from now
	owes(0)
	clk.Advance(100 * time.Millisecond)
	owes(100 * time.Millisecond)
	m.Record("a", provider.Outcome{Class: provider.ClassOK}) // the first one's whole answer: the second waits from now
	owes(0)
	clk.Advance(100 * time.Millisecond)
	m.Record("a", waited(provider.ClassServer)) // a 500 is an answer
	owes(0)
	clk.Advance(time.Minute)
	owes(0)

	m.Sent("a")
	clk.Advance(time.Second)
	idle(0, 0)                                                                    // an attempt waits
	m.Record("a", provider.Outcome{Class: provider.ClassCanceled, Waiting: true}) // a hedge that lost to another, before an answer
	owes(time.Second)
	idle(0, 1)
	clk.Advance(time.Minute) // nothing waits on it: idle, not silent
	owes(time.Second)
	idle(time.Minute, 1)
	m.Record("a", reached()) // the host lists its models; the model says nothing
	idle(time.Minute, 1)
	m.Sent("a")
	idle(0, 1)
	clk.Advance(time.Second) // the clock runs on
	owes(2 * time.Second)
	m.Record("a", waited(provider.ClassTimeout)) // silence
	owes(2 * time.Second)
	m.Sent("a")
	clk.Advance(time.Second)
	m.Record("a", waited(provider.ClassCanceled)) // its caller went away before an answer
	clk.Advance(time.Minute)
	owes(3 * time.Second)
	idle(time.Minute, 3)
	m.Record("a", provider.Outcome{Class: provider.ClassOK, Probe: true}) // a probe the model answered
	owes(0)
	idle(0, 0)
	m.Record("a", waited(provider.ClassTimeout)) // an end without a start, recorded by hand
	m.Sent("a")
	clk.Advance(time.Second)
	owes(time.Second)
	if m.Unanswered("nobody", clk.Now()) != 0 {
		t.Fatal("an unknown endpoint owes an answer")
	}
}

// Attempts owed an answer for longer in all than a probe may take (and
// three times the endpoint's p99 first token) open the breaker, as a
// timeout would: under hedging, the attempts a silent provider gets may
// all end as lost races, one after another. One that lost a race and then
// got no more traffic does not.
func TestOwedAnswerOpensTheBreaker(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a", "b")
	for range 20 {
		for _, id := range []string{"a", "b"} {
			m.Record(id, provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
		}
	}
	clk.Advance(2 * time.Second) // the 30-minute figures are read again
	status(t, m, "a")
	status(t, m, "b")
	lost := provider.Outcome{Class: provider.ClassCanceled, Waiting: true}

	m.Sent("b")
	clk.Advance(time.Second)
	m.Record("b", lost)
	clk.Advance(time.Minute)
	if st := status(t, m, "b"); st.State != Healthy || m.Unanswered("b", clk.Now()) != time.Second {
		t.Fatalf("a minute idle after a race lost at 1s: %s (%s), owes %s", st.State, st.Reason, m.Unanswered("b", clk.Now()))
	}

	for range 5 { // a request every 2s, each lost after 2s to a hedge elsewhere
		m.Sent("a")
		clk.Advance(2 * time.Second)
		m.Record("a", lost)
	}
	if st := status(t, m, "a"); st.State == Down {
		t.Fatalf("down after 10s owed, no more than the probe timeout: %s", st.Reason)
	}
	m.Sent("a")
	clk.Advance(time.Second)
	m.Record("a", lost)
	st := status(t, m, "a")
	if st.State != Down || st.Breaker != BreakerOpen || !strings.Contains(st.Reason, "no answer for 11s to requests in flight") {
		t.Fatalf("after 11s owed: %s, breaker %s (%s)", st.State, st.Breaker, st.Reason)
	}
	if m.Unanswered("a", clk.Now()) != 0 {
		t.Error("the owed answer is still counted once the breaker opened for it")
	}
}
