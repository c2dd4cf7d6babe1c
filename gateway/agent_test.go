package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// recorder is a loopback upstream speaking OpenAI's protocol that answers
// every request with the same chunks (the data of its events) and keeps
// the bodies it was sent.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newRecorder(t *testing.T, chunks ...string) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, body)
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []map[string]any {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]map[string]any(nil), rec.bodies...)
}

// A weather assistant's first turn: it thinks, then calls get_weather
// with arguments that arrive in three pieces.
var thinkThenCall = []string{
	`{"choices":[{"index":0,"delta":{"role":"assistant","reasoning":"The user wants Paris."}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}`,
}

// weatherAsk is a chat request offering get_weather, with extra members.
func weatherAsk(stream bool, extra map[string]any) map[string]any {
	b := map[string]any{"model": testModel, "stream": stream, "max_tokens": 100,
		"messages": []map[string]any{{"role": "user", "content": "What is the weather in Paris?"}},
		"tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// Tool calls come back as OpenAI words them: a stream's deltas with the
// call's index, its id, type and name on the first piece and the
// arguments in pieces, in order, after the thinking; a whole answer's
// message.tool_calls with no content; finish_reason tool_calls both ways.
func TestChatRelaysToolCalls(t *testing.T) {
	up := newRecorder(t, thinkThenCall...)
	f := newFixture(t, Options{}, map[string]upstream{"up": {url: up.srv.URL, price: 1}})

	resp, body := f.post(t, "/v1/chat/completions", weatherAsk(true, nil))
	data, _ := events(t, body)
	var pieces []any
	var order []string // what each chunk carried, in order
	finish := ""
	for _, d := range data {
		if d == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta        map[string]any `json:"delta"`
				FinishReason *string        `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		for _, ch := range c.Choices {
			if r, ok := ch.Delta["reasoning"]; ok {
				order = append(order, fmt.Sprint("reasoning:", r))
			}
			if tc, ok := ch.Delta["tool_calls"].([]any); ok {
				pieces = append(pieces, tc...)
				order = append(order, "tool_calls")
			}
			if _, ok := ch.Delta["content"]; ok {
				order = append(order, "content")
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if resp.StatusCode != 200 || finish != "tool_calls" {
		t.Fatalf("status %d, finish %q: %s", resp.StatusCode, finish, body)
	}
	wantPieces := []any{
		map[string]any{"index": 0.0, "id": "call_7", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": ""}},
		map[string]any{"index": 0.0, "function": map[string]any{"arguments": `{"ci`}},
		map[string]any{"index": 0.0, "function": map[string]any{"arguments": `ty": "Paris"}`}},
	}
	if !reflect.DeepEqual(pieces, wantPieces) {
		t.Errorf("tool-call pieces\n%v\nwant\n%v", pieces, wantPieces)
	}
	if want := "reasoning:The user wants Paris. tool_calls tool_calls tool_calls"; strings.Join(order, " ") != want {
		t.Errorf("the stream carried %q, want %q", strings.Join(order, " "), want)
	}

	// The upstream was offered the tool as OpenAI words it.
	if reqs := up.requests(); len(reqs) != 1 || fmt.Sprint(reqs[0]["tools"]) !=
		"[map[function:map[name:get_weather parameters:map[properties:map[city:map[type:string]] type:object]] type:function]]" {
		t.Errorf("the upstream was asked %v", reqs)
	}

	resp, body = f.post(t, "/v1/chat/completions", weatherAsk(false, nil))
	var whole struct {
		Choices []struct {
			Message      map[string]any `json:"message"`
			FinishReason string         `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &whole); err != nil || resp.StatusCode != 200 || len(whole.Choices) != 1 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := whole.Choices[0].Message
	wantCalls := []any{map[string]any{"id": "call_7", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city": "Paris"}`}}}
	if !reflect.DeepEqual(m["tool_calls"], wantCalls) || m["content"] != nil || m["reasoning"] != "The user wants Paris." || whole.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("whole answer %s\nwant tool_calls %v, no content, the reasoning, finish tool_calls", body, wantCalls)
	}
}

// reasoning.exclude (and include_reasoning false) leave the thinking out
// of both answers; the upstream is asked the same.
func TestChatLeavesOutExcludedReasoning(t *testing.T) {
	up := newRecorder(t, thinkThenCall...)
	f := newFixture(t, Options{}, map[string]upstream{"up": {url: up.srv.URL, price: 1}})
	for _, extra := range []map[string]any{
		{"reasoning": map[string]any{"effort": "high", "exclude": true}},
		{"include_reasoning": false},
	} {
		for _, stream := range []bool{false, true} {
			resp, body := f.post(t, "/v1/chat/completions", weatherAsk(stream, extra))
			if resp.StatusCode != 200 || strings.Contains(string(body), "reasoning") || !strings.Contains(string(body), "get_weather") {
				t.Errorf("%v, stream %v: status %d, want the call without the thinking: %s", extra, stream, resp.StatusCode, body)
			}
		}
	}
}
