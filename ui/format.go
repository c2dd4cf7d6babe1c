package ui

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// noData stands for a figure that has no data behind it yet.
const noData = "—"

// cellDuration renders a duration in at most five cells, for a table column
// and the console's running clock, where the width must not change as the
// figure does: 850ms, 1.23s, 12.3s, 123s. Prose outside the dashboard's
// fixed widths uses human.Duration instead.
func cellDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return noData
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < 100*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// fmtPct renders a fraction as a percentage in at most five cells. A
// negative fraction means no data.
func fmtPct(f float64) string {
	switch {
	case f < 0 || math.IsNaN(f):
		return noData
	case f >= 1:
		return "100%"
	case f >= 0.9995:
		return "99.9%" // never round a failure away into 100%
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// fmtPrice renders a price in USD per million tokens.
func fmtPrice(p float64) string {
	if p >= 100 {
		return fmt.Sprintf("%.0f", p)
	}
	return fmt.Sprintf("%.2f", p)
}

// fit truncates s to w cells (with an ellipsis when cut) and pads it with
// spaces to exactly w cells, on the right or, with right set, on the left.
func fit(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	if n > w {
		s = ansi.Truncate(s, w, "…")
		n = ansi.StringWidth(s)
	}
	if n >= w {
		return s
	}
	if right {
		return strings.Repeat(" ", w-n) + s
	}
	return s + strings.Repeat(" ", w-n)
}

// clip cuts s to w cells with an ellipsis, without padding.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// fitBlock makes a block exactly w cells wide and h lines high: longer lines
// are cut, missing ones added blank. Every frame goes through it, so no size
// of terminal can make the view overflow.
func fitBlock(s string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		lines[i] = fit(l, w, false)
	}
	return strings.Join(lines, "\n")
}

// rule is a pane title followed by a line to the right edge.
func rule(st *styles, title, right string, w int) string {
	t := st.title.Render(title)
	r := ""
	if right != "" {
		r = " " + right
	}
	fill := w - lipgloss.Width(t) - lipgloss.Width(r) - 1
	if fill < 1 {
		return clip(t+r, w)
	}
	return t + " " + st.rule.Render(strings.Repeat("─", fill)) + r
}

// Printable is a model's text fit for a terminal: control characters go (an
// escape sequence's ESC among them, so that an upstream cannot clear the
// screen, retitle the window or move the cursor; what follows the ESC
// stays as harmless text), line breaks stay and a tab is a space.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}
