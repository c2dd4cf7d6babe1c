package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"switchboard/wirejson"
)

// anthropicRequest is the body of POST /messages. We always stream.
type anthropicRequest struct {
	Model string `json:"model"`
	// System is the system messages, joined; Messages are the others.
	System    string                  `json:"system,omitempty"`
	Messages  []anthropicMessageParam `json:"messages"`
	MaxTokens int                     `json:"max_tokens"` // required
	// Temperature is at most 1.
	Temperature *float64 `json:"temperature,omitempty"`
	// The rest come from Request.Extra (see anthropicParams).
	TopP          json.RawMessage    `json:"top_p,omitempty"`
	TopK          json.RawMessage    `json:"top_k,omitempty"`
	StopSequences []string           `json:"stop_sequences,omitempty"`
	Metadata      *anthropicMetadata `json:"metadata,omitempty"`
	Stream        bool               `json:"stream"`
	// From Request's own fields.
	Tools      []anthropicTool      `json:"tools,omitempty"`
	ToolChoice *anthropicToolChoice `json:"tool_choice,omitempty"`
	Thinking   *anthropicThinking   `json:"thinking,omitempty"`
}

type anthropicMetadata struct {
	UserID string `json:"user_id"`
}

// defaultAnthropicMaxTokens is max_tokens when the request leaves it open:
// Anthropic requires one, and every current model can give this many.
const defaultAnthropicMaxTokens = 4096

// anthropicParams are the parameters of Request.Extra, named as OpenAI
// names them, that the Messages API has a counterpart for, with the name
// each is sent under. Every other key of Extra is dropped, not sent:
// Anthropic answers an unknown field with a 400, and most OpenAI parameters
// (seed, response_format, frequency_penalty, logprobs, n, ...) have no
// counterpart. AnthropicDropped tells a caller which of its parameters go.
var anthropicParams = map[string]string{
	"top_p": "top_p",
	"top_k": "top_k", // not OpenAI's, but OpenRouter's and vLLM's, and Anthropic's own
	"stop":  "stop_sequences",
}

// AnthropicDropped returns, sorted, the keys of extra (OpenAI-named request
// parameters, as in Request.Extra) that the Anthropic client leaves out of
// its request because the Messages API has nothing they map to: a caller
// can tell its user that they had no effect. It is empty when everything
// maps.
func AnthropicDropped(extra map[string]json.RawMessage) []string {
	_, dropped, _ := anthropicExtra(extra)
	return dropped
}

// anthropicExtra maps extra onto an Anthropic request (only the fields of
// anthropicParams are set in the result) and lists the keys it dropped.
// Keys the client sets itself, and values that are not valid JSON or not of
// a usable shape, are errors, as they are for the OpenAI client.
func anthropicExtra(extra map[string]json.RawMessage) (anthropicRequest, []string, error) {
	var r anthropicRequest
	var dropped []string
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v := bytes.TrimSpace(extra[k])
		switch {
		case ownKeys[k]:
			errs = append(errs, fmt.Errorf("parameter %q is set by the client, not passed through", k))
			continue
		case !json.Valid(v):
			errs = append(errs, fmt.Errorf("parameter %q is not valid JSON", k))
			continue
		case anthropicParams[k] == "":
			dropped = append(dropped, k)
			continue
		case string(v) == "null":
			continue // as if it were not there
		}
		switch k {
		case "top_p":
			r.TopP = v
		case "top_k":
			r.TopK = v
		case "stop":
			stops, err := stopSequences(v)
			if err != nil {
				errs = append(errs, err)
			}
			r.StopSequences = stops
		}
	}
	return r, dropped, errors.Join(errs...)
}

// stopSequences reads OpenAI's stop, a string or a list of strings, as
// Anthropic's stop_sequences, which is always a list.
func stopSequences(v json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		return list, nil
	}
	return nil, errors.New(`parameter "stop" must be a string or a list of strings`)
}

// encodeAnthropic builds the body of POST /messages from an OpenAI-shaped
// request.
func encodeAnthropic(req Request) ([]byte, error) { return encodeAnthropicWith(wirejson.Marshal, req) }

// encodeAnthropicWith is encodeAnthropic with marshal.
func encodeAnthropicWith(marshal marshaller, req Request) ([]byte, error) {
	r, _, err := anthropicExtra(req.Extra)
	if err != nil {
		return nil, err
	}
	if req.User != "" {
		r.Metadata = &anthropicMetadata{UserID: req.User} // Anthropic's place for the end user
	}
	r.Model, r.Stream = req.Model, true
	r.MaxTokens = req.MaxTokens
	if r.MaxTokens == 0 {
		r.MaxTokens = defaultAnthropicMaxTokens
	}
	if t := req.Temperature; t != nil {
		// OpenAI's temperature goes to 2, Anthropic's to 1, and a 400 for a
		// value its range does not have would fail a request that any
		// other provider serves: the hottest it can do is close enough.
		v := min(*t, 1)
		r.Temperature = &v
	}
	var errs [4]error
	r.System, r.Messages, errs[0] = anthropicMessages(req.Messages)
	r.Tools, errs[1] = anthropicTools(req.Tools)
	r.ToolChoice, errs[2] = anthropicChoice(req.ToolChoice, req.ParallelToolCalls)
	r.Thinking, errs[3] = anthropicBudget(req.Reasoning, req.MaxTokens)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if r.Thinking != nil {
		// Anthropic refuses a budget that leaves nothing of max_tokens for
		// the answer. OpenRouter's max_tokens counts the thinking too, so a
		// budget from an effort fits; one given in tokens may not, and then
		// the answer keeps the max_tokens it asked for, on top of it.
		if r.MaxTokens <= r.Thinking.BudgetTokens {
			r.MaxTokens = r.Thinking.BudgetTokens + cmp.Or(req.MaxTokens, defaultAnthropicMaxTokens)
		}
		// Thinking does not go with a temperature or top_k, nor with a
		// top_p below 0.95: Anthropic refuses the request. The model's own
		// sampling while it thinks is what Anthropic offers.
		r.Temperature, r.TopK = nil, nil
		var p float64
		if r.TopP != nil && json.Unmarshal(r.TopP, &p) == nil && p < 0.95 {
			r.TopP = nil
		}
	}
	return marshal(r)
}

// anthropicMessageParam is a message as a request sends it: Content is the
// text as a string, or a list of content blocks (anthropicText,
// anthropicImage, anthropicThinkingBlock, anthropicToolUse,
// anthropicToolResult).
type anthropicMessageParam struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

type anthropicText struct {
	Type string `json:"type"` // "text"
	Text string `json:"text"`
}

type anthropicImage struct {
	Type   string               `json:"type"` // "image"
	Source anthropicImageSource `json:"source"`
}

// anthropicImageSource is an image's source: {"type":"base64","media_type",
// "data"} or {"type":"url","url"}.
type anthropicImageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthropicThinkingBlock struct {
	Type      string `json:"type"` // "thinking"
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type anthropicToolUse struct {
	Type  string          `json:"type"` // "tool_use"
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// anthropicToolResult is a tool's result; Content is a string or a list
// of text and image blocks, nil for a result without any.
type anthropicToolResult struct {
	Type      string `json:"type"` // "tool_result"
	ToolUseID string `json:"tool_use_id"`
	Content   any    `json:"content,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
}

// anthropicTool is a tool the model may call. Anthropic requires its
// input_schema.
type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// anyInput is the input_schema of a tool without parameters.
var anyInput = json.RawMessage(`{"type":"object","properties":{}}`)

type anthropicToolChoice struct {
	Type                   string `json:"type"` // auto, any, tool, none
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthropicThinking struct {
	Type         string `json:"type"` // "enabled"
	BudgetTokens int    `json:"budget_tokens"`
}

// The bounds of a thinking budget: Anthropic takes no less than
// minThinkingBudget, and OpenRouter gives no more than maxThinkingBudget
// for an effort.
const (
	minThinkingBudget = 1024
	maxThinkingBudget = 128000
)

// anthropicMessages words msgs for Anthropic: the system prompt (the
// system messages' text, joined) and the other messages.
//
// Anthropic has no system role: the system prompt is a field of its own.
// OpenAI's newer name for the role, "developer", means the same. Nor has it
// a tool role: a tool's result is a tool_result block in a user message,
// and the results of one turn's calls must all be in the user message that
// follows it, first. So consecutive tool messages make one user message,
// and a user message right after them joins it, after the results.
func anthropicMessages(msgs []Message) (string, []anthropicMessageParam, error) {
	var system []string
	out := make([]anthropicMessageParam, 0, len(msgs))
	results := -1 // the index in out of the user message holding tool results, while it may take more
	for i, m := range msgs {
		var err error
		switch m.Role {
		case "system", "developer":
			if m.HasImage() {
				err = errors.New("a system message with an image: Anthropic's system prompt is text only")
				break
			}
			system = append(system, m.Text())
			continue // out of the messages, it parts no tool results from what follows them
		case "tool":
			var b anthropicToolResult
			if b, err = anthropicResult(m); err != nil {
				break
			}
			if results < 0 {
				out = append(out, anthropicMessageParam{Role: "user", Content: []any{}})
				results = len(out) - 1
			}
			out[results].Content = append(out[results].Content.([]any), b)
			continue
		case "user":
			var content any
			if content, err = anthropicUserContent(m); err != nil {
				break
			}
			if results >= 0 {
				out[results].Content = append(out[results].Content.([]any), asBlocks(content)...)
				results = -1
				continue
			}
			out = append(out, anthropicMessageParam{Role: "user", Content: content})
		case "assistant":
			var content any
			if content, err = anthropicAssistantContent(m); err == nil {
				out = append(out, anthropicMessageParam{Role: "assistant", Content: content})
			}
		default:
			err = fmt.Errorf("role %q is not system, developer, user, assistant or tool", m.Role)
		}
		if err != nil {
			return "", nil, fmt.Errorf("message %d: %w", i, err)
		}
		results = -1
	}
	return strings.Join(system, "\n\n"), out, nil
}

// asBlocks returns content (a string or blocks) as blocks.
func asBlocks(content any) []any {
	if s, ok := content.(string); ok {
		if s == "" {
			return nil // Anthropic refuses an empty text block
		}
		return []any{anthropicText{Type: "text", Text: s}}
	}
	return content.([]any)
}

// anthropicUserContent words a user's message: its text as a string, or
// its parts as text and image blocks.
func anthropicUserContent(m Message) (any, error) {
	if m.Parts == nil {
		return m.Content, nil
	}
	blocks := make([]any, 0, len(m.Parts))
	for j, p := range m.Parts {
		switch p.Type {
		case PartText:
			if p.Text != "" { // Anthropic refuses an empty text block
				blocks = append(blocks, anthropicText{Type: "text", Text: p.Text})
			}
		case PartImage:
			src, err := anthropicSource(p.ImageURL)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", j, err)
			}
			blocks = append(blocks, anthropicImage{Type: "image", Source: src})
		default:
			return nil, fmt.Errorf("part %d is of type %q, not %q or %q", j, p.Type, PartText, PartImage)
		}
	}
	return blocks, nil
}

// anthropicMediaTypes are the image types Anthropic takes inline.
var anthropicMediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// anthropicSource words an image's URL as its source: a data URL's image
// inline, in base64, or an https URL for Anthropic to fetch.
func anthropicSource(u string) (anthropicImageSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		// data:[<media type>][;base64],<data>
		meta, data, ok := strings.Cut(rest, ",")
		mt, isBase64 := strings.CutSuffix(meta, ";base64")
		mt, _, _ = strings.Cut(mt, ";") // parameters, such as a charset, say nothing of an image
		switch {
		case !ok:
			return anthropicImageSource{}, errors.New("the image's data URL has no data")
		case !isBase64:
			return anthropicImageSource{}, errors.New("the image's data URL is not base64, which Anthropic needs")
		case !anthropicMediaTypes[strings.ToLower(mt)]:
			return anthropicImageSource{}, fmt.Errorf("the image's type %q is not one Anthropic takes (image/jpeg, image/png, image/gif, image/webp)", Clip(mt, maxLabel))
		}
		return anthropicImageSource{Type: "base64", MediaType: strings.ToLower(mt), Data: data}, nil
	}
	if !strings.HasPrefix(strings.ToLower(u), "https://") {
		return anthropicImageSource{}, errors.New("the image is neither a data URL nor an https URL")
	}
	return anthropicImageSource{Type: "url", URL: u}, nil
}

// anthropicAssistantContent words an assistant's message: its text as a
// string when that is all it has, else blocks: its thinking first (only
// with its signature: Anthropic takes back no thinking without one), then
// its text, then its tool calls.
func anthropicAssistantContent(m Message) (any, error) {
	if m.HasImage() {
		return nil, errors.New("an assistant's message has an image")
	}
	if len(m.ToolCalls) == 0 && m.ReasoningSignature == "" {
		return m.Text(), nil
	}
	var blocks []any
	if m.ReasoningSignature != "" {
		blocks = append(blocks, anthropicThinkingBlock{Type: "thinking", Thinking: m.Reasoning, Signature: m.ReasoningSignature})
	}
	if text := m.Text(); text != "" {
		blocks = append(blocks, anthropicText{Type: "text", Text: text})
	}
	for k, tc := range m.ToolCalls {
		input := json.RawMessage(`{}`)
		if strings.TrimSpace(tc.Arguments) != "" {
			if !isJSONObject([]byte(tc.Arguments)) {
				return nil, fmt.Errorf("tool call %d (%q): its arguments are not a JSON object", k, tc.Name)
			}
			input = json.RawMessage(tc.Arguments)
		}
		blocks = append(blocks, anthropicToolUse{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
	}
	return blocks, nil
}

// anthropicResult words a tool message as its tool_result block.
func anthropicResult(m Message) (anthropicToolResult, error) {
	if m.ToolCallID == "" {
		return anthropicToolResult{}, errors.New("a tool's result names no tool call")
	}
	b := anthropicToolResult{Type: "tool_result", ToolUseID: m.ToolCallID, IsError: m.ToolError}
	content, err := anthropicUserContent(m)
	if err != nil {
		return anthropicToolResult{}, err
	}
	if s, ok := content.(string); !ok || s != "" {
		b.Content = content
	}
	return b, nil
}

// anthropicTools words the request's tools for Anthropic.
func anthropicTools(tools []Tool) ([]anthropicTool, error) {
	out := make([]anthropicTool, len(tools))
	for i, t := range tools {
		if err := checkTool(i, t); err != nil {
			return nil, err
		}
		out[i] = anthropicTool{Name: t.Name, Description: t.Description, InputSchema: t.Parameters}
		if t.Parameters == nil {
			out[i].InputSchema = anyInput
		}
	}
	return out, nil
}

// anthropicChoice words tool_choice and parallel_tool_calls as Anthropic's
// tool_choice, nil for the upstream's default. Anthropic says "any" for
// OpenAI's "required", and forbids parallel calls inside tool_choice, of
// mode auto when no mode was given; a choice of none has no such field.
func anthropicChoice(c ToolChoice, parallel *bool) (*anthropicToolChoice, error) {
	if err := checkChoice(c); err != nil {
		return nil, err
	}
	serial := parallel != nil && !*parallel
	var out anthropicToolChoice
	switch c.Mode {
	case "":
		if !serial {
			return nil, nil
		}
		out.Type = "auto"
	case ToolAuto:
		out.Type = "auto"
	case ToolRequired:
		out.Type = "any"
	case ToolNone:
		return &anthropicToolChoice{Type: "none"}, nil
	case ToolNamed:
		out.Type, out.Name = "tool", c.Name
	}
	out.DisableParallelToolUse = serial
	return &out, nil
}

// anthropicBudget words r as Anthropic's thinking, nil for none. A budget
// in tokens goes as it is, raised to Anthropic's least; an effort becomes
// OpenRouter's share of max_tokens (see efforts), within 1024 and 128000
// tokens: max(min(maxTokens × share, 128000), 1024), maxTokens being
// Anthropic's default when the request has none. Reasoning with neither
// is medium, OpenRouter's default; effort "none" is no thinking.
func anthropicBudget(r *Reasoning, maxTokens int) (*anthropicThinking, error) {
	if r == nil {
		return nil, nil
	}
	if err := checkReasoning(r); err != nil || r.Effort == "none" {
		return nil, err
	}
	budget := r.MaxTokens
	if budget == 0 {
		share := efforts[cmp.Or(r.Effort, "medium")]
		budget = min(int(float64(cmp.Or(maxTokens, defaultAnthropicMaxTokens))*share), maxThinkingBudget)
	}
	return &anthropicThinking{Type: "enabled", BudgetTokens: max(budget, minThinkingBudget)}, nil
}

// anthropicUsage counts tokens as Anthropic does: input_tokens leaves out
// the prompt tokens read from or written to the prompt cache.
type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// prompt returns the whole prompt's tokens, cached ones included, as
// OpenAI's prompt_tokens counts them.
func (u anthropicUsage) prompt() int {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// anthropicMessage is a whole message: the answer of a server that ignored
// "stream": true, and the empty one that message_start opens a stream with.
type anthropicMessage struct {
	ID         string           `json:"id"`
	Type       string           `json:"type"`
	Model      string           `json:"model"`
	Content    []anthropicBlock `json:"content"`
	StopReason string           `json:"stop_reason"`
	Usage      *anthropicUsage  `json:"usage"`
	Error      json.RawMessage  `json:"error"`
}

// anthropicBlock is a content block (of a message, or in
// content_block_start) or a block's delta (in content_block_delta).
type anthropicBlock struct {
	Type      string `json:"type"` // text, thinking, tool_use, ...; text_delta, thinking_delta, ...
	Text      string `json:"text"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"` // of a thinking block, or its signature_delta
	// A tool_use block's call, and an input_json_delta's piece of its
	// input's JSON.
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Input       json.RawMessage `json:"input"`
	PartialJSON string          `json:"partial_json"`
}

// anthropicEvent is the data of one stream event; which fields are set
// depends on its type.
type anthropicEvent struct {
	Type         string            `json:"type"`
	Index        int               `json:"index"`         // the content block's, in content_block_*
	Message      *anthropicMessage `json:"message"`       // message_start
	ContentBlock anthropicBlock    `json:"content_block"` // content_block_start
	// Delta is a block's delta in content_block_delta, and the message's
	// stop reason in message_delta.
	Delta struct {
		anthropicBlock
		StopReason string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"` // message_delta
	Error json.RawMessage `json:"error"` // error
}

// anthropicFinish maps Anthropic's stop reasons to OpenAI's finish reasons,
// which the rest of Switchboard speaks. A reason not listed here is passed
// on as it is, and still ends the answer.
var anthropicFinish = map[string]string{
	"end_turn":      "stop",
	"stop_sequence": "stop",
	// pause_turn: a server tool's long turn, paused to be continued by
	// another request. What came is whole as far as it goes.
	"pause_turn":                    "stop",
	"max_tokens":                    "length",
	"model_context_window_exceeded": "length",
	"tool_use":                      "tool_calls",
	"refusal":                       "content_filter",
}

func finishOf(stopReason string) string {
	if f, ok := anthropicFinish[stopReason]; ok {
		return f
	}
	return stopReason
}

// anthropicDecoder reads the events of a Messages API stream:
// message_start, then for each content block content_block_start, its
// content_block_delta events and content_block_stop, then message_delta with
// the stop reason and the output's usage, then message_stop; ping events
// anywhere. It keeps the prompt's usage message_start said, since the
// usage at the end needs it.
type anthropicDecoder struct {
	events eventReader
	key    string // to redact from upstream text
	prompt int    // the prompt's tokens, from message_start
	cached int    // of those, read from the upstream's cache
	// calls maps the index of each tool_use block seen to the call's
	// place among the answer's calls (ToolCall.Index), which counts
	// tool_use blocks only, from 0.
	calls map[int]int
}

func (d *anthropicDecoder) event(ev sseEvent) (Chunk, eventKind, error) {
	w, err := d.events.read(ev.Data)
	if err != nil {
		return Chunk{}, eventData, malformed("stream event", ev.Data, err, d.key)
	}
	var c Chunk
	switch w.Type {
	case "ping":
		return Chunk{}, eventKeepAlive, nil
	case "message_stop":
		return Chunk{}, eventDone, nil
	case "error": // an error in the data only, without "event: error"
		return Chunk{}, eventData, streamError(parseErrorBody(ev.Data, d.key))
	case "message_start":
		if m := w.Message; m != nil {
			if m.Usage != nil {
				d.prompt, d.cached = m.Usage.prompt(), m.Usage.CacheReadInputTokens
			}
		}
	case "content_block_start":
		b := w.ContentBlock
		c.Content, c.Reasoning, c.Signature = b.Text, b.Thinking, b.Signature
		if b.Type == "tool_use" {
			// Its input comes in input_json_delta pieces; Anthropic's
			// block has an empty object of its own. A server that puts the
			// whole input here instead has it as the first piece.
			if d.calls == nil {
				d.calls = map[int]int{}
			}
			k, seen := d.calls[w.Index]
			if !seen {
				k = len(d.calls)
				d.calls[w.Index] = k
			}
			c.ToolCalls = []ToolCall{{Index: k, ID: b.ID, Name: b.Name}}
			if args, err := compactInput(b.Input); err == nil && args != "{}" {
				c.ToolCalls[0].Arguments = args
			}
		}
	case "content_block_delta":
		switch w.Delta.Type {
		case "text_delta":
			c.Content = w.Delta.Text
		case "thinking_delta":
			c.Reasoning = w.Delta.Thinking
		case "signature_delta":
			c.Signature = w.Delta.Signature
		case "input_json_delta":
			// Only a tool_use block's input is a call of the request's
			// tools; a server tool's (server_tool_use: Anthropic's web
			// search, ...) is Anthropic's business, as its block is. The
			// first piece is often empty: a piece of nothing.
			if k, ok := d.calls[w.Index]; ok && w.Delta.PartialJSON != "" {
				c.ToolCalls = []ToolCall{{Index: k, Arguments: w.Delta.PartialJSON}}
			}
		}
	case "message_delta":
		c.FinishReason = finishOf(w.Delta.StopReason)
		if u := w.Usage; u != nil {
			// Newer servers repeat the prompt's count here; it is the
			// final one.
			if p := u.prompt(); p > 0 {
				d.prompt = p
			}
			c.Usage = &Usage{PromptTokens: d.prompt, CompletionTokens: u.OutputTokens, TotalTokens: d.prompt + u.OutputTokens, CachedTokens: d.cached}
		}
	}
	// content_block_stop and event types added after this was written are
	// output with nothing in it for us.
	return c, eventData, nil
}

// answerEvents are the events of a Messages stream that carry the answer:
// its usage, its text and thinking, its stop reason and usage. One
// of them that does not decode has lost some of it, whatever its data.
var answerEvents = map[string]bool{
	"message_start": true, "content_block_start": true, "content_block_delta": true, "message_delta": true,
}

func (d *anthropicDecoder) mayHoldText(ev sseEvent) bool { return answerEvents[ev.Type] }

// compactInput is a whole tool_use block's input as a call's arguments:
// compact JSON, "{}" for none.
func compactInput(input json.RawMessage) (string, error) {
	if len(input) == 0 || string(input) == "null" {
		return "{}", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, input); err != nil {
		return "", err
	}
	return b.String(), nil
}

// whole decodes a whole message into the one chunk a stream would have
// ended with: its text, its thinking and its signature, its tool calls,
// its stop reason and its usage.
func (d *anthropicDecoder) whole(data []byte) (Chunk, error) {
	var w anthropicMessage
	if err := wirejson.Unmarshal(data, &w); err != nil {
		return Chunk{}, malformed("message", data, err, d.key)
	}
	if e, ok := inBandError(w.Error, d.key); ok {
		return Chunk{}, e
	}
	if w.Content == nil {
		return Chunk{}, malformed("message", data, errors.New("no content"), d.key)
	}
	c := Chunk{FinishReason: finishOf(w.StopReason)}
	for _, b := range w.Content {
		c.Content += b.Text
		c.Reasoning += b.Thinking
		c.Signature += b.Signature
		if b.Type == "tool_use" {
			args, err := compactInput(b.Input)
			if err != nil {
				return Chunk{}, malformed("message", data, err, d.key)
			}
			c.ToolCalls = append(c.ToolCalls, ToolCall{Index: len(c.ToolCalls), ID: b.ID, Name: b.Name, Arguments: args})
		}
	}
	if u := w.Usage; u != nil {
		c.Usage = &Usage{PromptTokens: u.prompt(), CompletionTokens: u.OutputTokens, TotalTokens: u.prompt() + u.OutputTokens,
			CachedTokens: u.CacheReadInputTokens}
	}
	return c, nil
}
