package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/routing"
	"switchboard/sim"
)

// anthropicHeaders are what Anthropic's SDKs send with every request.
var anthropicHeaders = []string{"Anthropic-Version", "2023-06-01", "X-Api-Key", "k"}

// Every path under /v1/messages answers in Anthropic's shape, with the
// type of its status, and with the key check of /v1/messages.
func TestMessagesPathsAnswerInAnthropicsShape(t *testing.T) {
	f := newFixture(t, Options{Keys: []string{"k"}}, map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	resp, body := f.post(t, "/v1/messages/batches", messagesBody(false), anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusNotFound, "not_found_error")
	resp, body = f.post(t, "/v1/messages/count_tokens/x", messagesBody(false), anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusNotFound, "not_found_error")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/v1/messages/count_tokens", nil)
	req.Header.Set("X-Api-Key", "k")
	resp, body = f.do(t, req)
	decodeAnthropicError(t, resp, body, http.StatusMethodNotAllowed, "invalid_request_error")
	resp, body = f.post(t, "/v1/messages/count_tokens", messagesBody(false), "Anthropic-Version", "2023-06-01")
	decodeAnthropicError(t, resp, body, http.StatusUnauthorized, "authentication_error")
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+"/v1/messages/./count_tokens", strings.NewReader("{}"))
	noFollow := *f.srv.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, body = f.do(t, req, &noFollow)
	decodeAnthropicError(t, resp, body, http.StatusTemporaryRedirect, "invalid_request_error")
	// Elsewhere, errors stay in OpenAI's shape.
	resp, body = f.post(t, "/v1/messagesx", messagesBody(false), anthropicHeaders...)
	decodeError(t, resp, body, http.StatusNotFound)
}

// Every answer carries its request's id as request-id (Anthropic's) and
// x-request-id (OpenAI's), errors and streams too; no two the same.
func TestEveryAnswerCarriesARequestID(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	seen := map[string]bool{}
	check := func(what string, resp *http.Response) {
		t.Helper()
		id := resp.Header.Get("Request-Id")
		if !strings.HasPrefix(id, "req_") || resp.Header.Get("X-Request-Id") != id || seen[id] {
			t.Errorf("%s: request-id %q, x-request-id %q (seen: %v)", what, id, resp.Header.Get("X-Request-Id"), seen[id])
		}
		seen[id] = true
	}
	resp, _ := f.post(t, "/v1/messages", messagesBody(false), anthropicHeaders...)
	check("message", resp)
	resp, _ = f.post(t, "/v1/messages", messagesBody(true), anthropicHeaders...)
	check("message stream", resp)
	resp, _ = f.post(t, "/v1/chat/completions", chatBody(false))
	check("chat", resp)
	resp, _ = f.post(t, "/v1/chat/completions", chatBody(true))
	check("chat stream", resp)
	resp, _ = f.post(t, "/v1/messages", `{`, anthropicHeaders...)
	check("bad message", resp)
	resp, _ = f.post(t, "/v1/chat/completions", map[string]any{"model": "nope", "messages": []any{}})
	check("bad chat", resp)
	resp, _ = f.get(t, "/nowhere")
	check("not found", resp)
	resp, _ = f.get(t, "/v1/models")
	check("models", resp)
	resp, _ = f.post(t, "/v1/messages/count_tokens", countBody(testModel), anthropicHeaders...)
	check("count_tokens", resp)
}

func countBody(model string) map[string]any {
	return map[string]any{"model": model, "system": "You are terse.",
		"messages": []map[string]any{{"role": "user", "content": strings.Repeat("Say hello. ", 60)}}}
}

// count_tokens estimates a Messages request's input tokens without asking
// an upstream; tools count; bad input and unknown models are Anthropic's
// errors.
func TestCountTokensEstimatesInputTokens(t *testing.T) {
	f := newFixture(t, Options{Keys: []string{"k"}}, map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	resp, body := f.post(t, "/v1/messages/count_tokens", countBody(testModel), anthropicHeaders...)
	var got tokenCount
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	strictDecode(t, body, &got)
	// 660 bytes of user text and 14 of system, 6 bytes a token, and 3 a
	// message and 3 for the reply.
	if want := 3 + 3 + 14/6 + 3 + 660/6; got.InputTokens != want {
		t.Errorf("input_tokens %d, want %d", got.InputTokens, want)
	}
	withTools := countBody(testModel)
	withTools["tools"] = []map[string]any{{"name": "get_weather", "description": strings.Repeat("Weather of a city. ", 20),
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
	withTools["tool_choice"] = map[string]any{"type": "auto"}
	resp, body = f.post(t, "/v1/messages/count_tokens", withTools, anthropicHeaders...)
	var more tokenCount
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	strictDecode(t, body, &more)
	if more.InputTokens < got.InputTokens+60 {
		t.Errorf("with tools %d, without %d: the tools were not counted", more.InputTokens, got.InputTokens)
	}
	if n := f.sims["a"].Stats().Requests; n != 0 {
		t.Errorf("the upstream was asked %d times", n)
	}
	// A stream's message_start gives the same estimate, tools and all.
	withTools["stream"], withTools["max_tokens"] = true, 16
	resp, body = f.post(t, "/v1/messages", withTools, anthropicHeaders...)
	if start := splitEvents(t, string(body))[0]; resp.StatusCode != http.StatusOK ||
		!strings.Contains(start, fmt.Sprintf(`"usage":{"input_tokens":%d,`, more.InputTokens)) {
		t.Errorf("status %d, message_start %s; want input_tokens %d", resp.StatusCode, start, more.InputTokens)
	}

	resp, body = f.post(t, "/v1/messages/count_tokens", countBody("acme/nope"), anthropicHeaders...)
	e := decodeAnthropicError(t, resp, body, http.StatusNotFound, "not_found_error")
	if !strings.Contains(e.Error.Message, "acme/nope") {
		t.Errorf("message %q does not name the model", e.Error.Message)
	}
	bad := countBody(testModel)
	bad["messages"] = []map[string]any{{"role": "system", "content": "x"}}
	resp, body = f.post(t, "/v1/messages/count_tokens", bad, anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusBadRequest, "invalid_request_error")
	resp, body = f.post(t, "/v1/messages/count_tokens", map[string]any{"model": testModel}, anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusBadRequest, "invalid_request_error")
	resp, body = f.post(t, "/v1/messages/count_tokens", `{"model": 3`, anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusBadRequest, "invalid_request_error")
	bad = countBody(testModel)
	bad["temperature"] = 1
	resp, body = f.post(t, "/v1/messages/count_tokens", bad, anthropicHeaders...)
	decodeAnthropicError(t, resp, body, http.StatusBadRequest, "invalid_request_error")
}

// A request naming a model's alias (Anthropic's own model id) is routed as
// the model's, on both APIs, streamed or not; the answer names the model
// by its name, as Anthropic and OpenAI name the model an alias stands for;
// /v1/models lists the name only; count_tokens knows the alias.
func TestAliasIsTheModel(t *testing.T) {
	const alias = "claude-sonnet-4-20250514"
	f := newRoutedFixture(t, Options{}, routing.Options{Aliases: map[string]string{alias: testModel}},
		map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	for _, stream := range []bool{false, true} {
		body := messagesBody(stream)
		body["model"] = alias
		resp, b := f.post(t, "/v1/messages", body, anthropicHeaders...)
		if !stream {
			var a anthropicAnswer
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			strictDecode(t, b, &a)
			if a.Model != testModel || a.Provider != "a" {
				t.Errorf("answer names model %q, provider %q", a.Model, a.Provider)
			}
		} else if s := readEvents(t, resp, b); s.data[0]["message"].(map[string]any)["model"] != testModel || s.text == "" {
			t.Errorf("message_start %v, text %q", s.data[0], s.text)
		}
		chat := chatBody(stream)
		chat["model"] = alias + ":floor"
		resp, b = f.post(t, "/v1/chat/completions", chat)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"model":"`+testModel+`"`) {
			t.Errorf("chat (stream %v): status %d: %s", stream, resp.StatusCode, b)
		}
	}
	if n := f.sims["a"].Stats().Requests; n != 4 {
		t.Errorf("the upstream was asked %d times, want 4", n)
	}
	// The metrics count them under the model, not the alias (as "other").
	if _, m := f.get(t, "/metrics"); !strings.Contains(string(m), `switchboard_requests_total{model="`+testModel+`",outcome="ok",provider="a",stream="false"} 2`) {
		t.Errorf("metrics:\n%s", grep(string(m), "requests_total"))
	}
	resp, b := f.post(t, "/v1/messages/count_tokens", countBody(alias), anthropicHeaders...)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("count_tokens of the alias: status %d: %s", resp.StatusCode, b)
	}
	resp, b = f.get(t, "/v1/models")
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != http.StatusOK || len(list.Data) != 1 || list.Data[0].ID != testModel {
		t.Errorf("/v1/models: %s (%v)", b, err)
	}
	body := messagesBody(false)
	body["model"] = "claude-opus-4-20250514"
	resp, b = f.post(t, "/v1/messages", body, anthropicHeaders...)
	decodeAnthropicError(t, resp, b, http.StatusNotFound, "not_found_error")
}

// A streamed message's message_start says the prompt's input tokens, the
// router's estimate, before the upstream reports any; message_delta at the
// end has the upstream's figure, or the estimate when it gave none.
func TestMessageStartCarriesThePromptsTokens(t *testing.T) {
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi."},"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(bare.Close)
	body := messagesBody(true)
	body["system"] = strings.Repeat("Be terse. ", 30)
	body["messages"] = []map[string]any{{"role": "user", "content": strings.Repeat("Say hello. ", 60)}}
	want := 3 + (3 + 300/6) + (3 + 660/6) // routing.PromptTokens: 6 bytes a token, 3 a message and 3 for the reply

	for _, tc := range []struct {
		name     string
		up       upstream
		upstream bool // the upstream reports the prompt's tokens
	}{{"sim", upstream{profile: &sim.Profile{}, price: 1}, true}, {"bare", upstream{url: bare.URL, price: 1}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{}, map[string]upstream{tc.name: tc.up})
			resp, b := f.post(t, "/v1/messages", body, anthropicHeaders...)
			s := readEvents(t, resp, b)
			start := s.data[0]["message"].(map[string]any)["usage"].(map[string]any)
			if s.names[0] != "message_start" || start["input_tokens"] != float64(want) || start["output_tokens"] != float64(0) {
				t.Errorf("message_start usage %v, want input_tokens %d", start, want)
			}
			end := s.data[len(s.data)-2]["usage"].(map[string]any)
			got := int(end["input_tokens"].(float64))
			if s.names[len(s.names)-2] != "message_delta" || got == 0 || (got == want) == tc.upstream || tc.upstream && end["output_tokens"] == float64(0) {
				t.Errorf("message_delta usage %v (the upstream reports the prompt: %v; estimate %d)", end, tc.upstream, want)
			}
		})
	}
}

// A request's log line names its request id, as its answer's headers do,
// and the endpoints API takes a model's alias as the model.
func TestRequestIDIsLoggedAndAliasesNameEndpoints(t *testing.T) {
	var logs lockedBuffer
	f := newRoutedFixture(t, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))},
		routing.Options{Aliases: map[string]string{"acme/old-name": testModel}},
		map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	resp, _ := f.post(t, "/v1/chat/completions", chatBody(false))
	id := resp.Header.Get("Request-Id")
	resp, b := f.get(t, "/api/v1/models/acme/old-name/endpoints")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"id":"`+testModel+`"`) {
		t.Errorf("the endpoints of an alias: status %d: %s", resp.StatusCode, b)
	}
	f.srv.Close() // waits for the handlers, and their log lines
	if id == "" || !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("request id %q not in the log:\n%s", id, logs.String())
	}
}

// A refused request's log line says why, in the words its client got: an
// operator reading the log alone sees what went wrong.
func TestRefusedRequestsLogWhy(t *testing.T) {
	var logs lockedBuffer
	f := newFixture(t, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))},
		map[string]upstream{"a": {profile: &sim.Profile{Mode: sim.ModeDown}, price: 1}})
	bad := chatBody(false)
	bad["temperature"] = 3
	f.post(t, "/v1/chat/completions", bad)
	unknown := chatBody(true)
	unknown["model"] = "acme/nope"
	f.post(t, "/v1/chat/completions", unknown)
	f.post(t, "/v1/chat/completions", chatBody(false)) // its only provider is down
	f.srv.Close()                                      // waits for the handlers, and their log lines
	for _, want := range []string{
		`status=400 outcome=invalid_request took=`, `error="temperature is 3; it must be between 0 and 2"`,
		`status=404 outcome=model_not_found`, `error="model \"acme/nope\" is not served here`,
		`status=502 outcome=provider_overloaded`, `error="every provider of ` + testModel + ` failed (a: overloaded; a: overloaded)"`, // and its second round
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %s:\n%s", want, logs.String())
		}
	}
}

// A request refused at the door for its key is logged with why and from
// where, never with the key it presented.
func TestRefusedKeysAreLogged(t *testing.T) {
	var logs lockedBuffer
	f := newFixture(t, Options{Keys: []string{"sk-gw-right"}, Log: slog.New(slog.NewTextHandler(&logs, nil))},
		map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	f.post(t, "/v1/chat/completions", chatBody(false))
	f.post(t, "/v1/messages", messagesBody(false), "X-Api-Key", "sk-someone-elses-key")
	f.srv.Close() // waits for the handlers, and their log lines
	out := logs.String()
	for _, want := range []string{`msg=refused status=401 path=/v1/chat/completions client=127.0.0.1:`, `error="no API key"`,
		`path=/v1/messages`, `error="an API key the gateway was not given"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sk-someone-elses-key") || strings.Contains(out, "sk-gw-right") {
		t.Errorf("a key is in the log:\n%s", out)
	}
}
