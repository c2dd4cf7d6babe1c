package monitor

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// A snapshot copies an endpoint's last status while nothing it is computed
// from changed (statusStands): through thousands of random outcomes,
// probes, switches, breaker trials, waits and clock moves, every status a
// snapshot copied is the one computing it afresh at the same moment gives,
// and some were copied.
func TestCopiedStatusesAreComputedOnes(t *testing.T) {
	for seed := range uint64(4) {
		copiedStatuses(t, seed)
	}
}

func copiedStatuses(t *testing.T, seed uint64) {
	clk := monitortest.NewClock()
	ids := []string{"m@a", "m@b", "m@c", "m@d", "n@e"}
	m := newTestMonitor(t, clk, ids...)
	rng := rand.New(rand.NewPCG(seed, 2))
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	classes := []provider.Class{provider.ClassServer, provider.ClassOverloaded, provider.ClassRateLimited,
		provider.ClassTimeout, provider.ClassStall, provider.ClassBadRequest, provider.ClassStreamCut, provider.ClassCanceled}
	copied := 0
	for step := range 6000 {
		id := ids[rng.IntN(len(ids))]
		switch r := rng.IntN(20); {
		case r < 10:
			o := provider.Outcome{Class: provider.ClassOK, TTFT: ms(400) + time.Millisecond, OutputTokens: 1 + rng.IntN(50)}
			o.Duration = o.TTFT + ms(900)
			m.Record(id, o)
		case r < 13:
			c := classes[rng.IntN(len(classes))]
			m.Record(id, provider.Outcome{Class: c, Duration: ms(50), RetryAfter: time.Duration(rng.IntN(3)) * time.Second})
		case r == 13:
			m.Record(id, provider.Outcome{Class: provider.ClassOK, Probe: true, Shallow: rng.IntN(2) == 0, Duration: ms(20)})
		case r == 14:
			if err := m.SetEnabledBy(id, rng.IntN(5) != 0, "the test"); err != nil {
				t.Fatal(err)
			}
		case r == 15:
			if gen, ok := m.Admit(id); ok && rng.IntN(2) == 0 {
				m.Release(id, gen)
			}
		case r == 16:
			m.Sent(id)
			if rng.IntN(2) == 0 {
				m.Answered(id)
			}
		case r == 17:
			m.RecordRequest("m", provider.ClassOK)
		case r == 18:
			clk.Advance(ms(300))
		default:
			clk.Advance(ms(3000))
		}
		now := clk.Now()
		m.mu.Lock()
		before := make([]time.Time, len(m.health))
		for i, h := range m.health {
			before[i] = h.statusAt
		}
		got := m.compute(now)
		m.snap = got
		for i, h := range m.health {
			if !before[i].IsZero() && h.statusAt.Equal(before[i]) {
				copied++
			}
		}
		for _, h := range m.health {
			h.statusAt = time.Time{} // no status stands: every one computed afresh
		}
		want := m.compute(now)
		m.mu.Unlock()
		for i := range want.Endpoints {
			if g, w := got.Endpoints[i], want.Endpoints[i]; !reflect.DeepEqual(g, w) {
				t.Fatalf("seed %d, step %d, %s: the copied status\n%+v\nis not the one computed\n%+v", seed, step, ids[i], g, w)
			}
		}
	}
	if copied < 1000 {
		t.Fatalf("%d statuses copied in 6000 snapshots of 5 endpoints: the test hardly tests the copy", copied)
	}
	t.Logf("seed %d: %d of %d statuses copied", seed, copied, 6000*len(ids))
}
