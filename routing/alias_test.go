package routing

import (
	"strings"
	"testing"
)

// An alias plans as its model, with its suffix, in Plan and in
// ResolveProviders; New refuses an alias that is a model's name or stands
// for no model.
func TestAliasesResolveToTheirModel(t *testing.T) {
	f := newFleet(t, nil, map[string]float64{"a": 1, "b": 2}, "a", "b")
	o := f.router.opts
	o.Aliases = map[string]string{"claude-x": "m"}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Canonical("claude-x:nitro"); got != "m:nitro" {
		t.Errorf("Canonical(claude-x:nitro) = %q", got)
	}
	if got := r.Canonical("other"); got != "other" {
		t.Errorf("Canonical(other) = %q", got)
	}
	tr, err := r.Plan("claude-x:floor", f.mon.Snapshot())
	if err != nil || len(tr.Order) != 2 || !strings.HasPrefix(tr.Order[0], "m@") {
		t.Fatalf("plan %+v, %v", tr, err)
	}
	if _, err := r.ResolveProviders([]string{"claude-x"}, Preferences{Only: []string{"a"}}); err != nil {
		t.Errorf("ResolveProviders: %v", err)
	}
	models := []string{"claude-x", "m"}
	if got := r.canonicals(models); got[0] != "m" || models[0] != "claude-x" {
		t.Errorf("canonicals %v, the caller's slice %v", got, models)
	}
	for _, bad := range []map[string]string{{"m": "m"}, {"x": "nope"}} {
		o.Aliases = bad
		if _, err := New(o); err == nil {
			t.Errorf("New took aliases %v", bad)
		}
	}
}
