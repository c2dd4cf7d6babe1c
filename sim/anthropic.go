package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// anthropic is the dialect of Anthropic's Messages API: the same server,
// faults and text as the OpenAI dialect, in Anthropic's words.
type anthropic struct{}

// handleMessages answers POST /v1/messages.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, anthropic{})
}

// statusOverloaded is Anthropic's own status for "too busy to answer".
const statusOverloaded = 529

// anthropicParams are the top-level request fields the Messages API knows;
// any other (OpenAI's logprobs, say) is refused, as the real API refuses
// it. The simulator acts on some of them; the rest (sampling, ...) are
// accepted and ignored, as the OpenAI dialect ignores its own.
var anthropicParams = map[string]bool{
	"model": true, "max_tokens": true, "messages": true, "system": true, "stream": true,
	"temperature": true, "top_p": true, "top_k": true, "stop_sequences": true, "metadata": true,
	"tools": true, "tool_choice": true, "thinking": true, "service_tier": true,
}

// anthropicRequest is the part of a Messages API request the simulator
// reads or type-checks.
type anthropicRequest struct {
	Model         string             `json:"model"`
	MaxTokens     *int               `json:"max_tokens"`
	Messages      *[]wireMessage     `json:"messages"`
	System        json.RawMessage    `json:"system"`
	Stream        bool               `json:"stream"`
	Temperature   *float64           `json:"temperature"`
	TopP          *float64           `json:"top_p"`
	TopK          *int               `json:"top_k"`
	StopSequences []string           `json:"stop_sequences"`
	Metadata      *anthropicMetadata `json:"metadata"`
	Tools         *[]anthropicTool   `json:"tools"`
	ToolChoice    *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
}

// anthropicTool is one of the tools offered: a client tool (type absent or
// "custom") with its input schema, or one of Anthropic's server tools
// (web search, ...), which the simulator takes and never calls.
type anthropicTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// minThinkingBudget is the least budget_tokens Anthropic takes.
const minThinkingBudget = 1024

// thinkingDocs is where Anthropic's refusals about thinking send a reader.
const thinkingDocs = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

// anthropicMetadata is the request's metadata: Anthropic's schema has the
// end user's id in it and nothing else.
type anthropicMetadata struct {
	UserID *string `json:"user_id"`
}

// maxUserID is the longest metadata.user_id the Messages API takes.
const maxUserID = 256

// decode reads and validates a request, answering problems the way the
// Messages API does: "<field>: <what is wrong>".
func (anthropic) decode(w http.ResponseWriter, r *http.Request) (*chatRequest, *httpError) {
	// Any version is taken: the simulator speaks only one.
	if r.Header.Get("anthropic-version") == "" {
		return nil, anthropicInvalid("anthropic-version: header is required")
	}
	raw, tooLarge, err := readBody(w, r)
	if tooLarge {
		return nil, anthropicError(http.StatusRequestEntityTooLarge,
			"Request exceeds the maximum allowed number of bytes (%d).", maxBodyBytes)
	}
	var fields map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &fields)
	}
	if err != nil {
		return nil, anthropicInvalid("The request body is not a valid JSON object: %v.", err)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !anthropicParams[name] {
			return nil, anthropicInvalid("%s: Extra inputs are not permitted", name)
		}
	}
	var req anthropicRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return nil, anthropicInvalid("%s: Input should be %s", te.Field, kindName(te.Type))
		}
		return nil, anthropicInvalid("The request body could not be read: %v.", err)
	}
	switch {
	case req.Model == "":
		return nil, anthropicInvalid("model: Field required")
	case req.MaxTokens == nil:
		return nil, anthropicInvalid("max_tokens: Field required")
	case *req.MaxTokens < 1:
		return nil, anthropicInvalid("max_tokens: Input should be greater than or equal to 1")
	case req.Messages == nil:
		return nil, anthropicInvalid("messages: Field required")
	case len(*req.Messages) == 0:
		return nil, anthropicInvalid("messages: at least one message is required")
	}
	chat := &chatRequest{model: req.Model, stream: req.Stream, maxTokens: *req.MaxTokens}
	if req.Metadata != nil {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(fields["metadata"], &keys) // an object: it decoded into the struct
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if k != "user_id" {
				return nil, anthropicInvalid("metadata.%s: Extra inputs are not permitted", k)
			}
		}
		if id := req.Metadata.UserID; id != nil {
			if utf8.RuneCountInString(*id) > maxUserID {
				return nil, anthropicInvalid("metadata.user_id: String should have at most %d characters", maxUserID)
			}
			chat.user = *id
		}
	}
	system, ok := contentText(req.System)
	if !ok {
		return nil, anthropicInvalid("system: Input should be a valid string or a list of text blocks")
	}
	// The system prompt goes first, as an OpenAI client would send it, so
	// the same conversation gets the same words and prompt tokens in both
	// dialects.
	if system != "" {
		chat.messages = append(chat.messages, message{Role: "system", text: system})
	}
	turns := make([]message, 0, len(*req.Messages))
	for i, m := range *req.Messages {
		switch m.Role {
		case "user", "assistant":
		case "system":
			return nil, anthropicInvalid("messages.%d.role: Unexpected role \"system\". The Messages API accepts "+
				"a top-level `system` parameter, not \"system\" as an input message role.", i)
		default:
			return nil, anthropicInvalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if c := strings.TrimSpace(string(m.Content)); c == "" || c == "null" {
			return nil, anthropicInvalid("messages.%d.content: Field required", i)
		}
		var prev *message
		if i > 0 {
			prev = &turns[i-1]
		}
		msg, fail := anthropicMessageOf(i, m, prev, chat)
		if fail != nil {
			return nil, fail
		}
		turns = append(turns, msg)
	}
	for i, m := range turns {
		if len(m.calls) == 0 {
			continue
		}
		answered := map[string]bool{}
		if i+1 < len(turns) {
			for _, r := range turns[i+1].results {
				answered[r.id] = true
			}
		}
		var missing []string
		for _, c := range m.calls {
			if !answered[c.id] {
				missing = append(missing, c.id)
			}
		}
		if len(missing) > 0 {
			return nil, anthropicInvalid("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. "+
				"Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, strings.Join(missing, ", "))
		}
	}
	chat.messages = append(chat.messages, turns...)
	if fail := anthropicTools(&req, chat); fail != nil {
		return nil, fail
	}
	if fail := anthropicThinking(&req, chat); fail != nil {
		return nil, fail
	}
	return chat, nil
}

// anthropicBlock is a content block of a message, of any type the
// simulator reads; the fields of the others are left unread.
type anthropicBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// tool_use
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
	// tool_result
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"` // a string or text blocks
	IsError   *bool           `json:"is_error"`
	// image
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
	// thinking
	Thinking  *string `json:"thinking"`
	Signature *string `json:"signature"`
}

// anthropicMessageOf reads message i, whose content is a string or a list
// of blocks; prev is the message before it, whose tool_use blocks its
// tool_result blocks must answer. Its images and thinking blocks go into
// chat, for the server to check.
func anthropicMessageOf(i int, m wireMessage, prev *message, chat *chatRequest) (message, *httpError) {
	msg := message{Role: m.Role}
	var blocks []anthropicBlock
	if json.Unmarshal(m.Content, &msg.text) == nil {
		return msg, nil
	}
	if json.Unmarshal(m.Content, &blocks) != nil {
		return msg, anthropicInvalid("messages.%d.content: Input should be a valid string or a list of content blocks", i)
	}
	var text []string
	for j, b := range blocks {
		at := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "image":
			if fail := checkImageSource(at, b); fail != nil {
				return msg, fail
			}
			msg.images++
			chat.images = append(chat.images, image{refusal: anthropicInvalid("%s.image: model %s does not support image input.", at, chat.model)})
		case "tool_use":
			switch {
			case m.Role != "assistant":
				return msg, anthropicInvalid("%s: `tool_use` blocks can only be in `assistant` messages", at)
			case b.ID == "":
				return msg, anthropicInvalid("%s.tool_use.id: Field required", at)
			case b.Name == "":
				return msg, anthropicInvalid("%s.tool_use.name: Field required", at)
			}
			var args bytes.Buffer
			if json.Compact(&args, b.Input) != nil || !bytes.HasPrefix(args.Bytes(), []byte("{")) {
				return msg, anthropicInvalid("%s.tool_use.input: Input should be a valid dictionary", at)
			}
			msg.calls = append(msg.calls, toolCall{id: b.ID, name: b.Name, args: args.String()})
		case "tool_result":
			if m.Role != "user" {
				return msg, anthropicInvalid("%s: `tool_result` blocks can only be in `user` messages", at)
			}
			var name string
			if prev != nil {
				if k := slices.IndexFunc(prev.calls, func(c toolCall) bool { return c.id == b.ToolUseID }); k >= 0 {
					name = prev.calls[k].name
				}
			}
			if name == "" {
				return msg, anthropicInvalid("%s: unexpected `tool_use_id` found in `tool_result` blocks: %s. "+
					"Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", at, b.ToolUseID)
			}
			result, ok := contentText(b.Content)
			if !ok {
				return msg, anthropicInvalid("%s.tool_result.content: Input should be a valid string or a list of content blocks", at)
			}
			msg.results = append(msg.results, toolResult{id: b.ToolUseID, name: name, text: result})
		case "thinking":
			if b.Thinking == nil || b.Signature == nil {
				return msg, anthropicInvalid("%s.thinking.signature: Field required", at)
			}
			chat.thoughts = append(chat.thoughts, thought{text: *b.Thinking, signature: *b.Signature,
				refusal: anthropicInvalid("%s: Invalid `signature` in `thinking` block", at)})
		}
	}
	msg.text = strings.Join(text, " ")
	return msg, nil
}

// checkImageSource refuses an image block whose source is not base64 of
// an image of a type Anthropic takes, nor a URL. A URL is taken as it is:
// the simulator fetches nothing.
func checkImageSource(at string, b anthropicBlock) *httpError {
	src := b.Source
	switch {
	case src == nil:
		return anthropicInvalid("%s.image.source: Field required", at)
	case src.Type == "url":
		if src.URL == "" {
			return anthropicInvalid("%s.image.source.url.url: Field required", at)
		}
	case src.Type == "base64":
		if !slices.Contains(anthropicMediaTypes, src.MediaType) {
			return anthropicInvalid("%s.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "+
				"'image/gif' or 'image/webp'", at)
		}
		if !decodeBase64(src.Data) {
			return anthropicInvalid("%s.image.source.base64.data: The image data is not valid base64.", at)
		}
	default:
		return anthropicInvalid("%s.image.source: Input tag '%s' found using 'type' does not match any of the expected "+
			"tags: 'base64', 'url'", at, src.Type)
	}
	return nil
}

// anthropicTools reads the tools offered and tool_choice.
func anthropicTools(req *anthropicRequest, chat *chatRequest) *httpError {
	if req.Tools != nil {
		for i, t := range *req.Tools {
			if t.Type != "" && t.Type != "custom" {
				continue // a server tool: the simulator runs none
			}
			switch {
			case t.Name == "":
				return anthropicInvalid("tools.%d.custom.name: Field required", i)
			case len(bytes.TrimSpace(t.InputSchema)) == 0 || bytes.Equal(bytes.TrimSpace(t.InputSchema), []byte("null")):
				return anthropicInvalid("tools.%d.custom.input_schema: Field required", i)
			}
			chat.tools = append(chat.tools, tool{name: t.Name, schema: t.InputSchema})
		}
	}
	c := req.ToolChoice
	if c == nil {
		return nil
	}
	switch c.Type {
	case "auto":
	case "none":
		chat.toolChoice.mode = choiceNone
	case "any":
		chat.toolChoice.mode = choiceAny
	case "tool":
		if c.Name == "" {
			return anthropicInvalid("tool_choice.tool.name: Field required")
		}
		if !slices.ContainsFunc(chat.tools, func(t tool) bool { return t.name == c.Name }) {
			return anthropicInvalid("tool_choice.name: Tool '%s' not found in `tools`", c.Name)
		}
		chat.toolChoice = toolChoice{mode: choiceNamed, name: c.Name}
	default:
		return anthropicInvalid("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: "+
			"'auto', 'any', 'tool', 'none'", c.Type)
	}
	return nil
}

// anthropicThinking reads thinking, and refuses what Anthropic refuses
// with it enabled: a budget under the least or not under max_tokens,
// temperature other than 1, top_k, and a tool_choice that forces a call.
func anthropicThinking(req *anthropicRequest, chat *chatRequest) *httpError {
	th := req.Thinking
	if th == nil {
		return nil
	}
	switch th.Type {
	case "disabled":
		return nil
	case "enabled":
	default:
		return anthropicInvalid("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: "+
			"'disabled', 'enabled'", th.Type)
	}
	switch b := th.BudgetTokens; {
	case b == nil:
		return anthropicInvalid("thinking.enabled.budget_tokens: Field required")
	case *b < minThinkingBudget:
		return anthropicInvalid("thinking.enabled.budget_tokens: Input should be greater than or equal to %d", minThinkingBudget)
	case *b >= *req.MaxTokens:
		return anthropicInvalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at " +
			thinkingDocs + "#max-tokens-and-context-window-size")
	case req.Temperature != nil && *req.Temperature != 1:
		return anthropicInvalid("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at " +
			thinkingDocs + "#important-considerations-when-using-extended-thinking")
	case req.TopK != nil:
		return anthropicInvalid("`top_k` may not be set when thinking is enabled. Please consult our documentation at " +
			thinkingDocs + "#important-considerations-when-using-extended-thinking")
	case chat.toolChoice.mode == choiceAny || chat.toolChoice.mode == choiceNamed:
		return anthropicInvalid("Thinking may not be enabled when tool_choice forces tool use.")
	}
	chat.thinks = true
	return nil
}

// kindName says what JSON a Go type takes, in the words of Anthropic's
// validation errors.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a valid boolean"
	case reflect.Int, reflect.Int64:
		return "a valid integer"
	case reflect.Float64:
		return "a valid number"
	case reflect.String:
		return "a valid string"
	case reflect.Slice:
		return "a valid list"
	case reflect.Map, reflect.Struct:
		return "a valid dictionary"
	}
	return "of type " + t.String()
}

// anthropicErrorBody is the body of every Anthropic error.
type anthropicErrorBody struct {
	Type  string `json:"type"` // always "error"
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// anthropicError makes an error whose type follows from its status, as
// Anthropic documents them: other 4xx statuses are invalid_request_error
// and other 5xx statuses api_error.
func anthropicError(status int, format string, args ...any) *httpError {
	body := anthropicErrorBody{Type: "error"}
	body.Error.Type = anthropicErrorType(status)
	body.Error.Message = fmt.Sprintf(format, args...)
	return &httpError{status: status, body: body}
}

func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case statusOverloaded:
		return "overloaded_error"
	}
	if status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

func anthropicInvalid(format string, args ...any) *httpError {
	return anthropicError(http.StatusBadRequest, format, args...)
}

func (anthropic) authorize(r *http.Request, key string) *httpError {
	got := r.Header.Get("x-api-key")
	switch {
	case key == "" || got == key:
		return nil
	case got == "":
		return anthropicError(http.StatusUnauthorized, "x-api-key header is required")
	}
	// The key is never echoed back: secrets stay out of error texts.
	return anthropicError(http.StatusUnauthorized, "invalid x-api-key")
}

// unavailable is 529 overloaded_error, not the 503 of the OpenAI dialect:
// when Anthropic cannot serve it says it is overloaded, and a client should
// see a down Anthropic the way it would meet one.
func (anthropic) unavailable(string) *httpError {
	return anthropicError(statusOverloaded, "Overloaded")
}

func (anthropic) modelNotFound(model string) *httpError {
	return anthropicError(http.StatusNotFound, "model: %s", model)
}

// contextLength words the refusal as Anthropic does: a prompt that alone
// is over the limit is "too long"; one that fits, but not with max_tokens
// on top, gets the sum.
func (anthropic) contextLength(limit, prompt, maxTokens int) *httpError {
	if prompt > limit {
		return anthropicInvalid("prompt is too long: %d tokens > %d maximum", prompt, limit)
	}
	return anthropicInvalid("input length and `max_tokens` exceed context limit: %d + %d > %d, "+
		"decrease input length or `max_tokens` and try again", prompt, maxTokens, limit)
}

func (anthropic) prefillRefused() *httpError { return anthropicInvalid(prefillRefusal) }

func (anthropic) rateLimited(name string, retryAfter time.Duration) *httpError {
	secs := retryAfterSeconds(retryAfter)
	return anthropicError(http.StatusTooManyRequests, "This request would exceed the rate limit for your organization on %s. "+
		"Please try again in %ds.", name, secs).retryAfter(secs)
}

func (anthropic) injected(status int) *httpError {
	switch status {
	case http.StatusInternalServerError:
		return anthropicError(status, "Internal server error")
	case statusOverloaded:
		return anthropicError(status, "Overloaded")
	}
	text := http.StatusText(status)
	if text == "" {
		text = fmt.Sprintf("Error %d", status)
	}
	return anthropicError(status, "%s", text)
}

func (anthropic) notFound(path string) *httpError {
	return anthropicError(http.StatusNotFound, "Not found: %s", path)
}

func (anthropic) methodNotAllowed(method, path, allow string) *httpError {
	return anthropicError(http.StatusMethodNotAllowed, "%s is not allowed on %s; use %s.", method, path, allow)
}

// idPrefix is what Anthropic's message ids start with.
func (anthropic) idPrefix() string { return "msg_01" }

// anthropicMessage is a Messages API answer: whole, or (empty) in
// message_start.
type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // always "message"
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []any          `json:"content"` // textPart, thinkingPart and toolUsePart
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"` // always null: stop_sequences are ignored
	Usage        anthropicUsage `json:"usage"`
}

type anthropicUsage struct {
	InputTokens          int `json:"input_tokens"` // the prompt's tokens not read from the cache, as Anthropic counts them
	CacheReadInputTokens int `json:"cache_read_input_tokens,omitempty"`
	OutputTokens         int `json:"output_tokens"`
}

// inputUsage is the prompt's side of x's usage in Anthropic's words.
func inputUsage(x *exchange, output int) anthropicUsage {
	return anthropicUsage{InputTokens: x.prompt - x.cached, CacheReadInputTokens: x.cached, OutputTokens: output}
}

// textPart is a text content block ("text") or a piece of one ("text_delta").
type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// thinkingPart is a thinking content block ("thinking") or a piece of one
// ("thinking_delta"); only the whole block carries a signature.
type thinkingPart struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature,omitempty"`
}

// toolUsePart is a tool_use content block: whole, or opening a stream's
// block with an empty input that input_json_delta events then fill.
type toolUsePart struct {
	Type  string          `json:"type"` // "tool_use"
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// inputJSONDelta is a piece of a tool_use block's input, as JSON text.
type inputJSONDelta struct {
	Type        string `json:"type"` // "input_json_delta"
	PartialJSON string `json:"partial_json"`
}

// toolUse is the tool_use block of call, with input as its input.
func toolUse(c *toolCall, input string) toolUsePart {
	return toolUsePart{Type: "tool_use", ID: "toolu_" + c.id, Name: c.name, Input: json.RawMessage(input)}
}

func (anthropic) answer(x *exchange, _ time.Time) any {
	var content []any
	if len(x.answer.reasoning) > 0 {
		content = append(content, thinkingPart{Type: "thinking", Thinking: strings.Join(x.answer.reasoning, ""),
			Signature: x.signature})
	}
	if c := x.answer.call; c != nil {
		content = append(content, toolUse(c, c.args))
	} else {
		content = append(content, textPart{Type: "text", Text: x.answer.text()})
	}
	stop := stopReason(x.answer.finish)
	return anthropicMessage{ID: x.id, Type: "message", Role: "assistant", Model: x.req.model, Content: content,
		StopReason: &stop, Usage: inputUsage(x, x.answer.completionTokens())}
}

// stopReason turns the finish reason of an answer into Anthropic's word.
func stopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	}
	return "end_turn"
}

// anthropicPing is Anthropic's keep-alive event.
const anthropicPing = "event: ping\ndata: {\"type\":\"ping\"}\n\n"

func (anthropic) keepAlive() string { return anthropicPing }

func (anthropic) streamer(x *exchange, _ time.Time) streamer {
	return &anthropicStream{x: x, block: -1}
}

// anthropicStream words a stream as Anthropic's events: message_start, a
// content block per kind of token (thinking, then text or tool_use), each
// opened, filled by deltas and closed, then message_delta and
// message_stop.
type anthropicStream struct {
	x     *exchange
	block int    // index of the open content block; -1 before the first
	kind  string // "thinking", "text" or "tool_use", the open block's type; "" for none
}

// blockEvent is a content_block_start, content_block_delta or
// content_block_stop event.
type blockEvent struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block,omitempty"`
	Delta        any    `json:"delta,omitempty"`
}

type signatureDelta struct {
	Type      string `json:"type"` // "signature_delta"
	Signature string `json:"signature"`
}

func (a *anthropicStream) begin(ev sse) error {
	// Anthropic counts the first output token in message_start already; the
	// total comes in message_delta.
	return ev.event("message_start", struct {
		Type    string           `json:"type"`
		Message anthropicMessage `json:"message"`
	}{"message_start", anthropicMessage{ID: a.x.id, Type: "message", Role: "assistant", Model: a.x.req.model,
		Content: []any{}, Usage: inputUsage(a.x, 1)}})
}

func (a *anthropicStream) tokens(ev sse, run []string, reasoning bool) error {
	text := strings.Join(run, "")
	kind, delta := "text", any(textPart{Type: "text_delta", Text: text})
	switch {
	case reasoning:
		kind, delta = "thinking", thinkingPart{Type: "thinking_delta", Thinking: text}
	case a.x.answer.call != nil:
		kind, delta = "tool_use", inputJSONDelta{Type: "input_json_delta", PartialJSON: text}
	}
	if kind != a.kind {
		if err := a.closeBlock(ev); err != nil {
			return err
		}
		if err := a.openBlock(ev, kind); err != nil {
			return err
		}
	}
	return ev.event("content_block_delta", blockEvent{Type: "content_block_delta", Index: a.block, Delta: delta})
}

func (a *anthropicStream) openBlock(ev sse, kind string) error {
	a.block++
	a.kind = kind
	var start any = textPart{Type: "text"}
	switch kind {
	case "thinking":
		start = thinkingPart{Type: "thinking"}
	case "tool_use":
		start = toolUse(a.x.answer.call, "{}")
	}
	if err := ev.event("content_block_start", blockEvent{Type: "content_block_start", Index: a.block, ContentBlock: start}); err != nil {
		return err
	}
	if kind == "text" {
		// Anthropic pings once as the answer's text block opens.
		return ev.send(anthropicPing)
	}
	return nil
}

func (a *anthropicStream) closeBlock(ev sse) error {
	switch a.kind {
	case "":
		return nil
	case "thinking":
		sig := signatureDelta{Type: "signature_delta", Signature: a.x.signature}
		if err := ev.event("content_block_delta", blockEvent{Type: "content_block_delta", Index: a.block, Delta: sig}); err != nil {
			return err
		}
	}
	a.kind = ""
	return ev.event("content_block_stop", blockEvent{Type: "content_block_stop", Index: a.block})
}

func (a *anthropicStream) end(ev sse) error {
	if err := a.closeBlock(ev); err != nil {
		return err
	}
	type messageDelta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	type outputUsage struct {
		OutputTokens int `json:"output_tokens"`
	}
	err := ev.event("message_delta", struct {
		Type  string       `json:"type"`
		Delta messageDelta `json:"delta"`
		Usage outputUsage  `json:"usage"`
	}{"message_delta", messageDelta{StopReason: stopReason(a.x.answer.finish)},
		outputUsage{OutputTokens: a.x.answer.completionTokens()}})
	if err != nil {
		return err
	}
	return ev.event("message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"})
}

// fail sends Anthropic's error event, as its API does when it is
// overloaded mid-answer; nothing follows it.
func (a *anthropicStream) fail(ev sse) error {
	var e anthropicErrorBody
	e.Type, e.Error.Type, e.Error.Message = "error", "overloaded_error", "Overloaded"
	return ev.event("error", e)
}

// models lists the models the way Anthropic's GET /v1/models does: one
// page, newest first (here, in the profile's order).
func (anthropic) models(ids []string, created time.Time, _ string) any {
	type model struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	list := struct {
		Data    []model `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Data: []model{}}
	for _, id := range ids {
		list.Data = append(list.Data, model{Type: "model", ID: id, DisplayName: displayName(id),
			CreatedAt: created.UTC().Format(time.RFC3339)})
	}
	if len(ids) > 0 {
		first, last := ids[0], ids[len(ids)-1]
		list.FirstID, list.LastID = &first, &last
	}
	return list
}

// displayName makes a model id readable: "claude-sonnet-4" is "Claude Sonnet 4".
func displayName(id string) string {
	words := strings.Split(id, "-")
	for i, w := range words {
		if w != "" {
			words[i] = capitalize(w)
		}
	}
	return strings.Join(words, " ")
}
