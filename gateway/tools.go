package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"switchboard/provider"
	"switchboard/routing"
)

// The parts of an OpenAI chat request an agent sends besides its messages:
// the tools, the choice among them, and OpenRouter's reasoning object. Each
// is read strictly into the router's terms, so that a mistake is a 400 that
// names the member rather than an upstream's error after routing.

// toolName is the form OpenAI and Anthropic both require of a tool's name.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// checkToolName refuses a name at field that no upstream would take.
func checkToolName(field, name string) *apiError {
	if toolName.MatchString(name) {
		return nil
	}
	return invalid(field, fmt.Sprintf("%s is %q; a tool's name is 1 to 64 letters, digits, underscores or dashes", field, echo(name)))
}

// checkSchema refuses a tool's parameters schema at field that is not a
// JSON object.
func checkSchema(field string, v json.RawMessage) *apiError {
	if v = bytes.TrimSpace(v); len(v) > 0 && v[0] != '{' {
		return invalid(field, fmt.Sprintf(`%s must be a JSON schema object such as {"type": "object", "properties": {}}, not %s`, field, describe(v)))
	}
	return nil
}

// chatTool is one of OpenAI's tools: a function.
type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

// readTools reads OpenAI's tools.
func readTools(v json.RawMessage) ([]provider.Tool, *apiError) {
	var tools []chatTool
	if v[0] != '[' || json.Unmarshal(v, &tools) != nil {
		return nil, invalid("tools", fmt.Sprintf(`tools must be an array of {"type": "function", "function": {"name": ..., "parameters": ...}}, not %s`, describe(v)))
	}
	out := make([]provider.Tool, 0, len(tools))
	for i, t := range tools {
		field := fmt.Sprintf("tools[%d]", i)
		switch {
		case t.Type != "function":
			return nil, invalid(field+".type", fmt.Sprintf(`%s.type is %q; Switchboard carries function tools: "type": "function"`, field, echo(t.Type)))
		case t.Function == nil:
			return nil, invalid(field+".function", field+` has no function: {"name": ..., "parameters": ...}`)
		}
		f := t.Function
		if e := checkToolName(field+".function.name", f.Name); e != nil {
			return nil, e
		}
		if e := checkSchema(field+".function.parameters", f.Parameters); e != nil {
			return nil, e
		}
		if slices.ContainsFunc(out, func(o provider.Tool) bool { return o.Name == f.Name }) {
			return nil, invalid(field+".function.name", fmt.Sprintf("%s.function.name %q is the name of an earlier tool; names must be unique", field, f.Name))
		}
		out = append(out, provider.Tool{Name: f.Name, Description: f.Description, Parameters: f.Parameters, Strict: f.Strict})
	}
	return out, nil
}

// readToolChoice reads OpenAI's tool_choice: "auto", "none", "required",
// or {"type": "function", "function": {"name": ...}} naming one of tools.
func readToolChoice(v json.RawMessage, tools []provider.Tool) (provider.ToolChoice, *apiError) {
	const how = `"auto", "none", "required", or {"type": "function", "function": {"name": ...}}`
	var mode string
	if v[0] == '"' && json.Unmarshal(v, &mode) == nil {
		switch mode {
		case provider.ToolAuto, provider.ToolNone, provider.ToolRequired:
			return provider.ToolChoice{Mode: mode}, nil
		}
		return provider.ToolChoice{}, invalid("tool_choice", fmt.Sprintf("tool_choice is %q; it may be %s", echo(mode), how))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if v[0] != '{' || json.Unmarshal(v, &named) != nil || named.Type != "function" {
		return provider.ToolChoice{}, invalid("tool_choice", fmt.Sprintf("tool_choice must be %s", how))
	}
	return namedTool("tool_choice.function.name", named.Function.Name, tools)
}

// namedTool is the choice of the tool called name, which must be one of
// tools.
func namedTool(field, name string, tools []provider.Tool) (provider.ToolChoice, *apiError) {
	if !slices.ContainsFunc(tools, func(t provider.Tool) bool { return t.Name == name }) {
		return provider.ToolChoice{}, invalid(field, fmt.Sprintf("%s is %q, which is not one of the request's tools", field, echo(name)))
	}
	return provider.ToolChoice{Mode: provider.ToolNamed, Name: name}, nil
}

// efforts are the reasoning efforts OpenRouter takes, most first.
var efforts = []string{"xhigh", "high", "medium", "low", "minimal", "none"}

// checkEffort refuses an effort at field that is not one of efforts.
func checkEffort(field, effort string) *apiError {
	if slices.Contains(efforts, effort) {
		return nil
	}
	return invalid(field, fmt.Sprintf("%s is %q; it may be %s", field, echo(effort), strings.Join(efforts, ", ")))
}

// reasoningAsked is what a request asks of a reasoning model: how much to
// think (nil: the model's default) and whether to leave the thinking out
// of the answer.
type reasoningAsked struct {
	r       *provider.Reasoning
	exclude bool
}

// readReasoning reads OpenRouter's reasoning object: effort or max_tokens
// (one of them), exclude, and enabled (true alone means a medium effort;
// false means none).
func readReasoning(v json.RawMessage) (reasoningAsked, *apiError) {
	var raw map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &raw) != nil {
		return reasoningAsked{}, invalid("reasoning", fmt.Sprintf(`reasoning must be an object such as {"effort": "high"}, not %s`, describe(v)))
	}
	var o struct {
		Effort    *string `json:"effort"`
		MaxTokens *int    `json:"max_tokens"`
		Exclude   *bool   `json:"exclude"`
		Enabled   *bool   `json:"enabled"`
	}
	for k := range raw {
		switch k {
		case "effort", "max_tokens", "exclude", "enabled":
		default:
			return reasoningAsked{}, invalid(member("reasoning", k), member("reasoning", k)+" is not a member of reasoning; it has effort, max_tokens, exclude and enabled")
		}
	}
	if err := json.Unmarshal(v, &o); err != nil {
		return reasoningAsked{}, badJSON(v, err)
	}
	var a reasoningAsked
	if o.Exclude != nil {
		a.exclude = *o.Exclude
	}
	switch {
	case o.Effort != nil && o.MaxTokens != nil:
		return a, invalid("reasoning", "reasoning has both effort and max_tokens; give one of them")
	case o.Effort != nil:
		if e := checkEffort("reasoning.effort", *o.Effort); e != nil {
			return a, e
		}
		a.r = &provider.Reasoning{Effort: *o.Effort}
	case o.MaxTokens != nil:
		if *o.MaxTokens < 1 {
			return a, invalid("reasoning.max_tokens", fmt.Sprintf("reasoning.max_tokens is %d; it must be at least 1", *o.MaxTokens))
		}
		a.r = &provider.Reasoning{MaxTokens: *o.MaxTokens}
	}
	if o.Enabled != nil {
		switch {
		case !*o.Enabled && a.r != nil:
			return a, invalid("reasoning.enabled", "reasoning.enabled is false, yet reasoning says how much to think; leave one of them out")
		case !*o.Enabled:
			a.r = &provider.Reasoning{Effort: "none"}
		case a.r == nil:
			a.r = &provider.Reasoning{Effort: "medium"}
		}
	}
	return a, nil
}

// agentFields reads the members of a chat request that concern tools and
// reasoning into req.
func (c *chatRequest) agentFields(req *routing.Request, asked *reasoningAsked) *apiError {
	if v := present(c.Tools); v != nil {
		tools, e := readTools(v)
		if e != nil {
			return e
		}
		req.Tools = tools
		if len(tools) > 0 {
			req.Params = append(req.Params, "tools")
		}
	}
	if v := present(c.ToolChoice); v != nil {
		if len(req.Tools) == 0 {
			return invalid("tool_choice", "tool_choice is set, but the request has no tools to choose from")
		}
		choice, e := readToolChoice(v, req.Tools)
		if e != nil {
			return e
		}
		req.ToolChoice = choice
		req.Params = append(req.Params, "tool_choice")
	}
	if c.ParallelToolCalls != nil && len(req.Tools) > 0 {
		// Without tools it says nothing: not sent.
		req.ParallelToolCalls = c.ParallelToolCalls
	}
	if v := present(c.Reasoning); v != nil {
		a, e := readReasoning(v)
		if e != nil {
			return e
		}
		*asked = a
	}
	if c.ReasoningEffort != nil {
		if asked.r != nil {
			return invalid("reasoning_effort", "reasoning_effort and reasoning both say how much to think; give one of them")
		}
		if e := checkEffort("reasoning_effort", *c.ReasoningEffort); e != nil {
			return e
		}
		asked.r = &provider.Reasoning{Effort: *c.ReasoningEffort}
	}
	if c.IncludeReasoning != nil {
		// OpenRouter's older switch: false leaves the thinking out.
		asked.exclude = asked.exclude || !*c.IncludeReasoning
	}
	if asked.r != nil {
		req.Reasoning = asked.r
		req.Params = append(req.Params, "reasoning")
	}
	return nil
}

// present is v unless it is absent or null.
func present(v json.RawMessage) json.RawMessage {
	if v = bytes.TrimSpace(v); len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}
