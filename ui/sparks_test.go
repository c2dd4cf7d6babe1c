package ui

import (
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"switchboard/monitor"
)

// Buckets merge into cells from the newest: counts add up, latency is the
// mean of every success, and a cell with a down bucket is a failure.
func TestSparkCellsMerge(t *testing.T) {
	var s monitor.Series
	s.Bucket = 2 * time.Second
	for i := range 7 {
		p := monitor.Point{Requests: 2, Successes: 2, Latency: time.Duration(100*(i+1)) * time.Millisecond}
		if i == 1 {
			p = monitor.Point{Latency: monitor.NoData, Down: true}
		}
		s.Done = append(s.Done, p)
	}
	s.Current = monitor.Point{Requests: 2, Successes: 1, ProviderErrors: 1, Latency: 800 * time.Millisecond}
	cells, span := sparkCells(s, 3) // 8 buckets, 3 a cell: 2 + 3 + 3
	if len(cells) != 3 || span != 16*time.Second {
		t.Fatalf("%d cells spanning %v, want 3 spanning 16s", len(cells), span)
	}
	if a := cells[0].availability(); a != 0 || !cells[0].down {
		t.Errorf("the oldest cell, with a down bucket: availability %v", a)
	}
	if got := cells[1].latency(); got != 400*time.Millisecond { // 300, 400, 500 over two successes each
		t.Errorf("middle cell latency %v, want 400ms", got)
	}
	last := cells[2] // 600 x2, 700 x2, 800 x1
	if last.availability() != 5.0/6 || last.errorRate() != 1.0/6 || last.latency() != (1200+1400+800)*time.Millisecond/5 {
		t.Errorf("newest cell: availability %v, error rate %v, latency %v", last.availability(), last.errorRate(), last.latency())
	}
	if got := ansi.Strip(availBars(newStyles(true), cells, 5)); got != "  ▁█▆" {
		t.Errorf("availability bars %q", got)
	}
	if got := fmtSpan(2 * time.Minute); got != "2m" {
		t.Errorf("span %q", got)
	}
}
