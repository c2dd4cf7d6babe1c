package monitor

import (
	"fmt"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// A tally of a bucket that ended shows in the series point of that bucket,
// and in its minute, though a snapshot was read in between.
func TestFleetLateTallyShowsInFinishedBuckets(t *testing.T) {
	clk := monitortest.NewClockAt(monitortest.Start.Add(59 * time.Second))
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	a.Record("x", answer(time.Second))
	tally := a.TakeTally()
	clk.Advance(2 * time.Second) // the next bucket, and the next minute
	_ = status(t, b, "x")
	_ = b.Minutes("x")
	if err := b.MergeTally(tally); err != nil {
		t.Fatal(err)
	}
	done := status(t, b, "x").Series.Done
	if got := done[len(done)-1].Requests; got != 1 {
		t.Errorf("the finished bucket's point shows %d requests, want 1", got)
	}
	ms := b.Minutes("x")
	if got := ms[len(ms)-2].Requests; got != 1 {
		t.Errorf("the finished minute shows %d requests, want 1", got)
	}
}

// A tally from a replica whose clock runs a little ahead is counted, not
// dropped as from the future.
func TestFleetTallyFromAClockAhead(t *testing.T) {
	a := joined(t, monitortest.NewClock(), "a", "x")
	b := joined(t, monitortest.NewClockAt(monitortest.Start.Add(-10*time.Millisecond)), "b", "x")
	a.Record("x", answer(time.Second))
	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	if got := status(t, b, "x").Requests; got != 1 {
		t.Fatalf("b, 10ms behind, counts %d requests, want 1", got)
	}
}

// A breaker this replica opens itself goes out, even when it opens as a
// change from elsewhere is applied.
func TestFleetOwnOpeningDuringApplyGoesOut(t *testing.T) {
	clk := monitortest.NewClock()
	b := joined(t, clk, "b", "x")
	b.Record("x", answer(time.Second))
	_ = status(t, b, "x") // reads the 30-minute first-token p99
	b.Sent("x")
	clk.Advance(11 * time.Second) // owed longer than a probe may take
	b.Apply("a", Change{Kind: ChangeCooldown, Endpoint: "x", Until: clk.Now().Add(time.Second), At: clk.Now()})
	if st := status(t, b, "x"); st.Breaker != BreakerOpen {
		t.Fatalf("breaker %s", st.Breaker)
	}
	only(t, b.TakeChanges(), ChangeOpened)
}

// A lease granted once the backoff passed counts, even before anything
// moved the breaker to half-open.
func TestFleetGrantAfterTheBackoff(t *testing.T) {
	clk := monitortest.NewClock()
	a := joined(t, clk, "a", "x")
	a.SetFleet(FleetStatus{Linked: true})
	trip(a, "x")
	until := clk.Now().Add(a.Options().BreakerBackoff)
	clk.Set(until)
	a.GrantTrial(Trial{Endpoint: "x", Round: until.UnixMilli()}, clk.Now().Add(3*time.Second))
	if _, ok := a.Admit("x"); !ok {
		t.Fatal("the granted trial was refused")
	}
}

// The newest toggle wins on every replica, whatever order they arrive in,
// even when it changed nothing on the replica that heard it first.
func TestFleetTogglesConverge(t *testing.T) {
	clk := monitortest.NewClock()
	b := joined(t, clk, "b", "x")
	t0 := clk.Now()
	b.Apply("a", Change{Kind: ChangeToggled, Endpoint: "x", On: false, By: "alice", At: t0})
	b.Apply("a", Change{Kind: ChangeToggled, Endpoint: "x", On: false, By: "alice", At: t0.Add(2 * time.Second)})
	b.Apply("c", Change{Kind: ChangeToggled, Endpoint: "x", On: true, By: "carol", At: t0.Add(time.Second)})
	if status(t, b, "x").Enabled {
		t.Fatal("carol's toggle undid alice's newer one")
	}
}

// A replica rejoining while its breaker waits half-open says so.
func TestFleetStandingHalfOpen(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	trip(a, "x")
	a.TakeChanges() // lost
	clk.Advance(a.Options().BreakerBackoff)
	for _, c := range a.Standing() {
		b.Apply("a", c)
	}
	if st := status(t, b, "x"); st.State != Down {
		t.Fatalf("b: %s, while a waits for a trial", st.State)
	}
}

// What a replica tells the fleet again on rejoining (Standing) still names
// where it first happened, once: "alice on replica a", not "alice on
// replica a on replica b"; an outage likewise.
func TestFleetStandingKeepsTheOrigin(t *testing.T) {
	clk := monitortest.NewClock()
	a, b, c := joined(t, clk, "a", "x"), joined(t, clk, "b", "x"), joined(t, clk, "c", "x")
	if err := a.SetEnabledBy("x", false, "alice"); err != nil {
		t.Fatal(err)
	}
	b.Apply("a", only(t, a.TakeChanges(), ChangeToggled))
	for _, ch := range b.Standing() {
		c.Apply("b", ch)
	}
	if st := status(t, c, "x"); st.OffBy != "alice on replica a" {
		t.Errorf("c says x was turned off by %q; want %q", st.OffBy, "alice on replica a")
	}
}

// What routing delivered is the fleet's too: a request one replica routed
// counts in every replica's model figures.
func TestFleetTallyCarriesRoutedRequests(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	a.RecordRequest("m", provider.ClassOK)
	a.RecordRequest("m", provider.ClassServer)
	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	if ms := b.Snapshot().Models[0]; ms.Requests != 2 || ms.Delivered != 0.5 {
		t.Errorf("b's model figures after a's two routed requests: %d requests, %v delivered; want 2 and 0.5", ms.Requests, ms.Delivered)
	}
	if tally := a.TakeTally(); tally != nil {
		t.Errorf("a hands out its routed requests twice: %d bytes", len(tally))
	}
}

// In a linked fleet each endpoint is probed by one replica, the same on
// every replica; cut off, a replica probes them all again.
func TestFleetProbesEachEndpointOnce(t *testing.T) {
	clk := monitortest.NewClock()
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("e%d", i))
	}
	a, b := joined(t, clk, "a", ids...), joined(t, clk, "b", ids...)
	both := []ReplicaStatus{{Name: "a"}, {Name: "b"}}
	a.SetFleet(FleetStatus{Linked: true, Replicas: both})
	b.SetFleet(FleetStatus{Linked: true, Replicas: both})
	probes := map[string]int{}
	for _, id := range ids {
		for _, m := range []*Monitor{a, b} {
			if _, ok, _ := m.admit(id, true); ok {
				probes[id]++
			}
		}
		if probes[id] != 1 {
			t.Errorf("%s is probed by %d replicas; want 1", id, probes[id])
		}
	}
	var byA int
	for _, id := range ids {
		if _, ok, _ := a.admit(id, true); ok {
			byA++
		}
	}
	if byA == 0 || byA == len(ids) {
		t.Errorf("a probes %d of %d endpoints; want a share", byA, len(ids))
	}
	a.SetFleet(FleetStatus{Linked: false, Detail: "cut off"})
	for _, id := range ids {
		if _, ok, _ := a.admit(id, true); !ok {
			t.Errorf("cut off, a does not probe %s", id)
		}
	}
}
