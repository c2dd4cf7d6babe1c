package routing

import (
	"context"
	"fmt"
	"math/bits"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// outageRun is what steady traffic saw around one endpoint's outage: per
// second of the run, how many requests reached the endpoint's upstream,
// how many of them were its prober's, and who served that second's
// request.
type outageRun struct {
	reached []uint64 // upstream requests of the failing endpoint during each second, probes included
	real    []uint64 // of them, the attempts of that second's request (from its trace)
	served  []string // the model@provider that answered each second's request, "" for none
	closed  time.Duration
}

// outage runs one request a second for total through a router and a
// monitor with their probers running, in a synctest bubble where time is
// fake: the upstreams are real simulated providers on loopback, started
// outside it. The endpoint failing goes down (503s) from outageFrom for
// outageFor. Keep-alives are off: an idle connection's reader waits on the
// network, which would stop the bubble's clock.
func outage(t *testing.T, specs []spec, failing string, outageFrom, outageFor, total time.Duration) outageRun {
	t.Helper()
	srvs := map[string]*sim.Server{}
	for _, s := range specs {
		p := s.profile
		p.Models = []string{s.model}
		srvs[p.Name] = simtest.Start(t, p)
	}
	var run outageRun
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var reps []Endpoint
		var meps []monitor.Endpoint
		var fallbacks []string
		for _, s := range specs {
			srv := srvs[s.profile.Name]
			id := s.model + "@" + s.profile.Name
			up := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL(), HTTPClient: client})
			reps = append(reps, Endpoint{ID: id, Provider: s.profile.Name, Model: s.model, UpstreamModel: s.model, PriceIn: s.price, Upstream: up})
			meps = append(meps, monitor.Endpoint{ID: id, Provider: s.profile.Name, Model: s.model,
				Probe: func(ctx context.Context) provider.Outcome { return provider.ProbeChat(ctx, up, s.model, 8) }})
			if s.model != specs[0].model && !strings.Contains(strings.Join(fallbacks, " "), s.model) {
				fallbacks = append(fallbacks, s.model)
			}
		}
		mon, err := monitor.New(monitor.Options{}, meps) // the shipped defaults: probes every 5s, breaker 5s doubling
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(Options{Endpoints: reps, Health: mon, Seed: 11,
			Defaults: map[string]ModelDefaults{specs[0].model: {Models: fallbacks}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { mon.Run(ctx) })
		defer func() {
			cancel()
			wg.Wait()
		}()

		start := time.Now()
		down := srvs[failing]
		failingID := ""
		for _, e := range reps {
			if e.Provider == failing {
				failingID = e.ID
			}
		}
		before := down.Stats().Requests
		for i := 0; time.Duration(i)*time.Second < total; i++ {
			at := time.Duration(i) * time.Second
			switch at {
			case outageFrom:
				down.SetMode(sim.ModeDown)
			case outageFrom + outageFor:
				down.SetMode(sim.ModeNormal)
			}
			res, _ := r.Send(ctx, Request{Model: specs[0].model, MaxTokens: 8,
				Messages: []provider.Message{{Role: "user", Content: fmt.Sprintf("question %d", i)}}}, nil)
			run.served = append(run.served, res.Trace.Served)
			var real uint64
			for _, a := range res.Trace.Attempts {
				if a.Endpoint == failingID {
					real++
				}
			}
			run.real = append(run.real, real)
			<-time.After(time.Until(start.Add(at + time.Second))) // the bubble's clock: the next second
			n := down.Stats().Requests
			run.reached = append(run.reached, n-before)
			before = n
			if st, _ := mon.Snapshot().Endpoint(failingID); run.closed == 0 && at > outageFrom+outageFor && st.Breaker == monitor.BreakerClosed {
				run.closed = time.Since(start)
			}
		}
	})
	return run
}

// check asserts the promise around an outage of the endpoint failing,
// which the router prefers: while it is down, real requests reach it at
// most one per breaker backoff (5s, doubling) and its probes go on at
// their interval (5s ± 20%, and a trial at each backoff's end); once it is
// back, a probe finds it within an interval and its breaker closes, after
// which it serves real traffic again as soon as routing holds its outage
// against it no more (heldFor).
func (run outageRun) check(t *testing.T, failingID string, outageFrom, outageFor, heldFor time.Duration) {
	t.Helper()
	sec := func(i int) time.Duration { return time.Duration(i) * time.Second }
	// The breaker opens at the third failure in a row, within the outage's
	// first seconds; from then on, real requests reaching the endpoint are
	// trials, each one backoff after the last.
	opened := -1
	var failures uint64
	for i := int(outageFrom / time.Second); sec(i) < outageFrom+outageFor; i++ {
		failures += run.reached[i]
		if failures >= 3 {
			opened = i
			break
		}
	}
	if opened < 0 || sec(opened) > outageFrom+5*time.Second {
		t.Fatalf("the outage took until %ds to reach three failures: %v", opened, run.reached)
	}
	backoff, last, trials := 5*time.Second, opened, 0
	var reached, real uint64
	for i := opened + 1; sec(i) < outageFrom+outageFor; i++ {
		reached, real = reached+run.reached[i], real+run.real[i]
		switch n := run.real[i]; {
		case n > 1:
			t.Errorf("second %d: %d requests reached the endpoint while it was down", i, n)
		case n == 1:
			trials++
			if gap := sec(i - last); gap+time.Second < backoff { // a second's slack for where in the second it fell
				t.Errorf("second %d: a request %s after the last, inside the %s backoff", i, gap, backoff)
			}
			last, backoff = i, min(2*backoff, 2*time.Minute)
		}
	}
	// The rest were probes: one every 4s at the most (the interval less
	// its jitter), a trial at the end of each backoff (5s, 10s, 20s, ...),
	// and one in flight as the outage began.
	open := sec(int((outageFrom+outageFor)/time.Second) - opened - 1)
	probes := reached - real
	if most := uint64(open/(4*time.Second)) + 2 + uint64(bits.Len64(uint64(open/(5*time.Second)))); probes > most {
		t.Errorf("%d probes during the %s the breaker was open; want at most %d (requests reaching it each second: %v)", probes, open, most, run.reached)
	}
	t.Logf("breaker open from %ds; %d real requests and %d probes while down (requests reaching it each second: %v)",
		opened, real, probes, run.reached)
	back := outageFrom + outageFor
	if run.closed == 0 || run.closed > back+6*time.Second+time.Second {
		t.Errorf("the breaker closed %s after the start; the outage ended at %s, and a probe goes every 5s ± 20%%", run.closed, back)
	}
	served := -1
	for i := int(back / time.Second); i < len(run.served); i++ {
		if run.served[i] == failingID {
			served = i
			break
		}
	}
	if served < 0 || sec(served) > run.closed+heldFor+time.Second {
		t.Errorf("after its breaker closed at %s, %s first served real traffic at %ds; want within %s (served: %v)",
			run.closed, failingID, served, heldFor, run.served[int(back/time.Second):])
	}
	t.Logf("outage %s-%s; breaker closed at %s; first real request served at %ds", outageFrom, back, run.closed, served)
	for i := int(outageFrom/time.Second) + 1; i < int(back/time.Second); i++ {
		if run.served[i] == "" {
			t.Errorf("second %d: the request failed during the outage", i)
		}
	}
}

// Steady traffic, one request a second, over a model whose cheapest
// endpoint has a 40s outage: while it is down real traffic asks it once
// per breaker backoff at most (its probe takes the trial), and after it
// recovers its breaker closes within one probe interval; it serves real
// traffic again once its outage is older than the 30s OpenRouter's
// default routing holds it against an endpoint.
func TestOutageUnderSteadyTraffic(t *testing.T) {
	specs := []spec{
		{model: "m", profile: sim.Profile{Name: "cheap"}, price: 0.1},
		{model: "m", profile: sim.Profile{Name: "mid"}, price: 0.5},
		{model: "m", profile: sim.Profile{Name: "dear"}, price: 0.9},
	}
	from, dur := 10*time.Second, 40*time.Second
	run := outage(t, specs, "cheap", from, dur, 150*time.Second)
	run.check(t, "m@cheap", from, dur, 30*time.Second)
}

// The same with a models fallback and one endpoint per model: the dead
// endpoint is not tried before the fallback model (only its trials reach
// it), and once back, the next request after its breaker closes is its:
// nothing else of its model is ahead of it.
func TestOutageWithAFallbackModel(t *testing.T) {
	specs := []spec{
		{model: "first", profile: sim.Profile{Name: "a"}, price: 0.1},
		{model: "second", profile: sim.Profile{Name: "b"}, price: 0.5},
	}
	from, dur := 10*time.Second, 40*time.Second
	run := outage(t, specs, "a", from, dur, 120*time.Second)
	run.check(t, "first@a", from, dur, 0)
}
