package provider_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// The client against the simulator: the other side of the wire is written
// separately (package sim imports nothing of ours), so a misreading of the
// protocol on one side is not cancelled out by the same one on the other.

// clientKey is the key the client sends; no error text may contain it.
const clientKey = "sk-client-7d1e5a90c4"

func hello(model string) provider.Request {
	return provider.Request{Model: model, MaxTokens: 40, Messages: []provider.Message{{Role: "user", Content: "hello"}}}
}

// readAll reads a stream to its end and returns the content and the final
// error (nil for a clean end).
func readAll(s provider.Stream) (string, provider.Chunk, error) {
	var b strings.Builder
	var last provider.Chunk
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			return b.String(), last, nil
		}
		if err != nil {
			return b.String(), last, err
		}
		b.WriteString(c.Content)
		if c.FinishReason != "" || c.Usage != nil {
			last.FinishReason = max(last.FinishReason, c.FinishReason)
			if c.Usage != nil {
				last.Usage = c.Usage
			}
		}
	}
}

func TestClientAgainstSimulatorAnswers(t *testing.T) {
	srv := simtest.Start(t, sim.Profile{Seed: 3})
	c := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL()})
	defer c.CloseIdleConnections()

	ids, err := c.ListModels(t.Context())
	if err != nil || !slices.Equal(ids, []string{"m"}) {
		t.Fatalf("models %v, %v", ids, err)
	}
	s, err := c.Stream(t.Context(), hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	text, last, err := readAll(s)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if text == "" || last.FinishReason == "" || last.Usage == nil || last.Usage.CompletionTokens == 0 {
		t.Fatalf("text %q, last %+v", text, last)
	}
	if st.TTFT <= 0 || st.Duration < st.TTFT || st.OutputTokens != last.Usage.CompletionTokens {
		t.Fatalf("stats %+v, usage %+v", st, last.Usage)
	}
}

func TestClientAgainstSimulatorFailures(t *testing.T) {
	tests := []struct {
		name    string
		profile sim.Profile
		mode    sim.Mode
		model   string
		opts    provider.OpenAIOptions
		class   provider.Class
		status  int
		retry   time.Duration
		partial bool // the failure comes after content
	}{
		{name: "forced down", mode: sim.ModeDown, class: provider.ClassOverloaded, status: 503},
		{name: "scripted outage", profile: sim.Profile{Outages: []sim.Outage{{For: time.Hour}}},
			class: provider.ClassOverloaded, status: 503},
		{name: "rate limited", mode: sim.ModeRateLimited, profile: sim.Profile{RetryAfter: 9 * time.Second},
			class: provider.ClassRateLimited, status: 429, retry: 9 * time.Second},
		{name: "server error", profile: sim.Profile{ErrorRate: 1, ErrorStatuses: []int{500}},
			class: provider.ClassServer, status: 500},
		{name: "unknown model", model: "nope", class: provider.ClassNotFound, status: 404},
		{name: "wrong key", profile: sim.Profile{APIKey: "sk-server-side"}, opts: provider.OpenAIOptions{APIKey: clientKey},
			class: provider.ClassAuth, status: 401},
		{name: "cut mid-stream", profile: sim.Profile{CutRate: 1}, class: provider.ClassStreamCut, partial: true},
		{name: "stalled mid-stream", mode: sim.ModeStall, opts: provider.OpenAIOptions{StallTimeout: 100 * time.Millisecond},
			class: provider.ClassStall, partial: true},
		{name: "no first token in time", mode: sim.ModeSlow,
			opts: provider.OpenAIOptions{FirstTokenTimeout: time.Nanosecond}, class: provider.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := simtest.Start(t, tt.profile)
			srv.SetMode(tt.mode)
			o := tt.opts
			o.BaseURL = srv.URL()
			c := provider.NewOpenAI(o)
			defer c.CloseIdleConnections()
			model := tt.model
			if model == "" {
				model = "m"
			}
			var text string
			s, err := c.Stream(t.Context(), hello(model))
			if err == nil {
				text, _, err = readAll(s)
				s.Close()
			}
			var e *provider.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *provider.Error", err)
			}
			if e.Class != tt.class || e.Status != tt.status || e.RetryAfter != tt.retry {
				t.Fatalf("got %s status %d retry %s; want %s status %d retry %s (%v)",
					e.Class, e.Status, e.RetryAfter, tt.class, tt.status, tt.retry, e)
			}
			if (text != "") != tt.partial {
				t.Fatalf("content before the failure: %q", text)
			}
			if strings.Contains(e.Error(), clientKey) {
				t.Fatalf("an error text repeats the key: %v", e)
			}
		})
	}
}

// A request's own limits replace the client's.
func TestRequestTimeoutsOverrideTheClient(t *testing.T) {
	srv := simtest.Start(t, sim.Profile{})
	srv.SetMode(sim.ModeStall)
	c := provider.NewOpenAI(provider.OpenAIOptions{BaseURL: srv.URL(), StallTimeout: time.Hour})
	defer c.CloseIdleConnections()
	req := hello("m")
	req.StallTimeout = 50 * time.Millisecond
	s, err := c.Stream(t.Context(), req)
	if err == nil {
		_, _, err = readAll(s)
		s.Close()
	}
	if provider.ClassOf(err) != provider.ClassStall {
		t.Fatalf("err = %v, want a stall after the request's 50ms, not the client's hour", err)
	}
}

// idleCloser is an upstream client whose idle connections a test closes, so
// goleak sees no transport goroutine left over.
type idleCloser interface {
	provider.Upstream
	CloseIdleConnections()
}

// clientsOf are a client of each protocol the simulator speaks.
var clientsOf = []struct {
	protocol string
	new      func(base string) idleCloser
}{
	{"openai", func(base string) idleCloser { return provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base}) }},
	{"anthropic", func(base string) idleCloser { return provider.NewAnthropic(provider.AnthropicOptions{BaseURL: base}) }},
}

// A request over the model's context comes back as ClassContextLength in
// either protocol, however the simulator words it: it is what moves the
// router to an endpoint with a larger context rather than counting the
// refusal against the provider. The limit is the model's own.
func TestContextLengthAgainstSimulator(t *testing.T) {
	long := hello("m")
	long.Messages[0].Content = strings.Repeat("word ", 100)
	withAnswer := hello("m")
	withAnswer.MaxTokens = 100 // the prompt fits, and not with its answer
	for _, cl := range clientsOf {
		t.Run(cl.protocol, func(t *testing.T) {
			srv := simtest.Start(t, sim.Profile{Models: []string{"m", "big"}, ContextLengths: map[string]int{"m": 64}})
			c := cl.new(srv.URL())
			defer c.CloseIdleConnections()
			for name, req := range map[string]provider.Request{"long prompt": long, "prompt plus max_tokens": withAnswer} {
				_, err := c.Stream(t.Context(), req)
				if e := provider.AsError(err); e == nil || e.Class != provider.ClassContextLength || e.Status != 400 {
					t.Errorf("%s: err = %v, want a 400 of class context_length", name, err)
				}
			}
			big := long
			big.Model = "big"
			for _, req := range []provider.Request{hello("m"), big} {
				s, err := c.Stream(t.Context(), req)
				if err == nil {
					_, _, err = readAll(s)
					s.Close()
				}
				if err != nil {
					t.Errorf("%s with %d characters: %v", req.Model, len(req.Messages[0].Content), err)
				}
			}
		})
	}
}

// The end user reaches the simulator in each protocol's own field (OpenAI's
// user, Anthropic's metadata.user_id), which it accepts and reports; an
// empty User sends none.
func TestUserReachesTheSimulator(t *testing.T) {
	for _, cl := range clientsOf {
		t.Run(cl.protocol, func(t *testing.T) {
			srv := simtest.Start(t, sim.Profile{})
			c := cl.new(srv.URL())
			defer c.CloseIdleConnections()
			for _, user := range []string{"user-91c2", ""} {
				req := hello("m")
				req.User = user
				s, err := c.Stream(t.Context(), req)
				if err == nil {
					_, _, err = readAll(s)
					s.Close()
				}
				if err != nil {
					t.Fatalf("user %q: %v", user, err)
				}
				if got := srv.Stats().LastUser; got != user {
					t.Errorf("the simulator saw user %q, want %q", got, user)
				}
			}
		})
	}
}
