package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/routing"
	"switchboard/sim"
)

// Hedges through the API: a model with hedge = true whose cheapest
// endpoint starts every answer late, and seven requests at once. Each
// waits its 50ms (on the test's clock) and asks for a hedge: the budget
// has five at once, so the quick endpoint wins five races and the slow one
// answers the other two, late. /metrics counts each kind as the upstreams
// saw them: a hedge won for each request at the quick endpoint (the slow
// one's lost races are no hedge's), and a denial for each request the
// slow one served, whose trace says why it raced no hedge.
func TestHedgesAreCountedInMetrics(t *testing.T) {
	late := sim.Profile{Mode: sim.ModeSlowStart, SlowStart: 300 * time.Millisecond}
	f := newRoutedFixture(t, Options{}, routing.Options{Defaults: map[string]routing.ModelDefaults{
		testModel: {Hedge: &routing.Hedge{Enabled: true, After: 50 * time.Millisecond}},
	}}, map[string]upstream{"slow": {profile: &late, price: 1}, "quick": {profile: &sim.Profile{}, price: 2}})
	f.clock.HoldTimers()
	const requests, atOnce = 7, 5
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"provider":{"sort":"price"}}`, testModel)
	type answer struct {
		provider, unhedged string
		err                error
	}
	done := make(chan answer, requests)
	for range requests {
		go func() {
			resp, err := http.Post(f.srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				done <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			var c struct{ Trace routing.Trace }
			err = json.NewDecoder(resp.Body).Decode(&c)
			a := answer{provider: resp.Header.Get("X-Switchboard-Provider"), err: err}
			if len(c.Trace.Attempts) > 0 {
				a.unhedged = c.Trace.Attempts[0].Unhedged
			}
			done <- a
		}()
	}
	f.clock.WaitForTimers(requests) // every race's
	f.clock.Advance(50 * time.Millisecond)
	served := map[string]int{}
	for range requests {
		a := <-done
		if a.err != nil {
			t.Fatal(a.err)
		}
		served[a.provider]++
		if want := "waited 50ms for slow's first token, as asked; no hedge: the hedge budget had none to spare"; a.provider == "slow" && a.unhedged != want {
			t.Errorf("a denied request's first attempt says %q, want %q", a.unhedged, want)
		}
	}
	won, denied := served["quick"], served["slow"]
	if won != atOnce || denied != requests-atOnce {
		t.Fatalf("served %v: want %d by quick, the hedges the budget had, and the rest by slow", served, atOnce)
	}
	if n := f.sims["quick"].Stats().Requests; n != atOnce {
		t.Errorf("quick saw %d requests, and won %d races", n, won)
	}
	// A race the hedge won may end before its first attempt's request
	// reached the slow endpoint.
	if n := f.sims["slow"].Stats().Requests; n < uint64(denied) || n > requests {
		t.Errorf("slow saw %d requests, want %d to %d", n, denied, requests)
	}
	fams := scrape(t, f.srv.URL+"/metrics")
	for result, want := range map[string]int{"won": won, "lost": 0, "failed": 0, "denied": denied} {
		s := series(fams, "switchboard_hedges_total", map[string]string{"model": testModel, "result": result})
		if s == nil {
			t.Errorf("switchboard_hedges_total{result=%q} is missing", result)
			continue
		}
		if got := value(s); got != float64(want) {
			t.Errorf("switchboard_hedges_total{result=%q} = %v, want %d", result, got, want)
		}
	}
}
