package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// gatewayOnly are OpenRouter's fields for the gateway with values it
// accepts: none may reach an upstream.
var gatewayOnly = map[string]any{
	"session_id":       "conv-1",
	"metadata":         map[string]any{"team": "search", "run": "7"},
	"usage":            map[string]any{"include": true},
	"trace":            map[string]any{"trace_id": "t-1", "span_name": "answer"},
	"prompt_cache_key": "cache-1",
	"transforms":       []any{},
	"plugins":          []any{},
	"preset":           nil,
	"debug":            nil,
}

// OpenRouter's fields for the gateway stay with it: the upstream gets none
// of them, whatever the API, and none counts as a parameter an endpoint
// must support under require_parameters (an upstream that lists only
// max_tokens still serves a request that sends them). user goes to the
// router as Request.User, which the provider client sends in its
// protocol's own field: never as a raw copy.
func TestGatewayFieldsStayWithTheGateway(t *testing.T) {
	up, got := capturingUpstream(t)
	f := newFixture(t, Options{}, map[string]upstream{"capture": {url: up.URL, price: 1, params: []string{"max_tokens"}}})
	upstreamGot := func(t *testing.T) map[string]json.RawMessage { return received(t, got) }
	noneReached := func(t *testing.T, body map[string]json.RawMessage) {
		t.Helper()
		for k := range gatewayOnly {
			if raw, ok := body[k]; ok {
				t.Errorf("%s reached the upstream (%s); it is the gateway's", k, raw)
			}
		}
		if u := body["user"]; string(u) != `"u-1"` {
			t.Errorf("the upstream got user %s; want the caller's \"u-1\" in OpenAI's own field", u)
		}
	}

	// user alone with require_parameters: it was counted as a parameter
	// no endpoint lists, and answered 503 as if no provider existed.
	req := chatBody(false)
	req["user"] = "u-1"
	req["provider"] = map[string]any{"require_parameters": true}
	if resp, b := f.post(t, "/v1/chat/completions", req); resp.StatusCode != http.StatusOK {
		t.Fatalf("user with require_parameters: status %d, want 200: %s", resp.StatusCode, b)
	}
	noneReached(t, upstreamGot(t))

	for k, v := range gatewayOnly {
		req[k] = v
	}
	for _, stream := range []bool{false, true} {
		req["stream"] = stream
		resp, b := f.post(t, "/v1/chat/completions", req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %v: status %d, want 200: %s", stream, resp.StatusCode, b)
		}
		noneReached(t, upstreamGot(t))
	}

	// The Messages API takes them too, but metadata is Anthropic's there,
	// and its user_id is the end user's id.
	mreq := messagesBody(false)
	for k, v := range gatewayOnly {
		if k != "metadata" {
			mreq[k] = v
		}
	}
	mreq["metadata"] = map[string]any{"user_id": "u-1"}
	mreq["provider"] = map[string]any{"require_parameters": true}
	if resp, b := f.post(t, "/v1/messages", mreq); resp.StatusCode != http.StatusOK {
		t.Fatalf("messages: status %d, want 200: %s", resp.StatusCode, b)
	}
	noneReached(t, upstreamGot(t))

	// require_parameters still filters: a parameter the endpoint does not
	// list leaves nothing to route to.
	req["seed"] = 1
	resp, b := f.post(t, "/v1/chat/completions", req)
	if e := decodeError(t, resp, b, http.StatusServiceUnavailable); !strings.Contains(e.Error.Message, "require_parameters") {
		t.Errorf("seed with require_parameters: %s", b)
	}
	select {
	case body := <-got:
		t.Errorf("the upstream got a request no endpoint should take: %v", body)
	default:
	}
}

// A field for the gateway of the wrong type is a 400 that names it; what
// Switchboard does not do (presets, debug echo, transforms, plugins) is
// refused with what to do instead, never dropped. No refused request
// reaches the upstream.
func TestGatewayFieldsCheckedOrRefused(t *testing.T) {
	f := fastFixture(t, Options{})
	many := map[string]any{}
	for i := range 17 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name  string
		path  string
		field string
		value any
		param string // "" for a request that is served
		msg   string
	}{
		{"user a number", "/v1/chat/completions", "user", 5, "user", "user must be a string, not a number"},
		{"session_id an object", "/v1/chat/completions", "session_id", map[string]any{}, "session_id", "session_id must be a string, not an object"},
		{"prompt_cache_key a number", "/v1/chat/completions", "prompt_cache_key", 1, "prompt_cache_key", "prompt_cache_key must be a string"},
		{"metadata a string", "/v1/chat/completions", "metadata", "x", "metadata", "metadata must be an object of strings"},
		{"metadata of a number", "/v1/chat/completions", "metadata", map[string]any{"a": 1}, "metadata.a", "metadata.a must be a string, not a number"},
		{"metadata of 17 pairs", "/v1/chat/completions", "metadata", many, "metadata", "metadata has 17 pairs; it may have 16 at most"},
		{"metadata key with a bracket", "/v1/chat/completions", "metadata", map[string]any{"a[0]": "x"}, "metadata", "has a bracket"},
		{"metadata value too long", "/v1/chat/completions", "metadata", map[string]any{"a": strings.Repeat("x", 513)}, "metadata.a", "over 512 characters"},
		{"usage true", "/v1/chat/completions", "usage", true, "usage", "usage must be an object"},
		{"usage.include a word", "/v1/chat/completions", "usage", map[string]any{"include": "yes"}, "usage.include", "usage.include must be true or false, not a string"},
		{"usage's slip", "/v1/chat/completions", "usage", map[string]any{"inclde": true}, "usage.inclde", "its one field is include"},
		{"trace a string", "/v1/chat/completions", "trace", "t-1", "trace", "trace must be an object"},
		{"transforms", "/v1/chat/completions", "transforms", []string{"middle-out"}, "transforms", "Switchboard does not run OpenRouter's transforms"},
		{"transforms a string", "/v1/chat/completions", "transforms", "middle-out", "transforms", "transforms must be an array, not a string"},
		{"plugins", "/v1/chat/completions", "plugins", []any{map[string]any{"id": "web"}}, "plugins", "Switchboard does not run OpenRouter's plugins"},
		{"preset", "/v1/chat/completions", "preset", "my-preset", "preset", "Switchboard has no presets"},
		{"debug", "/v1/chat/completions", "debug", map[string]any{"echo_upstream_body": true}, "debug", "does not echo the upstream request"},
		{"metadata of strings", "/v1/chat/completions", "metadata", map[string]any{"a": "b"}, "", ""},
		{"usage null", "/v1/chat/completions", "usage", nil, "", ""},
		{"usage.include false", "/v1/chat/completions", "usage", map[string]any{"include": false}, "", ""},

		{"messages: user", "/v1/messages", "user", "u-1", "user", "goes in metadata.user_id"},
		{"messages: user_id a number", "/v1/messages", "metadata", map[string]any{"user_id": 5}, "metadata.user_id", "metadata.user_id must be a string, not a number"},
		{"messages: metadata beyond user_id", "/v1/messages", "metadata", map[string]any{"team": "x"}, "metadata.team", "its one field is user_id"},
		{"messages: metadata a string", "/v1/messages", "metadata", "u-1", "metadata", "metadata must be an object"},
		{"messages: preset", "/v1/messages", "preset", "p", "preset", "Switchboard has no presets"},
		{"messages: session_id a number", "/v1/messages", "session_id", 1, "session_id", "session_id must be a string"},
		{"messages: session_id", "/v1/messages", "session_id", "conv-1", "", ""},
		{"messages: user_id null", "/v1/messages", "metadata", map[string]any{"user_id": nil}, "", ""},
	}
	served := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := chatBody(false)
			req[c.field] = c.value
			resp, b := f.post(t, c.path, req)
			switch {
			case c.param == "":
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", resp.StatusCode, b)
				}
				served++
			case c.path == "/v1/messages":
				if e := decodeAnthropicError(t, resp, b, http.StatusBadRequest, "invalid_request_error"); !strings.Contains(e.Error.Message, c.msg) {
					t.Errorf("message %q does not say %q", e.Error.Message, c.msg)
				}
			default:
				e := decodeError(t, resp, b, http.StatusBadRequest)
				if e.Error.Param == nil || *e.Error.Param != c.param || !strings.Contains(e.Error.Message, c.msg) {
					t.Errorf("param %s, message %q; want %s saying %q", show(e.Error.Param), e.Error.Message, c.param, c.msg)
				}
			}
		})
	}
	if got := f.sims["fast"].Stats().Requests; got != uint64(served) {
		t.Errorf("the upstream got %d requests; want %d, one per request served", got, served)
	}
}
