package monitor

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"switchboard/monitor/history"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

func openStore(t *testing.T, dir string, clk Clock) *history.Store {
	t.Helper()
	s, err := history.Open(dir, history.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// One day's availability and the hourly bars come back after a restart.
func TestHistorySurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	clk := monitortest.NewClock()
	store := openStore(t, dir, clk)
	eps := []Endpoint{{ID: "m@a", Provider: "a", Model: "m"}, {ID: "m@b", Provider: "b", Model: "m"}}
	first, err := New(Options{Clock: clk, History: store}, eps)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // five hours of traffic, a quarter of a's answers failing
		for i := range 8 {
			o := ok200()
			if i%4 == 0 {
				o = fail(provider.ClassServer)
			}
			first.Record("m@a", o)
			first.Record("m@b", ok200())
		}
		first.Flush() // Run does this every minute
		clk.Advance(time.Hour)
	}
	before, _ := first.Snapshot().Endpoint("m@a")
	if math.Abs(before.Availability1d-0.75) > 1e-9 {
		t.Fatalf("before the restart: %v", before.Availability1d)
	}
	store.Close()

	clk.Advance(10 * time.Minute) // the program was down for a while
	second, err := New(Options{Clock: clk, History: openStore(t, dir, clk)}, eps)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := second.Snapshot().Endpoint("m@a")
	if after.Availability1d != before.Availability1d || after.Series.Hourly != before.Series.Hourly {
		t.Fatalf("after the restart: 1d %v (was %v), hourly %v (was %v)",
			after.Availability1d, before.Availability1d, after.Series.Hourly, before.Series.Hourly)
	}
	if after.Requests != 0 {
		t.Errorf("the 5-minute window should start empty, has %d", after.Requests)
	}
	if b, _ := second.Snapshot().Endpoint("m@b"); b.Availability1d != 1 {
		t.Errorf("b: %v", b.Availability1d)
	}
	// Writing again after the restart overwrites minutes, never counts twice.
	second.Record("m@a", ok200())
	second.Flush()
	third, err := New(Options{Clock: clk, History: second.opts.History}, eps)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := third.Snapshot().Endpoint("m@a")
	if want := 31.0 / 41; math.Abs(st.Availability1d-want) > 1e-9 {
		t.Fatalf("after one more success: %v, want %v", st.Availability1d, want)
	}
}

// brokenStore is a history whose disk has failed: every write is refused.
type brokenStore struct{ *history.Store }

func (brokenStore) Append([]history.Minute) error { return errors.New("disk full") }

func TestHistoryFailureTurnsItOffAndGoesOn(t *testing.T) {
	clk := monitortest.NewClock()
	m, err := New(Options{Clock: clk, History: brokenStore{openStore(t, t.TempDir(), clk)}},
		[]Endpoint{{ID: "a", Provider: "a", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Record("a", ok200())
	m.Flush()
	s := m.Snapshot()
	if !strings.Contains(s.HistoryError, "disk full") {
		t.Fatalf("history error %q", s.HistoryError)
	}
	m.Record("a", ok200())
	if st, _ := m.Snapshot().Endpoint("a"); st.Successes != 2 {
		t.Fatalf("the monitor stopped counting: %+v", st)
	}
}
