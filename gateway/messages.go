package gateway

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/wirejson"
)

// Anthropic's Messages API (POST /v1/messages) over the same router, so
// that Anthropic's SDKs and Claude Code (ANTHROPIC_BASE_URL) route through
// Switchboard whatever protocol the upstreams speak. Its messages, tools
// and thinking are read in Anthropic's words (messages_request.go), the
// rest into a chatRequest checked as chat requests are; the answer is in
// Anthropic's blocks and events, and errors in its shape (see dialect).

// anthropicAPI is Anthropic's Messages API as a dialect, for a request
// whose prompt is estimated at prompt tokens (see messages).
func anthropicAPI(prompt *int) *dialect {
	s := &messageStream{prompt: prompt}
	return &dialect{name: "message", idPrefix: "msg_", writeError: writeAnthropicError, whole: wholeMessage,
		parse: func(body []byte) (*chatRequest, routing.Request, *apiError) {
			c, req, e := parseMessages(body)
			*prompt = routing.PromptTokens(req.Messages, req.Tools)
			return c, req, e
		},
		delta:     s.delta,
		keepAlive: sseEvent("ping", map[string]string{"type": "ping"}),
		end:       s.end}
}

// messages serves POST /v1/messages. A stream's message_start says the
// prompt's input tokens before the upstream has reported them (it reports
// them at the end): the router's estimate of the prompt (routing.PromptTokens,
// as count_tokens has it); message_delta at the end has the upstream's
// figure, or the estimate if it gave none.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	var prompt int
	s.serve(w, r, anthropicAPI(&prompt))
}

// messagesFields are the members of a Messages request the gateway takes:
// Anthropic's, OpenRouter's provider and models, and OpenRouter's fields
// for the gateway (gatewayFields) but user, whose place here is Anthropic's
// metadata.user_id, and metadata, which is Anthropic's here. Every other
// member is refused rather than dropped.
var messagesFields = []string{"model", "models", "provider", "messages", "system", "stream", "max_tokens",
	"temperature", "top_p", "top_k", "stop_sequences", "metadata", "tools", "tool_choice", "thinking", "output_config",
	"cache_control", "service_tier", "inference_geo", "context_management"}

// messagesExtras are the members of a Messages request that chatRequest
// does not have.
type messagesExtras struct {
	System        json.RawMessage `json:"system"`
	StopSequences []string        `json:"stop_sequences"`
	Metadata      json.RawMessage `json:"metadata"`
	Tools         json.RawMessage `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`
	Thinking      json.RawMessage `json:"thinking"`
	OutputConfig  json.RawMessage `json:"output_config"`
	// Anthropic's own settings of how it serves a request: its prompt
	// cache's marker, its service tier, the region it runs in, and its
	// clearing of old tool results from the context. They change where
	// and at what cost Anthropic answers, not the answer: checked for
	// their shape and not passed on (an Anthropic upstream caches,
	// tiers and places requests by its own defaults; the model sees the
	// whole history).
	CacheControl      *map[string]json.RawMessage `json:"cache_control"`
	ServiceTier       *string                     `json:"service_tier"`
	InferenceGeo      *string                     `json:"inference_geo"`
	ContextManagement *map[string]json.RawMessage `json:"context_management"`
}

// parseMessages reads and checks a Messages request and turns it into the
// router's terms, as parseChat does for a chat request. The messages,
// tools and thinking are read here (see messages_request.go); the rest is
// checked as chat's is.
func parseMessages(body []byte) (*chatRequest, routing.Request, *apiError) {
	var none routing.Request
	fields, e := object(body)
	if e != nil {
		return nil, none, e
	}
	for _, k := range sortedKeys(fields) {
		switch {
		case string(fields[k]) == "null", slices.Contains(messagesFields, k), gatewayFields[k] != nil && k != "user":
		case k == "user":
			return nil, none, invalid(k, "user is OpenAI's field; in a Messages request the end user's id goes in metadata.user_id")
		default:
			return nil, none, invalid(echo(k), fmt.Sprintf("%s is not supported by Switchboard's /v1/messages; leave it out", echo(k)))
		}
	}
	var c chatRequest
	var x messagesExtras
	if err := wirejson.Unmarshal(body, &c); err != nil {
		return nil, none, badJSON(body, err)
	}
	if err := wirejson.Unmarshal(body, &x); err != nil {
		return nil, none, badJSON(body, err)
	}
	if c.MaxTokens == nil {
		return &c, none, invalid("max_tokens", "max_tokens is missing: the Messages API requires it, e.g. \"max_tokens\": 1024")
	}
	msgs, e := anthropicMessages(c.Messages)
	if e != nil {
		return &c, none, e
	}
	user, e := anthropicUser(x.Metadata)
	if e != nil {
		return &c, none, e
	}
	// The members chat's checks read, in OpenAI's words: top_p and top_k go
	// upstream as they are, stop_sequences as stop; OpenRouter's fields for
	// the gateway are read as on chat.
	chat := map[string]json.RawMessage{}
	for k, v := range fields {
		if k == "top_p" || k == "top_k" || gatewayFields[k] != nil && k != "metadata" {
			chat[k] = v
		}
	}
	if len(x.StopSequences) > 0 {
		chat["stop"], _ = json.Marshal(x.StopSequences)
	}
	req, e := c.common(chat)
	if e != nil {
		return &c, req, e
	}
	req.Messages, req.User = msgs, user
	if e := anthropicExtras(&req, x, *c.MaxTokens); e != nil {
		return &c, req, e
	}
	if present(x.System) != nil {
		sys, e := systemPrompt(bytes.TrimSpace(x.System))
		if e != nil {
			return &c, req, e
		}
		req.Messages = append([]provider.Message{{Role: "system", Content: sys}}, req.Messages...)
	}
	return &c, req, nil
}

// anthropicUser reads Anthropic's metadata, whose one field is user_id:
// the end user's id, which goes to routing.Request.User.
func anthropicUser(metadata json.RawMessage) (string, *apiError) {
	metadata = bytes.TrimSpace(metadata)
	if len(metadata) == 0 || string(metadata) == "null" {
		return "", nil
	}
	var m map[string]json.RawMessage
	if metadata[0] != '{' || json.Unmarshal(metadata, &m) != nil {
		return "", invalid("metadata", fmt.Sprintf(`metadata must be an object such as {"user_id": "..."}, not %s`, describe(metadata)))
	}
	var user string
	for _, k := range sortedKeys(m) {
		v := bytes.TrimSpace(m[k])
		switch {
		case k != "user_id":
			return "", invalid(member("metadata", k), member("metadata", k)+" is not a field of metadata; its one field is user_id")
		case string(v) == "null":
		default:
			if e := decodeString("metadata.user_id", v, &user); e != nil {
				return "", e
			}
		}
	}
	return user, nil
}

// anthropicMessage is a Messages answer: whole, or (empty) in
// message_start; with Switchboard's provider and trace.
type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // always "message"
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []contentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
	Provider     string         `json:"provider,omitempty"`
	Trace        *routing.Trace `json:"trace,omitempty"`
}

// anthropicUsage counts tokens as Anthropic does: input_tokens are the
// prompt's tokens not read from the cache, cache_read_input_tokens those
// that were.
type anthropicUsage struct {
	InputTokens          int `json:"input_tokens"`
	OutputTokens         int `json:"output_tokens"`
	CacheReadInputTokens int `json:"cache_read_input_tokens"`
}

// The types of an answer's content blocks.
const (
	blockText     = "text"
	blockThinking = "thinking"
	blockToolUse  = "tool_use"
)

// contentBlock is a block of an answer: text; thinking with its signature
// (empty when the thinking did not come from Anthropic); or a tool call,
// whose input is its arguments' JSON object (empty, {}, as a stream's
// content_block_start has it).
type contentBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        *string         `json:"id,omitempty"`
	Name      *string         `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

func textBlock(s string) contentBlock { return contentBlock{Type: blockText, Text: &s} }

// toolUseBlock is the block of call (the answer's x) with input.
func toolUseBlock(x *exchange, call provider.ToolCall, input json.RawMessage) contentBlock {
	id, name := callID(x, call), call.Name
	return contentBlock{Type: blockToolUse, ID: &id, Name: &name, Input: input}
}

// callID is a call's id: the upstream's, or one made from the answer's id
// and the call's place when the upstream gave none, since an Anthropic
// client answers each tool_use by its id.
func callID(x *exchange, call provider.ToolCall) string {
	if call.ID != "" {
		return call.ID
	}
	return fmt.Sprintf("toolu_%s_%d", x.id, call.Index)
}

// toolInput is a whole call's input: its arguments, which must be a JSON
// object. No arguments are {}. Arguments that are not a JSON object are
// the upstream model's fault, but they are what it said: rather than
// drop them (an input of {} would run the tool with none), they are kept
// whole as a string under "_raw", where the client's check of the input
// against the tool's schema finds them and can tell the model.
func toolInput(args string) json.RawMessage {
	trimmed := bytes.TrimSpace([]byte(args))
	if len(trimmed) == 0 {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	if trimmed[0] == '{' && json.Compact(&b, trimmed) == nil {
		return b.Bytes()
	}
	raw, _ := json.Marshal(map[string]string{"_raw": args}) // a string map always marshals
	return raw
}

// stopReason words a finish reason as Anthropic's stop_reason. An answer
// with tool calls stops for them (tool_use) even when its upstream said
// only "stop", as some do: an Anthropic client runs the tools when the
// stop reason says so.
func stopReason(finish string, called bool) *string {
	r := "end_turn"
	switch {
	case finish == "tool_calls", called && finish == "stop":
		r = "tool_use"
	case finish == "length":
		r = "max_tokens"
	case finish == "content_filter":
		r = "refusal"
	}
	return &r
}

// usageOfMessage is the upstream's usage in Anthropic's words: its
// prompt's tokens split into those read from the cache and the rest.
func usageOfMessage(u provider.Usage) anthropicUsage {
	cached := min(max(u.CachedTokens, 0), max(u.PromptTokens, 0))
	return anthropicUsage{InputTokens: u.PromptTokens - cached, OutputTokens: u.CompletionTokens, CacheReadInputTokens: cached}
}

// wholeMessage is a whole answer's message: its thinking, its text (when
// it has some, or nothing else), and its tool calls, in that order, as
// Anthropic's blocks come.
func wholeMessage(x *exchange, res *routing.Result) any {
	m := anthropicMessage{ID: x.id, Type: "message", Role: "assistant", Model: res.Model, Content: []contentBlock{},
		StopReason: stopReason(res.FinishReason, len(res.ToolCalls) > 0), Usage: usageOfMessage(res.Usage), Provider: res.Provider, Trace: res.Trace}
	if thinking := x.reasoning(res.Reasoning); thinking != "" {
		signature := res.Signature
		m.Content = append(m.Content, contentBlock{Type: blockThinking, Thinking: &thinking, Signature: &signature})
	}
	if res.Content != "" || len(res.ToolCalls) == 0 {
		m.Content = append(m.Content, textBlock(res.Content))
	}
	for _, c := range res.ToolCalls {
		m.Content = append(m.Content, toolUseBlock(x, c, toolInput(c.Arguments)))
	}
	return m
}

// sseEvent is one of Anthropic's named events.
func sseEvent(name string, v any) string {
	b, _ := wirejson.Marshal(v) // our own types
	return "event: " + name + "\ndata: " + string(b) + "\n\n"
}

// blockEvent is content_block_start, content_block_delta or
// content_block_stop.
type blockEvent struct {
	Type         string        `json:"type"`
	Index        int           `json:"index"`
	ContentBlock *contentBlock `json:"content_block,omitempty"`
	Delta        *blockDelta   `json:"delta,omitempty"`
}

// blockDelta is a piece of a block: text_delta, thinking_delta,
// signature_delta or input_json_delta.
type blockDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
}

// messageStream writes one Messages stream: message_start, then the
// answer's blocks as Anthropic streams them, each begun with
// content_block_start at the next index and stopped when the next begins
// (thinking, then text, then one tool_use block per call), then
// message_delta and message_stop.
type messageStream struct {
	prompt  *int        // the prompt's estimated tokens, for message_start
	started bool        // message_start went out
	blocks  int         // blocks begun; the open one, if any, is the last
	open    string      // the open block's type; "" for none
	calls   map[int]int // each call's block, by the call's Index
}

// delta writes a piece of the answer, and reports whether it wrote
// anything (log probabilities alone it does not: Anthropic has no word
// for them).
func (s *messageStream) delta(out *sseOut, x *exchange, d routing.Delta) bool {
	wrote := false
	if thinking := x.reasoning(d.Reasoning); thinking != "" {
		s.to(out, x, blockThinking)
		s.piece(out, "thinking_delta", thinking)
		wrote = true
	}
	if d.Signature != "" && !x.noReasoning {
		s.to(out, x, blockThinking)
		s.piece(out, "signature_delta", d.Signature)
		wrote = true
	}
	if d.Content != "" {
		s.to(out, x, blockText)
		s.piece(out, "text_delta", d.Content)
		wrote = true
	}
	for _, c := range d.ToolCalls {
		s.toolCall(out, x, c)
		wrote = true
	}
	return wrote
}

// to makes the open block one of type typ (not a tool call's): it stops
// the open block, if of another type, and begins a new one.
func (s *messageStream) to(out *sseOut, x *exchange, typ string) {
	if s.open == typ {
		return
	}
	empty := ""
	b := contentBlock{Type: typ, Text: &empty}
	if typ == blockThinking {
		b = contentBlock{Type: typ, Thinking: &empty}
	}
	s.begin(out, x, b)
}

// toolCall writes a piece of a call: its first begins the call's block,
// and each fragment of its arguments is an input_json_delta of it. A
// piece of an earlier call, after a later one began, goes to that call's
// block by its index, as Anthropic's events may address any begun block.
func (s *messageStream) toolCall(out *sseOut, x *exchange, c provider.ToolCall) {
	block, ok := s.calls[c.Index]
	if !ok {
		s.begin(out, x, toolUseBlock(x, c, json.RawMessage("{}")))
		if s.calls == nil {
			s.calls = map[int]int{}
		}
		block = s.blocks - 1
		s.calls[c.Index] = block
	}
	if c.Arguments != "" {
		out.line = blockDeltaEvent(out.line[:0], block, "input_json_delta", c.Arguments)
		out.raw(out.line)
	}
}

// begin stops the open block and begins b as the next, after
// message_start if the stream has not had it yet.
func (s *messageStream) begin(out *sseOut, x *exchange, b contentBlock) {
	s.start(out, x)
	s.stop(out)
	out.event("content_block_start", blockEvent{Type: "content_block_start", Index: s.blocks, ContentBlock: &b})
	s.blocks++
	s.open = b.Type
}

// piece writes a delta of the open block: text of a text_delta,
// thinking_delta or signature_delta.
func (s *messageStream) piece(out *sseOut, typ, text string) {
	out.line = blockDeltaEvent(out.line[:0], s.blocks-1, typ, text)
	out.raw(out.line)
}

// blockDeltaEvent appends the content_block_delta event of block index: a
// delta of type typ (text_delta, thinking_delta, signature_delta or
// input_json_delta) with text, as out.event would word the blockEvent,
// written by hand: the stream's most frequent event. FuzzMarshal holds
// the two to the same bytes.
func blockDeltaEvent(b []byte, index int, typ, text string) []byte {
	field := "text"
	switch typ {
	case "thinking_delta":
		field = "thinking"
	case "signature_delta":
		field = "signature"
	case "input_json_delta":
		field = "partial_json"
	}
	b = append(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = wirejson.AppendString(b, text)
	return append(b, "}}\n\n"...)
}

// stop stops the open block, if any.
func (s *messageStream) stop(out *sseOut) {
	if s.open == "" {
		return
	}
	out.event("content_block_stop", blockEvent{Type: "content_block_stop", Index: s.blocks - 1})
	s.open = ""
}

// start opens the stream's message, once, with the prompt's estimated
// input tokens.
func (s *messageStream) start(out *sseOut, x *exchange) {
	if s.started {
		return
	}
	s.started = true
	m := anthropicMessage{ID: x.id, Type: "message", Role: "assistant", Model: cmp.Or(x.served.Model, x.model),
		Content: []contentBlock{}, Provider: x.served.Provider, Usage: anthropicUsage{InputTokens: *s.prompt}}
	out.event("message_start", struct {
		Type    string           `json:"type"`
		Message anthropicMessage `json:"message"`
	}{"message_start", m})
}

// messageDeltaEvent carries the stop reason and the usage, and
// Switchboard's trace.
type messageDeltaEvent struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage anthropicUsage `json:"usage"`
	Trace *routing.Trace `json:"trace,omitempty"`
}

// end ends a Messages stream: the open block, the stop reason and usage,
// message_stop; or an error event, after which nothing more comes. An
// answer with no block has one empty text block, as Anthropic's has.
func (s *messageStream) end(out *sseOut, x *exchange, res *routing.Result, e *apiError) {
	if e != nil {
		out.event("error", e.anthropic())
		return
	}
	if !out.open { // an empty answer: no content ever came
		out.start(res.Provider)
	}
	if s.blocks == 0 {
		s.to(out, x, blockText)
	}
	s.stop(out)
	d := messageDeltaEvent{Type: "message_delta", Usage: usageOfMessage(res.Usage), Trace: res.Trace}
	if res.Usage.PromptTokens == 0 {
		d.Usage.InputTokens = *s.prompt
	}
	d.Delta.StopReason = stopReason(res.FinishReason, len(s.calls) > 0)
	out.event("message_delta", d)
	out.event("message_stop", map[string]string{"type": "message_stop"})
}
