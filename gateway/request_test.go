package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"switchboard/sim"
)

// fastFixture is a gateway over one simulated provider that answers at
// once, with o's settings.
func fastFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	return newFixture(t, o, map[string]upstream{"fast": {profile: &sim.Profile{}, price: 1}})
}

// A request the gateway cannot serve is refused with a 400 (or 404) in
// OpenAI's shape that names the field at fault and says what is wrong, so
// that the client's author can fix it without reading our code.
func TestChatRefusesBadInputNamingTheField(t *testing.T) {
	f := fastFixture(t, Options{})
	// body builds a request for the test model from raw JSON members.
	body := func(members string) string {
		return `{"model":"` + testModel + `","max_tokens":8,` + members + `}`
	}
	msgs := func(m string) string { return body(`"messages":[` + m + `]`) }
	hello := `{"role":"user","content":"Say hello."}`
	const invalidRequest = "invalid_request"
	cases := []struct {
		name   string
		body   string
		status int
		typ    string // error type, "" for a success
		param  string // error param, "" for none
		msg    string // a fragment the message must contain
	}{
		// 'y' of yes is the 11th character of line 2: `"stream": yes}`.
		{"broken JSON on line 2", "{\"model\": \"" + testModel + "\",\n\"stream\": yes}",
			400, invalidRequest, "", "line 2, column 11"},
		{"an array, not an object", `[]`, 400, invalidRequest, "", "must be a JSON object, not array"},
		{"null, not an object", `null`, 400, invalidRequest, "", "must be a JSON object, not null"},
		{"a string, not an object", `"hi"`, 400, invalidRequest, "", "must be a JSON object, not string"},
		{"max_tokens a string", `{"model":"` + testModel + `","max_tokens":"10","messages":[` + hello + `]}`,
			400, invalidRequest, "max_tokens", "max_tokens must be a whole number, not string"},
		{"max_tokens a fraction", `{"model":"` + testModel + `","max_tokens":10.5,"messages":[` + hello + `]}`,
			400, invalidRequest, "max_tokens", "max_tokens must be a whole number, not number 10.5"},
		{"max_completion_tokens 0", body(`"max_completion_tokens":0,"messages":[` + hello + `]`),
			400, invalidRequest, "max_completion_tokens", "max_completion_tokens is 0"},
		{"a text part without text", msgs(`{"role":"user","content":[{"type":"text"}]}`),
			400, invalidRequest, "messages[0].content[0]", `messages[0].content[0] is a text part with no "text"`},
		// Counted in the request's own models list, whose first took model's place.
		{"an empty fallback model", `{"models":["` + testModel + `",""],"messages":[` + hello + `]}`,
			400, invalidRequest, "models", "models[1] is empty"},
		{"provider cutoff a word", body(`"provider":{"preferred_max_latency":"fast"},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.preferred_max_latency", `provider.preferred_max_latency: a performance cutoff must be a number (for p50) or {p50, p75, p90, p99} of numbers, not "fast"`},
		{"provider sort a number", body(`"provider":{"sort":5},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.sort", `provider.sort must be "price", "throughput" or "latency"`},
		{"provider only a string", body(`"provider":{"only":"groq"},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.only", "provider.only must be an array, not string"},
		{"provider not an object", body(`"provider":"groq","messages":[` + hello + `]`),
			400, invalidRequest, "provider", "provider must be an object"},
		{"messages a string", body(`"messages":"hi"`), 400, invalidRequest, "messages", "messages must be an array"},
		{"stream a string", body(`"stream":"yes","messages":[` + hello + `]`),
			400, invalidRequest, "stream", "stream must be true or false"},
		{"model missing", `{"messages":[` + hello + `]}`, 400, invalidRequest, "model", "model is missing"},
		{"messages missing", body(`"stream":false`), 400, invalidRequest, "messages", "messages is missing or empty"},
		{"messages empty", msgs(``), 400, invalidRequest, "messages", "messages is missing or empty"},
		{"a message without role", msgs(`{"content":"hi"}`), 400, invalidRequest, "messages[0].role", "messages[0] has no role"},
		{"role function", msgs(`{"role":"function","name":"f","content":"42"}`), 400, invalidRequest, "messages[0].role", `send "role": "tool"`},
		{"role developer", msgs(`{"role":"developer","content":"Be brief."},` + hello), 200, "", "", ""},
		{"content as text parts", msgs(`{"role":"user","content":[{"type":"text","text":"Say "},{"type":"text","text":"hello."}]}`),
			200, "", "", ""},
		{"an image where no endpoint takes images", msgs(`{"role":"user","content":[{"type":"text","text":"What is it?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}`),
			400, invalidRequest, "messages", "the prompt has images, and no provider of " + testModel + " takes them"},
		{"user content null", msgs(`{"role":"user","content":null}`), 400, invalidRequest, "messages[0].content", "messages[0] has no content"},
		// The index is the message's own, not always 0.
		{"second message without content", msgs(hello + `,{"role":"user"}`),
			400, invalidRequest, "messages[1].content", "messages[1] has no content"},
		{"assistant content null", msgs(hello + `,{"role":"assistant","content":null},` + hello), 200, "", "", ""},
		{"n 2", body(`"n":2,"messages":[` + hello + `]`), 400, invalidRequest, "n", "n is 2"},
		{"n 1", body(`"n":1,"messages":[` + hello + `]`), 200, "", "", ""},
		{"functions", body(`"functions":[{"name":"f"}],"messages":[` + hello + `]`),
			400, invalidRequest, "functions", "send each function as a tool"},
		{"a tool not a function", body(`"tools":[{"type":"web_search"}],"messages":[` + hello + `]`),
			400, invalidRequest, "tools[0].type", `tools[0].type is "web_search"`},
		{"a tool's bad name", body(`"tools":[{"type":"function","function":{"name":"get weather"}}],"messages":[` + hello + `]`),
			400, invalidRequest, "tools[0].function.name", "1 to 64 letters"},
		{"tool_choice without tools", body(`"tool_choice":"auto","messages":[` + hello + `]`),
			400, invalidRequest, "tool_choice", "no tools"},
		{"tool_choice naming no tool", body(`"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}},"messages":[` + hello + `]`),
			400, invalidRequest, "tool_choice.function.name", `"g", which is not one of the request's tools`},
		{"reasoning effort", body(`"reasoning":{"effort":"huge"},"messages":[` + hello + `]`),
			400, invalidRequest, "reasoning.effort", `reasoning.effort is "huge"`},
		{"reasoning member", body(`"reasoning":{"budget":5},"messages":[` + hello + `]`),
			400, invalidRequest, "reasoning.budget", "not a member of reasoning"},
		{"a tool message without its call", msgs(`{"role":"tool","content":"22C"}`),
			400, invalidRequest, "messages[0].tool_call_id", "without tool_call_id"},
		{"tool calls on a user message", msgs(`{"role":"user","content":"hi","tool_calls":[]}`),
			400, invalidRequest, "messages[0].tool_calls", "only an assistant's has tool_calls"},
		{"a tool call without id", msgs(hello + `,{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}`),
			400, invalidRequest, "messages[1].tool_calls[0].id", "has no id"},
		{"an image not a URL", msgs(`{"role":"user","content":[{"type":"image_url","image_url":{"url":"/tmp/cat.png"}}]}`),
			400, invalidRequest, "messages[0].content[0].image_url.url", "an https URL or a data URL"},
		{"an image of a type no upstream takes", msgs(`{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}`),
			400, invalidRequest, "messages[0].content[0].image_url.url", `"image/tiff"`},
		{"an audio part", msgs(`{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}`),
			400, invalidRequest, "messages[0].content[0]", `is of type "input_audio"`},
		{"tools null", body(`"tools":null,"messages":[` + hello + `]`), 200, "", "", ""},
		{"max_tokens 0", `{"model":"` + testModel + `","max_tokens":0,"messages":[` + hello + `]}`,
			400, invalidRequest, "max_tokens", "max_tokens is 0; it must be at least 1"},
		{"temperature 3", body(`"temperature":3,"messages":[` + hello + `]`),
			400, invalidRequest, "temperature", "temperature is 3; it must be between 0 and 2"},
		{"provider sort fastest", body(`"provider":{"sort":"fastest"},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.sort", `provider.sort: "fastest" is not a sort; use "price", "throughput" or "latency"`},
		{"provider data_collection maybe", body(`"provider":{"data_collection":"maybe"},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.data_collection", `provider.data_collection: "maybe" is not a policy; use "allow" or "deny"`},
		{"provider quantization int3", body(`"provider":{"quantizations":["int3"]},"messages":[` + hello + `]`),
			400, invalidRequest, "provider.quantizations", `provider.quantizations: "int3" is not a quantization`},
		{"route weird", body(`"route":"weird","messages":[` + hello + `]`), 400, invalidRequest, "route", `route is "weird"`},
		// The router's answer lists the models that are served.
		{"unknown model", `{"model":"acme/none","messages":[` + hello + `]}`,
			404, "model_not_found", "", `"acme/none" is not served here; models: ` + testModel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := f.post(t, "/v1/chat/completions", c.body)
			if c.typ == "" {
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
				}
				return
			}
			e := decodeError(t, resp, b, c.status)
			if e.Error.Type != c.typ {
				t.Errorf("type %q, want %q", e.Error.Type, c.typ)
			}
			switch {
			case c.param == "" && e.Error.Param != nil:
				t.Errorf("param %q, want none", *e.Error.Param)
			case c.param != "" && (e.Error.Param == nil || *e.Error.Param != c.param):
				t.Errorf("param %s, want %q: %s", show(e.Error.Param), c.param, b)
			}
			if !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("message %q does not say %q", e.Error.Message, c.msg)
			}
		})
	}
}

// OpenRouter's models list stands in for model: its first entry is asked.
func TestChatWithoutModelServesTheFirstOfModels(t *testing.T) {
	f := fastFixture(t, Options{})
	req := chatBody(false)
	delete(req, "model")
	req["models"] = []string{testModel, "acme/none"}
	// Nothing asked for is dropped silently: an unknown model in the list
	// is the caller's mistake, named.
	resp, b := f.post(t, "/v1/chat/completions", req)
	if e := decodeError(t, resp, b, http.StatusNotFound); !strings.Contains(e.Error.Message, `"acme/none" is not served here`) {
		t.Fatalf("an unknown fallback model: %s", b)
	}
	req["models"] = []string{testModel}
	resp, b = f.post(t, "/v1/chat/completions", req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, b)
	}
	var c struct {
		Model    string `json:"model"`
		Provider string `json:"provider"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Model != testModel || c.Provider != "fast" {
		t.Errorf("served by %q of %q, want fast of %q", c.Provider, c.Model, testModel)
	}
}

// A body over MaxBody is a 413 that says the limit; one at the limit is
// served.
func TestChatRefusesABodyOverMaxBody(t *testing.T) {
	const limit = 1024
	f := fastFixture(t, Options{MaxBody: limit})
	sized := func(n int) string {
		b := func(pad int) string {
			return fmt.Sprintf(`{"model":%q,"max_tokens":8,"messages":[{"role":"user","content":"%s"}]}`,
				testModel, strings.Repeat("a", pad))
		}
		return b(n - len(b(0)))
	}
	if resp, b := f.post(t, "/v1/chat/completions", sized(limit)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a body of exactly %d bytes: status %d, want 200: %s", limit, resp.StatusCode, b)
	}
	resp, b := f.post(t, "/v1/chat/completions", sized(limit+1))
	e := decodeError(t, resp, b, http.StatusRequestEntityTooLarge)
	if e.Error.Type != "invalid_request" || !strings.Contains(e.Error.Message, "over 1024 bytes") {
		t.Errorf("error %+v; want invalid_request saying the body is over 1024 bytes", e.Error)
	}
}

// Wrong methods and unknown paths get JSON errors a client can show, not
// net/http's plain text.
func TestWrongMethodsAndPathsGetJSONErrors(t *testing.T) {
	f := fastFixture(t, Options{})
	resp, b := f.get(t, "/v1/chat/completions")
	decodeError(t, resp, b, http.StatusMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); allow != http.MethodPost {
		t.Errorf("Allow %q, want POST", allow)
	}

	resp, b = f.get(t, "/v1/no-such-thing")
	if e := decodeError(t, resp, b, http.StatusNotFound); !strings.Contains(e.Error.Message, "/v1/no-such-thing") {
		t.Errorf("message %q does not name the path", e.Error.Message)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, f.srv.URL+"/v1/models", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := f.do(t, req); resp.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD /v1/models: status %d with %d bytes of body, want 200 and none", resp.StatusCode, len(b))
	}
}

// With keys, the API and the metrics want one of them; health checks stay
// open for load balancers, and no error text gives a key away.
func TestKeysGuardTheAPIAndMetricsButNotHealth(t *testing.T) {
	f := fastFixture(t, Options{Keys: []string{"k1", "k2"}})
	for _, c := range []struct {
		name   string
		header []string
	}{
		{"no key", nil},
		{"unknown key", []string{"Authorization", "Bearer k3"}},
		{"key without Bearer", []string{"Authorization", "k1"}},
		{"key after another scheme", []string{"Authorization", "Basic k1"}},
	} {
		resp, b := f.post(t, "/v1/chat/completions", chatBody(false), c.header...)
		e := decodeError(t, resp, b, http.StatusUnauthorized)
		if e.Error.Type != "authentication" {
			t.Errorf("%s: type %q, want authentication", c.name, e.Error.Type)
		}
		if strings.Contains(string(b), "k1") || strings.Contains(string(b), "k2") {
			t.Errorf("%s: the answer gives a key away: %s", c.name, b)
		}
	}
	resp, b := f.get(t, "/v1/models")
	decodeError(t, resp, b, http.StatusUnauthorized)

	// The scheme's name is case-insensitive (RFC 7235).
	for _, auth := range []string{"Bearer k2", "bearer k1", "BEARER k1", "Bearer   k2 "} {
		if resp, b := f.post(t, "/v1/chat/completions", chatBody(false), "Authorization", auth); resp.StatusCode != http.StatusOK {
			t.Errorf("Authorization %q: status %d, want 200: %s", auth, resp.StatusCode, b)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, b := f.get(t, path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a key: status %d, want 200: %s", path, resp.StatusCode, b)
		}
	}
	resp, b = f.get(t, "/metrics")
	decodeError(t, resp, b, http.StatusUnauthorized)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer k1")
	if resp, b := f.do(t, req); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "switchboard_") {
		t.Errorf("GET /metrics with a key: status %d: %.200s", resp.StatusCode, b)
	}
}

// metrics_public leaves /metrics open for a Prometheus without a key; the
// API still wants one.
func TestMetricsPublicLeavesOnlyMetricsOpen(t *testing.T) {
	f := fastFixture(t, Options{Keys: []string{"k1"}, MetricsPublic: true})
	if resp, b := f.get(t, "/metrics"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics without a key: status %d, want 200: %.200s", resp.StatusCode, b)
	}
	resp, b := f.get(t, "/v1/models")
	decodeError(t, resp, b, http.StatusUnauthorized)
}

// capturingUpstream is an OpenAI-compatible server that hands over every
// request body it gets and answers "Hello." as a valid SSE stream.
func capturingUpstream(t *testing.T) (*httptest.Server, <-chan map[string]json.RawMessage) {
	t.Helper()
	got := make(chan map[string]json.RawMessage, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("the upstream request is not a JSON object: %v", err)
		}
		select {
		case got <- body:
		default:
			t.Errorf("more upstream requests than the test expects")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"up-1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello."},"finish_reason":null}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"up-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		fmt.Fprint(w, `data: {"id":"up-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// sendCaptured posts req through a gateway over a capturing upstream and
// returns the body the upstream got.
func sendCaptured(t *testing.T, req any) map[string]json.RawMessage {
	t.Helper()
	up, got := capturingUpstream(t)
	f := newFixture(t, Options{}, map[string]upstream{"capture": {url: up.URL, price: 1}})
	resp, b := f.post(t, "/v1/chat/completions", req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, b)
	}
	return received(t, got)
}

// received is the body the capturing upstream got last; the request has
// been answered, so it is there or was never sent.
func received(t *testing.T, got <-chan map[string]json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	select {
	case body := <-got:
		return body
	default:
		t.Fatal("the upstream got no request")
		return nil
	}
}

// Parameters the gateway does not read itself reach the upstream with
// their values; OpenRouter's routing fields, which only mean something to
// the gateway, do not.
func TestChatPassesUnreadParametersToTheUpstream(t *testing.T) {
	req := chatBody(false)
	passed := map[string]any{
		"top_p":           0.9,
		"stop":            []string{"\n\n", "END"},
		"seed":            42,
		"response_format": map[string]any{"type": "json_object"},
		"min_p":           0.05, // a vendor's own, unknown to OpenAI
	}
	for k, v := range passed {
		req[k] = v
	}
	req["provider"] = map[string]any{"sort": "price"}
	req["models"] = []string{testModel}
	req["route"] = "fallback"
	req["n"] = 1
	got := sendCaptured(t, req)
	for k, v := range passed {
		raw, ok := got[k]
		if !ok {
			t.Errorf("%s did not reach the upstream", k)
			continue
		}
		if !sameJSON(t, raw, v) {
			t.Errorf("%s reached the upstream as %s, want %v", k, raw, v)
		}
	}
	for _, k := range []string{"provider", "models", "route", "n"} {
		if raw, ok := got[k]; ok {
			t.Errorf("%s reached the upstream (%s); it is the gateway's own", k, raw)
		}
	}
}

// sameJSON reports whether raw decodes to what v encodes to.
func sameJSON(t *testing.T, raw json.RawMessage, v any) bool {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}

// max_completion_tokens is OpenAI's newer name for max_tokens, and wins
// when both are sent; the upstream gets it as max_tokens, which every
// OpenAI-compatible server reads.
func TestChatMaxCompletionTokensWinsOverMaxTokens(t *testing.T) {
	req := chatBody(false)
	req["max_tokens"] = 100
	req["max_completion_tokens"] = 7
	got := sendCaptured(t, req)
	if !sameJSON(t, got["max_tokens"], 7) {
		t.Errorf("the upstream got max_tokens %s, want 7", got["max_tokens"])
	}
	if raw, ok := got["max_completion_tokens"]; ok {
		t.Errorf("the upstream also got max_completion_tokens %s", raw)
	}
}

// Text parts are sent upstream as one string, and developer messages as
// system ones, which every upstream knows.
func TestChatSendsMessagesUpstreamAsPlainText(t *testing.T) {
	req := chatBody(false)
	req["messages"] = []map[string]any{
		{"role": "developer", "content": "Be brief."},
		{"role": "user", "content": []map[string]any{{"type": "text", "text": "Say "}, {"type": "text", "text": "hello."}}},
	}
	got := sendCaptured(t, req)
	want := []map[string]string{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}}
	if !sameJSON(t, got["messages"], want) {
		t.Errorf("the upstream got messages %s, want %v", got["messages"], want)
	}
}

// An error that repeats what the client sent repeats at most about a
// hundred bytes of it, marked as cut: a bad value of half a megabyte (or
// 3 MB: the size does not matter) is a short answer, whichever check
// refuses it (the gateway's, the router's).
func TestErrorsClipWhatTheyRepeat(t *testing.T) {
	f := fastFixture(t, Options{})
	huge := strings.Repeat("x", 512<<10)
	hello := `"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct{ name, path, body string }{
		{"sort", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"sort":"` + huge + `"}}`},
		{"sort object", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"sort":[` + strings.Repeat("1,", 256<<10) + `1]}}`},
		{"a provider member", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"` + huge + `":1}}`},
		{"a cutoff member", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"preferred_max_latency":{"` + huge + `":1}}}`},
		{"a price", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"max_price":{"prompt":"` + huge + `"}}}`},
		{"a quantization", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"quantizations":["` + huge + `"]}}`},
		{"a provider name", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"provider":{"only":["` + huge + `"]}}`},
		{"the model", "/v1/chat/completions", `{"model":"` + huge + `",` + hello + `}`},
		{"a role", "/v1/chat/completions", `{"model":"` + testModel + `","messages":[{"role":"` + huge + `","content":"hi"}]}`},
		{"a part type", "/v1/chat/completions", `{"model":"` + testModel + `","messages":[{"role":"user","content":[{"type":"` + huge + `"}]}]}`},
		{"route", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"route":"` + huge + `"}`},
		{"a number", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"max_tokens":1` + strings.Repeat("0", 512<<10) + `}`},
		{"a metadata key", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"metadata":{"` + huge + `":"v"}}`},
		{"a usage member", "/v1/chat/completions", `{"model":"` + testModel + `",` + hello + `,"usage":{"` + huge + `":true}}`},
		{"a Messages member", "/v1/messages", `{"model":"` + testModel + `","max_tokens":5,` + hello + `,"` + huge + `":1}`},
		{"a Messages role", "/v1/messages", `{"model":"` + testModel + `","max_tokens":5,"messages":[{"role":"` + huge + `","content":"hi"}]}`},
		{"a Messages metadata member", "/v1/messages", `{"model":"` + testModel + `","max_tokens":5,` + hello + `,"metadata":{"` + huge + `":"v"}}`},
		{"the path", "/v1/" + strings.Repeat("p", 500<<10), `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := f.post(t, c.path, c.body)
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Fatalf("status %d: %.300s", resp.StatusCode, b)
			}
			if len(b) > 1024 || !strings.Contains(string(b), "…") {
				t.Errorf("a %d-byte answer, the cut unmarked: %.400s", len(b), b)
			}
		})
	}
}

// Provider cutoffs are numbers of 0 or more at OpenRouter's percentiles;
// anything else is refused naming the member, on both APIs.
func TestProviderCutoffsAreChecked(t *testing.T) {
	f := fastFixture(t, Options{})
	for _, c := range []struct{ provider, param, msg string }{
		{`{"preferred_max_latency":-3}`, "provider.preferred_max_latency.p50", "-3 is not a cutoff; a cutoff is 0 or more"},
		{`{"preferred_min_throughput":{"p90":-1}}`, "provider.preferred_min_throughput.p90", "-1 is not a cutoff"},
		{`{"preferred_max_latency":{"p95":2}}`, "provider.preferred_max_latency.p95", "Its fields are p50, p75, p90, p99"},
		{`{"preferred_min_throughput":{"p50":"fast"}}`, "provider.preferred_min_throughput.p50", "must be a number"},
	} {
		body := `{"model":"` + testModel + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"provider":` + c.provider + `}`
		resp, b := f.post(t, "/v1/chat/completions", body)
		e := decodeError(t, resp, b, http.StatusBadRequest)
		if e.Error.Param == nil || *e.Error.Param != c.param || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s: param %s, message %q; want %s and %q", c.provider, show(e.Error.Param), e.Error.Message, c.param, c.msg)
		}
		resp, b = f.post(t, "/v1/messages", body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), c.msg) {
			t.Errorf("%s on /v1/messages: status %d: %s", c.provider, resp.StatusCode, b)
		}
	}
	// 0 is a cutoff every endpoint meets (throughput) or none does (latency): allowed.
	body := `{"model":"` + testModel + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"provider":{"preferred_min_throughput":0}}`
	if resp, b := f.post(t, "/v1/chat/completions", body); resp.StatusCode != http.StatusOK {
		t.Errorf("a zero cutoff: status %d: %s", resp.StatusCode, b)
	}
}

// metadata of the wrong type is named as what it is, on both APIs.
func TestMetadataOfTheWrongTypeIsNamed(t *testing.T) {
	f := fastFixture(t, Options{})
	for _, c := range []struct{ value, kind string }{{`[]`, "not an array"}, {`"x"`, "not a string"}, {`5`, "not a number"}} {
		for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
			body := `{"model":"` + testModel + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":` + c.value + `}`
			resp, b := f.post(t, path, body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "metadata must be an object") || !strings.Contains(string(b), c.kind) {
				t.Errorf("%s metadata %s: status %d: %s", path, c.value, resp.StatusCode, b)
			}
		}
	}
}
