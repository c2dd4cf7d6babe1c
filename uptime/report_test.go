package uptime

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Check holds the baselines to Switchboard, not one of Switchboard's
// settings to another: hedged Switchboard delivering more than plain is no
// disorder, a baseline doing so is.
func TestCheckHoldsTheBaselinesToSwitchboard(t *testing.T) {
	tally := func(name string, sb bool, whole int) Tally {
		return Tally{Name: name, Switchboard: sb, Requests: 10000, Whole: whole}
	}
	card := func(ahead bool) *Scorecard {
		whole, errors, streamed := 9600, 5, 300
		if ahead {
			whole, errors, streamed = 9999, 0, 450
		}
		return &Scorecard{
			Chaos: &Chaos{Strategies: []Tally{tally(nameSwitchboard, true, 9997), tally(nameSwitchboard+", hedged", true, 9998),
				tally(nameCheapest, false, 6000), tally("round robin", false, whole)}},
			Failover: []FailoverRun{{Death: "refused", Rows: []FailoverRow{{Name: nameSwitchboard, Errors: 1},
				{Name: nameSwitchboard + ", hedged", Errors: 0}, {Name: "round robin", Errors: errors}}}},
			StreamFaults: []StreamFault{{Fault: "cut", Rows: []StreamRow{{Name: nameSwitchboard, Whole: 449},
				{Name: nameSwitchboard + ", hedged", Whole: 450}, {Name: "round robin", Whole: streamed}}}},
		}
	}
	if bad := card(false).Check(); len(bad) > 0 {
		t.Errorf("hedged ahead of plain Switchboard taken for disorder: %q", bad)
	}
	bad := strings.Join(card(true).Check(), "\n")
	for _, want := range []string{"chaos: round robin delivered 99.99%", "failover, refused: round robin had 0 errors",
		"stream faults, cut: round robin delivered 450 whole answers"} {
		if !strings.Contains(bad, want) {
			t.Errorf("a baseline ahead of Switchboard not caught: want %q in\n%s", want, bad)
		}
	}
}
