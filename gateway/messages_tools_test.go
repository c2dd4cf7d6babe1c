package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// toolUpstream is an OpenAI-protocol upstream that calls get_weather
// (its arguments streamed in two pieces) unless the conversation ends
// with a tool's result, which it answers in text. It keeps every request
// it was sent.
type toolUpstream struct {
	mu       sync.Mutex
	requests []map[string]json.RawMessage
}

func (u *toolUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.requests = append(u.requests, body)
	u.mu.Unlock()
	var msgs []struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(body["messages"], &msgs)
	chunks := []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_w1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	if len(msgs) > 0 && msgs[len(msgs)-1].Role == "tool" {
		chunks = []string{
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":"It is 4°C in Oslo."},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		}
	}
	chunks = append(chunks, `{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":16}}}`)
	w.Header().Set("Content-Type", "text/event-stream")
	for _, c := range chunks {
		fmt.Fprintf(w, "data: %s\n\n", c)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// sent is the upstream's requests so far.
func (u *toolUpstream) sent() []map[string]json.RawMessage {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), u.requests...)
}

// A Messages request with tools, through the gateway to an OpenAI
// upstream that calls one: the call comes back as a tool_use block with
// stop_reason tool_use, whole and streamed; the next turn's tool_result
// reaches the upstream as a tool message after the assistant's turn.
func TestMessagesToolUseEndToEnd(t *testing.T) {
	up := &toolUpstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	f := newFixture(t, Options{}, map[string]upstream{"tooly": {url: srv.URL, price: 1}})
	tools := []map[string]any{{"name": "get_weather", "description": "The weather in a city.",
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
	ask := map[string]any{"role": "user", "content": "Weather in Oslo?"}
	turn := func(stream bool, msgs ...map[string]any) map[string]any {
		return map[string]any{"model": testModel, "stream": stream, "max_tokens": 64, "tools": tools,
			"tool_choice": map[string]any{"type": "auto"}, "messages": msgs}
	}

	resp, body := f.post(t, "/v1/messages", turn(false, ask))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a anthropicAnswer
	strictDecode(t, body, &a)
	if len(a.Content) != 1 || a.Content[0].Type != "tool_use" || *a.Content[0].ID != "call_w1" || *a.Content[0].Name != "get_weather" ||
		string(a.Content[0].Input) != `{"city":"Oslo"}` || a.StopReason == nil || *a.StopReason != "tool_use" ||
		a.Usage.InputTokens != 24 || a.Usage.CacheReadInputTokens != 16 || a.Usage.OutputTokens != 12 {
		t.Errorf("whole answer: %s", body)
	}

	resp, body = f.post(t, "/v1/messages", turn(true, ask))
	readEvents(t, resp, body) // a stream of Anthropic's events
	events := splitEvents(t, string(body))
	whole := accumulate(t, events)
	if whole != `[{"type":"tool_use","id":"call_w1","name":"get_weather","input":{"city":"Oslo"}}]` ||
		!strings.Contains(events[len(events)-2], `"stop_reason":"tool_use"`) {
		t.Errorf("stream: %s\naccumulated %s", body, whole)
	}

	answer := map[string]any{"role": "assistant", "content": []map[string]any{
		{"type": "tool_use", "id": "call_w1", "name": "get_weather", "input": map[string]any{"city": "Oslo"}}}}
	result := map[string]any{"role": "user", "content": []map[string]any{
		{"type": "tool_result", "tool_use_id": "call_w1", "content": "4°C, clear"}}}
	resp, body = f.post(t, "/v1/messages", turn(false, ask, answer, result))
	strictDecode(t, body, &a)
	if resp.StatusCode != http.StatusOK || len(a.Content) != 1 || a.Content[0].Type != "text" || *a.Content[0].Text != "It is 4°C in Oslo." ||
		*a.StopReason != "end_turn" {
		t.Errorf("second turn: %s", body)
	}

	sent := up.sent()
	if len(sent) != 3 {
		t.Fatalf("the upstream got %d requests, want 3", len(sent))
	}
	// The wire carries a message's role and content on this branch (the
	// OpenAI client words tool calls and call ids as the provider work
	// lands): the tool's result is a tool message after the assistant's.
	var msgs []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal(sent[2]["messages"], &msgs); err != nil || len(msgs) != 3 || msgs[0].Role != "user" ||
		msgs[1].Role != "assistant" || msgs[2].Role != "tool" || msgs[2].Content != "4°C, clear" {
		t.Errorf("second turn's upstream messages: %s (%v)", sent[2]["messages"], err)
	}
}
