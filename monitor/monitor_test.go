package monitor

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// advance lets fake time pass inside a synctest bubble: once every goroutine
// of the bubble is blocked, the bubble's clock jumps to the timer at once.
func advance(d time.Duration) { <-time.After(d) }

func newTestMonitor(t testing.TB, clk Clock, ids ...string) *Monitor {
	t.Helper()
	var eps []Endpoint
	for _, id := range ids {
		eps = append(eps, Endpoint{ID: id, Provider: id, Model: "m"})
	}
	m, err := New(Options{Clock: clk}, eps)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ok(d time.Duration) provider.Outcome {
	return provider.Outcome{Class: provider.ClassOK, Duration: d, TTFT: d / 4}
}

func fail(c provider.Class) provider.Outcome { return provider.Outcome{Class: c} }

func status(t *testing.T, m *Monitor, id string) EndpointStatus {
	t.Helper()
	st, found := m.Snapshot().Endpoint(id)
	if !found {
		t.Fatalf("no endpoint %q in snapshot", id)
	}
	return st
}

func TestAvailabilityCountsOnlyProviderErrors(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for range 8 {
		m.Record("a", ok(100*time.Millisecond))
	}
	m.Record("a", fail(provider.ClassServer))
	m.Record("a", fail(provider.ClassTimeout))
	m.Record("a", fail(provider.ClassBadRequest))    // the caller's fault
	m.Record("a", fail(provider.ClassContextLength)) // the caller's fault
	m.Record("a", fail(provider.ClassRateLimited))   // counted apart
	m.Record("a", fail(provider.ClassCanceled))      // nobody's fault
	m.Record("a", ok(100*time.Millisecond))          // ends the error run
	st := status(t, m, "a")
	if st.Requests != 15 || st.Successes != 9 || st.ProviderErrors != 2 || st.UserErrors != 2 || st.RateLimited != 1 {
		t.Fatalf("counts: %+v", st)
	}
	if want := 9.0 / 11.0; math.Abs(st.Availability-want) > 1e-9 {
		t.Errorf("availability = %v, want %v", st.Availability, want)
	}
	if want := 2.0 / 15.0; math.Abs(st.ErrorRate-want) > 1e-9 {
		t.Errorf("error rate = %v, want %v", st.ErrorRate, want)
	}
	if st.Errors[provider.ClassServer] != 1 || st.Errors[provider.ClassBadRequest] != 1 {
		t.Errorf("errors by class: %v", st.Errors)
	}
}

func TestNoDataMeansUnknownAvailability(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	st := status(t, m, "a")
	if st.Availability != -1 || st.State != Healthy || !st.Enabled {
		t.Fatalf("fresh endpoint: %+v", st)
	}
}

func TestOutageAfterConsecutiveErrorsAndRecovery(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	m.Record("a", ok(time.Second))
	for i := 1; i <= 3; i++ {
		m.Record("a", fail(provider.ClassServer))
		st := status(t, m, "a")
		if down := st.State == Down; down != (i == 3) {
			t.Fatalf("after %d errors: state %s", i, st.State)
		}
	}
	st := status(t, m, "a")
	if st.OutageSince.IsZero() || !st.RecentOutage(clk.Now(), 30*time.Second) {
		t.Fatalf("outage not recorded: %+v", st)
	}
	clk.Advance(5 * time.Second)
	for range 60 { // enough successes to lift availability over 95%
		m.Record("a", ok(time.Second))
	}
	st = status(t, m, "a")
	if st.State != Healthy || !st.OutageSince.IsZero() {
		t.Fatalf("after recovery: %s (%s)", st.State, st.Reason)
	}
	if !st.RecentOutage(clk.Now(), 30*time.Second) {
		t.Fatal("the outage 5s ago should still count as recent")
	}
	clk.Advance(31 * time.Second)
	if st := status(t, m, "a"); st.RecentOutage(clk.Now(), 30*time.Second) {
		t.Fatal("an outage 36s ago is not recent")
	}
}

func TestDownOnLowAvailabilityWithoutARun(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	// Alternate so there are never three errors in a row: 50% availability.
	for range 5 {
		m.Record("a", fail(provider.ClassServer))
		m.Record("a", ok(time.Second))
	}
	if st := status(t, m, "a"); st.State != Down {
		t.Fatalf("state = %s (%s), want down", st.State, st.Reason)
	}
	// The breaker lets a trial through after its backoff; the trial
	// succeeds. The outage's failures were the outage rule's to judge:
	// the endpoint is judged by what it did since, one success, and is
	// healthy, though recently down (which routing holds against it).
	clk.Advance(40 * time.Second)
	m.Record("a", ok(time.Second))
	if st := status(t, m, "a"); st.State != Healthy || st.Breaker != BreakerClosed || !st.RecentOutage(clk.Now(), 30*time.Second) {
		t.Fatalf("state = %s (%s), breaker %s; want healthy, closed, recently down", st.State, st.Reason, st.Breaker)
	}
	// Flapping on: what came after the recovery (from the next bucket on:
	// the one it closed in holds the outage too) takes it down again.
	clk.Advance(2 * time.Second)
	for range 3 {
		m.Record("a", fail(provider.ClassServer))
		m.Record("a", ok(time.Second))
	}
	if st := status(t, m, "a"); st.State != Down {
		t.Fatalf("flapping after the recovery: state = %s (%s), want down", st.State, st.Reason)
	}
}

// The outage rule reads availability as the degraded rule does, with the
// uncertainty of its sample: 2 failures among 9 answers (78%) are what an
// endpoint answering 93% of the time gives one window in nine, no evidence
// that it is under 80%; 12 among 30 are.
func TestDownOnLowAvailabilityNeedsEvidence(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for i := range 9 {
		if i%4 == 1 {
			m.Record("a", fail(provider.ClassServer))
		} else {
			m.Record("a", ok(time.Second))
		}
	}
	if st := status(t, m, "a"); st.State == Down || st.Availability > 0.78 {
		t.Fatalf("7 of 9: %s (%s), availability %.2f; want up", st.State, st.Reason, st.Availability)
	}
	for i := range 21 {
		if i%2 == 0 {
			m.Record("a", fail(provider.ClassServer))
		} else {
			m.Record("a", ok(time.Second))
		}
	}
	st := status(t, m, "a")
	if st.State != Down || !strings.Contains(st.Reason, "answers: at most") {
		t.Fatalf("18 of 30: %s (%s); want down, the reason giving the bound", st.State, st.Reason)
	}
}

// An endpoint back from an outage is judged by what it did since: the
// outage's failures do not keep it degraded for the rest of the window, and
// a poor record since it came back does, with the reason saying so.
func TestDegradedJudgesWhatCameAfterTheOutage(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	for range 50 {
		m.Record("a", ok(time.Second))
	}
	for range 10 {
		m.Record("a", fail(provider.ClassServer))
	}
	clk.Advance(5 * time.Second)
	m.Record("a", ok(time.Second)) // the trial
	clk.Advance(2 * time.Second)
	for range 20 {
		m.Record("a", ok(time.Second))
	}
	if st := status(t, m, "a"); st.State != Healthy {
		t.Fatalf("21 successes since the outage: %s (%s); the window's 10 outage failures still count", st.State, st.Reason)
	}
	for range 30 {
		for range 5 {
			m.Record("a", ok(time.Second))
		}
		m.Record("a", fail(provider.ClassServer))
	}
	st := status(t, m, "a")
	if st.State != Degraded || !strings.Contains(st.Reason, "since its outage ended 2s ago") {
		t.Fatalf("one failure in six since the outage: %s (%s)", st.State, st.Reason)
	}
}

func TestCooldownIsNeverShortened(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	m.Record("a", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 10 * time.Second})
	clk.Advance(time.Second)
	m.Record("a", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 2 * time.Second})
	clk.Advance(5 * time.Second)
	st := status(t, m, "a")
	if st.State != CoolingDown || !st.CooldownUntil.Equal(clk.Now().Add(4*time.Second)) {
		t.Fatalf("6s after a 10s Retry-After: %s until %v", st.State, st.CooldownUntil)
	}
	clk.Advance(4 * time.Second)
	if st := status(t, m, "a"); st.State != Healthy {
		t.Fatalf("after the cooldown: %s", st.State)
	}
}

func TestCooldownWithoutRetryAfterUsesDefault(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	m.Record("a", fail(provider.ClassRateLimited))
	st := status(t, m, "a")
	if want := clk.Now().Add(m.Options().RateLimitPause); !st.CooldownUntil.Equal(want) {
		t.Fatalf("cooldown until %v, want %v", st.CooldownUntil, want)
	}
}

func TestWindowExpires(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	m.Record("a", fail(provider.ClassServer))
	m.Record("a", ok(time.Second))
	clk.Advance(m.Options().Window - m.Options().Bucket)
	if st := status(t, m, "a"); st.Requests != 2 {
		t.Fatalf("inside the window: %d requests", st.Requests)
	}
	clk.Advance(m.Options().Bucket)
	if st := status(t, m, "a"); st.Requests != 0 || st.Availability != -1 {
		t.Fatalf("past the window: %+v", st)
	}
}

func TestDisabledWinsOverEverything(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a", "b")
	if err := m.SetEnabled("a", false); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "a"); st.State != Disabled || st.Enabled {
		t.Fatalf("a: %s", st.State)
	}
	if st := status(t, m, "b"); st.State != Healthy {
		t.Fatalf("b: %s", st.State)
	}
	if err := m.SetEnabled("nope", false); err == nil {
		t.Fatal("unknown endpoint accepted")
	}
	_ = m.SetEnabled("a", true)
	if st := status(t, m, "a"); st.State != Healthy {
		t.Fatalf("re-enabled: %s", st.State)
	}
}

func TestSnapshotIsCachedUntilSomethingChanges(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	s1, s2 := m.Snapshot(), m.Snapshot()
	if s1 != s2 {
		t.Fatal("unchanged monitor recomputed its snapshot")
	}
	m.Record("a", ok(time.Second))
	s3 := m.Snapshot()
	if s3 == s1 || s3.Version <= s1.Version {
		t.Fatal("a recorded outcome did not show in the next snapshot")
	}
	clk.Advance(time.Second)
	if m.Snapshot() == s3 {
		t.Fatal("time passing did not refresh the snapshot")
	}
}

func TestSeriesOneBucketPerPoint(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	o := m.Options()
	m.Record("a", ok(100*time.Millisecond))
	clk.Advance(o.Bucket)
	m.Record("a", fail(provider.ClassServer))
	s := status(t, m, "a").Series
	n := o.SeriesLen
	p := s.Points()
	if len(p) != n || len(s.Points()) != n {
		t.Fatalf("series length %d, want %d", len(p), n)
	}
	if p[n-3].Latency != NoData || p[n-3].Availability != NoData || p[n-3].ErrorRate != NoData || p[n-3].Requests != 0 {
		t.Errorf("empty bucket: %+v", p[n-3])
	}
	if got := p[n-2].Latency; got != 100*time.Millisecond {
		t.Errorf("latency point = %v, want the mean, 100ms", got)
	}
	if p[n-2].ErrorRate != 0 || p[n-1].ErrorRate != 1 || p[n-1].Availability != 0 || p[n-1].Requests != 1 {
		t.Errorf("last points: %+v %+v", p[n-2], p[n-1])
	}
	// A point is kept once its bucket is over; the current one still moves.
	m.Record("a", ok(100*time.Millisecond))
	p = status(t, m, "a").Series.Points()
	if p[n-1].ErrorRate != 0.5 || p[n-2].Latency != 100*time.Millisecond {
		t.Errorf("after one more outcome: %+v %+v", p[n-2], p[n-1])
	}
	clk.Advance(o.Bucket)
	p = status(t, m, "a").Series.Points()
	if p[n-2].ErrorRate != 0.5 || p[n-1].Requests != 0 || p[n-1].ErrorRate != NoData {
		t.Errorf("a bucket later: %+v %+v", p[n-2], p[n-1])
	}
}

func TestPercentilesCloseToExact(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	r := rand.New(rand.NewPCG(1, 2))
	var ds []time.Duration
	for range 5000 {
		// Log-normal around 300ms, like real latencies.
		d := time.Duration(float64(300*time.Millisecond) * math.Exp(r.NormFloat64()*0.6))
		ds = append(ds, d)
		m.Record("a", ok(d))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	st := status(t, m, "a")
	for _, c := range []struct {
		got time.Duration
		q   float64
	}{{st.Latency.P50, 0.5}, {st.Latency.P75, 0.75}, {st.Latency.P90, 0.9}, {st.Latency.P99, 0.99}} {
		exact := ds[int(math.Ceil(c.q*float64(len(ds))))-1]
		if rel := math.Abs(float64(c.got-exact)) / float64(exact); rel > 0.02 {
			t.Errorf("p%.0f = %v, exact %v (off by %.1f%%)", 100*c.q, c.got, exact, 100*rel)
		}
	}
}

func TestUnknownIDIsIgnoredAndDuplicatesRejected(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "a")
	m.Record("zzz", ok(time.Second)) // must not panic
	if _, err := New(Options{}, []Endpoint{{ID: "x"}, {ID: "x"}}); err == nil {
		t.Fatal("duplicate ids accepted")
	}
}

// TestRunProbesAndPublishes runs the real probers and publisher in a bubble of
// fake time: probes come at the configured interval, snapshots reach the
// subscriber, and everything stops when the context ends.
func TestRunProbesAndPublishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		probes := map[string]int{}
		probe := func(id string, class provider.Class) ProbeFunc {
			return func(ctx context.Context) provider.Outcome {
				mu.Lock()
				probes[id]++
				mu.Unlock()
				return provider.Outcome{Class: class, Duration: 50 * time.Millisecond}
			}
		}
		m, err := New(Options{ProbeInterval: 2 * time.Second, Publish: 500 * time.Millisecond}, []Endpoint{
			{ID: "up", Provider: "up", Model: "m", Probe: probe("up", provider.ClassOK)},
			{ID: "dead", Provider: "dead", Model: "m", Probe: probe("dead", provider.ClassConnect)},
			{ID: "passive", Provider: "passive", Model: "m"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		subCtx, subCancel := context.WithCancel(ctx)
		snaps := m.Subscribe(subCtx)
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()

		advance(firstProbeSpread)
		synctest.Wait()
		mu.Lock()
		early := probes["up"] + probes["dead"]
		mu.Unlock()
		if early != 2 {
			t.Fatalf("%d probes in the first %s, want one per probed endpoint", early, firstProbeSpread)
		}

		advance(20*time.Second - firstProbeSpread)
		synctest.Wait()
		mu.Lock()
		up, dead := probes["up"], probes["dead"]
		mu.Unlock()
		// First probe within 250ms, then every 2s ± 20%: 9 to 12 probes in
		// 20s. The dead one trips its breaker after 3 (about 4s in); its
		// probes go on looking at the same pace, and a trial goes as well
		// when each backoff ends (5s, then 10s later): 10 to 14 in all.
		if up < 9 || up > 12 || dead < 10 || dead > 14 {
			t.Fatalf("probes in 20s: up %d, dead %d", up, dead)
		}
		s := <-snaps
		if st, _ := s.Endpoint("dead"); st.State != Down || st.Probes != st.Requests || st.ProbeFailures != st.Probes {
			t.Fatalf("dead endpoint: %s, %d probes (%d failed) of %d requests", st.State, st.Probes, st.ProbeFailures, st.Requests)
		}
		if st, _ := s.Endpoint("up"); st.State != Healthy || st.Availability != 1 {
			t.Fatalf("up endpoint: %s %v", st.State, st.Availability)
		}
		if st, _ := s.Endpoint("passive"); st.Requests != 0 {
			t.Fatalf("passive endpoint was probed")
		}
		subCancel()
		synctest.Wait()
		if _, open := <-snaps; open {
			// A snapshot may have been waiting; the channel must close after it.
			if _, open := <-snaps; open {
				t.Fatal("subscription not closed after its context ended")
			}
		}
		cancel()
		<-done
	})
}

// A subscriber that never reads must not hold the monitor back.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newTestMonitor(t, SystemClock{}, "a")
		ctx, cancel := context.WithCancel(t.Context())
		_ = m.Subscribe(ctx) // never read
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		for range 10 {
			m.Record("a", ok(time.Second))
			advance(time.Second)
		}
		cancel()
		<-done
	})
}

func BenchmarkRecord(b *testing.B) {
	m := newTestMonitor(&testing.T{}, SystemClock{}, "a")
	o := ok(120 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		m.Record("a", o)
	}
}

func BenchmarkSnapshot10(b *testing.B) {
	clk := monitortest.NewClock()
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	m := newTestMonitor(&testing.T{}, clk, ids...)
	for i := range 1000 {
		m.Record(ids[i%len(ids)], ok(time.Duration(i)*time.Millisecond))
		if i%20 == 0 {
			clk.Advance(time.Second)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Record("a", ok(time.Millisecond)) // invalidate the cache each time
		_ = m.Snapshot()
	}
}

// The buckets of an outage hold no outcomes (no traffic goes to a down
// endpoint), yet the series marks them down, so that a plot shows the
// outage as failures rather than as a gap; the marks stay after it ends.
func TestSeriesMarksOutageBuckets(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a")
	o := m.Options()
	m.Record("a", ok(100*time.Millisecond))
	clk.Advance(o.Bucket)
	trip(m, "a")
	s := status(t, m, "a").Series
	if s.Bucket != o.Bucket {
		t.Errorf("series bucket %v, want %v", s.Bucket, o.Bucket)
	}
	if p := s.Current; !p.Down || p.ProviderErrors != o.DownAfter || p.Successes != 0 {
		t.Errorf("the bucket the outage began in: %+v", p)
	}
	clk.Advance(3 * o.Bucket) // silent buckets, the breaker open
	p := status(t, m, "a").Series.Points()
	n := len(p)
	for k := n - 4; k < n; k++ {
		if !p[k].Down {
			t.Errorf("point %d of the outage is not down: %+v", k, p[k])
		}
	}
	if p[n-5].Down || p[n-5].Successes != 1 {
		t.Errorf("the bucket before the outage: %+v", p[n-5])
	}
	// The trial succeeds: the outage ends, and later buckets are not down.
	clk.Advance(5 * time.Second)
	if _, admitted := m.Admit("a"); !admitted {
		t.Fatal("no trial admitted after the backoff")
	}
	m.Record("a", ok(100*time.Millisecond))
	if st := status(t, m, "a"); st.State == Down {
		t.Fatalf("still down after a successful trial: %s", st.Reason)
	}
	clk.Advance(2 * o.Bucket)
	p = status(t, m, "a").Series.Points()
	if p[n-1].Down || p[n-2].Down {
		t.Errorf("buckets after the outage are down: %+v %+v", p[n-2], p[n-1])
	}
	if !p[n-4].Down {
		t.Errorf("the outage's buckets lost their mark once it ended: %+v", p[n-4])
	}
}

// A snapshot may lag counts by Options.SnapshotLag, so that the router's
// snapshot per request does not rebuild the view at every outcome; an
// event (an outage, a cooldown, an endpoint turned off) is never late.
func TestSnapshotLagsCountsButNotEvents(t *testing.T) {
	clk := monitortest.NewClock()
	m, err := New(Options{Clock: clk, SnapshotLag: 5 * time.Millisecond}, []Endpoint{
		{ID: "a", Provider: "a", Model: "m"}, {ID: "b", Provider: "b", Model: "m"}, {ID: "c", Provider: "c", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Record("a", ok(100*time.Millisecond))
	first := m.Snapshot()
	m.Record("a", ok(100*time.Millisecond))
	clk.Advance(4 * time.Millisecond)
	if s := m.Snapshot(); s != first {
		t.Errorf("a snapshot within the lag was rebuilt for an outcome that changed only counts")
	}
	clk.Advance(time.Millisecond)
	if st := status(t, m, "a"); st.Requests != 2 {
		t.Errorf("after the lag: %d requests, want 2", st.Requests)
	}

	for range m.Options().DownAfter {
		m.Record("a", fail(provider.ClassServer))
	}
	if st := status(t, m, "a"); st.State != Down {
		t.Errorf("within the lag, after an outage began: %s, want down", st.State)
	}
	m.Record("b", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: time.Minute})
	if st := status(t, m, "b"); st.State != CoolingDown {
		t.Errorf("within the lag, after a 429: %s, want cooling", st.State)
	}
	if err := m.SetEnabled("c", false); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "c"); st.State != Disabled {
		t.Errorf("within the lag, after turning it off: %s, want disabled", st.State)
	}
}

// A negative lag, or a clock of the caller's without one, makes every
// outcome show in the next snapshot.
func TestSnapshotWithoutLag(t *testing.T) {
	for _, lag := range []time.Duration{0, -1} {
		clk := monitortest.NewClock()
		m, err := New(Options{Clock: clk, SnapshotLag: lag}, []Endpoint{{ID: "a", Provider: "a", Model: "m"}})
		if err != nil {
			t.Fatal(err)
		}
		for want := 1; want <= 3; want++ {
			m.Record("a", ok(100*time.Millisecond))
			if st := status(t, m, "a"); st.Requests != want {
				t.Errorf("lag %v: %d requests, want %d", lag, st.Requests, want)
			}
		}
	}
	if lag := (Options{}).withDefaults().SnapshotLag; lag != DefaultSnapshotLag {
		t.Errorf("on the system clock the lag is %v, want %v", lag, DefaultSnapshotLag)
	}
}

// StatusNear finds a status at the index given when it is that endpoint's,
// and by its id otherwise; nothing for an id the snapshot does not have.
func TestStatusNear(t *testing.T) {
	m := newTestMonitor(t, monitortest.NewClock(), "m@a", "m@b")
	s := m.Snapshot()
	for _, tc := range []struct {
		i    int
		id   string
		want *EndpointStatus
	}{
		{1, "m@b", &s.Endpoints[1]},
		{0, "m@b", &s.Endpoints[1]},  // another's index: by id
		{7, "m@a", &s.Endpoints[0]},  // out of range: by id
		{-1, "m@a", &s.Endpoints[0]}, // no index
		{0, "m@gone", nil},
	} {
		if got := s.StatusNear(tc.i, tc.id); got != tc.want {
			t.Errorf("StatusNear(%d, %q) = %p, want %p", tc.i, tc.id, got, tc.want)
		}
	}
	if got := (*Snapshot)(nil).StatusNear(0, "m@a"); got != nil {
		t.Errorf("a nil snapshot's status: %p", got)
	}
}
