package uptime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/config"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

// A strategy is a way of sending a request to a model served by several
// providers.
type strategy struct {
	name, about string
	hedge       bool // Switchboard's: the scenario with hedging on
	gateway     bool // Switchboard itself, not a baseline
	start       func(ctx context.Context, o Options, cfg *config.Config) (target, error)
}

// target is a started strategy over its own fleet.
type target interface {
	// send sends request n, sent at start, and says what came of it (its
	// time to the first token from start; drive times the whole).
	send(ctx context.Context, n, maxTokens int, start time.Time) result
	fleet() *sim.Fleet
	stop()
}

const (
	nameSwitchboard = "Switchboard"
	nameCheapest    = "no routing (cheapest)"
)

// requestTimeout bounds every request of every strategy: far past what any
// of them takes when it answers.
const requestTimeout = 2 * time.Minute

// strategies are the scorecard's rows, Switchboard's first.
var strategies = []strategy{
	{name: nameSwitchboard, about: "as shipped: default policy, through its HTTP API", gateway: true, start: startSwitchboard},
	{name: nameSwitchboard + ", hedged", about: "the same, with hedge = true for the model", hedge: true, gateway: true, start: startSwitchboard},
	{name: nameCheapest, about: "every request to the cheapest provider, once", start: baseline(func(int64) policy { return cheapestOnly{} })},
	{name: "round robin", about: "each request starts at the next provider in turn and fails over along the list; no health memory",
		start: baseline(func(int64) policy { return roundRobin{} })},
	{name: "ordered failover", about: "each request tries the providers from the cheapest up until one answers; no health memory",
		start: baseline(func(int64) policy { return orderedFailover{} })},
	{name: "retry, then fail over", about: "LiteLLM's defaults: a random provider, 2 retries on others; 3 failures in a minute, or a 429, cool a provider down for 5 s",
		start: baseline(newLiteLLM)},
}

// ---- Switchboard ----

type switchboard struct {
	url   string
	fl    *sim.Fleet
	close func()
	c     *http.Client
}

func startSwitchboard(ctx context.Context, o Options, cfg *config.Config) (target, error) {
	url, fl, stop, err := o.Gateway(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &switchboard{url: url, fl: fl, close: stop, c: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}, nil
}

func (s *switchboard) fleet() *sim.Fleet { return s.fl }

func (s *switchboard) stop() {
	s.c.CloseIdleConnections()
	s.close()
}

// send streams request n through the gateway's chat completions and reads
// the stream as an OpenAI client does: whole means content, a finish
// reason, no error event, and [DONE].
func (s *switchboard) send(ctx context.Context, n, maxTokens int, start time.Time) (r result) {
	body, _ := json.Marshal(map[string]any{"model": model, "stream": true, "max_tokens": maxTokens,
		"messages": []map[string]string{{"role": "user", "content": prompt(n)}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.c.Do(req)
	if err != nil {
		r.why = "no answer: " + errorWords(err)
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.why = fmt.Sprintf("HTTP %d", resp.StatusCode)
		var e struct{ Trace json.RawMessage } // the error answer carries the trace too
		if b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err == nil && json.Unmarshal(b, &e) == nil {
			r.keepTrace(e.Trace)
		}
		return r
	}
	var finish, content string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20) // the last chunk carries the trace
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			if finish == "" || content == "" {
				r.partial, r.why = true, "ended without a finish"
				return r
			}
			r.whole = true
			return r
		}
		var c struct {
			Provider string
			Choices  []struct {
				Delta        struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Error *struct{ Message string }
			Trace json.RawMessage
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			r.why = "a broken event"
			return r
		}
		r.keepTrace(c.Trace)
		if c.Error != nil {
			r.why = "error event: " + c.Error.Message
			return r
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				if content == "" {
					r.ttft = time.Since(start)
				}
				r.servedBy = c.Provider
			}
			content += ch.Delta.Content
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		r.why = "stream broken: " + errorWords(err)
		return r
	}
	r.why = "stream ended without [DONE]"
	return r
}

// keepTrace keeps the routing trace an answer carried (raw, for
// Options.Traces), the providers its attempts tried and its hedges.
func (r *result) keepTrace(raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var t routing.Trace
	if json.Unmarshal(raw, &t) != nil {
		return
	}
	r.trace = raw // json.Unmarshal gave it its own copy
	for _, a := range t.Attempts {
		r.tried = append(r.tried, a.Provider)
	}
	r.hedges = t.Hedges()
}

// ---- the baselines ----

// endpoint is one provider of the model, as a baseline sees it.
type endpoint struct {
	name  string
	model string // the upstream's id
	price float64
	up    provider.Upstream
}

// policy is a baseline's choice: the endpoints request n tries, in order,
// at most; failed tells it of each failure (for a memory of its own).
type policy interface {
	order(n int, eps []endpoint) []int
	failed(ep int, err error)
}

type baselineTarget struct {
	fl  *sim.Fleet
	eps []endpoint // by price, the cheapest first
	p   policy
}

// baseline starts a baseline of policy p over its own fleet of cfg's
// simulated providers, with the clients Switchboard would build for them.
func baseline(newPolicy func(seed int64) policy) func(context.Context, Options, *config.Config) (target, error) {
	return func(_ context.Context, o Options, cfg *config.Config) (target, error) {
		var profiles []sim.Profile
		for _, p := range cfg.Providers {
			profiles = append(profiles, *p.Sim)
		}
		fl, err := sim.StartFleet(profiles, sim.Options{})
		if err != nil {
			return nil, err
		}
		b := &baselineTarget{fl: fl, p: newPolicy(o.Seed)}
		for _, m := range cfg.Models {
			for _, e := range m.Endpoints {
				srv, _ := fl.Server(e.Provider)
				b.eps = append(b.eps, endpoint{name: e.Provider, model: e.UpstreamModel, price: e.PriceIn + e.PriceOut,
					up: o.Client(*cfg.Provider(e.Provider), srv.URL())})
			}
		}
		slices.SortStableFunc(b.eps, func(a, b endpoint) int {
			switch {
			case a.price < b.price:
				return -1
			case a.price > b.price:
				return 1
			}
			return 0
		})
		return b, nil
	}
}

func (b *baselineTarget) fleet() *sim.Fleet { return b.fl }
func (b *baselineTarget) stop() {
	_ = b.fl.Close()
	for _, e := range b.eps {
		if c, ok := e.up.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// send tries the policy's endpoints in turn until one answers whole. Once
// content has reached the caller no other endpoint can take over (the
// caller has part of one answer): a break after it is the request's end.
func (b *baselineTarget) send(ctx context.Context, n, maxTokens int, start time.Time) (r result) {
	var err error
	for _, i := range b.p.order(n, b.eps) {
		var streamed bool
		r.tried = append(r.tried, b.eps[i].name)
		streamed, err = b.attempt(ctx, b.eps[i], n, maxTokens, start, &r)
		if err == nil {
			r.whole, r.servedBy = true, b.eps[i].name
			return r
		}
		b.p.failed(i, err)
		if streamed {
			break
		}
	}
	r.why = "failed: " + errorWords(err)
	return r
}

// attempt streams the request from e; streamed says whether content
// reached the caller.
func (b *baselineTarget) attempt(ctx context.Context, e endpoint, n, maxTokens int, start time.Time, r *result) (streamed bool, err error) {
	s, err := e.up.Stream(ctx, provider.Request{Model: e.model, MaxTokens: maxTokens,
		Messages: []provider.Message{{Role: "user", Content: prompt(n)}}})
	if err != nil {
		return false, err
	}
	defer s.Close()
	finish := ""
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			if finish == "" || !streamed {
				return streamed, errors.New("ended without a finish")
			}
			return true, nil
		}
		if err != nil {
			return streamed, err
		}
		if c.Content != "" && !streamed {
			streamed, r.ttft = true, time.Since(start)
		}
		if c.FinishReason != "" {
			finish = c.FinishReason
		}
	}
}

// cheapestOnly sends every request to the cheapest provider, once.
type cheapestOnly struct{}

func (cheapestOnly) order(int, []endpoint) []int { return []int{0} }
func (cheapestOnly) failed(int, error)           {}

// roundRobin starts each request at the next provider and fails over along
// the list.
type roundRobin struct{}

func (roundRobin) order(n int, eps []endpoint) []int {
	out := make([]int, len(eps))
	for i := range out {
		out[i] = (n + i) % len(eps)
	}
	return out
}
func (roundRobin) failed(int, error) {}

// orderedFailover tries every provider from the cheapest up.
type orderedFailover struct{}

func (orderedFailover) order(_ int, eps []endpoint) []int {
	out := make([]int, len(eps))
	for i := range out {
		out[i] = i
	}
	return out
}
func (orderedFailover) failed(int, error) {}

// liteLLM is LiteLLM's router with its defaults: a deployment drawn at
// random (simple-shuffle) among those not cooling down, num_retries = 2
// (each retry drawn again, away from those that failed this request),
// allowed_fails = 3 a minute, then cooldown_time = 5 s; a 429 cools a
// deployment down at once.
type liteLLM struct {
	mu    sync.Mutex
	rng   *rand.Rand
	fails map[int][]time.Time
	cool  map[int]time.Time // until
}

const (
	litellmRetries  = 2
	litellmAllowed  = 3
	litellmCooldown = 5 * time.Second
)

func newLiteLLM(seed int64) policy {
	return &liteLLM{rng: rand.New(rand.NewPCG(uint64(seed), 0x4c4c4d)), fails: map[int][]time.Time{}, cool: map[int]time.Time{}}
}

func (l *liteLLM) order(_ int, eps []endpoint) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var warm, cold []int
	for i := range eps {
		if now.Before(l.cool[i]) {
			cold = append(cold, i)
		} else {
			warm = append(warm, i)
		}
	}
	if len(warm) == 0 { // all cooling down: LiteLLM tries them anyway
		warm, cold = cold, nil
	}
	l.rng.Shuffle(len(warm), func(i, j int) { warm[i], warm[j] = warm[j], warm[i] })
	return warm[:min(len(warm), 1+litellmRetries)]
}

func (l *liteLLM) failed(i int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Status == http.StatusTooManyRequests {
		l.cool[i] = now.Add(litellmCooldown)
		return
	}
	recent := slices.DeleteFunc(append(l.fails[i], now), func(t time.Time) bool { return now.Sub(t) > time.Minute })
	l.fails[i] = recent
	if len(recent) >= litellmAllowed {
		l.cool[i], l.fails[i] = now.Add(litellmCooldown), nil
	}
}

// errorWords is an error's message, short: the class and status of a
// provider error, else the error's first line.
func errorWords(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) {
		if pe.Status != 0 {
			return fmt.Sprintf("%s (HTTP %d)", pe.Class, pe.Status)
		}
		return pe.Class.String()
	}
	if err == nil {
		return "nothing tried"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
