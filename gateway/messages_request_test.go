package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"switchboard/provider"
	"switchboard/routing"
)

// messagesRequest is a Messages request of the fixture's model with the
// members given (JSON) added.
func messagesRequest(members string) string {
	return `{"model":"acme/chat-1","max_tokens":4096,` + members + `}`
}

// The parts of a Messages request beyond text become the router's: tools,
// tool choice, thinking, and messages with images, tool calls, tool
// results and thinking.
func TestParseMessagesReadsToolsImagesAndThinking(t *testing.T) {
	no := false
	weather := provider.Tool{Name: "get_weather", Description: "The weather in a city.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}
	weatherTool := `"tools":[{"name":"get_weather","description":"The weather in a city.","cache_control":{"type":"ephemeral"},
		"input_schema":{"type":"object", "properties":{"city":{"type":"string"}}, "required":["city"]}}]`
	for name, c := range map[string]struct {
		body string
		want routing.Request // only the fields below are compared
	}{
		"tools, choice any, no parallel calls": {
			messagesRequest(weatherTool + `,"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"Weather in Oslo?"}]`),
			routing.Request{Tools: []provider.Tool{weather}, ToolChoice: provider.ToolChoice{Mode: provider.ToolRequired},
				ParallelToolCalls: &no, Messages: []provider.Message{{Role: "user", Content: "Weather in Oslo?"}},
				Params: []string{"max_tokens", "tools", "tool_choice"}},
		},
		"a named tool": {
			messagesRequest(weatherTool + `,"tool_choice":{"type":"tool","name":"get_weather"},"messages":[{"role":"user","content":"Oslo"}]`),
			routing.Request{Tools: []provider.Tool{weather}, ToolChoice: provider.ToolChoice{Mode: provider.ToolNamed, Name: "get_weather"},
				Messages: []provider.Message{{Role: "user", Content: "Oslo"}}, Params: []string{"max_tokens", "tools", "tool_choice"}},
		},
		"a turn of tool use": {
			messagesRequest(weatherTool + `,"system":[{"type":"text","text":"Be brief. ","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Use tools."}],
			"messages":[
			  {"role":"user","content":[{"type":"text","text":"Weather in Oslo and Rome?"}]},
			  {"role":"assistant","content":[
			    {"type":"thinking","thinking":"Two cities.","signature":"sig-1"},
			    {"type":"redacted_thinking","data":"opaque"},
			    {"type":"text","text":"Looking."},
			    {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Oslo" }},
			    {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}]},
			  {"role":"user","content":[
			    {"type":"text","text":"Here:"},
			    {"type":"tool_result","tool_use_id":"toolu_1","content":"4°C"},
			    {"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"no "},{"type":"text","text":"city"}]}]}]`),
			routing.Request{Tools: []provider.Tool{weather}, Params: []string{"max_tokens", "tools"}, Messages: []provider.Message{
				{Role: "system", Content: "Be brief. Use tools."},
				{Role: "user", Content: "Weather in Oslo and Rome?"},
				{Role: "assistant", Content: "Looking.", Reasoning: "Two cities.", ReasoningSignature: "sig-1", ToolCalls: []provider.ToolCall{
					{Index: 0, ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`},
					{Index: 1, ID: "toolu_2", Name: "get_weather", Arguments: `{}`}}},
				{Role: "tool", ToolCallID: "toolu_1", Content: "4°C"},
				{Role: "tool", ToolCallID: "toolu_2", Content: "no city", ToolError: true},
				{Role: "user", Content: "Here:"}}},
		},
		"images, and a tool result with one": {
			messagesRequest(`"messages":[
			  {"role":"user","content":[{"type":"text","text":"What is it?"},
			    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
			    {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},
			  {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"snap","input":{}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[
			    {"type":"text","text":"the photo"},{"type":"image","source":{"type":"url","url":"https://example.com/p.png"}}]}]}]`),
			routing.Request{Params: []string{"max_tokens"}, Messages: []provider.Message{
				{Role: "user", Parts: []provider.Part{{Type: provider.PartText, Text: "What is it?"},
					{Type: provider.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
					{Type: provider.PartImage, ImageURL: "https://example.com/cat.jpg"}}},
				{Role: "assistant", ToolCalls: []provider.ToolCall{{ID: "t1", Name: "snap", Arguments: "{}"}}},
				{Role: "tool", ToolCallID: "t1", Parts: []provider.Part{{Type: provider.PartText, Text: "the photo"},
					{Type: provider.PartImage, ImageURL: "https://example.com/p.png"}}}}},
		},
		"thinking with a budget": {
			messagesRequest(`"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"Think."}]`),
			routing.Request{Reasoning: &provider.Reasoning{MaxTokens: 2048}, Params: []string{"max_tokens", "reasoning"},
				Messages: []provider.Message{{Role: "user", Content: "Think."}}},
		},
		"thinking disabled asks nothing of an endpoint": {
			messagesRequest(`"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"Hi."}]`),
			routing.Request{Reasoning: &provider.Reasoning{Effort: "none"}, Params: []string{"max_tokens"},
				Messages: []provider.Message{{Role: "user", Content: "Hi."}}},
		},
		"a choice of none without tools asks nothing": {
			messagesRequest(`"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"Hi."}]`),
			routing.Request{Params: []string{"max_tokens"}, Messages: []provider.Message{{Role: "user", Content: "Hi."}}},
		},
		"what Claude Code sends besides: Anthropic's serving settings are dropped, its effort is a reasoning effort": {
			messagesRequest(`"cache_control":{"type":"ephemeral"},"service_tier":"auto","inference_geo":"us","context_management":{"edits":[]},` +
				`"output_config":{"effort":"max"},"messages":[{"role":"user","content":"Hi."}]`),
			routing.Request{Reasoning: &provider.Reasoning{Effort: "xhigh"}, Params: []string{"max_tokens", "reasoning"},
				Messages: []provider.Message{{Role: "user", Content: "Hi."}}},
		},
		"thinking says how much, not output_config": {
			messagesRequest(`"thinking":{"type":"enabled","budget_tokens":2048},"output_config":{"effort":"low"},"messages":[{"role":"user","content":"Think."}]`),
			routing.Request{Reasoning: &provider.Reasoning{MaxTokens: 2048}, Params: []string{"max_tokens", "reasoning"},
				Messages: []provider.Message{{Role: "user", Content: "Think."}}},
		},
		"adaptive thinking": {
			messagesRequest(`"thinking":{"type":"adaptive"},"tools":[],"messages":[{"role":"user","content":"Hi."}]`),
			routing.Request{Reasoning: &provider.Reasoning{Effort: "medium"}, Tools: []provider.Tool{}, Params: []string{"max_tokens", "reasoning"},
				Messages: []provider.Message{{Role: "user", Content: "Hi."}}},
		},
	} {
		_, req, e := parseMessages([]byte(c.body))
		if e != nil {
			t.Errorf("%s: %s (%s)", name, e.Message, e.Param)
			continue
		}
		got := routing.Request{Messages: req.Messages, Tools: req.Tools, ToolChoice: req.ToolChoice,
			ParallelToolCalls: req.ParallelToolCalls, Reasoning: req.Reasoning, Params: req.Params}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, c.want)
		}
	}
}

// What a Messages request cannot carry, or gets wrong, is a 400 naming
// the member at fault.
func TestParseMessagesRefusesWithThePath(t *testing.T) {
	tool := `"tools":[{"name":"f","input_schema":{"type":"object"}}]`
	hi := `"messages":[{"role":"user","content":"Hi."}]`
	for _, c := range []struct{ body, param, msg string }{
		{messagesRequest(`"tools":[{"type":"bash_20250124","name":"bash"}],` + hi), "tools[0].type", "Switchboard carries client tools only"},
		{messagesRequest(`"tools":[{"name":"f"}],` + hi), "tools[0].input_schema", "input_schema is missing"},
		{messagesRequest(`"tools":[{"name":"f","input_schema":{"type":"string"}}],` + hi), "tools[0].input_schema.type", `must be "object"`},
		{messagesRequest(`"tools":[{"name":"get weather","input_schema":{"type":"object"}}],` + hi), "tools[0].name", "1 to 64 letters"},
		{messagesRequest(`"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"f","input_schema":{"type":"object"}}],` + hi), "tools[1].name", "must be unique"},
		{messagesRequest(`"tools":[{"name":"f","input_schema":{"type":"object"},"input_examples":[{}]}],` + hi), "tools[0].input_examples", "not supported on a tool"},
		{messagesRequest(tool + `,"tool_choice":{"type":"tool","name":"g"},` + hi), "tool_choice.name", `"g" is not one of the request's tools`},
		{messagesRequest(`"tool_choice":{"type":"any"},` + hi), "tool_choice", "offers no tools"},
		{messagesRequest(tool + `,"tool_choice":{"type":"required"},` + hi), "tool_choice.type", `"required"`},
		{messagesRequest(`"thinking":{"type":"enabled","budget_tokens":512},` + hi), "thinking.budget_tokens", "greater than or equal to 1024"},
		{messagesRequest(`"thinking":{"type":"enabled","budget_tokens":4096},` + hi), "thinking.budget_tokens", "max_tokens (4096) must be greater than thinking.budget_tokens (4096)"},
		{messagesRequest(`"thinking":{"type":"on"},` + hi), "thinking.type", `"on"`},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]`), "messages[0].content[0]", `is a block of type "document"`},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f1"}}]}]`), "messages[0].content[0].source.type", `"file"`},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/tiff","data":"x"}}]}]`), "messages[0].content[0].source.media_type", "image/tiff"},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]`), "messages[0].content[0]", "in a user message"},
		{messagesRequest(`"messages":[{"role":"user","content":"Hi."},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]`), "messages[1].content[0].input", "must be an object"},
		{messagesRequest(`"messages":[{"role":"user","content":"Hi."},{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]`), "messages[1].content[0]", "in an assistant message"},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document"}]}]}]`), "messages[0].content[0].content[0]", "in a tool result"},
		{messagesRequest(`"messages":[{"role":"user","content":[{"type":"tool_result","content":"4°C"}]}]`), "messages[0].content[0].tool_use_id", "tool_use_id is missing"},
		{messagesRequest(`"system":[{"type":"image"}],` + hi), "system[0]", `is a block of type "image"`},
		{messagesRequest(`"messages":[{"role":"user","content":[7]}]`), "messages[0].content[0]", "must be an object"},
		{messagesRequest(`"output_config":{"format":{"type":"json_schema","schema":{}}},` + hi), "output_config.format", "structured outputs"},
		{messagesRequest(`"output_config":{"effort":"huge"},` + hi), "output_config.effort", `"huge"`},
		{messagesRequest(`"output_config":{"speed":"fast"},` + hi), "output_config.speed", "not a member of output_config"},
		{messagesRequest(`"cache_control":"ephemeral",` + hi), "cache_control", "must be an object"},
		{messagesRequest(`"mcp_servers":[],` + hi), "mcp_servers", "not supported"},
	} {
		_, _, e := parseMessages([]byte(c.body))
		if e == nil || e.Status != 400 || e.Param != c.param || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s:\n got %+v\nwant param %s, message with %q", c.body, e, c.param, c.msg)
		}
	}
}
