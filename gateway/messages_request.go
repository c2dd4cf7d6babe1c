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

// The parts of a Messages request beyond text, in Anthropic's words:
// tools and tool_choice, content blocks (text, images, tool calls and
// their results, thinking) and the thinking config, read into the
// router's terms (provider.Message, provider.Tool, provider.Reasoning).
// Every error names the member at fault by its path, as
// messages[2].content[1].source.

// anthropicTool is a tool as a Messages request offers it. A tool with a
// type other than "custom" is one of Anthropic's server tools (web
// search, bash, ...), which only Anthropic runs.
type anthropicTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict"`
}

// toolMembers are the members of a tool the gateway reads, and those it
// accepts and drops: cache_control (Anthropic's prompt cache breakpoint,
// which no other upstream has a word for) and eager_input_streaming (a
// hint on how the input streams; it streams as the upstream sends it).
var (
	toolMembers  = []string{"type", "name", "description", "input_schema", "strict"}
	toolDropped  = []string{"cache_control", "eager_input_streaming"}
	toolNameRule = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// anthropicTools reads tools (an array of client tools) into the router's.
func anthropicTools(v json.RawMessage) ([]provider.Tool, *apiError) {
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, invalid("tools", fmt.Sprintf("tools must be an array of tools, not %s", describe(v)))
	}
	tools := make([]provider.Tool, 0, len(raw))
	for i, r := range raw {
		field := fmt.Sprintf("tools[%d]", i)
		members, e := blockMembers(field, r)
		if e != nil {
			return nil, e
		}
		var t anthropicTool
		if err := json.Unmarshal(r, &t); err != nil {
			return nil, invalid(field, fmt.Sprintf("%s is not a valid tool: %s", field, echo(err.Error())))
		}
		if t.Type != "" && t.Type != "custom" {
			return nil, invalid(field+".type", fmt.Sprintf("%s is Anthropic's server tool %q: Switchboard carries client tools only "+
				`(name, description, input_schema), whose calls your program runs; leave it out`, field, echo(t.Type)))
		}
		for _, k := range sortedKeys(members) {
			if !slices.Contains(toolMembers, k) && !slices.Contains(toolDropped, k) && string(members[k]) != "null" {
				return nil, invalid(member(field, k), member(field, k)+" is not supported on a tool; leave it out")
			}
		}
		switch {
		case !toolNameRule.MatchString(t.Name):
			return nil, invalid(field+".name", fmt.Sprintf("%s.name is %q; a tool's name is 1 to 64 letters, digits, _ or -", field, echo(t.Name)))
		case slices.ContainsFunc(tools, func(o provider.Tool) bool { return o.Name == t.Name }):
			return nil, invalid(field+".name", fmt.Sprintf("%s.name %q is the name of an earlier tool; tool names must be unique", field, t.Name))
		}
		schema, e := inputSchema(field+".input_schema", t.InputSchema)
		if e != nil {
			return nil, e
		}
		tools = append(tools, provider.Tool{Name: t.Name, Description: t.Description, Parameters: schema, Strict: t.Strict})
	}
	return tools, nil
}

// inputSchema checks a tool's input_schema, which Anthropic requires and
// which must be an object's schema, and returns it compacted.
func inputSchema(field string, v json.RawMessage) (json.RawMessage, *apiError) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil, invalid(field, field+` is missing: a tool needs the JSON schema of its input, e.g. {"type": "object", "properties": {}}`)
	}
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if v[0] != '{' || json.Unmarshal(v, &s) != nil {
		return nil, invalid(field, fmt.Sprintf("%s must be a JSON schema object, not %s", field, describe(v)))
	}
	if string(bytes.TrimSpace(s.Type)) != `"object"` {
		return nil, invalid(field+".type", fmt.Sprintf(`%s.type must be "object": a tool's input is an object`, field))
	}
	var b bytes.Buffer
	_ = json.Compact(&b, v) // valid: it was just decoded
	return b.Bytes(), nil
}

// anthropicToolChoice reads tool_choice into the router's choice, and
// disable_parallel_tool_use into ParallelToolCalls.
func anthropicToolChoice(v json.RawMessage, tools []provider.Tool) (provider.ToolChoice, *apiError) {
	var c struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	}
	var choice provider.ToolChoice
	if v[0] != '{' || json.Unmarshal(v, &c) != nil {
		return choice, invalid("tool_choice", fmt.Sprintf(`tool_choice must be an object such as {"type": "auto"}, not %s`, describe(v)))
	}
	switch c.Type {
	case "auto":
		choice.Mode = provider.ToolAuto
	case "none":
		choice.Mode = provider.ToolNone
	case "any":
		choice.Mode = provider.ToolRequired
	case "tool":
		choice = provider.ToolChoice{Mode: provider.ToolNamed, Name: c.Name}
		if !slices.ContainsFunc(tools, func(t provider.Tool) bool { return t.Name == c.Name }) {
			return choice, invalid("tool_choice.name", fmt.Sprintf("tool_choice.name %q is not one of the request's tools", echo(c.Name)))
		}
	default:
		return choice, invalid("tool_choice.type", fmt.Sprintf(`tool_choice.type is %q; it may be "auto", "any", "tool" or "none"`, echo(c.Type)))
	}
	if len(tools) == 0 && (c.Type == "any" || c.Type == "tool") {
		return choice, invalid("tool_choice", fmt.Sprintf("tool_choice.type is %q but the request offers no tools", c.Type))
	}
	return choice, nil
}

// disablesParallel reports whether tool_choice sets
// disable_parallel_tool_use (read after anthropicToolChoice checked it).
func disablesParallel(v json.RawMessage) bool {
	var c struct {
		Disable bool `json:"disable_parallel_tool_use"`
	}
	_ = json.Unmarshal(v, &c)
	return c.Disable
}

// anthropicThinking reads the thinking config into the router's
// Reasoning: a budget (at least 1024 tokens and under max_tokens, as
// Anthropic requires), none, or adaptive thinking at medium effort.
func anthropicThinking(v json.RawMessage, maxTokens int) (*provider.Reasoning, *apiError) {
	var t struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
		Display      string `json:"display"`
	}
	if v[0] != '{' || json.Unmarshal(v, &t) != nil {
		return nil, invalid("thinking", fmt.Sprintf(`thinking must be an object such as {"type": "enabled", "budget_tokens": 2048}, not %s`, describe(v)))
	}
	if t.Display == "omitted" {
		return nil, invalid("thinking.display", `thinking.display "omitted" is not supported: Switchboard returns the thinking as the upstream gives it; leave display out`)
	}
	switch t.Type {
	case "enabled":
		switch b := t.BudgetTokens; {
		case b == nil:
			return nil, invalid("thinking.budget_tokens", `thinking.budget_tokens is missing: enabled thinking needs a budget, e.g. "budget_tokens": 2048`)
		case *b < 1024:
			return nil, invalid("thinking.budget_tokens", fmt.Sprintf("thinking.budget_tokens is %d; it must be greater than or equal to 1024", *b))
		case *b >= maxTokens:
			return nil, invalid("thinking.budget_tokens", fmt.Sprintf("max_tokens (%d) must be greater than thinking.budget_tokens (%d)", maxTokens, *b))
		}
		return &provider.Reasoning{MaxTokens: *t.BudgetTokens}, nil
	case "disabled":
		return &provider.Reasoning{Effort: "none"}, nil
	case "adaptive":
		return &provider.Reasoning{Effort: "medium"}, nil
	}
	return nil, invalid("thinking.type", fmt.Sprintf(`thinking.type is %q; it may be "enabled", "disabled" or "adaptive"`, echo(t.Type)))
}

// contentBlockIn is a content block of a Messages request, of any type:
// the members each type the gateway carries reads. cache_control and
// citations are accepted and dropped: they annotate a block for
// Anthropic's cache and documents, which other upstreams do not have.
type contentBlockIn struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Source    json.RawMessage `json:"source"`      // image
	ID        string          `json:"id"`          // tool_use
	Name      string          `json:"name"`        // tool_use
	Input     json.RawMessage `json:"input"`       // tool_use
	ToolUseID string          `json:"tool_use_id"` // tool_result
	Content   json.RawMessage `json:"content"`     // tool_result
	IsError   bool            `json:"is_error"`    // tool_result
	Thinking  *string         `json:"thinking"`    // thinking
	Signature string          `json:"signature"`   // thinking
}

// anthropicMessages turns a Messages request's messages into the router's.
// A user message's tool results come first, each a "tool" message, and the
// rest of its content after them as a user message.
func anthropicMessages(msgs []chatMessage) ([]provider.Message, *apiError) {
	if len(msgs) == 0 {
		return nil, invalid("messages", "messages is missing or empty: send at least one message")
	}
	var out []provider.Message
	for i, m := range msgs {
		field := fmt.Sprintf("messages[%d]", i)
		if m.Role != "user" && m.Role != "assistant" {
			return nil, invalid(field+".role", fmt.Sprintf(`%s.role is %q; it must be "user" or "assistant" (a system prompt goes in system)`, field, echo(m.Role)))
		}
		content := bytes.TrimSpace(m.Content)
		switch {
		case len(content) == 0 || string(content) == "null":
			return nil, invalid(field+".content", field+" has no content")
		case content[0] == '"':
			var s string
			if err := json.Unmarshal(content, &s); err != nil {
				return nil, invalid(field+".content", field+".content is not a valid string")
			}
			out = append(out, provider.Message{Role: m.Role, Content: s})
			continue
		}
		var blocks []json.RawMessage
		if err := json.Unmarshal(content, &blocks); err != nil {
			return nil, invalid(field+".content", field+".content must be a string or an array of content blocks")
		}
		var e *apiError
		if m.Role == "user" {
			out, e = userBlocks(out, field+".content", blocks)
		} else {
			out, e = assistantBlocks(out, field+".content", blocks)
		}
		if e != nil {
			return nil, e
		}
	}
	return out, nil
}

// readBlock reads the content block at field, which must be an object.
func readBlock(field string, raw json.RawMessage) (contentBlockIn, *apiError) {
	var b contentBlockIn
	if _, e := blockMembers(field, raw); e != nil {
		return b, e
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, invalid(field, fmt.Sprintf("%s is not a valid content block: %s", field, echo(err.Error())))
	}
	return b, nil
}

// blockMembers reads the object at field (a block or a tool) into its members.
func blockMembers(field string, raw json.RawMessage) (map[string]json.RawMessage, *apiError) {
	var m map[string]json.RawMessage
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, invalid(field, fmt.Sprintf("%s must be an object, not %s", field, describe(raw)))
	}
	return m, nil
}

// notCarried is the error for a block of a type the gateway does not
// carry in this place.
func notCarried(field, typ, where string) *apiError {
	return invalid(field, fmt.Sprintf("%s is a block of type %q; Switchboard carries %s", field, echo(typ), where))
}

// userBlocks appends a user message's blocks to out: a tool message per
// tool_result, then the text and images as one user message.
func userBlocks(out []provider.Message, field string, blocks []json.RawMessage) ([]provider.Message, *apiError) {
	var parts []provider.Part
	for j, raw := range blocks {
		at := fmt.Sprintf("%s[%d]", field, j)
		b, e := readBlock(at, raw)
		if e != nil {
			return nil, e
		}
		switch b.Type {
		case "text", "image":
			p, e := part(at, b)
			if e != nil {
				return nil, e
			}
			parts = append(parts, p)
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, invalid(at+".tool_use_id", at+".tool_use_id is missing: a tool result names the tool_use it answers")
			}
			m, e := toolResult(at, b)
			if e != nil {
				return nil, e
			}
			out = append(out, m)
		default:
			return nil, notCarried(at, b.Type, "text, image and tool_result blocks in a user message")
		}
	}
	if len(blocks) == 0 || len(parts) > 0 {
		out = append(out, partsMessage("user", parts))
	}
	return out, nil
}

// toolResult is the tool message of the tool_result block b at field.
func toolResult(field string, b contentBlockIn) (provider.Message, *apiError) {
	m := provider.Message{Role: "tool", ToolCallID: b.ToolUseID, ToolError: b.IsError}
	content := bytes.TrimSpace(b.Content)
	switch {
	case len(content) == 0 || string(content) == "null":
		return m, nil
	case content[0] == '"':
		if err := json.Unmarshal(content, &m.Content); err != nil {
			return m, invalid(field+".content", field+".content is not a valid string")
		}
		return m, nil
	}
	var blocks []json.RawMessage
	if err := json.Unmarshal(content, &blocks); err != nil {
		return m, invalid(field+".content", field+".content must be a string or an array of text and image blocks")
	}
	var parts []provider.Part
	for k, raw := range blocks {
		at := fmt.Sprintf("%s.content[%d]", field, k)
		c, e := readBlock(at, raw)
		if e != nil {
			return m, e
		}
		if c.Type != "text" && c.Type != "image" {
			return m, notCarried(at, c.Type, "text and image blocks in a tool result")
		}
		p, e := part(at, c)
		if e != nil {
			return m, e
		}
		parts = append(parts, p)
	}
	pm := partsMessage("tool", parts)
	m.Content, m.Parts = pm.Content, pm.Parts
	return m, nil
}

// partsMessage is a message of text and image parts: its text alone as
// Content when it has no image, else the parts.
func partsMessage(role string, parts []provider.Part) provider.Message {
	m := provider.Message{Role: role, Parts: parts}
	if !m.HasImage() {
		m.Content, m.Parts = m.Text(), nil
	}
	return m
}

// part reads a text or an image block.
func part(field string, b contentBlockIn) (provider.Part, *apiError) {
	if b.Type == "text" {
		if b.Text == nil {
			return provider.Part{}, invalid(field+".text", field+` is a text block with no "text"`)
		}
		return provider.Part{Type: provider.PartText, Text: *b.Text}, nil
	}
	url, e := imageSource(field+".source", b.Source)
	return provider.Part{Type: provider.PartImage, ImageURL: url}, e
}

// imageMediaTypes are the image types Anthropic takes.
var imageMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// imageSource reads an image block's source as the URL of a part: a data
// URL holding a base64 image, or the image's own URL.
func imageSource(field string, v json.RawMessage) (string, *apiError) {
	var s struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &s) != nil {
		return "", invalid(field, fmt.Sprintf(`%s must be an object such as {"type": "base64", "media_type": "image/png", "data": "..."}, not %s`, field, describe(v)))
	}
	switch s.Type {
	case "base64":
		if !slices.Contains(imageMediaTypes, s.MediaType) {
			return "", invalid(field+".media_type", fmt.Sprintf("%s.media_type is %q; it may be %s", field, echo(s.MediaType), strings.Join(imageMediaTypes, ", ")))
		}
		if s.Data == "" {
			return "", invalid(field+".data", field+".data is missing: the image, base64-encoded")
		}
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return "", invalid(field+".url", fmt.Sprintf("%s.url is %q; it must be an http or https URL", field, echo(s.URL)))
		}
		return s.URL, nil
	}
	return "", invalid(field+".type", fmt.Sprintf(`%s.type is %q; Switchboard carries "base64" and "url" images`, field, echo(s.Type)))
}

// assistantBlocks appends an assistant message to out: its text, its
// tool calls, and its thinking with the signature. redacted_thinking is
// dropped: it is encrypted thinking only Anthropic reads back, and only
// whole with the rest of the turn's thinking, which other upstreams never
// see.
func assistantBlocks(out []provider.Message, field string, blocks []json.RawMessage) ([]provider.Message, *apiError) {
	m := provider.Message{Role: "assistant"}
	var text strings.Builder
	var thinking int
	for j, raw := range blocks {
		at := fmt.Sprintf("%s[%d]", field, j)
		b, e := readBlock(at, raw)
		if e != nil {
			return nil, e
		}
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, invalid(at+".text", at+` is a text block with no "text"`)
			}
			text.WriteString(*b.Text)
		case "tool_use":
			call, e := toolUse(at, b, len(m.ToolCalls))
			if e != nil {
				return nil, e
			}
			m.ToolCalls = append(m.ToolCalls, call)
		case "thinking":
			if b.Thinking == nil {
				return nil, invalid(at+".thinking", at+` is a thinking block with no "thinking"`)
			}
			m.Reasoning += *b.Thinking
			m.ReasoningSignature = b.Signature
			thinking++
		case "redacted_thinking":
		default:
			return nil, notCarried(at, b.Type, "text, tool_use and thinking blocks in an assistant message")
		}
	}
	if thinking > 1 {
		// Each block's signature seals that block alone: joined, no
		// signature holds, so none is sent.
		m.ReasoningSignature = ""
	}
	m.Content = text.String()
	return append(out, m), nil
}

// toolUse reads the tool_use block b at field, the index-th call of its
// message: its input goes upstream compacted, as the call's arguments.
func toolUse(field string, b contentBlockIn, index int) (provider.ToolCall, *apiError) {
	switch {
	case b.ID == "":
		return provider.ToolCall{}, invalid(field+".id", field+".id is missing: a tool_use block has the id its tool_result names")
	case b.Name == "":
		return provider.ToolCall{}, invalid(field+".name", field+".name is missing: the name of the tool called")
	}
	input := bytes.TrimSpace(b.Input)
	if len(input) == 0 || input[0] != '{' {
		return provider.ToolCall{}, invalid(field+".input", fmt.Sprintf("%s.input must be an object, not %s", field, describe(input)))
	}
	var args bytes.Buffer
	_ = json.Compact(&args, input) // valid: it was just decoded
	return provider.ToolCall{Index: index, ID: b.ID, Name: b.Name, Arguments: args.String()}, nil
}

// systemPrompt reads system: a string, or an array of text blocks (with
// cache_control, dropped), joined.
func systemPrompt(v json.RawMessage) (string, *apiError) {
	var s string
	if v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return "", invalid("system", "system is not a valid string")
		}
		return s, nil
	}
	var blocks []json.RawMessage
	if err := json.Unmarshal(v, &blocks); err != nil {
		return "", invalid("system", fmt.Sprintf("system must be a string or an array of text blocks, not %s", describe(v)))
	}
	var text strings.Builder
	for j, raw := range blocks {
		at := fmt.Sprintf("system[%d]", j)
		b, e := readBlock(at, raw)
		if e != nil {
			return "", e
		}
		if b.Type != "text" {
			return "", notCarried(at, b.Type, "text blocks in system")
		}
		if b.Text == nil {
			return "", invalid(at+".text", at+` is a text block with no "text"`)
		}
		text.WriteString(*b.Text)
	}
	return text.String(), nil
}

// anthropicExtras reads tools, tool_choice and thinking into req, and
// names them among its parameters (in OpenRouter's words, as an
// endpoint's supported parameters list them) for require_parameters.
func anthropicExtras(req *routing.Request, x messagesExtras, maxTokens int) *apiError {
	if e := anthropicToolUse(req, x); e != nil {
		return e
	}
	if present(x.Thinking) != nil {
		var e *apiError
		if req.Reasoning, e = anthropicThinking(bytes.TrimSpace(x.Thinking), maxTokens); e != nil {
			return e
		}
	}
	if present(x.OutputConfig) != nil {
		effort, e := outputEffort(bytes.TrimSpace(x.OutputConfig))
		if e != nil {
			return e
		}
		if effort != "" && req.Reasoning == nil {
			req.Reasoning = &provider.Reasoning{Effort: effort}
		}
	}
	if req.Reasoning != nil && req.Reasoning.Effort != "none" { // disabled thinking asks nothing of an endpoint
		req.Params = append(req.Params, "reasoning")
	}
	return nil
}

// outputEffort reads Anthropic's output_config: its effort (how much the
// model thinks and writes), as a reasoning effort when thinking does not
// say; its structured output format is refused, since no upstream of the
// other protocol would be held to it.
func outputEffort(v json.RawMessage) (string, *apiError) {
	var oc map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &oc) != nil {
		return "", invalid("output_config", fmt.Sprintf(`output_config must be an object such as {"effort": "high"}, not %s`, describe(v)))
	}
	var effort string
	for _, k := range sortedKeys(oc) {
		switch k {
		case "effort":
			if e := decodeString("output_config.effort", oc[k], &effort); e != nil {
				return "", e
			}
			switch effort {
			case "low", "medium", "high", "xhigh":
			case "max": // the most there is: OpenRouter's xhigh
				effort = "xhigh"
			default:
				return "", invalid("output_config.effort", fmt.Sprintf(`output_config.effort is %q; it may be "low", "medium", "high", "xhigh" or "max"`, echo(effort)))
			}
		case "format":
			return "", invalid("output_config.format", "output_config.format (structured outputs) is not supported by Switchboard's /v1/messages; leave it out")
		default:
			return "", invalid(member("output_config", k), member("output_config", k)+" is not a member of output_config; it has effort and format")
		}
	}
	return effort, nil
}

// anthropicToolUse reads tools and tool_choice into req. A choice of auto
// or none with no tools (any and tool are refused without them) asks
// nothing, and is left out: OpenAI's upstreams refuse a tool_choice
// without tools.
func anthropicToolUse(req *routing.Request, x messagesExtras) *apiError {
	var e *apiError
	if present(x.Tools) != nil {
		if req.Tools, e = anthropicTools(x.Tools); e != nil {
			return e
		}
	}
	var choice provider.ToolChoice
	if present(x.ToolChoice) != nil {
		if choice, e = anthropicToolChoice(bytes.TrimSpace(x.ToolChoice), req.Tools); e != nil {
			return e
		}
	}
	if len(req.Tools) == 0 {
		return nil
	}
	req.Params = append(req.Params, "tools")
	if choice.Mode != "" {
		req.ToolChoice = choice
		req.Params = append(req.Params, "tool_choice")
	}
	if present(x.ToolChoice) != nil && disablesParallel(x.ToolChoice) {
		no := false
		req.ParallelToolCalls = &no
	}
	return nil
}
