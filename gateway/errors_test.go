package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

// refusingUpstream is an upstream that answers every request with status and an
// OpenAI-shaped error of code and message.
func refusingUpstream(t *testing.T, status int, code, message string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","code":%q}}`, message, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Every way the router can fail reaches the client as OpenRouter answers
// it: the status of its error reference, error.type and
// metadata.error_type in its words, Anthropic's error type on
// /v1/messages, and Retry-After on a 429 when the router knows when a
// provider takes requests again; streamed or not, as nothing was sent
// before the failure.
func TestErrorsAsOpenRouterGivesThem(t *testing.T) {
	slow := sim.Profile{TTFT: sim.Latency{P50: 10 * time.Second, P95: 10 * time.Second}}
	cases := []struct {
		name string
		ups  func(t *testing.T) map[string]upstream
		// prep runs before each request; without it, the clock moves on
		// until any breaker an earlier request opened lets a trial
		// through, so that each request meets the failure afresh.
		prep       func(f *fixture)
		ro         routing.Options
		mode       sim.Mode // forced on every sim upstream
		edit       func(req map[string]any)
		status     int
		typ        string // error.type and metadata.error_type
		anthropic  string
		retryAfter string // the Retry-After header, "" for none
		msg        string
	}{
		{name: "a provider name that names nothing", edit: func(r map[string]any) { r["provider"] = map[string]any{"order": []string{"nobody"}} },
			status: 400, typ: "invalid_request", anthropic: "invalid_request_error", msg: `provider.order[0]: "nobody" is not a provider`},
		{name: "the upstream refuses the input",
			ups: func(t *testing.T) map[string]upstream {
				return map[string]upstream{"strict": {url: refusingUpstream(t, 400, "invalid_value", "top_p must be at most 1"), price: 1}}
			},
			status: 400, typ: "invalid_request", anthropic: "invalid_request_error", msg: "strict refused the request: top_p must be at most 1"},
		{name: "moderation",
			ups: func(t *testing.T) map[string]upstream {
				return map[string]upstream{"careful": {url: refusingUpstream(t, 400, "content_policy_violation", "flagged by moderation"), price: 1}}
			},
			status: 403, typ: "content_policy_violation", anthropic: "permission_error", msg: "careful refused the request"},
		{name: "a prompt too long",
			ups: func(*testing.T) map[string]upstream {
				return map[string]upstream{"short": {profile: &sim.Profile{ContextLength: 4}, price: 1}}
			},
			status: 400, typ: "context_length_exceeded", anthropic: "invalid_request_error", msg: "the prompt is too long"},
		{name: "an unknown model", edit: func(r map[string]any) { r["model"] = "acme/none" },
			status: 404, typ: "model_not_found", anthropic: "not_found_error", msg: `"acme/none" is not served here`},
		{name: "requirements no provider meets", edit: func(r map[string]any) { r["provider"] = map[string]any{"max_price": map[string]any{"prompt": "0.1"}} },
			status: 503, typ: "provider_unavailable", anthropic: "api_error", msg: "meets the request's requirements"},
		{name: "every provider down", mode: sim.ModeDown,
			status: 502, typ: "provider_overloaded", anthropic: "api_error", msg: "every provider of acme/chat-1 failed"},
		{name: "every provider failing",
			ups: func(*testing.T) map[string]upstream {
				return map[string]upstream{"flaky": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{502}}, price: 1}}
			},
			status: 502, typ: "provider_unavailable", anthropic: "api_error", msg: "every provider of acme/chat-1 failed"},
		// The upstream's key, not the caller's: 502, never 401.
		{name: "every provider refusing the key",
			ups: func(*testing.T) map[string]upstream {
				return map[string]upstream{"locked": {profile: &sim.Profile{APIKey: "theirs"}, price: 1}}
			},
			status: 502, typ: "authentication", anthropic: "api_error", msg: "every provider of acme/chat-1 failed"},
		// Known to be down before the request: nothing was admitted, and the
		// last resort failed too. The breaker says when to come back.
		{name: "every provider known to be down", mode: sim.ModeDown,
			prep:   func(f *fixture) { tripAll(f) },
			status: 503, typ: "provider_unavailable", anthropic: "api_error", retryAfter: "5", msg: "every provider of acme/chat-1 is down"},
		{name: "every provider slow to start", ups: func(*testing.T) map[string]upstream { return map[string]upstream{"slow": {profile: &slow, price: 1}} },
			ro:     routing.Options{Timeouts: routing.Timeouts{FirstToken: 20 * time.Millisecond}},
			status: 502, typ: "timeout", anthropic: "api_error", msg: "every provider of acme/chat-1 failed"},
		// A Retry-After over the router's MaxRetryWait is not waited out:
		// the client is told when to come back.
		{name: "every provider rate limited",
			ups: func(*testing.T) map[string]upstream {
				return map[string]upstream{"busy": {profile: &sim.Profile{RetryAfter: 30 * time.Second}, price: 1}}
			},
			mode: sim.ModeRateLimited, status: 429, typ: "rate_limit_exceeded", anthropic: "rate_limit_error", retryAfter: "30",
			msg: "rate limited"},
		{name: "the request's time runs out", ups: func(*testing.T) map[string]upstream { return map[string]upstream{"slow": {profile: &slow, price: 1}} },
			ro:     routing.Options{Timeouts: routing.Timeouts{Total: 20 * time.Millisecond}},
			status: 408, typ: "timeout", anthropic: "timeout_error", msg: "longer than its total timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ups := map[string]upstream{"fast": {profile: &sim.Profile{}, price: 1}}
			if c.ups != nil {
				ups = c.ups(t)
			}
			f := newRoutedFixture(t, Options{}, c.ro, ups)
			for _, s := range f.sims {
				s.SetMode(c.mode)
			}
			prep := c.prep
			if prep == nil {
				prep = func(f *fixture) { f.clock.Advance(3 * time.Minute) }
			}
			for _, stream := range []bool{false, true} {
				req := chatBody(stream)
				if c.edit != nil {
					c.edit(req)
				}
				prep(f)
				resp, b := f.post(t, "/v1/chat/completions", req)
				e := decodeError(t, resp, b, c.status)
				if e.Error.Type != c.typ || e.Error.Metadata.ErrorType != c.typ || !strings.Contains(e.Error.Message, c.msg) {
					t.Errorf("stream %v: type %q, error_type %q, message %q; want %s saying %q",
						stream, e.Error.Type, e.Error.Metadata.ErrorType, e.Error.Message, c.typ, c.msg)
				}
				if ra := resp.Header.Get("Retry-After"); ra != c.retryAfter {
					t.Errorf("stream %v: Retry-After %q, want %q", stream, ra, c.retryAfter)
				}

				prep(f)
				resp, b = f.post(t, "/v1/messages", req)
				ae := decodeAnthropicError(t, resp, b, c.status, c.anthropic)
				if !strings.Contains(ae.Error.Message, c.msg) {
					t.Errorf("messages, stream %v: message %q does not say %q", stream, ae.Error.Message, c.msg)
				}
				if ra := resp.Header.Get("Retry-After"); ra != c.retryAfter {
					t.Errorf("messages, stream %v: Retry-After %q, want %q", stream, ra, c.retryAfter)
				}
			}
		})
	}
}

// tripAll opens every endpoint's breaker, as three failures in a row do.
func tripAll(f *fixture) {
	for _, m := range f.router.Models() {
		for _, e := range f.router.Endpoints(m) {
			for range 3 {
				f.mon.Record(e.ID, provider.Outcome{Class: provider.ClassOverloaded})
			}
		}
	}
}

// Retry-After is whole seconds, rounded up and never 0 (a client would
// retry at once), and only on a 429 or a 503.
func TestRetryAfterIsWholeSecondsRoundedUp(t *testing.T) {
	for _, c := range []struct {
		kind  routing.Kind
		after time.Duration
		want  string
	}{
		{routing.KindRateLimited, 30 * time.Second, "30"},
		{routing.KindRateLimited, 2500 * time.Millisecond, "3"},
		{routing.KindRateLimited, 200 * time.Millisecond, "1"},
		{routing.KindNoEndpoints, 1500 * time.Millisecond, "2"},
		{routing.KindRateLimited, 0, ""},
		{routing.KindExhausted, 5 * time.Second, ""}, // a 502: every provider failed, nothing to wait for
	} {
		e := fromRouting(&routing.Error{Kind: c.kind, Message: "m", RetryAfter: c.after}, nil)
		for name, write := range map[string]func(http.ResponseWriter, *apiError){"openai": writeError, "anthropic": writeAnthropicError} {
			w := httptest.NewRecorder()
			write(w, e)
			if got := w.Header().Get("Retry-After"); got != c.want {
				t.Errorf("%s, %s after %v: Retry-After %q, want %q", name, c.kind, c.after, got, c.want)
			}
		}
	}
}
