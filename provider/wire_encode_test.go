package provider

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// encodeCase is a request and the body a client must make of it, or the
// words of the error it must give instead.
type encodeCase struct {
	name    string
	req     Request
	want    string // the body, compared as JSON
	wantErr string // in the error, when the request cannot be sent
}

// checkEncode runs encode over the cases.
func checkEncode(t *testing.T, encode func(Request) ([]byte, error), cases []encodeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			body, err := encode(tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q (body %s)", err, tt.wantErr, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(body, []byte(tt.want)) {
				t.Errorf("body\n got %s\nwant %s", body, tt.want)
			}
		})
	}
}

// sameJSON reports whether a and b are the same JSON value, whatever the
// order of their objects' keys.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func boolPtr(b bool) *bool { return &b }

// weatherTool is a tool with every field set.
var weatherTool = Tool{Name: "get_weather", Description: "The weather in a city.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`), Strict: boolPtr(true)}

// toolTurn is a conversation with a turn of two tool calls, their results
// and the user's next words, with the thinking that came before the calls.
var toolTurn = []Message{
	{Role: "user", Content: "Weather and time in Paris?"},
	{Role: "assistant", Reasoning: "Two tools.", ReasoningSignature: "sig-1", ToolCalls: []ToolCall{
		{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Index: 1, ID: "call_2", Name: "get_time"}}},
	{Role: "tool", ToolCallID: "call_1", Content: "18C"},
	{Role: "tool", ToolCallID: "call_2", Content: "no clock", ToolError: true},
	{Role: "user", Content: "Thanks."},
}

const openAIHead = `"model":"m","stream":true,"stream_options":{"include_usage":true}`

func TestOpenAIEncode(t *testing.T) {
	hi := []Message{{Role: "user", Content: "Hi"}}
	checkEncode(t, encodeOpenAI, []encodeCase{
		{name: "parts: text and images, with and without detail",
			req: Request{Model: "m", Messages: []Message{{Role: "user", Parts: []Part{
				{Type: PartText, Text: "What is this?"}, {Type: PartImage, ImageURL: "https://example.com/a.png", Detail: "low"},
				{Type: PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}, {Type: PartText}}}}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},` +
				`{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"text","text":""}]}]}`},
		{name: "tool calls, their results, no thinking (OpenAI has no field for it)",
			req: Request{Model: "m", Messages: toolTurn},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Weather and time in Paris?"},` +
				`{"role":"assistant","content":null,"tool_calls":[` +
				`{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},` +
				`{"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},` +
				`{"role":"tool","content":"18C","tool_call_id":"call_1"},{"role":"tool","content":"no clock","tool_call_id":"call_2"},` +
				`{"role":"user","content":"Thanks."}]}`},
		{name: "an assistant's text beside its calls",
			req: Request{Model: "m", Messages: []Message{{Role: "assistant", Content: "Let me look.",
				ToolCalls: []ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}}},
			want: `{` + openAIHead + `,"messages":[{"role":"assistant","content":"Let me look.",` +
				`"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`},
		{name: "tools, a named choice, no parallel calls",
			req: Request{Model: "m", Messages: hi, Tools: []Tool{weatherTool, {Name: "get_time"}},
				ToolChoice: ToolChoice{Mode: ToolNamed, Name: "get_weather"}, ParallelToolCalls: boolPtr(false)},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"tools":[` +
				`{"type":"function","function":{"name":"get_weather","description":"The weather in a city.",` +
				`"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}},` +
				`{"type":"function","function":{"name":"get_time"}}],` +
				`"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false}`},
		{name: "a choice by its mode",
			req:  Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolRequired}, ParallelToolCalls: boolPtr(true)},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"tool_choice":"required","parallel_tool_calls":true}`},
		{name: "an effort as it is",
			req:  Request{Model: "m", Messages: hi, Reasoning: &Reasoning{Effort: "minimal"}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"minimal"}`},
		{name: "an effort from a budget: its share of max_tokens",
			req:  Request{Model: "m", MaxTokens: 10000, Messages: hi, Reasoning: &Reasoning{MaxTokens: 7000}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"max_tokens":10000,"reasoning_effort":"high"}`},
		{name: "a small share is low",
			req:  Request{Model: "m", MaxTokens: 10000, Messages: hi, Reasoning: &Reasoning{MaxTokens: 2000}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"max_tokens":10000,"reasoning_effort":"low"}`},
		{name: "an effort from a budget alone",
			req:  Request{Model: "m", Messages: hi, Reasoning: &Reasoning{MaxTokens: 4000}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"medium"}`},
		{name: "reasoning with neither: the upstream's default",
			req:  Request{Model: "m", Messages: hi, Reasoning: &Reasoning{}},
			want: `{` + openAIHead + `,"messages":[{"role":"user","content":"Hi"}]}`},
		{name: "Extra may not carry tools", req: Request{Model: "m", Messages: hi,
			Extra: map[string]json.RawMessage{"tools": json.RawMessage(`[]`)}}, wantErr: `"tools" is set by the client`},
		{name: "nor reasoning", req: Request{Model: "m", Messages: hi,
			Extra: map[string]json.RawMessage{"reasoning": json.RawMessage(`{"effort":"high"}`)}}, wantErr: `"reasoning" is set by the client`},
		{name: "a part of no known type", req: Request{Model: "m", Messages: []Message{{Role: "user", Parts: []Part{{Type: "audio"}}}}},
			wantErr: `message 0: part 0 is of type "audio"`},
		{name: "a named choice without a name", req: Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolNamed}},
			wantErr: "tool choice names no tool"},
		{name: "a choice of no known mode", req: Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: "any"}},
			wantErr: `tool choice "any" is not one of`},
		{name: "an unknown effort", req: Request{Model: "m", Messages: hi, Reasoning: &Reasoning{Effort: "max"}},
			wantErr: `reasoning effort "max"`},
		{name: "parameters that are not a schema", req: Request{Model: "m", Messages: hi,
			Tools: []Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}}, wantErr: `tool 0 ("f"): parameters are not a JSON object`},
		{name: "a tool without a name", req: Request{Model: "m", Messages: hi, Tools: []Tool{{}}}, wantErr: "tool 0 has no name"},
	})
}

func TestAnthropicEncode(t *testing.T) {
	hi := []Message{{Role: "user", Content: "Hi"}}
	img := func(url string) []Message {
		return []Message{{Role: "user", Parts: []Part{{Type: PartText, Text: "What is this?"}, {Type: PartImage, ImageURL: url}}}}
	}
	extra := func(k, v string) map[string]json.RawMessage { return map[string]json.RawMessage{k: json.RawMessage(v)} }
	warm := 0.7
	checkEncode(t, encodeAnthropic, []encodeCase{
		{name: "images: inline from a data URL, or by URL",
			req: Request{Model: "m", Messages: []Message{{Role: "user", Parts: []Part{
				{Type: PartText, Text: "Compare"}, {Type: PartImage, ImageURL: "data:image/PNG;base64,iVBORw0KGgo="},
				{Type: PartText}, {Type: PartImage, ImageURL: "https://example.com/a.jpg", Detail: "high"}}}}},
			want: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Compare"},` +
				`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},` +
				`{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}]}],"max_tokens":4096,"stream":true}`},
		{name: "a turn of tool calls: thinking, calls, then one user message with the results first",
			req: Request{Model: "m", Messages: toolTurn},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather and time in Paris?"},` +
				`{"role":"assistant","content":[{"type":"thinking","thinking":"Two tools.","signature":"sig-1"},` +
				`{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},` +
				`{"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C"},` +
				`{"type":"tool_result","tool_use_id":"call_2","content":"no clock","is_error":true},` +
				`{"type":"text","text":"Thanks."}]}],"max_tokens":4096,"stream":true}`},
		{name: "thinking without its signature stays out; text before the calls",
			req: Request{Model: "m", Messages: []Message{{Role: "assistant", Content: "Looking.", Reasoning: "unsigned",
				ToolCalls: []ToolCall{{ID: "c", Name: "f", Arguments: ` {"a": [1, 2]} `}}},
				{Role: "tool", ToolCallID: "c", Parts: []Part{{Type: PartText, Text: "chart:"}, {Type: PartImage, ImageURL: "https://example.com/c.png"}}},
				{Role: "assistant", Content: "Done."}}},
			want: `{"model":"m","messages":[{"role":"assistant","content":[{"type":"text","text":"Looking."},` +
				`{"type":"tool_use","id":"c","name":"f","input":{"a":[1,2]}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":[{"type":"text","text":"chart:"},` +
				`{"type":"image","source":{"type":"url","url":"https://example.com/c.png"}}]}]},` +
				`{"role":"assistant","content":"Done."}],"max_tokens":4096,"stream":true}`},
		{name: "an empty result has no content; a user's parts join the results, a system message between them or not",
			req: Request{Model: "m", Messages: []Message{{Role: "tool", ToolCallID: "c"}, {Role: "system", Content: "Be brief."},
				{Role: "user", Parts: []Part{{Type: PartText, Text: "and?"}}}, {Role: "user", Content: "again"}}},
			want: `{"model":"m","system":"Be brief.","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"c"},{"type":"text","text":"and?"}]},` +
				`{"role":"user","content":"again"}],"max_tokens":4096,"stream":true}`},
		{name: "tools: input_schema required; a named choice without parallel calls",
			req: Request{Model: "m", Messages: hi, Tools: []Tool{weatherTool, {Name: "get_time"}},
				ToolChoice: ToolChoice{Mode: ToolNamed, Name: "get_time"}, ParallelToolCalls: boolPtr(false)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,"tools":[` +
				`{"name":"get_weather","description":"The weather in a city.","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},` +
				`{"name":"get_time","input_schema":{"type":"object","properties":{}}}],` +
				`"tool_choice":{"type":"tool","name":"get_time","disable_parallel_tool_use":true}}`},
		{name: "required is any",
			req:  Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolRequired}, ParallelToolCalls: boolPtr(true)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,"tool_choice":{"type":"any"}}`},
		{name: "no parallel calls without a mode is auto",
			req:  Request{Model: "m", Messages: hi, ParallelToolCalls: boolPtr(false)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`},
		{name: "none has no parallel calls to forbid",
			req:  Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolNone}, ParallelToolCalls: boolPtr(false)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,"tool_choice":{"type":"none"}}`},
		{name: "auto",
			req:  Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolAuto}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,"tool_choice":{"type":"auto"}}`},
		{name: "an effort is its share of max_tokens; temperature, top_k and a low top_p go",
			req: Request{Model: "m", MaxTokens: 10000, Temperature: &warm, Messages: hi, Reasoning: &Reasoning{Effort: "high"},
				Extra: map[string]json.RawMessage{"top_k": json.RawMessage(`40`), "top_p": json.RawMessage(`0.9`), "stop": json.RawMessage(`"END"`)}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":10000,"stop_sequences":["END"],"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":8000}}`},
		{name: "a top_p of 0.95 or more stays",
			req: Request{Model: "m", MaxTokens: 10000, Messages: hi, Reasoning: &Reasoning{Effort: "medium"}, Extra: extra("top_p", `0.97`)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":10000,"top_p":0.97,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":5000}}`},
		{name: "an effort's budget is at most 128000",
			req: Request{Model: "m", MaxTokens: 200000, Messages: hi, Reasoning: &Reasoning{Effort: "xhigh"}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":200000,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":128000}}`},
		{name: "and at least 1024, of the default max_tokens",
			req: Request{Model: "m", Messages: hi, Reasoning: &Reasoning{Effort: "minimal"}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":1024}}`},
		{name: "reasoning with neither is medium",
			req: Request{Model: "m", Messages: hi, Reasoning: &Reasoning{}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":2048}}`},
		{name: "a budget in tokens; max_tokens grows to hold the answer's besides",
			req: Request{Model: "m", MaxTokens: 1000, Messages: hi, Reasoning: &Reasoning{MaxTokens: 2000, Effort: "low"}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":3000,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":2000}}`},
		{name: "a budget under Anthropic's least is raised to it",
			req: Request{Model: "m", MaxTokens: 1024, Messages: hi, Reasoning: &Reasoning{MaxTokens: 100}},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":2048,"stream":true,` +
				`"thinking":{"type":"enabled","budget_tokens":1024}}`},
		{name: "effort none is no thinking, and the sampling stays",
			req:  Request{Model: "m", Temperature: &warm, Messages: hi, Reasoning: &Reasoning{Effort: "none"}, Extra: extra("top_k", `5`)},
			want: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"temperature":0.7,"top_k":5,"stream":true}`},
		{name: "an image type Anthropic does not take", req: Request{Model: "m", Messages: img("data:image/svg+xml;base64,PHN2Zz4=")},
			wantErr: `message 0: part 1: the image's type "image/svg+xml" is not one Anthropic takes`},
		{name: "a data URL not in base64", req: Request{Model: "m", Messages: img("data:image/png,abc")},
			wantErr: "not base64"},
		{name: "an image by http", req: Request{Model: "m", Messages: img("http://example.com/a.png")},
			wantErr: "neither a data URL nor an https URL"},
		{name: "arguments that are not an object",
			req:     Request{Model: "m", Messages: []Message{{Role: "assistant", ToolCalls: []ToolCall{{ID: "c", Name: "f", Arguments: `[1]`}}}}},
			wantErr: `message 0: tool call 0 ("f"): its arguments are not a JSON object`},
		{name: "arguments that are not JSON",
			req:     Request{Model: "m", Messages: []Message{{Role: "assistant", ToolCalls: []ToolCall{{ID: "c", Name: "f", Arguments: `{"a":`}}}}},
			wantErr: `its arguments are not a JSON object`},
		{name: "a result for no call", req: Request{Model: "m", Messages: []Message{{Role: "tool", Content: "x"}}},
			wantErr: "message 0: a tool's result names no tool call"},
		{name: "an image in the system prompt",
			req:     Request{Model: "m", Messages: []Message{{Role: "system", Parts: []Part{{Type: PartImage, ImageURL: "https://example.com/a.png"}}}}},
			wantErr: "system prompt is text only"},
		{name: "an unknown role", req: Request{Model: "m", Messages: []Message{{Role: "function", Content: "x"}}},
			wantErr: `role "function"`},
		{name: "an unknown effort", req: Request{Model: "m", Messages: hi, Reasoning: &Reasoning{Effort: "max"}},
			wantErr: `reasoning effort "max"`},
		{name: "a named choice without a name", req: Request{Model: "m", Messages: hi, ToolChoice: ToolChoice{Mode: ToolNamed}},
			wantErr: "tool choice names no tool"},
		{name: "Extra may not carry tool_choice", req: Request{Model: "m", Messages: hi, Extra: extra("tool_choice", `"auto"`)},
			wantErr: `"tool_choice" is set by the client`},
	})
}

// A request that cannot be sent fails before it is: a ClassBadRequest
// *Error that says why and where, which the router does not try again
// elsewhere.
func TestEncodeErrorIsBadRequest(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		t.Run(protocol, func(t *testing.T) {
			h := func(w http.ResponseWriter, r *http.Request) { t.Error("a request that cannot be encoded was sent") }
			c := clientOf(t, protocol, http.HandlerFunc(h), OpenAIOptions{})
			req := Request{Model: "m", Messages: []Message{{Role: "user", Content: "Hi"}}, ToolChoice: ToolChoice{Mode: ToolNamed}}
			_, err := c.Stream(t.Context(), req)
			e := AsError(err)
			if e == nil || e.Class != ClassBadRequest || !strings.Contains(e.Error(), "encoding the request: tool choice names no tool") {
				t.Fatalf("err = %v, want a bad request saying the choice names no tool", err)
			}
		})
	}
}
