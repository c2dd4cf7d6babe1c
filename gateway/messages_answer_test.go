package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/provider"
	"switchboard/routing"
)

// A whole answer's blocks come in Anthropic's order, with the stop reason
// and the usage in Anthropic's words.
func TestWholeMessageBlocks(t *testing.T) {
	x := &exchange{id: "msg_1"}
	for name, c := range map[string]struct {
		res     routing.Result
		content string // the message's content, as JSON
		stop    string
		usage   string
	}{
		"text": {routing.Result{Content: "Hi.", FinishReason: "stop", Usage: provider.Usage{PromptTokens: 10, CompletionTokens: 2}},
			`[{"type":"text","text":"Hi."}]`, "end_turn", `{"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":0}`},
		"nothing at all": {routing.Result{FinishReason: "length"}, `[{"type":"text","text":""}]`, "max_tokens",
			`{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0}`},
		"thinking, then calls alone": {routing.Result{Reasoning: "Two cities.", Signature: "sig", FinishReason: "tool_calls",
			ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{ "city": "Oslo" }`}, {Index: 1, Name: "now"}},
			Usage:     provider.Usage{PromptTokens: 100, CompletionTokens: 9, CachedTokens: 64}},
			`[{"type":"thinking","thinking":"Two cities.","signature":"sig"},` +
				`{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Oslo"}},` +
				`{"type":"tool_use","id":"toolu_msg_1_1","name":"now","input":{}}]`,
			"tool_use", `{"input_tokens":36,"output_tokens":9,"cache_read_input_tokens":64}`},
		"text and a call, finished as stop": {routing.Result{Content: "Looking.", FinishReason: "stop",
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}},
			`[{"type":"text","text":"Looking."},{"type":"tool_use","id":"c","name":"f","input":{}}]`, "tool_use",
			`{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0}`},
		"arguments that are not an object": {routing.Result{FinishReason: "tool_calls",
			ToolCalls: []provider.ToolCall{{ID: "a", Name: "f", Arguments: `{"city": "Os`}, {Index: 1, ID: "b", Name: "g", Arguments: `[1]`}}},
			`[{"type":"tool_use","id":"a","name":"f","input":{"_raw":"{\"city\": \"Os"}},{"type":"tool_use","id":"b","name":"g","input":{"_raw":"[1]"}}]`,
			"tool_use", `{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0}`},
		"a refusal": {routing.Result{Content: "No.", FinishReason: "content_filter"}, `[{"type":"text","text":"No."}]`, "refusal",
			`{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0}`},
	} {
		b, err := json.Marshal(wholeMessage(x, &c.res))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Content    json.RawMessage `json:"content"`
			StopReason string          `json:"stop_reason"`
			Usage      json.RawMessage `json:"usage"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if string(m.Content) != c.content || m.StopReason != c.stop || string(m.Usage) != c.usage {
			t.Errorf("%s: %s\nwant content %s, stop_reason %s, usage %s", name, b, c.content, c.stop, c.usage)
		}
	}
}

// A stream of deltas becomes Anthropic's events: each block begun at the
// next index, its pieces, and stopped when the next begins; a message the
// official SDK's accumulator builds into the whole answer.
func TestMessageStreamEvents(t *testing.T) {
	calls := func(cs ...provider.ToolCall) routing.Delta { return routing.Delta{ToolCalls: cs} }
	for name, c := range map[string]struct {
		deltas []routing.Delta
		res    routing.Result
		events []string // name and data of each event after message_start
		whole  string   // the accumulated message's content
	}{
		"thinking, text, two calls": {
			deltas: []routing.Delta{{Reasoning: "Two "}, {Reasoning: "cities.", Signature: "sig"}, {Content: "Looking."},
				calls(provider.ToolCall{ID: "c1", Name: "get_weather", Arguments: `{"city":`}),
				calls(provider.ToolCall{Arguments: `"Oslo"}`}, provider.ToolCall{Index: 1, ID: "c2", Name: "now"}),
				{Logprobs: []provider.Logprob{{Token: "x"}}}},
			res: routing.Result{FinishReason: "tool_calls", Usage: provider.Usage{PromptTokens: 20, CompletionTokens: 7, CachedTokens: 5}},
			events: []string{
				`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
				`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two "}}`,
				`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"cities."}}`,
				`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
				`content_block_stop {"type":"content_block_stop","index":0}`,
				`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
				`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Looking."}}`,
				`content_block_stop {"type":"content_block_stop","index":1}`,
				`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"c1","name":"get_weather","input":{}}}`,
				`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
				`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}`,
				`content_block_stop {"type":"content_block_stop","index":2}`,
				`content_block_start {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"c2","name":"now","input":{}}}`,
				`content_block_stop {"type":"content_block_stop","index":3}`,
				`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":15,"output_tokens":7,"cache_read_input_tokens":5}}`,
				`message_stop {"type":"message_stop"}`,
			},
			whole: `[{"type":"thinking","thinking":"Two cities.","signature":"sig"},{"type":"text","text":"Looking."},` +
				`{"type":"tool_use","id":"c1","name":"get_weather","input":{"city":"Oslo"}},{"type":"tool_use","id":"c2","name":"now","input":{}}]`,
		},
		"nothing came": {
			res: routing.Result{FinishReason: "length"},
			events: []string{
				`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
				`content_block_stop {"type":"content_block_stop","index":0}`,
				`message_delta {"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":3,"output_tokens":0,"cache_read_input_tokens":0}}`,
				`message_stop {"type":"message_stop"}`,
			},
			whole: `[{"type":"text","text":""}]`,
		},
		"a call without an id, finished as stop": {
			deltas: []routing.Delta{calls(provider.ToolCall{Name: "f", Arguments: "{}"})},
			res:    routing.Result{FinishReason: "stop"},
			events: []string{
				`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_msg_7_0","name":"f","input":{}}}`,
				`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
				`content_block_stop {"type":"content_block_stop","index":0}`,
				`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":3,"output_tokens":0,"cache_read_input_tokens":0}}`,
				`message_stop {"type":"message_stop"}`,
			},
			whole: `[{"type":"tool_use","id":"toolu_msg_7_0","name":"f","input":{}}]`,
		},
	} {
		prompt := 3
		s := &messageStream{prompt: &prompt}
		x := &exchange{id: "msg_7", model: testModel}
		rec := httptest.NewRecorder()
		out := &sseOut{w: rec, rc: http.NewResponseController(rec), cancel: func() {}}
		out.start("")
		for i, d := range c.deltas {
			wrote := s.delta(out, x, d)
			if want := len(d.Logprobs) == 0; wrote != want {
				t.Errorf("%s: delta %d wrote %v, want %v", name, i, wrote, want)
			}
			x.streamed = x.streamed || wrote
		}
		s.end(out, x, &c.res, nil)
		events := splitEvents(t, rec.Body.String())
		if len(events) == 0 || !strings.HasPrefix(events[0], `message_start {"type":"message_start","message":{"id":"msg_7"`) {
			t.Fatalf("%s: %q", name, events)
		}
		if got := strings.Join(events[1:], "\n"); got != strings.Join(c.events, "\n") {
			t.Errorf("%s: events\n%s\nwant\n%s", name, got, strings.Join(c.events, "\n"))
		}
		if whole := accumulate(t, events); whole != c.whole {
			t.Errorf("%s: accumulated %s\nwant %s", name, whole, c.whole)
		}
	}
}

// splitEvents is a Messages stream's events, each as "name data".
func splitEvents(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, ev := range strings.Split(strings.TrimSpace(body), "\n\n") {
		name, data, ok := strings.Cut(ev, "\n")
		name, nok := strings.CutPrefix(name, "event: ")
		data, dok := strings.CutPrefix(data, "data: ")
		if !ok || !nok || !dok {
			t.Fatalf("not an event: %q", ev)
		}
		out = append(out, name+" "+data)
	}
	return out
}

// accumulate builds the message's content from its events as
// anthropic-sdk-go's Message.Accumulate does (messageutil.go): a block
// begins only at the next index, a delta and a stop address a begun block,
// input_json_delta pieces replace the start's {} and then append, and each
// block must be JSON again when it stops. It returns the content, with
// each tool_use block's input compacted.
func accumulate(t *testing.T, events []string) string {
	t.Helper()
	type block struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text,omitempty"`
		Thinking  *string         `json:"thinking,omitempty"`
		Signature *string         `json:"signature,omitempty"`
		ID        *string         `json:"id,omitempty"`
		Name      *string         `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
	}
	var content []block
	for _, ev := range events {
		_, data, _ := strings.Cut(ev, " ")
		var e struct {
			Type         string `json:"type"`
			Index        int    `json:"index"`
			ContentBlock *block `json:"content_block"`
			Delta        struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				Thinking    string `json:"thinking"`
				Signature   string `json:"signature"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		switch e.Type {
		case "content_block_start":
			if e.Index != len(content) || e.ContentBlock == nil {
				t.Fatalf("%s: a block must begin at index %d", data, len(content))
			}
			content = append(content, *e.ContentBlock)
		case "content_block_delta", "content_block_stop":
			if e.Index < 0 || e.Index >= len(content) {
				t.Fatalf("%s: no block %d begun", data, e.Index)
			}
		}
		if e.Type == "content_block_stop" {
			if b, err := json.Marshal(content[e.Index]); err != nil {
				t.Fatalf("block %d is not JSON when it stops: %v (%s)", e.Index, err, b)
			}
		}
		if e.Type != "content_block_delta" {
			continue
		}
		b := &content[e.Index]
		add := func(to *string, s string) {
			if to == nil {
				t.Fatalf("%s: a %s on a %s block", data, e.Delta.Type, b.Type)
			}
			*to += s
		}
		switch e.Delta.Type {
		case "text_delta":
			add(b.Text, e.Delta.Text)
		case "thinking_delta":
			add(b.Thinking, e.Delta.Thinking)
		case "signature_delta":
			if b.Type != "thinking" {
				t.Fatalf("%s: a signature on a %s block", data, b.Type)
			}
			if b.Signature == nil {
				b.Signature = new(string)
			}
			add(b.Signature, e.Delta.Signature)
		case "input_json_delta":
			if string(b.Input) == "{}" {
				b.Input = nil
			}
			b.Input = append(b.Input, e.Delta.PartialJSON...)
		default:
			t.Fatalf("%s: unknown delta", data)
		}
	}
	out, err := json.Marshal(content)
	if err != nil {
		t.Fatalf("the accumulated message is not JSON: %v", err)
	}
	return string(out)
}
