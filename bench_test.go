package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchUptimeQuick runs the uptime scorecard as CI does: every
// scenario, every strategy, the real gateway and the baselines over their
// own simulated fleets, at once; it passes only when the strategies keep
// their order (see uptime.Scorecard.Check) and the report has every
// scenario's table.
func TestBenchUptimeQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the scorecard runs for about 40 s")
	}
	out := filepath.Join(t.TempDir(), "uptime.md")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "uptime", "--quick", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	report, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### 1. Chaos fleet", "### 2. Failover", "### 3. Recovery", "### 4. Stream faults",
		"| Switchboard | 100.00% (100 of 100) |", "retry, then fail over"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the report has no %q:\n%s", want, report)
		}
	}
}

// TestBenchUsage: a benchmark that does not exist, or a rate that cannot
// be, is refused with what to write instead.
func TestBenchUsage(t *testing.T) {
	for args, want := range map[string]string{
		"bench":                  "switchboard bench uptime",
		"bench speed":            "switchboard bench uptime",
		"bench uptime --rate 0":  "--rate is 0; it must be above 0",
		"bench uptime --rate=-1": "--rate is -1",
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), strings.Fields(args), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", args, code, stderr.String(), want)
		}
	}
}
