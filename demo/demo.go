// Package demo sends background demo traffic: a steady trickle of short,
// varied prompts through the router, streamed and not, so that a dashboard
// on a simulated fleet shows routing at work (the routed-vs-best figures,
// fallbacks, the event log) without anyone typing.
package demo

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/provider"
	"switchboard/routing"
)

// Sender routes one request, as routing.Router does.
type Sender interface {
	Send(ctx context.Context, req routing.Request, onDelta routing.OnDelta) (*routing.Result, error)
}

// Options configure Traffic.
type Options struct {
	Router Sender
	// Models are the models to ask. The first, the one the dashboard opens
	// on, gets every other prompt, so that its figures move most; the rest
	// share the others in turn.
	Models []string
	Rate   float64 // prompts per second, > 0
	// Routed, if set, is given each request's decision trace when it ends,
	// as the gateway's Routed is, so that the dashboard shows both alike.
	Routed func(*routing.Trace)
}

// MaxInFlight bounds the demo's requests running at once: a prompt that
// falls due while this many are still running (an upstream stalled, the
// fleet overwhelmed) is skipped rather than piled on.
const MaxInFlight = 4

// maxTokens keeps answers short: enough for a stream to have a middle that
// can break, little enough that the demo costs next to no CPU.
const maxTokens = 48

// prompts are what the demo asks: short, and different enough that the
// conversations are not one sticky session.
var prompts = []string{
	"Give me three names for a grey cat.",
	"What is the capital of Australia?",
	"Write a haiku about a train station at night.",
	"Explain what a circuit breaker does in software, in two sentences.",
	"Translate 'good morning' into French, Spanish and German.",
	"List four things to pack for a day hike.",
	"What is 17 times 23?",
	"Suggest a title for a short story about a lighthouse keeper.",
	"Summarise the rules of chess in one paragraph.",
	"Why is the sky blue? Answer briefly.",
	"Name three prime numbers greater than 100.",
	"Write one sentence that uses the word 'switchboard'.",
	"What rhymes with orange?",
}

// Traffic is the background demo traffic. It implements the dashboard's
// ui.Demo; its methods are safe to call from any goroutine.
type Traffic struct {
	o        Options
	on       atomic.Bool
	sent     atomic.Uint64
	inFlight atomic.Int32
}

// New returns the traffic, on; it sends nothing until Run.
func New(o Options) *Traffic {
	t := &Traffic{o: o}
	t.on.Store(true)
	return t
}

// On reports whether the traffic is sending.
func (t *Traffic) On() bool { return t.on.Load() }

// SetOn starts or stops the traffic; requests already sent run to their end.
func (t *Traffic) SetOn(on bool) { t.on.Store(on) }

// Rate is the prompts per second sent while on.
func (t *Traffic) Rate() float64 { return t.o.Rate }

// Sent is how many prompts have been sent so far.
func (t *Traffic) Sent() uint64 { return t.sent.Load() }

// Run sends a prompt every 1/Rate seconds while the traffic is on, until
// ctx ends; it returns once every request it sent has ended, which ctx's
// end brings about.
func (t *Traffic) Run(ctx context.Context) {
	if t.o.Rate <= 0 || len(t.o.Models) == 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / t.o.Rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !t.On() || t.inFlight.Load() >= MaxInFlight {
			continue
		}
		n := t.sent.Add(1) - 1
		t.inFlight.Add(1)
		wg.Go(func() {
			defer t.inFlight.Add(-1)
			t.send(ctx, n)
		})
	}
}

// request is the nth prompt: its model, its text and whether it streams.
// Two of every three stream, as chat clients mostly do; the rest want the
// whole answer, which the router retries differently.
func (t *Traffic) request(n uint64) (req routing.Request, stream bool) {
	model := t.o.Models[0]
	if others := t.o.Models[1:]; n%2 == 1 && len(others) > 0 {
		model = others[(n/2)%uint64(len(others))]
	}
	// A stride prime to len(prompts) visits them all, in an order that
	// does not follow the models'.
	text := prompts[(n*5)%uint64(len(prompts))]
	req = routing.Request{Model: model, MaxTokens: maxTokens,
		Messages: []provider.Message{{Role: "user", Content: text}}}
	return req, n%3 != 2
}

// send sends the nth prompt and hands its trace on.
func (t *Traffic) send(ctx context.Context, n uint64) {
	req, stream := t.request(n)
	var onDelta routing.OnDelta
	if stream {
		onDelta = func(routing.Delta) {} // the answer itself is nobody's to read
	}
	res, _ := t.o.Router.Send(ctx, req, onDelta)
	if res != nil && res.Trace != nil && t.o.Routed != nil && ctx.Err() == nil {
		t.o.Routed(res.Trace)
	}
}
