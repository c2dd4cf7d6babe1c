package sim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// weatherSchema asks for one of each kind of value argsFor builds.
const weatherSchema = `{"type":"object","properties":{
	"city":{"type":"string"},"days":{"type":"integer"},"unit":{"enum":["celsius","fahrenheit"]},
	"alerts":{"type":"boolean"},"where":{"type":"object","properties":{"lat":{"type":"number"},"lon":{"type":"number"}},"required":["lat"]},
	"tags":{"type":"array","items":{"type":"string"}},"note":{"type":"string"}},
	"required":["city","days","unit","alerts","where","tags"]}`

// weatherArgs is what the simulator calls the weather tool with, asked
// "Weather in Paris please": the prompt's words in the order strings are
// asked for, the name it holds first, and note, which is not required,
// left out.
var weatherArgs = map[string]any{"city": "Paris", "days": 3.0, "unit": "celsius", "alerts": true,
	"where": map[string]any{"lat": 1.5}, "tags": []any{"Weather"}}

const weatherPrompt = "Weather in Paris please"

// withOpenAITools is an OpenAI request offering get_weather and noop.
func withOpenAITools(stream bool) map[string]any {
	body := chatBody(weatherPrompt, stream)
	body["tools"] = []any{
		map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather",
			"parameters": json.RawMessage(weatherSchema), "strict": true}},
		map[string]any{"type": "function", "function": map[string]any{"name": "noop", "parameters": json.RawMessage(`{"type":"object","properties":{}}`)}},
	}
	return body
}

// withAnthropicTools is the same request in Anthropic's words.
func withAnthropicTools(stream bool) map[string]any {
	body := messagesBody(weatherPrompt, stream)
	body["tools"] = []any{
		map[string]any{"name": "get_weather", "description": "Weather", "input_schema": json.RawMessage(weatherSchema)},
		map[string]any{"name": "noop", "input_schema": json.RawMessage(`{"type":"object","properties":{}}`)},
	}
	return body
}

func decodeArgs(t *testing.T, args string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(args), &m); err != nil {
		t.Fatalf("arguments %q are not a JSON object: %v", args, err)
	}
	return m
}

// With tools offered and the user's turn last, the answer is one call of
// the first tool, whole or streamed in pieces, the same each time.
func TestOpenAIToolCall(t *testing.T) {
	s := startServer(t, fastProfile("openai"), Options{})
	c := newClient(t)

	whole := complete(t, c, s, withOpenAITools(false))
	ch := whole.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Content != "" || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("choice = %+v, want one tool call and finish_reason tool_calls", ch)
	}
	call := ch.Message.ToolCalls[0]
	if !strings.HasPrefix(call.ID, "call_") || call.Type != "function" || call.Function.Name != "get_weather" ||
		call.Index != nil || call.Function.Arguments == nil {
		t.Fatalf("call = %+v, want a call_ id, type function, get_weather and no index", call)
	}
	args := *call.Function.Arguments
	if got := decodeArgs(t, args); !reflect.DeepEqual(got, weatherArgs) {
		t.Errorf("arguments = %v, want %v", got, weatherArgs)
	}
	if n := len(fragments(args, argFragment)); whole.Usage.CompletionTokens != n {
		t.Errorf("completion_tokens = %d, want the call's %d tokens", whole.Usage.CompletionTokens, n)
	}

	chunks := parseChunks(t, readSSE(openAIAPI.open(t.Context(), t, c, s, withOpenAITools(true)).Body).data)
	first := chunks[0].Choices[0].Delta
	if first.Role != "assistant" || first.Content != nil || len(first.ToolCalls) != 1 {
		t.Fatalf("first delta = %+v, want the role and the call's opening", first)
	}
	open := first.ToolCalls[0]
	if open.Index == nil || *open.Index != 0 || open.ID != call.ID || open.Type != "function" ||
		open.Function.Name != "get_weather" || open.Function.Arguments == nil || *open.Function.Arguments != "" {
		t.Errorf("opening = %+v, want index 0, id %s, type, name and empty arguments", open, call.ID)
	}
	var pieces []string
	for _, ck := range chunks[1:] {
		for _, c := range ck.Choices {
			for _, tc := range c.Delta.ToolCalls {
				if tc.Index == nil || *tc.Index != 0 || tc.ID != "" || tc.Function.Name != "" || tc.Function.Arguments == nil {
					t.Errorf("argument delta = %+v, want index 0 and arguments alone", tc)
					continue
				}
				pieces = append(pieces, *tc.Function.Arguments)
			}
		}
	}
	if len(pieces) < 3 || strings.Join(pieces, "") != args {
		t.Errorf("argument pieces %q, want several making %s", pieces, args)
	}
	if f := finishReasons(chunks); !slices.Equal(f, []string{"tool_calls"}) {
		t.Errorf("finish reasons = %q, want tool_calls", f)
	}

	named := withOpenAITools(false)
	named["tool_choice"] = map[string]any{"type": "function", "function": map[string]any{"name": "noop"}}
	if tc := complete(t, c, s, named).Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "noop" ||
		*tc[0].Function.Arguments != "{}" {
		t.Errorf("calls with tool_choice noop = %+v, want noop({})", tc)
	}
	none := withOpenAITools(false)
	none["tool_choice"] = "none"
	if ch := complete(t, c, s, none).Choices[0]; len(ch.Message.ToolCalls) != 0 || ch.FinishReason != "stop" || ch.Message.Content == "" {
		t.Errorf("with tool_choice none: %+v, want text", ch)
	}
}

func TestAnthropicToolCall(t *testing.T) {
	s := startServer(t, fastProfile("anthropic"), Options{})
	c := newClient(t)

	whole := createMessage(t, c, s, withAnthropicTools(false))
	if len(whole.Content) != 1 || whole.StopReason == nil || *whole.StopReason != "tool_use" {
		t.Fatalf("message = %+v, want one block and stop_reason tool_use", whole)
	}
	use := whole.Content[0]
	if use.Type != "tool_use" || !strings.HasPrefix(use.ID, "toolu_") || use.Name != "get_weather" {
		t.Fatalf("block = %+v, want a tool_use of get_weather", use)
	}
	if got := decodeArgs(t, string(use.Input)); !reflect.DeepEqual(got, weatherArgs) {
		t.Errorf("input = %v, want %v", got, weatherArgs)
	}
	// The same conversation in the other API gets the same call.
	openAICall := complete(t, c, s, withOpenAITools(false)).Choices[0].Message.ToolCalls[0]
	if strings.TrimPrefix(use.ID, "toolu_") != strings.TrimPrefix(openAICall.ID, "call_") {
		t.Errorf("ids %s and %s differ past their prefixes", use.ID, openAICall.ID)
	}

	evs := parseEvents(t, readSSE(anthropicAPI.open(t.Context(), t, c, s, withAnthropicTools(true)).Body))
	want := []string{"message_start", "content_block_start 0 tool_use", "content_block_delta 0 input_json_delta+",
		"content_block_stop 0", "message_delta", "message_stop"}
	if shape := eventShape(evs); !slices.Equal(shape, want) {
		t.Fatalf("events:\n%q\nwant\n%q", shape, want)
	}
	if b := evs[1].ContentBlock; b.ID != use.ID || b.Name != "get_weather" || string(b.Input) != "{}" {
		t.Errorf("content_block_start = %+v, want id %s, the name and an empty input", b, use.ID)
	}
	var input string
	deltas := 0
	for _, e := range evs {
		if e.Delta != nil && e.Delta.PartialJSON != nil {
			input += *e.Delta.PartialJSON
			deltas++
		}
	}
	if deltas < 3 || input != string(use.Input) {
		t.Errorf("%d input_json_delta events make %s, want several making %s", deltas, input, use.Input)
	}
	if st := evs[len(evs)-2]; *st.Delta.StopReason != "tool_use" || st.Usage.OutputTokens != deltas {
		t.Errorf("message_delta = %+v, want stop_reason tool_use and %d output tokens", st, deltas)
	}

	forced := withAnthropicTools(false)
	forced["tool_choice"] = map[string]any{"type": "tool", "name": "noop", "disable_parallel_tool_use": true}
	if m := createMessage(t, c, s, forced); m.Content[0].Name != "noop" || string(m.Content[0].Input) != "{}" {
		t.Errorf("with tool_choice noop: %+v, want noop({})", m.Content)
	}
	none := withAnthropicTools(false)
	none["tool_choice"] = map[string]any{"type": "none"}
	if m := createMessage(t, c, s, none); m.Content[0].Type != "text" || *m.StopReason != "end_turn" {
		t.Errorf("with tool_choice none: %+v, want text", m.Content)
	}
}

// After the tool's result, the answer is text that quotes it.
func TestToolResultAnswer(t *testing.T) {
	s := startServer(t, fastProfile("both"), Options{})
	c := newClient(t)
	const want = "The get_weather tool returned: Sunny, 21 degrees."

	body := withOpenAITools(false)
	body["messages"] = []any{
		map[string]any{"role": "user", "content": weatherPrompt},
		map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}},
		map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees"},
	}
	got := complete(t, c, s, body)
	if ch := got.Choices[0]; !strings.HasPrefix(ch.Message.Content, want+" ") || ch.FinishReason != "stop" || len(ch.Message.ToolCalls) != 0 {
		t.Errorf("answer = %+v, want text starting %q", ch, want)
	}
	if again := complete(t, c, s, body); again.Choices[0].Message.Content != got.Choices[0].Message.Content {
		t.Errorf("the same conversation got %q, then %q", got.Choices[0].Message.Content, again.Choices[0].Message.Content)
	}

	ab := withAnthropicTools(true)
	ab["messages"] = []any{
		map[string]any{"role": "user", "content": weatherPrompt},
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
			"input": map[string]any{"city": "Paris"}}}},
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1",
			"content": []any{map[string]any{"type": "text", "text": "Sunny, 21 degrees"}}}}},
	}
	if h := streamOf(t, anthropicAPI, c, s, ab); !strings.HasPrefix(h.text, want+" ") || !h.finished {
		t.Errorf("streamed answer %q (finished %v), want one starting %q", h.text, h.finished, want)
	}
}

// A cut stream may end in the middle of a call's arguments.
func TestToolCallCut(t *testing.T) {
	p := fastProfile("cut")
	p.Mode = ModeCut
	s := startServer(t, p, Options{})
	c := newClient(t)
	args := `{"alerts":true,"city":"Paris","days":3,"tags":["Weather"],"unit":"celsius","where":{"lat":1.5}}`
	got := readSSE(openAIAPI.open(t.Context(), t, c, s, withOpenAITools(true)).Body)
	var sent string
	for _, ck := range parseChunks(t, got.data) {
		for _, tc := range ck.Choices[0].Delta.ToolCalls {
			sent += *tc.Function.Arguments
		}
	}
	if got.err == nil || sent == "" || len(sent) >= len(args) || !strings.HasPrefix(args, sent) {
		t.Errorf("cut stream sent arguments %q (read error %v), want a start of %s and a broken stream", sent, got.err, args)
	}
}

func TestArgsForSchemas(t *testing.T) {
	words := []string{"alpha", "beta"}
	tests := []struct {
		name, schema string
		want         any
	}{
		{"none required: all", `{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}}}`,
			map[string]any{"a": "alpha", "b": 3.0}},
		{"nullable type", `{"type":"object","properties":{"x":{"type":["null","number"]}}}`, map[string]any{"x": 1.5}},
		{"anyOf and const", `{"type":"object","properties":{"x":{"anyOf":[{"const":"k"},{"type":"integer"}]}}}`,
			map[string]any{"x": "k"}},
		{"array of objects", `{"properties":{"xs":{"items":{"type":"object","properties":{"y":{"type":"boolean"}}}}}}`,
			map[string]any{"xs": []any{map[string]any{"y": true}}}},
		{"words run out", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"}}}`,
			map[string]any{"a": "alpha", "b": "beta", "c": "c"}},
		{"no schema", ``, map[string]any{}},
		{"not an object", `{"type":"string"}`, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			if err := json.Unmarshal(mustJSON(argsFor(json.RawMessage(tt.schema), words)), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args = %v, want %v", got, tt.want)
			}
		})
	}
}

// Calls and results that do not pair up, tools without a schema or of
// another kind, and a tool_choice naming no offered tool are refused, in
// each API's words.
func TestToolRejections(t *testing.T) {
	s := startServer(t, fastProfile("strict"), Options{})
	c := newClient(t)
	user := map[string]any{"role": "user", "content": "hi"}
	call := func(ids ...string) map[string]any {
		var calls []any
		for _, id := range ids {
			calls = append(calls, map[string]any{"id": id, "type": "function", "function": map[string]any{"name": "get_weather", "arguments": "{}"}})
		}
		return map[string]any{"role": "assistant", "content": nil, "tool_calls": calls}
	}
	result := func(id string) map[string]any {
		return map[string]any{"role": "tool", "tool_call_id": id, "content": "ok"}
	}
	openAI := []struct {
		name   string
		change func(map[string]any)
		param  string
		code   string
		says   string
	}{
		{"tool message with no call before it", func(b map[string]any) { b["messages"] = []any{user, result("call_1")} },
			"messages.[1].role", "", "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"},
		{"tool message answering another id", func(b map[string]any) {
			b["messages"] = []any{user, call("call_1"), result("call_1"), result("call_2")}
		}, "messages.[3].role", "", "must be a response to a preceeding message with 'tool_calls'"},
		{"call left unanswered", func(b map[string]any) {
			b["messages"] = []any{user, call("call_1", "call_2"), result("call_1"), user}
		}, "messages.[1].role", "", "The following tool_call_ids did not have response messages: call_2"},
		{"tool of another type", func(b map[string]any) { b["tools"] = []any{map[string]any{"type": "retrieval"}} },
			"tools[0].type", "invalid_value", "Supported values are: 'function'"},
		{"tool without function", func(b map[string]any) { b["tools"] = []any{map[string]any{"type": "function"}} },
			"tools[0].function", "missing_required_parameter", "Missing required parameter: 'tools[0].function'."},
		{"tool_choice naming no tool", func(b map[string]any) {
			b["tool_choice"] = map[string]any{"type": "function", "function": map[string]any{"name": "nope"}}
		}, "tool_choice", "", "'nope'"},
		{"unknown tool_choice", func(b map[string]any) { b["tool_choice"] = "sometimes" }, "tool_choice", "invalid_value", "'sometimes'"},
		{"tool_choice without tools", func(b map[string]any) { delete(b, "tools"); b["tool_choice"] = "required" },
			"tool_choice", "", "only allowed when 'tools' are specified"},
	}
	for _, tt := range openAI {
		t.Run("openai/"+tt.name, func(t *testing.T) {
			body := withOpenAITools(false)
			tt.change(body)
			e := expectError(t, mustPost(t, c, s.URL()+"/chat/completions", body), http.StatusBadRequest, "invalid_request_error", tt.code)
			if string(e.Error.Param) != `"`+tt.param+`"` || !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("param %s, message %q; want %q and a message saying %q", e.Error.Param, e.Error.Message, tt.param, tt.says)
			}
		})
	}

	use := func(ids ...string) map[string]any {
		var blocks []any
		for _, id := range ids {
			blocks = append(blocks, map[string]any{"type": "tool_use", "id": id, "name": "get_weather", "input": map[string]any{}})
		}
		return map[string]any{"role": "assistant", "content": blocks}
	}
	results := func(ids ...string) map[string]any {
		var blocks []any
		for _, id := range ids {
			blocks = append(blocks, map[string]any{"type": "tool_result", "tool_use_id": id, "content": "ok", "is_error": false})
		}
		return map[string]any{"role": "user", "content": blocks}
	}
	anthropicCases := []struct {
		name   string
		change func(map[string]any)
		says   string
	}{
		{"result with no tool_use before it", func(b map[string]any) { b["messages"] = []any{user, use("toolu_1"), results("toolu_1", "toolu_9")} },
			"messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. " +
				"Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"tool_use left unanswered", func(b map[string]any) { b["messages"] = []any{user, use("toolu_1", "toolu_2"), results("toolu_2")} },
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. " +
				"Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"tool_use then text", func(b map[string]any) { b["messages"] = []any{user, use("toolu_1"), user} },
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."},
		{"tool without input_schema", func(b map[string]any) { b["tools"] = []any{map[string]any{"name": "get_weather"}} },
			"tools.0.custom.input_schema: Field required"},
		{"tool_choice naming no tool", func(b map[string]any) { b["tool_choice"] = map[string]any{"type": "tool", "name": "nope"} },
			"Tool 'nope' not found"},
		{"unknown tool_choice", func(b map[string]any) { b["tool_choice"] = map[string]any{"type": "sometimes"} },
			"tool_choice: Input tag 'sometimes'"},
	}
	for _, tt := range anthropicCases {
		t.Run("anthropic/"+tt.name, func(t *testing.T) {
			body := withAnthropicTools(false)
			tt.change(body)
			msg := expectAnthropicError(t, postMessages(t.Context(), t, c, s, body, anthropicHeader("")), http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(msg, tt.says) {
				t.Errorf("message %q, want it to say %q", msg, tt.says)
			}
		})
	}
}

// A reasoning model thinks before it calls: the thinking first, then the
// call, in both APIs.
func TestThinkingThenCall(t *testing.T) {
	s := startServer(t, reasoningProfile("thinker"), Options{})
	c := newClient(t)

	chunks := parseChunks(t, readSSE(openAIAPI.open(t.Context(), t, c, s, withOpenAITools(true)).Body).data)
	var order []string
	for _, ck := range chunks {
		for _, ch := range ck.Choices {
			d := ch.Delta
			switch {
			case d.Role != "":
				order = append(order, "role")
			case d.Reasoning != "":
				order = append(order, "reasoning")
			case len(d.ToolCalls) == 1 && d.ToolCalls[0].ID != "":
				order = append(order, "opening")
			case len(d.ToolCalls) == 1:
				order = append(order, "arguments")
			}
		}
	}
	if len(order) < 5 || order[0] != "role" || order[1] != "reasoning" || !slices.Contains(order, "opening") ||
		order[len(order)-1] != "arguments" || slices.Index(order, "opening") != slices.Index(order, "arguments")-1 ||
		slices.Contains(order[slices.Index(order, "opening"):], "reasoning") {
		t.Errorf("deltas in order %q, want the role, reasoning, the call's opening, then its arguments", order)
	}

	body := withAnthropicTools(true)
	body["max_tokens"] = 2048
	body["thinking"] = map[string]any{"type": "enabled", "budget_tokens": minThinkingBudget}
	evs := parseEvents(t, readSSE(anthropicAPI.open(t.Context(), t, c, s, body).Body))
	want := []string{"message_start", "content_block_start 0 thinking", "content_block_delta 0 thinking_delta+",
		"content_block_delta 0 signature_delta", "content_block_stop 0", "content_block_start 1 tool_use",
		"content_block_delta 1 input_json_delta+", "content_block_stop 1", "message_delta", "message_stop"}
	if shape := eventShape(evs); !slices.Equal(shape, want) {
		t.Errorf("events:\n%q\nwant\n%q", shape, want)
	}
}

// A call's strings take the names the user wrote first (capitalized, not
// opening a sentence), then the other words in order; short words and
// words with inner punctuation are not taken.
func TestPromptWordsPutNamesFirst(t *testing.T) {
	got := promptWords("What is the weather in Oslo? Then Rome, per day-by-day plan.")
	want := []string{"Oslo", "Rome", "What", "the", "weather", "Then", "per", "plan"}
	if !slices.Equal(got, want) {
		t.Errorf("promptWords = %q, want %q", got, want)
	}
}
