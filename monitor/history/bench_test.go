package history

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"switchboard/monitor/monitortest"
)

const benchEndpoints = 50

// busyMinute is what a busy endpoint's minute looks like: a hundred-odd requests, a couple of probes, most of them
// successful, failures in two of the fifteen classes. Values vary with i so that records are not identical.
func busyMinute(endpoint string, start time.Time, i int) Minute {
	n := uint32(80 + i%97)
	m := Minute{
		Endpoint: endpoint, Start: start,
		Requests: n, Probes: 2, Successes: n - 5, ProviderErrors: 3, UserErrors: 1, RateLimited: 1,
		Errors:     make([]uint32, 15),
		LatencySum: time.Duration(n-5) * (700*time.Millisecond + time.Duration(i%1000)*time.Millisecond),
		TTFTSum:    time.Duration(n-5) * (180*time.Millisecond + time.Duration(i%300)*time.Millisecond),
		TTFTCount:  n - 5, OutputTokens: uint64(n-5) * uint64(250+i%200),
	}
	m.Errors[1], m.Errors[3], m.Errors[5] = 2, 1, 1
	return m
}

// fleet returns the ids of the benchmark's endpoints, as long as real ones.
func fleet() []string {
	ids := make([]string, benchEndpoints)
	for i := range ids {
		ids[i] = fmt.Sprintf("meta-llama/llama-3.3-70b-instruct@provider-%02d", i)
	}
	return ids
}

// fill appends minutes [from, from+n) for every endpoint, a day per transaction, with Now following along so
// that pruning runs as it would in service.
func fill(tb testing.TB, s *Store, clk *monitortest.Clock, from time.Time, n int) {
	tb.Helper()
	ids := fleet()
	const day = 24 * 60
	for d := 0; d < n; d += day {
		var ms []Minute
		for i := d; i < min(d+day, n); i++ {
			start := from.Add(time.Duration(i) * time.Minute)
			for e, id := range ids {
				ms = append(ms, busyMinute(id, start, i*benchEndpoints+e))
			}
		}
		clk.Set(ms[len(ms)-1].Start.Add(time.Minute))
		if err := s.Append(ms); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkAppend appends one minute of 50 endpoints to a store holding a week, pruning each time as the
// minute of Now advances: the steady state in service, fsync included.
func BenchmarkAppend(b *testing.B) {
	clk := monitortest.NewClockAt(t0)
	s := open(b, b.TempDir(), Options{Now: clk.Now})
	week := 7 * 24 * 60
	fill(b, s, clk, t0, week)
	ids := fleet()
	ms := make([]Minute, len(ids))
	i := week
	for b.Loop() {
		appendMinute(b, s, clk, ids, ms, i)
		i++
	}
}

// BenchmarkSince reads the last day of 50 endpoints (72k records) from a store holding a week.
func BenchmarkSince(b *testing.B) {
	clk := monitortest.NewClockAt(t0)
	s := open(b, b.TempDir(), Options{Now: clk.Now})
	week := 7 * 24 * 60
	fill(b, s, clk, t0, week)
	from := t0.Add(time.Duration(week-24*60) * time.Minute)
	for b.Loop() {
		ms, err := s.Since(from)
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) != 24*60*benchEndpoints {
			b.Fatalf("Since returned %d records", len(ms))
		}
	}
}

// BenchmarkWeekFileSize reports the size of history.db holding a week of 50 busy endpoints, then again after a
// further day of minute-by-minute appends with pruning (freed pages are reused; the file never shrinks). "used"
// is bbolt's high-water mark and "file" the file's size, which bbolt extends ahead of need.
func BenchmarkWeekFileSize(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		clk := monitortest.NewClockAt(t0)
		s, err := Open(dir, Options{Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		week := 7 * 24 * 60
		fill(b, s, clk, t0, week)
		report(b, s, dir, "week")
		ids := fleet()
		ms := make([]Minute, len(ids))
		for i := week; i < week+24*60; i++ {
			appendMinute(b, s, clk, ids, ms, i)
		}
		report(b, s, dir, "day8")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func report(b *testing.B, s *Store, dir, when string) {
	b.Helper()
	fi, err := os.Stat(filepath.Join(dir, fileName))
	if err != nil {
		b.Fatal(err)
	}
	var used int64
	if err := s.db.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		b.Fatal(err)
	}
	const mib = 1 << 20
	records := float64(7 * 24 * 60 * benchEndpoints)
	b.ReportMetric(float64(used)/mib, "MiB-used-"+when)
	b.ReportMetric(float64(used)/records, "B/record-used-"+when)
	b.ReportMetric(float64(fi.Size())/mib, "MiB-file-"+when)
}

// appendMinute appends minute i of every endpoint in ids, as the monitor
// does once a minute, with the clock at the end of that minute.
func appendMinute(b *testing.B, s *Store, clk *monitortest.Clock, ids []string, ms []Minute, i int) {
	start := t0.Add(time.Duration(i) * time.Minute)
	for e, id := range ids {
		ms[e] = busyMinute(id, start, i*benchEndpoints+e)
	}
	clk.Set(start.Add(time.Minute))
	if err := s.Append(ms); err != nil {
		b.Fatal(err)
	}
}
