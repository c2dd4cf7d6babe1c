package demo

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"switchboard/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sent is one request the fake router got.
type sent struct {
	model, prompt string
	stream        bool
	maxTokens     int
}

// fakeRouter records what it is sent and answers at once, or, when block
// is set, only once the request's context ends.
type fakeRouter struct {
	mu    sync.Mutex
	got   []sent
	block bool
}

func (f *fakeRouter) Send(ctx context.Context, req routing.Request, onDelta routing.OnDelta) (*routing.Result, error) {
	f.mu.Lock()
	f.got = append(f.got, sent{req.Model, req.Messages[0].Content, onDelta != nil, req.MaxTokens})
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return &routing.Result{Trace: &routing.Trace{Model: req.Model}}, ctx.Err()
	}
	return &routing.Result{Trace: &routing.Trace{Model: req.Model, Served: req.Model + "@x"}}, nil
}

func (f *fakeRouter) requests() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.got...)
}

// At 2 prompts a second, ten seconds bring twenty: every other one to the
// first model, the rest shared by the others; two of three streamed; each
// trace handed on. Turned off it sends nothing, and it stops with its
// context.
func TestTrafficSendsAtItsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRouter{}
		var mu sync.Mutex
		var traces []*routing.Trace
		tr := New(Options{Router: f, Models: []string{"main", "b", "c"}, Rate: 2, Routed: func(t *routing.Trace) {
			mu.Lock()
			traces = append(traces, t)
			mu.Unlock()
		}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			tr.Run(ctx)
			close(done)
		}()
		advance(10 * time.Second) // the bubble's clock: no real time passes
		synctest.Wait()
		got := f.requests()
		if len(got) != 20 || tr.Sent() != 20 || !tr.On() || tr.Rate() != 2 {
			t.Fatalf("%d requests, Sent %d, On %v, Rate %v; want 20 at 2/s", len(got), tr.Sent(), tr.On(), tr.Rate())
		}
		count := map[string]int{}
		prompts, streamed := map[string]bool{}, 0
		for _, r := range got {
			count[r.model]++
			prompts[r.prompt] = true
			if r.stream {
				streamed++
			}
			if r.maxTokens <= 0 || r.maxTokens > 100 {
				t.Errorf("max_tokens %d; want a short answer", r.maxTokens)
			}
		}
		if count["main"] != 10 || count["b"] != 5 || count["c"] != 5 {
			t.Errorf("per model %v; want half to main, the rest shared", count)
		}
		if streamed < 12 || streamed > 14 || len(prompts) < 10 {
			t.Errorf("%d of 20 streamed, %d different prompts; want two in three streamed, and variety", streamed, len(prompts))
		}
		mu.Lock()
		if len(traces) != 20 {
			t.Errorf("%d traces handed on, want 20", len(traces))
		}
		mu.Unlock()

		tr.SetOn(false)
		advance(10 * time.Second)
		synctest.Wait()
		if n := len(f.requests()); n != 20 || tr.On() {
			t.Errorf("off: %d requests, On %v; want none more", n, tr.On())
		}
		tr.SetOn(true)
		advance(time.Second)
		synctest.Wait()
		if n := len(f.requests()); n != 22 {
			t.Errorf("on again: %d requests, want 22", n)
		}
		cancel()
		<-done
	})
}

// Requests that hang are not piled on: at most MaxInFlight run at once,
// and Run returns only once they have ended, which its context's end
// brings about; their traces, cut short by quitting, are not handed on.
func TestTrafficBoundsRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRouter{block: true}
		routed := 0
		tr := New(Options{Router: f, Models: []string{"main"}, Rate: 10, Routed: func(*routing.Trace) { routed++ }})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			tr.Run(ctx)
			close(done)
		}()
		advance(5 * time.Second)
		synctest.Wait()
		if n := len(f.requests()); n != MaxInFlight || tr.Sent() != MaxInFlight {
			t.Errorf("%d requests running, Sent %d; want %d", n, tr.Sent(), MaxInFlight)
		}
		cancel()
		<-done
		if routed != 0 {
			t.Errorf("%d traces of requests cut short by quitting were handed on", routed)
		}
	})
}

// No rate, or no model, sends nothing and returns at once.
func TestTrafficWithoutRateSendsNothing(t *testing.T) {
	f := &fakeRouter{}
	New(Options{Router: f, Models: []string{"m"}}).Run(t.Context())
	New(Options{Router: f, Rate: 1}).Run(t.Context())
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// advance moves a synctest bubble's clock on by d, once every goroutine in
// it waits: no real time passes.
func advance(d time.Duration) { <-time.After(d) }
