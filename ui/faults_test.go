package ui

import (
	"testing"
	"time"
)

// A read begun before a wish does not undo it, and a read after it keeps
// the wish until the simulator shows it.
func TestFaultForcerKeepsTheLatestWish(t *testing.T) {
	s := newStack(t, fleetModels)
	now := s.clock.Now()
	ff := newFaultForcer(s.faults, []string{"groq", "cerebras"}, now)
	stale := ff.fetch(now)().(faultModesMsg) // reads "normal" for groq
	cmd, notice, bad := ff.cycle("groq")
	if bad || notice != "groq forced to down" {
		t.Fatalf("cycle: %q (bad %v)", notice, bad)
	}
	if ff.read(stale) {
		t.Error("a read begun before the wish was taken")
	}
	if m, _ := ff.mode("groq"); m != "down" {
		t.Errorf("groq shows %q after the stale read, want down", m)
	}
	// A fresh read while the wish is not applied yet still shows it.
	fresh := ff.fetch(now)().(faultModesMsg)
	if !ff.read(fresh) {
		t.Fatal("a fresh read was not taken")
	}
	if m, _ := ff.mode("groq"); m != "down" {
		t.Errorf("groq shows %q before the simulator has it, want down", m)
	}
	if _, bad := ff.set(cmd().(faultSetMsg), now); bad != "" {
		t.Fatal(bad)
	}
	if got, _ := s.faults.Mode("groq"); got != "down" || len(ff.want) != 0 {
		t.Errorf("simulator %q, wishes left %v", got, ff.want)
	}
	if ff.refetch(now.Add(time.Second)) != nil || ff.refetch(now.Add(faultRefresh)) == nil {
		t.Error("the periodic read does not wait faultRefresh")
	}
	if _, notice, bad := newFaultForcer(s.faults, nil, now).cycle("nobody"); !bad || notice == "" {
		t.Errorf("a provider that is not simulated: %q (bad %v)", notice, bad)
	}
}
