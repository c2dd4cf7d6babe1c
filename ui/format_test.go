package ui

import (
	"testing"
	"time"

	"charm.land/lipgloss/v2"
)

// TestCellDuration checks each range of the table cell's format, and that
// none of them needs more than the five cells a column gives it.
func TestCellDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, noData},
		{-time.Second, noData},
		{400 * time.Microsecond, "<1ms"},
		{850 * time.Millisecond, "850ms"},
		{1234 * time.Millisecond, "1.23s"},
		{12345 * time.Millisecond, "12.3s"},
		{123 * time.Second, "123s"},
		{9999 * time.Second, "9999s"},
	} {
		got := cellDuration(c.d)
		if got != c.want {
			t.Errorf("cellDuration(%v) = %q, want %q", c.d, got, c.want)
		}
		if w := lipgloss.Width(got); w > 5 {
			t.Errorf("cellDuration(%v) = %q takes %d cells, more than 5", c.d, got, w)
		}
	}
}

// TestAgo checks the header's age: "just now" while fresh, else the cell's
// figure.
func TestAgo(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{50 * time.Millisecond, "just now"},
		{250 * time.Millisecond, "250ms ago"},
		{12345 * time.Millisecond, "12.3s ago"},
	} {
		if got := ago(c.d); got != c.want {
			t.Errorf("ago(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
