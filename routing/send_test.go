package routing

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// simFleet starts one simulated provider per profile and returns a fleet
// routing to them. Each profile serves model "m"; fast by default.
func simFleet(t *testing.T, prices map[string]float64, opts provider.OpenAIOptions, profiles ...sim.Profile) (*fleet, map[string]*sim.Server) {
	t.Helper()
	ups := map[string]provider.Upstream{}
	srvs := map[string]*sim.Server{}
	var names []string
	for _, p := range profiles {
		srv := simtest.Start(t, p)
		o := opts
		o.BaseURL = srv.URL()
		client := provider.NewOpenAI(o)
		ups[p.Name], srvs[p.Name] = client, srv
		names = append(names, p.Name)
	}
	return newFleet(t, ups, prices, names...), srvs
}

func ask(content string) Request {
	return Request{Model: "m", MaxTokens: 30, Messages: []provider.Message{{Role: "user", Content: content}}}
}

func outcomes(tr *Trace) []string {
	var out []string
	for _, a := range tr.Attempts {
		out = append(out, a.Provider+":"+a.Outcome)
	}
	return out
}

func TestSendAnswersAndRecords(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"a": 1}, provider.OpenAIOptions{}, sim.Profile{Name: "a", Seed: 1})
	var streamed strings.Builder
	res, err := f.router.Send(t.Context(), ask("hello"), func(d Delta) { streamed.WriteString(d.Content) })
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Len() == 0 || res.Content != "" {
		t.Fatalf("content %q, streamed %q: a streamed answer goes to the caller, not also into the result", res.Content, streamed.String())
	}
	if res.Provider != "a" || res.Trace.Served != "m@a" || res.FinishReason == "" || res.Usage.CompletionTokens == 0 {
		t.Fatalf("result: %+v", res)
	}
	if got := outcomes(res.Trace); len(got) != 1 || got[0] != "a:ok" {
		t.Fatalf("attempts %v", got)
	}
	st, _ := f.mon.Snapshot().Endpoint("m@a")
	if st.Successes != 1 || st.Probes != 0 {
		t.Fatalf("monitor: %+v", st)
	}
	if ms, _ := f.mon.Snapshot().Model("m"); ms.Requests != 1 || ms.Delivered != 1 {
		t.Fatalf("the routed request was not counted for its model: %+v", ms)
	}
	if sum := res.Trace.Summary(); !strings.HasPrefix(sum, "a: drawn at random among 1 healthy: 100% chance") {
		t.Errorf("summary %q", sum)
	}
	whole, err := f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil || whole.Content == "" {
		t.Fatalf("whole answer %q: %v", whole.Content, err)
	}
}

// The cheap provider is nearly always picked first; forced down, it fails and
// the router falls back, and the trace and the monitor both say so.
func TestSendFallsBackOnProviderError(t *testing.T) {
	prices := map[string]float64{"cheap": 0.01, "dear": 10}
	f, srvs := simFleet(t, prices, provider.OpenAIOptions{}, sim.Profile{Name: "cheap", Seed: 1}, sim.Profile{Name: "dear", Seed: 2})
	srvs["cheap"].SetMode(sim.ModeDown)
	res, err := f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "cheap:overloaded dear:ok" {
		t.Fatalf("attempts %s", got)
	}
	if res.Provider != "dear" || res.Trace.Summary() != "dear served after cheap failed (overloaded)" {
		t.Fatalf("provider %s, summary %q", res.Provider, res.Trace.Summary())
	}
	// Two more failures make an outage; then cheap is planned last. (Other
	// conversations: the first one would stick to dear.)
	for i := range 2 {
		if _, err := f.router.Send(t.Context(), ask(fmt.Sprint("again ", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	tr := f.plan(t)
	if c := candidate(t, tr, "cheap"); c.Tier != TierFallback || providers(tr)[0] != "dear" {
		t.Fatalf("after an outage: order %v, cheap %s (%s)", providers(tr), c.Tier, c.Why)
	}
}

func TestSendUserErrorIsNotRetried(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"a": 1, "b": 1}, provider.OpenAIOptions{}, sim.Profile{Name: "a"}, sim.Profile{Name: "b"})
	res, err := f.router.Send(t.Context(), Request{Model: "m"}, nil) // no messages: a 400
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindBadRequest {
		t.Fatalf("err = %v, want a 400", err)
	}
	if len(res.Trace.Attempts) != 1 {
		t.Fatalf("attempts %v: a bad request must not be tried elsewhere", outcomes(res.Trace))
	}
	st, _ := f.mon.Snapshot().Endpoint(res.Trace.Attempts[0].Endpoint)
	if st.UserErrors != 1 || st.ProviderErrors != 0 {
		t.Fatalf("monitor counted the caller's error against the provider: %+v", st)
	}
	if ms, _ := f.mon.Snapshot().Model("m"); ms.Requests != 0 {
		t.Fatalf("the caller's own error counted against what routing delivered: %+v", ms)
	}
}

func TestSendEveryProviderFails(t *testing.T) {
	tests := []struct {
		mode     sim.Mode
		kind     Kind
		outcome  string
		errClass provider.Class
		goes     int // each endpoint's: an overloaded one gets a second, after a pause; a rate-limited one waits for its cooldown
	}{
		{sim.ModeDown, KindExhausted, "overloaded", provider.ClassOverloaded, 2},
		{sim.ModeRateLimited, KindRateLimited, "rate_limited", provider.ClassRateLimited, 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			f, srvs := simFleet(t, map[string]float64{"a": 1, "b": 2}, provider.OpenAIOptions{},
				// Retry-After above MaxRetryWait: not worth waiting for.
				sim.Profile{Name: "a", RetryAfter: 30 * time.Second}, sim.Profile{Name: "b", RetryAfter: 30 * time.Second})
			for _, s := range srvs {
				s.SetMode(tt.mode)
			}
			res, err := f.router.Send(t.Context(), ask("hello"), nil)
			var re *Error
			if !errors.As(err, &re) || re.Kind != tt.kind || re.Class != tt.errClass {
				t.Fatalf("err = %#v", err)
			}
			if len(res.Trace.Attempts) != 2*tt.goes || res.Trace.Served != "" {
				t.Fatalf("attempts %v", outcomes(res.Trace))
			}
			for i, a := range res.Trace.Attempts {
				if a.Outcome != tt.outcome || !strings.Contains(re.Message, a.Provider+": "+tt.outcome) {
					t.Errorf("attempt %+v; message %q", a, re.Message)
				}
				if second := i >= 2; a.Retry != second || (i == 2) != strings.Contains(a.Waited, "a second round, every endpoint having failed") {
					t.Errorf("attempt %d: retry %v, waited %q", i, a.Retry, a.Waited)
				}
			}
			for n, s := range srvs {
				if got := s.Stats().Chats; got != uint64(tt.goes) {
					t.Errorf("%s saw %d requests; want %d", n, got, tt.goes)
				}
			}
			if tt.mode == sim.ModeRateLimited {
				st, _ := f.mon.Snapshot().Endpoint("m@a")
				if st.State != monitor.CoolingDown {
					t.Errorf("a 429 with Retry-After should cool the endpoint down, state %s", st.State)
				}
			}
		})
	}
}

// A stream cut after its first tokens: a caller who wants a whole answer gets
// one from another provider; a streaming caller gets an explicit error and
// the partial text, never a truncated answer passed off as complete.
func TestSendStreamCutAfterCommit(t *testing.T) {
	prices := map[string]float64{"cuts": 0.01, "good": 10}
	profiles := []sim.Profile{{Name: "cuts", CutRate: 1}, {Name: "good"}}

	t.Run("whole answer", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{}, profiles...)
		res, err := f.router.Send(t.Context(), ask("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(outcomes(res.Trace), " "); got != "cuts:stream_cut good:ok" {
			t.Fatalf("attempts %s", got)
		}
		if res.FinishReason == "error" || res.Provider != "good" {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("streaming", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{}, profiles...)
		var got strings.Builder
		res, err := f.router.Send(t.Context(), ask("hello"), func(d Delta) { got.WriteString(d.Content) })
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Class != provider.ClassStreamCut {
			t.Fatalf("err = %v", err)
		}
		if res.FinishReason != "error" || got.Len() == 0 || res.Content != "" {
			t.Fatalf("finish %q, content %q, streamed %q", res.FinishReason, res.Content, got.String())
		}
		if len(res.Trace.Attempts) != 1 {
			t.Fatalf("attempts %v: no failover after commit", outcomes(res.Trace))
		}
	})
}

func TestSendStallFallsBack(t *testing.T) {
	prices := map[string]float64{"stalls": 0.01, "good": 10}
	f, srvs := simFleet(t, prices, provider.OpenAIOptions{StallTimeout: 100 * time.Millisecond},
		sim.Profile{Name: "stalls"}, sim.Profile{Name: "good"})
	srvs["stalls"].SetMode(sim.ModeStall)
	res, err := f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "stalls:stall good:ok" {
		t.Fatalf("attempts %s", got)
	}
}

func TestSendCanceledByCaller(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"a": 1, "b": 1}, provider.OpenAIOptions{},
		sim.Profile{Name: "a"}, sim.Profile{Name: "b"})
	for _, s := range srvs {
		s.SetMode(sim.ModeStall)
	}
	ctx, cancel := context.WithCancel(t.Context())
	res, err := f.router.Send(ctx, ask("hello"), func(Delta) { cancel() })
	var re *Error
	if !errors.As(err, &re) || re.Class != provider.ClassCanceled {
		t.Fatalf("err = %v", err)
	}
	if len(res.Trace.Attempts) != 1 {
		t.Fatalf("attempts %v: a canceled request must not go on", outcomes(res.Trace))
	}
	st, _ := f.mon.Snapshot().Endpoint(res.Trace.Attempts[0].Endpoint)
	if st.ProviderErrors != 0 {
		t.Fatal("the caller's cancellation was held against the provider")
	}
}

// An endpoint whose breaker is open is not tried while another can answer;
// when none can, it is tried last, marked as a last resort.
func TestSendRespectsTheBreaker(t *testing.T) {
	prices := map[string]float64{"cheap": 0.01, "dear": 10}
	f, srvs := simFleet(t, prices, provider.OpenAIOptions{}, sim.Profile{Name: "cheap"}, sim.Profile{Name: "dear"})
	for range 3 { // trip cheap's breaker
		f.mon.Record("m@cheap", provider.Outcome{Class: provider.ClassServer})
	}
	res, err := f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "dear:ok" {
		t.Fatalf("attempts %s: an open breaker's endpoint was tried", got)
	}
	srvs["dear"].SetMode(sim.ModeDown)
	res, err = f.router.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Trace
	if got := strings.Join(outcomes(tr), " "); got != "dear:overloaded cheap:ok" || !tr.Attempts[1].LastResort || tr.Attempts[0].LastResort {
		t.Fatalf("attempts %+v", tr.Attempts)
	}
	// The last-resort success is not the breaker's trial: it stays open.
	if st, _ := f.mon.Snapshot().Endpoint("m@cheap"); st.Breaker != monitor.BreakerOpen {
		t.Fatalf("breaker %s after a last-resort success", st.Breaker)
	}
}

// twoModels routes model "small" (a 20-token context) and model "big" to
// simulated providers.
func twoModels(t *testing.T) (*Router, map[string]*sim.Server, *monitor.Monitor) {
	t.Helper()
	srvs := map[string]*sim.Server{
		"small": simtest.Start(t, sim.Profile{Name: "tiny", Models: []string{"small"}, ContextLength: 20}),
		"big":   simtest.Start(t, sim.Profile{Name: "huge", Models: []string{"big"}}),
	}
	var reps []Endpoint
	var meps []monitor.Endpoint
	for model, srv := range srvs {
		id := model + "@" + srv.Name()
		reps = append(reps, Endpoint{ID: id, Provider: srv.Name(), Model: model, UpstreamModel: model, PriceIn: 1,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})})
		meps = append(meps, monitor.Endpoint{ID: id, Provider: srv.Name(), Model: model})
	}
	mon, err := monitor.New(monitor.Options{Clock: monitortest.NewClock()}, meps)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Endpoints: reps, Health: mon, Seed: 1,
		Defaults: map[string]ModelDefaults{"small": {Models: []string{"big"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return r, srvs, mon
}

func TestSendModelFallbacks(t *testing.T) {
	long := Request{Model: "small", MaxTokens: 10, Messages: []provider.Message{{Role: "user", Content: strings.Repeat("word ", 40)}}}

	t.Run("a prompt too long for the context moves to the next model", func(t *testing.T) {
		r, _, mon := twoModels(t)
		req := long
		req.Models = []string{"big"}
		res, err := r.Send(t.Context(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(outcomes(res.Trace), " "); got != "tiny:context_length huge:ok" || res.Model != "big" {
			t.Fatalf("attempts %s, served model %s", got, res.Model)
		}
		if strings.Join(res.Trace.Models, " ") != "small big" {
			t.Fatalf("models planned %v", res.Trace.Models)
		}
		if st, _ := mon.Snapshot().Endpoint("small@tiny"); st.ProviderErrors != 0 || st.UserErrors != 1 {
			t.Fatalf("a too-long prompt was held against the provider: %+v", st)
		}
	})
	t.Run("the model's configured fallbacks apply when the request names none", func(t *testing.T) {
		r, _, _ := twoModels(t)
		res, err := r.Send(t.Context(), long, nil)
		if err != nil || res.Model != "big" {
			t.Fatalf("model %s, err %v", res.Model, err)
		}
	})
	t.Run("a failed model falls back", func(t *testing.T) {
		r, srvs, _ := twoModels(t)
		srvs["small"].SetMode(sim.ModeDown)
		res, err := r.Send(t.Context(), Request{Model: "small", Messages: []provider.Message{{Role: "user", Content: "hi"}}}, nil)
		if err != nil || res.Model != "big" || res.Provider != "huge" {
			t.Fatalf("model %s by %s, err %v", res.Model, res.Provider, err)
		}
	})
	t.Run("a bad request does not move on", func(t *testing.T) {
		r, _, _ := twoModels(t)
		res, err := r.Send(t.Context(), Request{Model: "small"}, nil) // no messages
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindBadRequest || len(res.Trace.Attempts) != 1 {
			t.Fatalf("err %v, attempts %v", err, outcomes(res.Trace))
		}
	})
	t.Run("the last model's error is returned", func(t *testing.T) {
		r, srvs, _ := twoModels(t)
		srvs["big"].SetMode(sim.ModeDown)
		req := long
		req.Models = []string{"big"}
		_, err := r.Send(t.Context(), req, nil)
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindExhausted || !strings.Contains(re.Message, "every provider of small or big failed") {
			t.Fatalf("err %v", err)
		}
	})
}

// Each error class gets its own treatment: a blip is tried once more on the
// same endpoint, an overloaded or refusing provider is left at once, and a
// configuration problem is flagged. The final error lists every attempt.
func TestSendPerErrorClass(t *testing.T) {
	tests := []struct {
		name    string
		first   sim.Profile
		model   string // upstream model of "first"; "" for m
		key     string // key the client of "first" sends
		closed  bool   // "first" is a closed port
		want    string
		flagged string
	}{
		{name: "a 500 is tried once more, then falls back",
			first: sim.Profile{ErrorRate: 1, ErrorStatuses: []int{500}}, want: "first:server first:server good:ok"},
		{name: "a 502 falls back at once",
			first: sim.Profile{ErrorRate: 1, ErrorStatuses: []int{502}}, want: "first:server good:ok"},
		{name: "a 503 falls back at once",
			first: sim.Profile{ErrorRate: 1, ErrorStatuses: []int{503}}, want: "first:overloaded good:ok"},
		{name: "a refused connection is tried once more",
			closed: true, want: "first:connect first:connect good:ok"},
		{name: "a refused key falls back, flagged",
			first: sim.Profile{APIKey: "right"}, key: "wrong", want: "first:auth good:ok", flagged: "api_key_env"},
		{name: "an unknown model falls back, flagged",
			model: "nope", want: "first:not_found good:ok", flagged: "upstream_model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.first.Name = "first"
			first := simtest.Start(t, tt.first)
			good := simtest.Start(t, sim.Profile{Name: "good"})
			base := first.URL()
			if tt.closed {
				base = "http://127.0.0.1:1/v1"
			}
			model := cmp.Or(tt.model, "m")
			ups := []Endpoint{
				{ID: "m@first", Provider: "first", Model: "m", UpstreamModel: model, PriceIn: 0.01,
					Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base, APIKey: tt.key})},
				{ID: "m@good", Provider: "good", Model: "m", UpstreamModel: "m", PriceIn: 10,
					Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: good.URL()})},
			}
			mon, _ := monitor.New(monitor.Options{Clock: monitortest.NewClock()},
				[]monitor.Endpoint{{ID: "m@first", Provider: "first", Model: "m"}, {ID: "m@good", Provider: "good", Model: "m"}})
			r, err := New(Options{Endpoints: ups, Health: mon, Seed: 3, RetryBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Send(t.Context(), ask("hello"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(outcomes(res.Trace), " "); got != tt.want {
				t.Fatalf("attempts %s, want %s", got, tt.want)
			}
			if a := res.Trace.Attempts; len(a) > 2 && !a[1].Retry {
				t.Errorf("the second try is not marked as a retry: %+v", a[1])
			}
			if f := res.Trace.Attempts[0].Flag; !strings.Contains(f, tt.flagged) || (tt.flagged == "") != (f == "") {
				t.Errorf("flag %q, want one about %q", f, tt.flagged)
			}
		})
	}
}

func TestFinalErrorListsPreviousAttempts(t *testing.T) {
	f, srvs := simFleet(t, map[string]float64{"a": 0.01, "b": 10}, provider.OpenAIOptions{},
		sim.Profile{Name: "a", ErrorRate: 1, ErrorStatuses: []int{502}}, sim.Profile{Name: "b"})
	srvs["b"].SetMode(sim.ModeDown)
	_, err := f.router.Send(t.Context(), ask("hello"), nil)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatal(err)
	}
	want := []PreviousError{{Provider: "a", Model: "m", Class: "server", Status: 502}, {Provider: "b", Model: "m", Class: "overloaded", Status: 503},
		{Provider: "a", Model: "m", Class: "server", Status: 502}, {Provider: "b", Model: "m", Class: "overloaded", Status: 503}} // and a second round
	if fmt.Sprint(re.Previous) != fmt.Sprint(want) {
		t.Fatalf("previous %+v, want %+v", re.Previous, want)
	}
}

// A 429 is waited out only when it is short and nothing else is left.
func TestRetryAfterIsWaitedOnlyAsALastChance(t *testing.T) {
	r, err := New(Options{Health: newFleet(t, nil, nil).mon})
	if err != nil {
		t.Fatal(err)
	}
	limited := func(d time.Duration) *provider.Error {
		return &provider.Error{Class: provider.ClassRateLimited, Status: 429, RetryAfter: d}
	}
	for _, tc := range []struct {
		err        *provider.Error
		lastChance bool
		wait       time.Duration
		retry      bool
	}{
		{limited(2 * time.Second), true, 2 * time.Second, true},
		{limited(2 * time.Second), false, 0, false}, // falling back is faster
		{limited(time.Minute), true, 0, false},      // too long to be worth it
		{limited(0), true, 0, false},                // no Retry-After to go by
		{&provider.Error{Class: provider.ClassOverloaded, Status: 503}, true, 0, false},
	} {
		wait, retry := r.retryAfter(tc.err, tc.lastChance)
		if wait != tc.wait || retry != tc.retry {
			t.Errorf("%v (last chance %v): wait %s retry %v; want %s %v", tc.err, tc.lastChance, wait, retry, tc.wait, tc.retry)
		}
	}
}

// A provider that takes the request and never answers costs one first-token
// timeout, once: its breaker opens, and the next request does not wait on it.
func TestSilentProviderCostsOneTimeoutOnce(t *testing.T) {
	prices := map[string]float64{"silent": 0.01, "good": 10}
	f, _ := simFleet(t, prices, provider.OpenAIOptions{},
		sim.Profile{Name: "silent", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "good"})
	req := ask("hello")
	req.Timeouts.FirstToken = 100 * time.Millisecond
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "silent:timeout good:ok" {
		t.Fatalf("first request: %s", got)
	}
	if st, _ := f.mon.Snapshot().Endpoint("m@silent"); st.State != monitor.Down || !strings.Contains(st.Reason, "no answer in time") {
		t.Fatalf("after one timeout: %s (%s)", st.State, st.Reason)
	}
	for range 3 {
		res, err = f.router.Send(t.Context(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(outcomes(res.Trace), " "); got != "good:ok" {
			t.Fatalf("later request waited on the silent provider again: %s", got)
		}
	}
}

// The total timeout bounds the whole request, and running out of it is not
// held against the provider that happened to be answering.
func TestTotalTimeout(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"slow": 1}, provider.OpenAIOptions{},
		sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}})
	req := ask("hello")
	req.Timeouts.Total = 100 * time.Millisecond
	_, err := f.router.Send(t.Context(), req, nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindTimeout || !strings.Contains(re.Message, "timeouts.total") {
		t.Fatalf("err = %v", err)
	}
	if st, _ := f.mon.Snapshot().Endpoint("m@slow"); st.ProviderErrors != 0 || st.State == monitor.Down {
		t.Fatalf("the request's own deadline was held against the provider: %s, %d errors", st.State, st.ProviderErrors)
	}
}

// An endpoint that was answering when the request's total time ran out is
// blamed for it: one that trickles tokens slowly enough never stalls, and
// would otherwise hold every request to the total timeout unpunished. A
// caller's own deadline is still the caller's.
func TestTotalTimeoutMidAnswerCountsAgainstTheEndpoint(t *testing.T) {
	for _, callers := range []bool{false, true} {
		f, srvs := simFleet(t, map[string]float64{"trickle": 1}, provider.OpenAIOptions{},
			sim.Profile{Name: "trickle", TokensPerSecond: 20})
		req := ask("hello")
		req.MaxTokens = 10000
		ctx := t.Context()
		if callers {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
		} else {
			req.Timeouts.Total = 300 * time.Millisecond
		}
		var streamed int
		_, err := f.router.Send(ctx, req, func(d Delta) { streamed += len(d.Content) })
		var re *Error
		if !errors.As(err, &re) || streamed == 0 {
			t.Fatalf("caller's deadline %v: err = %v after %d bytes streamed", callers, err, streamed)
		}
		st, _ := f.mon.Snapshot().Endpoint("m@trickle")
		switch {
		case callers && st.ProviderErrors != 0:
			t.Errorf("the caller's own deadline: %s, %d provider errors; want none held against the endpoint", re.Kind, st.ProviderErrors)
		case !callers && (re.Kind != KindInterrupted || re.Class != provider.ClassTimeout || st.ProviderErrors != 1 || st.Errors[provider.ClassTimeout] != 1):
			t.Errorf("total timeout mid-answer: %s (%s), endpoint %d provider errors %v; want one timeout against it", re.Kind, re.Class, st.ProviderErrors, st.Errors)
		}
		if got := srvs["trickle"].Stats().Requests; got != 1 {
			t.Errorf("the upstream saw %d requests, want 1", got)
		}
	}
}

func TestModelTimeoutsApply(t *testing.T) {
	srv := simtest.Start(t, sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}})
	mon, _ := monitor.New(monitor.Options{Clock: monitortest.NewClock()}, []monitor.Endpoint{{ID: "m@slow", Provider: "slow", Model: "m"}})
	r, err := New(Options{Health: mon, Endpoints: []Endpoint{{ID: "m@slow", Provider: "slow", Model: "m", UpstreamModel: "m",
		Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})}},
		Defaults: map[string]ModelDefaults{"m": {Timeouts: Timeouts{FirstToken: 50 * time.Millisecond}}}})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := r.Send(t.Context(), ask("hello"), nil)
	if got := strings.Join(outcomes(res.Trace), " "); got != "slow:timeout" {
		t.Fatalf("attempts %s: the model's 50ms first-token limit did not apply", got)
	}
}

// A stream that breaks after its first tokens carries on at an endpoint that
// accepts a prefill: the text already streamed goes as a trailing assistant
// message, and the caller sees one answer, the continuation after the start.
func TestSendResumesABrokenStreamWithPrefill(t *testing.T) {
	cuts := simtest.Start(t, sim.Profile{Name: "cuts", CutRate: 1})
	var got struct {
		Messages []provider.Message `json:"messages"`
		Seed     int                `json:"seed"`
	}
	cont := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decoding the resumed request: %v", err)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{` and so`, ` it ends.`} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", c)
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(cont.Close)
	eps := []Endpoint{
		{ID: "m@cuts", Provider: "cuts", Model: "m", UpstreamModel: "m", PriceIn: 0.01,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: cuts.URL()})},
		{ID: "m@noprefill", Provider: "noprefill", Model: "m", UpstreamModel: "m", PriceIn: 1,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: "http://127.0.0.1:1/v1"})},
		{ID: "m@cont", Provider: "cont", Model: "m", UpstreamModel: "m", PriceIn: 10, Prefill: true,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: cont.URL})},
	}
	r := routerOver(t, Options{}, eps...)
	var streamed strings.Builder
	var served []string // as OnCommit tells, before the content
	req := ask("hello")
	req.Extra = map[string]json.RawMessage{"seed": json.RawMessage(`42`)}
	req.OnCommit = func(e Endpoint) { served = append(served, fmt.Sprintf("%s@%d", e.Provider, streamed.Len())) }
	res, err := r.Send(t.Context(), req, func(d Delta) { streamed.WriteString(d.Content) })
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("cuts@0 cont@%d", streamed.Len()-len(" and so it ends.")); strings.Join(served, " ") != want {
		t.Errorf("OnCommit told %v; want %s (the first endpoint before any content, the resuming one before its own)", served, want)
	}
	if got.Seed != 42 {
		t.Errorf("the resumed request carried seed %d; Extra's parameters must reach every upstream", got.Seed)
	}
	tr := res.Trace
	if o := strings.Join(outcomes(tr), " "); o != "cuts:stream_cut cont:ok" || !tr.Attempts[1].Resumed {
		t.Fatalf("attempts %+v", tr.Attempts)
	}
	last := got.Messages[len(got.Messages)-1]
	if last.Role != "assistant" || last.Content == "" || !strings.HasPrefix(streamed.String(), last.Content) {
		t.Fatalf("the resumed request ended with %+v; streamed %q", last, streamed.String())
	}
	if want := last.Content + " and so it ends."; res.Content != "" || streamed.String() != want || res.FinishReason != "stop" {
		t.Fatalf("content %q, streamed %q, finish %q; want %q", res.Content, streamed.String(), res.FinishReason, want)
	}
}

// sent is what a request sent in the background came to.
type sent struct {
	res *Result
	err error
}

// sendInBackground sends req through f's router on a goroutine of its own;
// the channel gets what it came to.
func (f *fleet) sendInBackground(t *testing.T, req Request, onDelta OnDelta) <-chan sent {
	done := make(chan sent, 1)
	go func() {
		res, err := f.router.Send(t.Context(), req, onDelta)
		done <- sent{res, err}
	}()
	return done
}

// sendAtHedge sends req through f's router and moves its clock past the
// hedge's delay once the race waits on it.
func sendAtHedge(t *testing.T, f *fleet, req Request, onDelta OnDelta) (*Result, error) {
	f.clk.HoldTimers()
	done := f.sendInBackground(t, req, onDelta)
	f.clk.WaitForTimers(1)
	f.clk.Advance(req.Hedge.After)
	s := <-done
	return s.res, s.err
}

func TestHedging(t *testing.T) {
	prices := map[string]float64{"slow": 0.01, "fast": 10}
	hedged := func() Request {
		req := ask("hello")
		req.Hedge = &Hedge{Enabled: true, After: 50 * time.Millisecond}
		req.Timeouts.FirstToken = 300 * time.Millisecond
		return req
	}

	t.Run("a slow first token starts the next endpoint, which wins", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "fast"})
		var streamed strings.Builder
		var told []string
		req := hedged()
		req.OnCommit = func(e Endpoint) { told = append(told, e.Provider) }
		f.mon.Sent("m@slow") // another caller's attempt waits on it from before the race
		res, err := sendAtHedge(t, f, req, func(d Delta) { streamed.WriteString(d.Content) })
		if err != nil {
			t.Fatal(err)
		}
		a := res.Trace.Attempts
		if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled fast:ok" || !a[1].Hedge || a[0].Hedge ||
			!strings.Contains(a[0].Notes(), "lost the race") {
			t.Fatalf("attempts %+v", a)
		}
		if res.Provider != "fast" || res.Content != "" || streamed.Len() == 0 {
			t.Fatalf("served by %s: %q, streamed %q", res.Provider, res.Content, streamed.String())
		}
		if strings.Join(told, " ") != "fast" {
			t.Errorf("OnCommit told %v; want only the winner, fast", told)
		}
		if sum := res.Trace.Summary(); !strings.HasPrefix(sum, "fast:") || !strings.Contains(sum, "fast won the race as a hedge") || strings.Contains(sum, "failed") {
			t.Errorf("summary %q", sum)
		}
		if st, _ := f.mon.Snapshot().Endpoint("m@slow"); st.ProviderErrors != 0 {
			t.Fatal("the canceled loser of the race was held against its provider")
		}
		// An answer would have restarted the other's wait from the race's
		// end.
		if d := f.mon.Unanswered("m@slow", f.clk.Now().Add(time.Second)); d != time.Second+req.Hedge.After {
			t.Errorf("the slow endpoint owes %s a second after the race; want %s: a lost race counted as an answer", d, time.Second+req.Hedge.After)
		}
	})
	t.Run("a hedge goes to the quickest of the equally healthy, unless the caller ordered them", func(t *testing.T) {
		for _, ordered := range []bool{false, true} {
			f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "sluggish": 1, "quick": 10}, provider.OpenAIOptions{},
				sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "sluggish"}, sim.Profile{Name: "quick"})
			for range 20 {
				f.mon.Record("m@sluggish", provider.Outcome{Class: provider.ClassOK, TTFT: 400 * time.Millisecond, Duration: time.Second, OutputTokens: 10})
				f.mon.Record("m@quick", provider.Outcome{Class: provider.ClassOK, TTFT: 20 * time.Millisecond, Duration: 100 * time.Millisecond, OutputTokens: 10})
			}
			tr := f.plan(t)
			if got := strings.Join(providers(tr), " "); got != "slow sluggish quick" {
				t.Fatalf("the plan is %s; the test wants the quick one last by price", got)
			}
			for _, n := range []string{"sluggish", "quick"} {
				if c := candidate(t, tr, n); c.Tier != TierPreferred {
					t.Fatalf("%s is %s (%s); the test wants both healthy", n, c.Tier, c.Why)
				}
			}
			req, want := hedged(), "quick"
			if ordered {
				req.Provider.Order, want = []string{"slow", "sluggish", "quick"}, "sluggish"
			}
			res, err := sendAtHedge(t, f, req, func(Delta) {})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled "+want+":ok" {
				t.Fatalf("ordered %v: attempts %s, want the hedge at %s", ordered, got, want)
			}
			if n := srvs["sluggish"].Stats().Chats + srvs["quick"].Stats().Chats; n != 1 {
				t.Errorf("ordered %v: the two got %d requests; want the one hedge", ordered, n)
			}
		}
	})
	t.Run("a hedge goes to an endpoint back from an outage before a degraded one", func(t *testing.T) {
		f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "shaky": 1, "back": 10}, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "shaky"}, sim.Profile{Name: "back"})
		ok := func(ttft time.Duration) provider.Outcome {
			return provider.Outcome{Class: provider.ClassOK, TTFT: ttft, Duration: ttft + 50*time.Millisecond, OutputTokens: 10}
		}
		for i := range 60 { // 85% of its answers, never three failures in a row: degraded, not down
			o := ok(20 * time.Millisecond)
			if i%7 == 3 {
				o = provider.Outcome{Class: provider.ClassServer}
			}
			f.mon.Record("m@shaky", o)
		}
		f.fail("back", 3)
		f.mon.Snapshot()               // the monitor sees it down
		f.clk.Advance(6 * time.Second) // past the breaker's backoff: its trial answers
		for range 10 {
			f.mon.Record("m@back", ok(100*time.Millisecond))
		}
		tr := f.plan(t)
		if s, b := candidate(t, tr, "shaky"), candidate(t, tr, "back"); s.State != monitor.Degraded || b.State != monitor.Healthy ||
			!strings.Contains(b.Why, "outage") {
			t.Fatalf("shaky is %s (%s), back is %s (%s); the test wants one degraded and one back from an outage in the last 30s",
				s.State, s.Why, b.State, b.Why)
		}
		if got := strings.Join(providers(tr), " "); got != "slow shaky back" {
			t.Fatalf("the plan is %s; want the degraded before the one back from an outage, as OpenRouter orders them", got)
		}
		res, err := sendAtHedge(t, f, hedged(), func(Delta) {})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled back:ok" {
			t.Fatalf("attempts %s; want the hedge at back, which answers as the healthy do, not at shaky, which fails one time in seven", got)
		}
		if n := srvs["shaky"].Stats().Chats; n != 0 {
			t.Errorf("the degraded endpoint got %d requests; want none", n)
		}
	})
	t.Run("a hedge that fails at once is replaced by the next", func(t *testing.T) {
		f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "down": 1, "fast": 10}, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "down", Mode: sim.ModeDown},
			sim.Profile{Name: "fast"})
		var streamed strings.Builder
		res, err := sendAtHedge(t, f, hedged(), func(d Delta) { streamed.WriteString(d.Content) })
		if err != nil {
			t.Fatal(err)
		}
		a := res.Trace.Attempts
		if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled down:overloaded fast:ok" || a[0].Hedge || !a[1].Hedge || !a[2].Hedge {
			t.Fatalf("attempts %+v", a)
		}
		if res.Provider != "fast" || streamed.Len() == 0 {
			t.Fatalf("served by %s, streamed %q", res.Provider, streamed.String())
		}
		if n := srvs["down"].Stats().Chats; n != 1 {
			t.Errorf("the provider that was down got %d chat requests; want 1", n)
		}
	})
	t.Run("a reasoning model's thinking is its first token: no hedge", func(t *testing.T) {
		// 20 tokens of thinking at 100/s: the answer starts after 200ms,
		// long after the hedge's 50ms, but the thinking began at once.
		// The hedge's delay is timed on the wall clock here: what is raced
		// is the upstream's real first token.
		thinker := sim.Profile{Name: "slow", TokensPerSecond: 100, ReasoningTokens: 20}
		f, _ := simFleet(t, prices, provider.OpenAIOptions{}, thinker, sim.Profile{Name: "fast"})
		f.router.opts.Clock = monitor.SystemClock{}
		req := hedged()
		req.MaxTokens = 3
		res, err := f.router.Send(t.Context(), req, nil)
		if err != nil || strings.Join(outcomes(res.Trace), " ") != "slow:ok" || res.Content == "" {
			t.Fatalf("attempts %v, content %q, err %v; want the thinker alone", outcomes(res.Trace), res.Content, err)
		}
	})
	t.Run("no hedge when the first token comes in time", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{}, sim.Profile{Name: "slow"}, sim.Profile{Name: "fast"})
		f.clk.HoldTimers()
		req := hedged()
		req.Hedge.After = time.Hour
		res, err := f.router.Send(t.Context(), req, nil)
		if err != nil || strings.Join(outcomes(res.Trace), " ") != "slow:ok" {
			t.Fatalf("attempts %v, err %v", outcomes(res.Trace), err)
		}
	})
	t.Run("hedges per second are capped", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "fast"})
		f.router.hedges = &hedgeBudget{perSecond: 0.001, most: 1, tokens: 1} // one now, the next in 1000s
		if res, err := sendAtHedge(t, f, hedged(), nil); err != nil || !res.Trace.Attempts[1].Hedge {
			t.Fatalf("the first request was not hedged: %v", err)
		}
		again := hedged()
		again.Messages[0].Content = "another conversation" // not stuck to the first's winner
		res, err := sendAtHedge(t, f, again, nil)
		if err != nil {
			t.Fatal(err)
		}
		// No hedge left: the slow one costs its first-token timeout, then falls back.
		if got := strings.Join(outcomes(res.Trace), " "); got != "slow:timeout fast:ok" || res.Trace.Attempts[1].Hedge {
			t.Fatalf("second request: %+v", res.Trace.Attempts)
		}
	})
	t.Run("hedges are not counted against max_attempts", func(t *testing.T) {
		f, _ := simFleet(t, prices, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "fast"})
		f.router.opts.MaxAttempts = 1
		res, err := sendAtHedge(t, f, hedged(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled fast:ok" {
			t.Fatalf("attempts %s; want the hedge to run though the request may try one endpoint", got)
		}
	})
	t.Run("a hedge that fails at once gives its share of the budget back", func(t *testing.T) {
		f, srvs := simFleet(t, map[string]float64{"slow": 0.01, "down": 1, "fast": 10}, provider.OpenAIOptions{},
			sim.Profile{Name: "slow", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}, sim.Profile{Name: "down", Mode: sim.ModeDown},
			sim.Profile{Name: "fast"})
		f.router.hedges = &hedgeBudget{perSecond: 0.001, most: 2, tokens: 2} // two now, the next in 1000s
		// down was the quickest, until now: every hedge tries it first.
		for range 20 {
			f.mon.Record("m@down", provider.Outcome{Class: provider.ClassOK, TTFT: time.Millisecond, Duration: time.Second, OutputTokens: 10})
		}
		for i := range 2 {
			req := hedged()
			req.Messages[0].Content = fmt.Sprint("conversation ", i) // not stuck to the first's winner
			res, err := sendAtHedge(t, f, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(outcomes(res.Trace), " "); got != "slow:canceled down:overloaded fast:ok" {
				t.Fatalf("request %d: %s; want both hedged, each with one hedge's worth of the budget", i, got)
			}
		}
		if n := srvs["down"].Stats().Chats; n != 2 {
			t.Errorf("down got %d requests, want the two hedges that failed at once", n)
		}
	})
}

// The trace is machine-readable and complete: the options in force, the
// candidates with their state, weight and reason, the order, and every
// attempt with its timing.
func TestTraceJSON(t *testing.T) {
	f, _ := simFleet(t, map[string]float64{"a": 1, "b": 2}, provider.OpenAIOptions{}, sim.Profile{Name: "a"}, sim.Profile{Name: "b"})
	req := ask("hello")
	req.Provider = Preferences{Sort: Sort{By: SortPrice}, Ignore: []string{"b"}}
	res, err := f.router.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res.Trace)
	if err != nil {
		t.Fatal(err)
	}
	// A client in Go reads it back as it was.
	var back Trace
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("the trace does not read back: %v", err)
	}
	if again, _ := json.Marshal(&back); string(again) != string(b) {
		t.Errorf("the trace read back differs:\n%s\n%s", again, b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	opts := got["options"].(map[string]any)
	if p := opts["provider"].(map[string]any); p["sort"].(map[string]any)["by"] != "price" {
		t.Errorf("options: %v", opts)
	}
	if opts["timeouts"].(map[string]any)["total"] == nil {
		t.Errorf("the total timeout in force is missing: %v", opts)
	}
	cands := got["candidates"].([]any)
	for _, c := range cands {
		c := c.(map[string]any)
		for _, k := range []string{"endpoint", "provider", "model", "state", "price", "weight", "tier", "why"} {
			if _, ok := c[k]; !ok {
				t.Errorf("candidate lacks %q: %v", k, c)
			}
		}
	}
	a := got["attempts"].([]any)[0].(map[string]any)
	for _, k := range []string{"endpoint", "provider", "model", "start", "ttft_ns", "duration_ns", "outcome"} {
		if _, ok := a[k]; !ok {
			t.Errorf("attempt lacks %q: %v", k, a)
		}
	}
	if got["served"] != "m@a" || len(got["order"].([]any)) != 1 {
		t.Errorf("served %v, order %v", got["served"], got["order"])
	}
}

// sseUpstream serves one streamed answer written as raw SSE, flushed after
// the first event; then, if hang, it waits for the client to give up.
func sseUpstream(t *testing.T, body string, hang bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		first, rest, _ := strings.Cut(body, "\n\n")
		fmt.Fprint(w, first+"\n\n")
		w.(http.Flusher).Flush()
		fmt.Fprint(w, rest)
		w.(http.Flusher).Flush()
		if hang {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const firstChunk = `data: {"choices":[{"delta":{"content":"It begins"},"finish_reason":null}]}` + "\n\n"

func TestStreamFailureModes(t *testing.T) {
	tests := []struct {
		name      string
		url       func(t *testing.T) string
		streaming string // attempts for a streaming caller
		whole     string // attempts for a caller who wants the whole answer
	}{
		{"cut after the first token", func(t *testing.T) string { return simtest.Start(t, sim.Profile{Name: "bad", CutRate: 1}).URL() },
			"bad:stream_cut good:ok", "bad:stream_cut good:ok"},
		{"stall after the first token", func(t *testing.T) string { return sseUpstream(t, firstChunk, true) },
			"bad:stall good:ok", "bad:stall good:ok"},
		{"malformed chunk", func(t *testing.T) string { return sseUpstream(t, firstChunk+"data: {not json\n\n", false) },
			"bad:malformed good:ok", "bad:malformed good:ok"},
		{"in-band error", func(t *testing.T) string {
			return sseUpstream(t, firstChunk+`data: {"error":{"code":502,"message":"upstream broke"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}`+"\n\n", false)
		}, "bad:server good:ok", "bad:server good:ok"},
		{"no [DONE] after a clean finish", func(t *testing.T) string {
			return sseUpstream(t, firstChunk+`data: {"choices":[{"delta":{},"finish_reason":"stop"}]}`+"\n\n", false)
		}, "bad:ok", "bad:ok"},
		{"slow first token", func(t *testing.T) string {
			return simtest.Start(t, sim.Profile{Name: "bad", TTFT: sim.Latency{P50: time.Hour, P95: time.Hour}}).URL()
		}, "bad:timeout good:ok", "bad:timeout good:ok"},
	}
	for _, tt := range tests {
		for _, streaming := range []bool{true, false} {
			want := tt.whole
			if streaming {
				want = tt.streaming
			}
			t.Run(fmt.Sprintf("%s/streaming=%v", tt.name, streaming), func(t *testing.T) {
				good := simtest.Start(t, sim.Profile{Name: "good"})
				eps := []Endpoint{
					{ID: "m@bad", Provider: "bad", Model: "m", UpstreamModel: "m", PriceIn: 0.001,
						Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: tt.url(t), StallTimeout: 100 * time.Millisecond,
							FirstTokenTimeout: 200 * time.Millisecond})},
					{ID: "m@good", Provider: "good", Model: "m", UpstreamModel: "m", PriceIn: 10, Prefill: true,
						Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: good.URL()})},
				}
				mon, _ := monitor.New(monitor.Options{Clock: monitortest.NewClock()},
					[]monitor.Endpoint{{ID: "m@bad", Provider: "bad", Model: "m"}, {ID: "m@good", Provider: "good", Model: "m"}})
				r, err := New(Options{Endpoints: eps, Health: mon, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				var onDelta OnDelta
				var streamed strings.Builder
				if streaming {
					onDelta = func(d Delta) { streamed.WriteString(d.Content) }
				}
				res, err := r.Send(t.Context(), ask("hello"), onDelta)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(outcomes(res.Trace), " "); got != want {
					t.Fatalf("attempts %s, want %s", got, want)
				}
				a := res.Trace.Attempts
				broke := a[0].Outcome != "ok" && a[0].Outcome != "timeout"
				if resumed := len(a) > 1 && a[1].Resumed; resumed != (streaming && broke) {
					t.Errorf("resumed %v: a streaming caller's broken answer resumes; a whole-answer caller's starts over", resumed)
				}
				answer := res.Content
				if streaming {
					answer = streamed.String()
					if res.Content != "" {
						t.Errorf("result %q: a streamed answer is the caller's, not kept twice", res.Content)
					}
				}
				if res.FinishReason == "error" || answer == "" {
					t.Errorf("finish %q, answer %q", res.FinishReason, answer)
				}
			})
		}
	}
}

// A content-policy refusal comes back as it is, with the provider's reason,
// and is not tried elsewhere; a model named twice is not tried twice.
func TestContentPolicyAndRepeatedModels(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"Your request was flagged by our safety system: violence.","type":"invalid_request_error","code":"content_policy_violation"}}`)
	}))
	t.Cleanup(refuse.Close)
	other := simtest.Start(t, sim.Profile{Name: "other"})
	f := newFleet(t, map[string]provider.Upstream{
		"strict": provider.NewOpenAI(provider.OpenAIOptions{BaseURL: refuse.URL}),
		"other":  provider.NewOpenAI(provider.OpenAIOptions{BaseURL: other.URL()}),
	}, map[string]float64{"strict": 0.001, "other": 10}, "strict", "other")
	req := ask("hello")
	req.Models = []string{"m", "m"}
	res, err := f.router.Send(t.Context(), req, nil)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindContentPolicy || !strings.Contains(re.Message, "strict refused the request") ||
		!strings.Contains(re.Message, "flagged by our safety system: violence") {
		t.Fatalf("err = %#v", err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "strict:content_policy" || len(res.Trace.Models) != 1 {
		t.Fatalf("attempts %s, models %v", got, res.Trace.Models)
	}
}

// routerOver is a router over eps, with a monitor on a test clock (the
// router's too, unless o has one), o's settings and seed 1.
func routerOver(t *testing.T, o Options, eps ...Endpoint) *Router {
	t.Helper()
	var meps []monitor.Endpoint
	for _, e := range eps {
		meps = append(meps, monitor.Endpoint{ID: e.ID, Provider: e.Provider, Model: e.Model})
	}
	clk, ok := o.Clock.(*monitortest.Clock) // the monitor's too, when o has one
	if !ok {
		clk = monitortest.NewClock()
	}
	mon, err := monitor.New(monitor.Options{Clock: clk}, meps)
	if err != nil {
		t.Fatal(err)
	}
	o.Endpoints, o.Health, o.Seed, o.Clock = eps, mon, 1, cmp.Or[Clock](o.Clock, clk)
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// An answer is bounded: an upstream that streams without end fails as
// malformed once it passes the request's MaxAnswer (its connection is let
// go), and the request falls back; a resumed stream gets only what is left
// of the bound, and none is resumed once nothing is left.
func TestAnswerIsBounded(t *testing.T) {
	ended := make(chan struct{}, 8)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- struct{}{} }()
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := `data: {"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("x", 100) + `"},"finish_reason":null}]}` + "\n\n"
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	good := simtest.Start(t, sim.Profile{Name: "good"})
	cuts := simtest.Start(t, sim.Profile{Name: "cuts", CutRate: 1})
	endpoint := func(name, url string, price float64, prefill bool) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "m", PriceIn: price, Prefill: prefill,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
	}
	r := routerOver(t, Options{MaxAnswer: 4000},
		endpoint("endless", endless.URL, 0.01, false), endpoint("good", good.URL(), 10, true))
	res, err := r.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "endless:malformed good:ok" || !strings.Contains(res.Trace.Attempts[0].Error, "4000") {
		t.Fatalf("attempts %s: %+v", got, res.Trace.Attempts)
	}
	<-ended // the upstream saw its request end: the connection was let go
	if res.Content == "" {
		t.Fatal("no answer from the fallback")
	}

	// Streaming: the caller has all the bound allows (40 chunks of 100
	// bytes) when the upstream goes past it; nothing is left for a resumed
	// stream, so the request ends there.
	var streamed int
	_, err = r.Send(t.Context(), ask("another conversation"), func(d Delta) { streamed += len(d.Content) })
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Class != provider.ClassMalformed || streamed > 4000 {
		t.Fatalf("streaming: err = %v after %d bytes; want it interrupted as malformed within 4000", err, streamed)
	}
	<-ended

	// A stream cut early resumes at the endless one, which gets what is
	// left of the bound; good finishes the answer within what remains (the
	// endless one, which ran past the bound, is not asked again while
	// another can carry the answer on): the caller never has more than
	// the bound.
	r = routerOver(t, Options{MaxAnswer: 4000}, endpoint("cuts", cuts.URL(), 0.01, false),
		endpoint("endless", endless.URL, 1, true), endpoint("good", good.URL(), 10, true))
	streamed = 0
	res, err = r.Send(t.Context(), ask("hello"), func(d Delta) { streamed += len(d.Content) })
	if got := strings.Join(outcomes(res.Trace), " "); got != "cuts:stream_cut endless:malformed good:ok" ||
		err != nil || streamed > 4000 || streamed < 3900 {
		t.Fatalf("attempts %s, %d bytes streamed, err %v; want the answer finished within the bound", got, streamed, err)
	}
	<-ended
}

// limitedOnce answers its first request with a 429 that asks for a wait of
// retryAfter, and every later one with a short whole answer; it records
// when each request came, by clk.
func limitedOnce(t *testing.T, clk Clock, retryAfter string) (url string, came func() []time.Time) {
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, clk.Now())
		n := len(at)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", retryAfter)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit_exceeded"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(at)
	}
}

// A short Retry-After on the model the caller asked for is waited out, once,
// before a fallback model it did not ask for; another endpoint of the same
// model is still taken at once.
func TestShortRateLimitOnTheRequestedModelIsWaitedOut(t *testing.T) {
	clk := monitortest.NewClock()
	other := simtest.Start(t, sim.Profile{Name: "other"})
	endpoint := func(model, name, url string, price float64) Endpoint {
		return Endpoint{ID: model + "@" + name, Provider: name, Model: model, UpstreamModel: "m", PriceIn: price,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url, Now: clk.Now})}
	}
	for _, stream := range []bool{false, true} {
		// One endpoint of the requested model, and a fallback model.
		url, came := limitedOnce(t, clk, "2")
		r := routerOver(t, Options{Clock: clk}, endpoint("m", "lim", url, 1), endpoint("fallback", "other", other.URL(), 1))
		req := ask("hello")
		req.Models = []string{"fallback"}
		var onDelta OnDelta
		var streamed strings.Builder
		if stream {
			onDelta = func(d Delta) { streamed.WriteString(d.Content) }
		}
		before := other.Stats().Requests
		res, err := r.Send(t.Context(), req, onDelta)
		if err != nil {
			t.Fatal(err)
		}
		at := came()
		a := res.Trace.Attempts
		if got := strings.Join(outcomes(res.Trace), " "); got != "lim:rate_limited lim:ok" || other.Stats().Requests != before {
			t.Fatalf("stream %v: attempts %s, the fallback model's upstream saw %d", stream, got, other.Stats().Requests-before)
		}
		if len(at) != 2 || at[1].Sub(at[0]) < 2*time.Second {
			t.Errorf("the limited upstream saw %d requests, %v apart; want 2, at least its Retry-After apart", len(at), at[len(at)-1].Sub(at[0]))
		}
		if !a[1].Retry || a[1].Waited != "waited 2s: Retry-After, on the requested model" || !strings.Contains(a[1].Notes(), "waited 2s") {
			t.Errorf("the retry's trace: %+v", a[1])
		}
		if answer := res.Content + streamed.String(); answer != "Hello." {
			t.Errorf("answer %q", answer)
		}
	}

	// Two endpoints of the requested model: the other is taken at once.
	url, came := limitedOnce(t, clk, "2")
	r := routerOver(t, Options{Clock: clk}, endpoint("m", "lim", url, 1), endpoint("m", "other", other.URL(), 5))
	res, err := r.Send(t.Context(), ask("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outcomes(res.Trace), " "); got != "lim:rate_limited other:ok" || len(came()) != 1 {
		t.Errorf("attempts %s, the limited upstream saw %d; want no wait while another endpoint of the model is left", got, len(came()))
	}
	// A Retry-After longer than max_retry_wait is not waited for.
	url, came = limitedOnce(t, clk, "60")
	r = routerOver(t, Options{Clock: clk}, endpoint("m", "lim", url, 1), endpoint("fallback", "other", other.URL(), 1))
	req := ask("hello")
	req.Models = []string{"fallback"}
	if res, err = r.Send(t.Context(), req, nil); err != nil || len(came()) != 1 || res.Provider != "other" {
		t.Errorf("a long Retry-After: %v, served by %s, the limited upstream saw %d", err, res.Provider, len(came()))
	}
}

// MaxAttempts counts the endpoints a request tries, not its attempts: a
// retry after a blip does not take another endpoint's turn. Three
// endpoints that answer 500 each get their retry (six attempts), and the
// fourth still answers under the default of five; a cap of two stops
// after two endpoints, each with its retry. Counted on the servers.
func TestMaxAttemptsCountsEndpoints(t *testing.T) {
	for _, tc := range []struct {
		max      int
		answered bool
		chats    uint64 // in all, on the servers' side
	}{{0, true, 7}, {2, false, 4}} {
		t.Run(fmt.Sprint("max ", tc.max), func(t *testing.T) {
			var eps []Endpoint
			srvs := map[string]*sim.Server{}
			for i, n := range []string{"a", "b", "c", "d"} {
				p := sim.Profile{Name: n}
				if n != "d" {
					p.ErrorRate, p.ErrorStatuses = 1, []int{500}
				}
				srvs[n] = simtest.Start(t, p)
				eps = append(eps, Endpoint{ID: "m@" + n, Provider: n, Model: "m", UpstreamModel: "m", PriceIn: float64(i + 1),
					Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srvs[n].URL()})})
			}
			r := routerOver(t, Options{MaxAttempts: tc.max, Clock: monitor.SystemClock{}, RetryBackoff: time.Millisecond}, eps...)
			req := ask("hello")
			req.Provider.Order = []string{"a", "b", "c", "d"}
			res, err := r.Send(t.Context(), req, nil)
			if (err == nil) != tc.answered {
				t.Fatalf("err = %v, attempts %v, order %v", err, outcomes(res.Trace), res.Trace.Order)
			}
			var chats uint64
			for _, s := range srvs {
				chats += s.Stats().Chats
			}
			if chats != tc.chats || len(res.Trace.Attempts) != int(tc.chats) {
				t.Errorf("the servers got %d requests, the trace has %d attempts (%v); want %d", chats, len(res.Trace.Attempts), outcomes(res.Trace), tc.chats)
			}
			if tc.answered && res.Provider != "d" {
				t.Errorf("served by %s", res.Provider)
			}
			if !tc.answered && !strings.HasSuffix(err.Error(), "; max_attempts = 2 stopped it there") {
				t.Errorf("the error does not say why d was not tried: %v", err)
			}
		})
	}
}
