package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// redisDown is what package cluster says while Redis is out of reach.
const redisDown = "Redis at 127.0.0.1:6379 out of reach since 12:00:01 (dial tcp 127.0.0.1:6379: connect: connection refused); figures and states are this replica's own"

// fleetStack is the stack's monitor as replica gw-1 of a fleet of three:
// groq answered 4 times here, and 6 times (one of them a failure) on
// replica gw-2, whose tally gw-1 merged; gw-3 sent nothing.
func fleetStack(t *testing.T) *stack {
	t.Helper()
	s := newStack(t, fleetModels)
	s.mon.JoinFleet("gw-1")
	other := newStack(t, fleetModels)
	other.mon.JoinFleet("gw-2")
	groq := endpointID(fleetModels[0].name, "groq")
	ok := provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 400 * time.Millisecond}
	for range 4 {
		s.mon.Record(groq, ok)
	}
	for range 5 {
		other.mon.Record(groq, ok)
	}
	other.mon.Record(groq, provider.Outcome{Class: provider.ClassServer, Status: 500})
	if err := s.mon.MergeTally(other.mon.TakeTally()); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Second)
	now := s.clock.Now()
	s.mon.SetFleet(monitor.FleetStatus{Linked: true, Replicas: []monitor.ReplicaStatus{
		{Name: "gw-3", Seen: now.Add(-2500 * time.Millisecond), Requests: 0, Availability: monitor.NoData},
		{Name: "gw-1", Seen: now.Add(-300 * time.Millisecond), Requests: 4, Availability: 1},
		{Name: "gw-2", Seen: now.Add(-1200 * time.Millisecond), Requests: 6, Availability: 5.0 / 6},
	}})
	return s
}

// In a fleet the dashboard says so under the header, marks the table's
// figures as the fleet's, sets this replica's own beside the fleet's for
// the selected endpoint, and r shows each replica, by name.
func TestFleetLinked(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {140, 45}} {
		s := fleetStack(t)
		m, _ := newTestDashboard(t, s)
		frame := render(m, size.w, size.h)
		checkFrame(t, frame, size.w, size.h)
		lines := strings.Split(frame, "\n")
		if want := "fleet: 3 replicas · this is gw-1 · figures are the fleet's"; !strings.HasPrefix(lines[1], want) {
			t.Errorf("%dx%d: the line under the header is %q, want %q", size.w, size.h, lines[1], want)
		}
		for _, want := range []string{
			"the fleet's figures · 6/6 answering", // the providers' title
			"fleet: 10 req, 90.0% · here: 4 req, 100%",
			"r replicas", // the help
		} {
			if !strings.Contains(frame, want) {
				t.Errorf("%dx%d: the screen lacks %q:\n%s", size.w, size.h, want, frame)
			}
		}
		if strings.Contains(frame, "gw-2") {
			t.Errorf("%dx%d: the replicas show before r:\n%s", size.w, size.h, frame)
		}

		m.Update(keyPress("r"))
		frame = render(m, size.w, size.h)
		checkFrame(t, frame, size.w, size.h)
		lines = strings.Split(frame, "\n")
		want := []string{
			"  replica     requests avail  seen",
			"  gw-1 (this)        4  100%  just now",
			"  gw-2               6 83.3%  1s ago",
			"  gw-3               0     —  2s ago",
		}
		for i, w := range want {
			if got := strings.TrimRight(lines[2+i], " "); got != w {
				t.Errorf("%dx%d: line %d is %q, want %q\n%s", size.w, size.h, 2+i, got, w, frame)
			}
		}
		if !strings.HasPrefix(lines[6], "Providers") || m.screen.providers.y != 6 {
			t.Errorf("%dx%d: the providers start at %d, not under the replicas:\n%s", size.w, size.h, m.screen.providers.y, frame)
		}
		m.Update(keyPress("r"))
		if frame = render(m, size.w, size.h); strings.Contains(frame, "gw-2") || !strings.HasPrefix(strings.Split(frame, "\n")[2], "Providers") {
			t.Errorf("%dx%d: r again did not hide the replicas:\n%s", size.w, size.h, frame)
		}
	}
}

// Cut off from the fleet, the line under the header warns, says why and
// that the figures are this replica's own; on a narrow screen the error's
// own words give way first, and r shows them in full.
func TestFleetCutOff(t *testing.T) {
	s := fleetStack(t)
	s.mon.SetFleet(monitor.FleetStatus{Linked: false, Detail: redisDown})
	m, _ := newTestDashboard(t, s)

	frame := render(m, 200, 45)
	if want := "fleet: gw-1 cut off — " + redisDown; !strings.HasPrefix(strings.Split(frame, "\n")[1], want) {
		t.Errorf("at 200 columns the fleet's line is %q, want %q", strings.Split(frame, "\n")[1], want)
	}
	// Narrower, the warning takes two lines, and at 60 columns the error's
	// own words give way.
	for w, want := range map[int]string{
		100: "fleet: gw-1 cut off — " + redisDown,
		60:  "fleet: gw-1 cut off — Redis at 127.0.0.1:6379 out of reach since 12:00:01; figures and states are this replica's own",
	} {
		frame = render(m, w, 30)
		checkFrame(t, frame, w, 30)
		lines := strings.Split(frame, "\n")
		if got := flat(lines[1] + " " + lines[2]); got != want {
			t.Errorf("at %d columns the fleet's lines are\n%s\n%s\nwant %q", w, lines[1], lines[2], want)
		}
		if !strings.HasPrefix(lines[3], "Providers") {
			t.Errorf("at %d columns the providers do not follow the warning:\n%s", w, frame)
		}
	}
	frame = render(m, 100, 30)
	for _, want := range []string{"cut off: this replica's figures · 6/6 answering", "all: 10 req, 90.0% · here: 4 req, 100%"} {
		if !strings.Contains(frame, want) {
			t.Errorf("the screen lacks %q:\n%s", want, frame)
		}
	}
	if strings.Contains(frame, "the fleet's") {
		t.Errorf("cut off, the screen still says its figures are the fleet's:\n%s", frame)
	}
	// r says no replica is known; where the warning had to shorten the
	// reason, it gives it in full.
	m.Update(keyPress("r"))
	frame = render(m, 100, 30)
	if lines := strings.Split(frame, "\n"); strings.TrimRight(lines[3], " ") != "  no news of the other replicas while cut off" {
		t.Errorf("r while cut off:\n%s", frame)
	}
	frame = render(m, 60, 30)
	checkFrame(t, frame, 60, 30)
	if f := flat(frame); !strings.Contains(f, "no news of the other replicas while cut off: "+redisDown) {
		t.Errorf("r at 60 columns does not give the whole reason:\n%s", frame)
	}

	// Linked again, the warning goes and the replicas come back.
	s.clock.Advance(time.Second)
	s.mon.SetFleet(monitor.FleetStatus{Linked: true, Replicas: []monitor.ReplicaStatus{
		{Name: "gw-1", Seen: s.clock.Now(), Requests: 4, Availability: 1},
		{Name: "gw-2", Seen: s.clock.Now(), Requests: 6, Availability: 5.0 / 6},
	}})
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	s.clock.Advance(dataEvery)
	frame = render(m, 100, 30)
	checkFrame(t, frame, 100, 30)
	if strings.Contains(frame, "cut off") || !strings.Contains(frame, "fleet: 2 replicas · this is gw-1") ||
		!strings.Contains(frame, "gw-2               6 83.3%") {
		t.Errorf("linked again:\n%s", frame)
	}
}

// A watcher reads the snapshot as JSON from the gateway's admin API: the
// fleet and each endpoint's own figures come through, and show the same.
func TestFleetThroughJSON(t *testing.T) {
	s := fleetStack(t)
	m, _ := newTestDashboard(t, s)
	m.Update(keyPress("r"))
	want := render(m, 140, 45)

	b, err := json.Marshal(s.mon.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var read monitor.Snapshot
	if err := json.Unmarshal(b, &read); err != nil {
		t.Fatal(err)
	}
	read.Version++ // newer than the one shown, as the watcher's next would be
	m.Update(snapshotMsg{snap: &read})
	if m.snap != &read {
		t.Fatal("the snapshot read from JSON is not shown")
	}
	if got := render(m, 140, 45); got != want {
		t.Errorf("read back from JSON the screen differs:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// Alone, nothing on the screen speaks of a fleet, and r does nothing.
func TestAloneShowsNoFleet(t *testing.T) {
	s := newStack(t, fleetModels)
	s.history(t)
	m, _ := newTestDashboard(t, s)
	for _, size := range []struct{ w, h int }{{80, 24}, {100, 30}, {140, 45}, {200, 60}} {
		frame := render(m, size.w, size.h)
		for _, lack := range []string{"fleet", "replica", "here:", "cut off"} {
			if strings.Contains(frame, lack) {
				t.Errorf("%dx%d: alone, the screen has %q:\n%s", size.w, size.h, lack, frame)
			}
		}
		m.Update(keyPress("r"))
		if again := render(m, size.w, size.h); again != frame {
			t.Errorf("%dx%d: alone, r changed the screen:\n%s", size.w, size.h, again)
		}
	}
}

// Every size fits in a fleet too, with the replicas shown, linked and cut
// off; a fleet of many replicas says how many do not fit.
func TestFleetResizeSweep(t *testing.T) {
	s := fleetStack(t)
	var many []monitor.ReplicaStatus
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "gw-1"} {
		many = append(many, monitor.ReplicaStatus{Name: n, Seen: s.clock.Now(), Requests: 3, Availability: 1})
	}
	m, _ := newTestDashboard(t, s)
	m.Update(keyPress("r"))
	for _, st := range []monitor.FleetStatus{
		{Linked: true, Replicas: many},
		{Linked: false, Detail: redisDown},
		{Linked: true}, // just joined: no heartbeat yet
	} {
		s.clock.Advance(time.Second)
		s.mon.SetFleet(st)
		m.Update(snapshotMsg{snap: s.mon.Snapshot()})
		for _, w := range []int{20, 59, 60, 61, 80, 100, 140, 200} {
			for _, h := range []int{5, 14, 15, 16, 19, 20, 24, 30, 45, 60} {
				frame := render(m, w, h)
				checkFrame(t, frame, w, h)
				if w >= minWidth && h >= minHeight && !strings.Contains(frame, "Providers") {
					t.Errorf("%dx%d (linked %v): no providers:\n%s", w, h, st.Linked, frame)
				}
			}
		}
		frame := render(m, 140, 45) // a quarter of it: the line, titles, 8 replicas and how many more
		if len(st.Replicas) > 0 && !strings.Contains(frame, "… 5 more") {
			t.Errorf("13 replicas in 11 lines do not say how many more:\n%s", frame)
		}
	}
}

// An endpoint turned off on another replica reads as such: by its
// dashboard's user, the row names the replica; through its admin API,
// "admin"; the events say who and where.
func TestToggleFromAnotherReplica(t *testing.T) {
	s := fleetStack(t)
	other := newStack(t, fleetModels)
	other.mon.JoinFleet("gw-2")
	groq, cerebras := endpointID(fleetModels[0].name, "groq"), endpointID(fleetModels[0].name, "cerebras")
	if err := other.mon.SetEnabled(groq, false); err != nil {
		t.Fatal(err)
	}
	if err := other.mon.SetEnabledBy(cerebras, false, "the admin API, from 127.0.0.1:5555"); err != nil {
		t.Fatal(err)
	}
	for _, c := range other.mon.TakeChanges() {
		s.mon.Apply("gw-2", c)
	}
	m, _ := newTestDashboard(t, s)
	frame := render(m, 200, 60)
	if r := row(t, frame, "groq"); !strings.Contains(r, "○ off (gw-2)") {
		t.Errorf("groq's row reads %q", r)
	}
	if !strings.Contains(frame, "groq (up-groq) · turned off by the user on replica gw-2 · ") {
		t.Errorf("groq's detail line does not say who turned it off:\n%s", frame)
	}
	if r := row(t, frame, "cerebras"); !strings.Contains(r, "○ off (admin)") {
		t.Errorf("cerebras' row reads %q", r)
	}
	for _, want := range []string{
		"groq turned off at replica gw-2 by the user",
		"cerebras turned off at replica gw-2 by the admin API",
	} {
		if !strings.Contains(frame, want) {
			t.Errorf("the event log lacks %q:\n%s", want, frame)
		}
	}
	other.clock.Advance(time.Second)
	if err := other.mon.SetEnabled(groq, true); err != nil {
		t.Fatal(err)
	}
	for _, c := range other.mon.TakeChanges() {
		s.mon.Apply("gw-2", c)
	}
	m.Update(snapshotMsg{snap: s.mon.Snapshot()})
	if frame = render(m, 200, 60); !strings.Contains(frame, "groq turned on at replica gw-2 by the user") || strings.Contains(row(t, frame, "groq"), "off") {
		t.Errorf("turned on again at gw-2:\n%s", frame)
	}
}

// An aside gives way whole, parentheses inside it included; text without
// one stays as it is.
func TestDropAside(t *testing.T) {
	for in, want := range map[string]string{
		"Redis out of reach (dial tcp: (i/o timeout)); figures are own": "Redis out of reach; figures are own",
		"no aside here":           "no aside here",
		"an unclosed (aside":      "an unclosed (aside",
		"two (a) asides (b) here": "two asides (b) here",
	} {
		if got := dropAside(in); got != want {
			t.Errorf("dropAside(%q) = %q, want %q", in, got, want)
		}
	}
	// Too narrow for the warning even without its aside, the second line
	// is cut rather than a third taken.
	f := &monitor.FleetStatus{Replica: "gw-1", Detail: redisDown}
	lines := fleetLines(newStyles(true), f, 40)
	if len(lines) != fleetCutLines || !strings.Contains(lines[1], "…") {
		t.Errorf("at 40 columns the warning is %q", lines)
	}
}
