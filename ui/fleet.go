package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"switchboard/human"
	"switchboard/monitor"
)

// A replica in a fleet (package cluster) shows, under the header, how it
// stands in its fleet: one line saying whose the figures are, and with r
// the replicas the fleet has heard from. Alone, none of it shows.

// fleetLines are the lines under the header in a fleet. Linked, one:
// how many replicas, which one this is and that the figures are the
// fleet's. Cut off, a warning of up to two lines that says why, and that
// the figures are this replica's own.
func fleetLines(st *styles, f *monitor.FleetStatus, w int) []string {
	me := cmp.Or(f.Replica, "this replica")
	if !f.Linked {
		lines, head, _ := cutOff(f, w)
		if len(lines) > fleetCutLines { // too narrow even without the aside: the rest is cut
			lines = append(lines[:fleetCutLines-1:fleetCutLines-1], clip(strings.Join(lines[fleetCutLines-1:], " "), w))
		}
		for i, l := range lines {
			if i == 0 && strings.HasPrefix(l, head) {
				lines[i] = st.alert.Render(head) + st.warn.Render(strings.TrimPrefix(l, head))
			} else {
				lines[i] = st.warn.Render(l)
			}
		}
		return lines
	}
	count := "linked"
	if n := len(f.Replicas); n > 0 {
		count = fmt.Sprintf("%d replica%s", n, plural(n))
	}
	return []string{clip(st.title.Render("fleet")+st.muted.Render(": "+count+" · this is "+me+" · figures are the fleet's"), w)}
}

// cutOff is the warning of a replica cut off from its fleet, wrapped to
// w, and its first words, to be drawn apart. A parenthesised aside (the
// error's own words) gives way before what the figures are, so that it
// fits in fleetCutLines; shortened says it did, and the replicas pane
// then gives the reason in full.
func cutOff(f *monitor.FleetStatus, w int) (lines []string, head string, shortened bool) {
	head = "fleet: " + cmp.Or(f.Replica, "this replica") + " cut off"
	detail := " — " + cutOffDetail(f)
	lines = wrapLines(head+detail, w)
	for len(lines) > fleetCutLines {
		shorter := dropAside(detail)
		if shorter == detail {
			break
		}
		detail, shortened = shorter, true
		lines = wrapLines(head+detail, w)
	}
	return lines, head, shortened
}

func cutOffDetail(f *monitor.FleetStatus) string {
	return cmp.Or(f.Detail, "the link to the fleet is down; figures and states are this replica's own")
}

// fleetCutLines is the most lines the warning of a replica cut off from
// its fleet takes.
const fleetCutLines = 2

// wrapLines wraps plain text to w cells, a line each.
func wrapLines(s string, w int) []string {
	return strings.Split(ansi.Wrap(s, max(w, 1), ""), "\n")
}

// dropAside removes the first parenthesised aside, " (…)" with any
// parentheses inside it, from s; s as it is without one.
func dropAside(s string) string {
	start := strings.Index(s, " (")
	if start < 0 {
		return s
	}
	depth := 0
	for i := start + 1; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[:start] + s[i+1:]
			}
		}
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// The replicas pane's widths.
const (
	replicaNameMin  = len("replica")
	replicaNameMax  = 24
	replicaRequests = 8 // "requests"
	replicaSeen     = 9 // "just now", "59s ago", "1m5s ago"
)

// replicasLines are the lines of the replicas pane: a row of titles and
// one row per replica, this one marked, by name; "seen" is counted from
// the snapshot's time at, each replica's clock being its own. Cut off,
// the fleet's replicas are not known: the pane says so, and why in full
// if the warning above had to shorten it.
func replicasLines(st *styles, f *monitor.FleetStatus, at time.Time, w int) []string {
	if len(f.Replicas) == 0 {
		if !f.Linked {
			text := "  no news of the other replicas while cut off"
			if _, _, shortened := cutOff(f, w); shortened {
				text += ": " + cutOffDetail(f)
			}
			lines := wrapLines(text, w)
			for i, l := range lines {
				lines[i] = st.warn.Render(l)
			}
			return lines
		}
		return []string{st.muted.Render(clip("  no replica heard from yet: the first heartbeats come within seconds", w))}
	}
	rs := slices.SortedFunc(slices.Values(f.Replicas), func(a, b monitor.ReplicaStatus) int { return strings.Compare(a.Name, b.Name) })
	nameW := replicaNameMin
	for _, r := range rs {
		nameW = max(nameW, ansi.StringWidth(replicaName(r, f.Replica)))
	}
	nameW = min(nameW, replicaNameMax)
	titles := "  " + fit("replica", nameW, false) + " " + fit("requests", replicaRequests, true) + " " +
		fit("avail", 5, true) + "  " + fit("seen", replicaSeen, false)
	lines := []string{st.colHeader.Render(clip(titles, w))}
	for _, r := range rs {
		name := fit(replicaName(r, f.Replica), nameW, false)
		if r.Name == f.Replica {
			name = st.bold.Render(name)
		}
		avail := fit(fmtPct(r.Availability), 5, true)
		if r.Availability < 0 {
			avail = st.muted.Render(avail)
		}
		row := "  " + name + " " + fit(fmt.Sprint(r.Requests), replicaRequests, true) + " " + avail + "  " +
			st.muted.Render(seenAgo(at.Sub(r.Seen)))
		lines = append(lines, clip(row, w))
	}
	return lines
}

// replicaName is a replica's name, "(this)" after this replica's.
func replicaName(r monitor.ReplicaStatus, me string) string {
	if r.Name == me {
		return r.Name + " (this)"
	}
	return r.Name
}

// seenAgo says how long ago a heartbeat was, in whole seconds: beats come
// about every second, and tenths would only flicker.
func seenAgo(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return human.Duration(d.Truncate(time.Second)) + " ago"
}

// fitLines keeps the first h of lines, the last of them saying how many
// more there are when not all fit.
func fitLines(st *styles, lines []string, h, w int) []string {
	if len(lines) <= h {
		return lines
	}
	if h <= 0 {
		return nil
	}
	more := len(lines) - h + 1
	return append(lines[:h-1:h-1], st.muted.Render(clip(fmt.Sprintf("  … %d more (a taller terminal shows them)", more), w)))
}

// hereFigures sets an endpoint's figures over the window, the fleet's,
// beside this replica's own: "fleet: 95 req, 99.2% · here: 40 req, 100%".
// Cut off from the fleet, the window holds what the fleet told until the
// cut and what this replica saw since: "all", not "fleet".
func hereFigures(st *styles, s *monitor.EndpointStatus, linked bool) string {
	whose := "fleet"
	if !linked {
		whose = "all"
	}
	h := s.Here
	return fmt.Sprintf("%s: %d req, %s", whose, s.Requests, fmtPct(s.Availability)) + st.muted.Render(" · ") +
		fmt.Sprintf("here: %d req, %s", h.Requests, fmtPct(h.Availability))
}
