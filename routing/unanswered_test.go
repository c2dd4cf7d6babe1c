package routing

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// silentAndGood is a router with o over two providers of model m: silent,
// the cheaper, a silentServer; and good, a simulated one. silent's usual
// first token is 100ms (so it is silent past 500ms).
func silentAndGood(t *testing.T, o Options) (r *Router, requests *atomic.Int64, got chan struct{}) {
	t.Helper()
	silent, requests, got, _ := silentServer(t)
	good := simtest.Start(t, sim.Profile{Name: "good"})
	r = routerOver(t, o, endpointOfM("silent", silent, 0.01), endpointOfM("good", good.URL(), 10))
	for range 20 {
		r.opts.Health.Record("m@silent", provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	}
	return r, requests, got
}

// silentServer is a real server that reads each request, counts it in
// requests, says so on got and answers nothing until wake is called: then
// it answers each request waiting, and every one after, with a short
// streamed completion.
func silentServer(t *testing.T) (url string, requests *atomic.Int64, got chan struct{}, wake func()) {
	t.Helper()
	requests, got = new(atomic.Int64), make(chan struct{}, 8)
	woken := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body) // read to its end, so that the server sees the client go
		got <- struct{}{}
		select {
		case <-r.Context().Done():
			return
		case <-woken:
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"awake"},"finish_reason":null}]}`,
			`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`[DONE]`,
		} {
			io.WriteString(w, "data: "+ev+"\n\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests, got, sync.OnceFunc(func() { close(woken) })
}

// endpointOfM is provider name's endpoint of model m, an OpenAI upstream at
// url, at price.
func endpointOfM(name, url string, price float64) Endpoint {
	return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "m", PriceIn: price,
		Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
}

// A provider that takes a request and goes silent is passed over by the
// requests that come while the first waits, once the wait is far past its
// usual first token, not only after the first reaches its deadline: it
// gets one request, not one per request sent in the meantime. Once nothing
// has waited on it for as long as it kept requests waiting, it gets the
// next request again (passed over, it could never show it answers again);
// found silent again, it is passed over twice as long.
func TestSilentEndpointIsPassedOver(t *testing.T) {
	clk := monitortest.NewClock()
	r, requests, got := silentAndGood(t, Options{Clock: clk})
	ask := func(q string) Request {
		req := Request{Model: "m", MaxTokens: 16, Messages: []provider.Message{{Role: "user", Content: q}}}
		req.Provider.Sort = Sort{By: SortPrice}
		req.Timeouts.FirstToken = time.Minute // the first waits: only the others can tell
		return req
	}
	// waitOn sends a request that the silent one gets, and returns what
	// ends it, once it is ended.
	waitOn := func(q string) (end func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		var res *Result
		go func() {
			defer close(done)
			res, _ = r.Send(ctx, ask(q), nil)
		}()
		select {
		case <-got: // the silent one has it
		case <-done:
			t.Fatalf("%s request: the silent one never got it; attempts %v", q, outcomes(res.Trace))
		}
		return func() { cancel(); <-done }
	}
	passedOver := func(q, owed string) {
		t.Helper()
		res, err := r.Send(t.Context(), ask(q), nil)
		if err != nil || res.Provider != "good" || strings.Join(outcomes(res.Trace), " ") != "good:ok" {
			t.Fatalf("%s request: %v, served by %q, attempts %v", q, err, res.Provider, outcomes(res.Trace))
		}
		var why string
		for _, c := range res.Trace.Candidates {
			if c.Provider == "silent" {
				why = c.Why
			}
		}
		if !strings.Contains(why, "no answer for "+owed+" to requests sent to it") {
			t.Errorf("%s request: the silent candidate's reason %q", q, why)
		}
	}
	end := waitOn("the first")
	clk.Advance(time.Second)
	passedOver("the second", "1s")
	if n := requests.Load(); n != 1 {
		t.Errorf("the silent provider got %d requests; want 1", n)
	}
	// The first request's caller goes: nothing waits on it, and it owes
	// what the first waited. It is passed over for as long again; then
	// the next request finds out again, and while that one waits, what it
	// owes runs on from there.
	end()
	clk.Advance(999 * time.Millisecond)
	passedOver("the third", "1s")
	clk.Advance(time.Millisecond)
	end = waitOn("the fourth")
	clk.Advance(500 * time.Millisecond)
	passedOver("the fifth", "1.5s")
	end()
	// Found silent a second time: passed over twice as long, 3s.
	clk.Advance(2999 * time.Millisecond)
	passedOver("the sixth", "1.5s")
	clk.Advance(time.Millisecond)
	end = waitOn("the seventh")
	end()
	if n := requests.Load(); n != 3 {
		t.Errorf("the silent provider got %d requests; want 3", n)
	}
}

// A hedge does not go to an endpoint silent to a request in flight: it
// would only wait there too.
func TestHedgePassesOverASilentEndpoint(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "silent": 1, "fast": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "silent"}, sim.Profile{Name: "fast"})
	for range 20 { // its usual first token: 100ms
		f.mon.Record("m@silent", provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	}
	f.mon.Sent("m@silent") // a request of another caller waits on it
	f.clk.Advance(time.Second)
	f.clk.HoldTimers()
	req := ask("hello")
	req.Provider.Order = []string{"slow", "silent", "fast"} // the order puts it next, whatever its health
	req.Hedge = &Hedge{Enabled: true, After: 50 * time.Millisecond}
	req.Timeouts.FirstToken = 300 * time.Millisecond
	done := make(chan struct{})
	var res *Result
	var err error
	go func() {
		defer close(done)
		res, err = f.router.Send(t.Context(), req, nil)
	}()
	f.clk.WaitForTimers(1)
	f.clk.Advance(req.Hedge.After)
	<-done
	if err != nil || strings.Join(outcomes(res.Trace), " ") != "slow:canceled fast:ok" {
		t.Fatalf("attempts %v, err %v; want the hedge at fast, past the silent one", outcomes(res.Trace), err)
	}
	if n := srvs["silent"].Stats().Chats; n != 0 {
		t.Errorf("the silent endpoint got %d requests", n)
	}
}

// An endpoint that lost a race before its first token, and then got no
// more traffic, owes only what the race waited: however long it stays idle
// afterwards, it is neither silent nor down. (It was: every minute after
// the race counted as silence to a request in flight, and opened its
// breaker once past the probe timeout.)
func TestALostRaceThenIdleIsNoOutage(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "fast": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "fast"})
	for range 20 { // its usual first token: 100ms
		f.mon.Record("m@slow", provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	}
	f.clk.Advance(2 * time.Second)
	f.mon.Snapshot() // the 30-minute figures are read
	req := ask("hello")
	req.Hedge = &Hedge{Enabled: true, After: 50 * time.Millisecond}
	// As sendAtHedge, but the hedge goes only once slow has the request:
	// the hedge's timer is set as slow's attempt starts, and a fast answer
	// could cancel slow's request before it reached slow (seen once in CI,
	// under load).
	f.clk.HoldTimers()
	done := f.sendInBackground(t, req, nil)
	f.clk.WaitForTimers(1)
	bound := time.Now().Add(10 * time.Second) // a bound, so that a failure is not a hang
	for srvs["slow"].Stats().Chats == 0 {     // on its way over loopback: no clock of ours to advance
		if time.Now().After(bound) {
			t.Fatal("slow did not get the request in 10s")
		}
		runtime.Gosched()
	}
	f.clk.Advance(req.Hedge.After)
	res := (<-done).res
	if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled fast:ok" {
		t.Fatalf("attempts %s; the test wants slow to lose the race", got)
	}
	if n := srvs["slow"].Stats().Chats; n != 1 {
		t.Fatalf("slow got %d requests", n)
	}
	f.clk.Advance(time.Minute) // nothing is sent to slow meanwhile
	st, _ := f.mon.Snapshot().Endpoint("m@slow")
	if st.State == monitor.Down || Silent(&st, f.clk.Now()) != 0 {
		t.Fatalf("a minute after a lost race: %s (%s), silent for %s", st.State, st.Reason, Silent(&st, f.clk.Now()))
	}
	if c := candidate(t, f.plan(t), "slow"); c.Tier != TierPreferred {
		t.Errorf("slow is %s (%s)", c.Tier, c.Why)
	}
}

// A provider that takes requests and goes silent costs the requests in
// flight one wait, not one each: once it is found silent (a request
// planned then passes it over), those sent to it after the first give up
// and go on to the next endpoint, while the first waits on for its own
// deadline. Each upstream counts what it was sent.
func TestSilentEndpointReleasesAllButTheFirst(t *testing.T) {
	clk := monitortest.NewClock()
	// The norm's floor as long as the cap: no attempt's own deadline
	// ends it while the test runs.
	r, requests, got := silentAndGood(t, Options{Clock: clk, NormFloor: time.Minute})
	type sent struct {
		res    *Result
		err    error
		done   chan struct{}
		cancel context.CancelFunc
	}
	// send sends a request that waits at the silent one (a minute's
	// deadline: only being released ends it), or, bounded, ends by itself.
	send := func(q string) *sent {
		s := &sent{done: make(chan struct{})}
		req := Request{Model: "m", MaxTokens: 16, Messages: []provider.Message{{Role: "user", Content: q}}}
		req.Provider.Sort = Sort{By: SortPrice}
		req.Timeouts.FirstToken = time.Minute
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a bound, so that a failure is not a hang
		s.cancel = cancel
		go func() {
			defer close(s.done)
			s.res, s.err = r.Send(ctx, req, nil)
		}()
		return s
	}
	first := send("the first")
	<-got
	clk.Advance(200 * time.Millisecond)
	second := send("the second")
	<-got
	clk.Advance(200 * time.Millisecond)
	third := send("the third")
	<-got
	clk.Advance(200 * time.Millisecond) // 600ms unanswered: silent
	fourth := send("the fourth")
	for _, s := range []*sent{fourth, second, third} {
		<-s.done
		if s.err != nil || s.res.Provider != "good" {
			t.Fatalf("served by %q (%v), attempts %v: want good", s.res.Provider, s.err, outcomes(s.res.Trace))
		}
	}
	for i, s := range []*sent{second, third} {
		a := s.res.Trace.Attempts
		if got := strings.Join(outcomes(s.res.Trace), " "); got != "silent:canceled good:ok" || !strings.Contains(a[0].Error, "gave up: the endpoint left the requests sent to it unanswered for") {
			t.Errorf("request %d: attempts %s, %q", i+2, got, a[0].Error)
		}
	}
	if got := strings.Join(outcomes(fourth.res.Trace), " "); got != "good:ok" {
		t.Errorf("the fourth request: attempts %s, want good alone", got)
	}
	select {
	case <-first.done:
		t.Fatalf("the first request ended (%v, attempts %v): it waits on the silent one", first.err, outcomes(first.res.Trace))
	default:
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the silent provider got %d requests; want 3", n)
	}
	if st, _ := r.opts.Health.Snapshot().Endpoint("m@silent"); st.ProviderErrors != 0 {
		t.Errorf("the silent provider was blamed %d times for the requests that gave up", st.ProviderErrors)
	}
	for _, s := range []*sent{first, second, third, fourth} {
		s.cancel()
		<-s.done
	}
}

// A provider that goes silent costs one first-token deadline, once: the
// request that finds it out waits its norm, and then the prober sends a
// completion at once (its models probe cannot tell: the host lists its
// models) while every request passes the provider over, for as long as
// that completion waits, not only until the suspicion lapses and the next
// caller would find out again. Once it answers, the provider serves again.
// The silent upstream counts what it was sent.
func TestSilentEndpointIsLookedAtByAProbe(t *testing.T) {
	clk := monitortest.NewClock()
	silentURL, requests, got, wake := silentServer(t)
	good := simtest.Start(t, sim.Profile{Name: "good"})
	eps := []Endpoint{endpointOfM("silent", silentURL, 0.01), endpointOfM("good", good.URL(), 10)}
	models := func(context.Context) provider.Outcome {
		return provider.Outcome{Class: provider.ClassOK, Shallow: true}
	}
	chat := func(ctx context.Context) provider.Outcome { return provider.ProbeChat(ctx, eps[0].Upstream, "m", 1) }
	mon, err := monitor.New(monitor.Options{Clock: clk, ProbeInterval: time.Hour, ProbeTimeout: time.Hour}, []monitor.Endpoint{
		{ID: "m@silent", Provider: "silent", Model: "m", Probe: models, Trial: chat},
		{ID: "m@good", Provider: "good", Model: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() { mon.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	const norm = 300 * time.Millisecond // the floor, and 3 times its p99
	r, err := New(Options{Endpoints: eps, Health: mon, Seed: 1, Clock: clk, NormFloor: norm})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // its usual first token: 100ms
		mon.Record("m@silent", provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	}
	clk.Advance(2 * time.Second)
	mon.Snapshot() // the 30-minute figures, which the norm is read from, are read
	byPrice := func(q string) Request {
		req := ask(q)
		req.Provider.Sort = Sort{By: SortPrice}
		return req
	}
	// send sends a request and returns whom its attempts went to; it fails
	// the test if the silent upstream gets it before it is woken.
	awake := false
	send := func(q string) string {
		t.Helper()
		done := make(chan struct{})
		var res *Result
		go func() {
			defer close(done)
			res, _ = r.Send(t.Context(), byPrice(q), nil)
		}()
		for {
			select {
			case <-done:
				return strings.Join(outcomes(res.Trace), " ")
			case <-got:
				if !awake {
					<-done
					t.Fatalf("%s request: the silent provider got it; upstream requests %d", q, requests.Load())
				}
			}
		}
	}

	first := make(chan *Result)
	go func() {
		res, _ := r.Send(t.Context(), byPrice("the first"), nil)
		first <- res
	}()
	<-got
	clk.Advance(norm) // as the first waits out its norm, in real time, and goes on
	res := <-first
	if got := strings.Join(outcomes(res.Trace), " "); got != "silent:timeout good:ok" || res.Trace.Attempts[0].Deadline == nil || !res.Trace.Attempts[0].Deadline.Norm {
		t.Fatalf("the first request's attempts: %s; want a timeout at silent's norm, %+v", got, res.Trace.Attempts[0].Deadline)
	}
	select {
	case <-got: // the prober's completion
	case <-time.After(10 * time.Second):
		t.Fatalf("no probe came to the silent provider")
	}
	for i, wait := range []time.Duration{time.Second, 10 * time.Second, time.Minute} {
		clk.Advance(wait)
		if got := send(fmt.Sprint("passed over ", i)); got != "good:ok" {
			t.Fatalf("%s after the first: attempts %s; want good alone", wait, got)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the silent provider got %d requests; want 2, the first and the probe", n)
	}
	// Woken, it answers the probe, and what it owed is settled: it serves
	// again.
	published := mon.Subscribe(ctx)
	awake = true
	wake()
	for snap := range published {
		if st, _ := snap.Endpoint("m@silent"); st.Unanswered(clk.Now()) == 0 {
			break
		}
	}
	clk.Advance(time.Second) // a snapshot with the probe's answer in it
	if got := send("once it answers"); got != "silent:ok" {
		st, _ := mon.Snapshot().Endpoint("m@silent")
		t.Errorf("once the provider answered the probe: attempts %s; want it to serve (it is %s: %s)", got, st.State, st.Reason)
	}
}
