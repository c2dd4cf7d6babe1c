package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/routing"
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
	out, traces := filepath.Join(t.TempDir(), "uptime.md"), filepath.Join(t.TempDir(), "traces.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "uptime", "--quick", "--out", out, "--traces", traces}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	// Every request through Switchboard, plain and hedged, in every
	// scenario, a line each (5 a second for 20 s; the stream faults half as
	// many, in four fleets); a whole answer's trace names the provider that
	// served it.
	b, err := os.ReadFile(traces)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	byScenario := map[string]int{}
	var hedges routing.HedgeCounts // of Switchboard, hedged, with faults
	for _, l := range lines {
		var r struct {
			Scenario, Strategy string
			Whole              bool
			Trace              *routing.Trace
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if r.Strategy != "Switchboard" && r.Strategy != "Switchboard, hedged" {
			t.Fatalf("a trace of %q, not Switchboard's: %s", r.Strategy, l)
		}
		scenario, _, _ := strings.Cut(r.Scenario, ":")
		byScenario[scenario]++
		if r.Whole && (r.Trace == nil || r.Trace.Served == "" || len(r.Trace.Attempts) == 0) {
			t.Errorf("a whole answer without its trace: %s", l)
		}
		if r.Strategy == "Switchboard, hedged" && r.Scenario == "chaos fleet" && r.Trace != nil {
			hedges.Add(r.Trace.Hedges())
		}
	}
	want := map[string]int{"chaos fleet": 200, "chaos fleet without faults": 200, "failover": 2 * 2 * 100, "recovery": 200, "stream fault": 4 * 2 * 25}
	if !maps.Equal(byScenario, want) {
		t.Errorf("lines by scenario %v, want %v", byScenario, want)
	}
	report, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#### 1. Chaos fleet", "#### 2. Failover", "#### 3. Recovery", "#### 4. Stream faults",
		"| Switchboard | ", "| retry, then fail over | "} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the report has no %q:\n%s", want, report)
		}
	}
	// The hedges the report counts are those the traces of the same
	// answers hold.
	line := fmt.Sprintf("- Switchboard, hedged: %d won, %d lost, %d failed, %d denied.\n", hedges.Won, hedges.Lost, hedges.Failed, hedges.Denied)
	if hedges == (routing.HedgeCounts{}) {
		t.Logf("no hedges in this run: the report's count of them goes unchecked")
	} else if !strings.Contains(string(report), line) {
		t.Errorf("the report has no %q:\n%s", line, report)
	}
}

// TestBenchUsage: a benchmark that does not exist, or a rate that cannot
// be, is refused with what to write instead.
func TestBenchUsage(t *testing.T) {
	for args, want := range map[string]string{
		"bench":                       "switchboard bench uptime",
		"bench speed":                 "switchboard bench uptime",
		"bench uptime --rate=-1":      "--rate -1 and --duration 0s must be above 0",
		"bench uptime --duration=-1s": "--duration -1s must be above 0",
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), strings.Fields(args), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", args, code, stderr.String(), want)
		}
	}
}

// TestWriteReport: the report goes between the markers of a file that has
// them, the rest of it kept; a file without them is written whole.
func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "BENCHMARKS.md")
	head, tail := "# Benchmarks\n\nabove\n", "\n\nbelow\n"
	if err := os.WriteFile(doc, []byte(head+uptimeBegin+"\nold report\n"+uptimeEnd+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // again: the markers stay
		if err := writeReport(nil, doc, []byte("new report\n")); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(doc); string(got) != head+uptimeBegin+"\nnew report\n"+uptimeEnd+tail {
			t.Fatalf("got\n%s", got)
		}
	}
	plain := filepath.Join(dir, "plain.md")
	if err := os.WriteFile(plain, []byte("something else"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(nil, plain, []byte("report")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(plain); string(got) != "report" {
		t.Fatalf("got %q", got)
	}
	var stdout bytes.Buffer
	if err := writeReport(&stdout, "", []byte("report")); err != nil || stdout.String() != "report" {
		t.Fatalf("stdout %q, %v", stdout.String(), err)
	}
}
