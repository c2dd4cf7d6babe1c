package monitor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// joined is a test monitor of these endpoints that is one replica of a
// fleet.
func joined(t testing.TB, clk Clock, replica string, ids ...string) *Monitor {
	t.Helper()
	m := newTestMonitor(t, clk, ids...)
	m.JoinFleet(replica)
	return m
}

// only returns the one change of this kind among cs, failing if there is
// not exactly one.
func only(t *testing.T, cs []Change, k ChangeKind) Change {
	t.Helper()
	var found []Change
	for _, c := range cs {
		if c.Kind == k {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d changes %q in %+v, want one", len(found), k, cs)
	}
	return found[0]
}

// answer is a streamed success: it has a first token, a gap and a speed.
func answer(d time.Duration) provider.Outcome {
	return provider.Outcome{Class: provider.ClassOK, Duration: d, TTFT: d / 4, MaxGap: d / 10, OutputTokens: 40}
}

// sameFigures fails unless b shows the fleet figures of a's endpoint id:
// counts, ratios and distributions.
func sameFigures(t *testing.T, a, b *Monitor, id string) {
	t.Helper()
	x, y := status(t, a, id), status(t, b, id)
	type figures struct {
		Requests, Probes, ProbeFailures, Successes, ProviderErrors, UserErrors, RateLimited int
		Availability, Availability30m, Availability1d, ErrorRate                            float64
		Errors                                                                              [provider.NumClasses]int
		Latency, TTFT, Latency30m, TTFT30m, Gap30m                                          Percentiles
		Throughput, Throughput30m                                                           Rates
		Current                                                                             Point
	}
	of := func(s EndpointStatus) figures {
		return figures{s.Requests, s.Probes, s.ProbeFailures, s.Successes, s.ProviderErrors, s.UserErrors, s.RateLimited,
			s.Availability, s.Availability30m, s.Availability1d, s.ErrorRate, s.Errors,
			s.Latency, s.TTFT, s.Latency30m, s.TTFT30m, s.Gap30m, s.Throughput, s.Throughput30m, s.Series.Current}
	}
	if fx, fy := of(x), of(y); fx != fy {
		t.Fatalf("the figures differ:\nrecorded %+v\nmerged   %+v", fx, fy)
	}
}

// A replica's tally carries every figure of its outcomes, distributions
// included, to another replica, once: the other counts them as the
// fleet's, not as its own.
func TestFleetTallyRoundTrip(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	if a.TakeTally() != nil {
		t.Fatal("a tally before anything was recorded")
	}
	for i := range 6 {
		a.Record("x", answer(time.Duration(100+50*i)*time.Millisecond))
	}
	a.Record("x", fail(provider.ClassServer))
	a.Record("x", provider.Outcome{Class: provider.ClassOK, Probe: true, Duration: 80 * time.Millisecond, TTFT: 60 * time.Millisecond, OutputTokens: 8})
	clk.Advance(a.Options().Bucket) // a second bucket
	a.Record("x", answer(2*time.Second))
	a.Record("x", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 10 * time.Second})
	a.Record("x", provider.Outcome{Class: provider.ClassConnect, Probe: true})
	a.Record("x", fail(provider.ClassBadRequest))
	for range 3 {
		a.Record("x", answer(300*time.Millisecond))
	}
	if st := status(t, a, "x"); st.Requests != 15 || st.Probes != 2 || st.ProbeFailures != 1 || st.ProviderErrors != 2 ||
		st.RateLimited != 1 || st.UserErrors != 1 || st.TTFT.P50 <= 0 || st.Breaker != BreakerClosed {
		t.Fatalf("a's own view: %d requests, %d probes (%d failed), %d provider errors, %d rate limited, %d user errors, TTFT %v, breaker %s",
			st.Requests, st.Probes, st.ProbeFailures, st.ProviderErrors, st.RateLimited, st.UserErrors, st.TTFT, st.Breaker)
	}

	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	sameFigures(t, a, b, "x")
	if tally := a.TakeTally(); tally != nil {
		t.Fatalf("a second tally without new outcomes: %d bytes", len(tally))
	}

	// Here is the replica's own: all of a's figures, none of b's.
	sa, sb := status(t, a, "x"), status(t, b, "x")
	if sa.Here == nil || *sa.Here != (Here{Requests: sa.Requests, Successes: sa.Successes, ProviderErrors: sa.ProviderErrors,
		Availability: sa.Availability, ErrorRate: sa.ErrorRate}) {
		t.Fatalf("a's Here %+v, want its own figures (%d requests, availability %v)", sa.Here, sa.Requests, sa.Availability)
	}
	if sb.Here == nil || *sb.Here != (Here{Availability: NoData, ErrorRate: NoData}) {
		t.Fatalf("b's Here %+v, want nothing of its own", sb.Here)
	}
	if n, av := a.OwnFigures(); n != sa.Requests || av != sa.Availability {
		t.Fatalf("a's own figures %d requests, availability %v; want %d, %v", n, av, sa.Requests, sa.Availability)
	}
	if n, av := b.OwnFigures(); n != 0 || av != NoData {
		t.Fatalf("b's own figures %d requests, availability %v; want none", n, av)
	}

	// What a records after a take goes out in the next take, and only
	// there: in the bucket a slot was already taken from, and in a new one.
	a.Record("x", answer(time.Second))
	clk.Advance(a.Options().Bucket)
	a.Record("x", fail(provider.ClassServer))
	a.Record("x", answer(700*time.Millisecond))
	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	if st := status(t, b, "x"); st.Requests != 18 {
		t.Fatalf("b counts %d requests after the second tally, want 18", st.Requests)
	}
	sameFigures(t, a, b, "x")
	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	sameFigures(t, a, b, "x")
}

// A tally names its endpoints: one the other replica does not have is
// skipped, the others merge.
func TestFleetTallySkipsUnknownEndpoints(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x", "y"), joined(t, clk, "b", "y")
	a.Record("x", answer(time.Second))
	a.Record("y", answer(time.Second))
	a.Record("y", answer(time.Second))
	if err := b.MergeTally(a.TakeTally()); err != nil {
		t.Fatal(err)
	}
	if st := status(t, b, "y"); st.Requests != 2 {
		t.Fatalf("b counts %d requests of y, want 2", st.Requests)
	}
}

// A breaker that opens on one replica opens on the others, and closes on
// them when it closes; what a replica applies does not go out again.
func TestFleetBreakerOpeningPropagates(t *testing.T) {
	clk := monitortest.NewClock()
	a := newTestMonitor(t, clk, "x")
	wake := a.JoinFleet("a")
	b := joined(t, clk, "b", "x")
	trip(a, "x")
	select {
	case <-wake:
	default:
		t.Fatal("the opening did not wake the sender")
	}
	opened := only(t, a.TakeChanges(), ChangeOpened)
	if opened.Endpoint != "x" || !opened.Until.Equal(clk.Now().Add(a.Options().BreakerBackoff)) ||
		opened.Backoff != a.Options().BreakerBackoff || !strings.Contains(opened.Why, "errors in a row") {
		t.Fatalf("opened: %+v", opened)
	}
	if cs := a.TakeChanges(); len(cs) != 0 {
		t.Fatalf("changes taken twice: %+v", cs)
	}

	b.Apply("a", opened)
	st := status(t, b, "x")
	if st.State != Down || st.Breaker != BreakerOpen || !st.NextTrial.Equal(opened.Until) || !strings.Contains(st.Reason, "replica a") {
		t.Fatalf("b after the opening: %s, breaker %s, next trial %v (%s)", st.State, st.Breaker, st.NextTrial, st.Reason)
	}
	if _, ok := b.Admit("x"); ok {
		t.Fatal("b admitted a request to an endpoint the fleet found down")
	}
	if cs := b.TakeChanges(); len(cs) != 0 {
		t.Fatalf("b shares what it applied: %+v", cs)
	}

	b.Apply("a", Change{Kind: ChangeClosed, Endpoint: "x", Why: "the trial succeeded", At: clk.Now()})
	if st := status(t, b, "x"); st.State != Healthy || st.Breaker != BreakerClosed || !st.OutageSince.IsZero() {
		t.Fatalf("b after the closing: %s, breaker %s, outage since %v", st.State, st.Breaker, st.OutageSince)
	}
	if _, ok := b.Admit("x"); !ok {
		t.Fatal("b refused a request after the fleet closed the breaker")
	}
	if cs := b.TakeChanges(); len(cs) != 0 {
		t.Fatalf("b shares what it applied: %+v", cs)
	}
}

// A trial that fails on one replica reopens the breaker on the others that
// waited half-open, for the longer backoff.
func TestFleetFailedTrialReopensTheOthers(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	trip(a, "x")
	b.Apply("a", only(t, a.TakeChanges(), ChangeOpened))
	clk.Advance(a.Options().BreakerBackoff)
	gen, ok := a.Admit("x") // alone (not linked): the trial goes without a lease
	if !ok {
		t.Fatal("no trial on a")
	}
	if st := status(t, b, "x"); st.Breaker != BreakerHalfOpen {
		t.Fatalf("b after the backoff: breaker %s", st.Breaker)
	}
	o := fail(provider.ClassServer)
	o.Gen = gen
	a.Record("x", o)
	reopened := only(t, a.TakeChanges(), ChangeOpened)
	if reopened.Backoff != 2*a.Options().BreakerBackoff {
		t.Fatalf("reopened with backoff %s", reopened.Backoff)
	}
	b.Apply("a", reopened)
	st := status(t, b, "x")
	if st.Breaker != BreakerOpen || !st.NextTrial.Equal(reopened.Until) {
		t.Fatalf("b after the failed trial: breaker %s, next trial %v, want open until %v", st.Breaker, st.NextTrial, reopened.Until)
	}
	if _, ok := b.Admit("x"); ok {
		t.Fatal("b let a trial go after the fleet's failed")
	}
}

// halfOpen trips the endpoint's breaker and lets its backoff pass; it
// returns the trial that half-open period is leased as.
func halfOpen(t *testing.T, m *Monitor, clk *monitortest.Clock, id string) Trial {
	t.Helper()
	trip(m, id)
	if _, ok := m.Admit(id); ok {
		t.Fatal("an open breaker admitted a request")
	}
	until := status(t, m, id).NextTrial
	clk.Set(until)
	return Trial{Endpoint: id, Round: until.UnixMilli()}
}

// While the link is up, a half-open breaker's one trial goes only from the
// replica that holds the fleet's lease, and only while it holds it.
func TestFleetTrialNeedsTheLease(t *testing.T) {
	clk := monitortest.NewClock()
	a := joined(t, clk, "a", "x")
	a.SetFleet(FleetStatus{Linked: true})
	if f := a.Snapshot().Fleet; f == nil || !f.Linked || f.Replica != "a" {
		t.Fatalf("fleet status %+v", f)
	}
	trial := halfOpen(t, a, clk, "x")
	if _, ok := a.Admit("x"); ok {
		t.Fatal("the trial went without the lease")
	}
	if got := a.WantTrials(); !slices.Equal(got, []Trial{trial}) {
		t.Fatalf("wants trials %v, want %v", got, trial)
	}
	if got := a.TrialsOut(); len(got) != 0 {
		t.Fatalf("trials out before any went: %v", got)
	}

	a.GrantTrial(trial, clk.Now().Add(3*time.Second))
	if got := a.WantTrials(); len(got) != 0 {
		t.Fatalf("still wants trials %v once granted", got)
	}
	if got := a.TrialsOut(); len(got) != 0 {
		t.Fatalf("trials out %v granted but not yet sent", got)
	}
	gen, ok := a.Admit("x")
	if !ok {
		t.Fatal("the lease holder's trial was refused")
	}
	if _, ok := a.Admit("x"); ok {
		t.Fatal("a second trial went under one lease")
	}
	if got := a.TrialsOut(); !slices.Equal(got, []Trial{trial}) {
		t.Fatalf("trials out %v, want %v", got, trial)
	}

	o := answer(time.Second)
	o.Gen = gen
	a.Record("x", o)
	only(t, a.TakeChanges(), ChangeClosed)
	if got := a.TrialsOut(); len(got) != 0 {
		t.Fatalf("trials out %v after the trial reported back", got)
	}
	if _, ok := a.Admit("x"); !ok {
		t.Fatal("refused after the trial closed the breaker")
	}
}

// A lease that ran out lets no trial go: the replica must ask again.
func TestFleetTrialLeaseExpires(t *testing.T) {
	clk := monitortest.NewClock()
	a := joined(t, clk, "a", "x")
	a.SetFleet(FleetStatus{Linked: true})
	trial := halfOpen(t, a, clk, "x")
	a.GrantTrial(trial, clk.Now().Add(time.Second))
	clk.Advance(2 * time.Second)
	if _, ok := a.Admit("x"); ok {
		t.Fatal("the trial went on an expired lease")
	}
	if got := a.WantTrials(); !slices.Equal(got, []Trial{trial}) {
		t.Fatalf("wants trials %v after the lease expired, want %v", got, trial)
	}
}

// Every replica names a half-open period alike, and a lease of an earlier
// period, heard late, lets no trial go in a later one.
func TestFleetTrialLeaseIsOfOneRound(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	a.SetFleet(FleetStatus{Linked: true})
	b.SetFleet(FleetStatus{Linked: true})
	trip(a, "x")
	b.Apply("a", only(t, a.TakeChanges(), ChangeOpened))
	clk.Advance(a.Options().BreakerBackoff)
	first := a.WantTrials()
	if len(first) != 1 || !slices.Equal(b.WantTrials(), first) {
		t.Fatalf("a wants %v, b wants %v: one trial, named alike", first, b.WantTrials())
	}

	a.GrantTrial(first[0], clk.Now().Add(time.Minute))
	gen, ok := a.Admit("x")
	if !ok {
		t.Fatal("the lease holder's trial was refused")
	}
	o := fail(provider.ClassServer)
	o.Gen = gen
	a.Record("x", o) // the trial failed: open again, for twice as long
	b.Apply("a", only(t, a.TakeChanges(), ChangeOpened))
	clk.Advance(2 * a.Options().BreakerBackoff)
	second := a.WantTrials()
	if len(second) != 1 || second[0] == first[0] || !slices.Equal(b.WantTrials(), second) {
		t.Fatalf("after the failed trial a wants %v, b wants %v; want one new trial (the first was %v)", second, b.WantTrials(), first)
	}
	a.GrantTrial(first[0], clk.Now().Add(time.Minute)) // the first lease, renewed late
	b.GrantTrial(first[0], clk.Now().Add(time.Minute))
	if _, ok := a.Admit("x"); ok {
		t.Fatal("a's lease of the first trial let a second go")
	}
	if _, ok := b.Admit("x"); ok {
		t.Fatal("a lease of the first trial let b's go")
	}
	b.GrantTrial(second[0], clk.Now().Add(time.Minute))
	if _, ok := b.Admit("x"); !ok {
		t.Fatal("b's lease of the second trial was refused")
	}
}

// While the link is down (or before it is up), a replica's half-open
// breaker lets its trial go as it would alone.
func TestFleetTrialWithoutTheLinkNeedsNoLease(t *testing.T) {
	clk := monitortest.NewClock()
	a := joined(t, clk, "a", "x")
	a.SetFleet(FleetStatus{Linked: false, Detail: "redis unreachable"})
	halfOpen(t, a, clk, "x")
	if _, ok := a.Admit("x"); !ok {
		t.Fatal("an unlinked replica's trial waited for a lease")
	}
	if _, ok := a.Admit("x"); ok {
		t.Fatal("two trials at once")
	}
}

// A rate limit one replica meets cools the endpoint down on the others,
// and a shorter one heard later does not shorten it.
func TestFleetCooldownPropagates(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	until := clk.Now().Add(30 * time.Second)
	a.Record("x", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 30 * time.Second})
	cool := only(t, a.TakeChanges(), ChangeCooldown)
	if !cool.Until.Equal(until) {
		t.Fatalf("cooldown until %v, want %v", cool.Until, until)
	}

	b.Apply("a", cool)
	if st := status(t, b, "x"); st.State != CoolingDown || !st.CooldownUntil.Equal(until) {
		t.Fatalf("b after the cooldown: %s until %v", st.State, st.CooldownUntil)
	}
	clk.Advance(5 * time.Second)
	b.Apply("c", Change{Kind: ChangeCooldown, Endpoint: "x", Until: clk.Now().Add(5 * time.Second), Why: "429", At: clk.Now()})
	if st := status(t, b, "x"); !st.CooldownUntil.Equal(until) {
		t.Fatalf("a shorter cooldown moved the end to %v, want %v", st.CooldownUntil, until)
	}
	if cs := b.TakeChanges(); len(cs) != 0 {
		t.Fatalf("b shares what it applied: %+v", cs)
	}
	clk.Set(until)
	if st := status(t, b, "x"); st.State != Healthy {
		t.Fatalf("b after the cooldown ended: %s", st.State)
	}
}

// Turning an endpoint off or on is the fleet's, the newest toggle winning
// whatever order they arrive in.
func TestFleetTogglesPropagate(t *testing.T) {
	clk := monitortest.NewClock()
	a, b := joined(t, clk, "a", "x"), joined(t, clk, "b", "x")
	off := clk.Now()
	if err := a.SetEnabledBy("x", false, "alice"); err != nil {
		t.Fatal(err)
	}
	toggled := only(t, a.TakeChanges(), ChangeToggled)
	if toggled.On || toggled.By != "alice" || !toggled.At.Equal(off) {
		t.Fatalf("toggled: %+v", toggled)
	}

	clk.Advance(time.Second)
	b.Apply("a", toggled)
	st := status(t, b, "x")
	if st.Enabled || st.State != Disabled || !strings.Contains(st.OffBy, "alice") || !strings.Contains(st.OffBy, "replica a") {
		t.Fatalf("b after a's toggle: enabled %v, %s, off by %q", st.Enabled, st.State, st.OffBy)
	}
	if cs := b.TakeChanges(); len(cs) != 0 {
		t.Fatalf("b shares what it applied: %+v", cs)
	}

	clk.Advance(time.Second)
	if err := b.SetEnabledBy("x", true, "bob"); err != nil { // the newest toggle
		t.Fatal(err)
	}
	only(t, b.TakeChanges(), ChangeToggled)
	b.Apply("c", Change{Kind: ChangeToggled, Endpoint: "x", On: false, By: "carol", At: off.Add(time.Second / 2)})
	if st := status(t, b, "x"); !st.Enabled {
		t.Fatalf("an older toggle by %q undid bob's newer one", st.OffBy)
	}
	b.Apply("c", Change{Kind: ChangeToggled, Endpoint: "x", On: false, By: "carol", At: clk.Now().Add(time.Second)})
	if st := status(t, b, "x"); st.Enabled || !strings.Contains(st.OffBy, "carol") {
		t.Fatalf("a newer toggle was ignored: enabled %v, off by %q", st.Enabled, st.OffBy)
	}
}

// Standing tells where a replica's endpoints stand away from the usual,
// and applied on a replica that knew nothing it brings it there.
func TestFleetStanding(t *testing.T) {
	clk := monitortest.NewClock()
	a := joined(t, clk, "a", "open", "cool", "off", "fine")
	trip(a, "open")
	a.Record("cool", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: time.Minute})
	if err := a.SetEnabledBy("off", false, "alice"); err != nil {
		t.Fatal(err)
	}
	a.Record("fine", answer(time.Second))
	clk.Advance(time.Second)

	standing := a.Standing()
	if len(standing) != 3 {
		t.Fatalf("standing %+v, want three changes", standing)
	}
	if c := only(t, standing, ChangeOpened); c.Endpoint != "open" || !c.Until.Equal(status(t, a, "open").NextTrial) || c.Backoff != a.Options().BreakerBackoff {
		t.Fatalf("opened: %+v", c)
	}
	if c := only(t, standing, ChangeCooldown); c.Endpoint != "cool" || !c.Until.Equal(status(t, a, "cool").CooldownUntil) {
		t.Fatalf("cooldown: %+v", c)
	}
	if c := only(t, standing, ChangeToggled); c.Endpoint != "off" || c.On || !strings.Contains(c.By, "alice") {
		t.Fatalf("toggled: %+v", c)
	}

	b := joined(t, clk, "b", "open", "cool", "off", "fine")
	for _, c := range standing {
		b.Apply("a", c)
	}
	for id, want := range map[string]State{"open": Down, "cool": CoolingDown, "off": Disabled, "fine": Healthy} {
		if st := status(t, b, id); st.State != want {
			t.Errorf("b's %s: %s, want %s", id, st.State, want)
		}
	}
}

// A change to an endpoint this replica does not have is ignored.
func TestFleetApplyIgnoresUnknownEndpoints(t *testing.T) {
	clk := monitortest.NewClock()
	b := joined(t, clk, "b", "x")
	b.Apply("a", Change{Kind: ChangeOpened, Endpoint: "gone", Until: clk.Now().Add(time.Minute), At: clk.Now()})
	if st := status(t, b, "x"); st.State != Healthy {
		t.Fatalf("x: %s", st.State)
	}
}
