package monitor

import (
	"fmt"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// benchRequestGap is how far the clock moves between two requests in the
// benchmarks: 10,000 requests a second, a busy gateway.
const benchRequestGap = 100 * time.Microsecond

// benchMonitor is a monitor of n endpoints over a few providers and
// models, each endpoint with a minute of traffic behind it and the event
// log full, so that its windows, histograms and events are what a running
// gateway's are.
func benchMonitor(b *testing.B, n int, lag time.Duration) (*Monitor, *monitortest.Clock, []string) {
	b.Helper()
	clk := monitortest.NewClock()
	var eps []Endpoint
	var ids []string
	for i := range n {
		id := fmt.Sprintf("m%d@p%d", i%5, i)
		eps = append(eps, Endpoint{ID: id, Provider: fmt.Sprintf("p%d", i%10), Model: fmt.Sprintf("m%d", i%5)})
		ids = append(ids, id)
	}
	m, err := New(Options{Clock: clk, SnapshotLag: lag}, eps)
	if err != nil {
		b.Fatal(err)
	}
	for k := range 60 * 20 {
		id := ids[k%n]
		if k%97 == 0 {
			m.Record(id, provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: time.Second})
		} else {
			m.Record(id, benchOutcome(k))
		}
		clk.Advance(50 * time.Millisecond)
		if k%20 == 0 {
			m.Snapshot()
		}
	}
	// A full event log, as after a day of outages and cooldowns.
	for k := range m.Options().EventLog {
		if err := m.SetEnabled(ids[k/2%n], k%2 == 1); err != nil {
			b.Fatal(err)
		}
	}
	return m, clk, ids
}

func benchOutcome(k int) provider.Outcome {
	d := time.Duration(200+k%300) * time.Millisecond
	return provider.Outcome{Class: provider.ClassOK, Duration: d, TTFT: d / 5, OutputTokens: 100}
}

// BenchmarkSnapshotUnderRecords takes a snapshot per request, as the
// router does to plan, while every request records its outcome: without a
// lag (every outcome rebuilds the view) and with the lag the system clock
// gets by default.
func BenchmarkSnapshotUnderRecords(b *testing.B) {
	for _, n := range []int{10, 50} {
		for _, lag := range []time.Duration{-1, DefaultSnapshotLag} {
			name := fmt.Sprintf("endpoints=%d/lag=%v", n, lag)
			if lag < 0 {
				name = fmt.Sprintf("endpoints=%d/lag=none", n)
			}
			b.Run(name, func(b *testing.B) {
				m, clk, ids := benchMonitor(b, n, lag)
				b.ReportAllocs()
				k := 0
				for b.Loop() {
					m.Record(ids[k%n], benchOutcome(k))
					clk.Advance(benchRequestGap)
					if m.Snapshot() == nil {
						b.Fatal("no snapshot")
					}
					k++
				}
			})
		}
	}
}

// BenchmarkRecord is the cost of recording one outcome, which every
// attempt pays.
func BenchmarkRecordFleet(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			m, clk, ids := benchMonitor(b, n, DefaultSnapshotLag)
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				m.Record(ids[k%n], benchOutcome(k))
				clk.Advance(benchRequestGap)
				k++
			}
		})
	}
}

// BenchmarkRecordOnItsOwnGoroutine records each outcome from a goroutine of
// its own, as the gateway's streaming requests do: the stack the recording
// needs is what a new goroutine grows to, and copies its stack for.
func BenchmarkRecordOnItsOwnGoroutine(b *testing.B) {
	m, clk, ids := benchMonitor(b, 10, 0)
	done := make(chan struct{})
	k := 0
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(benchRequestGap)
		go func() {
			m.Record(ids[k%len(ids)], benchOutcome(k))
			done <- struct{}{}
		}()
		<-done
		k++
	}
}
