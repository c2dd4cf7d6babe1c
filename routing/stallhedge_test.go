package routing

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/human"
	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// pausing is a loopback upstream that tells story in chunks of eight bytes
// and, asked from the start, goes silent after the first 24 until pause
// returns; asked to carry on from a prefill, it tells the rest at once,
// unless hold is set, in which case it says nothing until the request ends.
type pausing struct {
	srv      *httptest.Server
	requests atomic.Int64
	arrived  chan struct{} // closed when the first request arrives
	once     sync.Once
	pause    func(r *http.Request)
	hold     func(r *http.Request) // nil: a continuation answers at once
}

func newPausing(t *testing.T, pause, hold func(r *http.Request)) *pausing {
	p := &pausing{pause: pause, hold: hold, arrived: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pausing) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.once.Do(func() { close(p.arrived) })
	var req struct{ Messages []provider.Message }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.(http.Flusher).Flush()
	text, resumed := story, false
	if last := req.Messages[len(req.Messages)-1]; last.Role == "assistant" {
		text, resumed = strings.TrimPrefix(story, last.Content), true
		if p.hold != nil {
			p.hold(r)
			return
		}
	}
	for i := 0; i < len(text); i += 8 {
		if i == 24 && !resumed && p.pause != nil {
			p.pause(r)
			if r.Context().Err() != nil {
				return
			}
		}
		chunk, _ := json.Marshal(text[i:min(i+8, len(text))])
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", chunk)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
}

// stallRun streams a request with hedging on through a router over ups,
// named a, b, c ... from the cheapest, each taking a prefill, on a fake
// clock that moves on by the stall hedge's floor once the caller has had
// the first 24 bytes, and again after each hedge, silences times. It
// returns what the caller got, the result, the endpoint told it serves
// last, and the router.
func stallRun(t *testing.T, silences int, ups ...*pausing) (streamed string, res *Result, served string, r *Router, err error) {
	t.Helper()
	return stallRunThen(t, silences, nil, ups...)
}

// stallRunThen is stallRun, calling silent (if not nil) with the router
// once the caller has had the first 24 bytes, before the clock moves.
func stallRunThen(t *testing.T, silences int, silent func(*Router), ups ...*pausing) (streamed string, res *Result, served string, r *Router, err error) {
	t.Helper()
	clk := monitortest.NewClock()
	clk.HoldTimers() // the first-token hedge's delay never passes; the stall hedge's when the test says
	ep := func(name, url string, price float64) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "u", PriceIn: price, Prefill: true,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
	}
	var eps []Endpoint
	for i, u := range ups {
		eps = append(eps, ep(string(rune('a'+i)), u.srv.URL, float64(i+1)))
	}
	r = routerOver(t, Options{Clock: clk}, eps...)
	req := ask("tell me")
	req.Hedge = &Hedge{Enabled: true}
	req.Provider.Sort = Sort{By: SortPrice} // a, b, c ... in that order
	req.Timeouts.Stall = 2 * time.Second    // the limit a stall hedge comes long before
	var mu sync.Mutex
	req.OnCommit = func(e Endpoint) {
		mu.Lock()
		served = e.Provider
		mu.Unlock()
	}
	quiet := make(chan struct{})
	var got strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = r.Send(t.Context(), req, func(d Delta) {
			got.WriteString(d.Content)
			if got.Len() == 24 {
				close(quiet)
			}
		})
	}()
	<-quiet
	if silent != nil {
		silent(r)
	}
	for i := range silences {
		if i > 0 {
			// The hedge that went silent in its turn has its request:
			// moving the clock before it lands would start the next
			// hedge, which could win before the silent one is asked.
			select {
			case <-ups[i].arrived:
			case <-done:
			}
		}
		timers := make(chan struct{})
		go func() {
			clk.WaitForTimers(2) // the first-token hedge's, and the silence's
			close(timers)
		}()
		select {
		case <-timers:
			clk.Advance(StallHedgeFloor)
		case <-done: // nothing watched the silence: the stall limit ended it
			clk.NewTimer(time.Hour) // lets the waiter go
			clk.NewTimer(time.Hour)
			<-timers
			return got.String(), res, served, r, err
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a bound on a failure, not a wait: the fake clock moves no further
		t.Fatalf("the request did not end after %d silences: nothing carried the answer on", silences)
	}
	return got.String(), res, served, r, err
}

// wantStory checks what stallRun returned: the whole story, once, from the
// provider served, told to the caller as the one serving it, after the
// attempts want ("provider:outcome ..."), every one after the first a
// hedge, and one request to each of ups. It returns the attempts.
func wantStory(t *testing.T, streamed string, res *Result, served string, err error, want, serving string, ups ...*pausing) []Attempt {
	t.Helper()
	if err != nil {
		t.Fatalf("%v; attempts %v", err, outcomes(res.Trace))
	}
	if streamed != story {
		t.Errorf("the caller got %q\nwant        %q", streamed, story)
	}
	at := res.Trace.Attempts
	if got := strings.Join(outcomes(res.Trace), " "); got != want {
		t.Fatalf("attempts %s, want %s: %+v", got, want, at)
	}
	for _, a := range at[1:] {
		if !a.Hedge {
			t.Errorf("attempt %s:%s is not marked a hedge", a.Provider, a.Outcome)
		}
	}
	if res.Provider != serving || served != serving {
		t.Errorf("served by %q, the caller told %q; want %s", res.Provider, served, serving)
	}
	for _, u := range ups {
		if n := u.requests.Load(); n != 1 {
			t.Errorf("an upstream saw %d requests; want 1 each", n)
		}
	}
	return at
}

// A stream that goes silent mid-answer, with hedging on, is carried on at
// another endpoint that takes a prefill once the silence has lasted the
// stall hedge's floor, long before its stall limit: the caller gets the
// whole answer once, from then on from the other endpoint, and the silent
// one is ended. Each upstream sees one request.
func TestStallHedgeCarriesTheAnswerOn(t *testing.T) {
	a := newPausing(t, func(r *http.Request) { <-r.Context().Done() }, nil)
	b := newPausing(t, nil, nil)
	streamed, res, served, r, err := stallRun(t, 1, a, b)
	at := wantStory(t, streamed, res, served, err, "a:stall b:ok", "b", a, b)
	if !at[1].Resumed || !strings.Contains(at[0].Error, "stall hedge carried the answer on") {
		t.Errorf("attempts %+v", at)
	}
	// The monitor learns of the stall: a hedge that carries an answer on
	// does not hide a provider that goes silent mid-answer.
	if st := r.opts.Health.Snapshot().Status("m@a"); st.Errors[provider.ClassStall] != 1 || st.ProviderErrors != 1 {
		t.Errorf("a's health after its stall: %d stalls, %d provider errors; want 1 and 1", st.Errors[provider.ClassStall], st.ProviderErrors)
	}
	if sum := res.Trace.Summary(); !strings.Contains(sum, "b carried the answer on as a hedge") || strings.Contains(sum, "failed") {
		t.Errorf("summary %q", sum)
	}
}

// When the silent stream goes on before the hedge hands on anything, it
// keeps the answer and the hedge is ended: the caller gets the answer once,
// all of it from the first endpoint.
func TestStallHedgeLosesToTheStreamThatGoesOn(t *testing.T) {
	hedged := make(chan struct{})
	a := newPausing(t, func(r *http.Request) { <-hedged }, nil)
	b := newPausing(t, nil, func(r *http.Request) {
		close(hedged) // the hedge has begun: the silent one goes on
		<-r.Context().Done()
	})
	streamed, res, served, _, err := stallRun(t, 1, a, b)
	if at := wantStory(t, streamed, res, served, err, "a:ok b:canceled", "a", a, b); !strings.Contains(at[1].Error, "lost the race") {
		t.Errorf("attempts %+v", at)
	}
}

// A stall hedge that fails before it hands on anything (a 503) is
// replaced by the next endpoint that takes a prefill, while the first is
// still silent.
func TestStallHedgeMovesOnFromAFailedHedge(t *testing.T) {
	a := newPausing(t, func(r *http.Request) { <-r.Context().Done() }, nil)
	b := newPausing(t, nil, func(r *http.Request) {}) // a continuation: a stream that ends at once, with nothing
	c := newPausing(t, nil, nil)
	streamed, res, served, _, err := stallRun(t, 1, a, b, c)
	wantStory(t, streamed, res, served, err, "a:stall b:stream_cut c:ok", "c", a, b, c)
}

// Hedges that fail at once do not count among a silence's three: each is
// replaced by the next until one carries the answer on.
func TestStallHedgesThatFailAtOnceAreNotCounted(t *testing.T) {
	a := newPausing(t, func(r *http.Request) { <-r.Context().Done() }, nil)
	var failing []*pausing
	for range maxStallHedges {
		failing = append(failing, newPausing(t, nil, func(r *http.Request) {})) // a continuation that ends at once, with nothing
	}
	e := newPausing(t, nil, nil)
	ups := append(append([]*pausing{a}, failing...), e)
	streamed, res, served, _, err := stallRun(t, 1, ups...)
	wantStory(t, streamed, res, served, err, "a:stall b:stream_cut c:stream_cut d:stream_cut e:ok", "e", ups...)
}

// A stall hedge that is slow to its first token too gets another after a
// further silence: the first of the three to hand on a piece keeps the
// answer, and the other two are ended.
func TestStallHedgeHedgesASlowHedge(t *testing.T) {
	silent := func(r *http.Request) { <-r.Context().Done() }
	a := newPausing(t, silent, nil)
	b := newPausing(t, nil, silent) // a continuation that never begins
	c := newPausing(t, nil, nil)
	streamed, res, served, _, err := stallRun(t, 2, a, b, c)
	if at := wantStory(t, streamed, res, served, err, "a:stall b:canceled c:ok", "c", a, b, c); !strings.Contains(at[1].Error, "lost the race") {
		t.Errorf("attempts %+v", at)
	}
}

// With no other endpoint to race, the hedge is asked for after 100ms,
// then after 200ms more, then 400ms more (not every 100ms): by 700ms on
// the test's clock, three asks, not seven. The only endpoint answers 1s
// late on the wall clock.
func TestAHedgeWithNobodyToRaceIsAskedForLessOften(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"slow": 1}, provider.OpenAIOptions{},
		sim.Profile{Name: "slow", Mode: sim.ModeSlowStart, SlowStart: time.Second})
	f.clk.HoldTimers()
	req := ask("hello")
	req.Hedge = &Hedge{Enabled: true, After: 100 * time.Millisecond}
	done := f.sendInBackground(t, req, nil)
	for range 7 {
		f.clk.WaitForTimers(1) // the race's, armed again after each ask
		f.clk.Advance(100 * time.Millisecond)
	}
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	want := "waited 100ms for slow's first token, as asked; no hedge: no other endpoint could take one, asked 3 times"
	if got := s.res.Trace.Attempts[0].Unhedged; got != want {
		t.Fatalf("why no hedge: %q, want %q", got, want)
	}
}

// A stream gone silent when the hedge budget has no hedge to spare waits
// for its stall limit, and is then carried on as a failover; the trace
// counts the hedge the budget denied, and the other endpoint sees one
// request, the failover's.
func TestStallHedgeDeniedByTheBudgetIsCounted(t *testing.T) {
	a := newPausing(t, func(r *http.Request) { <-r.Context().Done() }, nil)
	b := newPausing(t, nil, nil)
	streamed, res, _, _, err := stallRunThen(t, 1, func(r *Router) {
		spendHedges(r)
	}, a, b)
	if err != nil || streamed != story {
		t.Fatalf("%v; the caller got %q", err, streamed)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:stall b:ok" || res.Trace.Attempts[1].Hedge {
		t.Fatalf("attempts %s (%+v): a's stall limit, then b as a failover", got, res.Trace.Attempts)
	}
	if n := res.Trace.HedgesDenied; n != 1 {
		t.Fatalf("the trace counts %d hedges denied, not 1", n)
	}
	if notes := res.Trace.Attempts[0].Notes(); !strings.Contains(notes, "mid-answer; no hedge: the hedge budget had none to spare") {
		t.Fatalf("the stalled attempt's notes %q leave out why no hedge carried it on", notes)
	}
	if n := b.requests.Load(); n != 1 {
		t.Fatalf("b saw %d requests, not 1", n)
	}
}

// The hedge budget fills with time and with the requests that may be
// hedged, one hedge for every five, up to five at once; a hedge given back
// can be taken again.
func TestHedgeBudget(t *testing.T) {
	at := monitortest.Start
	b := newHedgeBudget(1)
	for range 5 {
		if !b.take(at) {
			t.Fatal("a new budget holds five hedges")
		}
	}
	if b.take(at) {
		t.Fatal("a sixth hedge at once")
	}
	at = at.Add(500 * time.Millisecond)
	for range 3 {
		b.request(at)
	}
	if !b.take(at) || b.take(at) {
		t.Fatal("half a second and three requests earn one hedge")
	}
	b.giveBack()
	if !b.take(at) {
		t.Fatal("a hedge given back was not there to take")
	}
	for range 1000 {
		b.request(at)
	}
	at = at.Add(time.Hour)
	n := 0
	for b.take(at) {
		n++
	}
	if n != 5 {
		t.Fatalf("%d hedges after an hour and a thousand requests; the budget holds at most 5", n)
	}
}

// An attempt after one that failed at once is as likely to be slow as the
// first: it gets the request's first-token hedge. (On the wall clock: the
// hedge's 20ms are the only wait, and the slow one never answers.)
func TestHedgeAfterAFastFailure(t *testing.T) {
	srv := func(p sim.Profile) string { return simtest.Start(t, p).URL() }
	ep := func(name, url string, price float64) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "m", PriceIn: price,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
	}
	r := routerOver(t, Options{Clock: monitor.SystemClock{}},
		ep("down", srv(sim.Profile{Name: "down", Mode: sim.ModeDown}), 0.01),
		ep("slow", srv(sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}), 1),
		ep("fast", srv(sim.Profile{Name: "fast"}), 10))
	req := ask("hello")
	req.Provider.Sort = Sort{By: SortPrice}
	req.Hedge = &Hedge{Enabled: true, After: 20 * time.Millisecond}
	req.Timeouts.FirstToken = 2 * time.Second // without the hedge, slow costs this
	res, err := r.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("%v; attempts %v", err, outcomes(res.Trace))
	}
	a := res.Trace.Attempts
	if got := strings.Join(outcomes(res.Trace), " "); got != "down:overloaded slow:canceled fast:ok" || !a[2].Hedge {
		t.Fatalf("attempts %s: %+v", got, a)
	}
}

// The endpoint that lost a first-token race did not fail: when the winner
// breaks off mid-answer, it carries the answer on. (It counted as tried,
// and the answer ended in an error with an endpoint left that could have
// finished it.) Each upstream's requests are counted on its side: a sees
// the first request, which it never answered, and the continuation.
func TestARaceLoserCarriesOnWhenTheWinnerBreaks(t *testing.T) {
	var aSaw, bSaw atomic.Int64
	asked := make(chan struct{})
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aSaw.Add(1)
		var req struct{ Messages []provider.Message }
		json.NewDecoder(r.Body).Decode(&req)
		last := req.Messages[len(req.Messages)-1]
		if last.Role != "assistant" {
			close(asked)
			<-r.Context().Done() // slow to begin: it loses the race
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		chunk, _ := json.Marshal(strings.TrimPrefix(story, last.Content))
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", chunk)
	}))
	t.Cleanup(a.Close)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bSaw.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		chunk, _ := json.Marshal(story[:24])
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", chunk)
		// and the connection drops
	}))
	t.Cleanup(b.Close)
	clk := monitortest.NewClock()
	ep := func(name, url string, price float64) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "u", PriceIn: price, Prefill: true,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
	}
	r := routerOver(t, Options{Clock: clk}, ep("a", a.URL, 1), ep("b", b.URL, 2))
	req := ask("tell me")
	req.Hedge = &Hedge{Enabled: true, After: 50 * time.Millisecond}
	req.Provider.Sort = Sort{By: SortPrice}
	clk.HoldTimers()
	done := make(chan sent, 1)
	var got strings.Builder
	go func() {
		res, err := r.Send(t.Context(), req, func(d Delta) { got.WriteString(d.Content) })
		done <- sent{res, err}
	}()
	clk.WaitForTimers(1)
	<-asked // its request is in: the hedge starts while it waits
	clk.Advance(req.Hedge.After)
	s := <-done
	if s.err != nil {
		t.Fatalf("%v; attempts %v", s.err, outcomes(s.res.Trace))
	}
	at := s.res.Trace.Attempts
	if o := strings.Join(outcomes(s.res.Trace), " "); o != "a:canceled b:stream_cut a:ok" || !at[2].Resumed || at[2].LastResort {
		t.Fatalf("attempts %+v", at)
	}
	if got.String() != story || s.res.Provider != "a" {
		t.Errorf("the caller got %q from %s; want the whole story, once, finished by a", got.String(), s.res.Provider)
	}
	if aSaw.Load() != 2 || bSaw.Load() != 1 {
		t.Errorf("a saw %d requests, b %d; want 2 and 1", aSaw.Load(), bSaw.Load())
	}
}

// A hedge the budget has none for is asked for again after as long again,
// while the first still waits: the longer it waits, the likelier it is
// stuck. (It was never asked for again: the first waited out its deadline.)
func TestHedgeAskedAgainWhenTheBudgetHadNone(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"stuck": 0.01, "quick": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "stuck", Mode: sim.ModeSlowStart, SlowStart: time.Hour}, sim.Profile{Name: "quick"})
	f.clk.HoldTimers()
	spendHedges(f.router)
	req := ask("hello")
	req.Provider.Sort = Sort{By: SortPrice}
	req.Hedge = &Hedge{Enabled: true, After: 100 * time.Millisecond}
	req.Timeouts.FirstToken = 2 * time.Second // on the wall clock: a test that fails, fails soon
	done := f.sendInBackground(t, req, nil)
	// timer waits for the race's timer, failing if the request ends first.
	timer := func() {
		t.Helper()
		armed := make(chan struct{})
		go func() { f.clk.WaitForTimers(1); close(armed) }()
		select {
		case <-armed:
		case s := <-done:
			t.Fatalf("no hedge asked for again: %v, attempts %v", s.err, outcomes(s.res.Trace))
		}
	}
	// The request brought a fifth of a hedge, and each 100ms bring a
	// tenth: asked at 100ms, 200ms, ... 700ms, there is none.
	for range 7 {
		timer()
		f.clk.Advance(100 * time.Millisecond)
	}
	timer()
	if n := srvs["quick"].Stats().Requests; n != 0 {
		t.Fatalf("quick got %d requests with no hedge to spare", n)
	}
	f.clk.Advance(100 * time.Millisecond) // at 800ms, one
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	a := s.res.Trace.Attempts
	if got := strings.Join(outcomes(s.res.Trace), " "); got != "stuck:canceled quick:ok" ||
		a[1].Waited != "waited 100ms for stuck's first token, as asked; then 700ms more: the hedge budget had none to spare, asked 7 times" {
		t.Fatalf("attempts %s, the hedge's wait %q", got, a[1].Waited)
	}
	if n := srvs["quick"].Stats().Requests; n != 1 {
		t.Fatalf("quick got %d requests", n)
	}
	if n := s.res.Trace.HedgesDenied; n != 7 {
		t.Fatalf("the trace counts %d hedges denied, not 7", n)
	}
}

// A hedge that came late for the budget says so, and only so, even when,
// having failed at once, it found no endpoint to take its place: the
// words are of the wait before it. The first answers 1s late on the wall
// clock; the hedge's endpoint is down.
func TestALateHedgeSaysWhatItWaitedFor(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "down": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "slow", Mode: sim.ModeSlowStart, SlowStart: time.Second}, sim.Profile{Name: "down", Mode: sim.ModeDown})
	f.clk.HoldTimers()
	spendHedges(f.router)
	req := ask("hello")
	req.Provider.Sort = Sort{By: SortPrice}
	req.Hedge = &Hedge{Enabled: true, After: 100 * time.Millisecond}
	done := f.sendInBackground(t, req, nil)
	for range 8 { // refused at 100ms, ... 700ms; at 800ms, one
		f.clk.WaitForTimers(1)
		f.clk.Advance(100 * time.Millisecond)
	}
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	a := s.res.Trace.Attempts
	if got := strings.Join(outcomes(s.res.Trace), " "); got != "slow:ok down:overloaded" || srvs["down"].Stats().Requests != 1 {
		t.Fatalf("attempts %s, down saw %d requests: want the hedge at down, failed", got, srvs["down"].Stats().Requests)
	}
	if want := "waited 100ms for slow's first token, as asked; then 700ms more: the hedge budget had none to spare, asked 7 times"; a[1].Waited != want {
		t.Fatalf("the hedge's wait %q, want %q", a[1].Waited, want)
	}
}

// A first attempt slow to its first token that never got its hedge says
// why, on its line of the trace: the budget had none to spare (and the
// trace counts the ask), or there was nobody to race it. The slow one
// answers 500ms late on the wall clock; the race's clock is the test's.
func TestAnAttemptThatRacedNoHedgeSaysWhy(t *testing.T) {
	for _, c := range []struct {
		name   string
		alone  bool // no other endpoint
		spent  bool // other requests spent the budget
		words  string
		denied int
	}{
		{"no budget", false, true, "waited 100ms for slow's first token, as asked; no hedge: the hedge budget had none to spare", 1},
		{"no partner", true, false, "waited 100ms for slow's first token, as asked; no hedge: no other endpoint could take one", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			profiles := []sim.Profile{{Name: "slow", Mode: sim.ModeSlowStart, SlowStart: 500 * time.Millisecond}}
			prices := map[string]float64{"slow": 0.01}
			if !c.alone {
				profiles, prices["quick"] = append(profiles, sim.Profile{Name: "quick"}), 10
			}
			f, srvs := simFleet(t, prices, provider.OpenAIOptions{}, profiles...)
			f.clk.HoldTimers()
			if c.spent {
				spendHedges(f.router)
			}
			req := ask("hello")
			req.Provider.Sort = Sort{By: SortPrice}
			req.Hedge = &Hedge{Enabled: true, After: 100 * time.Millisecond}
			done := f.sendInBackground(t, req, nil)
			f.clk.WaitForTimers(1) // the race's
			f.clk.Advance(100 * time.Millisecond)
			s := <-done
			if s.err != nil {
				t.Fatal(s.err)
			}
			a := s.res.Trace.Attempts
			if got := strings.Join(outcomes(s.res.Trace), " "); got != "slow:ok" || a[0].Unhedged != c.words {
				t.Fatalf("attempts %s, why no hedge %q, want %q", got, a[0].Unhedged, c.words)
			}
			if !strings.Contains(a[0].Notes(), c.words) {
				t.Fatalf("the attempt's notes %q leave out why it raced no hedge", a[0].Notes())
			}
			if n := s.res.Trace.HedgesDenied; n != c.denied {
				t.Fatalf("the trace counts %d hedges denied, want %d", n, c.denied)
			}
			if q := srvs["quick"]; q != nil && q.Stats().Requests != 0 {
				t.Fatalf("quick got %d requests with no hedge to spare", q.Stats().Requests)
			}
		})
	}
}

// A request that waited out a short Retry-After and then tries the same
// endpoint with hedging on (nothing else to try, so nothing to hedge with):
// the race's first attempt is the retry, and says what it waited for (it
// lost both, and the words went to the next attempt). The upstream limits
// the first request, then answers.
func TestARetryThatRacesSaysItIsARetry(t *testing.T) {
	backend, err := url.Parse(simtest.Start(t, sim.Profile{Name: "a"}).URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: backend.Scheme, Host: backend.Host})
	var n atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit_error"}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	r := routerOver(t, Options{Clock: monitortest.NewClock()}, Endpoint{ID: "m@a", Provider: "a", Model: "m", UpstreamModel: "m",
		Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: front.URL + "/v1"})})
	req := ask("hello")
	req.Hedge = &Hedge{Enabled: true, After: 20 * time.Millisecond}
	res, err := r.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Trace.Attempts
	if got := strings.Join(outcomes(res.Trace), " "); got != "a:rate_limited a:ok" {
		t.Fatalf("attempts %s: a limited, then a again", got)
	}
	if a[0].Retry || a[0].Waited != "" || !a[1].Retry || !strings.HasPrefix(a[1].Waited, "waited 1s: Retry-After") {
		t.Fatalf("the first: retry %v, %q; the retry: retry %v, %q", a[0].Retry, a[0].Waited, a[1].Retry, a[1].Waited)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("a saw %d requests", got)
	}
}

// With nothing in the window (5 minutes) but first tokens of the last 30
// minutes, the hedge starts at the 30-minute p95 and goes to the quickest
// by its 30-minute p50: a window without data reads monitor.NoData (-1),
// which is no figure, not a zero to pass over.
func TestHedgeReadsThe30MinuteFiguresWhenTheWindowHasNone(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"stuck": 0.01, "b": 1, "c": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "stuck", Mode: sim.ModeSlowStart, SlowStart: time.Hour}, sim.Profile{Name: "b"}, sim.Profile{Name: "c"})
	for range 20 {
		for n, ttft := range map[string]time.Duration{"stuck": 300 * time.Millisecond, "b": 400 * time.Millisecond, "c": 100 * time.Millisecond} {
			f.mon.Record("m@"+n, provider.Outcome{Class: provider.ClassOK, TTFT: ttft, Duration: time.Second, OutputTokens: 10})
		}
	}
	f.clk.Advance(6 * time.Minute) // out of the window, in the 30 minutes
	st := f.mon.Snapshot().Status("m@stuck")
	if st.TTFT.P95 != monitor.NoData || st.TTFT30m.P95 <= 0 {
		t.Fatalf("stuck's first tokens: window %+v, 30 minutes %+v", st.TTFT, st.TTFT30m)
	}
	f.clk.HoldTimers()
	req := ask("hello")
	req.Hedge = &Hedge{Enabled: true}
	req.Timeouts.FirstToken = 5 * time.Second // on the wall clock: a test that fails, fails soon
	done := f.sendInBackground(t, req, nil)
	f.clk.WaitForTimers(1)
	f.clk.Advance(defaultHedgeAfter) // the hedge's timer fires, whichever wait it was set for
	s := <-done
	if s.err != nil {
		t.Fatalf("%v; attempts %v", s.err, outcomes(s.res.Trace))
	}
	a := s.res.Trace.Attempts
	want := "waited " + human.Duration(st.TTFT30m.P95) + " for stuck's first token: its p95"
	if got := strings.Join(outcomes(s.res.Trace), " "); got != "stuck:canceled c:ok" || a[1].Waited != want {
		t.Fatalf("attempts %s, the hedge's wait %q; want stuck:canceled c:ok, %q", got, a[1].Waited, want)
	}
	if n := srvs["b"].Stats().Requests; n != 0 {
		t.Fatalf("b, the slower, got %d requests", n)
	}
}

// spendHedges takes every hedge the budget of r has, as other requests
// would have.
func spendHedges(r *Router) {
	for r.hedges.take(r.opts.Clock.Now()) {
	}
}
