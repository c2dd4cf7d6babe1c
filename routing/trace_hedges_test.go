package routing

import "testing"

// A request's hedges are counted by how each went: the first attempt of a
// race is no hedge, whichever way it went.
func TestTraceCountsHedges(t *testing.T) {
	tr := &Trace{HedgesDenied: 2, Attempts: []Attempt{
		{Outcome: "canceled"}, // a race's first, which lost
		{Outcome: "ok", Hedge: true},
		{Outcome: "canceled", Hedge: true},
		{Outcome: "server", Hedge: true},
		{Outcome: "stream_cut", Hedge: true},
		{Outcome: "ok"},
	}}
	if got, want := tr.Hedges(), (HedgeCounts{Won: 1, Lost: 1, Failed: 2, Denied: 2}); got != want {
		t.Fatalf("hedges %+v, want %+v", got, want)
	}
	var sum HedgeCounts
	sum.Add(tr.Hedges())
	sum.Add(tr.Hedges())
	if want := (HedgeCounts{Won: 2, Lost: 2, Failed: 4, Denied: 4}); sum != want {
		t.Fatalf("two traces' hedges add up to %+v, want %+v", sum, want)
	}
}
