package monitor

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// States and kinds of event read back from JSON as they were written, and
// an unknown name is an error that lists the known ones.
func TestNamesReadBack(t *testing.T) {
	for s := Healthy; s <= Disabled; s++ {
		b, _ := json.Marshal(s)
		var back State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s read back as %s (%v)", b, back, err)
		}
	}
	for k := EventOutageStarted; k <= EventTurnedOn; k++ {
		b, _ := json.Marshal(k)
		var back EventKind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("%s read back as %s (%v)", b, back, err)
		}
	}
	var s State
	if err := json.Unmarshal([]byte(`"sleepy"`), &s); err == nil || !strings.Contains(err.Error(), "healthy, degraded") {
		t.Errorf("an unknown state: %v", err)
	}
}

// A snapshot read back from its JSON (as the admin API streams it) is the
// snapshot it was, its lookups by endpoint included: figures, the no-data
// marks, states, breakers, series and events.
func TestSnapshotReadsBack(t *testing.T) {
	clk := monitortest.NewClock()
	m := newTestMonitor(t, clk, "a", "b")
	for i := range 20 {
		m.Record("a", ok(time.Duration(100+i)*time.Millisecond))
		clk.Advance(time.Second)
	}
	for range 5 {
		m.Record("b", fail(provider.ClassServer))
	}
	m.Record("a", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: 5 * time.Second})
	if err := m.SetEnabledBy("a", false, "a test"); err != nil {
		t.Fatal(err)
	}
	snap := m.Snapshot()
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := *snap // but for the live mark of answers owed, which JSON cannot carry
	want.Endpoints = slices.Clone(snap.Endpoints)
	for i := range want.Endpoints {
		want.Endpoints[i].owed = nil
	}
	if !reflect.DeepEqual(&back, &want) {
		again, _ := json.Marshal(&back)
		t.Fatalf("the snapshot read back differs: %d bytes of JSON from %d (equal: %v)", len(again), len(b), string(again) == string(b))
	}
	if st := back.Status("b"); st == nil || st.State != Down || st.Availability != 0 || st.TTFT.P50 != NoData {
		t.Errorf("b read back as %+v", st)
	}
	if ev := back.Events[len(back.Events)-1]; ev.Kind != EventTurnedOff || ev.Detail != "turned off by a test" {
		t.Errorf("the last event read back as %+v", ev)
	}
}
