package gateway

import (
	"net/http"
	"strings"
	"testing"

	"switchboard/sim"
)

// Nothing the caller asked for is dropped silently: a member the provider
// object does not have (OpenRouter's schema has additionalProperties:
// false), at any depth, is a 400 that names it and says what it may have
// meant, on both APIs; a null member is absent. None of the refused
// requests reaches the upstream.
func TestProviderRefusesUnknownMembers(t *testing.T) {
	f := fastFixture(t, Options{})
	cases := []struct {
		name     string
		provider any
		param    string // "" for a request that is served
		msg      []string
	}{
		{"a slip", map[string]any{"sortt": "price"}, "provider.sortt",
			[]string{`provider.sortt is not a field of provider; did you mean "sort"?`, "Its fields are order, allow_fallbacks, require_parameters"}},
		{"a slip in a long name", map[string]any{"requre_parameters": true}, "provider.requre_parameters",
			[]string{`did you mean "require_parameters"?`}},
		{"another case", map[string]any{"Sort": "price"}, "provider.Sort", []string{`did you mean "sort"?`}},
		{"no near name", map[string]any{"fastest": true}, "provider.fastest",
			[]string{"provider.fastest is not a field of provider. Its fields are order, allow_fallbacks, require_parameters, " +
				"data_collection, only, ignore, quantizations, sort, zdr, enforce_distillable_text, max_price, " +
				"preferred_min_throughput, preferred_max_latency."}},
		{"max_price's slip", map[string]any{"max_price": map[string]any{"promt": 1}}, "provider.max_price.promt",
			[]string{`did you mean "prompt"?`, "prompt, completion, request, image"}},
		{"max_price not a price", map[string]any{"max_price": map[string]any{"prompt": 1, "completion": "cheap"}}, "provider.max_price.completion",
			[]string{"provider.max_price.completion: \"cheap\" is not a price"}},
		{"max_price not an object", map[string]any{"max_price": 1}, "provider.max_price",
			[]string{"provider.max_price must be an object"}},
		{"sort's slip", map[string]any{"sort": map[string]any{"by": "price", "partiton": "none"}}, "provider.sort.partiton",
			[]string{`did you mean "partition"?`}},
		// p95 is no cutoff of OpenRouter's, and no slip for one of them in particular.
		{"a cutoff of p95", map[string]any{"preferred_max_latency": map[string]any{"p95": 2}}, "provider.preferred_max_latency.p95",
			[]string{"provider.preferred_max_latency.p95 is not a field of provider.preferred_max_latency. Its fields are p50, p75, p90, p99."}},
		{"p95 among good cutoffs", map[string]any{"preferred_min_throughput": map[string]any{"p50": 10, "p95": 5}}, "provider.preferred_min_throughput.p95",
			[]string{"p50, p75, p90, p99"}},
		{"a cutoff a word", map[string]any{"preferred_min_throughput": map[string]any{"p90": "fast"}}, "provider.preferred_min_throughput.p90",
			[]string{"a performance cutoff must be a number"}},
		{"an order of a number", map[string]any{"order": []any{"fast", 3}}, "provider.order[1]",
			[]string{"provider.order[1] must be a string, not a number"}},
		{"zdr a word", map[string]any{"zdr": "yes"}, "provider.zdr", []string{"provider.zdr must be true or false, not string"}},
		{"nulls are absent", map[string]any{"sort": nil, "max_price": nil, "preferred_max_latency": nil, "order": nil}, "", nil},
		{"every member", map[string]any{"order": []string{"fast"}, "allow_fallbacks": true, "require_parameters": false,
			"data_collection": "allow", "zdr": false, "enforce_distillable_text": false, "only": []string{"fast"}, "ignore": []string{},
			"quantizations": []string{"unknown"}, "sort": map[string]any{"by": "price", "partition": "model"},
			"max_price": map[string]any{"prompt": "5", "completion": 5, "request": nil, "image": "1"}, "preferred_max_latency": 30,
			"preferred_min_throughput": map[string]any{"p50": 1, "p75": 1, "p90": 1, "p99": 1}}, "", nil},
	}
	served := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := chatBody(false)
			req["provider"] = c.provider
			resp, b := f.post(t, "/v1/chat/completions", req)
			if c.param == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", resp.StatusCode, b)
				}
				served++
			} else {
				e := decodeError(t, resp, b, http.StatusBadRequest)
				if e.Error.Type != "invalid_request" || e.Error.Param == nil || *e.Error.Param != c.param {
					t.Errorf("type %q param %s, want invalid_request at %s: %s", e.Error.Type, show(e.Error.Param), c.param, b)
				}
				for _, m := range c.msg {
					if !strings.Contains(e.Error.Message, m) {
						t.Errorf("message %q does not say %q", e.Error.Message, m)
					}
				}
			}
			// The Messages API reads the provider object alike.
			mreq := messagesBody(false)
			mreq["provider"] = c.provider
			resp, b = f.post(t, "/v1/messages", mreq)
			if c.param == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("messages: status %d, want 200: %s", resp.StatusCode, b)
				}
				served++
				return
			}
			e := decodeAnthropicError(t, resp, b, http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(e.Error.Message, c.param) {
				t.Errorf("messages: %q does not name %s", e.Error.Message, c.param)
			}
		})
	}
	if got := f.sims["fast"].Stats().Requests; got != uint64(served) {
		t.Errorf("the upstream got %d requests; want %d, one per request served", got, served)
	}
}

// max_price takes numbers or numeric strings, as OpenRouter's schema types
// them, and is a hard filter: an endpoint over it is never asked, even
// when the one under it fails.
func TestProviderMaxPriceTakesNumericStrings(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{
		"cheap": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{502}}, price: 0.4},
		"dear":  {profile: &sim.Profile{}, price: 1}})
	// Without a cap, dear answers when cheap fails.
	if resp, b := f.post(t, "/v1/chat/completions", chatBody(false)); resp.StatusCode != http.StatusOK {
		t.Fatalf("without max_price: status %d: %s", resp.StatusCode, b)
	}
	before := f.sims["dear"].Stats().Requests
	// cheap alone, never dear: twice (a second round), then, its breaker
	// opened by a third failure in a row, once as a last resort.
	status := []int{http.StatusBadGateway, http.StatusServiceUnavailable}
	for i, maxPrice := range []map[string]any{{"prompt": "0.5"}, {"prompt": 0.5, "completion": " 0.5 "}} {
		req := chatBody(false)
		req["provider"] = map[string]any{"max_price": maxPrice}
		resp, b := f.post(t, "/v1/chat/completions", req)
		e := decodeError(t, resp, b, status[i])
		if len(e.Error.Metadata.PreviousErrors) != 2-i || e.Error.Metadata.PreviousErrors[0].Provider != "cheap" || e.Trace == nil {
			t.Fatalf("max_price %v: %s", maxPrice, b)
		}
		for _, c := range e.Trace.Candidates {
			if c.Provider == "dear" && !strings.Contains(c.Why, "over max_price.prompt") {
				t.Errorf("max_price %v: dear is %q, want excluded by max_price.prompt", maxPrice, c.Why)
			}
		}
	}
	if got := f.sims["dear"].Stats().Requests; got != before {
		t.Errorf("dear got %d requests over max_price; want none", got-before)
	}
	// A cap nothing meets leaves no provider: 503.
	req := chatBody(false)
	req["provider"] = map[string]any{"max_price": map[string]any{"prompt": "0.1"}}
	resp, b := f.post(t, "/v1/chat/completions", req)
	if e := decodeError(t, resp, b, http.StatusServiceUnavailable); !strings.Contains(e.Error.Message, "max_price.prompt") {
		t.Errorf("message %q does not say max_price.prompt excluded them", e.Error.Message)
	}
}

// Provider names are read as OpenRouter reads them: slugs or display
// names, in any case. A slip is a 400 at the name, with the name meant.
func TestProviderNamesResolveAsOpenRouters(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{
		"deepinfra": {profile: &sim.Profile{}, price: 1, name: "DeepInfra"},
		"groq":      {profile: &sim.Profile{}, price: 1, name: "Groq"}})
	for _, c := range []struct{ name, served string }{{"DeepInfra", "deepinfra"}, {"GROQ", "groq"}, {"deepinfra", "deepinfra"}, {"groq", "groq"}} {
		req := chatBody(false)
		req["provider"] = map[string]any{"order": []string{c.name}, "allow_fallbacks": false}
		resp, b := f.post(t, "/v1/chat/completions", req)
		if a := decodeAnswer(t, string(b)); resp.StatusCode != http.StatusOK || a.Provider != c.served {
			t.Errorf("order [%q]: status %d, served by %q; want %s: %s", c.name, resp.StatusCode, a.Provider, c.served, b)
		}
	}
	for _, slip := range []string{"deepinfr", "Deep-Infra"} {
		req := chatBody(false)
		req["provider"] = map[string]any{"order": []string{slip}}
		resp, b := f.post(t, "/v1/chat/completions", req)
		e := decodeError(t, resp, b, http.StatusBadRequest)
		if e.Error.Type != "invalid_request" || e.Error.Param == nil || *e.Error.Param != "provider.order[0]" ||
			!strings.Contains(strings.ToLower(e.Error.Message), `did you mean "deepinfra"?`) {
			t.Errorf("order [%q]: %s", slip, b)
		}
		resp, b = f.post(t, "/v1/messages", req)
		if e := decodeAnthropicError(t, resp, b, http.StatusBadRequest, "invalid_request_error"); !strings.Contains(e.Error.Message, "did you mean") {
			t.Errorf("messages, order [%q]: %s", slip, b)
		}
	}
	if n := f.sims["deepinfra"].Stats().Requests + f.sims["groq"].Stats().Requests; n != 4 {
		t.Errorf("the upstreams got %d requests; want 4, none for a slip", n)
	}
}

// response_format is a soft filter, as OpenRouter has it: without
// require_parameters, a request that sets it goes to the endpoints that list
// it, when any does; the others see nothing.
func TestResponseFormatIsASoftFilter(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{
		"plain":      {profile: &sim.Profile{}, price: 1, params: []string{"max_tokens"}},
		"structured": {profile: &sim.Profile{}, price: 50, params: []string{"max_tokens", "response_format"}}})
	body := chatBody(false)
	body["response_format"] = map[string]any{"type": "json_object"}
	resp, b := f.post(t, "/v1/chat/completions", body)
	if a := decodeAnswer(t, string(b)); resp.StatusCode != 200 || a.Provider != "structured" {
		t.Fatalf("status %d, served by %s: %s", resp.StatusCode, a.Provider, b)
	}
	if n := f.sims["plain"].Stats().Requests; n != 0 {
		t.Errorf("plain, which does not list response_format, saw %d requests", n)
	}
}
